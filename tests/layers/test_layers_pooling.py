"""Tests of max_pool and avg_pool: torch oracles, the stride = window tiles path and its
two gradient masks."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnfunc import layers as L
from _layers_setup import float_input, to_nchw, to_nhwc


@pytest.mark.parametrize("kind, window, stride, padding, extra", [
    ("max", 2, None, 0, {}),
    ("max", 3, 2, 1, {}),
    ("max", (3, 2), (1, 2), (1, 0), {}),
    ("avg", 2, None, 0, {}),
    ("avg", 3, 2, 1, {}),
    ("avg", 3, 2, 1, {"count_include_pad": False}),
    ("avg", (2, 3), (2, 1), (1, 1), {"count_include_pad": False}),
])
def test_pooling_matches_torch(kind, window, stride, padding, extra, x64):
    torch = pytest.importorskip("torch")
    factory = L.max_pool if kind == "max" else L.avg_pool
    layer = factory(window, stride, padding, **extra)
    x = float_input((2, 7, 6, 3))
    y, _ = layer.apply({}, {}, jnp.asarray(x))
    fn = torch.nn.functional.max_pool2d if kind == "max" else torch.nn.functional.avg_pool2d
    ref = fn(torch.from_numpy(to_nchw(x)), window, stride if stride is not None else window,
             padding, **extra)
    np.testing.assert_allclose(y, to_nhwc(ref.numpy()), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("walk", [False, True], ids=["cpu-cumsum-mask", "gpu-walked-mask"])
@pytest.mark.parametrize("shape,window", [((3, 9, 7, 4), 2), ((2, 12, 12, 3), 3),
                                          ((2, 8, 8, 2), (2, 4))])
def test_max_pool_tiles_path_equals_reduce_window_and_torch_on_ties(shape, window, walk):
    """stride = window, no padding: the reshape-max path gives reduce_window's values and
    gradients (to the first maximum of each window), also with ties after a ReLU; with a
    NaN in a window, torch's: NaN out, the gradient to the NaN (reduce_window's goes to
    the largest number instead). Both gradient masks: the CPU's (cumsum) and the GPU's
    (walked over the window), each chosen here by ``walk=`` on the CPU; the layer runs
    the path with the mask its backend picks."""
    torch = pytest.importorskip("torch", reason="the reference is torch's max_pool2d")
    from jax import lax
    from nnfunc.layers import pooling
    kh, kw = (window, window) if isinstance(window, int) else window
    x = jax.nn.relu(jnp.round(jax.random.normal(jax.random.key(0), shape) * 2) / 2)
    x = x.at[0, 0, 0, 0].set(jnp.nan)            # a NaN window: NaN out, gradient to it
    layer = L.max_pool(window)
    y, vjp = jax.vjp(lambda v: pooling.max_pool_tiles(v, kh, kw, walk=walk), x)
    if walk == pooling.mask_by_walk(kh, kw, jax.default_backend()):
        y_layer, vjp_layer = jax.vjp(lambda v: layer.apply({}, {}, v)[0], x)
        g1 = jax.random.normal(jax.random.key(1), y.shape)
        np.testing.assert_array_equal(np.asarray(y_layer), np.asarray(y))
        np.testing.assert_array_equal(np.asarray(vjp_layer(g1)[0]), np.asarray(vjp(g1)[0]))
    dims = (1, kh, kw, 1)
    y_ref, vjp_ref = jax.vjp(lambda v: lax.reduce_window(v, -jnp.inf, lax.max, dims, dims,
                                                         "VALID"), x)
    g = jax.random.normal(jax.random.key(1), y.shape)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(y_ref))
    np.testing.assert_array_equal(np.asarray(vjp(g)[0][1:]), np.asarray(vjp_ref(g)[0][1:]))
    xt = torch.tensor(np.asarray(x).transpose(0, 3, 1, 2), requires_grad=True)
    yt = torch.nn.functional.max_pool2d(xt, (kh, kw))
    yt.backward(torch.tensor(np.asarray(g).transpose(0, 3, 1, 2)))
    np.testing.assert_array_equal(np.asarray(y), yt.detach().numpy().transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(np.asarray(vjp(g)[0]), xt.grad.numpy().transpose(0, 2, 3, 1))


@pytest.mark.parametrize("tile_shape", [(3, 4, 2, 5, 2, 3), (2, 3, 3, 3, 3, 2),
                                        (2, 2, 2, 3, 4, 1), (1, 2, 1, 2, 3, 2)])
def test_max_pool_walked_mask_equals_cumsum_mask(tile_shape):
    """The GPU's first-max mask (a walk over the window) marks the same entry of every
    tile as the CPU's (cumsums): ties from rounding, NaNs in 5 % of the entries."""
    from nnfunc.layers import pooling
    t = jnp.round(jax.random.normal(jax.random.key(0), tile_shape))
    t = jnp.where(jax.random.uniform(jax.random.key(1), tile_shape) < 0.05, jnp.nan, t)
    y = jnp.max(t, axis=(2, 4), keepdims=True)
    cumsum, walked = pooling.first_max_mask(t, y), pooling.first_max_mask_walk(t, y)
    np.testing.assert_array_equal(np.asarray(walked), np.asarray(cumsum))
    assert int(jnp.sum(cumsum)) == t.shape[0] * t.shape[1] * t.shape[3] * t.shape[5]
    assert bool(jnp.any(jnp.sum(t == y, axis=(2, 4)) > 1))      # the table has ties


def test_max_pool_gradient_mask_is_chosen_by_backend_and_window():
    """Walked on GPUs and TPUs, for windows of at most 16 positions: one unrolled step per
    position, so a 28x28 window's gradient would take minutes to compile."""
    from nnfunc.layers import pooling
    here = jax.default_backend()
    assert pooling.mask_by_walk(2, 2, here) is (here != "cpu")
    assert pooling.mask_by_walk(2, 2, "gpu") and pooling.mask_by_walk(4, 4, "gpu")
    assert pooling.mask_by_walk(2, 8, "gpu") and not pooling.mask_by_walk(5, 5, "gpu")
    assert not pooling.mask_by_walk(28, 28, "gpu") and pooling.mask_by_walk(2, 2, "tpu")
    grad = lambda win, x, walk: jax.make_jaxpr(jax.grad(       # noqa: E731
        lambda v: pooling.max_pool_tiles(v, win, win, walk=walk).sum()))(x)
    x = jnp.ones((1, 28, 28, 2))
    on_gpu = lambda win: grad(win, x, pooling.mask_by_walk(win, win, "gpu"))  # noqa: E731
    assert "cumsum" in str(on_gpu(14)) and "cumsum" not in str(on_gpu(2))
    layer = lambda win: jax.make_jaxpr(jax.grad(                 # noqa: E731
        lambda v: L.max_pool(win).apply({}, {}, v)[0].sum()))(x)
    assert str(layer(2)) == str(grad(2, x, pooling.mask_by_walk(2, 2, here)))
    assert str(layer(14)) == str(grad(14, x, pooling.mask_by_walk(14, 14, here)))
    assert not pooling.mask_by_walk(2, 2, "cpu")
