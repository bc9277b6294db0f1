r"""The pair layout of a batch: its ``B`` focus positions, ordered widest dynamic window
first, and their :math:`P = B(W + 1)` (focus, context) pairs stored offset by offset
(:func:`pair_layout`), with the per-focus / per-pair conversions :func:`to_pairs` and
:func:`from_pairs`."""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nnfunc._checks import check_int

__all__ = ["PairLayout", "pair_layout", "to_pairs", "from_pairs"]


class PairLayout(NamedTuple):
    """Where the (focus, context) pairs of a batch sit: its static structure.

    A batch's ``B`` focus positions are ordered by their dynamic window, widest first,
    and each window size holds ``B / W`` of them (see
    :func:`~nnfunc.text.sampling.dynamic_windows` with ``block``). Offset :math:`o`
    (:math:`-W..-1, 1..W`) is then within the window of exactly the first
    :math:`n_o = B (W - |o| + 1) / W` focus positions, and the batch's
    :math:`P = \\sum_o n_o = B (W + 1)` pairs are stored offset by offset.

    Attributes:
      counts: :math:`n_o` for each offset, in the order -W..-1, 1..W.
      focus: ``(P,)`` int, the focus position (0..B-1) of each pair.
      offsets: ``(P,)`` int, the offset of each pair.
    """
    counts: tuple
    focus: np.ndarray
    offsets: np.ndarray


def pair_layout(batch_size: int, window: int) -> PairLayout:
    r"""The static pair structure of a batch of ``batch_size`` focus positions.

    .. math:: n_o = \frac{B\,(W - |o| + 1)}{W}, \qquad P = \sum_{o \ne 0} n_o = B (W + 1)

    Args:
      batch_size: ``B``, a multiple of ``window``.
      window: the maximum window ``W >= 1``.

    Returns:
      A :class:`PairLayout`.

    Example:
      >>> from nnfunc.text._word2vec.layout import pair_layout
      >>> lay = pair_layout(4, 2)
      >>> lay.counts, lay.focus.tolist()
      ((2, 4, 4, 2), [0, 1, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1])
      >>> lay.offsets.tolist()
      [-2, -2, -1, -1, -1, -1, 1, 1, 1, 1, 2, 2]
    """
    batch_size = check_int("batch_size", batch_size, minimum=1)
    window = check_int("window", window, minimum=1)
    if batch_size % window:
        raise ValueError(f"batch_size must be a multiple of window ({window}), got "
                         f"{batch_size}")
    offsets = np.concatenate([np.arange(-window, 0), np.arange(1, window + 1)])
    counts = tuple(int(batch_size * (window - abs(o) + 1) // window) for o in offsets)
    return PairLayout(counts, np.concatenate([np.arange(n) for n in counts]),
                      np.repeat(offsets, counts))


def to_pairs(x: jax.Array, window: int) -> jax.Array:
    r"""Per-focus values repeated for each of the focus's pairs: ``x[layout.focus]``,
    built from prefix slices (``x[:n_o]`` for each offset) rather than a gather.

    .. math:: y_p = x_{\text{focus}(p)}

    Args:
      x: ``(B, ...)`` per focus position (in window order, widest first).
      window: the maximum window ``W``.

    Returns:
      ``(B (W + 1), ...)``.

    Example:
      >>> import jax.numpy as jnp
      >>> from nnfunc.text._word2vec.layout import to_pairs
      >>> to_pairs(jnp.array([10, 20]), 2).tolist()
      [10, 10, 20, 10, 20, 10]
    """
    counts = pair_layout(x.shape[0], window).counts
    return jnp.concatenate([x[:n] for n in counts], axis=0)


def from_pairs(x: jax.Array, window: int) -> jax.Array:
    r"""Per-pair values summed over each focus's pairs (the transpose of :func:`to_pairs`).

    .. math:: y_b = \sum_{p\,:\,\text{focus}(p) = b} x_p

    Args:
      x: ``(B (W + 1), ...)`` per pair.
      window: the maximum window ``W``.

    Returns:
      ``(B, ...)``.

    Example:
      >>> import jax.numpy as jnp
      >>> from nnfunc.text._word2vec.layout import from_pairs
      >>> from_pairs(jnp.array([1, 2, 3, 4, 5, 6]), 2).tolist()
      [13, 8]
    """
    b = x.shape[0] // (window + 1)
    total, start = None, 0
    for n in pair_layout(b, window).counts:
        part = jnp.pad(x[start: start + n], [(0, b - n)] + [(0, 0)] * (x.ndim - 1))
        total = part if total is None else total + part
        start += n
    return total
