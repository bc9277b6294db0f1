"""Training figures: the curves of a history (:func:`history`, also what
``nf.train.LivePlot`` redraws) and learning-rate schedules (:func:`schedule`).

A training result is read by its fields, not its type, so this module imports nothing
from ``nnfunc.train`` (whose ``LivePlot`` callback calls :func:`history`): a result of
``nf.train.fit`` is any object with a ``history`` mapping; one of ``nf.train.sweep`` also
has ``hparams``, ``seeds`` and ``diverged`` (the run axis).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np

from nnfunc.plot._base import Axes, Figure, panels

__all__ = ["history", "schedule"]

# a history dict, a FitResult or SweepResult (read by their fields), or a list or dict of those
History = Union[Mapping[str, Any], Sequence[Any], Any]

_DEFAULT_METRICS = ("loss", "accuracy")
_SWEEP_FIELDS = ("hparams", "seeds", "diverged")


# ------------------------------------------------------------------------------ history

def _is_result(h: Any) -> bool:
    """A training result (``FitResult`` or ``SweepResult``): a ``history`` mapping field."""
    return not isinstance(h, Mapping) and isinstance(getattr(h, "history", None), Mapping)


def _is_sweep(h: Any) -> bool:
    """A ``SweepResult``: a result with a run axis (``hparams``, ``seeds``, ``diverged``)."""
    return _is_result(h) and all(hasattr(h, f) for f in _SWEEP_FIELDS)


def _sweep_label(sweep: Any, i: int) -> str:
    parts = [f"{k}={float(v[i]):g}" for k, v in sweep.hparams.items()]
    if sweep.seeds is not None:
        parts.append(f"seed={int(sweep.seeds[i])}")
    return ", ".join(parts) or f"run {i}"


def _history_dict(h: Mapping[str, Any], label: Optional[str]) -> list:
    arrays = {}
    for k, v in h.items():
        try:
            a = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"history[{k!r}] must be per-epoch numbers, got {v!r}") from None
        if a.ndim not in (1, 2):
            raise ValueError(f"history[{k!r}] must be 1-D (epochs,) or 2-D (runs, epochs), "
                             f"got shape {a.shape}")
        arrays[k] = a
    runs = {a.shape[0] for a in arrays.values() if a.ndim == 2}
    if not runs:
        return [(label, arrays)]
    if len(runs) > 1 or any(a.ndim == 1 for a in arrays.values()):
        raise ValueError(f"history arrays must all be (epochs,) or all (runs, epochs) with "
                         f"the same runs, got shapes { {k: a.shape for k, a in arrays.items()} }")
    prefix = f"{label}: " if label else ""
    return [(f"{prefix}run {i}", {k: a[i] for k, a in arrays.items()})
            for i in range(runs.pop())]


def _runs(h: Any, label: Optional[str] = None) -> list:
    """``h`` as a list of ``(label or None, {name: 1-D float array})``, one per run."""
    if _is_sweep(h):
        prefix = f"{label}: " if label else ""
        hist = {k: np.asarray(v, dtype=np.float64) for k, v in h.history.items()}
        return [(prefix + _sweep_label(h, i), {k: v[i] for k, v in hist.items()})
                for i in range(len(h.diverged))]
    if _is_result(h):
        return _runs(h.history, label)
    if isinstance(h, Mapping):
        if h and all(isinstance(v, Mapping) or _is_result(v) for v in h.values()):
            return [r for k, v in h.items() for r in _runs(v, str(k))]
        return _history_dict(h, label)
    if isinstance(h, (list, tuple)):
        runs = [r for v in h for r in _runs(v)]
        return [(lab if lab is not None else f"run {i}", d) for i, (lab, d) in enumerate(runs)]
    raise ValueError(f"history must be a history dict {{name: [per-epoch values]}}, a "
                     f"FitResult, a SweepResult, or a list or dict of those; got "
                     f"{type(h).__name__}")


def _metrics(runs: list, metrics: Any) -> list[str]:
    """The metrics to draw: all given ones (each must be in some run), or, for the
    default, those present."""
    default = metrics is _DEFAULT_METRICS
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    if not names or not all(isinstance(m, str) for m in names):
        raise ValueError(f"metrics must be a non-empty sequence of history names, got "
                         f"{metrics!r}")
    keys = {k for _, h in runs for k, v in h.items() if v.size}
    present = [m for m in names if m in keys or "eval_" + m in keys]
    missing = [m for m in names if m not in present]
    if (missing and not default) or not present:
        available = sorted({k[5:] if k.startswith("eval_") else k for k in keys})
        raise ValueError(f"metrics {missing} are in no history; available: {available}")
    return present


def _draw_metric(ax: Any, runs: list, metric: str) -> None:
    from matplotlib.ticker import MaxNLocator
    for i, (label, h) in enumerate(runs):
        for key, style, name in ((metric, "-", label or "train"),
                                 ("eval_" + metric, "--",
                                  f"{label} (eval)" if label else "eval")):
            if key in h and h[key].size:
                y = h[key]
                ax.plot(np.arange(1, y.size + 1), y, style, color=f"C{i % 10}", label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(metric)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(ax.lines) > 1:
        ax.legend(fontsize="small")


def history(history: History, metrics: Sequence[str] = _DEFAULT_METRICS, *,
            labels: Optional[Sequence[str]] = None, ax: Axes = None) -> Figure:
    """Training and evaluation curves against the epoch, one panel per metric.

    For each metric ``m`` a panel shows ``m`` (solid) and ``eval_m`` (dashed, same colour)
    of every run where present, against the 1-based epoch. Several runs are overlaid,
    one colour each: a list or dict of histories (dict keys label the runs, e.g. one per
    optimizer), or a ``SweepResult`` (one line per run, labelled from its ``hparams`` and
    ``seeds``). A metric present in some runs only is drawn where present.

    Args:
      history: a history dict ``{name: [one float per epoch]}`` (``fit(...).history``), a
        ``FitResult``, a ``SweepResult`` (arrays ``(runs, epochs)``), or a list or dict of
        those.
      metrics: the names to draw, one panel each (default: ``loss``, and ``accuracy``
        where recorded). A name given explicitly must be in some history.
      labels: one label per run, replacing the default ones.
      ax: an Axes, or a sequence of one Axes per metric drawn.

    Returns:
      The ``Figure``.

    Raises:
      ValueError: for an empty history, or metrics in no history (the message lists the
        available ones).

    Example:
      >>> import nnfunc as nf
      >>> h = {'loss': [1.0, 0.5, 0.3], 'eval_loss': [1.1, 0.7, 0.6]}
      >>> fig = nf.plot.history(h)
      >>> [line.get_label() for line in fig.axes[0].lines]
      ['train', 'eval']
      >>> fig.axes[0].lines[1].get_ydata().tolist()
      [1.1, 0.7, 0.6]
    """
    runs = _runs(history)
    if not any(v.size for _, h in runs for v in h.values()):
        raise ValueError("history is empty: no epochs recorded")
    if labels is not None:
        labels = [labels] if isinstance(labels, str) else list(labels)
        if len(labels) != len(runs):
            raise ValueError(f"labels must give one label per run ({len(runs)}), got "
                             f"{labels!r}")
        runs = [(str(lab), h) for lab, (_, h) in zip(labels, runs)]
    names = _metrics(runs, metrics)
    axes = panels(ax, len(names), "history", figsize=(4.5 * len(names), 3.5))
    for axis, m in zip(axes, names):
        _draw_metric(axis, runs, m)
    return axes[0].figure


# ----------------------------------------------------------------------------- schedule

def _schedule_values(schedule: Callable, steps: Any) -> tuple[np.ndarray, np.ndarray]:
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


def _draw_schedule(ax: Any, xs: np.ndarray, values: np.ndarray, **kwargs: Any) -> Any:
    """One schedule's curve on ``ax``, with the axis labels; returns ``ax``."""
    ax.plot(xs, values, **kwargs)
    ax.set_xlabel("step")
    ax.set_ylabel("value")
    return ax


def schedule(schedule: Union[Callable, Mapping[str, Callable]], steps: Any, *,
             ax: Axes = None, **kwargs: Any) -> Figure:
    r"""Plot :math:`t \mapsto \text{schedule}(t)` over ``steps``; several overlaid.

    The schedule is evaluated for all steps at once with ``jax.jit(jax.vmap(schedule))``;
    the x axis is the step, the y axis the value.

    Args:
      schedule: a schedule ``step -> value``, or ``{label: schedule}`` to overlay several
        with a legend.
      steps: an integer ``n`` (steps ``0 .. n-1``) or a 1-D sequence of integer steps.
      ax: the Axes to draw on.
      **kwargs: passed to ``Axes.plot`` (e.g. ``color=``, or ``label=`` for one schedule).

    Returns:
      The ``Figure``.

    Example:
      >>> import nnfunc as nf
      >>> fig = nf.plot.schedule({'cosine': nf.schedules.cosine_annealing(0.1, 50),
      ...                         'step': nf.schedules.step_decay(0.1, 20)}, 50)
      >>> [line.get_label() for line in fig.axes[0].lines]
      ['cosine', 'step']
    """
    several = isinstance(schedule, Mapping)
    if several and (not schedule or "label" in kwargs):
        raise ValueError(f"schedule must be a schedule or a non-empty dict {{label: "
                         f"schedule}} (whose keys are the labels: no label=), got "
                         f"{schedule!r}")
    scheds = schedule if several else {None: schedule}
    values = {lab: _schedule_values(s, steps) for lab, s in scheds.items()}
    (axis,) = panels(ax, 1, "schedule")
    for lab, (xs, v) in values.items():
        _draw_schedule(axis, xs, v, **({"label": str(lab)} if several else {}), **kwargs)
    if several:
        axis.legend()
    return axis.figure
