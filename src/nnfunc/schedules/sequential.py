"""``sequential``: run schedules one after another (torch ``SequentialLR``)."""
from __future__ import annotations

from typing import Sequence

import jax.numpy as jnp

from nnfunc.schedules._base import Schedule, check_milestones, check_schedule, as_steps

__all__ = ["sequential"]


def sequential(schedules: Sequence[Schedule], milestones: Sequence[int]) -> Schedule:
    r"""Switch from one schedule to the next at each milestone (torch ``SequentialLR``).

    Each schedule restarts its own count at its milestone, as in torch: schedule ``i``
    is called with ``t - milestones[i-1]``.

    .. math:: \eta_t = s_i(t - m_{i-1}),\quad i = \#\{j : m_j \le t\},\; m_{-1} = 0

    Args:
      schedules: ``n >= 1`` schedules (a number stands for a constant schedule).
      milestones: ``n - 1`` non-decreasing integer steps >= 0.

    Returns:
      ``schedule(step) -> value``.

    Example:
      >>> from nnfunc import schedules
      >>> sched = schedules.sequential(
      ...     [schedules.linear(1.0, start_factor=0.5, total_iters=2),
      ...      schedules.exponential_decay(1.0, gamma=0.5)], milestones=[2])
      >>> [float(sched(t)) for t in (0, 1, 2, 3, 4)]
      [0.5, 0.75, 1.0, 0.5, 0.25]
    """
    try:
        scheds = list(schedules)
    except TypeError:
        raise ValueError(f"schedules must be a sequence of schedules, got {schedules!r}") from None
    if not scheds:
        raise ValueError("schedules must hold at least one schedule, got an empty sequence")
    scheds = [check_schedule(f"schedules[{i}]", s) for i, s in enumerate(scheds)]
    ms = check_milestones("milestones", milestones)
    if len(ms) != len(scheds) - 1:
        raise ValueError(f"milestones must have len(schedules) - 1 = {len(scheds) - 1} "
                         f"entries, got {len(ms)}: {list(ms)}")

    def schedule(step):
        k, t = as_steps(step)
        out = jnp.asarray(scheds[0](k), t.dtype)
        # Milestones are sorted, so the last one reached wins, as bisect_right in torch.
        for m, s in zip(ms, scheds[1:]):
            out = jnp.where(k >= m, jnp.asarray(s(jnp.maximum(k - m, 0)), t.dtype), out)
        return out

    return schedule
