"""nnfunc.train.fit(metrics=..., augment=...): history entries against independent
references, one-hot labels, rejected setups, the uint8 warning, the optimizer state
convention, and evaluate against NumPy."""
import functools
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from _fit_setup import ADAM, CE, MODEL, XV, YV, X, Y

# One instance per optimizer: fit compiles once per (model, optimizer, metrics, ...), so
# the tests share compiled epochs.
SGD = nf.optim.sgd(learning_rate=0.05)


def _fit(data=(X, Y), **kw):
    kw.setdefault("progress", False)
    kw.setdefault("key", 0)
    kw.setdefault("batch_size", 25)
    return nf.train.fit(kw.pop("model", MODEL), kw.pop("opt", ADAM), kw.pop("loss", CE),
                        data, epochs=kw.pop("epochs", 2), **kw)


def _same(a, b):
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        if jnp.issubdtype(u.dtype, jax.dtypes.prng_key):
            u, v = jax.random.key_data(u), jax.random.key_data(v)
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


def _close(a, b, tol=1e-6):
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=tol, atol=tol)


def _np_macro(pred, y, kind, classes=3):
    """Macro precision/recall/F1 over the classes present (in labels or predictions)."""
    vals = []
    for c in range(classes):
        tp = np.sum((pred == c) & (y == c))
        fp = np.sum((pred == c) & (y != c))
        fn = np.sum((pred != c) & (y == c))
        if tp + fp + fn == 0:
            continue
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        vals.append({"precision": p, "recall": r,
                     "f1": 2 * p * r / (p + r) if p + r else 0.0}[kind])
    return float(np.mean(vals))


def _top_k(logits, y, k):
    top = np.argsort(-np.asarray(logits), axis=-1, kind="stable")[:, :k]
    return float(np.mean([y[i] in top[i] for i in range(len(y))]))


def _user_metric(logits, y):
    """Mean probability given to the true class."""
    p = jax.nn.softmax(logits, -1)
    return jnp.mean(jnp.take_along_axis(p, y[:, None].astype(jnp.int32), -1))


# name in the history, the metric as given, a NumPy reference (logits, labels) -> value
METRICS = [
    ("acc", nf.metrics.accuracy,
     lambda lg, y: float(np.mean(np.argmax(lg, -1) == y))),
    ("top2", functools.partial(nf.metrics.top_k_accuracy, k=2),
     lambda lg, y: _top_k(lg, y, 2)),
    ("f1", nf.metrics.f1, lambda lg, y: _np_macro(np.argmax(lg, -1), y, "f1")),
    ("precision", nf.metrics.precision,
     lambda lg, y: _np_macro(np.argmax(lg, -1), y, "precision")),
    ("recall", nf.metrics.recall,
     lambda lg, y: _np_macro(np.argmax(lg, -1), y, "recall")),
    ("p_true", lambda lg, y: _user_metric(lg, y),
     lambda lg, y: float(np.mean(np.asarray(jax.nn.softmax(lg, -1))[np.arange(len(y)), y]))),
]


ALL = {name: fn for name, fn, _ in METRICS}


@pytest.fixture(scope="module")
def metric_run():
    """One short run with every metric of the table; eval_batch_size 16 does not divide
    the 40 evaluation examples (batches 16, 16, 8). After one epoch of SGD the classes
    are still mixed, so precision, recall and F1 differ from the accuracy."""
    r = _fit(epochs=1, opt=SGD, eval_data=(XV, YV), eval_batch_size=16, metrics=ALL)
    logits = np.asarray(nf.train.predict(MODEL, r.state, XV))
    return r, logits


@pytest.mark.parametrize("name,fn,reference", METRICS, ids=[m[0] for m in METRICS])
def test_eval_metric_equals_metric_on_predictions(metric_run, name, fn, reference):
    r, logits = metric_run
    yv = np.asarray(YV)
    want = reference(logits, yv)
    np.testing.assert_allclose(r.history["eval_" + name], [want], rtol=1e-5, atol=1e-6)
    # the library's own metric on the whole evaluation set agrees too
    np.testing.assert_allclose(r.history["eval_" + name][0],
                               float(fn(jnp.asarray(logits), YV)), rtol=1e-5, atol=1e-6)
    assert len(r.history[name]) == 1


def test_metric_table_is_not_degenerate(metric_run):
    """Guard: the macro metrics differ from the accuracy on this run."""
    r, _ = metric_run
    h = r.history
    assert len({round(h["eval_" + k][0], 4) for k in ("acc", "f1", "precision", "recall")}) > 1
    np.testing.assert_allclose(h["eval_acc"], h["eval_accuracy"], rtol=1e-6)


def test_metric_names_list_and_strings(metric_run):
    r0, _ = metric_run
    r = _fit(epochs=1, opt=SGD, eval_data=(XV, YV), eval_batch_size=16,
             metrics=["f1", nf.metrics.precision, nf.metrics.accuracy])
    for name, other in (("f1", "f1"), ("precision", "precision"), ("accuracy", "acc")):
        np.testing.assert_allclose(r.history["eval_" + name], r0.history["eval_" + other],
                                   rtol=1e-6)
        np.testing.assert_allclose(r.history[name], r0.history[other], rtol=1e-6)


# ------------------------------------------------------------------- training values

def test_frozen_params_training_metrics_are_over_the_whole_training_set():
    """With learning rate 0 the parameters never change and batch_size divides N, so an
    epoch sees every example once with the same model: the training F1 is the F1 over
    all of (X, Y) (summed confusion matrix), and the means are plain means."""
    frozen = nf.train.init_state(MODEL, SGD, 0, (8,))
    frozen = frozen._replace(opt_state=nf.optim.set_hparams(frozen.opt_state,
                                                            learning_rate=0.0))
    r = _fit(epochs=1, opt=SGD, state=frozen, metrics=ALL)
    _same(r.state.params, frozen.params)
    logits = np.asarray(nf.train.predict(MODEL, r.state, X))
    y = np.asarray(Y)
    np.testing.assert_allclose(r.history["f1"], [_np_macro(logits.argmax(-1), y, "f1")],
                               rtol=1e-5)
    np.testing.assert_allclose(r.history["recall"],
                               [_np_macro(logits.argmax(-1), y, "recall")], rtol=1e-5)
    np.testing.assert_allclose(r.history["accuracy"], [np.mean(logits.argmax(-1) == y)],
                               rtol=1e-6)
    p = np.asarray(jax.nn.softmax(jnp.asarray(logits), -1))[np.arange(100), y]
    np.testing.assert_allclose(r.history["p_true"], [p.mean()], rtol=1e-5)
    np.testing.assert_allclose(r.history["top2"], [_top_k(logits, y, 2)], rtol=1e-6)
    ce = np.asarray(CE(jnp.asarray(logits), Y))
    np.testing.assert_allclose(r.history["loss"], [ce.mean()], rtol=1e-5)


def test_training_f1_is_finalized_over_the_epoch_not_a_mean_of_batches():
    """A manual reference of the epoch as documented in make_epoch (key, k =
    split(ts.key); batches from permutation(k, N)): f1 from the steps' summed confusion
    matrices (parameters before each step) equals the history's, which differs from the
    mean of the batch F1s."""
    opt = SGD
    r = _fit(epochs=1, opt=opt, metrics=ALL)
    ts = nf.train.init_state(MODEL, opt, 0, (8,))
    _, k = jax.random.split(ts.key)
    idx = np.asarray(jax.random.permutation(k, 100)).reshape(4, 25)
    step = nf.train.make_step(MODEL, opt, CE, donate=False)

    @jax.jit
    def cm_of(params, model_state, xb, yb):
        logits, _ = MODEL.apply(params, model_state, xb, train=True, key=None)
        return nf.metrics.confusion_matrix(logits, yb)

    cms, losses = [], []
    for b in idx:
        cms.append(np.asarray(cm_of(ts.params, ts.model_state, X[b], Y[b])))
        ts, m = step(ts, X[b], Y[b])
        losses.append(float(m["loss"]))
    _close(r.state.params, ts.params, 1e-5)       # the same steps as the compiled epoch
    np.testing.assert_allclose(r.history["loss"], [np.mean(losses)], rtol=1e-5)
    want = float(nf.metrics.f1.finalize(sum(cms)))
    np.testing.assert_allclose(r.history["f1"], [want], rtol=1e-5)
    mean_of_batches = np.mean([float(nf.metrics.f1.finalize(c)) for c in cms])
    assert abs(mean_of_batches - want) > 1e-3


# ------------------------------------------------------------------- one-hot labels

def test_one_hot_labels_get_the_integer_runs_accuracy(plain):
    oh = lambda y: jax.nn.one_hot(y, 3, dtype=jnp.float32)  # noqa: E731
    a = plain
    b = _fit((X, oh(Y)), loss=nf.losses.softmax_cross_entropy, eval_data=(XV, oh(YV)))
    for k in ("loss", "accuracy", "eval_loss", "eval_accuracy"):
        np.testing.assert_allclose(b.history[k], a.history[k], rtol=1e-5, atol=1e-6)
    assert set(b.history) == set(a.history)
    _close(b.state.params, a.state.params, 1e-5)
    logits = np.asarray(nf.train.predict(MODEL, b.state, XV))
    np.testing.assert_allclose(b.history["eval_accuracy"][-1],
                               np.mean(logits.argmax(-1) == np.asarray(YV)), rtol=1e-6)


def test_soft_float_targets_get_no_accuracy():
    soft = jnp.full((100, 3), 1 / 3, jnp.float32)
    r = _fit((X, soft), loss=nf.losses.softmax_cross_entropy, epochs=1)
    assert "accuracy" not in r.history


# ------------------------------------------------------------------- rejected setups

class _Flag(nf.train.Callback):
    def __init__(self):
        self.began = False

    def on_train_begin(self, run):
        self.began = True


BAD = [
    ("non-scalar metric", {"metrics": [nf.metrics.confusion_matrix]}, "scalar"),
    ("non-scalar metric in a dict", {"metrics": {"cm": nf.metrics.confusion_matrix}},
     r"metrics\['cm'\].*scalar"),
    ("reserved name loss", {"metrics": {"loss": nf.metrics.accuracy}}, "'loss' is taken"),
    ("reserved name lr", {"metrics": {"lr": nf.metrics.accuracy}}, "'lr' is taken"),
    ("reserved prefix eval_", {"metrics": {"eval_x": nf.metrics.accuracy}},
     "'eval_x' is taken"),
    ("unknown name", {"metrics": ["f2"]}, "'f2' is not a metric"),
    ("confusion_matrix by name", {"metrics": ["confusion_matrix"]}, "not a metric"),
    ("duplicate names", {"metrics": ["f1", nf.metrics.f1]}, "unique"),
    ("duplicate names, name and function", {"metrics": ["accuracy", nf.metrics.accuracy]},
     "unique"),
    ("unnamed lambda", {"metrics": [lambda lg, y: jnp.mean(lg)]}, "name"),
    ("unnamed partial", {"metrics": [functools.partial(nf.metrics.top_k_accuracy, k=2)]},
     "name"),
    ("metrics as a string", {"metrics": "f1"}, "dict"),
    ("metric not callable", {"metrics": {"m": 3}}, "callable"),
    ("metric failing on the labels", {"metrics": {"m": lambda lg, y: jnp.mean(lg + y)}},
     r"metrics\['m'\] failed"),
    ("augment changes shape", {"augment": lambda k, x: x[:, :4]}, "shape"),
    ("augment changes dtype", {"augment": lambda k, x: x.astype(jnp.float16)}, "dtype"),
    ("augment adds a row", {"augment": lambda k, x: jnp.concatenate([x, x[:1]])}, "shape"),
    ("augment not callable", {"augment": 3}, "augment must be"),
    ("augment raises", {"augment": lambda k, x: x.reshape(7, -1)}, "augment"),
    ("augment integer noise", {"data": ((X * 10).astype(jnp.int32), Y),
                               "augment": nf.data.gaussian_noise(0.1)}, "augment"),
]


@pytest.mark.parametrize("kw,match", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_metrics_and_augment_raise_before_training(kw, match):
    flag = _Flag()
    data = kw.pop("data", (X, Y))
    with pytest.raises(ValueError, match=match):
        _fit(data, epochs=1, callbacks=[flag], eval_data=(XV, YV), **kw)
    assert not flag.began


# ------------------------------------------------------------------- augment

@pytest.fixture(scope="module")
def plain():
    """Two epochs of ADAM with evaluation: the reference of several tests."""
    return _fit(eval_data=(XV, YV))


def test_identity_augment_is_bit_for_bit_no_augment(plain):
    for aug in (lambda k, x: x, nf.data.gaussian_noise(0.0)):
        r = _fit(augment=aug, eval_data=(XV, YV))
        _same(r.state, plain.state)
        assert r.history.keys() == plain.history.keys()
        for k in ("loss", "accuracy", "lr", "eval_loss", "eval_accuracy"):
            assert r.history[k] == plain.history[k]


def test_deterministic_augment_equals_training_on_transformed_data_not_eval():
    fn = lambda k, x: 0.5 * x + 1.0  # noqa: E731
    a = _fit(augment=fn, eval_data=(XV, YV))
    b = _fit((0.5 * X + 1.0, Y))
    _close(a.state.params, b.state.params, 1e-5)
    np.testing.assert_allclose(a.history["loss"], b.history["loss"], rtol=1e-5)
    # the evaluation sees the data as given, never augmented
    clean = nf.train.evaluate(MODEL, CE, a.state, (XV, YV))
    moved = nf.train.evaluate(MODEL, CE, a.state, (0.5 * XV + 1.0, YV))
    np.testing.assert_allclose(a.history["eval_loss"][-1], float(clean["loss"]), rtol=1e-5)
    assert abs(a.history["eval_loss"][-1] - float(moved["loss"])) > 1e-3


def test_random_augment_is_reproducible_and_changes_training(plain):
    noise = nf.data.gaussian_noise(1.0)
    a = _fit(augment=noise)
    b = _fit(augment=noise)
    c = _fit(augment=noise, key=1)
    _same(a.state, b.state)
    assert a.history["loss"] == b.history["loss"]
    assert a.history["loss"] != plain.history["loss"]
    assert c.history["loss"] != a.history["loss"]


def test_augment_on_autoencoder_arrays_augments_the_targets():
    ae = nf.models.mlp([8, 4, 8])
    a = _fit(X, model=ae, loss=nf.losses.mse, augment=lambda k, x: 2.0 * x, epochs=1)
    b = _fit(2.0 * X, model=ae, loss=nf.losses.mse, epochs=1)
    _close(a.state.params, b.state.params, 1e-5)
    np.testing.assert_allclose(a.history["loss"], b.history["loss"], rtol=1e-5)


# ------------------------------------------------------------------- uint8 inputs

def test_uint8_inputs_warn_naming_normalize():
    xu = jnp.asarray(np.clip(np.asarray(X) * 20 + 128, 0, 255).astype(np.uint8))
    with pytest.warns(UserWarning, match="normalize"):       # epochs=0: checks only
        r = _fit((xu, Y), epochs=0)
    assert r.history == {}


def test_float_inputs_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _fit(epochs=0)
        _fit((X.astype(jnp.float16), Y), epochs=0)


# ------------------------------------------------------------------- optimizer convention

class _NoHparams(NamedTuple):
    count: jax.Array


class _ScaleState(NamedTuple):
    count: jax.Array
    hparams: dict


def _plain_tuple_opt():
    return nf.optim.Optimizer(
        init=lambda p: (jnp.zeros((), jnp.int32),),
        update=lambda g, s, p=None: (jax.tree_util.tree_map(lambda x: -0.1 * x, g),
                                     (s[0] + 1,)))


def _namedtuple_without_hparams_opt():
    return nf.optim.Optimizer(
        init=lambda p: _NoHparams(jnp.zeros((), jnp.int32)),
        update=lambda g, s, p=None: (jax.tree_util.tree_map(lambda x: -0.1 * x, g),
                                     _NoHparams(s.count + 1)))


def _scale_opt():
    """Follows the convention, but its hyperparameter is not called learning_rate."""
    def init(p):
        return _ScaleState(jnp.zeros((), jnp.int32), {"scale": jnp.asarray(0.05)})

    def update(g, s, p=None):
        return (jax.tree_util.tree_map(lambda x: -s.hparams["scale"] * x, g),
                _ScaleState(s.count + 1, s.hparams))
    return nf.optim.Optimizer(init, update)


@pytest.mark.parametrize("make", [_plain_tuple_opt, _namedtuple_without_hparams_opt])
def test_state_without_hparams_is_rejected_before_training(make):
    flag = _Flag()
    with pytest.raises(ValueError, match="convention"):
        _fit(epochs=1, opt=make(), callbacks=[flag])
    assert not flag.began


def test_convention_state_without_learning_rate_has_no_lr():
    opt = _scale_opt()
    r = _fit(epochs=1, opt=opt)
    assert "lr" not in r.history and "loss" in r.history
    # the same steps as nnfunc's SGD with rate 0.05
    s = _fit(epochs=1, opt=SGD)
    _close(r.state.params, s.state.params, 1e-6)
    with pytest.raises(ValueError, match="'lr'"):
        _fit(epochs=1, opt=opt, callbacks=[nf.train.EarlyStopping(monitor="lr")],
             eval_data=(XV, YV))


def test_optax_states_are_allowed():
    optax = pytest.importorskip("optax")
    r = _fit(epochs=1, opt=optax.sgd(0.05))
    assert "lr" not in r.history
    s = _fit(epochs=1, opt=SGD)
    _close(r.state.params, s.state.params, 1e-6)
    injected = _fit(epochs=1, opt=optax.inject_hyperparams(optax.sgd)(learning_rate=0.05))
    np.testing.assert_allclose(injected.history["lr"], [0.05], rtol=1e-6)


# ------------------------------------------------------------------- evaluate

def _np_forward(params, x):
    h = np.maximum(np.asarray(x, np.float64) @ np.asarray(params[0]["w"], np.float64)
                   + np.asarray(params[0]["b"], np.float64), 0)
    return h @ np.asarray(params[2]["w"], np.float64) + np.asarray(params[2]["b"], np.float64)


@pytest.mark.parametrize("data,batch_size", [((X, Y), 30), ((XV, YV), 16), ((XV, YV), 7),
                                             ((XV, YV), 1000)])
def test_evaluate_equals_numpy_reference(plain, data, batch_size):
    ts = plain.state
    x, y = data
    logits = _np_forward(ts.params, x)
    m = logits.max(-1, keepdims=True)
    logp = logits - m - np.log(np.exp(logits - m).sum(-1, keepdims=True))
    yn = np.asarray(y)
    loss = -logp[np.arange(len(yn)), yn].mean()
    acc = np.mean(logits.argmax(-1) == yn)
    got = nf.train.evaluate(MODEL, CE, ts, data, batch_size=batch_size)
    np.testing.assert_allclose(float(got["loss"]), loss, rtol=1e-5)
    np.testing.assert_allclose(float(got["accuracy"]), acc, rtol=1e-6)
