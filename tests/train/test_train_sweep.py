"""nf.train.sweep: runs equal separate fits (vmapped and scanned), seeds, bad arguments."""
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from conftest import blobs
from nnfunc.train._program import ProgramSpec

CE = nf.losses.softmax_cross_entropy_with_integer_labels
X = jax.random.normal(jax.random.key(0), (100, 8))
Y = (X[:, 0] + X[:, 1] > 0).astype(jnp.int32)
MODEL = nf.models.mlp([8, 16, 3])
SGD = nf.optim.sgd(learning_rate=0.1)
ADAM = nf.optim.adam(learning_rate=0.01)


XB, YB = blobs(100)       # three classes, as in test_train_step


def test_sweep_scanned_runs_equal_separate_fits():
    sweep_mod = sys.modules["nnfunc.train.sweep"]
    model, adam = nf.models.mlp([8, 16, 2]), nf.optim.adam(1e-3)
    # with a threshold of 0 FLOPs, layout='auto' would scan on CPU
    assert sweep_mod._scan_runs(ProgramSpec(model, adam, CE), 25, (8,), jnp.dtype("float32"),
                                (), jnp.dtype("int32"),
                                scan_flops=0.0) == (jax.default_backend() == "cpu")
    lrs = [0.003, 0.03]
    res = nf.train.sweep(model, adam, CE, (X, Y), hparams={"learning_rate": lrs}, epochs=2,
                         batch_size=25, key=7, eval_data=(X[:40], Y[:40]),
                         layout="sequential")     # lax.map over the runs
    assert res.history["loss"].shape == (2, 2) and res.state.params[0]["w"].shape == (2, 8, 16)
    for i, lr in enumerate(lrs):
        ts = nf.train.init_state(model, adam, 7, (8,))
        ts = ts._replace(opt_state=nf.optim.set_hparams(ts.opt_state, learning_rate=lr))
        r = nf.train.fit(model, adam, CE, (X, Y), epochs=2, state=ts, batch_size=25,
                         eval_data=(X[:40], Y[:40]), progress=False)
        for a, b in zip(jax.tree_util.tree_leaves(r.state.params),
                        jax.tree_util.tree_leaves(res.state.params)):
            np.testing.assert_allclose(b[i], a, rtol=2e-5, atol=2e-6)
        for k in ("loss", "accuracy", "eval_loss", "eval_accuracy", "lr"):
            np.testing.assert_allclose(res.history[k][i], r.history[k], rtol=2e-5, atol=1e-6)
    # seeds (a per-run key) with the scanned path, no hparams
    sgd = nf.optim.sgd(0.1)
    res = nf.train.sweep(model, sgd, CE, (X, Y), seeds=[1, 2], epochs=1, batch_size=50, key=0,
                         layout="sequential")
    k1 = jax.random.fold_in(jax.random.key(0), 2)
    r = nf.train.fit(model, sgd, CE, (X, Y), epochs=1, batch_size=50, key=k1, progress=False)
    np.testing.assert_allclose(res.state.params[0]["w"][1], r.state.params[0]["w"],
                               rtol=2e-5, atol=2e-6)


def test_sweep_picks_scan_only_for_large_steps():
    sweep_mod = sys.modules["nnfunc.train.sweep"]
    f32, i32 = jnp.dtype("float32"), jnp.dtype("int32")
    adam = nf.optim.adam(1e-3)
    small = sweep_mod._scan_runs(ProgramSpec(nf.models.mlp([784, 32, 10]), adam, CE), 128,
                                 (784,), f32, (), i32)
    large = sweep_mod._scan_runs(ProgramSpec(nf.models.mlp([784, 1024, 1024, 10]), adam, CE),
                                 128, (784,), f32, (), i32)
    assert (small, large) == (False, jax.default_backend() == "cpu")


def test_sweep_layout_is_checked_and_auto_picks_per_backend():
    with pytest.raises(ValueError, match="layout must be one of 'auto', 'runs_first', "
                                         "'runs_inside', 'sequential', got 'inside'"):
        nf.train.sweep(MODEL, SGD, CE, (X, Y), seeds=[0, 1], layout="inside")
    resolve = sys.modules["nnfunc.train.sweep"]._resolve_layout
    assert resolve("auto", lambda: False) == "runs_first"     # every backend's table entry
    assert resolve("auto", lambda: True) == "sequential"      # a large step (on CPU)
    for layout in ("runs_first", "runs_inside", "sequential"):
        assert resolve(layout, lambda: True) == layout


def test_sweep_over_weight_decay_of_an_optimizer_built_without_it():
    """torch's default weight_decay=0 is still a hyperparameter: a sweep can vary it."""
    model, adam = nf.models.mlp([8, 16, 2]), nf.optim.adam(1e-2)
    res = nf.train.sweep(model, adam, CE, (X, Y), hparams={"weight_decay": [0.0, 0.5]},
                         epochs=2, batch_size=25, key=3)
    for i, wd in enumerate((0.0, 0.5)):
        r = nf.train.fit(model, nf.optim.adam(1e-2, weight_decay=wd), CE, (X, Y), epochs=2,
                         batch_size=25, key=3, progress=False)
        for a, b in zip(jax.tree_util.tree_leaves(r.state.params),
                        jax.tree_util.tree_leaves(res.state.params)):
            np.testing.assert_allclose(b[i], a, rtol=2e-5, atol=2e-6)
    # the decay really acted: the decayed run's weights are smaller
    assert float(jnp.sum(res.state.params[0]["w"][1] ** 2)) < \
        float(jnp.sum(res.state.params[0]["w"][0] ** 2))


# ------------------------------------------------------------------- sweep

def test_sweep_runs_equal_separate_fits():
    lrs = [0.003, 0.03]
    res = nf.train.sweep(MODEL, ADAM, CE, (XB, YB), hparams={"learning_rate": lrs}, epochs=2,
                         batch_size=25, key=7, eval_data=(XB[:40], YB[:40]))
    assert res.history["loss"].shape == (2, 2) and res.state.params[0]["w"].shape == (2, 8, 16)
    assert not res.diverged.any()
    for i, lr in enumerate(lrs):
        # == fit(adam(learning_rate=lr), key=7): the same start state, one compilation
        ts = nf.train.init_state(MODEL, ADAM, 7, (8,))
        ts = ts._replace(opt_state=nf.optim.set_hparams(ts.opt_state, learning_rate=lr))
        r = nf.train.fit(MODEL, ADAM, CE, (XB, YB), epochs=2, state=ts,
                         batch_size=25, eval_data=(XB[:40], YB[:40]), progress=False)
        for a, b in zip(jax.tree_util.tree_leaves(r.state.params),
                        jax.tree_util.tree_leaves(res.state.params)):
            np.testing.assert_allclose(b[i], a, rtol=2e-5, atol=2e-6)
        for k in ("loss", "accuracy", "eval_loss", "eval_accuracy", "lr"):
            np.testing.assert_allclose(res.history[k][i], r.history[k], rtol=2e-5, atol=1e-6)
        assert int(res.state.step[i]) == 8


def test_sweep_over_seeds_and_hparams():
    res = nf.train.sweep(MODEL, SGD, CE, (XB, YB), hparams={"learning_rate": [0.1, 0.1]},
                         seeds=[1, 2], epochs=1, batch_size=50, key=0)
    w = res.state.params[0]["w"]
    assert not np.allclose(w[0], w[1])              # different seeds, different runs
    k1 = jax.random.fold_in(jax.random.key(0), 1)
    r = nf.train.fit(MODEL, SGD, CE, (XB, YB), epochs=1, batch_size=50, key=k1, progress=False)
    np.testing.assert_allclose(w[0], r.state.params[0]["w"], rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("kwargs,match", [
    ({}, "hparams"),
    ({"hparams": {"learning_rate": [0.1, 0.2]}, "seeds": [1]}, "same length"),
    ({"hparams": {"nope": [0.1]}}, "unknown hyperparameter"),
    ({"hparams": {"learning_rate": [-1.0]}}, "learning_rate must be >= 0"),
    ({"hparams": {"learning_rate": 0.1}}, "1-D"),
    ({"seeds": [-1]}, "seeds"),
])
def test_sweep_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nf.train.sweep(MODEL, SGD, CE, (XB, YB), epochs=1, batch_size=50, **kwargs)


@pytest.mark.parametrize("train_fn", ["fit", "sweep"])
def test_bad_eval_batch_size_names_its_argument(train_fn):
    kwargs = {"progress": False} if train_fn == "fit" else {}
    with pytest.raises(ValueError, match=r"eval_batch_size must be an int >= 1, got 0"):
        getattr(nf.train, train_fn)(nf.models.mlp([XB.shape[1], 2]), nf.optim.sgd(0.1), CE,
                                    (XB, YB), epochs=1, batch_size=10, eval_batch_size=0,
                                    **kwargs)


# ------------------------------------------------------------------- issue 16

def test_sweeping_learning_rate_of_a_schedule_raises_and_lr_scale_sweeps_it():
    """The schedule used to overwrite the swept value: every run was identical."""
    opt = nf.optim.adam(learning_rate=nf.schedules.cosine_annealing(1e-2, 80))
    with pytest.raises(ValueError, match="lr_scale"):
        nf.train.sweep(MODEL, opt, CE, (X, Y), hparams={"learning_rate": [1e-3, 1e-2]},
                       batch_size=25)
    res = nf.train.sweep(MODEL, opt, CE, (X, Y), hparams={"lr_scale": [0.1, 1.0]},
                         batch_size=25)
    assert res.history["lr"][0, 0] == pytest.approx(0.1 * res.history["lr"][1, 0], rel=1e-5)
    assert res.history["loss"][0, 0] != res.history["loss"][1, 0]


def test_sweep_gives_a_compiled_out_momentum_values():
    res = nf.train.sweep(MODEL, nf.optim.sgd(0.05), CE, (X, Y),
                         hparams={"momentum": [0.0, 0.9]}, epochs=2, batch_size=25)
    ref = nf.train.fit(MODEL, nf.optim.sgd(0.05, momentum=0.9), CE, (X, Y), epochs=2,
                       batch_size=25, progress=False)
    np.testing.assert_allclose(res.history["loss"][1], ref.history["loss"], rtol=1e-4)
    assert not np.allclose(res.history["loss"][0], res.history["loss"][1])


@pytest.mark.parametrize("hparams,err,match", [
    ({"learning_rate": [0.1, float("inf")]}, ValueError, "finite"),
    ({"betas": [0.9, 0.99]}, ValueError, "betas"),
])
def test_sweep_rejects_bad_values(hparams, err, match):
    with pytest.raises(err, match=match):
        nf.train.sweep(MODEL, ADAM, CE, (X, Y), hparams=hparams, batch_size=25)


def test_sweep_mixed_precision_must_be_a_bool():
    with pytest.raises(TypeError, match="mixed_precision"):
        nf.train.sweep(MODEL, SGD, CE, (X, Y), hparams={"learning_rate": [0.1]},
                       batch_size=25, mixed_precision="no")


# ------------------------------------------------------------------- issue 17: metrics, augment, iterables

def _stream_setup():
    X = np.asarray(jax.random.normal(jax.random.key(1), (240, 5)))
    Y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int32)
    return (nf.models.mlp([5, 8, 2]), nf.losses.softmax_cross_entropy_with_integer_labels,
            X, Y, [(X[i:i + 40], Y[i:i + 40]) for i in range(0, 240, 40)])


def test_sweep_over_batches_equals_fit_per_run():
    model, ce, X, Y, batches = _stream_setup()
    kw = dict(epochs=2, eval_data=batches, metrics=["f1"])
    res = nf.train.sweep(model, nf.optim.sgd(0.1), ce, batches, seeds=[0, 3],
                         hparams={"learning_rate": [0.05, 0.2]}, key=0, **kw)
    for i, (seed, lr) in enumerate([(0, 0.05), (3, 0.2)]):
        one = nf.train.fit(model, nf.optim.sgd(lr), ce, batches, progress=False,
                           key=jax.random.fold_in(jax.random.key(0), seed), **kw)
        for name in ("loss", "accuracy", "f1", "eval_loss", "eval_f1", "eval_accuracy"):
            np.testing.assert_allclose(res.history[name][i], one.history[name], rtol=1e-5,
                                       err_msg=name)
        np.testing.assert_allclose(res.state.params[0]["w"][i], one.state.params[0]["w"],
                                   rtol=1e-5, atol=1e-6)
    assert res.history["loss"].shape == (2, 2) and not res.diverged.any()


def test_sweep_metrics_and_augment_match_fit():
    model, ce, X, Y, _ = _stream_setup()
    aug = nf.data.gaussian_noise(0.05)
    kw = dict(epochs=2, batch_size=40, eval_data=(X, Y), augment=aug,
              metrics={"top1": nf.metrics.accuracy, "f1": nf.metrics.f1})
    res = nf.train.sweep(model, nf.optim.sgd(0.1), ce, (X, Y),
                         hparams={"learning_rate": [0.1, 0.3]}, **kw)
    one = nf.train.fit(model, nf.optim.sgd(0.3), ce, (X, Y), progress=False, **kw)
    for name in ("loss", "top1", "f1", "eval_top1", "eval_f1"):
        np.testing.assert_allclose(res.history[name][1], one.history[name], rtol=1e-5,
                                   err_msg=name)
    # top1 is the built-in accuracy by another name
    np.testing.assert_allclose(res.history["top1"], res.history["accuracy"], rtol=1e-6)
    plain = nf.train.sweep(model, nf.optim.sgd(0.1), ce, (X, Y), epochs=2, batch_size=40,
                           hparams={"learning_rate": [0.1, 0.3]})
    assert not np.allclose(plain.history["loss"], res.history["loss"])   # noise did act
