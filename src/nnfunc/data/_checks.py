"""Argument checks of ``nnfunc.data``: the few of ``nnfunc._checks`` this package needs,
in NumPy alone (``nnfunc.data`` imports only NumPy, the standard library and itself).
Same messages: the argument's name, its value and what is allowed."""
from __future__ import annotations

import math
import numbers
import operator
from typing import Any

import numpy as np


def is_real(x: Any) -> bool:
    """A Python or NumPy int or float, not a bool."""
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))


def check_real(name: str, value: Any, *, low: float | None = None) -> float:
    """``value`` as a float, if it is a finite real number ``>= low`` (not a string)."""
    allowed = "a finite number" + ("" if low is None else f" >= {low}")
    if not is_real(value) or not math.isfinite(float(value)) or \
            (low is not None and float(value) < low):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return float(value)


def check_int(name: str, value: Any, *, minimum: int = 0) -> int:
    """``value`` as an int, if it is a Python or NumPy integer ``>= minimum``."""
    try:
        if isinstance(value, (bool, np.bool_)):
            raise TypeError
        v = operator.index(value)
    except TypeError:
        v = None
    if v is None or v < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return v


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is a Python or NumPy bool (``'no'`` would read as True)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_pair(name: str, value: Any, what: str = "a pair") -> tuple:
    """``value`` as a 2-tuple, if it is a tuple, list or 1-D array of length 2."""
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return tuple(value)
