"""Argument checks shared by every nnfunc package: one function per kind of check.

Every check takes the argument's name first and its value second, and raises a
``ValueError`` that names the argument, repeats the value and says what is allowed.
Traced values (a hyperparameter under ``vmap``, an argument of a function being
``jit``-compiled) pass through unchecked: their values are unknown while tracing.

This is an internal module: the names here carry no underscore because the packages of
nnfunc import them, but they are not part of the public API.
"""
from __future__ import annotations

import math
import operator
from typing import Any, Callable, Sequence

import jax
import numpy as np

__all__ = ["is_traced", "check_int", "check_real", "check_value", "check_choice"]


def is_traced(x: Any) -> bool:
    """Whether ``x`` is a JAX tracer (its value is unknown until the program runs)."""
    return isinstance(x, jax.core.Tracer)


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
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number {allowed}, got {value!r}") from None
    bad = (not math.isfinite(v)
           or (low is not None and (v <= low if low_open else v < low))
           or (high is not None and (v >= high if high_open else v > high)))
    if bad:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


def check_value(name: str, value: Any, pred: Callable[[float], bool], allowed: str) -> None:
    """Raise unless every entry of a concrete scalar or array satisfies ``pred``.

    ``None``, callables (schedules) and traced values pass; ``allowed`` describes the
    accepted values (``">= 0"``, ``"in [0, 1)"``, ...).
    """
    if value is None or callable(value) or is_traced(value):
        return
    try:
        flat = np.asarray(jax.device_get(value), dtype=float).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {allowed}, got {value!r}") from None
    if flat.size and not all(pred(float(v)) for v in flat):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    """Raise unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
