"""nnfunc.tree against numpy on nested pytrees (dicts, lists, tuples, NamedTuples, None leaves),
bfloat16 norms, cast, size, jit/vmap and structure mismatches."""
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnfunc import tree as T

class Pair(NamedTuple):
    w: jax.Array
    b: jax.Array


def _tree(seed=0, dtype=jnp.float32):
    r = np.random.default_rng(seed)
    f = lambda *s: jnp.asarray(r.standard_normal(s), dtype)  # noqa: E731
    return {"layers": [Pair(f(3, 2), f(2)), Pair(f(2, 2), f(2))], "scale": f(), "extra": (f(4), None)}


def _leaves(t):
    return [np.asarray(x, np.float64) for x in jax.tree_util.tree_leaves(t)]


BINARY = [("add", T.add, np.add), ("sub", T.sub, np.subtract), ("mul", T.mul, np.multiply)]


@pytest.mark.parametrize("name,fn,ref", BINARY, ids=[b[0] for b in BINARY])
def test_leafwise_binary_ops(name, fn, ref):
    a, b = _tree(0), _tree(1)
    out = fn(a, b)
    assert jax.tree_util.tree_structure(out) == jax.tree_util.tree_structure(a)
    assert isinstance(out["layers"][0], Pair) and out["extra"][1] is None
    for o, x, y in zip(_leaves(out), _leaves(a), _leaves(b)):
        np.testing.assert_allclose(o, ref(x, y), rtol=1e-6)


def test_scale_and_axpy_keep_dtypes():
    a, b = _tree(0), _tree(1)
    for o, x in zip(_leaves(T.scale(-0.5, a)), _leaves(a)):
        np.testing.assert_allclose(o, -0.5 * x, rtol=1e-6)
    for o, x, y in zip(_leaves(T.axpy(2.0, a, b)), _leaves(a), _leaves(b)):
        np.testing.assert_allclose(o, 2 * x + y, rtol=1e-6)
    h = _tree(0, jnp.bfloat16)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree_util.tree_leaves(T.scale(jnp.float32(0.1), h)))
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree_util.tree_leaves(T.axpy(0.1, h, h)))


def test_vdot_and_norm_against_numpy():
    a, b = _tree(0), _tree(1)
    expected = sum((x * y).sum() for x, y in zip(_leaves(a), _leaves(b)))
    np.testing.assert_allclose(T.vdot(a, b), expected, rtol=1e-5)
    sq = sum((x ** 2).sum() for x in _leaves(a))
    np.testing.assert_allclose(T.l2_norm(a), np.sqrt(sq), rtol=1e-6)
    np.testing.assert_allclose(T.l2_norm(a, squared=True), sq, rtol=1e-6)
    assert T.global_norm is T.l2_norm
    assert float(T.l2_norm({})) == 0.0


def test_float64(x64):
    a, b = _tree(0, jnp.float64), _tree(1, jnp.float64)
    expected = sum((x * y).sum() for x, y in zip(_leaves(a), _leaves(b)))
    assert T.vdot(a, b).dtype == jnp.float64
    np.testing.assert_allclose(T.vdot(a, b), expected, rtol=1e-13)
    np.testing.assert_allclose(T.l2_norm(a), np.sqrt(sum((x ** 2).sum() for x in _leaves(a))), rtol=1e-13)


def test_bfloat16_norm_accumulates_in_float32():
    # A bfloat16 accumulator stalls at 256 for a sum of ones and cannot hold 300² exactly;
    # the float32 accumulator is exact here.
    t = {"w": jnp.ones((256, 256), jnp.bfloat16), "b": jnp.full((4,), 300.0, jnp.bfloat16)}
    n = T.l2_norm(t, squared=True)
    assert n.dtype == jnp.float32
    assert float(n) == 65536.0 + 4 * 90000.0
    np.testing.assert_allclose(T.l2_norm(t), np.sqrt(65536.0 + 360000.0), rtol=1e-6)


def test_like_constructors():
    a = _tree(0)
    for fn, value in [(T.zeros_like, 0.0), (T.ones_like, 1.0)]:
        out = fn(a)
        assert jax.tree_util.tree_structure(out) == jax.tree_util.tree_structure(a)
        for o, x in zip(jax.tree_util.tree_leaves(out), jax.tree_util.tree_leaves(a)):
            assert o.shape == x.shape and o.dtype == x.dtype and bool(jnp.all(o == value))
    full = T.full_like(a, 0.25, dtype=jnp.bfloat16)
    assert all(x.dtype == jnp.bfloat16 and bool(jnp.all(x == 0.25)) for x in jax.tree_util.tree_leaves(full))
    assert T.zeros_like(a, dtype=jnp.int32)["scale"].dtype == jnp.int32


def test_size_counts_parameters():
    assert T.size(_tree(0)) == 3 * 2 + 2 + 2 * 2 + 2 + 1 + 4
    assert T.size({"w": jnp.zeros((784, 10)), "b": jnp.zeros(10)}) == 7850
    assert T.size({}) == 0 and T.size([None]) == 0
    assert isinstance(T.size(_tree(0)), int)


def test_cast_only_floating_leaves():
    t = {"w": jnp.ones((2,), jnp.float32), "n": jnp.array(3, jnp.int32), "m": jnp.array(True),
         "h": jnp.ones(2, jnp.bfloat16)}
    out = T.cast(t, jnp.bfloat16)
    assert out["w"].dtype == jnp.bfloat16 and out["h"].dtype == jnp.bfloat16
    assert out["n"].dtype == jnp.int32 and out["m"].dtype == jnp.bool_
    back = T.cast(out, jnp.float32)
    assert back["w"].dtype == jnp.float32 and back["h"].dtype == jnp.float32
    np.testing.assert_array_equal(back["w"], t["w"])


def test_cast_to_float64(x64):
    out = T.cast({"w": jnp.ones(2), "n": jnp.arange(2)}, jnp.float64)
    assert out["w"].dtype == jnp.float64 and out["n"].dtype == jnp.arange(2).dtype


def test_jit_and_vmap():
    a, b = _tree(0), _tree(1)
    jitted = jax.jit(lambda x, y: (T.add(x, y), T.vdot(x, y), T.l2_norm(x), T.axpy(0.3, x, y)))(a, b)
    eager = (T.add(a, b), T.vdot(a, b), T.l2_norm(a), T.axpy(0.3, a, b))
    for j, e in zip(jax.tree_util.tree_leaves(jitted), jax.tree_util.tree_leaves(eager)):
        np.testing.assert_allclose(j, e, rtol=1e-6)
    stacked_a = jax.tree_util.tree_map(lambda x, y: jnp.stack([x, y]), a, b)
    norms = jax.vmap(T.l2_norm)(stacked_a)
    np.testing.assert_allclose(norms, [T.l2_norm(a), T.l2_norm(b)], rtol=1e-6)
    dots = jax.vmap(T.vdot, in_axes=(0, None))(stacked_a, a)
    np.testing.assert_allclose(dots, [T.vdot(a, a), T.vdot(b, a)], rtol=1e-5)
    # The norm's gradient is θ / ‖θ‖.
    g = jax.grad(T.l2_norm)(a)
    for gx, x in zip(_leaves(g), _leaves(a)):
        np.testing.assert_allclose(gx, x / float(T.l2_norm(a)), rtol=1e-5)


@pytest.mark.parametrize("fn", [T.add, T.sub, T.mul, T.vdot, lambda x, y: T.axpy(1.0, x, y)],
                         ids=["add", "sub", "mul", "vdot", "axpy"])
def test_structure_mismatch_raises(fn):
    with pytest.raises(ValueError, match="different tree structures"):
        fn({"w": jnp.ones(2)}, {"v": jnp.ones(2)})
    with pytest.raises(ValueError, match="different tree structures"):
        fn([jnp.ones(2)], [jnp.ones(2), jnp.ones(2)])


def test_check_same_structure_names():
    T.check_same_structure({"w": 1}, {"w": 2.0})
    with pytest.raises(ValueError, match=r"grads and params have different tree structures: grads="):
        T.check_same_structure({"w": 1}, ({"w": 2},), names=("grads", "params"))
