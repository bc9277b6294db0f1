"""Figures that look inside data and models: image grids (:func:`images`), per-layer
activation statistics (:func:`activation_stats`, drawing what
``nf.layers.activation_stats`` computes) and word vectors projected to the plane
(:func:`embedding_2d`).
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence

import numpy as np
from numpy.typing import ArrayLike

from nnfunc import layers
from nnfunc._checks import check_int
from nnfunc.plot._base import Axes, Figure, panels
from nnfunc.text import KeyedVectors

__all__ = ["images", "activation_stats", "embedding_2d"]


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
    axes = panels(ax, n, "images", grid=(nrows, ncols), at_least=True,
                  figsize=(1.4 * ncols, 1.5 * nrows if names else 1.4 * nrows))
    for i, axis in enumerate(axes):
        axis.set_axis_off()
        if i < n:
            axis.imshow(imgs[i], cmap=cmap if grey else None, vmin=lo, vmax=hi,
                        interpolation="nearest")
            if names:
                axis.set_title(names[i], fontsize=9)
    return axes[0].figure


# --------------------------------------------------------------------- activation stats

_STAT_KEYS = ("layer", "mean", "std", "dead_fraction")


def _stat_runs(model: Any, params: Any, state: Any, x: Any) -> dict:
    """``{label or None: records}`` from a model and a batch, records, or a dict of them."""
    if isinstance(model, layers.Layer) or (callable(getattr(model, "apply", None))
                                    and callable(getattr(model, "init", None))):
        if x is None:
            raise ValueError("activation_stats needs params, state and a batch x for a "
                             "model (or precomputed records instead of the model)")
        return {None: layers.activation_stats(model, params, state, x)}
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
    top, bottom = panels(ax, 2, "activation_stats", grid=(2, 1),
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
    (axis,) = panels(ax, 1, "embedding_2d", figsize=(7.0, 6.0))
    axis.scatter(coords[:, 0], coords[:, 1], s=12)
    for (px, py), w in zip(coords, names or []):
        axis.annotate(w, (px, py), xytext=(3, 3), textcoords="offset points", fontsize=8)
    axis.set(xlabel=f"PC1 ({ratio[0]:.0%} of variance)",
             ylabel=f"PC2 ({ratio[1]:.0%} of variance)")
    return axis.figure
