"""Schedules beyond torch: warmup wrappers, warmup-cosine, inverse square root (Noam) and
warmup-stable-decay."""
from __future__ import annotations

import jax.numpy as jnp

from nnfunc._checks import check_choice, check_int, check_real
from nnfunc.schedules._base import Schedule, check_schedule, as_steps

__all__ = ["warmup", "warmup_cosine", "inverse_sqrt", "warmup_stable_decay"]


def warmup(schedule: Schedule, warmup_steps: int, init_value: float = 0.0, *,
           strategy: str = "linear") -> Schedule:
    r"""Prepend a warmup ramp from ``init_value`` to ``schedule(0)``; then run ``schedule``
    from its own step 0.

    .. math:: \eta_t = \begin{cases} \eta_{init} + (s(0) - \eta_{init})\, r(t / W) & t < W \\
              s(t - W) & t \ge W \end{cases},\quad
              r_{linear}(p) = p,\; r_{cos}(p) = \tfrac12 (1 - \cos \pi p)

    This equals ``sequential([ramp, schedule], [warmup_steps])``; the ramp ends where the
    schedule starts, so the curve is continuous.

    Args:
      schedule: the schedule after warmup (a number stands for a constant).
      warmup_steps: the ramp length :math:`W`, an integer >= 0 (0: no warmup).
      init_value: the value at step 0.
      strategy: ``'linear'`` or ``'cos'`` (a half-cosine ramp).

    Returns:
      ``schedule(step) -> value``.

    Example:
      >>> from nnfunc import schedules
      >>> sched = schedules.warmup(schedules.exponential_decay(1.0, 0.5), warmup_steps=4)
      >>> [float(sched(t)) for t in (0, 2, 4, 5)]
      [0.0, 0.5, 1.0, 0.5]
    """
    inner = check_schedule("schedule", schedule)
    check_int("warmup_steps", warmup_steps, minimum=0)
    check_real("init_value", init_value, low=0.0)
    check_choice("strategy", strategy, ("linear", "cos"))

    def wrapped(step):
        k, t = as_steps(step)
        target = jnp.asarray(inner(jnp.zeros_like(k)), t.dtype)
        p = t / max(warmup_steps, 1)
        ramp = p if strategy == "linear" else (1.0 - jnp.cos(jnp.pi * p)) / 2
        warm = init_value + (target - init_value) * ramp
        after = jnp.asarray(inner(jnp.maximum(k - warmup_steps, 0)), t.dtype)
        return jnp.where(k < warmup_steps, warm, after)

    return wrapped


def warmup_cosine(peak_value: float, warmup_steps: int, total_steps: int,
                  init_value: float = 0.0, end_value: float = 0.0) -> Schedule:
    r"""Linear warmup to ``peak_value``, then one cosine half-wave down to ``end_value`` at
    ``total_steps``, held afterwards.

    .. math:: \eta_t = \begin{cases} \eta_{init} + (\eta_{peak} - \eta_{init})\, t / W
              & t < W \\ \eta_{end} + \tfrac12 (\eta_{peak} - \eta_{end})
              (1 + \cos \frac{\pi \min(t - W, D)}{D}) & t \ge W \end{cases},\quad
              D = \text{total\as_steps} - W

    Args:
      peak_value: the value at the end of warmup.
      warmup_steps: the warmup length :math:`W`, an integer >= 0.
      total_steps: the step where ``end_value`` is reached, an integer > ``warmup_steps``.
      init_value: the value at step 0.
      end_value: the final value.

    Returns:
      ``schedule(step) -> value``.

    Example:
      >>> from nnfunc import schedules
      >>> sched = schedules.warmup_cosine(1.0, warmup_steps=2, total_steps=6)
      >>> [round(float(sched(t)), 4) for t in (0, 1, 2, 4, 6, 100)]
      [0.0, 0.5, 1.0, 0.5, 0.0, 0.0]
    """
    check_real("peak_value", peak_value, low=0.0)
    check_int("warmup_steps", warmup_steps, minimum=0)
    check_int("total_steps", total_steps, minimum=1)
    if total_steps <= warmup_steps:
        raise ValueError(f"total_steps must be > warmup_steps = {warmup_steps}, "
                         f"got {total_steps}")
    check_real("end_value", end_value, low=0.0)
    decay_steps = total_steps - warmup_steps

    def decay(step):
        _, t = as_steps(step)
        return end_value + (peak_value - end_value) * (
            1.0 + jnp.cos(jnp.pi * jnp.minimum(t, decay_steps) / decay_steps)) / 2

    return warmup(decay, warmup_steps, init_value)


def inverse_sqrt(peak_value: float, warmup_steps: int) -> Schedule:
    r"""Linear warmup, then inverse square-root decay: the Transformer ("Noam") schedule.

    With :math:`s = t + 1` (the paper counts updates from 1) and :math:`W` warmup steps,

    .. math:: \eta_t = \eta_{peak} \min\left(\frac{s}{W}, \sqrt{\frac{W}{s}}\right)

    which peaks at step :math:`W - 1`. The paper's
    :math:`d_{model}^{-1/2} \min(s^{-1/2}, s\, W^{-3/2})` is this with
    ``peak_value = d_model**-0.5 * warmup_steps**-0.5``.

    Args:
      peak_value: the largest value, reached at step ``warmup_steps - 1``.
      warmup_steps: the warmup length :math:`W`, an integer >= 1.

    Returns:
      ``schedule(step) -> value``.

    Example:
      >>> from nnfunc import schedules
      >>> sched = schedules.inverse_sqrt(1.0, warmup_steps=4)
      >>> [float(sched(t)) for t in (0, 1, 3, 15)]
      [0.25, 0.5, 1.0, 0.5]
    """
    check_real("peak_value", peak_value, low=0.0)
    check_int("warmup_steps", warmup_steps, minimum=1)

    def schedule(step):
        _, t = as_steps(step)
        s = t + 1.0
        return peak_value * jnp.minimum(s / warmup_steps, jnp.sqrt(warmup_steps / s))

    return schedule


def warmup_stable_decay(peak_value: float, warmup_steps: int, stable_steps: int,
                        decay_steps: int, init_value: float = 0.0, end_value: float = 0.0,
                        *, decay_strategy: str = "linear") -> Schedule:
    r"""Warmup-stable-decay (WSD, "trapezoidal"): linear warmup to ``peak_value``, hold it
    for ``stable_steps``, decay to ``end_value`` over ``decay_steps``, then hold.

    With :math:`p = \min(t - W - S, D) / D` in the decay phase,

    .. math:: \eta_t = \begin{cases} \eta_{init} + (\eta_{peak} - \eta_{init})\, t / W
              & t < W \\ \eta_{peak} & W \le t < W + S \\
              \eta_{end} + (\eta_{peak} - \eta_{end})\, g(p) & t \ge W + S \end{cases}

    with :math:`g(p) = 1 - p` (``'linear'``), :math:`\tfrac12 (1 + \cos \pi p)` (``'cos'``)
    or :math:`1 - \sqrt{p}` (``'1-sqrt'``).

    Args:
      peak_value: the plateau value.
      warmup_steps: :math:`W`, an integer >= 0.
      stable_steps: :math:`S`, an integer >= 0.
      decay_steps: :math:`D`, an integer >= 1.
      init_value: the value at step 0.
      end_value: the final value.
      decay_strategy: ``'linear'``, ``'cos'`` or ``'1-sqrt'``.

    Returns:
      ``schedule(step) -> value``.

    Example:
      >>> from nnfunc import schedules
      >>> sched = schedules.warmup_stable_decay(1.0, warmup_steps=2, stable_steps=3,
      ...                                       decay_steps=4)
      >>> [float(sched(t)) for t in (0, 1, 2, 4, 5, 7, 9, 50)]
      [0.0, 0.5, 1.0, 1.0, 1.0, 0.5, 0.0, 0.0]
    """
    check_real("peak_value", peak_value, low=0.0)
    check_int("warmup_steps", warmup_steps, minimum=0)
    check_int("stable_steps", stable_steps, minimum=0)
    check_int("decay_steps", decay_steps, minimum=1)
    check_real("end_value", end_value, low=0.0)
    check_choice("decay_strategy", decay_strategy, ("linear", "cos", "1-sqrt"))

    def stable_decay(step):
        _, t = as_steps(step)
        done = jnp.clip(t - stable_steps, 0, decay_steps)
        # Each g is written to be exactly 0 at the end (XLA may divide via a reciprocal).
        if decay_strategy == "linear":
            g = (decay_steps - done) / decay_steps
        elif decay_strategy == "cos":
            g = (1.0 + jnp.cos(jnp.pi * done / decay_steps)) / 2
        else:
            g = (jnp.sqrt(float(decay_steps)) - jnp.sqrt(done)) / jnp.sqrt(float(decay_steps))
        return end_value + (peak_value - end_value) * g

    return warmup(stable_decay, warmup_steps, init_value)
