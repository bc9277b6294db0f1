"""Optimizers on surfaces: the classic test functions of optimization (:func:`rosenbrock`,
:func:`beale`, :func:`saddle`, :func:`monkey_saddle`), the points an optimizer visits on
one (:func:`optimizer_trajectories`) and their drawing over its contours
(:func:`optimizer_paths`).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from nnfunc._checks import check_int
from nnfunc.optim import Optimizer, apply_updates
from nnfunc.plot._base import Axes, Figure, panels

__all__ = ["rosenbrock", "beale", "saddle", "monkey_saddle", "optimizer_trajectories",
           "optimizer_paths"]

_GRID = 200           # points per side of the optimizer_paths contour grid


# ------------------------------------------------------------------------ test functions

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


# --------------------------------------------------------------- trajectories and paths

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
    (axis,) = panels(ax, 1, "optimizer_paths", figsize=(6.0, 5.0))
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

