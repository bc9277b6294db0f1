"""The ``Schedule`` type, the helpers every schedule shares (step arrays, milestones), and
``constant``.

Internal module of ``nnfunc.schedules`` (the package re-exports ``Schedule`` and
``constant``). ``constant`` lives here, beside the protocol, because
:func:`check_schedule` turns a number into it for every schedule that takes a schedule or
a number (``warmup``, ``sequential``).

A schedule is a pure function ``step -> value``. ``step`` is an integer (a Python int or a
JAX integer array of any shape, traced or not), counted from 0 for the first optimizer
step; the value has the default float dtype (float32, or float64 under ``jax_enable_x64``).

Schedules keep their hyperparameters as Python values and build arrays only when they are
called, so one schedule works in both float32 and float64 mode. Concrete arguments are
checked when the schedule is built; traced ones (for a ``vmap`` over hyperparameters) pass
through unchecked.

Schedules give learning rates (and momenta), so every value argument (``value``,
``init_value``, ``eta_min``, ``max_lr``, ...) must be finite and >= 0, and the decay
factors ``gamma`` of ``step_decay``, ``multistep_decay``, ``exponential_decay`` and
``cyclic`` are in [0, 1]. A step before the first (negative) is an error when concrete
and is clamped to step 0 when traced (inside ``jit``, where no error can be raised).
"""
from __future__ import annotations

import operator
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp

from nnfunc._checks import check_int, check_real, check_value

Schedule = Callable[[Any], jax.Array]

__all__ = ["Schedule", "constant"]


def check_milestones(name: str, milestones: Any) -> tuple[int, ...]:
    """Validate a non-decreasing sequence of integers >= 0 and return it as a tuple."""
    try:
        ms = tuple(milestones)
    except TypeError:
        raise ValueError(f"{name} must be a sequence of integers, got {milestones!r}") from None
    for m in ms:
        check_int(f"every entry of {name}", m, minimum=0)
    ms = tuple(operator.index(m) for m in ms)
    if any(b < a for a, b in zip(ms, ms[1:])):
        raise ValueError(f"{name} must be sorted in non-decreasing order, got {list(ms)}")
    return ms


def check_schedule(name: str, schedule: Any) -> Schedule:
    """Accept a schedule or a number (turned into a constant schedule)."""
    if callable(schedule):
        return schedule
    check_real(name, schedule)
    return constant(schedule)


def float_dtype() -> Any:
    # float64 only when x64 is on at call time (the schedule may be built in either mode).
    return jax.dtypes.canonicalize_dtype(jnp.float64)


def as_steps(step: Any) -> tuple[jax.Array, jax.Array]:
    """``step`` as an integer array and as a float array of the default float dtype.

    A concrete negative step raises; a traced one is clamped at 0 (step 0's value)."""
    k = jnp.asarray(step)
    if not jnp.issubdtype(k.dtype, jnp.integer):
        raise TypeError(f"a schedule's step must be an integer, got dtype {k.dtype}")
    check_value("step", k, lambda v: v >= 0, "an integer >= 0 (steps count from 0)")
    k = jnp.maximum(k, 0)
    return k, k.astype(float_dtype())


def count_reached(k: jax.Array, milestones: Sequence[int]) -> jax.Array:
    """How many milestones are <= k, elementwise (repeated milestones count repeatedly)."""
    if not milestones:
        return jnp.zeros(k.shape, k.dtype)
    ms = jnp.asarray(milestones, dtype=k.dtype)
    return jnp.sum(k[..., None] >= ms, axis=-1).astype(k.dtype)


def constant(value: float) -> Schedule:
    r"""A schedule that always returns ``value``.

    .. math:: \eta_t = \text{value}

    Args:
      value: the value, finite and >= 0 (a number, or a traced scalar).

    Raises:
      ValueError: a concrete ``value`` that is negative or not finite.

    Returns:
      ``schedule(step) -> value`` (an array shaped like ``step``).

    Example:
      >>> import jax.numpy as jnp
      >>> from nnfunc import schedules
      >>> sched = schedules.constant(0.1)
      >>> print(round(float(sched(1000)), 6))
      0.1
    """
    check_real("value", value, low=0.0)

    def schedule(step):
        _, t = as_steps(step)
        return jnp.zeros_like(t) + value

    return schedule
