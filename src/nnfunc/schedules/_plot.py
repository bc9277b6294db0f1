"""``plot``: draw a schedule with matplotlib (for notebooks).

``nnfunc.plot.schedule`` draws with the same :func:`draw` (and returns the ``Figure``
instead of the ``Axes``); matplotlib is imported only when a function runs, and this
module never imports ``nnfunc.plot`` (``plot`` depends on ``schedules``, not the reverse).
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nnfunc._mpl import pyplot
from nnfunc.schedules._base import Schedule

__all__ = ["plot"]


def plot(schedule: Schedule, steps: Any, ax: Any = None, **kwargs: Any) -> Any:
    r"""Plot :math:`t \mapsto \text{schedule}(t)` over ``steps`` with matplotlib.

    The schedule is evaluated once for all steps with ``jax.jit(jax.vmap(schedule))``.
    matplotlib is imported only here; without it this raises ``ImportError``.
    ``nf.plot.schedule`` is the same drawing, returning the ``Figure`` and also taking
    ``{label: schedule}`` to overlay several; this one returns the ``Axes``.

    Args:
      schedule: the schedule to draw.
      steps: an integer ``n`` (steps ``0 .. n-1``) or a 1-D sequence of integer steps.
      ax: the matplotlib ``Axes`` to draw on (default: a new pyplot figure's axes).
      **kwargs: passed to ``ax.plot`` (e.g. ``label=``, ``color=``).

    Returns:
      The ``Axes`` drawn on.

    Example:
      >>> from matplotlib.figure import Figure
      >>> from nnfunc import schedules
      >>> ax = Figure().add_subplot()
      >>> ax = schedules.plot(schedules.one_cycle(0.1, total_steps=100), 100, ax=ax)
      >>> len(ax.lines[0].get_xdata())
      100
    """
    plt = pyplot("nnfunc.schedules.plot")
    xs, values = schedule_values(schedule, steps)
    if ax is None:
        _, ax = plt.subplots()
    return draw(ax, xs, values, **kwargs)


def schedule_values(schedule: Schedule, steps: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``schedule`` and ``steps``; the steps and the schedule's values there."""
    if not callable(schedule):
        raise ValueError(f"schedule must be callable, got {schedule!r}")
    if np.ndim(steps) == 0:
        n = int(steps)
        if n < 1:
            raise ValueError(f"steps must be >= 1 or a sequence of steps, got {steps!r}")
        xs = np.arange(n)
    else:
        xs = np.asarray(steps)
        if xs.ndim != 1 or not np.issubdtype(xs.dtype, np.integer):
            raise ValueError(f"steps must be an integer or a 1-D sequence of integers, "
                             f"got {steps!r}")
    return xs, np.asarray(jax.jit(jax.vmap(schedule))(jnp.asarray(xs)))


def draw(ax: Any, xs: np.ndarray, values: np.ndarray, **kwargs: Any) -> Any:
    """One schedule's curve on ``ax``, with the axis labels; returns ``ax``."""
    ax.plot(xs, values, **kwargs)
    ax.set_xlabel("step")
    ax.set_ylabel("value")
    return ax
