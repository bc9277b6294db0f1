"""Parameter initializers.

An initializer is a pure function ``init(key, shape, dtype=jnp.float32) -> Array``; the
randomness comes only from the explicit ``key``, so the same key gives the same array.
``normal(stddev)``, ``uniform(scale)`` and ``constant(value)`` are factories that build one.

Fans (see :func:`fans`) follow the kernel layouts nnfunc uses:

* dense kernels are ``(in, out)``: ``fan_in = in``, ``fan_out = out``;
* convolution kernels are ``HWIO`` (``(*spatial, in, out)``, any number of spatial axes):
  with the receptive field ``r = prod(shape[:-2])``, ``fan_in = shape[-2]·r`` and
  ``fan_out = shape[-1]·r``.

A shape with fewer than two axes (a bias, a scalar) has no fans, so the fan-based
initializers (glorot_*, he_*, lecun_normal, fan_in_uniform) raise ``ValueError`` for it;
``normal``, ``uniform``, ``zeros``, ``ones`` and ``constant`` accept every shape.
The Gaussian initializers draw from an untruncated normal, like ``torch.nn.init``.
"""
from __future__ import annotations

import math
import operator
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp

from nnfunc._checks import check_value

__all__ = ["fans", "glorot_uniform", "glorot_normal", "xavier_uniform", "xavier_normal",
           "he_uniform", "he_normal", "kaiming_uniform", "kaiming_normal", "lecun_normal",
           "fan_in_uniform", "normal", "uniform", "zeros", "ones", "constant", "Initializer"]

Initializer = Callable[..., jax.Array]
"""The type of an initializer: ``(key, shape, dtype=jnp.float32) -> Array``."""


def _as_shape(shape: Any) -> tuple[int, ...]:
    """Normalise ``shape`` (an int or a sequence of ints) to a tuple of non-negative ints."""
    if isinstance(shape, int) or hasattr(shape, "__index__"):
        shape = (shape,)
    try:
        dims = tuple(operator.index(d) for d in shape)
    except TypeError:
        raise ValueError(f"shape must be a sequence of non-negative integers, got {shape!r}") from None
    if any(d < 0 for d in dims):
        raise ValueError(f"shape must be a sequence of non-negative integers, got {dims}")
    return dims


def _float_dtype(dtype: Any, name: str) -> Any:
    """Check that a random initializer is asked for a floating dtype."""
    if not jnp.issubdtype(jnp.dtype(dtype), jnp.floating):
        raise ValueError(f"{name} draws real numbers, so dtype must be a floating type, got {dtype}")
    return dtype


def fans(shape: Sequence[int]) -> tuple[int, int]:
    """Fan-in and fan-out of a dense ``(in, out)`` or convolution ``HWIO`` kernel.

    With the receptive field ``r = prod(shape[:-2])`` (1 for a dense kernel)::

        fan_in = shape[-2] · r        fan_out = shape[-1] · r

    Args:
      shape: the kernel shape, at least two axes; the last two are (in, out).

    Returns:
      ``(fan_in, fan_out)`` as Python ints.

    Raises:
      ValueError: for a shape with fewer than two axes (fans are undefined for biases).

    Example:
      >>> fans((784, 10))
      (784, 10)
      >>> fans((3, 3, 16, 32))     # 3x3 conv, 16 -> 32 channels (HWIO)
      (144, 288)
    """
    dims = _as_shape(shape)
    if len(dims) < 2:
        raise ValueError(f"fans are defined for kernels with at least 2 axes (dense (in, out) "
                         f"or conv HWIO), got shape {dims}")
    receptive = math.prod(dims[:-2])
    return dims[-2] * receptive, dims[-1] * receptive


def _fan(dims: tuple[int, ...], mode: str, name: str) -> float:
    """The fan of the normalised shape ``dims`` that a variance-scaling initializer divides by.

    Rejects shapes where it is undefined.
    """
    if len(dims) < 2:
        raise ValueError(f"{name} needs a kernel shape with at least 2 axes to compute its fans "
                         f"(dense (in, out) or conv HWIO), got shape {dims}; use normal, "
                         f"uniform, zeros or constant for biases")
    fan_in, fan_out = fans(dims)
    fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    if fan <= 0:
        raise ValueError(f"{name} needs a positive {mode}, got {mode}={fan} for shape {dims}")
    return float(fan)


def _variance_scaling(name: str, scale: float, mode: str, distribution: str) -> Initializer:
    """Build an initializer with variance ``scale / fan`` (uniform or untruncated normal)."""

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        dims = _as_shape(shape)
        variance = scale / _fan(dims, mode, name)
        _float_dtype(dtype, name)
        if distribution == "uniform":
            # U(-b, b) has variance b²/3.
            bound = math.sqrt(3.0 * variance)
            return jax.random.uniform(key, dims, dtype, minval=-bound, maxval=bound)
        return math.sqrt(variance) * jax.random.normal(key, dims, dtype)

    init.__name__ = init.__qualname__ = name
    return init


def _doc(init: Initializer, doc: str) -> Initializer:
    init.__doc__ = doc
    return init


glorot_uniform = _doc(_variance_scaling("glorot_uniform", 1.0, "fan_avg", "uniform"), """\
    Glorot/Xavier uniform: ``W ~ U(-b, b)`` with ``b = sqrt(6 / (fan_in + fan_out))``.

    Same distribution as ``torch.nn.init.xavier_uniform_`` (gain 1). Fans: see :func:`fans`.

    Args:
      key: a ``jax.random`` key.
      shape: kernel shape, at least 2 axes (dense ``(in, out)`` or conv HWIO).
      dtype: a floating dtype.

    Returns:
      An array of ``shape`` and ``dtype``.

    Raises:
      ValueError: if ``shape`` has fewer than 2 axes.

    Example:
      >>> w = glorot_uniform(jax.random.key(0), (300, 100))
      >>> bool(jnp.all(jnp.abs(w) <= (6 / 400) ** 0.5)), w.dtype
      (True, dtype('float32'))
    """)

glorot_normal = _doc(_variance_scaling("glorot_normal", 1.0, "fan_avg", "normal"), """\
    Glorot/Xavier normal: ``W ~ N(0, σ²)`` with ``σ = sqrt(2 / (fan_in + fan_out))``.

    Same distribution as ``torch.nn.init.xavier_normal_`` (untruncated). Fans: see :func:`fans`.

    Args:
      key: a ``jax.random`` key.
      shape: kernel shape, at least 2 axes (dense ``(in, out)`` or conv HWIO).
      dtype: a floating dtype.

    Returns:
      An array of ``shape`` and ``dtype``.

    Raises:
      ValueError: if ``shape`` has fewer than 2 axes.

    Example:
      >>> w = glorot_normal(jax.random.key(0), (1000, 1000))
      >>> print(round(float(w.std()) / (2 / 2000) ** 0.5, 1))
      1.0
    """)

he_uniform = _doc(_variance_scaling("he_uniform", 2.0, "fan_in", "uniform"), """\
    He/Kaiming uniform: ``W ~ U(-b, b)`` with ``b = sqrt(6 / fan_in)``.

    Same distribution as ``torch.nn.init.kaiming_uniform_(w, nonlinearity='relu')`` on the
    transposed kernel. Suited to ReLU networks. Fans: see :func:`fans`.

    Args:
      key: a ``jax.random`` key.
      shape: kernel shape, at least 2 axes (dense ``(in, out)`` or conv HWIO).
      dtype: a floating dtype.

    Returns:
      An array of ``shape`` and ``dtype``.

    Raises:
      ValueError: if ``shape`` has fewer than 2 axes.

    Example:
      >>> w = he_uniform(jax.random.key(0), (3, 3, 8, 16))     # fan_in = 72
      >>> bool(jnp.all(jnp.abs(w) <= (6 / 72) ** 0.5))
      True
    """)

he_normal = _doc(_variance_scaling("he_normal", 2.0, "fan_in", "normal"), """\
    He/Kaiming normal: ``W ~ N(0, σ²)`` with ``σ = sqrt(2 / fan_in)``.

    Same distribution as ``torch.nn.init.kaiming_normal_(w, nonlinearity='relu')`` on the
    transposed kernel (untruncated). Fans: see :func:`fans`.

    Args:
      key: a ``jax.random`` key.
      shape: kernel shape, at least 2 axes (dense ``(in, out)`` or conv HWIO).
      dtype: a floating dtype.

    Returns:
      An array of ``shape`` and ``dtype``.

    Raises:
      ValueError: if ``shape`` has fewer than 2 axes.

    Example:
      >>> w = he_normal(jax.random.key(0), (500, 2000))
      >>> print(round(float(w.std()) / (2 / 500) ** 0.5, 1))
      1.0
    """)

lecun_normal = _doc(_variance_scaling("lecun_normal", 1.0, "fan_in", "normal"), """\
    LeCun normal: ``W ~ N(0, σ²)`` with ``σ = sqrt(1 / fan_in)`` (untruncated).

    The initializer self-normalising (SELU) networks assume. Fans: see :func:`fans`.

    Args:
      key: a ``jax.random`` key.
      shape: kernel shape, at least 2 axes (dense ``(in, out)`` or conv HWIO).
      dtype: a floating dtype.

    Returns:
      An array of ``shape`` and ``dtype``.

    Raises:
      ValueError: if ``shape`` has fewer than 2 axes.

    Example:
      >>> w = lecun_normal(jax.random.key(0), (400, 2000))
      >>> print(round(float(w.std()) * 400 ** 0.5, 1))
      1.0
    """)

fan_in_uniform = _doc(_variance_scaling("fan_in_uniform", 1.0 / 3.0, "fan_in", "uniform"), """\
    Fan-in uniform: ``W ~ U(-b, b)`` with ``b = 1 / sqrt(fan_in)``.

    The default ``torch.nn.Linear``/``Conv2d`` weight distribution (``kaiming_uniform_`` with
    ``a = sqrt(5)``). torch draws the matching bias from ``U(-b, b)`` with the *kernel's*
    fan_in, i.e. ``jax.random.uniform(key, (out,), minval=-b, maxval=b)``; a 1-D shape
    alone has no fan_in, so it raises here. Fans: see :func:`fans`.

    Args:
      key: a ``jax.random`` key.
      shape: kernel shape, at least 2 axes (dense ``(in, out)`` or conv HWIO).
      dtype: a floating dtype.

    Returns:
      An array of ``shape`` and ``dtype``.

    Raises:
      ValueError: if ``shape`` has fewer than 2 axes.

    Example:
      >>> w = fan_in_uniform(jax.random.key(0), (100, 10))
      >>> bool(jnp.all(jnp.abs(w) <= 0.1))
      True
    """)

# The names torch users look for.
xavier_uniform = glorot_uniform
xavier_normal = glorot_normal
kaiming_uniform = he_uniform
kaiming_normal = he_normal


def _finite_nonneg(v: float) -> bool:
    return math.isfinite(v) and v >= 0


def normal(stddev: float = 1e-2) -> Initializer:
    """Gaussian initializer factory: ``W ~ N(0, stddev²)``.

    Args:
      stddev: the standard deviation, ``>= 0``.

    Returns:
      An initializer ``(key, shape, dtype=jnp.float32) -> Array`` that accepts any shape.

    Raises:
      ValueError: if ``stddev`` is negative or not finite.

    Example:
      >>> w = normal(0.5)(jax.random.key(0), (100_000,))
      >>> print(round(float(w.std()), 2))
      0.5
    """
    check_value("stddev", stddev, _finite_nonneg, "a finite number >= 0")

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        _float_dtype(dtype, "normal")
        return (stddev * jax.random.normal(key, _as_shape(shape), dtype)).astype(dtype)

    return init


def uniform(scale: float = 1e-2) -> Initializer:
    """Uniform initializer factory: ``W ~ U[0, scale)``, as ``jax.nn.initializers.uniform``.

    The interval is one-sided; for a symmetric ``U(-b, b)`` use the fan-based initializers
    or ``jax.random.uniform(key, shape, minval=-b, maxval=b)``.

    Args:
      scale: the upper end of the interval, ``>= 0``.

    Returns:
      An initializer ``(key, shape, dtype=jnp.float32) -> Array`` that accepts any shape.

    Raises:
      ValueError: if ``scale`` is negative or not finite.

    Example:
      >>> w = uniform(2.0)(jax.random.key(0), (100_000,))
      >>> bool(w.min() >= 0), bool(w.max() < 2), round(float(w.mean()), 1)
      (True, True, 1.0)
    """
    check_value("scale", scale, _finite_nonneg, "a finite number >= 0")

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        _float_dtype(dtype, "uniform")
        return jax.random.uniform(key, _as_shape(shape), dtype, minval=0.0, maxval=scale)

    return init


def zeros(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
    """All zeros: ``W = 0``. The key is accepted for the common signature and ignored.

    Args:
      key: a ``jax.random`` key (unused).
      shape: any shape.
      dtype: any dtype.

    Returns:
      An array of zeros.

    Example:
      >>> zeros(jax.random.key(0), (2,))
      Array([0., 0.], dtype=float32)
    """
    return jnp.zeros(_as_shape(shape), dtype)


def ones(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
    """All ones: ``W = 1``. The key is accepted for the common signature and ignored.

    Args:
      key: a ``jax.random`` key (unused).
      shape: any shape.
      dtype: any dtype.

    Returns:
      An array of ones.

    Example:
      >>> ones(jax.random.key(0), (2,))
      Array([1., 1.], dtype=float32)
    """
    return jnp.ones(_as_shape(shape), dtype)


def constant(value: Any) -> Initializer:
    """Constant initializer factory: ``W = value`` everywhere.

    Args:
      value: the fill value (a number, or an array broadcastable to the requested shape).

    Returns:
      An initializer ``(key, shape, dtype=jnp.float32) -> Array``; the key is ignored.

    Example:
      >>> constant(0.1)(jax.random.key(0), (2,))
      Array([0.1, 0.1], dtype=float32)
    """

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        return jnp.full(_as_shape(shape), value, dtype)

    return init
