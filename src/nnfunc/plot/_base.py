"""What every figure of ``nnfunc.plot`` shares: the ``Figure``/``Axes`` type names and
:func:`panels`, which makes the Axes a function draws on, or checks those given as ``ax=``.

Internal module of ``nnfunc.plot``: matplotlib is imported (through
``nnfunc._mpl.pyplot``) only when a figure is made.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from nnfunc._mpl import pyplot

__all__ = ["Figure", "Axes", "panels"]

Figure = Any          # matplotlib.figure.Figure (matplotlib is imported lazily)
Axes = Any            # a matplotlib Axes, or a sequence of them where there are panels


def _is_axes(ax: Any) -> bool:
    return hasattr(ax, "plot") and hasattr(ax, "figure")


def panels(ax: Any, n: int, who: str, *, grid: Optional[tuple[int, int]] = None,
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

