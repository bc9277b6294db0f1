"""The epoch layout: the subsampled corpus compacted on the device with its dynamic windows
(:func:`epoch_layout`), cut into lanes (:func:`lane_steps`, :func:`batch_slots`), and each
batch's focus words and (focus, context) pairs read from it (:func:`batch_contexts`)."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from nnfunc.text._word2vec.layout import pair_layout, to_pairs
from nnfunc.text.sampling import dynamic_windows, subsample

__all__ = ["EpochLayout", "epoch_layout", "layout_from_keys", "lane_steps", "batch_slots",
           "batch_contexts"]


class EpochLayout(NamedTuple):
    """One epoch's subsampled corpus, compacted to a static number of slots ``S``.

    Attributes:
      tokens: ``(W + S + W,)`` int32: ``W`` (the window) padding slots, the kept tokens
        in corpus order, padding up to ``S`` slots, ``W`` padding slots (padding id 0).
      sentences: ``(W + S + W,)`` int32 sentence id of each slot, -1 for padding.
      order: ``(S,)`` int32: block ``s`` (``B`` entries) holds batch ``s``'s positions
        0..B-1 by dynamic window, widest first: the ``j``-th has window
        ``W - j // (B / W)`` (:func:`~nnfunc.text.sampling.dynamic_windows` with
        ``block=B``).
      kept: int32 scalar, how many tokens were kept.
    """
    tokens: jax.Array
    sentences: jax.Array
    order: jax.Array
    kept: jax.Array


def epoch_layout(key: jax.Array, tokens: jax.Array, sentences: jax.Array,
                 keep_prob: jax.Array, window: int, batch_size: int,
                 steps: int) -> EpochLayout:
    r"""Subsample the corpus, compact the kept tokens (stable) into ``steps *
    batch_size`` slots and draw the (batch-stratified) dynamic windows; jit-able.

    .. math:: \text{slot}(i) = \textstyle\sum_{j < i} \text{keep}_j
              \quad\text{for each kept token } i

    Args:
      key: the epoch's PRNG key (split for subsampling and windows).
      tokens: ``(N,)`` int32 word ids of the whole corpus.
      sentences: ``(N,)`` int32 sentence id of each token (equal ids are contiguous).
      keep_prob: ``(v,)`` keep probabilities (:func:`~nnfunc.text.sampling.keep_probabilities`).
      window: the maximum window ``W`` (static).
      batch_size: ``B``, a multiple of ``2 W`` (static).
      steps: the number of batches, with ``steps * B >= N`` (static).

    Returns:
      An :class:`EpochLayout`.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from nnfunc.text._word2vec.epoch import epoch_layout
      >>> lay = epoch_layout(jax.random.key(0), jnp.array([0, 1, 0, 2]),
      ...                    jnp.array([0, 0, 1, 1]), jnp.array([1.0, 0.0, 1.0]), 1, 2, 2)
      >>> lay.tokens.tolist(), lay.sentences.tolist(), int(lay.kept)
      ([0, 0, 0, 2, 0, 0], [-1, 0, 1, 1, -1, -1], 3)
    """
    k_sub, k_win = jax.random.split(key)
    return layout_from_keys(k_sub, k_win, tokens, sentences, keep_prob, window, batch_size,
                            steps)


def layout_from_keys(k_sub, k_win, tokens, sentences, keep_prob, window, batch_size, steps):
    """:func:`epoch_layout` with its two keys given."""
    n, size = tokens.shape[0], steps * batch_size
    keep = subsample(k_sub, tokens, keep_prob)
    # The kept tokens' indices first, in corpus order: one sort of i (kept) and 2**31 + i
    # (dropped) as uint32, where a cumsum-and-scatter compaction takes longer to compile.
    index = jnp.arange(n, dtype=jnp.uint32)
    order = jnp.sort(jnp.where(keep, index, index + jnp.uint32(2**31)))
    positions = jnp.pad((order & jnp.uint32(2**31 - 1)).astype(jnp.int32), (0, size - n))
    kept = jnp.sum(keep, dtype=jnp.int32)
    real = jnp.arange(size) < kept

    def compact(values, fill):
        picked = jnp.where(real, values.at[positions].get(mode="promise_in_bounds"), fill)
        return jnp.pad(picked, window, constant_values=fill)

    windows = dynamic_windows(k_win, size, window, block=batch_size)
    by_window = jnp.argsort(-windows.reshape(steps, batch_size), axis=1, stable=True)
    return EpochLayout(compact(tokens, 0), compact(sentences, -1),
                       by_window.reshape(size).astype(jnp.int32), kept)


def lane_steps(kept: Any, batch_size: int, window: int) -> Any:
    r"""How many batches an epoch of ``kept`` tokens takes: the kept slots are cut into
    :math:`B / 2W` lanes of :math:`L` slots, and each batch takes :math:`2W` consecutive
    slots from every lane.

    .. math:: L = 2W \left\lceil \frac{\lceil k / (B / 2W) \rceil}{2W} \right\rceil,
              \qquad \text{steps} = L / 2W

    Args:
      kept: the number of kept tokens :math:`k` (an int or a traced int32).
      batch_size: ``B``, a multiple of ``2 W``.
      window: the maximum window ``W``.

    Returns:
      The number of batches (same kind as ``kept``).

    Example:
      >>> from nnfunc.text._word2vec.epoch import lane_steps
      >>> lane_steps(1001, 40, 5)          # 4 lanes of 251 -> 260 slots: 26 steps
      26
    """
    chunk = 2 * window
    lanes = batch_size // chunk
    return ((kept + lanes - 1) // lanes + chunk - 1) // chunk


def batch_slots(kept: Any, step: Any, batch_size: int, window: int) -> jax.Array:
    r"""The slots of batch ``step``'s positions ``0..B-1``: position :math:`i` is offset
    :math:`i \bmod 2W` of the batch's chunk of lane :math:`\lfloor i / 2W \rfloor`.

    .. math:: \text{slot}(i) = \lfloor i / 2W \rfloor\, L + 2W\, \text{step} + i \bmod 2W

    A batch thus trains on :math:`B / 2W` far-apart stretches of the corpus at once, like
    word2vec.c's threads on their own parts of the file: a batch of consecutive positions
    would hold the same topical words many times over, and their updates, all computed
    from the values before the step, would pile up (a higher final loss and worse word
    similarity than with lanes).

    Args:
      kept: the number of kept tokens (may be traced).
      step: the batch index (may be traced).
      batch_size: ``B``, a multiple of ``2 W`` (static).
      window: the maximum window ``W`` (static).

    Returns:
      ``(B,)`` int32 slot indices (those at or past ``kept`` are padding).

    Example:
      >>> from nnfunc.text._word2vec.epoch import batch_slots
      >>> batch_slots(1000, 1, 20, 5).tolist()   # 2 lanes of 500 slots
      [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 510, 511, 512, 513, 514, 515, 516, 517, 518, 519]
    """
    chunk = 2 * window
    length = lane_steps(kept, batch_size, window) * chunk
    i = jnp.arange(batch_size, dtype=jnp.int32)
    return (i // chunk) * length + chunk * step + i % chunk


def batch_contexts(layout: EpochLayout, step: Any, batch_size: int,
                   window: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    r"""Batch ``step``'s focus words (widest window first), the context of each of their
    pairs and whether the pair is valid.

    .. math:: \text{context}_p = t_{f(p) + o_p}, \qquad
              \text{valid}_p = [s_{f(p) + o_p} = s_{f(p)} \ge 0]

    (:math:`f(p)` the slot of the pair's focus (:func:`batch_slots`); the offset is
    within its window by the :func:`pair_layout`; the context must lie in the same
    sentence of the subsampled corpus, and neither may be padding).

    Args:
      layout: the epoch's :class:`EpochLayout`.
      step: the batch index (may be traced).
      batch_size: ``B`` (static).
      window: the maximum window ``W`` (static).

    Returns:
      ``(focus (B,), contexts (P,), valid (P,))``, as :class:`Batch` holds them.

    Example:
      >>> import jax.numpy as jnp
      >>> from nnfunc.text._word2vec.epoch import EpochLayout, batch_contexts
      >>> lay = EpochLayout(jnp.array([0, 5, 6, 7, 0]), jnp.array([-1, 0, 0, 1, -1]),
      ...                   jnp.array([1, 0]), jnp.array(3))
      >>> focus, ctx, valid = batch_contexts(lay, 0, 2, 1)
      >>> focus.tolist(), ctx.tolist(), valid.tolist()
      ([6, 5], [5, 0, 7, 6], [True, False, False, True])
    """
    lay = pair_layout(batch_size, window)
    last = layout.tokens.shape[0] - 1
    order = jax.lax.dynamic_slice_in_dim(layout.order, step * batch_size, batch_size)
    # slots past the end of the array (a short last lane) read the final padding slot
    focus = jnp.minimum(batch_slots(layout.kept, step, batch_size, window)[order] + window,
                        last)
    at = jnp.clip(focus[lay.focus] + jnp.asarray(lay.offsets), 0, last)
    focus_sent = to_pairs(layout.sentences.at[focus].get(mode="promise_in_bounds"), window)
    contexts = layout.tokens.at[at].get(mode="promise_in_bounds")
    valid = ((layout.sentences.at[at].get(mode="promise_in_bounds") == focus_sent)
             & (focus_sent >= 0))
    return layout.tokens.at[focus].get(mode="promise_in_bounds"), contexts, valid
