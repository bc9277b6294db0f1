"""``reduce_on_plateau``: torch's ``ReduceLROnPlateau`` as a small, jit-able state machine.

Unlike the other schedules this one depends on observed metrics, so it is a pair of pure
functions over an explicit state instead of a function of the step.
"""
from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nnfunc._checks import check_choice, check_int, check_real, is_traced
from nnfunc.schedules._base import float_dtype

__all__ = ["PlateauState", "Plateau", "reduce_on_plateau"]


class PlateauState(NamedTuple):
    """The state of ``reduce_on_plateau``: a pytree of arrays, safe to carry through
    ``jit``, ``scan`` and checkpoints.

    Attributes:
      lr: the current learning rate (a scalar, or an array with one entry per parameter
        group, as torch's param groups).
      best: the best metric seen so far (starts at +inf in ``'min'`` mode, -inf in
        ``'max'``).
      num_bad_epochs: updates since the last improvement (reset in cooldown and after a
        reduction).
      cooldown_counter: updates of cooldown left.
    """

    lr: jax.Array
    best: jax.Array
    num_bad_epochs: jax.Array
    cooldown_counter: jax.Array


class Plateau(NamedTuple):
    """The pair ``(init, update)`` returned by ``reduce_on_plateau``.

    ``init(lr) -> PlateauState`` starts the machine at learning rate ``lr``;
    ``update(state, metric) -> PlateauState`` feeds one observed metric (typically once per
    epoch) and returns the next state, whose ``.lr`` is the learning rate to use next.
    Both are pure and jit-able.
    """

    init: Callable[[Any], PlateauState]
    update: Callable[[PlateauState, Any], PlateauState]


def reduce_on_plateau(mode: str = "min", factor: float = 0.1, patience: int = 10,
                      threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                      min_lr: Any = 0.0, eps: float = 1e-8) -> Plateau:
    r"""Reduce the learning rate when a metric stops improving (torch ``ReduceLROnPlateau``).

    Each ``update(state, metric)`` applies torch's rules, in torch's order:

    * the metric improves when ``metric < best * (1 - threshold)`` (``'min'``, ``'rel'``),
      ``metric < best - threshold`` (``'min'``, ``'abs'``), ``metric > best * (1 +
      threshold)`` (``'max'``, ``'rel'``) or ``metric > best + threshold`` (``'max'``,
      ``'abs'``); then ``best = metric`` and the bad count resets, else it grows by one
      (a NaN metric never improves);
    * during cooldown the counter ticks down and bad updates are not counted;
    * when the bad count exceeds ``patience``:
      :math:`\eta \leftarrow \max(\eta \cdot \text{factor}, \eta_{min})`, skipped (per
      entry) if it would lower :math:`\eta` by ``eps`` or less; cooldown restarts at
      ``cooldown`` and the bad count resets.

    Every branch is a ``jnp.where``, so ``update`` runs under ``jit``, ``scan`` and
    ``vmap`` with a traced metric.

    Driving an optimizer: keep the plateau state next to the optimizer state and copy
    its learning rate in after each update, without recompiling::

        opt = nf.optim.adam(learning_rate=1e-3)
        p_state = plateau.init(1e-3)
        for epoch in range(epochs):
            ...train, evaluate val_loss...
            p_state = plateau.update(p_state, val_loss)
            opt_state = nf.optim.set_hparams(opt_state, learning_rate=p_state.lr)

    With a scheduled learning rate (``learning_rate=sched``), the optimizer multiplies
    the schedule by its ``lr_scale`` hyperparameter (effective rate ``sched(count) *
    lr_scale``), so pass the plateau's reduction as a ratio to its initial value::

        opt = nf.optim.sgd(learning_rate=nf.schedules.cosine_annealing(0.1, T_max=100))
        initial_lr = 0.1
        p_state = plateau.init(initial_lr)
        ...
        p_state = plateau.update(p_state, val_loss)
        opt_state = nf.optim.set_hparams(opt_state, lr_scale=p_state.lr / initial_lr)

    ``min_lr`` and ``eps`` then bound the plateau's own value ``p_state.lr``, not the
    product with the schedule.

    Args:
      mode: ``'min'`` (lower is better) or ``'max'``.
      factor: the reduction factor, in [0, 1).
      patience: bad updates tolerated before reducing, an integer >= 0.
      threshold: the improvement margin, >= 0.
      threshold_mode: ``'rel'`` or ``'abs'``.
      cooldown: updates to wait after a reduction, an integer >= 0.
      min_lr: the floor, >= 0: a number, or one number per entry of the learning rate.
      eps: the smallest reduction applied, >= 0.

    Returns:
      A ``Plateau(init, update)``.

    Example:
      >>> import jax
      >>> from nnfunc import schedules
      >>> plateau = schedules.reduce_on_plateau(factor=0.5, patience=1)
      >>> update = jax.jit(plateau.update)
      >>> p_state = plateau.init(0.1)
      >>> for val_loss in [1.0, 0.9, 0.95, 0.95, 0.95]:
      ...     p_state = update(p_state, val_loss)
      >>> print(round(float(p_state.lr), 6), int(p_state.num_bad_epochs))
      0.05 1

      Combined with a schedule, the effective rate is the schedule times the plateau
      scale (what ``lr_scale`` does inside the optimizer):

      >>> sched = schedules.cosine_annealing(0.1, T_max=100)
      >>> scale = plateau.init(1.0)
      >>> for val_loss in [1.0, 2.0, 2.0]:
      ...     scale = update(scale, val_loss)
      >>> print(round(float(sched(0) * scale.lr), 6))
      0.05
    """
    check_choice("mode", mode, ("min", "max"))
    check_real("factor", factor, low=0.0, high=1.0, high_open=True)
    check_int("patience", patience, minimum=0)
    check_real("threshold", threshold, low=0.0)
    check_choice("threshold_mode", threshold_mode, ("rel", "abs"))
    check_int("cooldown", cooldown, minimum=0)
    check_real("eps", eps, low=0.0)
    if not is_traced(min_lr):
        try:
            if isinstance(min_lr, (str, bytes)):     # np.asarray('0.1', float) reads it
                raise TypeError
            floors = np.asarray(min_lr, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"min_lr must be a number or a sequence of numbers >= 0, "
                             f"got {min_lr!r}") from None
        if not (np.all(np.isfinite(floors)) and np.all(floors >= 0)):
            raise ValueError(f"min_lr must be >= 0 and finite, got {min_lr!r}")
        min_lr = floors.tolist()
    worst = math.inf if mode == "min" else -math.inf

    def is_better(a, best):
        if mode == "min" and threshold_mode == "rel":
            return a < best * (1.0 - threshold)
        if mode == "min":
            return a < best - threshold
        if threshold_mode == "rel":
            return a > best * (threshold + 1.0)
        return a > best + threshold

    def init(lr: Any) -> PlateauState:
        dtype = float_dtype()
        return PlateauState(lr=jnp.asarray(lr, dtype), best=jnp.asarray(worst, dtype),
                            num_bad_epochs=jnp.asarray(0, jnp.int32),
                            cooldown_counter=jnp.asarray(0, jnp.int32))

    def update(state: PlateauState, metric: Any) -> PlateauState:
        if jnp.ndim(metric) != 0:
            raise ValueError(f"metric must be a scalar, got shape {jnp.shape(metric)}")
        current = jnp.asarray(metric, state.best.dtype)
        better = is_better(current, state.best)
        best = jnp.where(better, current, state.best)
        bad = jnp.where(better, 0, state.num_bad_epochs + 1)
        in_cooldown = state.cooldown_counter > 0
        counter = jnp.where(in_cooldown, state.cooldown_counter - 1, state.cooldown_counter)
        bad = jnp.where(in_cooldown, 0, bad)
        reduce = bad > patience
        lr = state.lr
        new_lr = jnp.maximum(lr * factor, jnp.asarray(min_lr, lr.dtype))
        lr = jnp.where(reduce & (lr - new_lr > eps), new_lr, lr)
        counter = jnp.where(reduce, cooldown, counter)
        bad = jnp.where(reduce, 0, bad)
        return PlateauState(lr=lr, best=best, num_bad_epochs=bad.astype(jnp.int32),
                            cooldown_counter=counter.astype(jnp.int32))

    return Plateau(init, update)
