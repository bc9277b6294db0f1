"""nnfunc.train.fit: history, progress, callbacks, exact resume, faults, data parallel,
and the real-data MNIST run."""
import gzip
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from _fit_setup import ADAM, CE, MODEL, XV, YV, X, Y, assert_same
from conftest import MNIST_DIR


def _fit(epochs=2, **kw):
    kw.setdefault("progress", False)
    return nf.train.fit(MODEL, kw.pop("opt", ADAM), CE, (X, Y), epochs=epochs,
                        batch_size=kw.pop("batch_size", 25), key=kw.pop("key", 0), **kw)


class _Script(nf.train.Callback):
    """Overwrite a history entry with scripted values (runs before the callbacks under
    test), so their logic is checked on a known sequence."""

    def __init__(self, name, values):
        self.name, self.values = name, values
        self.states = []

    def on_epoch_end(self, run):
        run.logs[self.name] = run.history[self.name][-1] = self.values[run.epoch]
        self.states.append(jax.tree_util.tree_map(lambda a: a.copy(), run.state))


# ------------------------------------------------------------------- fit basics

def test_fit_history_learns_and_progress_bar_is_same_computation(capsys, monkeypatch):
    r = _fit(epochs=3, eval_data=(XV, YV))
    for k in ("loss", "accuracy", "lr", "eval_loss", "eval_accuracy",
              "seconds", "samples_per_s"):
        assert len(r.history[k]) == 3, k
    assert "grad_norm" not in r.history      # a diagnostic (diagnostics=True)
    assert r.history["loss"][-1] < r.history["loss"][0]
    assert r.history["eval_accuracy"][-1] > 0.9
    assert int(r.state.step) == 12 and r.history["lr"] == pytest.approx([0.01] * 3)
    # the chunked epochs behind the batch bar are the same steps: identical results
    progress_module = sys.modules["nnfunc.train._progress"]
    monkeypatch.setattr(progress_module, "interactive", lambda: True)    # a terminal
    rp = _fit(epochs=3, eval_data=(XV, YV), progress=True)
    assert_same(r.state, rp.state)
    assert rp.history["loss"] == r.history["loss"]
    err = capsys.readouterr().err
    assert "epoch" in err and "batch" in err
    # in a log file: one line per epoch, no bar redraws
    monkeypatch.setattr(progress_module, "interactive", lambda: False)
    rl = _fit(epochs=3, eval_data=(XV, YV), progress=True)
    assert_same(r.state, rl.state)
    lines = capsys.readouterr().err.strip().splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert f"loss {r.history['loss'][-1]:.4f}" in lines[-1] and "eval_accuracy" in lines[-1]


def test_fit_equals_make_epoch_loop():
    r = _fit(epochs=2)
    ts = nf.train.init_state(MODEL, ADAM, 0, (8,))
    epoch = nf.train.make_epoch(MODEL, ADAM, CE, 25)
    for _ in range(2):
        ts, m = epoch(ts, X, Y)
    assert_same(r.state, ts)
    assert r.history["loss"][-1] == float(m["loss"])


def test_exact_resume_bit_for_bit(tmp_path):
    full = _fit(epochs=4, opt=ADAM)
    half = _fit(epochs=2, opt=ADAM)
    path = tmp_path / "ckpt.npz"
    nf.train.save_checkpoint(path, half.state)
    template = nf.train.init_state(MODEL, ADAM, 123, (8,))
    loaded = nf.train.load_checkpoint(path, template)
    resumed = nf.train.fit(MODEL, ADAM, CE, (X, Y), epochs=2, batch_size=25, state=loaded,
                           progress=False)
    assert_same(resumed.state, full.state)
    assert resumed.history["loss"] == full.history["loss"][2:]
    assert_same(loaded, nf.train.load_checkpoint(path, template))   # state= is not consumed


def test_diagnostics_report_dead_relu_and_update_ratio():
    # biases of -100 kill every hidden ReLU: dead fraction 1, only the last layer learns
    dead = nf.models.mlp([8, 16, 3], b_init=nf.init.constant(-100.0))
    r = nf.train.fit(dead, ADAM, CE, (X, Y), epochs=1, batch_size=25, key=0,
                     progress=False, diagnostics=True, eval_data=(XV, YV))
    stats = nf.layers.activation_stats(dead, r.state.params, r.state.model_state, XV)
    assert [s["dead_fraction"] for s in stats if s["layer"].endswith("relu")] == [1.0]
    assert r.history["dead_relu"] == [1.0]
    assert 0 < r.history["update_ratio"][0] < 1
    assert r.history["grad_norm"][0] > 0


def test_mixed_precision_fit_learns():
    r = _fit(epochs=3, mixed_precision=True, eval_data=(XV, YV))
    assert r.history["eval_accuracy"][-1] > 0.9
    assert r.state.params[0]["w"].dtype == jnp.float32


def test_dropout_and_batch_norm_model_trains_with_state():
    model = nf.models.mlp([8, 16, 3], dropout=0.3, batch_norm=True)
    r = nf.train.fit(model, ADAM, CE, (X, Y), epochs=5, batch_size=25, key=0,
                     eval_data=(XV, YV), progress=False)
    stats = r.state.model_state[1]
    assert not np.allclose(stats["mean"], 0.0)           # running statistics were updated
    assert r.history["eval_accuracy"][-1] > 0.8
    again = nf.train.evaluate(model, CE, r.state, (XV, YV))   # evaluation is deterministic
    assert float(again["loss"]) == pytest.approx(r.history["eval_loss"][-1], rel=1e-6)


def test_single_device_mesh_equals_default():
    r = _fit(epochs=1)
    m = _fit(epochs=1, devices=jax.devices()[:1])
    for a, b in zip(jax.tree_util.tree_leaves(r.state.params),
                    jax.tree_util.tree_leaves(m.state.params)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------- callbacks

def test_early_stopping_stops_and_restores_best():
    script = _Script("eval_loss", [1.0, 0.5, 0.6, 0.55, 0.7, 0.1, 0.1])
    es = nf.train.EarlyStopping("eval_loss", patience=3, restore_best=True)
    r = _fit(epochs=7, eval_data=(XV, YV), callbacks=[script, es])
    assert len(r.history["loss"]) == 5 and es.stopped_epoch == 4 and es.best_epoch == 1
    assert_same(r.state, script.states[1])
    # min_delta: 0.5 -> 0.45 is not an improvement by more than 0.1
    script = _Script("eval_loss", [1.0, 0.5, 0.45, 0.42, 0.4, 0.1])
    es = nf.train.EarlyStopping("eval_loss", patience=2, min_delta=0.1)
    r = _fit(epochs=6, eval_data=(XV, YV), callbacks=[script, es])
    assert len(r.history["loss"]) == 4 and es.best_epoch == 1
    assert_same(r.state, script.states[3])            # no restore: the last state


def test_early_stopping_bad_monitor_and_args():
    with pytest.raises(ValueError, match="eval_loss"):
        _fit(epochs=1, callbacks=[nf.train.EarlyStopping("eval_loss")])
    with pytest.raises(ValueError, match="patience"):
        nf.train.EarlyStopping(patience=0)
    with pytest.raises(ValueError, match="mode"):
        nf.train.EarlyStopping(mode="up")


@pytest.mark.parametrize("scheduled", [False, True])
def test_reduce_on_plateau_matches_torch(scheduled):
    torch = pytest.importorskip("torch")
    metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.85, 0.85, 0.85, 0.85]
    lr0 = 0.01
    opt = nf.optim.adam(learning_rate=nf.schedules.constant(lr0) if scheduled else lr0)
    seen = []
    cb = nf.train.ReduceLROnPlateau("eval_loss", factor=0.5, patience=1)
    r = _fit(epochs=len(metrics), opt=opt, eval_data=(XV, YV),
             callbacks=[_Script("eval_loss", metrics), cb, nf.train.LearningRateLogger(
                 lambda e, lr: seen.append(lr))])
    t_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr0)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(t_opt, factor=0.5, patience=1)
    expected = []
    for m in metrics:
        expected.append(t_opt.param_groups[0]["lr"])     # the lr this epoch trained with
        sched.step(m)
    np.testing.assert_allclose(r.history["lr"], expected, rtol=1e-6)
    assert seen == r.history["lr"]
    assert expected[-1] < lr0                             # it did reduce


def test_checkpoint_callback_keeps_last_n_and_resumes(tmp_path):
    cb = nf.train.Checkpoint(tmp_path, every=1, keep=2)
    r = _fit(epochs=4, callbacks=[cb])
    files = cb.files()
    assert [os.path.basename(f) for f in files] == ["checkpoint-000000012.npz",
                                                    "checkpoint-000000016.npz"]
    latest = nf.train.load_checkpoint(cb.latest(), nf.train.init_state(MODEL, ADAM, 0, (8,)))
    assert_same(latest, r.state)
    cb3 = nf.train.Checkpoint(tmp_path / "b", every=3, keep=5)
    _fit(epochs=4, callbacks=[cb3])
    assert len(cb3.files()) == 1


def test_lambda_callback_hooks_and_stop():
    calls = []
    def on_epoch_end(run):
        calls.append(run.epoch)
        run.stop = run.epoch == 1
    cb = nf.train.LambdaCallback(on_train_begin=lambda run: calls.append("begin"),
                                 on_epoch_end=on_epoch_end,
                                 on_train_end=lambda run: calls.append("end"))
    r = _fit(epochs=5, callbacks=[cb])
    assert calls == ["begin", 0, 1, "end"] and len(r.history["loss"]) == 2


# ------------------------------------------------------------------- bad input and faults

@pytest.mark.parametrize("data,kw,match", [
    ((X, Y[:50]), {}, "same number of examples"),
    ((X, Y.at[3].set(3)), {}, r"labels must be in \[0, 3\)"),
    ((X, Y.at[3].set(-1)), {}, r"labels must be in \[0, 3\)"),
    ((X.at[5, 2].set(jnp.nan), Y), {}, "NaN or infinite"),
    ((X.at[5, 2].set(jnp.inf), Y), {}, "NaN or infinite"),
    ((X, Y), {"batch_size": 0}, "batch_size"),
    ((X, Y), {"batch_size": 101}, "batch_size"),
    ((X[:, :5], Y), {}, "input_shape|cannot be applied"),
    ((X, jnp.zeros((100, 2))), {"loss": nf.losses.mse}, "does not fit loss_fn"),
    ((X, Y), {"eval_data": (XV, YV.at[0].set(7))}, r"eval_data labels"),
    ((X, Y), {"epochs": -1}, "epochs"),
    ((X, Y), {"devices": []}, "devices"),
    ((X, Y), {"devices": ["cpu"]}, "devices"),
    ((X, Y), {"callbacks": [object()]}, "callbacks"),
    ((X,), {}, "pair"),
])
def test_fit_bad_input_raises_before_training(data, kw, match):
    loss = kw.pop("loss", CE)
    with pytest.raises(ValueError, match=match):
        nf.train.fit(MODEL, ADAM, loss, data, epochs=kw.pop("epochs", 1),
                     batch_size=kw.pop("batch_size", 25), progress=False, **kw)


def test_nonfinite_loss_stops_with_epoch_and_step():
    # the loss turns NaN once a weight grows past 3: lr=1 SGD gets there within a few steps
    def loss(logits, y):
        return CE(logits, y) + jnp.where(jnp.max(jnp.abs(logits)) > 50, jnp.nan, 0.0)
    opt = nf.optim.sgd(learning_rate=5.0)
    with pytest.raises(nf.train.NonFiniteLossError, match=r"epoch \d+ .* step \d+ of the epoch"):
        nf.train.fit(MODEL, opt, loss, (X * 10, Y), epochs=5, batch_size=25, progress=False)
    with pytest.raises(FloatingPointError):     # also a FloatingPointError / ValueError
        nf.train.fit(MODEL, opt, loss, (X * 10, Y), epochs=5, batch_size=25, progress=False)


def test_nonfinite_steps_skipped_with_skip_nonfinite():
    bad = jnp.zeros(100).at[:10].set(jnp.nan)
    def loss(logits, y):       # some batches give NaN losses and gradients
        return CE(logits, y) + 0.0 * jnp.sum(bad[: y.shape[0]])
    opt = nf.optim.skip_nonfinite(nf.optim.adam(learning_rate=0.01))
    r = nf.train.fit(MODEL, opt, loss, (X, Y), epochs=1, batch_size=25, progress=False)
    assert bool(jnp.all(jnp.isfinite(r.state.params[0]["w"])))


# ------------------------------------------------------------------- data parallel

_PARALLEL = textwrap.dedent("""
    import os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    import jax, jax.numpy as jnp, numpy as np
    import nnfunc as nf
    assert len(jax.devices()) == 4
    rng = np.random.default_rng(0)
    X = jnp.asarray(rng.normal(size=(96, 8)), jnp.float32)
    Y = jnp.asarray(rng.integers(0, 3, 96), jnp.int32)
    model = nf.models.mlp([8, 16, 3], batch_norm=True)
    # SGD, not Adam: the bias before batch norm has an exactly-zero true gradient, whose
    # rounding noise Adam would normalise to full-size steps (in either run, differently)
    opt = nf.optim.sgd(learning_rate=0.05, momentum=0.9)
    ce = nf.losses.softmax_cross_entropy_with_integer_labels
    kw = dict(epochs=2, batch_size=16, key=0, eval_data=(X, Y), progress=False)
    one = nf.train.fit(model, opt, ce, (X, Y), **kw)
    par = nf.train.fit(model, opt, ce, (X, Y), devices=jax.devices(), **kw)
    w = par.state.params[0]["w"]
    assert len(w.sharding.device_set) == 4 and w.sharding.is_fully_replicated
    for a, b in zip(jax.tree_util.tree_leaves(one.state.params),
                    jax.tree_util.tree_leaves(par.state.params)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(one.history["eval_loss"], par.history["eval_loss"], rtol=1e-4)
    try:
        nf.train.fit(model, opt, ce, (X, Y), devices=jax.devices(), epochs=1, batch_size=10,
                     progress=False)
        raise SystemExit("no error for batch_size % devices")
    except ValueError as err:
        assert "divisible" in str(err)
    print("PARALLEL-OK")
""")


def test_data_parallel_equals_single_device():
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", _PARALLEL], capture_output=True, text=True,
                         env=env, timeout=300)
    assert "PARALLEL-OK" in out.stdout, out.stderr[-3000:]


# ------------------------------------------------------------------- real data

def _read_idx_gz(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def test_mnist_mlp_reaches_94_5_percent():
    images, labels = MNIST_DIR / "t10k-images-idx3-ubyte.gz", MNIST_DIR / "t10k-labels-idx1-ubyte.gz"
    if not (images.exists() and labels.exists()):
        pytest.skip(f"MNIST test set not found in {MNIST_DIR}")
    x = _read_idx_gz(images).reshape(-1, 784).astype(np.float32) / 255.0
    y = _read_idx_gz(labels).astype(np.int32)
    assert x.shape == (10000, 784)
    model = nf.models.mlp([784, 256, 256, 10])
    # cosine decay over the 10 * 125 steps: the last epochs settle instead of oscillating
    lr = nf.schedules.cosine_annealing(1e-3, T_max=1250)
    r = nf.train.fit(model, nf.optim.adam(learning_rate=lr), CE, (x[:8000], y[:8000]),
                     epochs=10, batch_size=64, key=0, eval_data=(x[8000:], y[8000:]),
                     progress=False)
    print("MNIST eval accuracy per epoch:", r.history["eval_accuracy"])
    assert r.history["eval_accuracy"][-1] >= 0.945, r.history["eval_accuracy"]


def test_dead_relu_counts_a_lambda_relu_and_not_leaky_relu():
    def dead_model(act):
        return nf.layers.serial(nf.layers.dense(16, b_init=nf.init.constant(-100.0)),
                                nf.layers.activation(act), nf.layers.dense(3))
    for act, expected in ((lambda x: jnp.maximum(x, 0.0), 1.0),
                          (nf.activations.leaky_relu, None)):
        r = nf.train.fit(dead_model(act), ADAM, CE, (X, Y), epochs=1, batch_size=25, key=0,
                         progress=False, diagnostics=True)
        if expected is None:            # no ReLU in the model: NaN, not a dead fraction
            assert np.isnan(r.history["dead_relu"][0])
        else:
            assert r.history["dead_relu"] == [expected]


def test_only_the_skip_nonfinite_state_type_lets_training_go_on():
    from typing import NamedTuple

    class MySkipNonfiniteState(NamedTuple):      # a look-alike name is not the marker
        count: jax.Array
        hparams: dict

    sgd = nf.optim.sgd(learning_rate=0.1)
    lookalike = nf.optim.Optimizer(
        lambda p: MySkipNonfiniteState(jnp.zeros((), jnp.int32), {}),
        lambda g, s, p=None: (jax.tree_util.tree_map(lambda x: -0.1 * x, g), s))
    def loss(logits, y):
        return CE(logits, y) * jnp.nan
    with pytest.raises(nf.train.NonFiniteLossError):
        nf.train.fit(MODEL, lookalike, loss, (X, Y), epochs=1, batch_size=25, progress=False)
    wrapped = nf.optim.chain(nf.optim.skip_nonfinite(sgd))      # found inside a chain too
    r = nf.train.fit(MODEL, wrapped, loss, (X, Y), epochs=1, batch_size=25, progress=False)
    assert bool(jnp.all(jnp.isfinite(r.state.params[0]["w"])))


# ------------------------------------------------------------------- issue 16: no silent wrong results

class _Watcher(nf.train.Callback):
    """Monitors an eval entry; records whether training began."""
    monitor = "eval_accuracy"
    began = False

    def on_train_begin(self, run):
        type(self).began = True


OTHER_ARCH = nf.train.init_state(nf.models.mlp([8, 32, 3]), ADAM, 0, (8,))
SAME_ARCH_SGD = nf.train.init_state(MODEL, nf.optim.sgd(0.1), 0, (8,))

ISSUE16_BAD = [
    ("state for another architecture", {"state": OTHER_ARCH}, ValueError,
     r"state was not built for this model.*\[0\]\['b'\].*\(16,\).*\(32,\)"),
    ("state of another optimizer", {"state": SAME_ARCH_SGD}, ValueError,
     "another optimizer.*SgdState.*AdamState"),
    ("mixed_precision='no'", {"mixed_precision": "no"}, TypeError, "mixed_precision"),
    ("mixed_precision=1", {"mixed_precision": 1}, TypeError, "mixed_precision"),
    ("diagnostics='yes'", {"diagnostics": "yes"}, TypeError, "diagnostics"),
    ("complex X", {"data": (X.astype(jnp.complex64), Y)}, TypeError, "complex"),
    ("one-output model, integer labels", {"model": nf.models.mlp([8, 1])}, ValueError,
     "1 class"),
    ("eval monitor without eval_data", {"callbacks": [_Watcher()]}, ValueError,
     "_Watcher monitors 'eval_accuracy'.*eval_data"),
    ("EarlyStopping without eval_data", {"callbacks": [nf.train.EarlyStopping()]},
     ValueError, "EarlyStopping monitors 'eval_loss'"),
]


@pytest.mark.parametrize("kw,err,match", [c[1:] for c in ISSUE16_BAD],
                         ids=[c[0] for c in ISSUE16_BAD])
def test_fit_rejects_silently_wrong_setups_before_training(kw, err, match):
    _Watcher.began = False
    with pytest.raises(err, match=match):
        nf.train.fit(kw.pop("model", MODEL), ADAM, CE, kw.pop("data", (X, Y)), epochs=1,
                     batch_size=25, progress=False, **kw)
    assert not _Watcher.began


def test_resume_keeps_the_states_hyperparameters():
    """The rule (documented in fit): the state's optimizer hyperparameters win, as in
    torch's load_state_dict; they are changed in the state (set_hparams), silently."""
    import warnings
    start = nf.train.init_state(MODEL, nf.optim.sgd(0.1), 0, (8,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = nf.train.fit(MODEL, nf.optim.sgd(0.5), CE, (X, Y), epochs=1, batch_size=25,
                         state=start, progress=False)
        assert r.history["lr"][0] == pytest.approx(0.1)
        tuned = start._replace(opt_state=nf.optim.set_hparams(start.opt_state,
                                                              learning_rate=0.3))
        r = nf.train.fit(MODEL, nf.optim.sgd(0.1), CE, (X, Y), epochs=1, batch_size=25,
                         state=tuned, progress=False)
        assert r.history["lr"][0] == pytest.approx(0.3)


def test_evaluate_rejects_out_of_range_labels():
    """evaluate used to return loss NaN and accuracy 0."""
    ts = nf.train.init_state(MODEL, ADAM, 0, (8,))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\).*\[0, 7\]"):
        nf.train.evaluate(MODEL, CE, ts, (X, Y.at[0].set(7)))
    with pytest.raises(TypeError, match="mixed_precision"):
        nf.train.evaluate(MODEL, CE, ts, (X, Y), mixed_precision="no")
