"""Decay schedules with torch counterparts: step, multistep, exponential, lambda, constant
factor, linear and polynomial (plus Keras-style time-based decay).

torch implements most of these recursively (``lr <- lr * ratio`` at every ``step()``);
here each is its closed form in the step, which equals torch's recursion up to rounding
(checked to a relative error below 1e-10 over hundreds of steps in the tests).
"""
from __future__ import annotations

from typing import Callable, Sequence

import jax.numpy as jnp

from nnfunc._checks import check_int, check_real
from nnfunc.schedules._base import Schedule, check_milestones, count_reached, as_steps

__all__ = ["step_decay", "multistep_decay", "exponential_decay", "time_based_decay",
           "lambda_schedule", "constant_factor", "linear", "polynomial"]


def step_decay(init_value: float, step_size: int, gamma: float = 0.1) -> Schedule:
    r"""Decay by ``gamma`` every ``step_size`` steps (torch ``StepLR``).

    .. math:: \eta_t = \eta_0 \, \gamma^{\lfloor t / \text{step\_size} \rfloor}

    Args:
      init_value: the initial value :math:`\eta_0`.
      step_size: the period of the decay, an integer >= 1.
      gamma: the multiplicative decay factor, in [0, 1].

    Returns:
      ``schedule(step) -> value``.

    Example:
      >>> from nnfunc import schedules
      >>> sched = schedules.step_decay(1.0, step_size=10, gamma=0.5)
      >>> [float(sched(t)) for t in (0, 9, 10, 25)]
      [1.0, 1.0, 0.5, 0.25]
    """
    check_real("init_value", init_value, low=0.0)
    check_int("step_size", step_size, minimum=1)
    check_real("gamma", gamma, low=0.0, high=1.0)

    def schedule(step):
        k, t = as_steps(step)
        return init_value * jnp.power(gamma, (k // step_size).astype(t.dtype))

    return schedule


def multistep_decay(init_value: float, milestones: Sequence[int], gamma: float = 0.1) -> Schedule:
    r"""Decay by ``gamma`` at every milestone (torch ``MultiStepLR``).

    A milestone listed ``n`` times decays by ``gamma**n`` there, as in torch.

    .. math:: \eta_t = \eta_0 \, \gamma^{\#\{i : m_i \le t\}}

    Args:
      init_value: the initial value :math:`\eta_0`.
      milestones: non-decreasing integer steps >= 0 :math:`m_i`.
      gamma: the multiplicative decay factor, in [0, 1].

    Returns:
      ``schedule(step) -> value``.

    Example:
      >>> from nnfunc import schedules
      >>> sched = schedules.multistep_decay(1.0, milestones=[3, 5, 5], gamma=0.5)
      >>> [float(sched(t)) for t in (0, 3, 4, 5)]
      [1.0, 0.5, 0.5, 0.125]
    """
    check_real("init_value", init_value, low=0.0)
    ms = check_milestones("milestones", milestones)
    check_real("gamma", gamma, low=0.0, high=1.0)

    def schedule(step):
        k, t = as_steps(step)
        return init_value * jnp.power(gamma, count_reached(k, ms).astype(t.dtype))

    return schedule


def exponential_decay(init_value: float, gamma: float) -> Schedule:
    r"""Decay by ``gamma`` every step (torch ``ExponentialLR``).

    .. math:: \eta_t = \eta_0 \, \gamma^t

    Args:
      init_value: the initial value :math:`\eta_0`.
      gamma: the multiplicative factor per step, in [0, 1] (a decay: a larger factor
        overflows to inf within a few hundred steps; for a growing rate, an LR range
        test, write ``lambda_schedule(init_value, lambda t: g ** jnp.minimum(t, T))``).

    Returns:
      ``schedule(step) -> value``.

    Example:
      >>> from nnfunc import schedules
      >>> sched = schedules.exponential_decay(1.0, gamma=0.5)
      >>> [float(sched(t)) for t in (0, 1, 3)]
      [1.0, 0.5, 0.125]
    """
    check_real("init_value", init_value, low=0.0)
    check_real("gamma", gamma, low=0.0, high=1.0)

    def schedule(step):
        _, t = as_steps(step)
        return init_value * jnp.power(gamma, t)

    return schedule


def time_based_decay(init_value: float, decay_rate: float) -> Schedule:
    r"""Keras-style time-based decay (torch has no counterpart; ``LambdaLR`` can express it).

    .. math:: \eta_t = \frac{\eta_0}{1 + \text{decay\_rate} \cdot t}

    Args:
      init_value: the initial value :math:`\eta_0`.
      decay_rate: the decay rate, >= 0.

    Returns:
      ``schedule(step) -> value``.

    Example:
      >>> from nnfunc import schedules
      >>> sched = schedules.time_based_decay(1.0, decay_rate=0.5)
      >>> [float(sched(t)) for t in (0, 2, 6)]
      [1.0, 0.5, 0.25]
    """
    check_real("init_value", init_value, low=0.0)
    check_real("decay_rate", decay_rate, low=0.0)

    def schedule(step):
        _, t = as_steps(step)
        return init_value / (1.0 + decay_rate * t)

    return schedule


def lambda_schedule(init_value: float, fn: Callable) -> Schedule:
    r"""``init_value`` times a user factor ``fn(step)`` (torch ``LambdaLR``).

    ``fn`` receives the integer step array and must be written with ``jax.numpy`` (or
    plain arithmetic) so that it works on traced steps.

    .. math:: \eta_t = \eta_0 \, f(t)

    Args:
      init_value: the initial value :math:`\eta_0`.
      fn: the multiplicative factor as a function of the step.

    Returns:
      ``schedule(step) -> value``.

    Example:
      >>> from nnfunc import schedules
      >>> sched = schedules.lambda_schedule(2.0, lambda t: 0.5 ** t)
      >>> [float(sched(t)) for t in (0, 1, 2)]
      [2.0, 1.0, 0.5]
    """
    check_real("init_value", init_value, low=0.0)
    if not callable(fn):
        raise ValueError(f"fn must be callable, got {fn!r}")

    def schedule(step):
        k, t = as_steps(step)
        return (init_value * jnp.asarray(fn(k))).astype(t.dtype)

    return schedule


def constant_factor(init_value: float, factor: float = 1.0 / 3, total_iters: int = 5) -> Schedule:
    r"""``init_value * factor`` for the first ``total_iters`` steps, then ``init_value``
    (torch ``ConstantLR``).

    .. math:: \eta_t = \eta_0 \cdot (\text{factor if } t < \text{total\_iters}
              \text{ else } 1)

    ``total_iters=0`` means no scaling at all (torch's closed form; its recursive form
    would keep ``factor`` forever in that corner case).

    Args:
      init_value: the initial value :math:`\eta_0`.
      factor: the scale in [0, 1] used before ``total_iters``.
      total_iters: how many steps are scaled, an integer >= 0.

    Returns:
      ``schedule(step) -> value``.

    Example:
      >>> from nnfunc import schedules
      >>> sched = schedules.constant_factor(1.0, factor=0.5, total_iters=2)
      >>> [float(sched(t)) for t in (0, 1, 2, 3)]
      [0.5, 0.5, 1.0, 1.0]
    """
    check_real("init_value", init_value, low=0.0)
    check_real("factor", factor, low=0.0, high=1.0)
    check_int("total_iters", total_iters, minimum=0)

    def schedule(step):
        k, t = as_steps(step)
        return init_value * jnp.where(k < total_iters, jnp.asarray(factor, t.dtype), 1.0)

    return schedule


def linear(init_value: float, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
           total_iters: int = 5) -> Schedule:
    r"""Scale linearly from ``start_factor`` to ``end_factor`` over ``total_iters`` steps,
    then hold (torch ``LinearLR``).

    .. math:: \eta_t = \eta_0 \left(s + (e - s)\,
              \frac{\min(t, \text{total\_iters})}{\text{total\_iters}}\right)

    Args:
      init_value: the initial value :math:`\eta_0`.
      start_factor: :math:`s`, in (0, 1] as in torch.
      end_factor: :math:`e`, in [0, 1] as in torch.
      total_iters: the length of the ramp, an integer >= 1.

    Returns:
      ``schedule(step) -> value``.

    Example:
      >>> from nnfunc import schedules
      >>> sched = schedules.linear(1.0, start_factor=0.5, end_factor=1.0, total_iters=2)
      >>> [float(sched(t)) for t in (0, 1, 2, 9)]
      [0.5, 0.75, 1.0, 1.0]
    """
    check_real("init_value", init_value, low=0.0)
    check_real("start_factor", start_factor, low=0.0, high=1.0, low_open=True)
    check_real("end_factor", end_factor, low=0.0, high=1.0)
    check_int("total_iters", total_iters, minimum=1)

    def schedule(step):
        k, t = as_steps(step)
        frac = jnp.minimum(t, total_iters) / total_iters
        ramp = start_factor + (end_factor - start_factor) * frac
        # XLA may divide by multiplying with a reciprocal; pin the end value exactly.
        return init_value * jnp.where(k >= total_iters, jnp.asarray(end_factor, t.dtype), ramp)

    return schedule


def polynomial(init_value: float, total_iters: int = 5, power: float = 1.0) -> Schedule:
    r"""Polynomial decay to 0 over ``total_iters`` steps, then hold 0 (torch ``PolynomialLR``).

    .. math:: \eta_t = \eta_0 \left(1 - \frac{\min(t, \text{total\_iters})}
              {\text{total\_iters}}\right)^{\text{power}}

    Args:
      init_value: the initial value :math:`\eta_0`.
      total_iters: the length of the decay, an integer >= 1.
      power: the exponent, >= 0.

    Returns:
      ``schedule(step) -> value``.

    Example:
      >>> from nnfunc import schedules
      >>> sched = schedules.polynomial(1.0, total_iters=4, power=2.0)
      >>> [float(sched(t)) for t in (0, 2, 4, 8)]
      [1.0, 0.25, 0.0, 0.0]
    """
    check_real("init_value", init_value, low=0.0)
    check_int("total_iters", total_iters, minimum=1)
    check_real("power", power, low=0.0)

    def schedule(step):
        _, t = as_steps(step)
        # (T - min(t, T)) / T rather than 1 - t / T: an exact 0 at T even when XLA
        # divides by multiplying with a reciprocal (a negative base would give NaN).
        return init_value * jnp.power((total_iters - jnp.minimum(t, total_iters)) / total_iters,
                                      power)

    return schedule
