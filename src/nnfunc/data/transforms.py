"""Feature normalisation and label encoding on the host (numpy).

Statistics are fitted on training data once (``fit_standardize``, ``fit_min_max``) and
returned as small NamedTuples, then applied to any split, so validation and test data are
scaled with the training statistics.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from nnfunc._checks import check_bool, check_finite, check_pair

__all__ = ["Standardization", "MinMax", "fit_standardize", "standardize", "unstandardize",
           "fit_min_max", "min_max_scale", "linear_scale", "log_scale", "clip", "one_hot"]

Axis = Optional[Union[int, Tuple[int, ...]]]


def _float(x: ArrayLike) -> np.ndarray:
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float32)


def _range(name: str, r: Sequence[float]) -> Tuple[float, float]:
    pair = check_pair(name, r, "a pair (low, high) of finite numbers", arrays=True)
    for i, v in enumerate(pair):
        check_finite(f"{name}[{i}]", v)
    lo, hi = (float(v) for v in pair)
    if not lo < hi:
        raise ValueError(f"{name} must be (low, high) with low < high, got {tuple(r)}")
    return lo, hi


class Standardization(NamedTuple):
    """Per-feature mean and standard deviation fitted by :func:`fit_standardize`;
    ``axes``: the axes reduced over (``None``: not recorded, then unchecked)."""
    mean: np.ndarray
    std: np.ndarray
    axes: Optional[Tuple[int, ...]] = None


def _check_finite(name: str, x: np.ndarray) -> None:
    if np.issubdtype(x.dtype, np.inexact) and not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: x contains {int(np.sum(~np.isfinite(x)))} NaN or infinite "
                         f"value(s); the statistics would be NaN: clean the data first")


def _check_stats_shape(name: str, x: np.ndarray, stats: Any) -> None:
    """The statistics (a ``Standardization`` or a ``MinMax``) must fit ``x`` without
    changing its shape, and along every axis they were not reduced over (the features)
    have ``x``'s size: fitted on 1 feature, they do not silently broadcast over 4."""
    shape = np.shape(stats[0])
    if np.shape(stats[1]) != shape:
        raise ValueError(f"{name}: stats has entries of different shapes {shape} and "
                         f"{np.shape(stats[1])}")
    try:
        ok = np.broadcast_shapes(shape, x.shape) == x.shape
    except ValueError:
        ok = False
    if ok and stats.axes is not None and len(shape) == x.ndim:
        ok = all(shape[i] == x.shape[i] for i in range(x.ndim) if i not in stats.axes)
    if not ok:
        raise ValueError(f"{name}: stats, statistics of shape {shape} (reduced over axes "
                         f"{stats.axes}) do not fit x of shape {x.shape}: fit them on data "
                         f"with the same features")


class MinMax(NamedTuple):
    """Per-feature minimum and maximum fitted by :func:`fit_min_max`; ``axes``: the axes
    reduced over (``None``: not recorded, then unchecked)."""
    min: np.ndarray
    max: np.ndarray
    axes: Optional[Tuple[int, ...]] = None


def fit_standardize(x: ArrayLike, *, axis: Axis = 0, eps: float = 1e-8) -> Standardization:
    """Fit standardisation statistics on training data.

    ``mean = E[x]``, ``std = sqrt(Var[x])`` over ``axis`` (kept as size-1 dims so they
    broadcast); a std below ``eps`` (a constant feature) is replaced by 1.

    Args:
      x: training data; integer data is treated as float32.
      axis: axis or axes to reduce over; 0 gives per-feature statistics, None a single
        global mean and std.
      eps: smallest std treated as non-constant (>= 0).

    Returns:
      A :class:`Standardization` ``(mean, std, axes)``.

    Raises:
      ValueError: ``x`` holds NaN or inf (the statistics would be NaN), or ``eps < 0``.

    Example:
      >>> import numpy as np
      >>> from nnfunc.data import fit_standardize, standardize
      >>> x = np.array([[1.0, 10.0], [3.0, 10.0]])
      >>> s = fit_standardize(x)
      >>> standardize(x, s).tolist()
      [[-1.0, 0.0], [1.0, 0.0]]
    """
    check_finite("eps", eps)              # a finite number, not a string
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    x = _float(x)
    _check_finite("fit_standardize", x)
    mean = x.mean(axis=axis, keepdims=True)
    std = x.std(axis=axis, keepdims=True)
    std = np.where(std < eps, np.ones_like(std), std)
    return Standardization(mean, std, _axes(axis, x.ndim))


def _axes(axis: Axis, ndim: int) -> Tuple[int, ...]:
    """The axes a fit reduced over, as non-negative ints."""
    return tuple(range(ndim)) if axis is None else tuple(
        a % ndim for a in ((axis,) if np.ndim(axis) == 0 else axis))


def standardize(x: ArrayLike, stats: Standardization) -> np.ndarray:
    """Apply fitted standardisation: ``(x - mean) / std``.

    Args:
      x: data of any split, with the features the statistics were fitted on.
      stats: from :func:`fit_standardize` on the training data.

    Returns:
      The standardised array (floating point).

    Raises:
      ValueError: the statistics would change ``x``'s shape or were fitted on other
        features (e.g. on 1 feature, for ``x`` with 4).

    Example:
      >>> import numpy as np
      >>> from nnfunc.data import fit_standardize, standardize
      >>> s = fit_standardize(np.array([0.0, 2.0]), axis=None)
      >>> standardize(np.array([4.0]), s).tolist()
      [3.0]
    """
    x = _float(x)
    _check_stats_shape("standardize", x, stats)
    return (x - stats.mean) / stats.std


def unstandardize(z: ArrayLike, stats: Standardization) -> np.ndarray:
    """Invert :func:`standardize`: ``z * std + mean``.

    Args:
      z: standardised data.
      stats: the statistics used to standardise it.

    Returns:
      Data on the original scale.

    Example:
      >>> import numpy as np
      >>> from nnfunc.data import fit_standardize, standardize, unstandardize
      >>> x = np.array([1.0, 5.0, 9.0])
      >>> s = fit_standardize(x)
      >>> bool(np.allclose(unstandardize(standardize(x, s), s), x))
      True
    """
    z = _float(z)
    _check_stats_shape("unstandardize", z, stats)
    return z * stats.std + stats.mean


def fit_min_max(x: ArrayLike, *, axis: Axis = 0) -> MinMax:
    """Fit per-feature minimum and maximum on training data.

    ``min = min(x)``, ``max = max(x)`` over ``axis`` (kept as size-1 dims).

    Args:
      x: training data.
      axis: axis or axes to reduce over; None for global extremes.

    Returns:
      A :class:`MinMax` ``(min, max, axes)``.

    Example:
      >>> import numpy as np
      >>> from nnfunc.data import fit_min_max
      >>> fit_min_max(np.array([[0, 5], [4, 1]])).max.tolist()
      [[4.0, 5.0]]
    """
    x = _float(x)
    _check_finite("fit_min_max", x)
    return MinMax(x.min(axis=axis, keepdims=True), x.max(axis=axis, keepdims=True),
                  _axes(axis, x.ndim))


def min_max_scale(x: ArrayLike, stats: MinMax, *, feature_range: Sequence[float] = (-1.0, 1.0),
                  clip: bool = False) -> np.ndarray:
    """Scale features linearly so the fitted ``[min, max]`` maps to ``feature_range``.

    ``y = a + (x - min) * (b - a) / (max - min)``; a constant feature (max == min) maps
    to the middle ``(a + b) / 2``.

    Args:
      x: data of any split.
      stats: from :func:`fit_min_max` on the training data.
      feature_range: target interval ``(a, b)`` with ``a < b``; default ``(-1, 1)``.
      clip: clip the result to ``[a, b]`` (values outside the training range otherwise
        land outside it).

    Returns:
      The scaled array.

    Example:
      >>> import numpy as np
      >>> from nnfunc.data import fit_min_max, min_max_scale
      >>> x = np.array([[0.0], [5.0], [10.0]])
      >>> min_max_scale(x, fit_min_max(x)).ravel().tolist()
      [-1.0, 0.0, 1.0]
    """
    a, b = _range("feature_range", feature_range)
    clip = check_bool("clip", clip)
    x = _float(x)
    _check_stats_shape("min_max_scale", x, stats)
    span = stats.max - stats.min
    safe = np.where(span > 0, span, np.ones_like(span))
    y = np.where(span > 0, a + (x - stats.min) * ((b - a) / safe), (a + b) / 2)
    y = y.astype(np.result_type(x.dtype, np.float32), copy=False)
    return np.clip(y, a, b) if clip else y


def linear_scale(x: ArrayLike, *, in_range: Sequence[float] = (0.0, 255.0),
                 out_range: Sequence[float] = (-1.0, 1.0)) -> np.ndarray:
    """Map a known input interval linearly onto an output interval (no fitting).

    ``y = c + (x - a) * (d - c) / (b - a)`` for ``in_range = (a, b)``,
    ``out_range = (c, d)``; e.g. uint8 pixels to ``[-1, 1]``.

    Args:
      x: data.
      in_range: the input interval ``(a, b)``, ``a < b``.
      out_range: the output interval ``(c, d)``, ``c < d``.

    Returns:
      The scaled array (float32 for integer input).

    Example:
      >>> import numpy as np
      >>> from nnfunc.data import linear_scale
      >>> linear_scale(np.array([0, 255], dtype=np.uint8)).tolist()
      [-1.0, 1.0]
    """
    a, b = _range("in_range", in_range)
    c, d = _range("out_range", out_range)
    x = _float(x)
    return ((x - x.dtype.type(a)) * x.dtype.type((d - c) / (b - a)) + x.dtype.type(c))


def log_scale(x: ArrayLike, *, offset: float = 1.0) -> np.ndarray:
    """Compress a heavy-tailed non-negative feature: ``y = log(x + offset)``.

    With the default ``offset=1`` this is ``log1p(x)`` (computed accurately near 0).

    Args:
      x: data with ``x + offset > 0`` everywhere.
      offset: added before the log.

    Returns:
      The log-scaled array.

    Raises:
      ValueError: if any ``x + offset <= 0``.

    Example:
      >>> import numpy as np
      >>> from nnfunc.data import log_scale
      >>> np.round(log_scale(np.array([0.0, np.e - 1])), 6).tolist()
      [0.0, 1.0]
    """
    x = _float(x)
    check_finite("offset", offset)
    if x.size and not (x + offset > 0).all():
        raise ValueError(f"log_scale needs x + offset > 0 everywhere; got min(x) = "
                         f"{x.min()} with offset = {offset}")
    return np.log1p(x) if offset == 1.0 else np.log(x + x.dtype.type(offset))


def clip(x: ArrayLike, *, low: Optional[float] = None, high: Optional[float] = None) -> np.ndarray:
    """Clip values to ``[low, high]``: ``y = min(max(x, low), high)``.

    Args:
      x: data.
      low: lower bound, or None for none.
      high: upper bound, or None for none.

    Returns:
      The clipped array.

    Raises:
      ValueError: if both bounds are None or ``low > high``.

    Example:
      >>> import numpy as np
      >>> from nnfunc.data import clip
      >>> clip(np.array([-5.0, 0.5, 9.0]), low=0.0, high=1.0).tolist()
      [0.0, 0.5, 1.0]
    """
    if low is None and high is None:
        raise ValueError("clip needs low or high, got neither")
    for name, bound in (("low", low), ("high", high)):
        if bound is not None:
            check_finite(name, bound)
    if low is not None and high is not None and low > high:
        raise ValueError(f"low must be <= high, got low={low}, high={high}")
    return np.clip(np.asarray(x), low, high)


def one_hot(labels: ArrayLike, num_classes: Optional[int] = None, *,
            dtype: DTypeLike = np.float32) -> np.ndarray:
    """One-hot encode integer labels: ``y[..., k] = 1 if labels == k else 0``.

    Args:
      labels: integer class indices of any shape.
      num_classes: number of classes; default ``max(labels) + 1``.
      dtype: output dtype.

    Returns:
      An array of shape ``labels.shape + (num_classes,)``.

    Raises:
      ValueError: for non-integer labels or labels outside ``[0, num_classes)``.

    Example:
      >>> import numpy as np
      >>> from nnfunc.data import one_hot
      >>> one_hot(np.array([0, 2]), 3).tolist()
      [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
            or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must be in [0, {num_classes}), got range "
                         f"[{labels.min()}, {labels.max()}]")
    return (labels[..., None] == np.arange(num_classes)).astype(dtype)
