"""Rank and linear correlation for :meth:`~nnfunc.text.KeyedVectors.evaluate_word_pairs`:
scipy's ``rankdata`` and ``pearsonr`` without scipy."""
from __future__ import annotations

import numpy as np

__all__ = ["rankdata", "pearson"]


def rankdata(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n, tied values sharing the average of their ranks."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    first = np.r_[True, xs[1:] != xs[:-1]]
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(x)]
    ranks = np.empty(len(x))
    ranks[order] = ((starts + ends + 1) / 2.0)[np.cumsum(first) - 1]
    return ranks


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r (NaN when either input is constant, as in scipy)."""
    xm = x - x.mean()
    ym = y - y.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.dot(xm / np.linalg.norm(xm), ym / np.linalg.norm(ym))
    return float(np.clip(r, -1.0, 1.0))
