"""nnfunc.train.make_step: against an optax reference, keys, purity and donation, the
regularizer, mixed precision (with make_epoch where both behave alike)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from _core_setup import ADAM, CE, MODEL, SGD, X, Y, ce_ref, forward_ref, leaves_equal


def test_make_step_matches_optax_reference():
    optax = pytest.importorskip("optax")
    ts = nf.train.init_state(MODEL, ADAM, jax.random.key(0), (8,))
    params0 = jax.tree_util.tree_map(np.asarray, ts.params)
    step = nf.train.make_step(MODEL, ADAM, CE, donate=False)
    xb, yb = X[:20], Y[:20]
    ts1, m = step(ts, xb, yb)

    tx = optax.adam(0.01)

    @jax.jit
    def reference(p):
        def loss(p):
            logits, _ = MODEL.apply(p, ts.model_state, xb)
            return jnp.mean(CE(logits, yb))
        g = jax.grad(loss)(p)
        u, _ = tx.update(g, tx.init(p), p)
        return optax.apply_updates(p, u), g
    ref, g = reference(jax.tree_util.tree_map(jnp.asarray, params0))
    for a, b in zip(jax.tree_util.tree_leaves(ts1.params), jax.tree_util.tree_leaves(ref)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    # metrics against numpy
    logits = forward_ref(params0, np.asarray(xb))
    np.testing.assert_allclose(m["loss"], ce_ref(logits, np.asarray(yb)).mean(), rtol=1e-5)
    np.testing.assert_allclose(m["accuracy"], np.mean(logits.argmax(-1) == np.asarray(yb)))
    np.testing.assert_allclose(m["lr"], 0.01, rtol=1e-6)
    assert int(ts1.step) == 1
    gn = np.sqrt(sum(float(np.sum(np.asarray(v) ** 2)) for v in jax.tree_util.tree_leaves(g)))
    np.testing.assert_allclose(m["grad_norm"], gn, rtol=1e-5)
    assert "update_ratio" not in m
    # diagnostics add the update ratio and do not change the step
    ts_d, m_d = nf.train.make_step(MODEL, ADAM, CE, donate=False, diagnostics=True)(ts, xb, yb)
    assert m_d["update_ratio"] > 0 and float(m_d["grad_norm"]) == float(m["grad_norm"])
    leaves_equal(ts_d, ts1)


def test_fused_epoch_reports_grad_norm_only_on_request():
    """The epoch leaves out the per-step gradient norm (a pass over every gradient)
    unless diagnostics=True; the trained state is the same either way."""
    ts = nf.train.init_state(MODEL, ADAM, jax.random.key(2), (8,))
    ts_a, m_a = nf.train.make_epoch(MODEL, ADAM, CE, 25, donate=False)(ts, X, Y)
    ts_b, m_b = nf.train.make_epoch(MODEL, ADAM, CE, 25, donate=False, diagnostics=True)(
        ts, X, Y)
    assert "grad_norm" not in m_a and float(m_b["grad_norm"]) > 0
    leaves_equal(ts_a, ts_b)


def test_step_dropout_key_is_fold_in_of_state_key_and_step():
    model = nf.layers.serial(nf.layers.dense(16), nf.layers.dropout(0.5), nf.layers.dense(3))
    ts = nf.train.init_state(model, SGD, jax.random.key(5), (8,))
    step = nf.train.make_step(model, SGD, CE, donate=False)
    xb, yb = X[:20], Y[:20]

    def loss_with(key):
        logits, _ = model.apply(ts.params, ts.model_state, xb, train=True, key=key)
        return float(jnp.mean(CE(logits, yb)))

    _, m0 = step(ts, xb, yb)
    _, m1 = step(ts._replace(step=jnp.asarray(1, jnp.int32)), xb, yb)
    # the documented recipe: the step's key is fold_in(ts.key, ts.step); ts.key stays put
    assert float(m0["loss"]) == pytest.approx(loss_with(jax.random.fold_in(ts.key, 0)), rel=1e-6)
    assert float(m1["loss"]) == pytest.approx(loss_with(jax.random.fold_in(ts.key, 1)), rel=1e-6)
    assert float(m0["loss"]) != float(m1["loss"])           # a new mask every step
    ts1, _ = step(ts, xb, yb)
    leaves_equal(ts1.key, ts.key)


@pytest.mark.parametrize("kind", ["step", "epoch"])
def test_step_and_epoch_are_pure_by_default(kind):
    """The contract's ``ts, m = step(ts, x, y)`` leaves the input state usable: calling
    again on it gives the same result, and its values are those before the call."""
    ts = nf.train.init_state(MODEL, ADAM, jax.random.key(0), (8,))
    before = jax.tree_util.tree_map(jnp.array, ts)       # copies
    fn = (nf.train.make_step(MODEL, ADAM, CE) if kind == "step"
          else nf.train.make_epoch(MODEL, ADAM, CE, 25))
    data = (X[:10], Y[:10]) if kind == "step" else (X, Y)
    ts1, m1 = fn(ts, *data)
    ts2, m2 = fn(ts, *data)
    leaves_equal(ts, before)
    leaves_equal(ts1, ts2)
    assert float(m1["loss"]) == float(m2["loss"])
    assert int(ts1.step) > int(ts.step) == 0


@pytest.mark.parametrize("kind", ["step", "epoch"])
def test_donate_true_reuses_the_input_state(kind):
    ts = nf.train.init_state(MODEL, SGD, jax.random.key(0), (8,))
    ref, _ = nf.train.make_step(MODEL, SGD, CE)(ts, X[:10], Y[:10]) if kind == "step" else \
        nf.train.make_epoch(MODEL, SGD, CE, 25)(ts, X, Y)
    fn = (nf.train.make_step(MODEL, SGD, CE, donate=True) if kind == "step"
          else nf.train.make_epoch(MODEL, SGD, CE, 25, donate=True))
    ts2, _ = fn(ts, *((X[:10], Y[:10]) if kind == "step" else (X, Y)))
    assert ts.params[0]["w"].is_deleted()
    assert not ts2.params[0]["w"].is_deleted()
    leaves_equal(ts2, ref)                               # same values


def test_regularizer_adds_penalty_gradient():
    lam = 0.05
    reg = lambda p: lam * nf.regularizers.l2(p)
    ts = nf.train.init_state(MODEL, SGD, jax.random.key(0), (8,))
    p0 = jax.tree_util.tree_map(jnp.array, ts.params)
    ts1, m = nf.train.make_step(MODEL, SGD, CE, regularizer=reg, donate=False)(ts, X[:16], Y[:16])
    # d/dθ [λ Σθ²] = 2λθ on top of the data gradient; SGD: θ1 = θ0 - 0.1 (g + 2λθ0)
    ts_plain, m_plain = nf.train.make_step(MODEL, SGD, CE, donate=False)(ts, X[:16], Y[:16])
    for a, b, p in zip(jax.tree_util.tree_leaves(ts1.params),
                       jax.tree_util.tree_leaves(ts_plain.params), jax.tree_util.tree_leaves(p0)):
        np.testing.assert_allclose(a, b - 0.1 * 2 * lam * p, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m["loss"], m_plain["loss"])   # loss is the data loss


def test_non_classification_metrics_have_no_accuracy():
    model = nf.models.mlp([8, 1])
    ts = nf.train.init_state(model, SGD, 0, (8,))
    _, m = nf.train.make_step(model, SGD, nf.losses.mse)(ts, X[:8], X[:8, :1])
    assert "accuracy" not in m and set(m) == {"loss", "grad_norm", "lr"}


def test_mixed_precision_step_keeps_float32_master():
    ts = nf.train.init_state(MODEL, ADAM, 0, (8,))
    ts_f32, m32 = nf.train.make_step(MODEL, ADAM, CE, donate=False)(ts, X[:32], Y[:32])
    ts_bf, mbf = nf.train.make_step(MODEL, ADAM, CE, mixed_precision=True, donate=False)(
        ts, X[:32], Y[:32])
    assert all(l.dtype == jnp.float32 for l in jax.tree_util.tree_leaves(ts_bf.params))
    # bf16 compute: close to float32 but not identical (8-bit mantissa)
    assert abs(float(mbf["loss"]) - float(m32["loss"])) < 0.05 * float(m32["loss"])
    assert float(mbf["loss"]) != float(m32["loss"])


def test_train_accuracy_is_the_metrics_accuracy():
    """One accuracy: the one the step reports is nf.metrics.accuracy itself."""
    assert nf.train.accuracy is nf.metrics.accuracy
