"""nnfunc.activations against torch.nn.functional (float64), closed-form and finite-difference
gradients, extreme inputs, jit/vmap, dtypes and bad arguments."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from nnfunc import activations as A

torch = pytest.importorskip("torch")
F = torch.nn.functional

EXTREME = np.array([-1e3, -100.0, -30.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 19.9, 30.0, 100.0, 1e3])


def _inputs():
    rng = np.random.default_rng(0)
    return np.concatenate([EXTREME, 3 * rng.standard_normal(40)])


# name -> (nnfunc function, torch function); both map an array to an array of the same shape.
ELEMENTWISE = {
    "step": (A.step, lambda t: torch.heaviside(t, torch.zeros_like(t))),
    "sigmoid": (A.sigmoid, torch.sigmoid),
    "tanh": (A.tanh, torch.tanh),
    "relu": (A.relu, F.relu),
    "leaky_relu": (A.leaky_relu, F.leaky_relu),
    "leaky_relu_0.2": (lambda x: A.leaky_relu(x, 0.2), lambda t: F.leaky_relu(t, 0.2)),
    "prelu": (lambda x: A.prelu(x, 0.25), lambda t: F.prelu(t, torch.tensor([0.25], dtype=t.dtype))),
    "elu": (A.elu, F.elu),
    "elu_0.5": (lambda x: A.elu(x, alpha=0.5), lambda t: F.elu(t, alpha=0.5)),
    "celu": (A.celu, F.celu),
    "celu_2": (lambda x: A.celu(x, alpha=2.0), lambda t: F.celu(t, alpha=2.0)),
    "selu": (A.selu, F.selu),
    "gelu": (A.gelu, F.gelu),
    "gelu_tanh": (lambda x: A.gelu(x, approximate=True), lambda t: F.gelu(t, approximate="tanh")),
    "gelu_tanh_str": (lambda x: A.gelu(x, approximate="tanh"), lambda t: F.gelu(t, approximate="tanh")),
    "silu": (A.silu, F.silu),
    "swish_beta2": (lambda x: A.swish(x, beta=2.0), lambda t: t * torch.sigmoid(2 * t)),
    "softplus": (A.softplus, F.softplus),
    "softplus_b2_t5": (lambda x: A.softplus(x, beta=2.0, threshold=5.0),
                       lambda t: F.softplus(t, beta=2.0, threshold=5.0)),
}
AXIS = {
    "softmax": (A.softmax, F.softmax),
    "log_softmax": (A.log_softmax, F.log_softmax),
}


@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_values_and_grads_match_torch_float64(x64, name):
    fn, tfn = ELEMENTWISE[name]
    x = _inputs()
    y = fn(jnp.asarray(x))
    assert y.dtype == jnp.float64
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    ty = tfn(t)
    # atol covers torch's own cancellation in 1 + tanh(u) and 1 + erf(z) for x < 0.
    np.testing.assert_allclose(np.asarray(y), ty.detach().numpy(), rtol=1e-12, atol=1e-14)
    if name == "step":
        return                                  # torch.heaviside has no derivative
    # Elementwise, so the gradient of the sum is the derivative, including at x = 0.
    g = jax.grad(lambda v: jnp.sum(fn(v)))(jnp.asarray(x))
    (tg,) = torch.autograd.grad(ty.sum(), t)
    np.testing.assert_allclose(np.asarray(g), tg.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", list(AXIS))
@pytest.mark.parametrize("axis", [-1, 0])
def test_axis_functions_match_torch_float64(x64, name, axis):
    fn, tfn = AXIS[name]
    rng = np.random.default_rng(1)
    x = 5 * rng.standard_normal((4, 6))
    x[0, :3] = [1e3, -1e3, 0.0]
    x[2, :] = -1e3
    y = fn(jnp.asarray(x), axis=axis)
    t = torch.tensor(x, requires_grad=True)
    ty = tfn(t, dim=axis)
    np.testing.assert_allclose(np.asarray(y), ty.detach().numpy(), rtol=1e-12, atol=1e-300)
    w = rng.standard_normal(x.shape)            # a random cotangent tests the full Jacobian
    g = jax.grad(lambda v: jnp.sum(jnp.asarray(w) * fn(v, axis=axis)))(jnp.asarray(x))
    (tg,) = torch.autograd.grad((torch.tensor(w) * ty).sum(), t)
    np.testing.assert_allclose(np.asarray(g), tg.numpy(), rtol=1e-10, atol=1e-12)


def test_softmax_properties():
    x = jax.random.normal(jax.random.key(0), (3, 4, 5)) * 10
    p = A.softmax(x, axis=(1, 2))
    np.testing.assert_allclose(p.sum(axis=(1, 2)), 1.0, rtol=1e-5)
    np.testing.assert_allclose(jnp.exp(A.log_softmax(x, axis=1)), A.softmax(x, axis=1),
                               rtol=1e-5, atol=1e-7)
    # Shift invariance: adding a constant along the axis changes nothing.
    np.testing.assert_allclose(A.softmax(x + 100.0), A.softmax(x), rtol=1e-5, atol=1e-7)


def test_closed_form_gradients(x64):
    x = jnp.asarray(_inputs())
    s = A.sigmoid(x)
    np.testing.assert_allclose(jax.vmap(jax.grad(A.sigmoid))(x), s * (1 - s), rtol=1e-12, atol=1e-300)
    th = A.tanh(x)
    np.testing.assert_allclose(jax.vmap(jax.grad(A.tanh))(x), 1 - th ** 2, rtol=1e-12, atol=1e-300)
    r = jax.vmap(jax.grad(A.relu))(x)
    assert set(np.unique(np.asarray(r))) <= {0.0, 1.0}
    np.testing.assert_array_equal(r, (x > 0).astype(r.dtype))
    assert float(jax.grad(A.relu)(0.0)) == 0.0


def test_negative_tails_have_full_relative_precision(x64):
    """Deep negative tails are tiny numbers, but they should still carry every digit."""
    x = jnp.asarray([-60.0, -30.0, -5.0, -0.5])
    for alpha in (1.0, 0.5):
        g = jax.vmap(jax.grad(lambda v: A.elu(v, alpha=alpha)))(x)
        np.testing.assert_allclose(g, alpha * np.exp(np.asarray(x)), rtol=1e-13, atol=0)
    g = jax.vmap(jax.grad(lambda v: A.celu(v, alpha=2.0)))(x)
    np.testing.assert_allclose(g, np.exp(np.asarray(x) / 2.0), rtol=1e-13, atol=0)
    exact = [0.5 * v * math.erfc(-v / math.sqrt(2)) for v in [-30.0, -5.0, -0.5]]
    np.testing.assert_allclose(A.gelu(x[1:]), exact, rtol=1e-13, atol=0)
    # Second derivatives flow through the custom derivative too: elu''(x) = alpha·exp(x), x < 0.
    np.testing.assert_allclose(jax.grad(jax.grad(A.elu))(-2.0), math.exp(-2.0), rtol=1e-13)


def test_documented_derivatives_at_zero():
    d = lambda f: float(jax.grad(f)(0.0))  # noqa: E731
    assert d(A.relu) == 0.0
    assert d(A.step) == 0.0
    assert d(lambda x: A.leaky_relu(x, 0.1)) == pytest.approx(0.1)
    assert d(lambda x: A.prelu(x, 0.3)) == pytest.approx(0.3)
    assert d(lambda x: A.elu(x, alpha=0.7)) == pytest.approx(0.7)
    assert d(lambda x: A.celu(x, alpha=3.0)) == pytest.approx(1.0)
    assert d(A.sigmoid) == pytest.approx(0.25)
    assert d(A.softplus) == pytest.approx(0.5)
    assert d(A.gelu) == pytest.approx(0.5)
    assert d(A.silu) == pytest.approx(0.5)


def test_step_gradient_is_zero_everywhere():
    x = jnp.asarray(EXTREME, jnp.float32)
    np.testing.assert_array_equal(jax.vmap(jax.grad(A.step))(x), np.zeros_like(EXTREME))
    np.testing.assert_array_equal(A.step(x), (EXTREME > 0).astype(np.float32))


# Points at least 1e-2 from every kink (0, and the softplus thresholds 20 and 2.5).
SMOOTH_POINTS = np.array([-7.3, -2.1, -0.6, -0.05, 0.05, 0.4, 1.7, 3.3, 6.2])
FD_CASES = {name: fns[0] for name, fns in ELEMENTWISE.items() if name != "step"}


@pytest.mark.parametrize("name", list(FD_CASES))
def test_gradients_match_finite_differences(x64, name):
    fn = FD_CASES[name]
    x = jnp.asarray(SMOOTH_POINTS)
    h = 1e-6
    fd = (fn(x + h) - fn(x - h)) / (2 * h)
    g = jax.vmap(jax.grad(fn))(x)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", list(AXIS))
def test_axis_gradients_match_finite_differences(x64, name):
    fn = AXIS[name][0]
    x = jnp.asarray([0.3, -1.2, 2.0, 0.7])
    w = jnp.asarray([1.0, -2.0, 0.5, 3.0])
    f = lambda v: jnp.sum(w * fn(v))  # noqa: E731
    g = jax.grad(f)(x)
    h = 1e-6
    fd = [(f(x.at[i].add(h)) - f(x.at[i].add(-h))) / (2 * h) for i in range(4)]
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


# Exact limits at |x| = 1e3 in float32: (value at -1e3, value at +1e3, grad at -1e3, grad at +1e3).
SELU_A = 1.6732632423543772 * 1.0507009873554805
LIMITS = {
    "sigmoid": (A.sigmoid, 0.0, 1.0, 0.0, 0.0),
    "tanh": (A.tanh, -1.0, 1.0, 0.0, 0.0),
    "relu": (A.relu, 0.0, 1e3, 0.0, 1.0),
    "leaky_relu": (A.leaky_relu, -10.0, 1e3, 0.01, 1.0),
    "elu": (A.elu, -1.0, 1e3, 0.0, 1.0),
    "celu": (A.celu, -1.0, 1e3, 0.0, 1.0),
    "selu": (A.selu, -SELU_A, 1.0507009873554805e3, 0.0, 1.0507009873554805),
    "gelu": (A.gelu, 0.0, 1e3, 0.0, 1.0),
    "gelu_tanh": (lambda x: A.gelu(x, approximate=True), 0.0, 1e3, 0.0, 1.0),
    "swish": (A.swish, 0.0, 1e3, 0.0, 1.0),
    "softplus": (A.softplus, 0.0, 1e3, 0.0, 1.0),
    "softplus_no_threshold": (lambda x: A.softplus(x, threshold=1e9), 0.0, 1e3, 0.0, 1.0),
    "step": (A.step, 0.0, 1.0, 0.0, 0.0),
}


@pytest.mark.parametrize("name", list(LIMITS))
def test_extreme_inputs_finite_and_exact_float32(name):
    fn, v_neg, v_pos, g_neg, g_pos = LIMITS[name]
    x = jnp.array([-1e3, 1e3], jnp.float32)
    y = fn(x)
    g = jax.vmap(jax.grad(fn))(x)
    assert y.dtype == jnp.float32
    assert bool(jnp.all(jnp.isfinite(y))) and bool(jnp.all(jnp.isfinite(g)))
    np.testing.assert_allclose(y, [v_neg, v_pos], rtol=1e-6)
    np.testing.assert_allclose(g, [g_neg, g_pos], rtol=1e-6)


def test_softmax_extreme_float32():
    x = jnp.array([[1e3, -1e3, 0.0], [-1e3, -1e3, -1e3], [1e3, 1e3, 1e3]], jnp.float32)
    p = A.softmax(x)
    np.testing.assert_allclose(p, [[1, 0, 0], [1 / 3] * 3, [1 / 3] * 3], rtol=1e-6)
    lp = A.log_softmax(x)
    np.testing.assert_allclose(lp[0], [0.0, -2e3, -1e3], rtol=1e-6)
    np.testing.assert_allclose(lp[1], [-math.log(3)] * 3, rtol=1e-6)
    w = jnp.arange(9.0).reshape(3, 3)
    for fn in (A.softmax, A.log_softmax):
        g = jax.grad(lambda v: jnp.sum(w * fn(v)))(x)
        assert bool(jnp.all(jnp.isfinite(g)))


ALL_ELEMENTWISE = {name: fns[0] for name, fns in ELEMENTWISE.items()}


@pytest.mark.parametrize("name", list(ALL_ELEMENTWISE))
def test_jit_vmap_and_dtypes(name):
    fn = ALL_ELEMENTWISE[name]
    x = jax.random.normal(jax.random.key(1), (3, 5)) * 4
    eager = fn(x)
    np.testing.assert_allclose(jax.jit(fn)(x), eager, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(jax.vmap(fn)(x), eager, rtol=1e-6, atol=1e-6)
    xb = x.astype(jnp.bfloat16)
    yb = fn(xb)
    assert yb.dtype == jnp.bfloat16
    np.testing.assert_allclose(yb.astype(jnp.float32), fn(xb.astype(jnp.float32)), rtol=2e-2, atol=2e-2)
    # Integer input gives a floating result.
    yi = fn(jnp.arange(-2, 3))
    assert jnp.issubdtype(yi.dtype, jnp.floating)


@pytest.mark.parametrize("name", list(AXIS))
def test_axis_functions_jit_vmap(name):
    fn = AXIS[name][0]
    x = jax.random.normal(jax.random.key(2), (4, 7))
    np.testing.assert_allclose(jax.vmap(fn)(x), fn(x, axis=-1), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(jax.vmap(fn, in_axes=1, out_axes=1)(x), fn(x, axis=0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(jax.jit(fn, static_argnames="axis")(x, axis=0), fn(x, axis=0), rtol=1e-6)


def test_prelu_per_channel_slope_and_its_gradient():
    x = jnp.array([[-1.0, 2.0, -3.0], [4.0, -5.0, 0.0]])
    slope = jnp.array([0.1, 0.2, 0.3])
    np.testing.assert_allclose(A.prelu(x, slope), [[-0.1, 2.0, -0.9], [4.0, -1.0, 0.0]], rtol=1e-6)
    # d/dslope_c sum(prelu) = sum of the non-positive inputs in channel c.
    g = jax.grad(lambda s: jnp.sum(A.prelu(x, s)))(slope)
    np.testing.assert_allclose(g, [-1.0, -5.0, -3.0], rtol=1e-6)
    ref = F.prelu(torch.tensor(np.asarray(x)).T[None], torch.tensor(np.asarray(slope)))[0].T
    np.testing.assert_allclose(A.prelu(x, slope), ref.numpy(), rtol=1e-6)


def test_traced_hyperparameters_pass_through_jit():
    x = jnp.linspace(-3.0, 3.0, 7)
    np.testing.assert_allclose(jax.jit(A.celu)(x, 2.0), A.celu(x, 2.0), rtol=1e-6)
    np.testing.assert_allclose(jax.jit(A.softplus)(x, 2.0), A.softplus(x, 2.0), rtol=1e-6)
    np.testing.assert_allclose(jax.jit(A.swish)(x, 1.5), A.swish(x, 1.5), rtol=1e-6)
    np.testing.assert_allclose(jax.jit(A.leaky_relu)(x, 0.3), A.leaky_relu(x, 0.3), rtol=1e-6)
    # A learned swish beta gets a gradient: d/dβ [x σ(βx)] = x² σ(βx)(1 − σ(βx)).
    gb = jax.grad(lambda b: A.swish(2.0, b))(0.0)
    assert float(gb) == pytest.approx(4 * 0.25)


@pytest.mark.parametrize("call,match", [
    (lambda: A.celu(1.0, alpha=0.0), "alpha must be non-zero"),
    (lambda: A.softplus(1.0, beta=0.0), "beta must be > 0, got 0.0"),
    (lambda: A.softplus(1.0, beta=-1.0), "beta must be > 0"),
    (lambda: A.gelu(1.0, approximate="erf"), "approximate must be"),
    (lambda: A.gelu(1.0, approximate=None), "approximate must be"),
])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_public_namespace():
    for name in ["sigmoid", "tanh", "relu", "leaky_relu", "prelu", "elu", "celu", "selu", "gelu",
                 "swish", "silu", "softplus", "softmax", "log_softmax", "step"]:
        f = getattr(nf.activations, name)
        assert callable(f) and f.__doc__
    assert nf.activations.silu is nf.activations.swish


@pytest.mark.parametrize("backend", ["cpu", "gpu"])
def test_relu_passes_nan_like_torch_in_both_lowerings(backend, monkeypatch):
    """relu lowers to max(x, 0) for GPUs (XLA:GPU fuses a max into the next matmul's
    operand, not a compare-and-select) and to a select on CPU (faster there); both pass
    NaN and infinities as torch.relu does, with relu'(0) = 0."""
    monkeypatch.setattr(jax, "default_backend", lambda: backend)
    x = np.array([-1.0, 0.0, 2.0, np.nan, np.inf, -np.inf], np.float32)
    np.testing.assert_array_equal(np.asarray(A.relu(jnp.asarray(x))),
                                  F.relu(torch.tensor(x)).numpy())
    hlo = jax.jit(lambda v: A.relu(v)).lower(jnp.asarray(x)).as_text()   # a fresh trace
    assert ("stablehlo.maximum" in hlo) == (backend == "gpu")
    assert ("stablehlo.select" in hlo) == (backend == "cpu")
    assert jax.grad(lambda v: jnp.sum(A.relu(v)))(jnp.asarray(x)).tolist() == [
        0.0, 0.0, 1.0, 0.0, 1.0, 0.0]
