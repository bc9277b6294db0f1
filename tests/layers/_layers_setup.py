"""Shared helpers of the tests of nnfunc.layers (imported as ``from _layers_setup import
...``): the key, inputs, layout conversions for the torch oracles, and the jit/vmap check
every layer table runs."""
import jax
import numpy as np

import nnfunc as nf

KEY = jax.random.key(0)


def float_input(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def ids_input(shape, seed=0, high=10):
    return np.random.default_rng(seed).integers(0, high, shape)


def to_nchw(x_nhwc):
    return np.ascontiguousarray(np.transpose(x_nhwc, (0, 3, 1, 2)))


def to_nhwc(x_nchw):
    return np.transpose(x_nchw, (0, 2, 3, 1))


def hwio_to_oihw(w):
    return np.ascontiguousarray(np.transpose(w, (3, 2, 0, 1)))


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def torch_nchw(x_nhwc):
    """An NHWC array as a torch NCHW tensor."""
    import torch
    return torch.from_numpy(np.ascontiguousarray(np.transpose(x_nhwc, (0, 3, 1, 2))))


def torch_nhwc(t_nchw):
    """A torch NCHW tensor as an NHWC array."""
    return np.transpose(t_nchw.detach().numpy(), (0, 2, 3, 1))


def init_call(layer, shape):
    """``layer.init`` on ``shape``, as a call for a table of bad inputs."""
    return lambda: layer.init(KEY, shape)


def applied_call(layer, shape, x):
    """``layer.apply`` on ``x`` after ``init`` on ``shape``, as a call for a table."""
    params, state = layer.init(KEY, shape)
    return lambda: layer.apply(params, state, x)


def check_jit_and_vmap(layer, shape):
    """jit equals eager, ``output_shape`` the output's, vmap over an ensemble of params and
    inputs equals a loop, and per-example vmap equals the batched call."""
    params, state = layer.init(KEY, shape)
    x = np.random.default_rng(0).standard_normal((3, *shape)).astype(np.float32)
    y, _ = layer.apply(params, state, x)
    y_jit, _ = jax.jit(layer.apply)(params, state, x)
    np.testing.assert_allclose(y_jit, y, rtol=1e-6, atol=1e-6)
    assert nf.layers.output_shape(layer, shape) == y.shape[1:]
    # vmap over an ensemble axis: independent params and inputs per member
    n = 3
    ps = jax.tree_util.tree_map(lambda a: np.stack([a * (1 + 0.5 * i) for i in range(n)]),
                                params)
    xs = np.stack([x * (i + 1) for i in range(n)])
    ys, _ = jax.vmap(lambda p, v: layer.apply(p, state, v))(ps, xs)
    for i in range(n):
        p_i = jax.tree_util.tree_map(lambda a: a[i], ps)
        np.testing.assert_allclose(ys[i], layer.apply(p_i, state, xs[i])[0],
                                   rtol=1e-5, atol=1e-5)
    # per-example vmap (a batch axis of one inside) equals the batched call
    y_each = jax.vmap(lambda v: layer.apply(params, state, v[None])[0][0])(x)
    np.testing.assert_allclose(y_each, y, rtol=1e-5, atol=1e-5)
