"""Classification figures: the classes a model predicts over the plane
(:func:`decision_boundary`) and the confusion matrix (:func:`confusion_counts`, drawn by
:func:`confusion_matrix`).
"""
from __future__ import annotations

from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from nnfunc._checks import check_int
from nnfunc.layers import Layer
from nnfunc.plot._base import Axes, Figure, panels

__all__ = ["decision_boundary", "confusion_counts", "confusion_matrix"]

_MAX_ANNOTATED = 30   # confusion matrices up to this many classes get numbers in the cells


# ------------------------------------------------------------------------------ helpers

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
    (axis,) = panels(ax, 1, "decision_boundary", figsize=(5.5, 5.0))
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
    (axis,) = panels(ax, 1, "confusion_matrix", figsize=(size + 1.0, size))
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

