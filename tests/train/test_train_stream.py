"""nnfunc.train.fit on data given as an iterable of batches (lists, re-iterables,
generators, torch DataLoaders): the same steps as a manual make_step loop over the same
batches, size-weighted epoch means, evaluation from an iterable, errors."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf

CE = nf.losses.softmax_cross_entropy_with_integer_labels
MODEL = nf.models.mlp([8, 16, 3])
AUTOENCODER = nf.models.mlp([8, 4, 8])
SGD = nf.optim.sgd(learning_rate=0.1)


def _blobs(n, seed=0):
    centers = np.random.default_rng(42).normal(size=(3, 8)) * 2
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n).astype(np.int32)
    x = (centers[y] + rng.normal(size=(n, 8))).astype(np.float32)
    return x, y


X, Y = _blobs(100)
XV, YV = _blobs(40, seed=1)


def _split(x, y, sizes):
    """Consecutive batches of the given sizes (y=None: x alone)."""
    assert sum(sizes) <= x.shape[0]
    out, i = [], 0
    for s in sizes:
        out.append(x[i:i + s] if y is None else (x[i:i + s], y[i:i + s]))
        i += s
    return out


# Most tests share one layout (compilations are per chunk shape: (3, 30) and (1, 10)).
BATCHES = _split(X, Y, [30, 30, 30, 10])             # a smaller last batch
MIXED = _split(X, Y, [20, 30, 30, 20])               # sizes change back and forth


def _manual(batches, *, model=MODEL, opt=SGD, loss=CE, key=0, epochs=1, transform=None):
    """The reference: make_step over the batches in order, epoch after epoch. Returns the
    state and, per epoch, the batch-size weighted mean of each step metric."""
    ts = nf.train.init_state(model, opt, key, (8,))
    step = nf.train.make_step(model, opt, loss, donate=False)
    history = {}
    for epoch_batches in (batches if epochs is None else [batches] * epochs):
        per, sizes = {}, []
        for b in epoch_batches:
            xb, yb = (b, None) if not isinstance(b, tuple) else b
            xb = jnp.asarray(xb)
            if transform is not None:
                xb = transform(xb)
            ts, m = (step(ts, xb) if yb is None else step(ts, xb, jnp.asarray(yb)))
            for k in ("loss", "accuracy"):
                if k in m:
                    per.setdefault(k, []).append(float(m[k]))
            sizes.append(xb.shape[0])
        for k, v in per.items():
            history.setdefault(k, []).append(float(np.dot(v, sizes) / np.sum(sizes)))
    return ts, history


def _fit(data, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("key", 0)
    return nf.train.fit(kw.pop("model", MODEL), kw.pop("opt", SGD), kw.pop("loss", CE),
                        data, **kw)


def _close(a, b, tol=1e-6):
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=tol, atol=tol)


def _assert_matches(result, ref_state, ref_history, keys=("loss", "accuracy")):
    _close(result.state.params, ref_state.params)
    assert int(result.state.step) == int(ref_state.step)
    for k in keys:
        np.testing.assert_allclose(result.history[k], ref_history[k], rtol=1e-6, atol=1e-7)


class Loader:
    """DataLoader-like: re-iterable, with a length; each pass starts over."""

    def __init__(self, batches):
        self.batches, self.passes = batches, 0

    def __iter__(self):
        self.passes += 1
        return iter(list(self.batches))

    def __len__(self):
        return len(self.batches)


# ------------------------------------------------------------------- the steps themselves

@pytest.mark.parametrize("name,batches", [("last batch smaller", BATCHES),
                                          ("mixed sizes", MIXED)])
def test_list_of_batches_equals_manual_step_loop(name, batches):
    r = _fit(batches, epochs=2)
    ref_state, ref_history = _manual(batches, epochs=2)
    _assert_matches(r, ref_state, ref_history)
    assert len(r.history["loss"]) == 2
    assert r.history["lr"] == pytest.approx([0.1, 0.1])
    assert r.history["samples_per_s"][0] > 0
    # the weighting is by size: an unweighted mean of the steps would differ
    ts = nf.train.init_state(MODEL, SGD, 0, (8,))
    step = nf.train.make_step(MODEL, SGD, CE, donate=False)
    plain = []
    for xb, yb in batches:
        ts, m = step(ts, jnp.asarray(xb), jnp.asarray(yb))
        plain.append(float(m["loss"]))
    assert abs(np.mean(plain) - r.history["loss"][0]) > 1e-4


def test_batch_size_argument_is_ignored_for_iterables():
    a = _fit(BATCHES, epochs=1, batch_size=7)
    b = _fit(BATCHES, epochs=1, batch_size=200)
    _close(a.state.params, b.state.params, 0)
    assert a.history["loss"] == b.history["loss"]


def test_reiterable_class_over_several_epochs():
    loader = Loader(BATCHES)
    r = _fit(loader, epochs=3)
    ref_state, ref_history = _manual(BATCHES, epochs=3)
    _assert_matches(r, ref_state, ref_history)
    assert loader.passes >= 3


def test_generator_feeds_one_epoch():
    r = _fit((b for b in BATCHES), epochs=1)
    ref_state, ref_history = _manual(BATCHES, epochs=1)
    _assert_matches(r, ref_state, ref_history)


def _endless(batches, counter):
    for b in itertools.cycle(batches):
        counter.append(1)
        yield b


@pytest.mark.parametrize("steps,epochs", [(3, 2), (5, 2)])
def test_endless_generator_with_steps_per_epoch(steps, epochs):
    pulled = []
    r = _fit(_endless(BATCHES, pulled), epochs=epochs, steps_per_epoch=steps)
    assert int(r.state.step) == epochs * steps
    cycle = itertools.cycle(BATCHES)
    per_epoch = [[next(cycle) for _ in range(steps)] for _ in range(epochs)]
    ref_state, ref_history = _manual(per_epoch, epochs=None)
    _assert_matches(r, ref_state, ref_history)
    assert len(r.history["loss"]) == epochs
    assert len(pulled) == epochs * steps          # no batch drawn and thrown away


def test_reiterable_with_steps_per_epoch_wraps_around():
    """A list of 4 batches with steps_per_epoch=3: each epoch takes the next 3 batches
    of one pass that starts over when it ends (the batches of a cycle)."""
    r = _fit(BATCHES, epochs=3, steps_per_epoch=3)
    cycle = itertools.cycle(BATCHES)
    per_epoch = [[next(cycle) for _ in range(3)] for _ in range(3)]
    ref_state, ref_history = _manual(per_epoch, epochs=None)
    _assert_matches(r, ref_state, ref_history)


def test_one_shot_generator_for_two_epochs_raises_before_training():
    pulled = []
    began = []
    cb = nf.train.LambdaCallback(on_train_begin=lambda run: began.append(1))
    with pytest.raises(ValueError, match="one-shot.*steps_per_epoch"):
        _fit(_endless(BATCHES, pulled), epochs=2, callbacks=[cb])
    assert began == [] and pulled == []


def test_finite_generator_running_out_with_steps_per_epoch_raises():
    gen = (b for b in BATCHES)                        # 4 batches, 2 epochs of 3 wanted
    with pytest.raises(ValueError, match="ran out"):
        _fit(gen, epochs=2, steps_per_epoch=3)


@pytest.mark.parametrize("steps", [0, -1, 1.5])
def test_bad_steps_per_epoch(steps):
    with pytest.raises((ValueError, TypeError), match="steps_per_epoch"):
        _fit(BATCHES, epochs=1, steps_per_epoch=steps)


def test_steps_per_epoch_with_arrays_raises():
    with pytest.raises(ValueError, match="steps_per_epoch"):
        _fit((X, Y), epochs=1, batch_size=25, steps_per_epoch=2)


# ------------------------------------------------------------------- x alone

def test_x_only_batches_train_an_autoencoder():
    """BUG (reported): x-only batches fail in fit's setup: as_data(stream.first) gets
    the Batch(x, None) pair and calls jnp.asarray(None)."""
    batches = _split(X, None, [30, 30, 30, 10])
    r = _fit(batches, epochs=2, model=AUTOENCODER, loss=nf.losses.mse)
    ref_state, ref_history = _manual(batches, epochs=2, model=AUTOENCODER,
                                     loss=nf.losses.mse)
    _assert_matches(r, ref_state, ref_history, keys=("loss",))
    assert "accuracy" not in r.history
    # the loss is the reconstruction error: mse(f(x), x) per example, size-weighted
    ts0 = nf.train.init_state(AUTOENCODER, SGD, 0, (8,))
    out, _ = AUTOENCODER.apply(ts0.params, ts0.model_state, jnp.asarray(X[:30]), train=True,
                               key=jax.random.key(0))
    np.testing.assert_allclose(_fit(batches[:1], epochs=1, model=AUTOENCODER,
                                    loss=nf.losses.mse).history["loss"][0],
                               float(np.mean((np.asarray(out) - X[:30]) ** 2)), rtol=1e-5)


# ------------------------------------------------------------------- evaluation

EVAL_SPLITS = [[40], [16, 16, 8]]


@pytest.mark.parametrize("sizes", EVAL_SPLITS, ids=[str(s) for s in EVAL_SPLITS])
def test_eval_data_iterable_equals_array_eval(sizes):
    batches = _split(XV, YV, sizes)
    a = _fit(BATCHES, epochs=2, eval_data=(XV, YV))
    b = _fit(BATCHES, epochs=2, eval_data=batches)
    c = _fit(BATCHES, epochs=2, eval_data=Loader(batches))
    for r in (b, c):
        for k in ("eval_loss", "eval_accuracy"):
            np.testing.assert_allclose(r.history[k], a.history[k], rtol=1e-6, atol=1e-7)
    # and the array evaluation itself is the plain mean over the examples
    logits = nf.train.predict(MODEL, a.state, XV)
    ref = nf.losses.softmax_cross_entropy_with_integer_labels(logits, YV)
    np.testing.assert_allclose(a.history["eval_loss"][-1], float(np.mean(ref)), rtol=1e-5)


def test_eval_data_generator_evaluates_one_epoch():
    """BUG (reported): eval_data as a generator is refused even for epochs=1, with the
    message 'it can feed one epoch, not 2' (fit builds the eval stream with
    epochs=epochs + 1)."""
    a = _fit(BATCHES, epochs=1, eval_data=(XV, YV))
    b = _fit(BATCHES, epochs=1, eval_data=(b for b in _split(XV, YV, [16, 16, 8])))
    for k in ("eval_loss", "eval_accuracy"):
        np.testing.assert_allclose(b.history[k], a.history[k], rtol=1e-6, atol=1e-7)


def test_eval_data_generator_for_two_epochs_raises_before_training():
    began = []
    cb = nf.train.LambdaCallback(on_train_begin=lambda run: began.append(1))
    with pytest.raises(ValueError, match="eval_data.*one-shot"):
        _fit(BATCHES, epochs=2, callbacks=[cb],
             eval_data=(b for b in _split(XV, YV, [16, 16, 8])))
    assert began == []


def test_iterable_train_and_eval_x_only():
    """Fails with the x-only batch bug (see test_x_only_batches_train_an_autoencoder)."""
    train = _split(X, None, [30, 30, 30, 10])
    ev = _split(XV, None, [15, 15, 10])   # (a list of exactly two arrays would be (X, Y))
    r = _fit(train, epochs=1, model=AUTOENCODER, loss=nf.losses.mse, eval_data=ev)
    out = nf.train.predict(AUTOENCODER, r.state, XV)
    np.testing.assert_allclose(r.history["eval_loss"][0],
                               float(np.mean((np.asarray(out) - XV) ** 2)), rtol=1e-5)


# ------------------------------------------------------------------- bad batches

def _with_batch(i, batch):
    out = list(BATCHES)
    out[i] = batch
    return out


BAD_BATCHES = [
    ("feature shape of batch 2", _with_batch(2, (X[:32, :6], Y[:30])), r"batch 2.*shape"),
    ("label shape of batch 1", _with_batch(1, (X[:30], np.zeros((30, 2), np.int32))),
     r"batch 1.*shape"),
    ("x and y lengths of batch 3", _with_batch(3, (X[:4], Y[:5])), r"batch 3"),
    ("triple at batch 2", _with_batch(2, (X[:30], Y[:30], Y[:30])),
     r"batch 2 is a tuple of length 3"),
    ("triple at batch 0", _with_batch(0, (X[:30], Y[:30], Y[:30])),
     r"batch 0 is a tuple of length 3"),
    ("x alone at batch 1", _with_batch(1, X[:30]), r"batch 1"),
    ("empty batch 1", _with_batch(1, (X[:0], Y[:0])), r"batch 1 is empty"),
    ("no batches", [], r"no batches"),
]


@pytest.mark.parametrize("batches,match", [c[1:] for c in BAD_BATCHES],
                         ids=[c[0] for c in BAD_BATCHES])
def test_bad_batches_raise_naming_the_batch(batches, match):
    with pytest.raises(ValueError, match=match):
        _fit(batches, epochs=1)


def test_bad_eval_batch_names_eval_data():
    ev = _split(XV, YV, [20, 20])
    ev[1] = (XV[:20, :5], YV[:20])
    with pytest.raises(ValueError, match=r"eval_data: batch 1"):
        _fit(BATCHES, epochs=1, eval_data=ev)


def test_nan_in_first_batch_raises_before_training():
    bad = _with_batch(0, (np.where(np.arange(8) == 3, np.nan, X[:30]).astype(np.float32),
                          Y[:30]))
    with pytest.raises(ValueError, match="NaN"):
        _fit(bad, epochs=1)


def test_later_nan_batch_is_a_nonfinite_loss():
    xb = X[30:60].copy()
    xb[5, 1] = np.nan
    with pytest.raises(nf.train.NonFiniteLossError, match="epoch 0"):
        _fit(_with_batch(1, (xb, Y[30:60])), epochs=1)


# ------------------------------------------------------------------- torch

def test_torch_dataloader_matches_the_manual_loop():
    torch = pytest.importorskip("torch")
    ds = torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(Y).long())
    loader = torch.utils.data.DataLoader(ds, batch_size=30, shuffle=False)
    r = _fit(loader, epochs=2)
    batches = [(xb.numpy(), yb.numpy().astype(np.int32)) for xb, yb in loader]
    assert [b[0].shape[0] for b in batches] == [30, 30, 30, 10]
    ref_state, ref_history = _manual(batches, epochs=2)
    _assert_matches(r, ref_state, ref_history)
    ev = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(
        torch.from_numpy(XV), torch.from_numpy(YV).long()), batch_size=16)
    a = _fit(BATCHES, epochs=1, eval_data=(XV, YV))
    b = _fit(BATCHES, epochs=1, eval_data=ev)
    np.testing.assert_allclose(b.history["eval_loss"], a.history["eval_loss"], rtol=1e-6)


# ------------------------------------------------------------------- metrics and augment

def test_metrics_on_iterables_are_finalized_over_the_epoch():
    """f1 over the epoch is the f1 of the summed confusion matrices of the steps (with
    the parameters before each step), not a mean of batch f1s; a plain function is the
    size-weighted mean; eval metrics from an iterable equal those from arrays."""
    err = lambda logits, y: jnp.mean(jnp.argmax(logits, -1) != y)  # noqa: E731
    metrics = {"f1": nf.metrics.f1, "err": err}
    ev = [(XV, YV)]                                # a list of one batch
    r = _fit(BATCHES, epochs=2, metrics=metrics, eval_data=ev)
    ts = nf.train.init_state(MODEL, SGD, 0, (8,))
    step = nf.train.make_step(MODEL, SGD, CE, donate=False)

    @jax.jit
    def batch_stats(params, model_state, xb, yb):      # with the parameters before a step
        logits, _ = MODEL.apply(params, model_state, xb, train=True, key=None)
        return nf.metrics.confusion_matrix(logits, yb), err(logits, yb)

    gaps = []
    for epoch in range(2):
        cms, errs, sizes = [], [], []
        for xb, yb in BATCHES:
            xb, yb = jnp.asarray(xb), jnp.asarray(yb)
            c, e = batch_stats(ts.params, ts.model_state, xb, yb)
            cms, errs, sizes = cms + [np.asarray(c)], errs + [float(e)], sizes + [len(yb)]
            ts, _ = step(ts, xb, yb)
        want = float(nf.metrics.f1.finalize(sum(cms)))
        np.testing.assert_allclose(r.history["f1"][epoch], want, rtol=1e-5)
        batch_f1s = [float(nf.metrics.f1.finalize(c)) for c in cms]
        gaps.append(abs(np.dot(batch_f1s, sizes) / 100 - want))
        np.testing.assert_allclose(r.history["err"][epoch], np.dot(errs, sizes) / 100,
                                   rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(r.history["err"][epoch], 1 - r.history["accuracy"][epoch],
                                   rtol=1e-5, atol=1e-6)
    assert max(gaps) > 1e-3                       # the two aggregations do differ here
    logits = nf.train.predict(MODEL, r.state, XV)
    np.testing.assert_allclose(r.history["eval_f1"][-1], float(nf.metrics.f1(logits, YV)),
                               rtol=1e-5)
    np.testing.assert_allclose(r.history["eval_err"][-1],
                               float(np.mean(np.argmax(logits, -1) != YV)), atol=1e-6)


def test_deterministic_augment_on_iterables_equals_transformed_batches():
    fn = lambda k, x: 0.5 * x + 1.0  # noqa: E731
    r = _fit(BATCHES, epochs=2, augment=fn)
    ref_state, ref_history = _manual(BATCHES, epochs=2, transform=lambda x: fn(None, x))
    _assert_matches(r, ref_state, ref_history)


def test_augment_on_x_only_batches_augments_the_targets_too():
    """With x alone the targets are the augmented inputs: mse(f(a(x)), a(x)). Fails with
    the x-only batch bug (see test_x_only_batches_train_an_autoencoder)."""
    batches = _split(X, None, [30, 30, 30, 10])
    fn = lambda k, x: 2.0 * x  # noqa: E731
    r = _fit(batches, epochs=1, model=AUTOENCODER, loss=nf.losses.mse, augment=fn)
    ref_state, ref_history = _manual(batches, epochs=1, model=AUTOENCODER,
                                     loss=nf.losses.mse, transform=lambda x: 2.0 * x)
    _assert_matches(r, ref_state, ref_history, keys=("loss",))


def test_random_augment_on_iterables_is_reproducible():
    """Same key, same run; another key, another run: without augmentation the key would
    not matter here (no dropout, batches in a fixed order), so the noise is applied."""
    noise = nf.data.gaussian_noise(0.5)
    even = _split(X, Y, [25] * 4)                  # one chunk shape: one compilation
    a = _fit(even, epochs=1, augment=noise, key=3)
    b = _fit(even, epochs=1, augment=noise, key=3)
    c = _fit(even, epochs=1, augment=noise, key=4)
    _close(a.state.params, b.state.params, 0)
    assert a.history["loss"] == b.history["loss"]
    assert a.history["loss"] != c.history["loss"]


def test_augment_changing_shape_on_iterables_raises():
    with pytest.raises(ValueError, match="augment"):
        _fit(BATCHES, epochs=1, augment=lambda k, x: x[:, :4])


def test_array_data_with_iterable_eval_data_can_be_monitored():
    """Arrays to train on and eval_data from an iterable: the eval_* entries exist before
    epoch 0, so callbacks may monitor them (the eval batches were dropped here once)."""
    X = np.asarray(jax.random.normal(jax.random.key(1), (200, 5)))
    Y = (X[:, 0] > 0).astype(np.int32)
    batches = [(X[i:i + 50], Y[i:i + 50]) for i in range(0, 200, 50)]
    model = nf.models.mlp([5, 8, 2])
    ce = nf.losses.softmax_cross_entropy_with_integer_labels
    kw = dict(epochs=2, batch_size=50, progress=False, key=0)
    stop = nf.train.EarlyStopping("eval_loss", patience=5)
    streamed = nf.train.fit(model, nf.optim.sgd(0.1), ce, (X, Y), eval_data=batches,
                            callbacks=[stop], **kw)
    arrays = nf.train.fit(model, nf.optim.sgd(0.1), ce, (X, Y), eval_data=(X, Y), **kw)
    np.testing.assert_allclose(streamed.history["eval_loss"], arrays.history["eval_loss"],
                               rtol=1e-6)
    assert stop.best == min(streamed.history["eval_loss"])
