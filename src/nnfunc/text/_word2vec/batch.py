"""The batch: what one SGD step trains on (:class:`Batch`), the table rows it reads
(:func:`batch_rows`) and how many focus positions it holds by default
(:func:`default_batch_size`, :func:`capped_batch_size`)."""
from __future__ import annotations

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from nnfunc._checks import check_int
from nnfunc.text._word2vec.layout import to_pairs
from nnfunc.text._word2vec.model import Word2Vec
from nnfunc.text.sampling import draw_negatives

__all__ = ["Batch", "make_batch", "batch_rows", "context_walks_focus_path", "pair_focus",
           "default_batch_size", "capped_batch_size"]


class Batch(NamedTuple):
    """What one SGD step trains on: ``B`` focus positions and their ``P = B (W + 1)``
    (focus, context) pairs, laid out as :func:`pair_layout` says.

    Attributes:
      focus: ``(B,)`` int32 focus word ids, widest dynamic window first.
      contexts: ``(P,)`` int32 context word id of each pair.
      valid: ``(P,)`` bool, whether the pair is real (same sentence, no padding).
      negatives: the noise words, ``(P, K)`` for skip-gram (one set per pair) or
        ``(B, K)`` for CBOW (one per focus); ``None`` unless ``output='negative'``.
    """
    focus: jax.Array
    contexts: jax.Array
    valid: jax.Array
    negatives: Optional[jax.Array]


def make_batch(model: Word2Vec, focus: jax.Array, contexts: jax.Array, valid: jax.Array,
               key: jax.Array) -> Batch:
    r"""A :class:`Batch`, drawing the negatives (fresh for every skip-gram pair / CBOW
    focus) from ``key``.

    .. math:: n_{p,k} \sim P_n \ \text{(skip-gram)}, \qquad n_{b,k} \sim P_n \
              \text{(CBOW)}

    Args:
      model: a :class:`Word2Vec`.
      focus: ``(B,)`` focus word ids (widest window first).
      contexts: ``(P,)`` the context of each pair (:func:`pair_layout` order).
      valid: ``(P,)`` which pairs are real.
      key: the PRNG key of the negatives.

    Returns:
      A :class:`Batch`.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from nnfunc.text.corpus import Vocab
      >>> from nnfunc.text import word2vec
      >>> from nnfunc.text._word2vec.batch import make_batch
      >>> model = word2vec(Vocab.build([list("aabbc")], min_count=1), window=1,
      ...                  negatives=3)
      >>> b = make_batch(model, jnp.array([0]), jnp.array([1, 2]), jnp.array([True, True]),
      ...                jax.random.key(0))
      >>> b.negatives.shape
      (2, 3)
    """
    negatives = None
    if model.output == "negative":
        per = contexts.shape if model.architecture == "skipgram" else focus.shape
        negatives = draw_negatives(key, model.negative_table, per + (model.negatives,))
    return Batch(focus, contexts, valid, negatives)


def batch_rows(model: Word2Vec, batch: Batch) -> tuple[jax.Array, Optional[jax.Array]]:
    r"""The ids of the rows a step reads from the input and the output table (``None``:
    the full softmax reads the whole output table).

    .. math:: \text{skip-gram: in} = \text{focus},\ \text{out} = (\text{context},
              n_1..n_K) \qquad
              \text{skip-gram, hierarchical: in} = \text{context},\ \text{out} =
              \text{points}[\text{focus}]

    .. math:: \text{CBOW: in} = \text{contexts},\ \text{out} = (\text{focus},
              n_1..n_K) \text{ or points}[\text{focus}]

    Skip-gram with hierarchical softmax follows word2vec.c and gensim
    (``fast_sentence_sg_hs(points[focus], codes[focus], ..., context)``): each pair's
    context vector walks the focus word's Huffman path. Over a corpus that is the same
    set of pairs as the focus vector walking the context's path, but a batch of summed
    updates (:func:`sparse_sgd_step`) trains better this way: its word-similarity scores
    come closer to gensim's. Each focus's :math:`\le 2W` pairs then share one path, as
    they do in word2vec.c, where that path is stepped once per context word. Negative
    sampling keeps the focus vector as the input: one ``(B,)`` gather rather than
    ``(P,)``, and its vectors score at or above gensim's either way. Two of gensim's own
    departures from word2vec.c do not explain that difference, so neither is taken:
    skipping the terms with :math:`|u^\top h| \ge 6`, as gensim's negative sampling
    does, and gensim's initial range :math:`[-1, 1) / \text{dim}` (word2vec.c's is half
    that).

    Args:
      model: a :class:`Word2Vec`.
      batch: a :class:`Batch`.

    Returns:
      ``(in_ids, out_ids)``: skip-gram ``(B,)`` and ``(P, 1 + K)`` (negative sampling),
      ``(P,)`` and ``(P, D)`` (hierarchical softmax), or ``(B,)`` and ``None`` (softmax);
      CBOW ``(P,)`` and ``(B, 1 + K)`` or ``(B, D)``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from nnfunc.text.corpus import Vocab
      >>> from nnfunc.text import word2vec
      >>> from nnfunc.text._word2vec.batch import make_batch, batch_rows
      >>> model = word2vec(Vocab.build([list("aabbc")], min_count=1), window=1,
      ...                  negatives=2)
      >>> b = make_batch(model, jnp.array([0]), jnp.array([1, 2]), jnp.array([True, True]),
      ...                jax.random.key(0))
      >>> in_ids, out_ids = batch_rows(model, b)
      >>> in_ids.tolist(), out_ids.shape, out_ids[:, 0].tolist()
      ([0], (2, 3), [1, 2])
    """
    skipgram = model.architecture == "skipgram"
    in_ids = batch.focus if skipgram else batch.contexts
    target = batch.contexts if skipgram else batch.focus
    if context_walks_focus_path(model):
        in_ids, target = batch.contexts, pair_focus(batch)
    if model.output == "negative":
        out_ids = jnp.concatenate([target[:, None], batch.negatives], axis=1)
    elif model.output == "hierarchical":
        out_ids = model.tree.points.at[target].get(mode="promise_in_bounds")
    else:
        out_ids = None
    return in_ids, out_ids


def context_walks_focus_path(model: Word2Vec) -> bool:
    """Skip-gram with hierarchical softmax: word2vec.c's direction (the context's input
    vector on the focus's path), see :func:`batch_rows`."""
    return model.architecture == "skipgram" and model.output == "hierarchical"


def pair_focus(batch: Batch) -> jax.Array:
    """``(P,)`` the focus word of each pair."""
    window = batch.contexts.shape[0] // batch.focus.shape[0] - 1
    return to_pairs(batch.focus, window)


def default_batch_size(model: Word2Vec, step_bytes: Optional[int] = None) -> int:
    r"""The cache-sized batch, :func:`train_word2vec`'s default where batches do not change
    the vectors (CBOW and hierarchical skip-gram take at most a few lanes, see there): as
    many focus positions as keep the rows one step gathers within ``step_bytes`` (the step
    then runs in cache).

    .. math:: B = 2W \max\Big(1, \Big\lfloor \frac{\text{step\_bytes}}{2W \cdot
              4\,\text{dim} \cdot R} \Big\rfloor\Big), \qquad
              R = \begin{cases} 1 + (W + 1)\,T & \text{skip-gram} \\
              (W + 1)(1 + D) & \text{skip-gram, hierarchical} \\ (W + 1) + T &
              \text{CBOW} \end{cases}

    the rows per focus position (:math:`W + 1` pairs each on average; :math:`T = 1 + K`,
    the depth :math:`D` of the Huffman tree, or :math:`v` for the full softmax). On a CPU
    the fastest batches are of this order (the word2vec benchmarks sweep the batch size).

    Args:
      model: a :class:`Word2Vec`.
      step_bytes: the budget; default 4 MiB on CPU (a core's share of L2/L3) and
        64 MiB on accelerators (fewer, larger steps).

    Returns:
      The batch size, a multiple of ``2 * window``.

    Example:
      >>> from nnfunc.text.corpus import Vocab
      >>> from nnfunc.text import word2vec
      >>> from nnfunc.text._word2vec.batch import default_batch_size
      >>> vocab = Vocab([f"w{i}" for i in range(1000)], [1000 - i for i in range(1000)])
      >>> default_batch_size(word2vec(vocab), step_bytes=4 * 2**20)
      280
      >>> default_batch_size(word2vec(vocab, architecture='cbow'), step_bytes=4 * 2**20)
      870
    """
    if step_bytes is None:
        step_bytes = (4 if jax.default_backend() == "cpu" else 64) * 2**20
    step_bytes = check_int("step_bytes", step_bytes, minimum=1)
    w = model.window
    if model.output == "negative":
        per_example = 1 + model.negatives
    elif model.output == "hierarchical":
        per_example = int(model.tree.codes.shape[1])
    else:
        per_example = len(model.vocab)
    if context_walks_focus_path(model):       # a context row per pair (batch_rows)
        rows = (w + 1) * (1 + per_example)
    elif model.architecture == "skipgram":
        rows = 1 + (w + 1) * per_example
    else:
        rows = (w + 1) + per_example
    chunks = step_bytes // (2 * w * 4 * model.dim * rows)
    return 2 * w * max(1, int(chunks))


# The most lanes (of 2W positions) a default batch takes, on every backend, where larger
# batches move the vectors away from gensim's (the word2vec batches benchmark): CBOW's
# match only with small batches, hierarchical skip-gram's up to 82 lanes. Skip-gram with
# negative sampling matches across the batch sizes tried and keeps the cache size; the
# full softmax has no cap.
_QUALITY_LANES = {("cbow", "hierarchical"): 1, ("cbow", "negative"): 5,
                  ("skipgram", "hierarchical"): 82}


def capped_batch_size(model: Word2Vec, step_bytes: Optional[int] = None) -> int:
    """:func:`train_word2vec`'s default: the cache-sized batch within the quality caps."""
    batch = default_batch_size(model, step_bytes)
    lanes = _QUALITY_LANES.get((model.architecture, model.output))
    return batch if lanes is None else min(batch, lanes * 2 * model.window)
