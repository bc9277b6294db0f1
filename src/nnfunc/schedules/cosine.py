"""Cosine schedules: annealing (torch ``CosineAnnealingLR``) and warm restarts (SGDR,
torch ``CosineAnnealingWarmRestarts``)."""
from __future__ import annotations

import operator

import jax.numpy as jnp

from nnfunc._checks import check_int, check_real, is_traced
from nnfunc.schedules._base import Schedule, count_reached, as_steps

__all__ = ["cosine_annealing", "cosine_warm_restarts"]


def cosine_annealing(init_value: float, T_max: int, eta_min: float = 0.0) -> Schedule:
    r"""Cosine annealing from ``init_value`` to ``eta_min`` over ``T_max`` steps (torch
    ``CosineAnnealingLR``).

    .. math:: \eta_t = \eta_{min} + \tfrac12 (\eta_0 - \eta_{min})
              \left(1 + \cos\frac{\pi t}{T_{max}}\right)

    Past ``T_max`` the formula is kept, so the value climbs back to ``init_value`` at
    ``2 T_max`` and repeats with period ``2 T_max``. This is torch's closed form, and torch's
    recursive ``step()`` form follows the same curve (it adds the closed-form increment
    when it leaves the minimum at ``T_max + 1``); both agree with this function to a
    relative error below 1e-10. Use ``cosine_warm_restarts`` to restart at the top
    instead, or ``warmup_cosine`` to hold the final value.

    Args:
      init_value: the initial (largest) value :math:`\eta_0`.
      T_max: the half period, an integer >= 1.
      eta_min: the smallest value.

    Returns:
      ``schedule(step) -> value``.

    Example:
      >>> from nnfunc import schedules
      >>> sched = schedules.cosine_annealing(1.0, T_max=10)
      >>> [round(float(sched(t)), 4) for t in (0, 5, 10, 15, 20)]
      [1.0, 0.5, 0.0, 0.5, 1.0]
    """
    check_real("init_value", init_value, low=0.0)
    check_int("T_max", T_max, minimum=1)
    check_real("eta_min", eta_min, low=0.0)

    def schedule(step):
        _, t = as_steps(step)
        return eta_min + (init_value - eta_min) * (1.0 + jnp.cos(jnp.pi * t / T_max)) / 2

    return schedule


def cosine_warm_restarts(init_value: float, T_0: int, T_mult: int = 1,
                         eta_min: float = 0.0) -> Schedule:
    r"""Cosine annealing with warm restarts, SGDR (torch ``CosineAnnealingWarmRestarts``).

    The first cycle lasts ``T_0`` steps and each following one ``T_mult`` times longer;
    every cycle starts again at ``init_value``.

    .. math:: \eta_t = \eta_{min} + \tfrac12 (\eta_0 - \eta_{min})
              \left(1 + \cos\frac{\pi T_{cur}}{T_i}\right),\quad
              T_i = T_0 T_{mult}^{\,n},\;
              T_{cur} = t - T_0 \frac{T_{mult}^{\,n} - 1}{T_{mult} - 1}

    where :math:`n` is the number of restarts so far (:math:`T_{cur} = t \bmod T_0` when
    ``T_mult == 1``). The cycle boundaries are exact integers (a table built at trace time),
    so no logarithm rounds a restart onto the wrong step.

    Args:
      init_value: the value at the start of each cycle :math:`\eta_0`.
      T_0: the length of the first cycle, an integer >= 1.
      T_mult: the growth factor of the cycle length, an integer >= 1.
      eta_min: the smallest value.

    Returns:
      ``schedule(step) -> value``.

    Example:
      >>> from nnfunc import schedules
      >>> sched = schedules.cosine_warm_restarts(1.0, T_0=4, T_mult=2)
      >>> [round(float(sched(t)), 4) for t in (0, 2, 4, 8, 12)]
      [1.0, 0.5, 1.0, 0.5, 1.0]
    """
    check_real("init_value", init_value, low=0.0)
    for name, value in (("T_0", T_0), ("T_mult", T_mult)):
        if is_traced(value):
            raise ValueError(f"{name} must be a concrete integer (it shapes the cycle table), "
                             f"got a traced value")
        check_int(name, value, minimum=1)
    T_0, T_mult = operator.index(T_0), operator.index(T_mult)
    check_real("eta_min", eta_min, low=0.0)

    def schedule(step):
        k, t = as_steps(step)
        if T_mult == 1:
            t_cur = (k % T_0).astype(t.dtype)
            t_i = T_0
        else:
            # Cycle starts up to the largest representable step of k's dtype.
            limit = int(jnp.iinfo(k.dtype).max)
            starts, lengths = [0], [T_0]
            while starts[-1] + lengths[-1] <= limit:
                starts.append(starts[-1] + lengths[-1])
                lengths.append(lengths[-1] * T_mult)
            n = count_reached(k, starts[1:])
            t_cur = (k - jnp.asarray(starts, k.dtype)[n]).astype(t.dtype)
            t_i = jnp.asarray([float(x) for x in lengths], t.dtype)[n]
        return eta_min + (init_value - eta_min) * (1.0 + jnp.cos(jnp.pi * t_cur / t_i)) / 2

    return schedule
