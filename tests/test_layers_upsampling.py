"""Tests for the upsampling and shape layers: conv_transpose2d, upsample, reshape.

torch is the oracle (float64): values and gradients of ``torch.nn.ConvTranspose2d`` and
``torch.nn.Upsample``, and torch's default ConvTranspose2d initialisation.
"""
from __future__ import annotations

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from nnfunc import layers as L

torch = pytest.importorskip("torch")

KEY = jax.random.key(0)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _nchw(x_nhwc):
    return torch.from_numpy(np.ascontiguousarray(np.transpose(x_nhwc, (0, 3, 1, 2))))


def _nhwc(t_nchw):
    return np.transpose(t_nchw.detach().numpy(), (0, 2, 3, 1))


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
                     in zip(shape[:2], _pair(k), _pair(s), _pair(p), _pair(op), _pair(d)))
    assert y.shape == (2, *expected, features)
    assert L.output_shape(layer, shape) == (*expected, features)

    m = _torch_ct(shape[2], features, setup, params)
    xt = _nchw(x).requires_grad_(True)
    ref = m(xt)
    np.testing.assert_allclose(y, _nhwc(ref), rtol=1e-10, atol=1e-12)

    # gradients of <y, cotangent> w.r.t. input, kernel and bias, against torch autograd
    cot = rng.standard_normal(y.shape)
    ref.backward(_nchw(cot))

    def loss(params, x):
        return jnp.sum(layer.apply(params, state, x)[0] * cot)

    g_params, g_x = jax.grad(loss, (0, 1))(params, jnp.asarray(x))
    np.testing.assert_allclose(g_x, _nhwc(xt.grad), rtol=1e-10, atol=1e-12)
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
    conv = L.conv2d(shape[2], k, stride=s, padding=_pair(p), dilation=d, use_bias=False)
    back, _ = conv.apply({"w": jnp.transpose(w, (0, 1, 3, 2))}, {}, z)
    assert back.shape == x.shape           # conv2d maps the output shape back
    np.testing.assert_allclose(jnp.vdot(y, z), jnp.vdot(x, back), rtol=1e-12)


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
           in zip(_pair(k), _pair(p), _pair(op), _pair(d))]
    return jax.lax.conv_general_dilated(x, w[::-1, ::-1], (1, 1), pad, lhs_dilation=_pair(s),
                                        rhs_dilation=_pair(d),
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


# ---------------------------------------------------------------- upsample

@pytest.mark.parametrize("method", ["nearest", "bilinear"])
@pytest.mark.parametrize("scale", [2, (2, 3), 3, (1, 4)])
def test_upsample_matches_torch_values_and_gradients(method, scale, x64):
    x = np.random.default_rng(0).standard_normal((2, 5, 4, 3))
    layer = L.upsample(scale, method=method)
    params, state = layer.init(KEY, x.shape[1:])
    assert params == {} and state == {}
    y, _ = layer.apply(params, state, jnp.asarray(x))
    sh, sw = _pair(scale)
    assert y.shape == (2, 5 * sh, 4 * sw, 3)
    assert L.output_shape(layer, x.shape[1:]) == (5 * sh, 4 * sw, 3)
    extra = {"align_corners": False} if method == "bilinear" else {}
    xt = _nchw(x).requires_grad_(True)
    ref = torch.nn.Upsample(scale_factor=(sh, sw), mode=method, **extra)(xt)
    np.testing.assert_allclose(y, _nhwc(ref), rtol=1e-13, atol=1e-13)
    cot = np.random.default_rng(1).standard_normal(y.shape)
    ref.backward(_nchw(cot))
    g = jax.grad(lambda v: jnp.sum(layer.apply({}, {}, v)[0] * cot))(jnp.asarray(x))
    np.testing.assert_allclose(g, _nhwc(xt.grad), rtol=1e-12, atol=1e-12)


def test_upsample_dtypes():
    x = np.arange(2 * 3 * 3 * 2, dtype=np.uint8).reshape(2, 3, 3, 2)
    y, _ = L.upsample(2).apply({}, {}, x)
    assert y.dtype == jnp.uint8                     # nearest copies pixels
    ref = torch.nn.Upsample(scale_factor=2)(_nchw(x))
    np.testing.assert_array_equal(y, _nhwc(ref))
    y, _ = L.upsample(2, "bilinear").apply({}, {}, x)
    assert y.dtype == jnp.float32                   # interpolation needs a float
    np.testing.assert_allclose(y, L.upsample(2, "bilinear").apply(
        {}, {}, x.astype(np.float32))[0])
    y, _ = L.upsample(2, "bilinear").apply({}, {}, jnp.ones((1, 2, 2, 1), jnp.bfloat16))
    assert y.dtype == jnp.bfloat16


# ---------------------------------------------------------------- reshape

def test_reshape_round_trip_and_minus_one():
    x = np.random.default_rng(0).standard_normal((3, 7, 7, 8))
    flat = L.flatten()
    back = L.reshape((7, 7, 8))
    assert back.init(KEY, (392,)) == ({}, {})
    y, _ = back.apply({}, {}, flat.apply({}, {}, x)[0])
    np.testing.assert_array_equal(y, x)
    for shape, expected in [((7, 7, 8), (7, 7, 8)), ((-1,), (392,)), (-1, (392,)),
                            ((14, -1), (14, 28)), ((2, -1, 4), (2, 49, 4)), (392, (392,))]:
        layer = L.reshape(shape)
        assert L.output_shape(layer, (7, 7, 8)) == expected
        y, _ = layer.apply({}, {}, x)
        np.testing.assert_array_equal(y, x.reshape(3, *expected))
    # jit, grad and a batch of one
    y = jax.jit(lambda v: L.reshape((2, -1)).apply({}, {}, v)[0])(x[:1])
    assert y.shape == (1, 2, 196)
    g = jax.grad(lambda v: jnp.sum(L.reshape((-1, 7)).apply({}, {}, v)[0] ** 2))(x)
    np.testing.assert_allclose(g, 2 * x)


def test_serial_shape_inference_through_a_decoder():
    net = L.serial(L.dense(7 * 7 * 8), L.reshape((7, 7, 8)),
                   L.conv_transpose2d(4, 3, stride=2, padding=1, output_padding=1),
                   L.upsample(2))
    assert L.output_shape(net, (10,)) == (28, 28, 4)
    params, state = net.init(KEY, (10,))
    assert params[2]["w"].shape == (3, 3, 8, 4) and params[1] == {} and params[3] == {}
    y, _ = jax.jit(net.apply)(params, state, jnp.ones((5, 10)))
    assert y.shape == (5, 28, 28, 4)
    assert [c.name for c in net.children] == ["dense", "reshape", "conv_transpose2d",
                                              "upsample"]
    bilinear = L.serial(net, L.upsample((1, 3), "bilinear"), L.reshape((-1, 4)))
    assert L.output_shape(bilinear, (10,)) == (28 * 84, 4)


# ---------------------------------------------------------------- jit and vmap

JIT_VMAP_CASES = {
    "conv_transpose2d": (lambda: L.conv_transpose2d(3, 3, stride=2, padding=1,
                                                    output_padding=1), (4, 5, 2)),
    "conv_transpose2d_dilated_nobias": (lambda: L.conv_transpose2d(
        2, (2, 3), stride=(1, 2), dilation=(2, 1), use_bias=False), (4, 5, 2)),
    "upsample_nearest": (lambda: L.upsample((2, 3)), (4, 5, 2)),
    "upsample_bilinear": (lambda: L.upsample(2, "bilinear"), (4, 5, 2)),
    "reshape": (lambda: L.reshape((5, -1)), (4, 5, 2)),
}


@pytest.mark.parametrize("name", sorted(JIT_VMAP_CASES))
def test_jit_and_vmap_paths(name):
    make, shape = JIT_VMAP_CASES[name]
    layer = make()
    params, state = layer.init(KEY, shape)
    x = np.random.default_rng(0).standard_normal((3, *shape)).astype(np.float32)
    y, _ = layer.apply(params, state, x)
    y_jit, _ = jax.jit(layer.apply)(params, state, x)
    np.testing.assert_allclose(y_jit, y, rtol=1e-6, atol=1e-6)
    assert L.output_shape(layer, shape) == y.shape[1:]
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


# ---------------------------------------------------------------- bad inputs

def _init(layer, shape):
    return lambda: layer.init(KEY, shape)


def _applied(layer, shape, x):
    params, state = layer.init(KEY, shape)
    return lambda: layer.apply(params, state, x)


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
    ("ct init output too small", _init(CT(2, 3, padding=2), (2, 2, 1)),
     "conv_transpose2d: input of spatial shape (2, 2) with kernel_size (3, 3), stride (1, 1), "
     "padding (2, 2), output_padding (0, 0) and dilation (1, 1) gives output spatial "
     "shape (0, 0)"),
    ("ct init flat", _init(CT(2, 3), (16,)),
     "conv_transpose2d expects input_shape (height, width, channels), got (16,)"),
    ("ct in serial", _init(L.serial(L.dense(4), CT(2, 3)), (3,)),
     "serial: layer 1 (conv_transpose2d) received input_shape (4,)"),
    ("ct apply rank", _applied(CT(2, 3), (5, 5, 1), jnp.ones((5, 5, 1))),
     "conv_transpose2d expects NHWC inputs (batch, height, width, 1), got (5, 5, 1)"),
    ("ct apply channels", _applied(CT(2, 3), (5, 5, 1), jnp.ones((2, 5, 5, 3))),
     "(batch, height, width, 1), got (2, 5, 5, 3)"),
    ("ct apply output too small", _applied(CT(2, 3, padding=(0, 2)), (5, 5, 1),
                                           jnp.ones((2, 5, 2, 1))),
     "input of spatial shape (5, 2)"),
    # upsample
    ("upsample scale 0", lambda: L.upsample(0), "scale must be a positive int"),
    ("upsample scale pair", lambda: L.upsample((2, 0)), "scale must be a positive int"),
    ("upsample scale float", lambda: L.upsample(1.5), "scale must be a positive int or a "
                                                      "pair of positive ints, got 1.5"),
    ("upsample method", lambda: L.upsample(2, method="bicubic"),
     "method must be one of 'nearest', 'bilinear', got 'bicubic'"),
    ("upsample init flat", _init(L.upsample(2), (16,)),
     "upsample expects input_shape (height, width, channels), got (16,)"),
    ("upsample apply rank", _applied(L.upsample(2), (4, 4, 1), jnp.ones((4, 4, 1))),
     "upsample expects NHWC inputs (batch, height, width, channels), got (4, 4, 1)"),
    # reshape
    ("reshape empty", lambda: L.reshape(()), "shape must be a non-empty tuple of positive "
                                             "ints, one of which may be -1, got ()"),
    ("reshape zero", lambda: L.reshape((0, 4)), "shape must be a non-empty tuple"),
    ("reshape two -1", lambda: L.reshape((-1, -1)), "shape must be a non-empty tuple"),
    ("reshape -2", lambda: L.reshape((-2, 4)), "shape must be a non-empty tuple"),
    ("reshape str", lambda: L.reshape((2, "a")), "shape must be a non-empty tuple"),
    ("reshape bool", lambda: L.reshape((2, True)), "shape must be a non-empty tuple"),
    ("reshape float", lambda: L.reshape(1.5), "shape must be a non-empty tuple"),
    ("reshape init count", _init(L.reshape((7, 7, 8)), (10,)),
     "reshape: cannot reshape examples of shape (10,) (10 elements) to (7, 7, 8) "
     "(392 elements)"),
    ("reshape init -1", _init(L.reshape((-1, 3)), (2, 5)),
     "reshape: cannot reshape examples of shape (2, 5) (10 elements) to (-1, 3): 10 is "
     "not a multiple of 3"),
    ("reshape in serial", _init(L.serial(L.dense(5), L.reshape((2, 2))), (3,)),
     "serial: layer 1 (reshape) received input_shape (5,)"),
    ("reshape apply count", _applied(L.reshape((3, 4)), (12,), jnp.ones((2, 10))),
     "cannot reshape examples of shape (10,) (10 elements) to (3, 4) (12 elements)"),
]


@pytest.mark.parametrize("what, call, message", BAD, ids=[c[0] for c in BAD])
def test_bad_arguments_and_inputs_raise_value_error(what, call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value)
