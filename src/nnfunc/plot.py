"""Figures for notebooks: training curves, schedules, optimizer paths on 2-D functions,
image grids, decision boundaries, confusion matrices, activation statistics and word
embeddings.

matplotlib is imported only when a function runs (``import nnfunc`` never imports it);
without it the functions raise ``ImportError`` naming ``pip install "nnfunc[notebooks]"``.
Every function returns the matplotlib ``Figure`` and takes ``ax=``: an ``Axes`` to draw
into (or, for the functions that draw several panels, a sequence of them, e.g. the array
``plt.subplots`` returns) instead of making a new figure.

Figures, Jupyter and scripts: without ``ax=`` a function makes a new *pyplot* figure
(``plt.subplots``), so Jupyter's inline backend shows it at the end of the cell (also
when the call is not the cell's last line) and ``plt.show()`` shows it in a script. As
the Figure is also returned, a call that is the cell's last expression would be shown a
second time by IPython: end that line with ``;`` or assign the result
(``fig = nf.plot.history(result)``). The inline backend closes its figures once shown;
elsewhere pyplot keeps each figure alive until ``plt.close(fig)`` (or
``plt.close('all')``; it warns beyond 20 open figures). Passing ``ax=`` from a figure you
made (``matplotlib.figure.Figure().subplots()``) avoids pyplot altogether.

The classic test functions of optimization (``rosenbrock``, ``beale``, ``saddle``,
``monkey_saddle``) and the numbers behind two of the figures (``optimizer_trajectories``,
``confusion_counts``) are public too.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from nnfunc._checks import check_int
from nnfunc._mpl import pyplot
from nnfunc.layers._base import Layer
from nnfunc.layers.diagnostics import activation_stats as _layer_stats
from nnfunc.optim import Optimizer, apply_updates
from nnfunc.schedules._plot import draw as _draw_schedule
from nnfunc.schedules._plot import schedule_values as _schedule_values
from nnfunc.train.fit import FitResult
from nnfunc.train.sweep import SweepResult
from nnfunc.text.vectors import KeyedVectors

__all__ = ["history", "schedule", "optimizer_paths", "optimizer_trajectories",
           "rosenbrock", "beale", "saddle", "monkey_saddle", "images", "decision_boundary",
           "confusion_matrix", "confusion_counts", "activation_stats", "embedding_2d"]

Figure = Any          # matplotlib.figure.Figure (matplotlib is imported lazily)
Axes = Any            # a matplotlib Axes, or a sequence of them where there are panels
History = Union[Mapping[str, Any], FitResult, SweepResult, Sequence[Any]]

_DEFAULT_METRICS = ("loss", "accuracy")
_GRID = 200           # points per side of the optimizer_paths contour grid
_MAX_ANNOTATED = 30   # confusion matrices up to this many classes get numbers in the cells


# ------------------------------------------------------------------------------ helpers

def _is_axes(ax: Any) -> bool:
    return hasattr(ax, "plot") and hasattr(ax, "figure")


def _axes(ax: Any, n: int, who: str, *, grid: Optional[tuple[int, int]] = None,
          figsize: tuple[float, float] = (5.0, 3.5), at_least: bool = False) -> list:
    """``n`` Axes: new pyplot ones on a ``grid`` (default one row), or those of ``ax``."""
    if ax is None:
        nrows, ncols = grid or (1, n)
        _, axes = pyplot(f"nnfunc.plot.{who}").subplots(
            nrows, ncols, figsize=figsize, squeeze=False, layout="constrained")
        return list(axes.ravel())
    axes = [ax] if _is_axes(ax) else list(np.ravel(np.asarray(ax, dtype=object)))
    if not all(_is_axes(a) for a in axes) or (len(axes) < n if at_least else len(axes) != n):
        want = ("an Axes" if n == 1 else f"a sequence of {n} Axes") + (
            " or more" if at_least else "") + " (one per panel)"
        raise ValueError(f"ax must be {want} for nnfunc.plot.{who}, got {ax!r}")
    return axes


def _integers(name: str, value: Any) -> np.ndarray:
    """A 1-D array of non-negative integers (integral floats and bools accepted)."""
    a = np.asarray(value)
    if a.ndim != 1 or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise ValueError(f"{name} must be a 1-D sequence of class labels, got shape "
                         f"{a.shape} and dtype {a.dtype}")
    if a.size and (not np.all(np.isfinite(a)) or np.any(a != np.round(a)) or np.any(a < 0)):
        raise ValueError(f"{name} must hold integer class labels >= 0, got {a[:10]!r}...")
    return a.astype(np.int64)


def _class_colors(n: int) -> Any:
    """A colormap with one colour per class (matplotlib's C0, C1, ... cycle)."""
    from matplotlib.colors import ListedColormap
    import matplotlib
    base = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    if n <= 20:
        return ListedColormap(base.colors[:n])
    return matplotlib.colormaps["viridis"].resampled(n)


# ------------------------------------------------------------------------------ history

def _sweep_label(sweep: SweepResult, i: int) -> str:
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
    if isinstance(h, FitResult):
        return _runs(h.history, label)
    if isinstance(h, SweepResult):
        prefix = f"{label}: " if label else ""
        hist = {k: np.asarray(v, dtype=np.float64) for k, v in h.history.items()}
        return [(prefix + _sweep_label(h, i), {k: v[i] for k, v in hist.items()})
                for i in range(len(h.diverged))]
    if isinstance(h, Mapping):
        if h and all(isinstance(v, (Mapping, FitResult, SweepResult)) for v in h.values()):
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
    axes = _axes(ax, len(names), "history", figsize=(4.5 * len(names), 3.5))
    for axis, m in zip(axes, names):
        _draw_metric(axis, runs, m)
    return axes[0].figure


# ----------------------------------------------------------------------------- schedule

def schedule(schedule: Union[Callable, Mapping[str, Callable]], steps: Any, *,
             ax: Axes = None, **kwargs: Any) -> Figure:
    r"""Plot :math:`t \mapsto \text{schedule}(t)` over ``steps``; several overlaid.

    The drawing of ``nf.schedules.plot`` (the same code; that one returns the ``Axes``):
    the schedule is evaluated for all steps at once with ``jax.jit(jax.vmap(schedule))``.

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
    (axis,) = _axes(ax, 1, "schedule")
    for lab, (xs, v) in values.items():
        _draw_schedule(axis, xs, v, **({"label": str(lab)} if several else {}), **kwargs)
    if several:
        axis.legend()
    return axis.figure


# ------------------------------------------------------------------ optimizer paths

def rosenbrock(p: ArrayLike, a: float = 1.0, b: float = 100.0) -> jax.Array:
    r"""Rosenbrock's banana function :math:`f(x, y) = (a - x)^2 + b\,(y - x^2)^2`.

    Its minimum 0 at :math:`(a, a^2)` lies in a long, curved, nearly flat valley: easy
    to reach, slow to follow.

    Args:
      p: the point ``(x, y)``, shape ``(..., 2)``.
      a, b: the constants (default 1 and 100).

    Returns:
      :math:`f` at ``p``, shape ``(...)``.

    Example:
      >>> import jax.numpy as jnp
      >>> float(rosenbrock(jnp.array([1.0, 1.0]))), float(rosenbrock(jnp.array([0.0, 1.0])))
      (0.0, 101.0)
    """
    p = jnp.asarray(p)
    x, y = p[..., 0], p[..., 1]
    return (a - x) ** 2 + b * (y - x ** 2) ** 2


def beale(p: ArrayLike) -> jax.Array:
    r"""Beale's function :math:`f(x, y) = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 +
    (2.625 - x + xy^3)^2`.

    Minimum 0 at :math:`(3, 0.5)`, between sharp ridges and flat plateaus.

    Args:
      p: the point ``(x, y)``, shape ``(..., 2)``.

    Returns:
      :math:`f` at ``p``, shape ``(...)``.

    Example:
      >>> import jax.numpy as jnp
      >>> float(beale(jnp.array([3.0, 0.5])))
      0.0
    """
    p = jnp.asarray(p)
    x, y = p[..., 0], p[..., 1]
    return ((1.5 - x + x * y) ** 2 + (2.25 - x + x * y ** 2) ** 2
            + (2.625 - x + x * y ** 3) ** 2)


def saddle(p: ArrayLike) -> jax.Array:
    r"""The saddle :math:`f(x, y) = x^2 - y^2`: a minimum along x, a maximum along y.

    The gradient vanishes at the origin; a path started on the x axis stays on it and
    converges to the saddle point, any other escapes along y (unbounded below).

    Args:
      p: the point ``(x, y)``, shape ``(..., 2)``.

    Returns:
      :math:`f` at ``p``, shape ``(...)``.

    Example:
      >>> import jax.numpy as jnp
      >>> float(saddle(jnp.array([2.0, 1.0])))
      3.0
    """
    p = jnp.asarray(p)
    return p[..., 0] ** 2 - p[..., 1] ** 2


def monkey_saddle(p: ArrayLike) -> jax.Array:
    r"""The monkey saddle :math:`f(x, y) = x^3 - 3xy^2`: three valleys around a flat point.

    Gradient and Hessian both vanish at the origin, so second-order information does not
    show the way down.

    Args:
      p: the point ``(x, y)``, shape ``(..., 2)``.

    Returns:
      :math:`f` at ``p``, shape ``(...)``.

    Example:
      >>> import jax.numpy as jnp
      >>> float(monkey_saddle(jnp.array([1.0, 1.0])))
      -2.0
    """
    p = jnp.asarray(p)
    x, y = p[..., 0], p[..., 1]
    return x ** 3 - 3 * x * y ** 2


def _start(start: Any) -> jax.Array:
    try:
        a = np.asarray(start, dtype=np.float64)
    except (TypeError, ValueError):
        a = None
    if a is None or a.shape != (2,) or not np.all(np.isfinite(a)):
        raise ValueError(f"start must be 2 finite numbers (x, y), got {start!r}")
    return jnp.asarray(a, dtype=jnp.result_type(float))


def _check_fn(fn: Any, p0: jax.Array) -> None:
    if not callable(fn):
        raise ValueError(f"fn must be a function of a 2-vector p = (x, y), got {fn!r}")
    try:
        out = jax.eval_shape(fn, p0)
    except Exception as err:  # noqa: BLE001 - any failure means fn is not f(x, y)
        raise ValueError(f"fn must map p of shape (2,) to a scalar (a 2-D function); "
                         f"calling it failed: {err}") from err
    if getattr(out, "shape", None) != ():
        raise ValueError(f"fn must map p of shape (2,) to a scalar (a 2-D function), got "
                         f"output {out}: a non-2-D function cannot be drawn")


def _check_optimizers(optimizers: Any) -> None:
    if not isinstance(optimizers, Mapping) or not optimizers or not all(
            callable(getattr(o, "init", None)) and callable(getattr(o, "update", None))
            for o in optimizers.values()):
        raise ValueError(f"optimizers must be a non-empty dict {{name: nf.optim "
                         f"optimizer}}, got {optimizers!r}")


def _trajectory(fn: Callable, opt: Optimizer, p0: jax.Array, steps: int) -> np.ndarray:
    """``steps`` optimizer steps on ``fn`` from ``p0`` as one jitted scan: (steps+1, 2)."""
    grad = jax.grad(fn)

    @jax.jit
    def run(p0):
        def body(carry, _):
            p, s = carry
            updates, s = opt.update(grad(p), s, p)
            p = apply_updates(p, updates)
            return (p, s), p
        _, ps = jax.lax.scan(body, (p0, opt.init(p0)), None, length=steps)
        return jnp.concatenate([p0[None], ps])

    return np.asarray(run(p0))


def optimizer_trajectories(fn: Callable[[jax.Array], jax.Array],
                           optimizers: Mapping[str, Optimizer], start: Sequence[float],
                           steps: int) -> dict[str, np.ndarray]:
    """The points each optimizer visits minimizing a function of 2 variables.

    From ``start`` each optimizer takes ``steps`` steps ``updates, s = opt.update(g, s,
    p)``, ``p = nf.optim.apply_updates(p, updates)`` with ``g = jax.grad(fn)(p)``, as one
    ``jax.jit``-compiled ``lax.scan`` (in float32, or float64 with ``jax_enable_x64``).
    A diverging path keeps its non-finite points.

    Args:
      fn: ``fn(p) -> scalar`` for ``p`` of shape ``(2,)``, e.g. :func:`rosenbrock`.
      optimizers: ``{name: optimizer}``, e.g. ``{'sgd': nf.optim.sgd(1e-3)}``.
      start: the starting point ``(x, y)``.
      steps: the number of steps, >= 1.

    Returns:
      ``{name: np.ndarray of shape (steps + 1, 2)}``: row 0 is ``start``, row ``k`` the
      point after step ``k``.

    Example:
      >>> import nnfunc as nf
      >>> paths = nf.plot.optimizer_trajectories(nf.plot.saddle,
      ...                                        {'gd': nf.optim.sgd(0.25)}, (1.0, 0.0), 2)
      >>> paths['gd'].tolist()
      [[1.0, 0.0], [0.5, 0.0], [0.25, 0.0]]
    """
    p0 = _start(start)
    _check_fn(fn, p0)
    _check_optimizers(optimizers)
    steps = check_int("steps", steps, minimum=1, allowed="an int >= 1")
    return {str(name): _trajectory(fn, opt, p0, steps) for name, opt in optimizers.items()}


def _finite_prefix(path: np.ndarray) -> np.ndarray:
    """The path up to (not including) its first non-finite point."""
    bad = np.flatnonzero(~np.all(np.isfinite(path), axis=1))
    return path[:bad[0]] if bad.size else path


def _bounds(bounds: Any, paths: list[np.ndarray]) -> tuple[tuple[float, float], ...]:
    if bounds is None:
        pts = np.concatenate(paths)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        pad = 0.15 * (hi - lo) + 0.1 * np.maximum(np.abs(pts).max(axis=0), 1.0)
        return tuple((float(a), float(b)) for a, b in zip(lo - pad, hi + pad))
    try:
        b = np.asarray(bounds, dtype=np.float64)
    except (TypeError, ValueError):
        b = None
    if b is None or b.shape != (2, 2) or not np.all(np.isfinite(b)) or np.any(b[:, 0] >= b[:, 1]):
        raise ValueError(f"bounds must be ((xmin, xmax), (ymin, ymax)) with min < max, got "
                         f"{bounds!r}")
    return tuple((float(a), float(c)) for a, c in b)


def _levels(z: np.ndarray, levels: Any) -> Any:
    """Contour levels: for an int ``n``, ``n`` quantiles of the finite values."""
    if not isinstance(levels, (int, np.integer)) or isinstance(levels, bool):
        return levels
    check_int("levels", levels, minimum=2, allowed="an int >= 2 or increasing level values")
    finite = z[np.isfinite(z)]
    qs = np.unique(np.quantile(finite, np.linspace(0, 1, int(levels)))) if finite.size else []
    return qs if len(qs) >= 2 else None


def optimizer_paths(fn: Callable[[jax.Array], jax.Array], optimizers: Mapping[str, Optimizer],
                    start: Sequence[float], steps: int, *, bounds: Any = None,
                    levels: Union[int, Sequence[float]] = 30, ax: Axes = None) -> Figure:
    """Contours of a function of 2 variables with each optimizer's path across them.

    Filled contours (and thin contour lines) of ``fn`` on a 200 × 200 grid; over them
    each optimizer's path from :func:`optimizer_trajectories`, the start (black dot) and
    each end (a star in the path's colour). A diverging path is cut at its first
    non-finite point.

    Args:
      fn: ``fn(p) -> scalar`` for ``p`` of shape ``(2,)``: :func:`rosenbrock`,
        :func:`beale`, :func:`saddle`, :func:`monkey_saddle` or your own.
      optimizers: ``{name: nf.optim optimizer}``.
      start: the starting point ``(x, y)``.
      steps: the number of steps, >= 1.
      bounds: ``((xmin, xmax), (ymin, ymax))`` of the drawing; default a box around the
        (finite parts of the) paths.
      levels: an int ``n``: ``n`` contour levels at quantiles of ``fn`` on the grid (so
        steep functions such as Rosenbrock still show their valley); or the increasing
        level values.
      ax: the Axes to draw on.

    Returns:
      The ``Figure``.

    Raises:
      ValueError: if ``start`` is not 2 numbers or ``fn`` does not map a 2-vector to a
        scalar.

    Example:
      >>> import nnfunc as nf
      >>> fig = nf.plot.optimizer_paths(nf.plot.rosenbrock,
      ...     {'sgd': nf.optim.sgd(1e-3), 'adam': nf.optim.adam(0.05)}, (-1.5, 2.0), 100,
      ...     bounds=((-2, 2), (-1, 3)))
      >>> [line.get_label() for line in fig.axes[0].lines][:3]
      ['start', 'sgd', 'sgd end']
    """
    paths = {k: _finite_prefix(v)
             for k, v in optimizer_trajectories(fn, optimizers, start, steps).items()}
    (x0, x1), (y0, y1) = _bounds(bounds, list(paths.values()))
    (axis,) = _axes(ax, 1, "optimizer_paths", figsize=(6.0, 5.0))
    gx, gy = np.meshgrid(np.linspace(x0, x1, _GRID), np.linspace(y0, y1, _GRID))
    grid = jnp.asarray(np.stack([gx, gy], -1).reshape(-1, 2), dtype=jnp.result_type(float))
    z = np.asarray(jax.jit(jax.vmap(fn))(grid), dtype=np.float64).reshape(gx.shape)
    lv = _levels(z, levels)
    if lv is not None:
        zm = np.ma.masked_invalid(z)
        # one colour per band (quantile levels are far from evenly spaced); values beyond
        # the outer levels take the end colours rather than white
        from matplotlib.colors import BoundaryNorm
        axis.contourf(gx, gy, zm, levels=lv, cmap="viridis", alpha=0.8, extend="both",
                      norm=BoundaryNorm(lv, 256, extend="both"))
        axis.contour(gx, gy, zm, levels=lv, colors="k", linewidths=0.3, alpha=0.5)
    p0 = np.asarray(_start(start))
    axis.plot(p0[0], p0[1], "o", color="k", label="start")
    for i, (name, path) in enumerate(paths.items()):
        color = f"C{(i + 1) % 10}"
        axis.plot(path[:, 0], path[:, 1], "-", color=color, lw=1.5, label=name)
        axis.plot(path[-1, 0], path[-1, 1], "*", color=color, ms=12, mec="k",
                  label=f"{name} end")
    axis.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="x", ylabel="y")
    handles = [h for h in axis.lines if not h.get_label().endswith(" end")]
    axis.legend(handles=handles, fontsize="small")
    return axis.figure


# ------------------------------------------------------------------------------- images

_IMAGE_SHAPES = ("(N, H, W), (N, H, W, 1), (N, H, W, 3), (N, D) with D a perfect square, "
                 "or one (H, W) image")


def _as_images(x: Any) -> np.ndarray:
    """``(N, H, W)`` or ``(N, H, W, 3)``."""
    a = np.asarray(x)
    if a.dtype == bool:
        a = a.astype(np.float32)
    ok = np.issubdtype(a.dtype, np.number) and a.size > 0
    if ok and a.ndim == 2:
        side = math.isqrt(a.shape[1])
        return a.reshape(a.shape[0], side, side) if side * side == a.shape[1] else a[None]
    if ok and a.ndim == 3:
        return a
    if ok and a.ndim == 4 and a.shape[-1] in (1, 3):
        return a[..., 0] if a.shape[-1] == 1 else a
    raise ValueError(f"x must be images of shape {_IMAGE_SHAPES}; got shape {a.shape} "
                     f"and dtype {a.dtype}")


def _image_titles(labels: Any, titles: Any, n: int) -> Optional[list[str]]:
    if labels is not None and titles is not None:
        raise ValueError("give labels or titles, not both")
    given, name = (labels, "labels") if labels is not None else (titles, "titles")
    if given is None:
        return None
    out = [str(v) for v in np.asarray(given).tolist()] if name == "labels" else list(given)
    if len(out) != n:
        raise ValueError(f"{name} must have one entry per image ({n}), got {len(out)}")
    return [str(t) for t in out]


def _minmax(imgs: np.ndarray) -> np.ndarray:
    """Each image scaled to [0, 1] (a constant image to 0)."""
    f = imgs.astype(np.float64)
    axes = tuple(range(1, f.ndim))
    lo, hi = f.min(axis=axes, keepdims=True), f.max(axis=axes, keepdims=True)
    return np.divide(f - lo, hi - lo, out=np.zeros_like(f), where=hi > lo)


def images(x: ArrayLike, labels: Optional[Sequence[Any]] = None, *, ncols: int = 8,
           cmap: str = "gray", titles: Optional[Sequence[str]] = None,
           normalize: bool = False, vmin: Optional[float] = None,
           vmax: Optional[float] = None, ax: Axes = None) -> Figure:
    """A grid of images (digits, reconstructions, filters), optionally titled.

    Grey images share one colour scale (the min and max over all of ``x``) unless
    ``normalize=True``, which scales each image to [0, 1] on its own (for filters).
    RGB images are drawn as given (floats in [0, 1] or uint8) or normalized.

    A 2-D ``x`` is a batch of flattened square images when its width is a perfect
    square (``(N, 784)`` → 28 × 28), else one image; pass ``x[None]`` to show one image
    whose width is a perfect square. Conv filters: for a ``(kh, kw, cin, cout)`` kernel
    ``w`` show the first input channel of each filter with ``images(w[:, :, 0, :]
    .transpose(2, 0, 1), normalize=True)``, or RGB filters (``cin == 3``) with
    ``images(w.transpose(3, 0, 1, 2), normalize=True)``.

    Args:
      x: the images: (N, H, W), (N, H, W, 1), (N, H, W, 3), (N, D) with D a perfect
        square, or a single (H, W) image.
      labels: one label per image (ints or strings), shown as its title.
      ncols: images per row, >= 1.
      cmap: the colormap of grey images.
      titles: one title per image (instead of ``labels``).
      normalize: scale each image to [0, 1] on its own.
      vmin, vmax: the grey scale's ends, overriding the data's (e.g. ``-m, m`` with a
        diverging ``cmap`` so that white is 0).
      ax: a sequence of at least N Axes (e.g. ``plt.subplots(2, 8)[1]``; the extra ones
        are hidden), or one Axes for one image.

    Returns:
      The ``Figure``.

    Raises:
      ValueError: for any other shape of ``x``, or labels/titles of the wrong length.

    Example:
      >>> import numpy as np, nnfunc as nf
      >>> x = np.arange(6 * 16, dtype=np.float32).reshape(6, 16)   # six 4x4 images
      >>> fig = nf.plot.images(x, labels=[0, 1, 2, 3, 4, 5], ncols=4)
      >>> len(fig.axes), fig.axes[5].get_title(), fig.axes[1].images[0].get_array().shape
      (8, '5', (4, 4))
    """
    imgs = _as_images(x)
    n = imgs.shape[0]
    ncols = min(check_int("ncols", ncols, minimum=1, allowed="an int >= 1"), n)
    nrows = -(-n // ncols)
    names = _image_titles(labels, titles, n)
    if normalize:
        imgs = _minmax(imgs)
    grey = imgs.ndim == 3
    lo, hi = (float(np.nanmin(imgs)), float(np.nanmax(imgs))) if grey else (None, None)
    lo, hi = (lo if vmin is None else vmin), (hi if vmax is None else vmax)
    axes = _axes(ax, n, "images", grid=(nrows, ncols), at_least=True,
                 figsize=(1.4 * ncols, 1.5 * nrows if names else 1.4 * nrows))
    for i, axis in enumerate(axes):
        axis.set_axis_off()
        if i < n:
            axis.imshow(imgs[i], cmap=cmap if grey else None, vmin=lo, vmax=hi,
                        interpolation="nearest")
            if names:
                axis.set_title(names[i], fontsize=9)
    return axes[0].figure


# -------------------------------------------------------------------- decision boundary

def _predicted_classes(out: Any) -> tuple[np.ndarray, int]:
    """Classes from model outputs: argmax of (M, C>1); one output thresholded at 0.5
    when all of it is in [0, 1] (probabilities), else at 0 (logits)."""
    out = np.asarray(out, dtype=np.float64)
    if out.ndim == 2 and out.shape[1] > 1:
        return out.argmax(axis=1), out.shape[1]
    if out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1):
        out = out.reshape(-1)
        threshold = 0.5 if out.min() >= 0 and out.max() <= 1 else 0.0
        return (out > threshold).astype(np.int64), 2
    raise ValueError(f"the model's output must be (N,), (N, 1) or (N, classes), got "
                     f"shape {out.shape}")


def _targets(y: Any, n: int) -> np.ndarray:
    a = np.asarray(y)
    if a.ndim == 2 and a.shape[1] > 1:      # one-hot
        a = a.argmax(axis=1)
    a = _integers("y", a.reshape(-1) if a.ndim == 2 else a)
    if a.shape[0] != n:
        raise ValueError(f"y must have one label per row of X ({n}), got {a.shape[0]}")
    return a


def decision_boundary(model: Layer, params: Any, state: Any, X: ArrayLike, y: ArrayLike,
                      *, resolution: int = 200, ax: Axes = None) -> Figure:
    """The classes a model predicts over the plane, with the labelled points on top.

    ``model.apply(params, state, grid, train=False)`` runs on a ``resolution`` ×
    ``resolution`` grid covering ``X`` (plus a margin); each grid point is coloured by its
    predicted class: the argmax of ``C > 1`` outputs; for one output, ``output > 0.5``
    when every grid output lies in [0, 1] (a probability), else ``output > 0`` (a
    logit). The points of ``X`` are drawn coloured by ``y`` in the same colours.

    Args:
      model: a Layer taking inputs of shape ``(batch, 2)``.
      params, state: its parameters and state.
      X: the points, shape ``(N, 2)``.
      y: their classes, ``(N,)`` ints (or one-hot ``(N, C)``).
      resolution: grid points per side, >= 2.
      ax: the Axes to draw on.

    Returns:
      The ``Figure``.

    Raises:
      ValueError: if ``X`` is not ``(N, 2)`` or ``y`` does not match it.

    Example:
      >>> import jax, jax.numpy as jnp, nnfunc as nf
      >>> model = nf.layers.dense(2)
      >>> params, state = model.init(jax.random.key(0), (2,))
      >>> X = jnp.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
      >>> fig = nf.plot.decision_boundary(model, params, state, X, [0, 1, 1], resolution=50)
      >>> fig.axes[0].images[0].get_array().shape
      (50, 50)
    """
    pts = np.asarray(X, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] == 0:
        raise ValueError(f"X must be 2-D points of shape (N, 2), got shape {pts.shape}")
    labels = _targets(y, pts.shape[0])
    res = check_int("resolution", resolution, minimum=2, allowed="an int >= 2")
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = 0.1 * np.maximum(hi - lo, 1e-6) + 0.5 * (hi == lo)
    (x0, y0), (x1, y1) = lo - pad, hi + pad
    gx, gy = np.meshgrid(np.linspace(x0, x1, res), np.linspace(y0, y1, res))
    grid = jnp.asarray(np.stack([gx.ravel(), gy.ravel()], axis=1), dtype=jnp.float32)
    out, _ = jax.jit(lambda p, s, g: model.apply(p, s, g, train=False))(params, state, grid)
    classes, n = _predicted_classes(out)
    n = max(n, int(labels.max()) + 1)
    (axis,) = _axes(ax, 1, "decision_boundary", figsize=(5.5, 5.0))
    colors = _class_colors(n)
    axis.imshow(classes.reshape(res, res), origin="lower", extent=(x0, x1, y0, y1),
                cmap=colors, vmin=-0.5, vmax=n - 0.5, alpha=0.35, interpolation="nearest",
                aspect="auto")
    axis.scatter(pts[:, 0], pts[:, 1], c=labels, cmap=colors, vmin=-0.5, vmax=n - 0.5,
                 edgecolors="k", linewidths=0.5, s=20)
    axis.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="$x_1$", ylabel="$x_2$")
    return axis.figure


# --------------------------------------------------------------------- confusion matrix

def confusion_counts(y_true: ArrayLike, y_pred: ArrayLike,
                     num_classes: Optional[int] = None) -> np.ndarray:
    """How often each true class was predicted as each class.

    Args:
      y_true: ``(N,)`` integer labels.
      y_pred: ``(N,)`` predicted labels, or ``(N, C)`` logits/probabilities (argmax).
      num_classes: ``C``; default ``C`` of the logits, else the largest label + 1.

    Returns:
      ``(C, C)`` int64 counts: entry ``[i, j]`` counts examples of true class ``i``
      predicted as ``j`` (rows true, columns predicted).

    Example:
      >>> confusion_counts([0, 1, 1, 2], [0, 1, 2, 2]).tolist()
      [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    """
    pred = np.asarray(y_pred)
    width = None
    if pred.ndim == 2:
        width = pred.shape[1]
        pred = pred.argmax(axis=1)
    true, pred = _integers("y_true", y_true), _integers("y_pred", pred)
    if true.shape != pred.shape:
        raise ValueError(f"y_true and y_pred must have the same number of examples, got "
                         f"{true.shape[0]} and {pred.shape[0]}")
    top = int(max(true.max(initial=-1), pred.max(initial=-1))) + 1
    if num_classes is None:
        c = max(top, width or 0)
        if c == 0:
            raise ValueError("num_classes is needed when there are no labels")
    else:
        c = check_int("num_classes", num_classes, minimum=1, allowed="an int >= 1")
        if top > c or (width is not None and width != c):
            raise ValueError(f"num_classes must cover every label (largest {top - 1}) and "
                             f"equal the logits' width ({width}), got {num_classes!r}")
    return np.bincount(true * c + pred, minlength=c * c).reshape(c, c)


def confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike, *,
                     num_classes: Optional[int] = None, normalize: bool = False,
                     ax: Axes = None) -> Figure:
    """An annotated heat map of :func:`confusion_counts` (rows true, columns predicted).

    Args:
      y_true: ``(N,)`` integer labels.
      y_pred: ``(N,)`` predicted labels, or ``(N, C)`` logits (argmax).
      num_classes: ``C`` (default: inferred, see :func:`confusion_counts`).
      normalize: show each row as fractions of its true class (rows sum to 1; an empty
        row stays 0) instead of counts.
      ax: the Axes to draw on (a colour bar is added beside it).

    Returns:
      The ``Figure``.

    Example:
      >>> import nnfunc as nf
      >>> fig = nf.plot.confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2])
      >>> fig.axes[0].images[0].get_array().tolist()
      [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    """
    counts = confusion_counts(y_true, y_pred, num_classes)
    c = counts.shape[0]
    rows = counts.sum(axis=1, keepdims=True)
    data = (np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
            if normalize else counts)
    top = 1.0 if normalize else max(1, int(counts.max()))
    size = max(4.0, 0.45 * c + 2.0)
    (axis,) = _axes(ax, 1, "confusion_matrix", figsize=(size + 1.0, size))
    im = axis.imshow(data, cmap="Blues", vmin=0, vmax=top)
    if c <= _MAX_ANNOTATED:
        for i in range(c):
            for j in range(c):
                v = data[i, j]
                axis.text(j, i, f"{v:.2f}" if normalize else str(int(v)), ha="center",
                          va="center", fontsize=8 if c > 10 else 10,
                          color="white" if v > top / 2 else "black")
    axis.set(xticks=range(c), yticks=range(c), xlabel="predicted", ylabel="true")
    axis.figure.colorbar(im, ax=axis)
    return axis.figure


# --------------------------------------------------------------------- activation stats

_STAT_KEYS = ("layer", "mean", "std", "dead_fraction")


def _stat_runs(model: Any, params: Any, state: Any, x: Any) -> dict:
    """``{label or None: records}`` from a model and a batch, records, or a dict of them."""
    if isinstance(model, Layer) or (callable(getattr(model, "apply", None))
                                    and callable(getattr(model, "init", None))):
        if x is None:
            raise ValueError("activation_stats needs params, state and a batch x for a "
                             "model (or precomputed records instead of the model)")
        return {None: _layer_stats(model, params, state, x)}
    runs = dict(model) if isinstance(model, Mapping) else {None: model}
    for label, recs in runs.items():
        if (not isinstance(recs, (list, tuple)) or not recs or not all(
                isinstance(r, Mapping) and all(k in r for k in _STAT_KEYS) for r in recs)):
            raise ValueError(f"model must be a Layer, records from "
                             f"nf.layers.activation_stats (dicts with {list(_STAT_KEYS)}), "
                             f"or a dict {{label: records}}; got {recs!r:.200}")
    names = [[r["layer"] for r in recs] for recs in runs.values()]
    if any(n != names[0] for n in names):
        raise ValueError(f"the records to compare must cover the same layers, got {names}")
    return runs


def activation_stats(model: Any, params: Any = None, state: Any = None, x: Any = None, *,
                     ax: Axes = None) -> Figure:
    """Per-layer activation mean ± std (top panel) and dead-unit fraction (bottom).

    The statistics are ``nf.layers.activation_stats(model, params, state, x)`` (every
    innermost layer's output on the batch ``x``, in order); ``dead_fraction`` is the
    fraction of units that output 0 for every example (dead ReLUs). Instead of a model,
    pass the records themselves, or ``{label: records}`` to compare runs (e.g.
    initialisations) side by side.

    Args:
      model: a Layer; or a list of records from ``nf.layers.activation_stats``; or a dict
        ``{label: records}`` of the same layers.
      params, state, x: the model's parameters, state and a batch (with a model only).
      ax: a sequence of 2 Axes (statistics, dead fraction).

    Returns:
      The ``Figure``.

    Example:
      >>> import jax, jax.numpy as jnp, nnfunc as nf
      >>> model = nf.models.mlp([3, 8, 2])
      >>> params, state = model.init(jax.random.key(0), (3,))
      >>> fig = nf.plot.activation_stats(model, params, state, jnp.ones((16, 3)))
      >>> len(fig.axes[1].patches) == len(nf.layers.activation_stats(model, params, state,
      ...                                                             jnp.ones((16, 3))))
      True
    """
    runs = _stat_runs(model, params, state, x)
    names = [r["layer"] for r in next(iter(runs.values()))]
    k, width = len(runs), 0.8 / len(runs)
    pos = np.arange(len(names))
    top, bottom = _axes(ax, 2, "activation_stats", grid=(2, 1),
                        figsize=(max(6.0, 0.6 * len(names) + 2), 6.0))
    for i, (label, recs) in enumerate(runs.items()):
        at = pos + (i - (k - 1) / 2) * width
        stat = {key: np.array([r[key] for r in recs], dtype=np.float64) for key in _STAT_KEYS[1:]}
        top.errorbar(at, stat["mean"], yerr=stat["std"], fmt="o", capsize=3,
                     color=f"C{i % 10}", label=label)
        bottom.bar(at, stat["dead_fraction"], width=width, color=f"C{i % 10}", label=label)
    top.axhline(0.0, color="0.7", lw=0.8, zorder=0)
    span = (-0.5, len(names) - 0.5)
    top.set(ylabel="mean ± std", xticks=pos, xticklabels=[], xlim=span)
    bottom.set(ylabel="dead fraction", ylim=(0, 1.05), xticks=pos, xlim=span)
    bottom.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    if k > 1:
        top.legend(fontsize="small")
    return top.figure


# ------------------------------------------------------------------------- embeddings

def _embedding_rows(vectors: Any, words: Any) -> tuple[np.ndarray, Optional[list[str]]]:
    if isinstance(words, str):
        words = [words]
    if isinstance(vectors, KeyedVectors):
        names = list(vectors.words[:50]) if words is None else [str(w) for w in words]
        missing = [w for w in names if w not in vectors]
        if missing:
            raise ValueError(f"words must be in the vocabulary; not found: {missing[:10]}")
        return vectors.vectors[[vectors.index(w) for w in names]], names
    m = np.asarray(vectors, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"vectors must be KeyedVectors or an (N, d) array, got shape "
                         f"{m.shape}")
    names = None if words is None else [str(w) for w in words]
    if names is not None and len(names) != m.shape[0]:
        raise ValueError(f"words must label every row of vectors ({m.shape[0]}), got "
                         f"{len(names)}")
    return m, names


def _pca2(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates on the first two principal axes (each axis' largest loading made
    positive) and the fractions of variance they explain."""
    centred = m - m.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    comps = vt[:2] * np.sign(vt[:2][np.arange(2), np.abs(vt[:2]).argmax(axis=1)])[:, None]
    total = float(np.sum(s ** 2))
    return centred @ comps.T, (s[:2] ** 2 / total if total > 0 else np.zeros(2))


def embedding_2d(vectors: Any, words: Optional[Sequence[str]] = None, *,
                 ax: Axes = None) -> Figure:
    """Word vectors projected to 2-D by PCA, as labelled points.

    The vectors are centred and projected on their first two principal axes (numpy SVD;
    each axis' sign chosen so its largest loading is positive); the axis labels give the
    fraction of variance each explains.

    Args:
      vectors: ``nf.text.KeyedVectors`` or an ``(N, d)`` array, ``N, d >= 2``.
      words: with KeyedVectors, the words to show (default: the first 50, the most
        frequent in a trained model's vocabulary); with an array, one label per row
        (default: no labels).
      ax: the Axes to draw on.

    Returns:
      The ``Figure``.

    Example:
      >>> import nnfunc as nf
      >>> kv = nf.text.KeyedVectors(['a', 'b', 'c'], [[1, 0, 0], [0, 1, 0], [0, 0, 2]])
      >>> fig = nf.plot.embedding_2d(kv)
      >>> [t.get_text() for t in fig.axes[0].texts]
      ['a', 'b', 'c']
    """
    m, names = _embedding_rows(vectors, words)
    if m.shape[0] < 2 or m.shape[1] < 2:
        raise ValueError(f"embedding_2d needs at least 2 vectors of dimension >= 2, got "
                         f"shape {m.shape}")
    coords, ratio = _pca2(np.asarray(m, dtype=np.float64))
    (axis,) = _axes(ax, 1, "embedding_2d", figsize=(7.0, 6.0))
    axis.scatter(coords[:, 0], coords[:, 1], s=12)
    for (px, py), w in zip(coords, names or []):
        axis.annotate(w, (px, py), xytext=(3, 3), textcoords="offset points", fontsize=8)
    axis.set(xlabel=f"PC1 ({ratio[0]:.0%} of variance)",
             ylabel=f"PC2 ({ratio[1]:.0%} of variance)")
    return axis.figure
