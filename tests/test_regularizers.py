"""nnfunc.regularizers: values against numpy, gradients, masks (tree, prefix, elementwise,
callable), dtypes, jit/vmap and bad masks."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from nnfunc import regularizers as R

RNG = np.random.default_rng(0)


def _params(dtype=np.float32):
    return {"dense": {"w": RNG.standard_normal((4, 3)).astype(dtype), "b": RNG.standard_normal(3).astype(dtype)},
            "conv": {"w": RNG.standard_normal((3, 3, 2, 4)).astype(dtype), "b": RNG.standard_normal(4).astype(dtype)},
            "scale": RNG.standard_normal(()).astype(dtype)}


def _np_l1(leaves):
    return sum(np.abs(np.asarray(x, np.float64)).sum() for x in leaves)


def _np_l2(leaves):
    return sum((np.asarray(x, np.float64) ** 2).sum() for x in leaves)


@pytest.mark.parametrize("fn,ref", [(R.l1, _np_l1), (R.l2, _np_l2)], ids=["l1", "l2"])
def test_values_and_masks_against_numpy(fn, ref):
    p = _params()
    leaves = jax.tree_util.tree_leaves(p)
    np.testing.assert_allclose(fn(p), ref(leaves), rtol=1e-6)
    kernels = [p["dense"]["w"], p["conv"]["w"]]
    full_mask = {"dense": {"w": True, "b": False}, "conv": {"w": True, "b": False}, "scale": False}
    np.testing.assert_allclose(fn(p, mask=full_mask), ref(kernels), rtol=1e-6)
    np.testing.assert_allclose(fn(p, mask=R.weights_only), ref(kernels), rtol=1e-6)
    np.testing.assert_allclose(fn(p, mask=lambda q: R.weights_only(q)), ref(kernels), rtol=1e-6)
    # Prefix mask: one boolean for a whole sub-tree.
    prefix = {"dense": True, "conv": False, "scale": True}
    np.testing.assert_allclose(fn(p, mask=prefix), ref(jax.tree_util.tree_leaves(p["dense"]) + [p["scale"]]),
                               rtol=1e-6)
    # Elementwise boolean-array mask.
    elem = jax.tree_util.tree_map(lambda x: False, p)
    sel = RNG.random((4, 3)) < 0.5
    elem["dense"]["w"] = jnp.asarray(sel)
    np.testing.assert_allclose(fn(p, mask=elem), ref([p["dense"]["w"][sel]]), rtol=1e-6)
    # Nothing selected.
    assert float(fn(p, mask=jax.tree_util.tree_map(lambda x: False, p))) == 0.0
    assert float(fn({})) == 0.0


def test_l2_is_squared_norm_without_half():
    p = {"w": jnp.array([3.0, 4.0])}
    assert float(R.l2(p)) == 25.0
    assert float(R.l2(p)) == pytest.approx(float(nf.tree.l2_norm(p)) ** 2)


def test_gradients():
    p = _params()
    p["dense"]["w"][0, 0] = 0.0
    g1 = jax.grad(lambda q: R.l1(q, mask=R.weights_only))(p)
    np.testing.assert_array_equal(g1["dense"]["w"], np.sign(p["dense"]["w"]))
    assert g1["dense"]["w"][0, 0] == 0.0                    # subgradient 0 at 0
    np.testing.assert_array_equal(g1["dense"]["b"], 0.0)
    g2 = jax.grad(R.l2)(p)
    for a, b in zip(jax.tree_util.tree_leaves(g2), jax.tree_util.tree_leaves(p)):
        np.testing.assert_allclose(a, 2 * b, rtol=1e-6)


def test_dtypes(x64):
    p64 = _params(np.float64)
    assert R.l2(p64).dtype == jnp.float64 and R.l1(p64).dtype == jnp.float64
    np.testing.assert_allclose(R.l2(p64), _np_l2(jax.tree_util.tree_leaves(p64)), rtol=1e-13)


def test_bfloat16_accumulates_in_float32():
    p = {"w": jnp.full((256, 256), 1.0, jnp.bfloat16)}     # bf16 sums stall at 256
    assert R.l1(p).dtype == jnp.float32 and R.l2(p).dtype == jnp.float32
    assert float(R.l1(p)) == 65536.0 and float(R.l2(p)) == 65536.0


@pytest.mark.parametrize("fn", [R.l1, R.l2], ids=["l1", "l2"])
def test_jit_and_vmap(fn):
    p = _params()
    mask = R.weights_only(p)
    eager = fn(p, mask=mask)
    np.testing.assert_allclose(jax.jit(lambda q: fn(q, mask=mask))(p), eager, rtol=1e-6)
    # Passing the boolean mask as a jit argument makes its leaves traced arrays.
    np.testing.assert_allclose(jax.jit(lambda q, m: fn(q, mask=m))(p, mask), eager, rtol=1e-6)
    stacked = jax.tree_util.tree_map(lambda x: jnp.stack([x, 2 * x]), p)
    out = jax.vmap(lambda q: fn(q, mask=R.weights_only))(stacked)
    factor = 2.0 if fn is R.l1 else 4.0
    np.testing.assert_allclose(out, [eager, factor * eager], rtol=1e-6)


@pytest.mark.parametrize("fn", [R.l1, R.l2], ids=["l1", "l2"])
def test_mismatched_mask_structure(fn):
    p = _params()
    with pytest.raises(ValueError, match="mask must have the structure of params"):
        fn(p, mask={"dense": True})
    with pytest.raises(ValueError, match="mask must have the structure of params"):
        fn(p, mask=lambda q: [True, False])


def test_weights_only():
    p = _params()
    assert R.weights_only(p) == {"dense": {"w": True, "b": False}, "conv": {"w": True, "b": False},
                                 "scale": False}


def test_public_namespace():
    for name in ["l1", "l2", "weights_only"]:
        f = getattr(nf.regularizers, name)
        assert callable(f) and f.__doc__
