"""Activation functions: elementwise (or along one axis for softmax), pure and jit/grad/vmap friendly.

Every function is written so that neither its value nor its gradient overflows for large
inputs (|x| = 1e3 gives finite, exact results). Derivatives at the kinks follow PyTorch:

* ``relu'(0) = 0``; ``leaky_relu'(0) = prelu'(0) = slope`` (the negative branch);
* ``elu'(0) = alpha``, ``selu'(0) = λα`` and ``celu'(0) = 1`` (the negative branch);
* ``step`` is piecewise constant, so its gradient is 0 everywhere (including at 0).
"""
from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from nnfunc._checks import check_value

__all__ = ["step", "sigmoid", "tanh", "relu", "leaky_relu", "prelu", "elu", "celu", "selu",
           "gelu", "swish", "silu", "softplus", "softmax", "log_softmax"]

ArrayLike = Any

# SELU constants from Klambauer et al. (2017), the values torch uses.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


@jax.custom_jvp
def _expm1(x: jax.Array) -> jax.Array:
    """``exp(x) − 1`` whose derivative is ``exp(x)``.

    jnp.expm1 differentiates as ``expm1(x) + 1``, which cancels to 0 (or loses most digits)
    for ``x`` below about −30; the ELU family needs the exact tail.
    """
    return jnp.expm1(x)


@_expm1.defjvp
def _expm1_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return jnp.expm1(x), jnp.exp(x) * t


def step(x: ArrayLike) -> jax.Array:
    """Heaviside step, the perceptron's activation: ``step(x) = 1 if x > 0 else 0``.

    ``step(0) = 0``. The function is piecewise constant, so its gradient is 0 everywhere.

    Args:
      x: an array.

    Returns:
      An array of 0s and 1s with the (floating) dtype of ``x``.

    Example:
      >>> step(jnp.array([-2., 0., 3.]))
      Array([0., 0., 1.], dtype=float32)
    """
    x = jnp.asarray(x)
    return jax.lax.stop_gradient(jnp.where(x > 0, 1, 0).astype(_float_dtype(x)))


def sigmoid(x: ArrayLike) -> jax.Array:
    """Logistic sigmoid: ``σ(x) = 1 / (1 + exp(-x))``, with ``σ'(x) = σ(x)(1 − σ(x))``.

    Args:
      x: an array.

    Returns:
      ``σ(x)``, in ``[0, 1]``.

    Example:
      >>> print(float(sigmoid(0.0)))
      0.5
    """
    # lax.logistic never evaluates exp of a large positive number.
    return jax.lax.logistic(jnp.asarray(x, _float_dtype(x)))


def tanh(x: ArrayLike) -> jax.Array:
    """Hyperbolic tangent: ``tanh(x) = (e^x − e^−x) / (e^x + e^−x)``, ``tanh' = 1 − tanh²``.

    Args:
      x: an array.

    Returns:
      ``tanh(x)``, in ``[-1, 1]``.

    Example:
      >>> print(float(tanh(0.0)))
      0.0
    """
    return jnp.tanh(jnp.asarray(x, _float_dtype(x)))


def _relu_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return relu(x), jnp.where(x > 0, t, jnp.zeros_like(t))


# Two lowerings of max(x, 0), both passing NaN through as torch.relu does. For GPUs a max:
# XLA fuses it (not a compare-and-select) into the next matmul's operand (one kernel and
# one pass over the activations fewer per step). On CPU a select: XLA:CPU runs a scanned
# CNN epoch slower with the max.
_relu_max = jax.custom_jvp(lambda x: jnp.maximum(x, jnp.zeros((), x.dtype)))
_relu_select = jax.custom_jvp(lambda x: jnp.where(x <= 0, jnp.zeros((), x.dtype), x))
_relu_max.defjvp(_relu_jvp)
_relu_select.defjvp(_relu_jvp)


def relu(x: ArrayLike) -> jax.Array:
    """Rectified linear unit: ``relu(x) = max(x, 0)``; ``relu'(x) = 1 if x > 0 else 0``.

    ``relu'(0) = 0`` and ``relu(nan) = nan``, as in torch.

    Args:
      x: an array.

    Returns:
      ``max(x, 0)``.

    Example:
      >>> relu(jnp.array([-1., 0., 2.]))
      Array([0., 0., 2.], dtype=float32)
    """
    x = jnp.asarray(x, _float_dtype(x))
    return (_relu_select if jax.default_backend() == "cpu" else _relu_max)(x)


def leaky_relu(x: ArrayLike, negative_slope: float = 0.01) -> jax.Array:
    """Leaky ReLU: ``f(x) = x if x > 0 else negative_slope · x``.

    The derivative at 0 is ``negative_slope``, as in torch.

    Args:
      x: an array.
      negative_slope: the slope for ``x <= 0``.

    Returns:
      ``f(x)``.

    Example:
      >>> leaky_relu(jnp.array([-2., 3.]), negative_slope=0.1)
      Array([-0.2,  3. ], dtype=float32)
    """
    x = jnp.asarray(x, _float_dtype(x))
    return jnp.where(x > 0, x, negative_slope * x)


def prelu(x: ArrayLike, slope: ArrayLike) -> jax.Array:
    """Parametric ReLU with a learned slope: ``f(x) = x if x > 0 else slope · x``.

    ``slope`` broadcasts against ``x`` from the trailing axes, so a per-channel slope has
    shape ``(C,)`` for channels-last inputs (NHWC or (N, C)); torch's ``F.prelu`` puts the
    channel axis at 1 instead. The derivative in ``x`` at 0 is ``slope``.

    Args:
      x: an array.
      slope: an array broadcastable to ``x`` (a scalar, or one value per channel).

    Returns:
      ``f(x)``, the broadcast shape of ``x`` and ``slope``.

    Example:
      >>> prelu(jnp.array([[-1., -1.], [2., 2.]]), jnp.array([0.1, 0.2]))
      Array([[-0.1, -0.2],
             [ 2. ,  2. ]], dtype=float32)
    """
    x = jnp.asarray(x, _float_dtype(x))
    return jnp.where(x > 0, x, slope * x)


def elu(x: ArrayLike, alpha: float = 1.0) -> jax.Array:
    """Exponential linear unit: ``f(x) = x if x > 0 else alpha · (exp(x) − 1)``.

    The derivative at 0 is ``alpha`` (the negative branch), as in torch.

    Args:
      x: an array.
      alpha: the saturation value for ``x → −∞`` is ``−alpha``.

    Returns:
      ``f(x)``.

    Example:
      >>> print(round(float(elu(-1e3)), 4), float(elu(2.0)))
      -1.0 2.0
    """
    x = jnp.asarray(x, _float_dtype(x))
    # expm1 sees only non-positive inputs so neither branch's gradient overflows.
    negative = _expm1(jnp.where(x > 0, jnp.zeros_like(x), x))
    return jnp.where(x > 0, x, alpha * negative)


def celu(x: ArrayLike, alpha: float = 1.0) -> jax.Array:
    """Continuously differentiable ELU: ``f(x) = max(0, x) + min(0, alpha · (exp(x / alpha) − 1))``.

    The derivative is 1 at 0 for every ``alpha``.

    Args:
      x: an array.
      alpha: a non-zero scale.

    Returns:
      ``f(x)``.

    Raises:
      ValueError: if a concrete ``alpha`` is 0.

    Example:
      >>> print(round(float(celu(-1e3, alpha=2.0)), 4))
      -2.0
    """
    check_value("alpha", alpha, lambda a: a != 0.0, "non-zero (celu divides by it)")
    x = jnp.asarray(x, _float_dtype(x))
    negative = _expm1(jnp.where(x > 0, jnp.zeros_like(x), x) / alpha)
    return jnp.where(x > 0, x, alpha * negative)


def selu(x: ArrayLike) -> jax.Array:
    """Scaled ELU: ``f(x) = λ · (x if x > 0 else α · (exp(x) − 1))``.

    With ``α ≈ 1.6733`` and ``λ ≈ 1.0507`` (Klambauer et al. 2017; torch's constants).

    Args:
      x: an array.

    Returns:
      ``f(x)``.

    Example:
      >>> print(round(float(selu(1.0)), 4))
      1.0507
    """
    return _SELU_SCALE * elu(x, alpha=_SELU_ALPHA)


def gelu(x: ArrayLike, approximate: bool | str = False) -> jax.Array:
    """Gaussian error linear unit: ``f(x) = x · Φ(x) = x/2 · (1 + erf(x / √2))``.

    With ``approximate=True`` (or torch's ``'tanh'``), the tanh form
    ``x/2 · (1 + tanh(√(2/π) · (x + 0.044715 x³)))``.

    Args:
      x: an array.
      approximate: ``False``/``'none'`` for the exact erf form, ``True``/``'tanh'`` for the
        tanh approximation.

    Returns:
      ``f(x)``.

    Raises:
      ValueError: for any other ``approximate``.

    Example:
      >>> print(round(float(gelu(1.0)), 4), round(float(gelu(1.0, approximate=True)), 4))
      0.8413 0.8412
    """
    if isinstance(approximate, str):
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate must be a bool, 'none' or 'tanh', got {approximate!r}")
        approximate = approximate == "tanh"
    elif not isinstance(approximate, bool):
        raise ValueError(f"approximate must be a bool, 'none' or 'tanh', got {approximate!r}")
    x = jnp.asarray(x, _float_dtype(x))
    # 1 + tanh(u) = 2σ(2u) and 1 + erf(z) = erfc(−z): no cancellation for negative x.
    if approximate:
        c = math.sqrt(2.0 / math.pi)
        return x * sigmoid(2.0 * c * (x + 0.044715 * x * x * x))
    return 0.5 * x * jax.lax.erfc(-x / math.sqrt(2.0))


def swish(x: ArrayLike, beta: float = 1.0) -> jax.Array:
    """Swish: ``f(x) = x · σ(beta · x)``; with ``beta = 1`` this is SiLU (``silu``).

    Args:
      x: an array.
      beta: the sigmoid's slope (a number or a learned array broadcastable to ``x``).

    Returns:
      ``f(x)``.

    Example:
      >>> print(float(swish(0.0)), round(float(silu(1.0)), 4))
      0.0 0.7311
    """
    x = jnp.asarray(x, _float_dtype(x))
    return x * sigmoid(beta * x)


silu = swish


def softplus(x: ArrayLike, beta: float = 1.0, threshold: float = 20.0) -> jax.Array:
    """Softplus, torch's form: ``f(x) = (1/beta) · log(1 + exp(beta · x))``, linear above a threshold.

    ``f(x) = x`` where ``beta · x > threshold`` (torch's ``F.softplus``), and
    ``f'(x) = σ(beta · x)`` elsewhere.

    Args:
      x: an array.
      beta: a positive slope.
      threshold: above ``beta · x > threshold`` the function is the identity.

    Returns:
      ``f(x)``, non-negative.

    Raises:
      ValueError: if a concrete ``beta`` is not positive.

    Example:
      >>> print(round(float(softplus(0.0)), 4), float(softplus(1e3)), float(softplus(-1e3)))
      0.6931 1000.0 0.0
    """
    check_value("beta", beta, lambda b: b > 0, "> 0")
    x = jnp.asarray(x, _float_dtype(x))
    z = beta * x
    # logaddexp(z, 0) = max(z, 0) + log1p(exp(-|z|)) never overflows.
    smooth = jnp.logaddexp(z, jnp.zeros_like(z)) / beta
    return jnp.where(z > threshold, x, smooth)


def softmax(x: ArrayLike, axis: int | tuple[int, ...] = -1) -> jax.Array:
    """Softmax along ``axis``: ``softmax(x)_i = exp(x_i − m) / Σ_j exp(x_j − m)``, ``m = max_j x_j``.

    Subtracting the maximum keeps every exponent ``<= 0``, so large inputs do not overflow.

    Args:
      x: an array.
      axis: the axis (or axes) to normalise over.

    Returns:
      Non-negative values summing to 1 along ``axis``.

    Example:
      >>> p = softmax(jnp.array([1e3, 0., -1e3]))
      >>> p
      Array([1., 0., 0.], dtype=float32)
    """
    x = jnp.asarray(x, _float_dtype(x))
    shifted = x - jax.lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True))
    e = jnp.exp(shifted)
    return e / jnp.sum(e, axis=axis, keepdims=True)


def log_softmax(x: ArrayLike, axis: int | tuple[int, ...] = -1) -> jax.Array:
    """Log-softmax along ``axis``: ``log_softmax(x)_i = (x_i − m) − log Σ_j exp(x_j − m)``.

    Args:
      x: an array.
      axis: the axis (or axes) to normalise over.

    Returns:
      ``log(softmax(x))``, computed without forming ``softmax(x)`` (exact for large inputs).

    Example:
      >>> log_softmax(jnp.array([1e3, 0.]))
      Array([    0., -1000.], dtype=float32)
    """
    x = jnp.asarray(x, _float_dtype(x))
    shifted = x - jax.lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True))
    return shifted - jnp.log(jnp.sum(jnp.exp(shifted), axis=axis, keepdims=True))


def _float_dtype(x: ArrayLike) -> Any:
    """Floating dtype to compute in: the input's, or the default float for int/bool input."""
    dtype = jnp.result_type(x)
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.result_type(float)
