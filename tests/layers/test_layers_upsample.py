"""Tests of upsample: torch is the oracle (float64) for the values and gradients of
``torch.nn.Upsample``; dtypes, jit/vmap and bad arguments."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnfunc import layers as L
from _layers_setup import (KEY, applied_call, check_jit_and_vmap, init_call, pair, torch_nchw,
                           torch_nhwc)

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("method", ["nearest", "bilinear"])
@pytest.mark.parametrize("scale", [2, (2, 3), 3, (1, 4)])
def test_upsample_matches_torch_values_and_gradients(method, scale, x64):
    x = np.random.default_rng(0).standard_normal((2, 5, 4, 3))
    layer = L.upsample(scale, method=method)
    params, state = layer.init(KEY, x.shape[1:])
    assert params == {} and state == {}
    y, _ = layer.apply(params, state, jnp.asarray(x))
    sh, sw = pair(scale)
    assert y.shape == (2, 5 * sh, 4 * sw, 3)
    assert L.output_shape(layer, x.shape[1:]) == (5 * sh, 4 * sw, 3)
    extra = {"align_corners": False} if method == "bilinear" else {}
    xt = torch_nchw(x).requires_grad_(True)
    ref = torch.nn.Upsample(scale_factor=(sh, sw), mode=method, **extra)(xt)
    np.testing.assert_allclose(y, torch_nhwc(ref), rtol=1e-13, atol=1e-13)
    cot = np.random.default_rng(1).standard_normal(y.shape)
    ref.backward(torch_nchw(cot))
    g = jax.grad(lambda v: jnp.sum(layer.apply({}, {}, v)[0] * cot))(jnp.asarray(x))
    np.testing.assert_allclose(g, torch_nhwc(xt.grad), rtol=1e-12, atol=1e-12)


def test_upsample_dtypes():
    x = np.arange(2 * 3 * 3 * 2, dtype=np.uint8).reshape(2, 3, 3, 2)
    y, _ = L.upsample(2).apply({}, {}, x)
    assert y.dtype == jnp.uint8                     # nearest copies pixels
    ref = torch.nn.Upsample(scale_factor=2)(torch_nchw(x))
    np.testing.assert_array_equal(y, torch_nhwc(ref))
    y, _ = L.upsample(2, "bilinear").apply({}, {}, x)
    assert y.dtype == jnp.float32                   # interpolation needs a float
    np.testing.assert_allclose(y, L.upsample(2, "bilinear").apply(
        {}, {}, x.astype(np.float32))[0])
    y, _ = L.upsample(2, "bilinear").apply({}, {}, jnp.ones((1, 2, 2, 1), jnp.bfloat16))
    assert y.dtype == jnp.bfloat16


# ---------------------------------------------------------------- jit, vmap and bad inputs

JIT_VMAP_CASES = {
    "upsample_nearest": (lambda: L.upsample((2, 3)), (4, 5, 2)),
    "upsample_bilinear": (lambda: L.upsample(2, "bilinear"), (4, 5, 2)),
}


@pytest.mark.parametrize("name", sorted(JIT_VMAP_CASES))
def test_jit_and_vmap_paths(name):
    make, shape = JIT_VMAP_CASES[name]
    check_jit_and_vmap(make(), shape)


BAD = [
    # upsample
    ("upsample scale 0", lambda: L.upsample(0), "scale must be a positive int"),
    ("upsample scale pair", lambda: L.upsample((2, 0)), "scale must be a positive int"),
    ("upsample scale float", lambda: L.upsample(1.5), "scale must be a positive int or a "
                                                      "pair of positive ints, got 1.5"),
    ("upsample method", lambda: L.upsample(2, method="bicubic"),
     "method must be one of 'nearest', 'bilinear', got 'bicubic'"),
    ("upsample init flat", init_call(L.upsample(2), (16,)),
     "upsample expects input_shape (height, width, channels), got (16,)"),
    ("upsample apply rank", applied_call(L.upsample(2), (4, 4, 1), jnp.ones((4, 4, 1))),
     "upsample expects NHWC inputs (batch, height, width, channels), got (4, 4, 1)"),
]


@pytest.mark.parametrize("what, call, message", BAD, ids=[c[0] for c in BAD])
def test_bad_arguments_and_inputs_raise_value_error(what, call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value)
