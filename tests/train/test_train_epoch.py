"""nnfunc.train.make_epoch and evaluate: the epoch as steps over its permutation, no
host transfers, bad batch sizes and shapes, evaluation against NumPy."""
import jax
import numpy as np
import pytest

import nnfunc as nf
from _core_setup import ADAM, CE, MODEL, SGD, X, Y, ce_ref, forward_ref


def test_epoch_equals_steps_over_its_permutation_and_drops_remainder():
    bs = 32                                       # 100 = 3 * 32 + 4 dropped
    ts = nf.train.init_state(MODEL, ADAM, jax.random.key(3), (8,))
    ts_copy = jax.tree_util.tree_map(lambda a: a.copy(), ts)
    ts_e, m = nf.train.make_epoch(MODEL, ADAM, CE, bs)(ts, X, Y)
    assert int(ts_e.step) == 3
    # the documented recipe: key, k = split(key); perm = permutation(k, N)[:3*32]
    key, k = jax.random.split(ts_copy.key)
    perm = np.asarray(jax.random.permutation(k, 100))[:96].reshape(3, bs)
    step = nf.train.make_step(MODEL, ADAM, CE)
    t = ts_copy._replace(key=key)
    losses = []
    for idx in perm:
        t, ms = step(t, X[idx], Y[idx])
        losses.append(float(ms["loss"]))
    for a, b in zip(jax.tree_util.tree_leaves(ts_e.params), jax.tree_util.tree_leaves(t.params)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m["loss"], np.mean(losses), rtol=1e-5)
    assert int(m["nonfinite_step"]) == -1


def test_epoch_runs_without_host_transfers():
    epoch = nf.train.make_epoch(MODEL, SGD, CE, 25)
    ts = nf.train.init_state(MODEL, SGD, 0, (8,))
    xd, yd = jax.device_put(X), jax.device_put(Y)
    ts, _ = epoch(ts, xd, yd)                      # compile outside the guard
    with jax.transfer_guard("disallow"):
        ts, m = epoch(ts, xd, yd)
        ts, m = epoch(ts, xd, yd)
    assert int(ts.step) == 12


@pytest.mark.parametrize("bs", [0, -1, 2.5, True])
def test_make_epoch_bad_batch_size(bs):
    with pytest.raises(ValueError, match="batch_size"):
        nf.train.make_epoch(MODEL, SGD, CE, bs)


def test_make_epoch_shape_errors_at_trace_time():
    ts = nf.train.init_state(MODEL, SGD, 0, (8,))
    with pytest.raises(ValueError, match="batch_size must be <="):
        nf.train.make_epoch(MODEL, SGD, CE, 500)(ts, X, Y)
    with pytest.raises(ValueError, match="same number of examples"):
        nf.train.make_epoch(MODEL, SGD, CE, 10)(ts, X, Y[:50])
@pytest.mark.parametrize("bs", [1, 7, 100, 1000])
def test_evaluate_matches_numpy_with_padding(bs):
    ts = nf.train.init_state(MODEL, SGD, 0, (8,))
    m = nf.train.evaluate(MODEL, CE, ts, (X, Y), batch_size=bs)
    logits = forward_ref(ts.params, np.asarray(X))
    np.testing.assert_allclose(m["loss"], ce_ref(logits, np.asarray(Y)).mean(), rtol=1e-5)
    np.testing.assert_allclose(m["accuracy"], np.mean(logits.argmax(-1) == np.asarray(Y)),
                               atol=1e-6)
