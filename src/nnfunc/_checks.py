"""Argument checks shared by every nnfunc package: one function per kind of check.

Every check takes the argument's name first and its value second, and raises a
``ValueError`` that names the argument, repeats the value and says what is allowed.
Traced values (a hyperparameter under ``vmap``, an argument of a function being
``jit``-compiled) pass through unchecked: their values are unknown while tracing.

This is an internal module: the names here carry no underscore because the packages of
nnfunc import them, but they are not part of the public API.

It imports NumPy and the standard library only: ``nnfunc.data`` uses it and must load
without JAX. The checks that need JAX import it when they run, and :func:`is_traced`
looks JAX up among the loaded modules (a value cannot be a tracer before JAX is loaded).
"""
from __future__ import annotations

import math
import numbers
import operator
import sys
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["is_traced", "check_int", "check_real", "check_finite", "check_value",
           "check_choice", "check_pair", "check_float_dtype", "check_bool",
           "check_array_range", "is_real", "as_shape", "as_pair", "POSITIVE_INT"]

POSITIVE_INT = "a positive int"   # the wording of layer and model size errors


def is_traced(x: Any) -> bool:
    """Whether ``x`` is a JAX tracer (its value is unknown until the program runs).

    Example:
      >>> import jax
      >>> seen = []
      >>> _ = jax.jit(lambda v: seen.append(is_traced(v)) or v)(1.0)
      >>> is_traced(1.0), seen
      (False, [True])
    """
    jax = sys.modules.get("jax")    # no tracer can exist before JAX is loaded
    return jax is not None and isinstance(x, jax.core.Tracer)


def is_real(x: Any) -> bool:
    """Whether ``x`` is a real number: a Python or NumPy int or float (``np.float32(0.5)``
    included), not a bool."""
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))


def check_int(name: str, value: Any, *, minimum: int = 0, allowed: str | None = None) -> Any:
    """``value`` as a Python int, if it is an integer ``>= minimum`` (not a bool).

    Python and NumPy integers are accepted; a traced value is returned unchanged.
    ``allowed`` replaces the default description ``"an integer >= {minimum}"`` in the
    message (each package keeps the wording its errors have always had).
    """
    if is_traced(value):
        return value
    allowed = allowed or f"an integer >= {minimum}"
    try:
        if isinstance(value, (bool, np.bool_)):
            raise TypeError
        v = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be {allowed}, got {value!r}") from None
    if v < minimum:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return v


def check_real(name: str, value: Any, *, low: float | None = None, high: float | None = None,
               low_open: bool = False, high_open: bool = False) -> None:
    """Raise unless ``value`` is a finite real number in the interval given by its bounds
    (``None``: unbounded on that side; ``*_open``: the bound itself is excluded)."""
    if is_traced(value):
        return
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    allowed = f"in {lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"
    try:
        if isinstance(value, (str, bytes, bool, np.bool_)):   # float('0.1') and True read
            raise TypeError
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number {allowed}, got {value!r}") from None
    bad = (not math.isfinite(v)
           or (low is not None and (v <= low if low_open else v < low))
           or (high is not None and (v >= high if high_open else v > high)))
    if bad:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


def check_finite(name: str, value: Any, *, low: float | None = None) -> float:
    """``value`` as a float, if it is a finite real scalar ``>= low``.

    Stricter than :func:`check_real`: only Python and NumPy numbers pass (not strings,
    bools, arrays or traced values), for arguments read on the host (``nnfunc.data``).

    Example:
      >>> check_finite("stddev", 0.5, low=0)
      0.5
      >>> check_finite("stddev", -1, low=0)
      Traceback (most recent call last):
      ValueError: stddev must be a finite number >= 0, got -1
    """
    allowed = "a finite number" + ("" if low is None else f" >= {low}")
    if not is_real(value) or not math.isfinite(float(value)) or \
            (low is not None and float(value) < low):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return float(value)


def check_value(name: str, value: Any, pred: Callable[[float], bool], allowed: str) -> None:
    """Raise unless every entry of a concrete scalar or array is finite and satisfies
    ``pred``.

    ``None``, callables (schedules) and traced values pass; ``allowed`` describes the
    accepted values (``">= 0"``, ``"in [0, 1)"``, ...). NumPy and JAX scalars are
    accepted like Python numbers; ``inf`` and ``nan`` never are.
    """
    if value is None or callable(value) or is_traced(value):
        return
    if isinstance(value, (str, bytes)):     # np.asarray('0.1', float) would read it
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    import jax

    try:
        flat = np.asarray(jax.device_get(value), dtype=float).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {allowed}, got {value!r}") from None
    if flat.size and not np.all(np.isfinite(flat)):
        finite = "" if "finite" in allowed else "a finite number "
        raise ValueError(f"{name} must be {finite}{allowed}, got {value!r}")
    if flat.size and not all(pred(float(v)) for v in flat):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    """Raise unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def check_pair(name: str, value: Any, what: str = "a pair", *, arrays: bool = False) -> tuple:
    """``value`` as a tuple of two entries (a tuple or list of length 2).

    Raises a ``ValueError`` naming ``what`` is needed (``"a pair (beta1, beta2)"``) for a
    scalar, a string or a sequence of another length (which would otherwise be truncated
    or fail deep inside). With ``arrays=True`` a 1-D NumPy array counts as its list.
    """
    if arrays and isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return tuple(value)


def check_float_dtype(name: str, dtype: Any, why: str = "") -> None:
    """Raise a ``TypeError`` unless ``dtype`` is a floating (or complex) dtype."""
    import jax.numpy

    if not jax.numpy.issubdtype(dtype, jax.numpy.inexact):
        raise TypeError(f"{name} must have a floating dtype{why}, got {np.dtype(dtype)}")


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a Python bool, if it is one (a Python or NumPy bool); anything else, a
    string such as ``'no'`` included (which ``bool()`` would read as True), raises a
    ``TypeError``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_array_range(name: str, value: Any, low: float, high: float, what: str = "") -> None:
    """Raise unless every entry of a concrete array is in ``[low, high]`` (NaN fails);
    vectorised, for data-sized arrays. Traced values pass. The message shows up to 5
    offending values; ``what`` adds a hint (``"; pass logits to ..."``)."""
    if value is None or is_traced(value):
        return
    import jax

    a = np.asarray(jax.device_get(value))
    if not a.size or not np.issubdtype(a.dtype, np.number):
        return
    bad = ~((a >= low) & (a <= high))
    if np.any(bad):
        raise ValueError(f"{name} must be in [{low}, {high}], got {int(bad.sum())} value(s) "
                         f"outside, e.g. {a[bad].ravel()[:5].tolist()}{what}")


def as_shape(input_shape: Any, layer_name: str) -> tuple[int, ...]:
    """``input_shape`` (a layer's input shape without the batch axis) as a tuple of
    positive ints; a bare int means a 1-D input. Errors name the layer.

    Example:
      >>> as_shape(784, "dense"), as_shape([28, 28, 1], "conv2d")
      ((784,), (28, 28, 1))
    """
    if isinstance(input_shape, int) and not isinstance(input_shape, bool):
        input_shape = (input_shape,)        # a bare width means a 1-D input
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise ValueError(f"{layer_name}: input_shape must be a tuple of positive ints "
                         f"(without the batch axis), got {input_shape!r}") from None
    if not all(isinstance(d, (int,)) or hasattr(d, "__index__") for d in shape) or \
            any(int(d) <= 0 for d in shape):
        raise ValueError(f"{layer_name}: input_shape must be a tuple of positive ints "
                         f"(without the batch axis), got {input_shape!r}")
    return tuple(int(d) for d in shape)


def as_pair(name: str, value: Any, *, minimum: int = 1) -> tuple[int, int]:
    """An int or a pair of ints, as a validated pair of ints >= ``minimum`` (1: positive,
    0: non-negative).

    Example:
      >>> as_pair("stride", 2), as_pair("padding", (0, 1), minimum=0)
      ((2, 2), (0, 1))
    """
    def is_int(v: Any) -> bool:     # Python and NumPy ints, not bools
        return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))
    pair = (value, value) if is_int(value) else value
    try:
        pair = tuple(pair)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(is_int(v) and v >= minimum for v in pair):
        kind = "positive" if minimum == 1 else "non-negative" if minimum == 0 else \
            f">= {minimum}"
        raise ValueError(f"{name} must be a {kind} int or a pair of {kind} ints, "
                         f"got {value!r}")
    return tuple(int(v) for v in pair)
