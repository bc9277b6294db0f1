"""Tests of nnfunc.layers.conv: conv2d and conv_transpose2d.

conv2d's one-input-channel path (shifted multiply-adds on CPU) against the canonical
convolution: values, both derivatives, forward mode, vmap and second derivatives; conv2d
against torch, its default init, its derivative rule against JAX's bit for bit, dtypes
and the NCHW hint. conv_transpose2d against torch (float64): values and gradients of
``torch.nn.ConvTranspose2d`` and its default initialisation; the adjoint of conv2d; its
derivative rule; jit/vmap; bad arguments and inputs.
"""
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from nnfunc import layers as L
from nnfunc.layers import conv as conv_module
from _layers_setup import (KEY, applied_call, check_jit_and_vmap, float_input, hwio_to_oihw,
                           init_call, pair, to_nchw, to_nhwc, torch_nchw, torch_nhwc)

try:
    import torch
except ImportError:         # the tests that need torch as their oracle say so
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is the oracle")

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

# ---------------------------------------------------------------- conv2d: torch oracles, init, derivatives

@pytest.mark.parametrize("kwargs, torch_kwargs", [
    (dict(kernel_size=3, stride=1, padding="SAME"), dict(stride=1, padding="same")),
    (dict(kernel_size=4, stride=1, padding="SAME"), dict(stride=1, padding="same")),
    (dict(kernel_size=3, stride=2, padding="VALID"), dict(stride=2, padding=0)),
    (dict(kernel_size=(3, 2), stride=(2, 1), padding=1, dilation=(2, 1)),
     dict(stride=(2, 1), padding=1, dilation=(2, 1))),
    (dict(kernel_size=5, stride=3, padding=(2, 1)), dict(stride=3, padding=(2, 1))),
])
@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_conv2d_matches_torch(kwargs, torch_kwargs, x64):
    torch = pytest.importorskip("torch")
    layer = L.conv2d(4, **kwargs)
    kernel = kwargs["kernel_size"]
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    # Params built directly (init is tested elsewhere): HWIO kernel and a bias.
    rng = np.random.default_rng(3)
    params, state = {"w": rng.standard_normal((kh, kw, 3, 4)), "b": rng.standard_normal(4)}, {}
    x = float_input((2, 9, 8, 3))
    y, _ = layer.apply(params, state, jnp.asarray(x))
    ref = torch.nn.functional.conv2d(torch.from_numpy(to_nchw(x)),
                                     torch.from_numpy(hwio_to_oihw(np.asarray(params["w"]))),
                                     torch.from_numpy(np.array(params["b"])), **torch_kwargs)
    np.testing.assert_allclose(y, to_nhwc(ref.numpy()), rtol=1e-10, atol=1e-12)


def test_conv2d_default_init_uses_kernel_fan_in():
    params, _ = L.conv2d(64, 3).init(KEY, (8, 8, 16))
    bound = 1 / math.sqrt(3 * 3 * 16)
    for leaf in (params["w"], params["b"]):
        assert float(jnp.abs(leaf).max()) <= bound
        assert float(jnp.abs(leaf).max()) > 0.9 * bound


CONV_CONFIGS = [  # (kernel, stride, padding, dilation)
    ((3, 3), 1, "SAME", 1), ((3, 2), (2, 3), "VALID", 1), ((3, 3), 2, "SAME", (2, 1)),
    ((2, 2), (3, 2), ((1, 0), (3, 2)), (1, 2)), ((1, 1), 1, ((4, 4), (0, 5)), 1),
    ((5, 5), 1, 2, 1), ((3, 3), 1, "VALID", (2, 1)), ((1, 1), 2, "SAME", 1),
]


def _plain_conv(x, w, stride, padding, dilation):
    """JAX's own convolution and derivatives, the reference for conv2d's rule."""
    s = stride if isinstance(stride, tuple) else (stride, stride)
    d = dilation if isinstance(dilation, tuple) else (dilation, dilation)
    pad = ((padding, padding), (padding, padding)) if isinstance(padding, int) else padding
    return jax.lax.conv_general_dilated(x, w, s, pad, rhs_dilation=d,
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))


@pytest.mark.parametrize("kernel,stride,padding,dilation", CONV_CONFIGS)
def test_conv2d_derivatives_equal_jax_bit_for_bit(kernel, stride, padding, dilation):
    """conv2d's own derivative rule (canonical layouts for XLA:CPU) gives exactly JAX's
    values in reverse mode, forward mode, second order and under vmap. Without padding
    the weight gradient on CPU is one matmul per kernel tap instead (faster there): the
    same values up to the order of the sums."""
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.normal(size=(3, 12, 13, 2)), jnp.float32)
    layer = L.conv2d(4, kernel, stride=stride, padding=padding, dilation=dilation,
                     use_bias=False)
    params, _ = layer.init(KEY, (12, 13, 2))
    w = params["w"]

    def ours(x, w):
        return jnp.sum(jnp.sin(layer.apply({"w": w}, {}, x)[0]))

    def ref(x, w):
        return jnp.sum(jnp.sin(_plain_conv(x, w, stride, padding, dilation)))

    s = stride if isinstance(stride, tuple) else (stride, stride)
    d = dilation if isinstance(dilation, tuple) else (dilation, dilation)
    pad = L._base.as_padding(padding)
    by_taps = conv_module._weight_grad_by_taps(x, w, s, pad, d)
    assert by_taps == (jax.default_backend() == "cpu" and (
        padding == "VALID" or kernel == (1, 1) and padding == "SAME"))

    def same(a, b):
        for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
            if by_taps:
                np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=2e-5,
                                           atol=2e-5)
                assert not np.array_equal(np.asarray(u), 0 * np.asarray(u))
            else:
                np.testing.assert_array_equal(np.asarray(u), np.asarray(v))

    same(jax.grad(ours, (0, 1))(x, w), jax.grad(ref, (0, 1))(x, w))
    same(jax.jvp(ours, (x, w), (x * 0.5, w))[1], jax.jvp(ref, (x, w), (x * 0.5, w))[1])
    hvp = lambda f: jax.jvp(jax.grad(f, 1), (x, w), (x, w))[1]      # forward-over-reverse
    same(hvp(ours), hvp(ref))
    same(jax.vmap(jax.grad(ours, 1), (0, None))(x[:, None], w),
         jax.vmap(jax.grad(ref, 1), (0, None))(x[:, None], w))
    ws = jnp.stack([w, 2 * w])                      # batched weights, as in nf.train.sweep
    same(jax.vmap(jax.grad(ours, (0, 1)), (None, 0))(x, ws),
         jax.vmap(jax.grad(ref, (0, 1)), (None, 0))(x, ws))


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA:CPU layout check")
def test_conv2d_gradients_in_a_scan_use_canonical_convolutions():
    """Inside a lax.scan (a fused epoch) XLA:CPU keeps each convolution's layout; only
    the canonical one (batch first, features last; HWIO kernel) runs fast (jax #12868),
    so every convolution of conv2d's training step must be canonical. JAX's own
    derivatives are not (this is what made CPU CNN epochs 4x slower than needed)."""
    import re
    layer = L.conv2d(4, 3, stride=2)
    params, _ = layer.init(KEY, (9, 9, 2))
    xs = jnp.ones((3, 5, 9, 9, 2))

    def epoch(params, conv):
        def step(p, x):
            g = jax.grad(lambda p: jnp.sum(conv(x, p) ** 2))(p)
            return jax.tree_util.tree_map(lambda a, b: a - 0.1 * b, p, g), None
        return jax.lax.scan(step, params, xs)[0]

    ours = lambda x, p: layer.apply(p, {}, x)[0]
    plain = lambda x, p: _plain_conv(x, p["w"], 2, "SAME", 1) + p["b"]
    labels = lambda conv: re.findall(r"dim_labels=([\w>-]+)", jax.jit(
        lambda p: epoch(p, conv)).lower(params).compile().as_text())
    assert labels(ours) and set(labels(ours)) == {"b01f_01io->b01f"}
    assert set(labels(plain)) != {"b01f_01io->b01f"}          # the check can fail


@pytest.mark.parametrize("dtype", [jnp.uint8, jnp.int32, jnp.float16])
def test_conv2d_promotes_input_dtype_like_dense(dtype):
    """A uint8 image used to fail with a raw lax TypeError."""
    conv = L.conv2d(2, 3)
    params, state = conv.init(KEY, (5, 5, 1))
    x = jnp.arange(50).reshape(2, 5, 5, 1) % 7
    y, _ = conv.apply(params, state, x.astype(dtype))
    ref, _ = conv.apply(params, state, x.astype(jnp.float32))
    assert y.dtype == jnp.float32
    np.testing.assert_allclose(y, ref, rtol=1e-3 if dtype == jnp.float16 else 1e-6)


def test_conv2d_warns_on_an_nchw_looking_input_shape():
    with pytest.warns(UserWarning, match=r"looks like NCHW.*\(28, 28, 1\)"):
        L.conv2d(4, 3).init(KEY, (1, 28, 28))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        L.conv2d(4, 3).init(KEY, (28, 28, 1))
        L.conv2d(4, 3).init(KEY, (3, 3, 8))           # not square beyond the leading axis


# ---------------------------------------------------------------- conv_transpose2d

# (kernel_size, stride, padding, output_padding, dilation, use_bias, input_shape)
CT_SETUPS = {
    "k3_plain": (3, 1, 0, 0, 1, True, (5, 6, 3)),
    "k3_s2_p1_op1": (3, 2, 1, 1, 1, True, (7, 7, 3)),
    "k2_s2_exact_doubling": (2, 2, 0, 0, 1, True, (4, 5, 2)),
    "nonsquare_k_s_p_op_nobias": ((2, 3), (3, 2), (1, 0), (2, 1), 1, False, (5, 6, 3)),
    "dilated_padded": (3, 1, 2, 0, 3, True, (5, 6, 3)),
    "op_below_dilation_only": (3, 1, 4, 2, 3, True, (5, 6, 2)),
    "k4_s3_mixed_dilation": (4, 3, (0, 2), (2, 1), (1, 2), True, (4, 5, 3)),
    "k5_s2_op1_nobias": (5, 2, 0, 1, 1, False, (4, 4, 3)),
    "k1_s2_op1": (1, 2, 0, 1, 1, True, (3, 4, 2)),
    "tall_kernel_crop": ((3, 1), (1, 3), (3, 0), (0, 2), (2, 1), True, (6, 4, 3)),
    "padding_beyond_kernel": (2, 3, 2, 0, 1, True, (5, 4, 2)),
}


def _ct_layer(features, setup):
    k, s, p, op, d, bias, _ = setup
    return L.conv_transpose2d(features, k, stride=s, padding=p, output_padding=op,
                              dilation=d, use_bias=bias)


def _torch_ct(in_ch, features, setup, params):
    k, s, p, op, d, bias, _ = setup
    m = torch.nn.ConvTranspose2d(in_ch, features, k, stride=s, padding=p, output_padding=op,
                                 dilation=d, bias=bias).double()
    with torch.no_grad():
        # HWIO (kh, kw, in, out) -> torch (in, out, kh, kw); the inverse of permute(2, 3, 0, 1)
        w_torch = torch.from_numpy(np.array(params["w"])).permute(2, 3, 0, 1)
        assert torch.equal(w_torch.permute(2, 3, 0, 1), torch.from_numpy(np.array(params["w"])))
        m.weight.copy_(w_torch)
        if bias:
            m.bias.copy_(torch.from_numpy(np.array(params["b"])))
    return m


@pytest.mark.parametrize("name", sorted(CT_SETUPS))
@needs_torch
def test_conv_transpose2d_values_and_gradients_match_torch(name, x64):
    setup = CT_SETUPS[name]
    k, s, p, op, d, bias, shape = setup
    features = 4
    layer = _ct_layer(features, setup)
    params, state = layer.init(KEY, shape)
    rng = np.random.default_rng(1)
    params = jax.tree_util.tree_map(lambda a: jnp.asarray(rng.standard_normal(a.shape)),
                                    params)
    x = rng.standard_normal((2, *shape))
    y, _ = layer.apply(params, state, jnp.asarray(x))

    # the output size formula, per axis
    expected = tuple((n - 1) * s_ - 2 * p_ + d_ * (k_ - 1) + op_ + 1 for n, k_, s_, p_, op_, d_
                     in zip(shape[:2], pair(k), pair(s), pair(p), pair(op), pair(d)))
    assert y.shape == (2, *expected, features)
    assert L.output_shape(layer, shape) == (*expected, features)

    m = _torch_ct(shape[2], features, setup, params)
    xt = torch_nchw(x).requires_grad_(True)
    ref = m(xt)
    np.testing.assert_allclose(y, torch_nhwc(ref), rtol=1e-10, atol=1e-12)

    # gradients of <y, cotangent> w.r.t. input, kernel and bias, against torch autograd
    cot = rng.standard_normal(y.shape)
    ref.backward(torch_nchw(cot))

    def loss(params, x):
        return jnp.sum(layer.apply(params, state, x)[0] * cot)

    g_params, g_x = jax.grad(loss, (0, 1))(params, jnp.asarray(x))
    np.testing.assert_allclose(g_x, torch_nhwc(xt.grad), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g_params["w"], m.weight.grad.permute(2, 3, 0, 1).numpy(),
                               rtol=1e-10, atol=1e-12)
    if bias:
        np.testing.assert_allclose(g_params["b"], m.bias.grad.numpy(), rtol=1e-10, atol=1e-12)
    else:
        assert set(params) == {"w"}


@pytest.mark.parametrize("name", ["k3_s2_p1_op1", "nonsquare_k_s_p_op_nobias",
                                  "k4_s3_mixed_dilation", "dilated_padded"])
def test_conv_transpose2d_is_the_adjoint_of_conv2d(name, x64):
    """<conv_transpose2d(x, W), z> = <x, conv2d(z, Wᵀ)> for conv2d with the same kernel
    size, stride, padding and dilation: the transposed convolution is conv2d's gradient."""
    setup = CT_SETUPS[name]
    k, s, p, op, d, _, shape = setup
    ct = L.conv_transpose2d(3, k, stride=s, padding=p, output_padding=op, dilation=d,
                            use_bias=False)
    params, _ = ct.init(KEY, shape)
    w = jnp.asarray(np.random.default_rng(2).standard_normal(params["w"].shape))
    x = jnp.asarray(np.random.default_rng(3).standard_normal((2, *shape)))
    y, _ = ct.apply({"w": w}, {}, x)
    z = jnp.asarray(np.random.default_rng(4).standard_normal(y.shape))
    conv = L.conv2d(shape[2], k, stride=s, padding=pair(p), dilation=d, use_bias=False)
    back, _ = conv.apply({"w": jnp.transpose(w, (0, 1, 3, 2))}, {}, z)
    assert back.shape == x.shape           # conv2d maps the output shape back
    np.testing.assert_allclose(jnp.vdot(y, z), jnp.vdot(x, back), rtol=1e-12)


@needs_torch
def test_conv_transpose2d_default_init_matches_torch_fan_in():
    """torch's ConvTranspose2d weight is (in, out, kh, kw), so its fan_in is out·kh·kw:
    W and b ~ U(-1/√fan_in, 1/√fan_in) with fan_in = features·kh·kw (not in·kh·kw)."""
    in_ch, features, kernel = 16, 64, (3, 2)
    params, _ = L.conv_transpose2d(features, kernel).init(KEY, (8, 8, in_ch))
    assert params["w"].shape == (3, 2, in_ch, features) and params["b"].shape == (features,)
    assert params["w"].dtype == jnp.float32
    fan_in = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(in_ch, features, *kernel))[0]
    assert fan_in == features * 3 * 2
    bound = 1 / math.sqrt(fan_in)
    torch.manual_seed(0)
    tm = torch.nn.ConvTranspose2d(in_ch, features, kernel)
    for ours, theirs in ((params["w"], tm.weight), (params["b"], tm.bias)):
        for arr in (np.asarray(ours), theirs.detach().numpy()):
            assert np.abs(arr).max() <= bound
            assert np.abs(arr).max() > 0.9 * bound
    w = np.asarray(params["w"])
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound / math.sqrt(3)   # U(-b, b)
    assert abs(w.mean()) < 0.05 * bound
    # an explicit initializer and use_bias=False replace the defaults
    params, _ = L.conv_transpose2d(4, 3, w_init=nf.init.zeros, use_bias=False).init(
        KEY, (5, 5, 2))
    assert set(params) == {"w"} and not np.any(np.asarray(params["w"]))
    params, _ = L.conv_transpose2d(4, 3, b_init=nf.init.ones).init(KEY, (5, 5, 2))
    np.testing.assert_array_equal(params["b"], np.ones(4))


def test_conv_transpose2d_casts_integer_inputs_to_the_kernel_dtype():
    layer = L.conv_transpose2d(3, 3, stride=2)
    params, state = layer.init(KEY, (4, 4, 1))
    x = np.random.default_rng(0).integers(0, 256, (2, 4, 4, 1)).astype(np.uint8)
    y, _ = layer.apply(params, state, x)
    assert y.dtype == jnp.float32
    np.testing.assert_allclose(y, layer.apply(params, state, x.astype(np.float32))[0],
                               rtol=1e-6, atol=1e-4)


def _plain_ct(x, w, setup):
    """The textbook formulation with JAX's own derivatives: the input dilated by the
    stride, padded, convolved with the flipped kernel."""
    k, s, p, op, d, _, _ = setup
    pad = [(d_ * (k_ - 1) - p_, d_ * (k_ - 1) - p_ + op_) for k_, p_, op_, d_
           in zip(pair(k), pair(p), pair(op), pair(d))]
    return jax.lax.conv_general_dilated(x, w[::-1, ::-1], (1, 1), pad, lhs_dilation=pair(s),
                                        rhs_dilation=pair(d),
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))


@pytest.mark.parametrize("name", ["k3_s2_p1_op1", "nonsquare_k_s_p_op_nobias",
                                  "op_below_dilation_only", "padding_beyond_kernel"])
def test_conv_transpose2d_derivative_rule_equals_jax(name, x64):
    """The canonical-layout derivative rule gives JAX's values in reverse mode, forward
    mode, second order and under vmap (batched inputs and batched weights)."""
    setup = CT_SETUPS[name]
    shape = setup[-1]
    rng = np.random.default_rng(5)
    layer = L.conv_transpose2d(4, *setup[:5], use_bias=False)
    x = jnp.asarray(rng.standard_normal((3, *shape)))
    w = jnp.asarray(rng.standard_normal(layer.init(KEY, shape)[0]["w"].shape))

    def ours(x, w):
        return jnp.sum(jnp.sin(layer.apply({"w": w}, {}, x)[0]))

    def ref(x, w):
        return jnp.sum(jnp.sin(_plain_ct(x, w, setup)))

    def close(a, b):
        for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
            np.testing.assert_allclose(u, v, rtol=1e-11, atol=1e-11)

    close(ours(x, w), ref(x, w))
    close(jax.grad(ours, (0, 1))(x, w), jax.grad(ref, (0, 1))(x, w))
    close(jax.jvp(ours, (x, w), (x * 0.5, w))[1], jax.jvp(ref, (x, w), (x * 0.5, w))[1])
    hvp = lambda f: jax.jvp(jax.grad(f, 1), (x, w), (x, w))[1]      # forward-over-reverse
    close(hvp(ours), hvp(ref))
    close(jax.vmap(jax.grad(ours, 1), (0, None))(x[:, None], w),
          jax.vmap(jax.grad(ref, 1), (0, None))(x[:, None], w))
    ws = jnp.stack([w, 2 * w])                      # batched weights, as in nf.train.sweep
    close(jax.vmap(jax.grad(ours, (0, 1)), (None, 0))(x, ws),
          jax.vmap(jax.grad(ref, (0, 1)), (None, 0))(x, ws))


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA:CPU layout check")
def test_conv_transpose2d_gradients_in_a_scan_use_canonical_convolutions():
    """Inside a lax.scan XLA:CPU keeps each convolution's layout and only the canonical
    one runs fast (jax #12868); JAX's own derivatives of a transposed convolution are
    not canonical (a scanned decoder step ran 2x slower than the same step alone)."""
    setup = (3, 2, 1, 1, 1, True, (5, 5, 2))
    layer = _ct_layer(4, setup)
    params, _ = layer.init(KEY, (5, 5, 2))
    xs = jnp.ones((3, 4, 5, 5, 2))

    def epoch(params, conv):
        def step(p, x):       # the input gradient too, as for a decoder's inner layers
            g, g_x = jax.grad(lambda p, x: jnp.sum(conv(x, p) ** 2), (0, 1))(p, x)
            return jax.tree_util.tree_map(lambda a, b: a - 0.1 * b, p, g), g_x
        return jax.lax.scan(step, params, xs)

    ours = lambda x, p: layer.apply(p, {}, x)[0]
    plain = lambda x, p: _plain_ct(x, p["w"], setup) + p["b"]
    labels = lambda conv: re.findall(r"dim_labels=([\w>-]+)", jax.jit(
        lambda p: epoch(p, conv)).lower(params).compile().as_text())
    assert len(labels(ours)) == 3 and set(labels(ours)) == {"b01f_01io->b01f"}
    assert set(labels(plain)) != {"b01f_01io->b01f"}          # the check can fail


# ---------------------------------------------------------------- conv_transpose2d: jit, vmap and bad inputs

JIT_VMAP_CASES = {
    "conv_transpose2d": (lambda: L.conv_transpose2d(3, 3, stride=2, padding=1,
                                                    output_padding=1), (4, 5, 2)),
    "conv_transpose2d_dilated_nobias": (lambda: L.conv_transpose2d(
        2, (2, 3), stride=(1, 2), dilation=(2, 1), use_bias=False), (4, 5, 2)),
}


@pytest.mark.parametrize("name", sorted(JIT_VMAP_CASES))
def test_jit_and_vmap_paths(name):
    make, shape = JIT_VMAP_CASES[name]
    check_jit_and_vmap(make(), shape)


CT = L.conv_transpose2d
BAD = [
    # conv_transpose2d construction
    ("ct features 0", lambda: CT(0, 3), "features must be a positive int, got 0"),
    ("ct features bool", lambda: CT(True, 3), "features must be a positive int, got True"),
    ("ct features float", lambda: CT(2.0, 3), "features must be a positive int, got 2.0"),
    ("ct kernel 0", lambda: CT(2, (3, 0)), "kernel_size must be a positive int"),
    ("ct kernel float", lambda: CT(2, 1.5), "kernel_size must be a positive int"),
    ("ct kernel triple", lambda: CT(2, (3, 3, 3)), "kernel_size must be a positive int"),
    ("ct stride 0", lambda: CT(2, 3, stride=0), "stride must be a positive int"),
    ("ct dilation 0", lambda: CT(2, 3, dilation=(1, 0)), "dilation must be a positive int"),
    ("ct padding negative", lambda: CT(2, 3, padding=-1),
     "padding must be a non-negative int or a pair of non-negative ints, got -1"),
    ("ct padding string", lambda: CT(2, 3, padding="SAME"),
     "padding must be a non-negative int or a pair"),
    ("ct padding triple", lambda: CT(2, 3, padding=(1, 1, 1)),
     "padding must be a non-negative int or a pair"),
    ("ct output_padding negative", lambda: CT(2, 3, stride=2, output_padding=(0, -1)),
     "output_padding must be a non-negative int or a pair"),
    ("ct output_padding = stride = dilation", lambda: CT(2, 3, output_padding=1),
     "output_padding must be smaller than either stride or dilation"),
    ("ct output_padding >= stride on w", lambda: CT(2, 3, stride=2, output_padding=(1, 2)),
     "output_padding must be smaller than either stride or dilation"),
    ("ct output_padding >= both", lambda: CT(2, 3, stride=2, dilation=2, output_padding=2),
     "got output_padding=2 with stride=2 and dilation=2"),
    # conv_transpose2d shapes
    ("ct init output too small", init_call(CT(2, 3, padding=2), (2, 2, 1)),
     "conv_transpose2d: input of spatial shape (2, 2) with kernel_size (3, 3), stride (1, 1), "
     "padding (2, 2), output_padding (0, 0) and dilation (1, 1) gives output spatial "
     "shape (0, 0)"),
    ("ct init flat", init_call(CT(2, 3), (16,)),
     "conv_transpose2d expects input_shape (height, width, channels), got (16,)"),
    ("ct in serial", init_call(L.serial(L.dense(4), CT(2, 3)), (3,)),
     "serial: layer 1 (conv_transpose2d) received input_shape (4,)"),
    ("ct apply rank", applied_call(CT(2, 3), (5, 5, 1), jnp.ones((5, 5, 1))),
     "conv_transpose2d expects NHWC inputs (batch, height, width, 1), got (5, 5, 1)"),
    ("ct apply channels", applied_call(CT(2, 3), (5, 5, 1), jnp.ones((2, 5, 5, 3))),
     "(batch, height, width, 1), got (2, 5, 5, 3)"),
    ("ct apply output too small", applied_call(CT(2, 3, padding=(0, 2)), (5, 5, 1),
                                           jnp.ones((2, 5, 2, 1))),
     "input of spatial shape (5, 2)"),
]


@pytest.mark.parametrize("what, call, message", BAD, ids=[c[0] for c in BAD])
def test_bad_arguments_and_inputs_raise_value_error(what, call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value)
