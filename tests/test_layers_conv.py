"""conv2d's one-input-channel path (shifted multiply-adds on CPU) against the canonical
convolution: values, both derivatives, forward mode, vmap and second derivatives."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from nnfunc.layers import conv as conv_module

CASES = [  # kernel, strides, padding, dilation
    ((5, 5), (1, 1), "SAME", (1, 1)),
    ((3, 3), (2, 2), "SAME", (1, 1)),
    ((5, 5), (1, 1), "VALID", (1, 1)),
    ((3, 2), (2, 1), ((1, 2), (0, 3)), (1, 1)),
    ((3, 3), (1, 1), "SAME", (2, 2)),
    ((1, 1), (1, 1), "VALID", (1, 1)),
]


def _inputs(kernel, features=4):
    x = jax.random.normal(jax.random.key(0), (3, 12, 11, 1))
    w = jax.random.normal(jax.random.key(1), (*kernel, 1, features))
    return x, w


@pytest.mark.parametrize("kernel,strides,pad,dil", CASES)
def test_taps_match_the_convolution(kernel, strides, pad, dil):
    assert conv_module._by_taps(jnp.zeros((3, 3, 1, 2)))      # CI runs on CPU
    x, w = _inputs(kernel)
    taps = lambda x, w: conv_module._taps_conv(x, w, strides, pad, dil)   # noqa: E731
    ref = lambda x, w: conv_module._canonical(x, w, strides, pad, dil)    # noqa: E731
    np.testing.assert_allclose(taps(x, w), ref(x, w), rtol=1e-5, atol=1e-5)
    loss = lambda f: lambda x, w: jnp.sum(jnp.sin(f(x, w)))                # noqa: E731
    for argnum in (0, 1):
        np.testing.assert_allclose(jax.grad(loss(taps), argnum)(x, w),
                                   jax.grad(loss(ref), argnum)(x, w), rtol=1e-4, atol=1e-4)
    tangents = (jnp.cos(x), jnp.ones_like(w))
    _, t1 = jax.jvp(taps, (x, w), tangents)
    _, t2 = jax.jvp(ref, (x, w), tangents)
    np.testing.assert_allclose(t1, t2, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(jax.vmap(taps, (0, None))(x[None], w)[0], ref(x, w),
                               rtol=1e-5, atol=1e-5)
    hess = lambda f: jax.grad(lambda w: jnp.sum(jax.grad(loss(f), 0)(x, w) ** 2))  # noqa
    np.testing.assert_allclose(hess(taps)(w), hess(ref)(w), rtol=1e-3, atol=1e-3)


def test_conv2d_layer_uses_taps_for_one_channel_and_trains_like_the_convolution():
    layer = nf.layers.conv2d(6, 5, padding="SAME")
    params, state = layer.init(jax.random.key(0), (28, 28, 1))
    x = jax.random.uniform(jax.random.key(1), (8, 28, 28, 1))
    y, _ = layer.apply(params, state, x)
    ref = conv_module._canonical(x, params["w"], (1, 1), "SAME", (1, 1)) + params["b"]
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    jaxpr = str(jax.make_jaxpr(lambda p: layer.apply(p, state, x)[0])(params))
    assert "conv_general_dilated" not in jaxpr
    three = nf.layers.conv2d(6, 5).init(jax.random.key(0), (28, 28, 3))[0]
    jaxpr3 = str(jax.make_jaxpr(lambda p: nf.layers.conv2d(6, 5).apply(
        p, {}, jnp.ones((2, 28, 28, 3)))[0])(three))
    assert "conv_general_dilated" in jaxpr3            # several channels: the convolution


# -------------------------------------------- issue 17: images without a channel axis

CHANNEL_HINTS = [
    ("conv2d init (H, W)", lambda: nf.layers.conv2d(4, 3).init(jax.random.key(0), (28, 28)),
     r"conv2d expects input_shape \(height, width, channels\), got \(28, 28\); images here "
     r"are NHWC .*add one, x\[\.\.\., None\] \(input_shape \(28, 28, 1\)\)"),
    ("conv_transpose2d init (H, W)",
     lambda: nf.layers.conv_transpose2d(4, 3).init(jax.random.key(0), (7, 9)),
     r"conv_transpose2d expects input_shape .*got \(7, 9\);.*x\[\.\.\., None\] "
     r"\(input_shape \(7, 9, 1\)\)"),
    ("conv2d apply (N, H, W)", lambda: _apply(nf.layers.conv2d(4, 3), (28, 28, 1),
                                              jnp.zeros((2, 28, 28))),
     r"conv2d expects NHWC inputs \(batch, height, width, 1\), got \(2, 28, 28\); grayscale "
     r"images \(batch, height, width\) without a channel axis\? add one: x\[\.\.\., None\]"),
    ("conv_transpose2d apply (N, H, W)",
     lambda: _apply(nf.layers.conv_transpose2d(4, 3), (8, 8, 1), jnp.zeros((2, 8, 8))),
     r"got \(2, 8, 8\); grayscale .* x\[\.\.\., None\]"),
    ("conv2d apply one image", lambda: _apply(nf.layers.conv2d(4, 3), (6, 6, 3),
                                              jnp.zeros((6, 6, 3))),
     r"got \(6, 6, 3\); a single image\? add the batch axis: x\[None\]"),
]


def _apply(layer, shape, x):
    params, state = layer.init(jax.random.key(0), shape)
    return layer.apply(params, state, x)


@pytest.mark.parametrize("what, call, pattern", CHANNEL_HINTS, ids=[c[0] for c in CHANNEL_HINTS])
def test_missing_channel_axis_gets_a_hint(what, call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_no_channel_hint_where_it_would_mislead():
    # three channels expected, rank-3 input: x[..., None] would not help
    with pytest.raises(ValueError) as info:
        _apply(nf.layers.conv2d(4, 3), (6, 6, 3), jnp.zeros((2, 6, 6)))
    assert "x[..., None]" not in str(info.value)
    # a flat input_shape keeps its message unchanged
    with pytest.raises(ValueError) as info:
        nf.layers.conv2d(4, 3).init(jax.random.key(0), (784,))
    assert str(info.value) == "conv2d expects input_shape (height, width, channels), got (784,)"
    # the hinted fix works: same layer, x[..., None]
    layer = nf.layers.conv2d(4, 3)
    params, state = layer.init(jax.random.key(0), (28, 28, 1))
    y, _ = layer.apply(params, state, jnp.ones((2, 28, 28))[..., None])
    assert y.shape == (2, 28, 28, 4)


# ------------------------------- unpadded convolutions: weight gradient tap by tap (CPU)

@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the CPU path")
@pytest.mark.parametrize("kernel,strides,dil", [((3, 3), (1, 1), (1, 1)),
                                                ((3, 2), (2, 1), (1, 2))])
def test_unpadded_weight_gradient_is_one_matmul_per_tap(kernel, strides, dil):
    x = jax.random.normal(jax.random.key(0), (4, 11, 12, 3))
    w = jax.random.normal(jax.random.key(1), (*kernel, 3, 5))
    ours = lambda w: conv_module._canonical(x, w, strides, "VALID", dil)     # noqa: E731
    ref = lambda w: jax.lax.conv_general_dilated(                             # noqa: E731
        x, w, strides, "VALID", rhs_dilation=dil, dimension_numbers=("NHWC", "HWIO", "NHWC"))
    ct = jax.random.normal(jax.random.key(2), ours(w).shape)
    pull = lambda f: jax.vjp(f, w)[1](ct)[0]                                  # noqa: E731
    np.testing.assert_allclose(pull(ours), pull(ref), rtol=1e-5, atol=1e-5)
    jaxpr = str(jax.make_jaxpr(lambda w: jax.vjp(ours, w)[1](ct)[0])(w))
    padded = str(jax.make_jaxpr(jax.grad(lambda w: jnp.sum(
        conv_module._canonical(x, w, strides, "SAME", dil) ** 2)))(w))
    assert jaxpr.count("dot_general") == kernel[0] * kernel[1]
    assert "dot_general" not in padded                  # with padding: the convolution
    convs = jaxpr.count("conv_general_dilated")
    assert convs == padded.count("conv_general_dilated") - 1 == 2   # none for d/dw


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the CPU path")
def test_tap_weight_gradient_is_bounded_in_memory():
    """The kh * kw tap slices live together, so past 128 MiB of them the unpadded
    convolution keeps XLA's weight-gradient convolution (no copies)."""
    spec = lambda *s: jax.ShapeDtypeStruct(s, jnp.float32)                  # noqa: E731
    taps = conv_module._weight_grad_by_taps
    assert taps(spec(256, 12, 12, 24), spec(3, 3, 24, 32), (1, 1), "VALID", (1, 1))
    # 9 x 64 x 54 x 54 x 64 floats = 430 MB of slices
    assert not taps(spec(64, 56, 56, 64), spec(3, 3, 64, 32), (1, 1), "VALID", (1, 1))
    # stride 2 quarters the slices: 108 MB
    assert taps(spec(64, 56, 56, 64), spec(3, 3, 64, 32), (2, 2), "VALID", (1, 1))
    x = jax.ShapeDtypeStruct((64, 56, 56, 64), jnp.float32)
    w = jax.ShapeDtypeStruct((3, 3, 64, 32), jnp.float32)
    grad = jax.jit(lambda x, w: jax.grad(lambda w: jnp.sum(
        conv_module._canonical(x, w, (1, 1), "VALID", (1, 1)) ** 2))(w))
    assert grad.lower(x, w).compile().memory_analysis().temp_size_in_bytes < 300 * 2**20
