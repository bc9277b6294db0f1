"""Cyclical schedules: ``cyclic`` (torch ``CyclicLR``) and ``one_cycle`` (torch
``OneCycleLR``), each with its matching momentum schedule.

torch cycles the optimizer's momentum (or Adam's beta1) inversely to the learning rate as a
side effect of ``step()``. Here that is a second, separate schedule with the same shape
arguments, so it can drive any hyperparameter::

    shape = dict(total_steps=1000, pct_start=0.25)
    lr = one_cycle(max_lr=0.1, **shape)
    beta1 = one_cycle_momentum(**shape)        # 0.95 -> 0.85 -> 0.95
"""
from __future__ import annotations

from typing import Callable

import jax.numpy as jnp
import numpy as np

from nnfunc._checks import check_choice, check_int, check_real, is_traced
from nnfunc.schedules._base import Schedule, as_steps

__all__ = ["cyclic", "cyclic_momentum", "one_cycle", "one_cycle_momentum"]

_CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


def _cyclic_shape(step_size_up, step_size_down, mode, gamma, scale_fn, scale_mode):
    """Validate the shared arguments; return ``step -> (scale_factor, scale)``."""
    check_int("step_size_up", step_size_up, minimum=1)
    if step_size_down is not None:
        check_int("step_size_down", step_size_down, minimum=1)
    check_choice("mode", mode, _CYCLIC_MODES)
    check_real("gamma", gamma, low=0.0, high=1.0)
    check_choice("scale_mode", scale_mode, ("cycle", "iterations"))
    if scale_fn is not None and not callable(scale_fn):
        raise ValueError(f"scale_fn must be callable or None, got {scale_fn!r}")
    up = float(step_size_up)
    down = float(step_size_down) if step_size_down is not None else up
    total_size = up + down
    step_ratio = up / total_size
    if scale_fn is None:
        # As in torch, the built-in modes fix their own scale_mode.
        scale_fn = {"triangular": lambda x: jnp.ones_like(x),
                    "triangular2": lambda x: 1 / (2.0 ** (x - 1)),
                    "exp_range": lambda x: jnp.power(gamma, x)}[mode]
        scale_mode = "iterations" if mode == "exp_range" else "cycle"

    def shape(step):
        _, t = as_steps(step)
        cycle = jnp.floor(1 + t / total_size)
        x = 1.0 + t / total_size - cycle
        scale_factor = jnp.where(x <= step_ratio, x / step_ratio, (x - 1) / (step_ratio - 1))
        scale = jnp.asarray(scale_fn(cycle if scale_mode == "cycle" else t), t.dtype)
        return scale_factor, scale

    return shape


def cyclic(base_lr: float, max_lr: float, step_size_up: int = 2000,
           step_size_down: int | None = None, mode: str = "triangular", gamma: float = 1.0,
           *, scale_fn: Callable | None = None, scale_mode: str = "cycle") -> Schedule:
    r"""Cyclical learning rate between ``base_lr`` and ``max_lr`` (torch ``CyclicLR``).

    Each cycle rises for ``step_size_up`` steps and falls for ``step_size_down`` steps.

    .. math:: c = \lfloor 1 + t / S \rfloor,\; x = 1 + t / S - c,\;
              f = \begin{cases} x / r & x \le r \\ (x - 1)/(r - 1) & x > r \end{cases},\;
              \eta_t = \eta_{base} + (\eta_{max} - \eta_{base})\, f\, s

    with :math:`S` = up + down, :math:`r` = up / S, and the amplitude scale :math:`s` = 1
    (``'triangular'``), :math:`1/2^{c-1}` (``'triangular2'``) or :math:`\gamma^t`
    (``'exp_range'``). The matching momentum is ``cyclic_momentum``.

    Args:
      base_lr: the lower bound (the value at each cycle start).
      max_lr: the upper bound of the first cycle.
      step_size_up: steps in the rising half, an integer >= 1.
      step_size_down: steps in the falling half (default: ``step_size_up``).
      mode: ``'triangular'``, ``'triangular2'`` or ``'exp_range'``.
      gamma: the per-step factor of ``'exp_range'``, in [0, 1].
      scale_fn: optional custom amplitude scale (overrides ``mode``), a jax-traceable
        function of the (float) cycle number or step, chosen by ``scale_mode``.
      scale_mode: ``'cycle'`` or ``'iterations'``; used only with ``scale_fn``.

    Returns:
      ``schedule(step) -> value``.

    Example:
      >>> from nnfunc import schedules
      >>> sched = schedules.cyclic(0.1, 1.0, step_size_up=2, step_size_down=4)
      >>> [round(float(sched(t)), 4) for t in (0, 1, 2, 4, 6)]
      [0.1, 0.55, 1.0, 0.55, 0.1]
    """
    check_real("base_lr", base_lr, low=0.0)
    check_real("max_lr", max_lr, low=0.0)
    shape = _cyclic_shape(step_size_up, step_size_down, mode, gamma, scale_fn, scale_mode)

    def schedule(step):
        scale_factor, scale = shape(step)
        return base_lr + (max_lr - base_lr) * scale_factor * scale

    return schedule


def cyclic_momentum(base_momentum: float = 0.8, max_momentum: float = 0.9,
                    step_size_up: int = 2000, step_size_down: int | None = None,
                    mode: str = "triangular", gamma: float = 1.0, *,
                    scale_fn: Callable | None = None, scale_mode: str = "cycle") -> Schedule:
    r"""The momentum (or beta1) schedule that torch's ``CyclicLR`` applies with
    ``cycle_momentum=True``: it moves inversely to ``cyclic``'s learning rate.

    .. math:: m_t = m_{max} - (m_{max} - m_{base})\, f\, s

    with :math:`f` and :math:`s` as in ``cyclic``. Pass the same shape arguments
    (``step_size_up``, ``step_size_down``, ``mode``, ``gamma``, ...) as to ``cyclic``.

    Args:
      base_momentum: the momentum at the learning-rate peak.
      max_momentum: the momentum at each cycle start.
      step_size_up, step_size_down, mode, gamma, scale_fn, scale_mode: as in ``cyclic``.

    Returns:
      ``schedule(step) -> momentum``.

    Example:
      >>> from nnfunc import schedules
      >>> mom = schedules.cyclic_momentum(0.8, 0.9, step_size_up=2)
      >>> [round(float(mom(t)), 4) for t in (0, 1, 2, 4)]
      [0.9, 0.85, 0.8, 0.9]
    """
    check_real("base_momentum", base_momentum, low=0.0)
    check_real("max_momentum", max_momentum, low=0.0)
    shape = _cyclic_shape(step_size_up, step_size_down, mode, gamma, scale_fn, scale_mode)

    def schedule(step):
        scale_factor, scale = shape(step)
        return max_momentum - (max_momentum - base_momentum) * scale_factor * scale

    return schedule


def _one_cycle(total_steps, pct_start, anneal_strategy, three_phase, low, peak, final):
    """The piecewise anneal of ``OneCycleLR``: ``low -> peak -> final`` (two phases) or
    ``low -> peak -> low -> final`` (three phases), phase ends as torch computes them."""
    check_int("total_steps", total_steps, minimum=1)
    check_real("pct_start", pct_start, low=0.0, high=1.0, low_open=True, high_open=True)
    check_choice("anneal_strategy", anneal_strategy, ("cos", "linear"))
    if not isinstance(three_phase, (bool, np.bool_)):    # np.True_ is a bool too
        raise ValueError(f"three_phase must be a bool, got {three_phase!r}")
    three_phase = bool(three_phase)
    if three_phase:
        phases = [(float(pct_start * total_steps) - 1, low, peak),
                  (float(2 * pct_start * total_steps) - 2, peak, low),
                  (total_steps - 1, low, final)]
    else:
        phases = [(float(pct_start * total_steps) - 1, low, peak),
                  (total_steps - 1, peak, final)]

    def anneal(start, end, pct):
        if anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (jnp.cos(jnp.pi * pct) + 1)
        return (end - start) * pct + start

    def schedule(step):
        _, t = as_steps(step)
        # torch refuses steps past total_steps; hold the value it gives at total_steps.
        t = jnp.minimum(t, total_steps)
        values, begin = [], 0.0
        for end, start_value, end_value in phases:
            den = end - begin
            # A zero-length phase (torch divides by zero) reads as already finished.
            pct = (t - begin) / den if den != 0 else jnp.ones_like(t)
            values.append(anneal(start_value, end_value, pct))
            begin = end
        # torch takes the first phase whose end is >= t, else the last one.
        out = values[-1]
        for (end, _, _), value in zip(reversed(phases[:-1]), reversed(values[:-1])):
            out = jnp.where(t <= end, value, out)
        return out

    return schedule


def one_cycle(max_lr: float, total_steps: int, pct_start: float = 0.3,
              anneal_strategy: str = "cos", div_factor: float = 25.0,
              final_div_factor: float = 1e4, three_phase: bool = False) -> Schedule:
    r"""The 1cycle policy (torch ``OneCycleLR``).

    Two phases (default): anneal from ``max_lr / div_factor`` up to ``max_lr`` over the
    first ``pct_start`` of the steps, then down to ``max_lr / div_factor / final_div_factor``.
    Three phases: up, back down to the initial value symmetrically, then down to the
    minimum. Phase ``i`` runs from step :math:`e_{i-1}` to :math:`e_i`
    (:math:`e_0 = \text{pct\_start} \cdot T - 1`, ..., :math:`e_{last} = T - 1`) and

    .. math:: \eta_t = \text{anneal}(a_i, b_i, \tfrac{t - e_{i-1}}{e_i - e_{i-1}}),\quad
              \text{anneal}_{cos}(a, b, p) = b + \tfrac{a - b}{2}(1 + \cos \pi p),\;
              \text{anneal}_{linear}(a, b, p) = a + (b - a) p

    torch raises when stepped past ``total_steps``; this schedule returns its
    ``total_steps`` value for every later step. The matching momentum (or Adam beta1)
    schedule is ``one_cycle_momentum``.

    Args:
      max_lr: the peak value.
      total_steps: the length of the cycle, an integer >= 1.
      pct_start: the fraction of steps spent rising, in (0, 1).
      anneal_strategy: ``'cos'`` or ``'linear'``.
      div_factor: initial value = ``max_lr / div_factor``.
      final_div_factor: final value = initial value / ``final_div_factor``.
      three_phase: use the three-phase variant of the original paper.

    Returns:
      ``schedule(step) -> value``.

    Example:
      >>> from nnfunc import schedules
      >>> sched = schedules.one_cycle(max_lr=1.0, total_steps=11, pct_start=0.5,
      ...                             anneal_strategy='linear', div_factor=10.0)
      >>> [round(float(sched(t)), 4) for t in (0, 2, 4, 10)]
      [0.1, 0.5, 0.9, 0.0]
    """
    check_real("max_lr", max_lr, low=0.0)
    check_real("div_factor", div_factor, low=0.0, low_open=True)
    check_real("final_div_factor", final_div_factor, low=0.0, low_open=True)
    initial_lr = max_lr / div_factor
    min_lr = initial_lr / final_div_factor
    for name, value in (("div_factor", initial_lr), ("final_div_factor", min_lr)):
        if not is_traced(value) and not np.isfinite(np.float32(value)):
            raise ValueError(f"{name} is so small that the learning rate it gives "
                             f"({value!r}) overflows float32; use a larger {name}")
    return _one_cycle(total_steps, pct_start, anneal_strategy, three_phase,
                      initial_lr, max_lr, min_lr)


def one_cycle_momentum(total_steps: int, pct_start: float = 0.3, anneal_strategy: str = "cos",
                       base_momentum: float = 0.85, max_momentum: float = 0.95,
                       three_phase: bool = False) -> Schedule:
    r"""The momentum (or beta1) schedule that torch's ``OneCycleLR`` applies with
    ``cycle_momentum=True``: inverse to ``one_cycle``'s learning rate.

    Two phases: ``max_momentum -> base_momentum -> max_momentum``; three phases:
    ``max -> base -> max``, then held at ``max_momentum``; same phase ends and annealing as
    ``one_cycle``. Pass the same ``total_steps``, ``pct_start``, ``anneal_strategy`` and
    ``three_phase`` as to ``one_cycle``.

    .. math:: m_t = \text{anneal}(a_i, b_i, \tfrac{t - e_{i-1}}{e_i - e_{i-1}})

    Args:
      total_steps, pct_start, anneal_strategy, three_phase: as in ``one_cycle``.
      base_momentum: the momentum at the learning-rate peak.
      max_momentum: the momentum at the start (and end).

    Returns:
      ``schedule(step) -> momentum``.

    Example:
      >>> from nnfunc import schedules
      >>> mom = schedules.one_cycle_momentum(total_steps=11, pct_start=0.5)
      >>> [round(float(mom(t)), 4) for t in (0, 4, 10)]
      [0.95, 0.85, 0.95]
    """
    check_real("base_momentum", base_momentum, low=0.0)
    check_real("max_momentum", max_momentum, low=0.0)
    return _one_cycle(total_steps, pct_start, anneal_strategy, three_phase,
                      max_momentum, base_momentum, max_momentum)
