r"""word2vec (Mikolov et al. 2013): skip-gram and CBOW with negative sampling, hierarchical
softmax or a full softmax, trained with word2vec.c's plain SGD and linearly decaying
learning rate, one compiled program per epoch.

How an epoch runs on the device (:func:`train_word2vec`):

1. The corpus lives on the device as one flat int32 token array and the sentence id of
   every token. From the epoch's key, :func:`epoch_layout` subsamples the tokens, moves
   the kept ones (in order) to the front of an array of static size ``steps * B``
   (padding has sentence id -1) and draws every focus position's dynamic window,
   stratified per batch: each batch of ``B`` holds every window size ``B / W`` times.
2. A ``lax.fori_loop`` runs over the epoch's batches of ``B`` focus positions (as many
   as the kept tokens fill): the kept slots are cut into
   :math:`B / 2W` lanes and each batch takes the next :math:`2W` positions of every lane
   (:func:`batch_slots`), like word2vec.c's threads each on its own part of the file.
   Ordered widest window first, the positions within offset :math:`o`'s reach are a
   prefix of the batch of static length :math:`n_o = B(W - |o| + 1)/W`
   (:func:`pair_layout`), so the batch's :math:`P = B(W + 1)` (focus, context) pairs have
   a static shape with no slot wasted on an offset beyond its window.
   :func:`batch_contexts` reads them; a pair is valid when the context lies in the same
   sentence and neither is padding (the window applies to the subsampled sentence, as
   in word2vec.c). Batches past the last lane's end are skipped.
3. :func:`make_batch` draws the negatives (fresh per skip-gram pair / CBOW focus);
   :func:`sparse_sgd_step` gathers the rows the batch uses (:func:`batch_rows`), takes
   ``jax.grad`` of :func:`batch_loss` with respect to the gathered rows, and
   scatter-adds ``-lr * grad`` into the two tables. No dense ``v x dim`` gradient is
   formed (except for the full softmax, which reads every output row).

The learning rate is word2vec.c's :math:`\eta = \max(\eta_{min}, \eta_0 (1 - p / (E N +
1)))`, :math:`p` the corpus words processed before the batch (subsampled ones included;
batch :math:`s` of an epoch's :math:`S` comes after :math:`\lfloor N s / S \rfloor` of its
words, the lanes advancing together), :math:`E N` the words of all epochs
(:func:`learning_rate_schedule`, an ``nf.schedules.polynomial`` evaluated on :math:`p`
inside the loop).

Beside word2vec.c: a batch updates its rows together from their values before the step
(word2vec.c's few threads step one example at a time, Hogwild), hence the lanes; the
dynamic windows are stratified per batch. As in word2vec.c, CBOW with ``cbow_mean``
averages the context vectors but gives each the hidden vector's whole gradient
(:func:`cbow_hidden`), and skip-gram with hierarchical softmax walks the focus word's
Huffman path with the context word's input vector (:func:`batch_rows`).
"""
from __future__ import annotations

import concurrent.futures
import functools
import time
from typing import Any, Callable, Iterable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from nnfunc import schedules
from nnfunc._checks import check_bool, check_choice, check_int, check_real
from nnfunc.text.huffman import huffman_tree
from nnfunc.text.sampling import (
    NegativeTable, draw_negatives, dynamic_windows, keep_probabilities, negative_table,
    subsample)
from nnfunc.text.vectors import KeyedVectors

__all__ = ["Word2Vec", "Word2VecResult", "word2vec", "train_word2vec", "PairLayout",
           "pair_layout", "to_pairs", "from_pairs", "Batch", "make_batch", "batch_rows",
           "logistic_loss", "softmax_loss", "cbow_hidden", "batch_loss", "sparse_sgd_step",
           "EpochLayout", "epoch_layout", "lane_steps", "batch_slots", "batch_contexts",
           "learning_rate_schedule", "default_batch_size",
           "encode_corpus"]

_ARCHITECTURES = ("skipgram", "cbow")
_MAX_ROW_HITS = 64          # train_word2vec's default cap (see there)
_OUTPUTS = ("negative", "hierarchical", "softmax")
_INT32_MAX = 2**31 - 1


class Word2Vec(NamedTuple):
    """A word2vec model: its configuration, vocabulary, sampling tables and initializer.

    Attributes:
      vocab: the :class:`~nnfunc.text.corpus.Vocab` (row ``i`` of each table is
        ``vocab.words[i]``).
      dim, window, architecture, output, negatives, sample, sample_formula, cbow_mean:
        the configuration given to :func:`word2vec`.
      keep_prob: float32 ``(v,)``, the subsampling keep probability of each word.
      negative_table: the noise distribution (output ``'negative'``), else ``None``.
      tree: the Huffman tree with device arrays (output ``'hierarchical'``), else ``None``.
      key: the key :func:`train_word2vec` initialises the parameters with.
      init: ``init(key) -> params``, ``{'in': (v, dim), 'out': (v, dim)}`` (``(v - 1,
        dim)`` for hierarchical softmax: one row per inner node).
    """
    vocab: Any
    dim: int
    window: int
    architecture: str
    output: str
    negatives: int
    sample: float
    sample_formula: str
    cbow_mean: bool
    keep_prob: jax.Array
    negative_table: Optional[NegativeTable]
    tree: Any
    key: Any
    init: Callable[[Any], dict]


class Word2VecResult(NamedTuple):
    """What :func:`train_word2vec` returns.

    Attributes:
      params: ``{'in': (v, dim), 'out': ...}``, the trained tables.
      vectors: ``KeyedVectors(vocab.words, params['in'])``, the word vectors.
      history: per epoch ``'loss'`` (mean loss per training example: a (focus, context)
        pair for skip-gram, a focus word for CBOW), ``'seconds'``, ``'words_per_s'``
        (corpus words, i.e. in-vocabulary tokens before subsampling, per second) and
        ``'lr'`` (the learning rate of the epoch's last batch); ``'compile_seconds'``
        holds the one compilation (not part of any epoch's seconds).
    """
    params: dict
    vectors: Any
    history: dict


def _init_fn(v: int, out_rows: int, dim: int) -> Callable[[Any], dict]:
    @jax.jit            # one small program, not one per eager operation
    def tables(key: jax.Array) -> dict:
        r = jax.random.uniform(key, (v, dim), jnp.float32)
        # word2vec.c: syn0 = (rand - 0.5) / dim, syn1 / syn1neg = 0.
        return {"in": (r - 0.5) / dim, "out": jnp.zeros((out_rows, dim), jnp.float32)}

    def init(key: Any) -> dict:
        return tables(jax.random.key(key) if isinstance(key, (int, np.integer)) else key)
    return init


def word2vec(vocab: Any, *, dim: int = 100, window: int = 5, architecture: str = "skipgram",
             output: str = "negative", negatives: int = 5, sample: float = 1e-3,
             sample_formula: str = "notes", cbow_mean: bool = True, key: Any = 0) -> Word2Vec:
    r"""Build a word2vec model over ``vocab``: skip-gram or CBOW, with negative sampling,
    hierarchical softmax or a full softmax as the output layer.

    With input vectors :math:`v_w` (``params['in']``), output vectors :math:`u`
    (``params['out']``) and hidden vector :math:`h` (skip-gram: :math:`v_{focus}`, one
    example per context word, predicting the context word :math:`o`; CBOW: the mean or
    sum of the context vectors, predicting the focus word :math:`o`), the loss of one
    example is

    .. math::
        \text{negative:}\ -\log\sigma(u_o^\top h) - \sum_{k=1}^{K}\log\sigma(-u_{n_k}^\top h)
        \quad
        \text{hierarchical:}\ -\sum_{d < L_o}\log\sigma\big((1 - 2c_{o,d})\,
        u_{p_{o,d}}^\top h\big)
        \quad
        \text{softmax:}\ -\log\operatorname{softmax}(U h)_o

    with :math:`n_k \sim P_n` (unigram^0.75; a negative equal to :math:`o` is skipped,
    as in word2vec.c) and :math:`(c, p, L)` the Huffman codes, inner-node points and code
    lengths. Skip-gram with hierarchical softmax takes word2vec.c's (and gensim's)
    direction instead: :math:`h = v_{context}` walks the *focus* word's path (the same
    pairs, each the other way round; see :func:`batch_rows`). ``softmax`` costs
    :math:`O(v)` per example: for small vocabularies and tests.

    Args:
      vocab: a :class:`~nnfunc.text.corpus.Vocab` with at least 2 words.
      dim: the vector size, >= 1.
      window: the maximum window, >= 1 (each focus position draws its own in 1..window).
      architecture: ``'skipgram'`` or ``'cbow'``.
      output: ``'negative'``, ``'hierarchical'`` or ``'softmax'``.
      negatives: negative samples per example, >= 1 (used with ``output='negative'``).
      sample: the subsampling threshold, >= 0 (0: no subsampling).
      sample_formula: ``'notes'`` (keep :math:`\sqrt{t/f}`) or ``'word2vec'``
        (word2vec.c's rule); see :func:`~nnfunc.text.sampling.keep_probabilities`.
      cbow_mean: CBOW's hidden vector is the mean (True) or the sum of the context
        vectors; either way each context vector gets the hidden vector's whole gradient,
        as in word2vec.c (:func:`cbow_hidden`).
      key: the key (or int seed) of the initial parameters ``model.init(model.key)``.

    Returns:
      A :class:`Word2Vec`.

    Raises:
      ValueError: naming the argument, for any value outside the ranges above.

    Example:
      >>> import numpy as np
      >>> from nnfunc.text.corpus import Vocab
      >>> from nnfunc.text.word2vec import word2vec
      >>> vocab = Vocab.build([["a", "b", "a", "c"]], min_count=1)
      >>> model = word2vec(vocab, dim=4, output='hierarchical')
      >>> params = model.init(model.key)
      >>> params['in'].shape, params['out'].shape
      ((3, 4), (2, 4))
      >>> bool(np.all(np.abs(params['in']) <= 0.5 / 4))
      True
    """
    if not all(hasattr(vocab, a) for a in ("words", "counts", "encode")):
        raise TypeError(f"vocab must be an nf.text.Vocab (Vocab.build(sentences)), got "
                        f"{type(vocab).__name__}")
    v = len(vocab)
    if v < 2:
        raise ValueError(f"vocab must have at least 2 words, got {v}")
    dim = check_int("dim", dim, minimum=1)
    window = check_int("window", window, minimum=1)
    cbow_mean = check_bool("cbow_mean", cbow_mean)
    check_choice("architecture", architecture, _ARCHITECTURES)
    check_choice("output", output, _OUTPUTS)
    if output == "negative":
        negatives = check_int("negatives", negatives, minimum=1)
    check_real("sample", sample, low=0.0)
    check_choice("sample_formula", sample_formula, ("notes", "word2vec"))
    counts = np.asarray(vocab.counts)
    keep = keep_probabilities(counts, sample, formula=sample_formula)
    table = negative_table(counts) if output == "negative" else None
    tree = None
    if output == "hierarchical":
        t = huffman_tree(counts)
        tree = t._replace(codes=jnp.asarray(t.codes, jnp.int8),
                          points=jnp.asarray(t.points, jnp.int32),
                          lengths=jnp.asarray(t.lengths, jnp.int32))
    out_rows = v - 1 if output == "hierarchical" else v
    return Word2Vec(vocab, dim, window, architecture, output, negatives, float(sample),
                    sample_formula, bool(cbow_mean), keep, table, tree, key,
                    _init_fn(v, out_rows, dim))


# --------------------------------------------------------------------------- batches

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
      >>> from nnfunc.text.word2vec import pair_layout
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
      >>> from nnfunc.text.word2vec import to_pairs
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
      >>> from nnfunc.text.word2vec import from_pairs
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
      >>> from nnfunc.text.word2vec import word2vec, make_batch
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
    updates (:func:`sparse_sgd_step`) trains better this way: on 331k words (dim 100,
    window 5, 5 epochs, seeds 0-2) WordSim-353 Spearman goes from 0.586 to 0.607 against
    gensim's 0.618 (seeds 3-8: 0.611 against 0.624; batches of 50 positions: 0.609),
    SimLex-999 stays at 0.24-0.25 like gensim's. Each focus's :math:`\le 2W` pairs then
    share one path, as they do in word2vec.c, where that path is stepped once per context
    word. Negative sampling keeps the focus vector as the input: one ``(B,)`` gather
    rather than ``(P,)``, and its quality is at or above gensim's either way (WordSim /
    SimLex +0.039 / +0.026 this way, +0.057 / +0.033 the other). Nor do two of gensim's
    own departures from word2vec.c explain that gap (seeds 0-2, batch 280, +0.029 /
    +0.033): skipping the terms with :math:`|u^\top h| \ge 6`, as gensim's negative
    sampling does, changed nothing (0.409 / 0.156 either way), and gensim's initial range
    :math:`[-1, 1) / \text{dim}` (word2vec.c's is half that) gave 0.436 / 0.161.

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
      >>> from nnfunc.text.word2vec import word2vec, make_batch, batch_rows
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
    if _context_walks_focus_path(model):
        in_ids, target = batch.contexts, _pair_focus(batch)
    if model.output == "negative":
        out_ids = jnp.concatenate([target[:, None], batch.negatives], axis=1)
    elif model.output == "hierarchical":
        out_ids = model.tree.points.at[target].get(mode="promise_in_bounds")
    else:
        out_ids = None
    return in_ids, out_ids


def _context_walks_focus_path(model: Word2Vec) -> bool:
    """Skip-gram with hierarchical softmax: word2vec.c's direction (the context's input
    vector on the focus's path), see :func:`batch_rows`."""
    return model.architecture == "skipgram" and model.output == "hierarchical"


def _pair_focus(batch: Batch) -> jax.Array:
    """``(P,)`` the focus word of each pair."""
    window = batch.contexts.shape[0] // batch.focus.shape[0] - 1
    return to_pairs(batch.focus, window)


# --------------------------------------------------------------------------- objectives

def logistic_loss(h: jax.Array, rows: jax.Array, signs: Any, weights: Any) -> jax.Array:
    r"""The weighted sum of binary logistic losses of output rows against hidden vectors:
    negative sampling and hierarchical softmax are both this, with different rows and signs.

    .. math:: L = \sum_{i, t} w_{it} \, \big(-\log \sigma(s_{it} \, u_{it}^\top h_i)\big)
              = \sum_{i, t} w_{it} \operatorname{softplus}(-s_{it} \, u_{it}^\top h_i)

    Args:
      h: hidden vectors, shape ``(n, dim)``.
      rows: output rows, shape ``(n, T, dim)``: ``T`` rows meet each ``h``.
      signs: +1 (a target, a code bit 0) or -1 (a negative, a code bit 1), broadcastable
        to ``(n, T)``.
      weights: 0 or 1 per row (masks invalid pairs, padding, ...), likewise.

    Returns:
      The scalar loss.

    Example:
      >>> import jax.numpy as jnp
      >>> from nnfunc.text.word2vec import logistic_loss
      >>> h = jnp.array([[1.0, 0.0]])
      >>> rows = jnp.array([[[2.0, 5.0], [1.0, 0.0]]])   # a target and a negative
      >>> round(float(logistic_loss(h, rows, jnp.array([1.0, -1.0]), 1.0)), 4)
      1.4402
    """
    # A batched matrix-vector product (dot_general), not a multiply-and-reduce: on CPU
    # its forward and backward passes run about 2x faster.
    x = jnp.einsum("ntd,nd->nt", rows, h)
    return jnp.sum(weights * jax.nn.softplus(-signs * x))


def softmax_loss(h: jax.Array, out: jax.Array, targets: jax.Array, weights: Any) -> jax.Array:
    r"""The weighted sum of full-softmax cross-entropies (:math:`O(v)` per example).

    .. math:: L = \sum_i w_i \big(\log \textstyle\sum_{w} e^{u_w^\top h_i}
              - u_{o_i}^\top h_i\big)

    Args:
      h: hidden vectors, shape ``(n, dim)``.
      out: the whole output table, shape ``(v, dim)``.
      targets: the target word ids, shape ``(n,)``.
      weights: 0 or 1 per example, broadcastable to ``(n,)``.

    Returns:
      The scalar loss.

    Example:
      >>> import jax.numpy as jnp
      >>> from nnfunc.text.word2vec import softmax_loss
      >>> h, out = jnp.array([[1.0]]), jnp.array([[0.0], [0.0]])
      >>> round(float(softmax_loss(h, out, jnp.array([1]), 1.0)), 4)   # log 2
      0.6931
    """
    logits = h @ out.T                                        # (n, v)
    picked = jnp.take_along_axis(logits, targets[:, None], axis=1)[:, 0]
    return jnp.sum(weights * (jax.nn.logsumexp(logits, axis=1) - picked))


def cbow_hidden(rows: jax.Array, valid: jax.Array, window: int, *,
                mean: bool = True) -> jax.Array:
    r"""CBOW's hidden vectors: for each focus, the mean (or sum) of its valid context
    vectors, differentiated as word2vec.c updates them.

    .. math:: h_b = \frac{s_b}{\max(1, n_b)}, \quad s_b = \sum_{p \to b} m_p v_p, \quad
              n_b = \sum_{p \to b} m_p, \qquad
              \frac{\partial h_b}{\partial v_p} := m_p I

    The mean's own derivative would be :math:`m_p I / n_b`; word2vec.c (and gensim) add
    the hidden vector's whole gradient to every context word instead, and so does this
    (``h = s + stop_gradient(s / n - s)``): on 331k words CBOW with hierarchical softmax
    then reaches WordSim-353 Spearman 0.51 where the mean's derivative stays at 0.27.
    With ``mean=False`` both coincide (:math:`h_b = s_b`).

    Args:
      rows: ``(P, dim)`` the context row of each pair (:func:`pair_layout` order).
      valid: ``(P,)`` which pairs are real.
      window: the maximum window ``W``.
      mean: average (True) or sum.

    Returns:
      ``(B, dim)``; zeros where no context is valid.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from nnfunc.text.word2vec import cbow_hidden
      >>> rows = jnp.array([[1.0], [3.0]])            # B = 1, W = 1: pairs at -1 and +1
      >>> cbow_hidden(rows, jnp.array([True, True]), 1).tolist()
      [[2.0]]
      >>> jax.grad(lambda r: cbow_hidden(r, jnp.array([True, True]), 1).sum())(rows).tolist()
      [[1.0], [1.0]]
    """
    m = valid.astype(rows.dtype)
    total = from_pairs(rows * m[:, None], window)
    if not mean:
        return total
    h = total / jnp.maximum(from_pairs(m, window), 1.0)[:, None]
    return total + jax.lax.stop_gradient(h - total)


def _huffman_terms(model: Word2Vec, target: jax.Array, ok: jax.Array, dtype: Any):
    """Signs 1 - 2 * code bit and weights (on the path, example valid) of each target's
    Huffman path, shaped ``target.shape + (D,)``."""
    tree = model.tree
    signs = 1 - 2 * tree.codes.at[target].get(mode="promise_in_bounds").astype(dtype)
    depth = jnp.arange(tree.codes.shape[1])
    on_path = depth < tree.lengths.at[target].get(mode="promise_in_bounds")[:, None]
    return signs, (ok[:, None] & on_path).astype(dtype)


def _negative_terms(target: jax.Array, negatives: jax.Array, ok: jax.Array, dtype: Any):
    """Signs (+1, -1, ..., -1) and weights of (target, negatives); a negative equal to
    the target is skipped, as in word2vec.c."""
    signs = jnp.concatenate([jnp.ones(1, dtype), -jnp.ones(negatives.shape[1], dtype)])
    differs = jnp.concatenate([jnp.ones_like(target[:, None], bool),
                               negatives != target[:, None]], axis=1)
    return signs, (ok[:, None] & differs).astype(dtype)


def batch_loss(model: Word2Vec, in_rows: jax.Array, out_rows: jax.Array,
               batch: Batch) -> jax.Array:
    r"""The summed loss of a batch as a function of the rows it gathered: differentiate
    this with respect to ``in_rows`` and ``out_rows`` for the sparse update.

    Skip-gram: one example per valid pair, :math:`h = v_{focus}` predicting the context
    (hierarchical softmax: :math:`h = v_{context}` predicting the focus, as word2vec.c;
    see :func:`batch_rows`); CBOW: one per focus with a valid context, :math:`h` =
    :func:`cbow_hidden` predicting the focus (:math:`\ell` as in :func:`word2vec`):

    .. math:: L = \sum_{\text{valid examples}} \ell(h, o)

    Args:
      model: a :class:`Word2Vec` (its architecture, output, ``cbow_mean`` and tree).
      in_rows: ``params['in'][in_ids]`` (:func:`batch_rows`).
      out_rows: ``params['out'][out_ids]``, or the whole ``params['out']`` for the full
        softmax.
      batch: the :class:`Batch`.

    Returns:
      The scalar loss (a sum over examples: word2vec.c steps once per example).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from nnfunc.text.corpus import Vocab
      >>> from nnfunc.text.word2vec import word2vec, make_batch, batch_rows, batch_loss
      >>> model = word2vec(Vocab.build([list("aabbcd")], min_count=1), dim=2, window=1,
      ...                  negatives=2)
      >>> b = make_batch(model, jnp.array([0]), jnp.array([1, 2]), jnp.array([True, True]),
      ...                jax.random.key(0))
      >>> params = model.init(0)       # zero output rows: every term is log 2
      >>> in_ids, out_ids = batch_rows(model, b)
      >>> loss = batch_loss(model, params['in'][in_ids], params['out'][out_ids], b)
      >>> terms = 2 + int((b.negatives != jnp.array([1, 2])[:, None]).sum())
      >>> bool(jnp.isclose(loss, terms * jnp.log(2.0)))
      True
    """
    dtype = in_rows.dtype
    window = batch.contexts.shape[0] // batch.focus.shape[0] - 1
    if _context_walks_focus_path(model):
        h, target, ok = in_rows, _pair_focus(batch), batch.valid
    elif model.architecture == "skipgram":
        h, target, ok = to_pairs(in_rows, window), batch.contexts, batch.valid
    else:
        h = cbow_hidden(in_rows, batch.valid, window, mean=model.cbow_mean)
        target, ok = batch.focus, from_pairs(batch.valid.astype(jnp.int32), window) > 0
    if model.output == "softmax":
        return softmax_loss(h, out_rows, target, ok.astype(dtype))
    if model.output == "hierarchical":
        signs, weights = _huffman_terms(model, target, ok, dtype)
    else:
        signs, weights = _negative_terms(target, batch.negatives, ok, dtype)
    return logistic_loss(h, out_rows, signs, weights)


def sparse_sgd_step(model: Word2Vec, params: dict, batch: Batch, learning_rate: Any, *,
                    max_row_hits: Optional[int] = None) -> tuple[dict, jax.Array]:
    r"""One plain-SGD step that reads and writes only the rows the batch uses.

    The rows are gathered, :math:`g = \nabla_{\text{rows}} L` is taken with ``jax.grad``
    of :func:`batch_loss`, and :math:`-\eta g` is scatter-added back (a row used twice
    gets both contributions): exactly dense SGD on :math:`L` over the full tables.

    .. math:: T \leftarrow T - \eta \, \nabla_T L(T[\text{ids}])
              = T.\text{at}[\text{ids}].\text{add}(-\eta \, \nabla_{T[\text{ids}]} L)

    Args:
      model: a :class:`Word2Vec`.
      params: ``{'in': ..., 'out': ...}``.
      batch: a :class:`Batch` (:func:`make_batch`).
      learning_rate: the step size :math:`\eta` (a scalar, may be traced).
      max_row_hits: ``None`` (exact batched SGD), or :math:`\kappa`: with hierarchical
        softmax, an inner node that :math:`n > \kappa` examples of the batch update
        moves by :math:`\kappa / n` of their sum (see :func:`train_word2vec`).

    Returns:
      ``(params, loss)``: the updated tables and the batch's loss before the step.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from nnfunc.text.corpus import Vocab
      >>> from nnfunc.text.word2vec import word2vec, make_batch, sparse_sgd_step
      >>> model = word2vec(Vocab.build([list("aabbcdd")], min_count=1), dim=2, window=1,
      ...                  output='hierarchical')
      >>> b = make_batch(model, jnp.array([0]), jnp.array([3, 3]), jnp.array([True, True]),
      ...                jax.random.key(0))
      >>> params = model.init(0)
      >>> new, loss = sparse_sgd_step(model, params, b, 0.1)
      >>> tree = model.tree                 # focus word 0: the nodes on its path
      >>> used = {int(p) for p in tree.points[0, :tree.lengths[0]]}
      >>> used == set(jnp.flatnonzero(jnp.any(new['out'] != params['out'], 1)).tolist())
      True
    """
    table_in, table_out = params["in"], params["out"]
    in_ids, out_ids = batch_rows(model, batch)
    in_rows = table_in.at[in_ids].get(mode="promise_in_bounds")
    out_rows = table_out if out_ids is None else table_out.at[out_ids].get(
        mode="promise_in_bounds")
    loss, (g_in, g_out) = jax.value_and_grad(
        lambda i, o: batch_loss(model, i, o, batch), argnums=(0, 1))(in_rows, out_rows)
    if max_row_hits is not None and model.output == "hierarchical":
        g_out = _cap_row_hits(g_out, out_ids, _tree_hits(model, batch), table_out.shape[0],
                              max_row_hits)
    # The input rows' gradient is computed before either table is written: XLA:GPU
    # otherwise recomputed it inside the input table's scatter, from the output table
    # that the other scatter overwrites, and kept a copy of that whole table every step.
    g_in = jax.lax.optimization_barrier(g_in)
    lr = jnp.asarray(learning_rate, table_in.dtype)
    table_in = table_in.at[in_ids].add(-lr * g_in, mode="promise_in_bounds")
    if out_ids is None:     # the full softmax reads every output row
        table_out = table_out - lr * g_out
    else:
        table_out = table_out.at[out_ids].add(-lr * g_out, mode="promise_in_bounds")
    return {"in": table_in, "out": table_out}, loss


def _tree_hits(model: Word2Vec, batch: Batch) -> jax.Array:
    """Which inner nodes of each example's Huffman path the step updates (bool, shaped
    like the output ids)."""
    window = batch.contexts.shape[0] // batch.focus.shape[0] - 1
    if model.architecture == "skipgram":      # the focus's path (batch_rows)
        target, ok = _pair_focus(batch), batch.valid
    else:
        target, ok = batch.focus, from_pairs(batch.valid.astype(jnp.int32), window) > 0
    return _huffman_terms(model, target, ok, jnp.float32)[1] > 0


def _cap_row_hits(grads: jax.Array, ids: jax.Array, hits: jax.Array, rows: int,
                  cap: int) -> jax.Array:
    """Scale the gradient rows of table rows hit more than ``cap`` times in the batch
    (``hits``: which entries of ``ids`` are real updates) by ``cap / hits``: their summed
    update is then ``cap`` times their mean."""
    counts = jnp.zeros((rows,), jnp.float32).at[ids].add(hits.astype(jnp.float32),
                                                         mode="promise_in_bounds")
    n = counts.at[ids].get(mode="promise_in_bounds")
    scale = jnp.minimum(1.0, cap / jnp.maximum(n, 1.0)).astype(grads.dtype)
    return grads * scale[..., None]


# --------------------------------------------------------------------------- the epoch

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
      >>> from nnfunc.text.word2vec import epoch_layout
      >>> lay = epoch_layout(jax.random.key(0), jnp.array([0, 1, 0, 2]),
      ...                    jnp.array([0, 0, 1, 1]), jnp.array([1.0, 0.0, 1.0]), 1, 2, 2)
      >>> lay.tokens.tolist(), lay.sentences.tolist(), int(lay.kept)
      ([0, 0, 0, 2, 0, 0], [-1, 0, 1, 1, -1, -1], 3)
    """
    k_sub, k_win = jax.random.split(key)
    return _layout(k_sub, k_win, tokens, sentences, keep_prob, window, batch_size, steps)


def _layout(k_sub, k_win, tokens, sentences, keep_prob, window, batch_size, steps):
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
      >>> from nnfunc.text.word2vec import lane_steps
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
    from the values before the step, would pile up (on 331k words the final loss is
    2.47 that way against 2.39 with lanes, and WordSim-353 Spearman 0.31 against 0.39).

    Args:
      kept: the number of kept tokens (may be traced).
      step: the batch index (may be traced).
      batch_size: ``B``, a multiple of ``2 W`` (static).
      window: the maximum window ``W`` (static).

    Returns:
      ``(B,)`` int32 slot indices (those at or past ``kept`` are padding).

    Example:
      >>> from nnfunc.text.word2vec import batch_slots
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
      >>> from nnfunc.text.word2vec import EpochLayout, batch_contexts
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


def learning_rate_schedule(learning_rate: float, min_learning_rate: float,
                           total_words: int, epochs: int) -> schedules.Schedule:
    r"""word2vec.c's learning rate as a function of the corpus words processed so far.

    .. math:: \eta(p) = \max\!\Big(\eta_{min},\ \eta_0 \Big(1 - \frac{p}{E N + 1}\Big)\Big)

    (``nf.schedules.polynomial`` with power 1 over :math:`E N + 1` steps, floored.)

    Args:
      learning_rate: :math:`\eta_0 > 0`.
      min_learning_rate: :math:`\eta_{min} >= 0`.
      total_words: :math:`N`, the corpus words per epoch, >= 1.
      epochs: :math:`E`, >= 1.

    Returns:
      ``schedule(p) -> lr`` for integer ``p`` (jit-able).

    Example:
      >>> from nnfunc.text.word2vec import learning_rate_schedule
      >>> s = learning_rate_schedule(0.025, 1e-4, total_words=999, epochs=1)
      >>> [round(float(s(p)), 6) for p in (0, 500, 1000)]
      [0.025, 0.0125, 0.0001]
    """
    check_real("learning_rate", learning_rate, low=0.0, low_open=True)
    check_real("min_learning_rate", min_learning_rate, low=0.0)
    total_words = check_int("total_words", total_words, minimum=1)
    epochs = check_int("epochs", epochs, minimum=1)
    base = schedules.polynomial(learning_rate, total_iters=epochs * total_words + 1, power=1.0)

    def schedule(processed):
        return jnp.maximum(min_learning_rate, base(processed))
    return schedule


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
    the depth :math:`D` of the Huffman tree, or :math:`v` for the full softmax). On 331k words
    with 2 CPU cores the fastest batches measured were about 130-260 for skip-gram with
    negative sampling (4 MiB: 280), 60 for hierarchical skip-gram (100) and 520 for
    CBOW with negative sampling (870).

    Args:
      model: a :class:`Word2Vec`.
      step_bytes: the budget; default 4 MiB on CPU (a core's share of L2/L3) and
        64 MiB on accelerators (fewer, larger steps; not measured).

    Returns:
      The batch size, a multiple of ``2 * window``.

    Example:
      >>> from nnfunc.text.corpus import Vocab
      >>> from nnfunc.text.word2vec import word2vec, default_batch_size
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
    if _context_walks_focus_path(model):       # a context row per pair (batch_rows)
        rows = (w + 1) * (1 + per_example)
    elif model.architecture == "skipgram":
        rows = 1 + (w + 1) * per_example
    else:
        rows = (w + 1) + per_example
    chunks = step_bytes // (2 * w * 4 * model.dim * rows)
    return 2 * w * max(1, int(chunks))


# The most lanes (of 2W positions) a default batch takes, on every backend, where larger
# batches move the vectors away from gensim's (benchmarks/results/word2vec-batches-cpu.md):
# CBOW's only match with small batches, hierarchical skip-gram's up to 820 positions.
# Skip-gram with negative sampling matches from 130 to 4530 and keeps the cache size; the
# full softmax is not measured.
_QUALITY_LANES = {("cbow", "hierarchical"): 1, ("cbow", "negative"): 5,
                  ("skipgram", "hierarchical"): 82}


def _default_batch(model: Word2Vec, step_bytes: Optional[int] = None) -> int:
    """:func:`train_word2vec`'s default: the cache-sized batch within the quality caps."""
    batch = default_batch_size(model, step_bytes)
    lanes = _QUALITY_LANES.get((model.architecture, model.output))
    return batch if lanes is None else min(batch, lanes * 2 * model.window)


def _epoch_key(key: Any, epoch: int) -> jax.Array:
    """Epoch ``epoch``'s ``'rbg'`` key, hashed from ``key`` (an int seed or a JAX key) and
    ``epoch`` on the host: no JAX program to compile for it."""
    if isinstance(key, (int, np.integer)):
        data = [int(key)]
    else:
        key = jnp.asarray(key)
        typed = jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
        data = np.asarray(jax.random.key_data(key) if typed else key).ravel().tolist()
    state = np.random.SeedSequence([int(d) for d in data] + [epoch]).generate_state(4)
    return jax.random.wrap_key_data(jnp.asarray(state, jnp.uint32), impl="rbg")


def _rbg_keys(key: jax.Array, n: int) -> jax.Array:
    """``n`` ``'rbg'`` keys, each 128 random bits drawn from ``key``.

    On CPU an ``'rbg'`` key's bits cost about 2 ns each against threefry's 25 (the
    negatives take tens of millions per epoch). Drawing the keys' bits, rather than
    splitting or folding in (threefry loops even for ``'rbg'`` keys), also keeps the
    program small: every random call site costs compile time.
    """
    return jax.random.wrap_key_data(jax.random.bits(key, (n, 4), jnp.uint32), impl="rbg")


class _EpochPrograms(NamedTuple):
    """An epoch as two jitted programs: ``layout(tables, tokens, sentences, key) ->
    (layout, used, step_keys)`` and ``loop(params, tables, layout, used, step_keys,
    words_before) -> (params, loss_sum, examples, last_lr)``.

    Two programs rather than one because XLA compiles them in parallel threads: the
    layout's sorts and the step's gathers and scatters each take about as long to
    compile, so compilation waits for the larger only.
    """
    layout: Callable
    loop: Callable


@functools.lru_cache(maxsize=32)
def _epoch_programs(model: Word2Vec, words: int, steps: int, batch_size: int, unit: int,
                    lr0: float, min_lr: float, total: int,
                    max_row_hits: Optional[int]) -> _EpochPrograms:
    """The jitted epoch of a static configuration on a corpus of ``words`` tokens
    (``model`` here holds no arrays: those come in ``tables`` so that they are not baked
    into the programs)."""
    schedule = learning_rate_schedule(lr0, min_lr, total, 1)
    window = model.window
    skipgram = model.architecture == "skipgram"

    def layout_program(tables, tokens, sentences, key):
        keys = _rbg_keys(key, steps + 2)      # subsampling, windows, one per step
        layout = _layout(keys[0], keys[1], tokens, sentences, tables["keep_prob"], window,
                         batch_size, steps)
        return layout, lane_steps(layout.kept, batch_size, window), keys[2:]

    def loop_program(params, tables, layout, used, step_keys, words_before):
        m = model._replace(**tables)
        total_units = words // unit

        def clock(s):
            # The corpus words before batch s, s / used of the epoch's (the lanes advance
            # together), in units of `unit` words: s q + s r / used with q, r the
            # quotient and remainder of words / used keeps it in int32, and exact while
            # s r < 2**24 (within a word beyond).
            steps_ = jnp.maximum(used, 1)
            q, r = total_units // steps_, total_units % steps_
            rest = (s.astype(jnp.float32) * r.astype(jnp.float32)) / steps_.astype(jnp.float32)
            return words_before + s * q + jnp.floor(rest).astype(jnp.int32)

        def step(s, carry):
            params, loss_sum, count = carry
            focus, contexts, valid = batch_contexts(layout, s, batch_size, window)
            batch = make_batch(m, focus, contexts, valid, step_keys[s])
            params, loss = sparse_sgd_step(m, params, batch, schedule(clock(s)),
                                           max_row_hits=max_row_hits)
            if not skipgram:        # CBOW: one example per focus with a context
                valid = from_pairs(valid.astype(jnp.int32), window) > 0
            n = jnp.sum(valid, dtype=jnp.int32)
            return params, loss_sum + loss, count + n

        # Batches past the kept tokens hold only padding: the loop stops at `used` (a while
        # loop with a traced bound). A scan over all `steps` skipping them with lax.cond
        # made XLA:GPU copy both tables around the conditional at every step.
        init = (params, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32))
        params, loss_sum, count = jax.lax.fori_loop(0, used, step, init)
        last_lr = schedule(clock(jnp.maximum(used - 1, 0)))
        return params, loss_sum, count, last_lr

    return _EpochPrograms(jax.jit(layout_program),
                          jax.jit(loop_program, donate_argnums=(0,)))


def _programs_for(model: Word2Vec, words: int, batch_size: int, epochs: int,
                  learning_rate: float, min_learning_rate: float,
                  max_row_hits: Optional[int] = _MAX_ROW_HITS) -> tuple:
    """``(programs, tables, unit)``: :func:`train_word2vec`'s epoch programs (cached) for
    a corpus of ``words`` tokens, the model's arrays they take, and the clock unit."""
    unit = -(-(epochs * words + 1) // _INT32_MAX)   # clock units: word counts in int32
    static, tables = _static_model(model)
    programs = _epoch_programs(static, words, lane_steps(words, batch_size, model.window),
                               batch_size, unit, float(learning_rate),
                               float(min_learning_rate), -(-epochs * words // unit),
                               max_row_hits)
    return programs, tables, unit


def _compile_epoch(programs: _EpochPrograms, params, tables, tokens, sentences
                   ) -> _EpochPrograms:
    """Both programs traced here and compiled at the same time in two threads (XLA
    releases the GIL while it compiles)."""
    key = _epoch_key(0, 0)
    lay = programs.layout.lower(tables, tokens, sentences, key)
    shapes = jax.eval_shape(programs.layout, tables, tokens, sentences, key)
    loop = programs.loop.lower(params, tables, *shapes, jnp.int32(0))
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        compiled = list(pool.map(lambda lowered: lowered.compile(), (lay, loop)))
    return _EpochPrograms(*compiled)


def encode_corpus(vocab: Any, corpus: Iterable) -> tuple[np.ndarray, np.ndarray]:
    """Flatten a corpus into one token array and the sentence id of every token.

    .. math:: \\text{tokens} = s_0 \\Vert s_1 \\Vert \\dots,\\quad
              \\text{sentences}_i = \\text{index of the sentence holding token } i

    Args:
      vocab: the :class:`~nnfunc.text.corpus.Vocab`.
      corpus: sentences as lists of words (out-of-vocabulary words are dropped) or as
        integer id arrays (already encoded); empty sentences are skipped.

    Returns:
      ``(tokens, sentences)``, two int32 arrays of the same length.

    Raises:
      ValueError: for an empty corpus, ids outside ``[0, len(vocab))``, or no
        in-vocabulary word at all.

    Example:
      >>> from nnfunc.text.corpus import Vocab
      >>> from nnfunc.text.word2vec import encode_corpus
      >>> vocab = Vocab.build([["a", "b", "a"]], min_count=1)
      >>> [t.tolist() for t in encode_corpus(vocab, [["a", "x"], [], ["b", "a"]])]
      [[0, 1, 0], [0, 2, 2]]
    """
    sentences = list(corpus)
    if not sentences:
        raise ValueError("corpus must hold at least one sentence, got an empty corpus")
    if any(isinstance(s, str) for s in sentences):
        raise ValueError("corpus sentences must be lists of words or id arrays, got a str "
                         "(split the line into words)")
    encoded_given = all(isinstance(s, (np.ndarray, jax.Array))
                        and np.issubdtype(s.dtype, np.integer) for s in sentences)
    encoded = ([np.asarray(s, np.int64).ravel() for s in sentences] if encoded_given
               else [np.asarray(e, np.int64) for e in vocab.encode(sentences)])
    lengths = np.array([len(e) for e in encoded], np.int64)
    if lengths.sum() == 0:
        raise ValueError(f"corpus has no in-vocabulary words ({len(sentences)} sentences, "
                         f"vocabulary of {len(vocab)} words)")
    tokens = np.concatenate(encoded)
    if tokens.min() < 0 or tokens.max() >= len(vocab):
        raise ValueError(f"corpus ids must be in [0, {len(vocab)}), got values in "
                         f"[{tokens.min()}, {tokens.max()}]")
    if tokens.size > _INT32_MAX:
        raise ValueError(f"corpus must have fewer than 2**31 tokens, got {tokens.size}")
    sent = np.repeat(np.arange(len(encoded), dtype=np.int32), lengths)
    return tokens.astype(np.int32), sent


def _static_model(model: Word2Vec) -> tuple[Word2Vec, dict]:
    """``model`` without its arrays (hashable, for the program cache) and the arrays."""
    tables = {"keep_prob": model.keep_prob, "negative_table": model.negative_table,
              "tree": model.tree}
    static = model._replace(vocab=None, keep_prob=None, negative_table=None, tree=None,
                            key=None, init=None)
    return static, tables


def train_word2vec(model: Word2Vec, corpus: Iterable, *, epochs: int = 5,
                   learning_rate: float = 0.025, min_learning_rate: float = 1e-4,
                   batch_size: Optional[int] = None, key: Any = 0, progress: bool = True,
                   params: Optional[dict] = None,
                   max_row_hits: Optional[int] = _MAX_ROW_HITS) -> Word2VecResult:
    r"""Train a :class:`Word2Vec` model with word2vec.c's SGD, one compiled program per
    epoch (subsampling, windows, negatives and the loop over batches all run on
    the device).

    Each step takes ``batch_size`` focus positions of the subsampled corpus, ``2 *
    window`` consecutive ones from each of ``batch_size / (2 * window)`` lanes
    (:func:`batch_slots`), with all their context pairs, and applies
    :func:`sparse_sgd_step` (the gradient of the summed loss, scatter-added into the
    rows used) at

    .. math:: \eta = \max\!\Big(\eta_{min},\ \eta_0 \Big(1 - \frac{p}{E N + 1}\Big)\Big)

    with :math:`p` the corpus words before the batch (see :func:`learning_rate_schedule`).
    A batch updates its rows together, from their values before the step: on 331k words
    (dim 100, window 5, 5 negatives, 5 epochs) the lanes bring the final loss from 2.47
    (consecutive positions) to 2.40 and match gensim's vectors (WordSim-353, SimLex-999,
    analogies), from 130 up to 2080 positions per step (skip-gram, rate 0.025). Rows that
    many examples of a step share (the tree's root and upper nodes) would move by the sum
    of all their updates: ``max_row_hits`` caps that sum, which keeps hierarchical
    softmax stable at word2vec.c's CBOW rate 0.05 on small corpora.

    CBOW and hierarchical skip-gram are the exceptions to batch-size independence: their
    vectors move away from gensim's as batches grow, so their default batch is capped, on
    every backend (a batch means the same on each). On those 331k words (seeds 0-2,
    nnfunc minus gensim in WordSim-353 / SimLex-999 Spearman,
    ``benchmarks/results/word2vec-batches-cpu.md``): CBOW with hierarchical softmax
    -0.021 / +0.024 with one lane (10 positions), -0.027 / -0.020 with the CPU's
    cache-sized 470 and -0.128 / +0.017 with the accelerators' 7,620; with negative
    sampling -0.002 / -0.006 with 50 positions, +0.115 / -0.043 with 870 and +0.084 /
    -0.014 with 13,980; hierarchical skip-gram +0.001 / +0.012 at 400, -0.022 / +0.008 at
    820 and -0.047 / +0.017 at the accelerators' 1,640. Skip-gram with negative sampling
    stays 0.03-0.06 above gensim from 280 to 4,530 positions and keeps the cache size.
    Neither the cap (none, 16, 256), capping the input rows or the negatives' rows,
    skipping the terms with :math:`|u^\top h| \ge 6` (word2vec.c's hierarchical softmax
    does), nor one position per lane changes CBOW's dependence; on the CPU its small
    batches cost 2x (hierarchical) and 1.2x (negative) the training time, and on an
    accelerator, where a step costs about as much at 10 positions as at thousands, far
    more: pass a larger ``batch_size`` there for throughput at that cost in quality.
    Deterministic for a given ``key`` on CPU (a GPU's scatter-adds may sum duplicates in
    any order).

    Args:
      model: a :class:`Word2Vec` (:func:`word2vec`).
      corpus: sentences as lists of words (e.g. ``read_corpus(path)``) or as int arrays
        of word ids.
      epochs: passes over the corpus, >= 1.
      learning_rate: :math:`\eta_0 > 0` (word2vec.c: 0.025 for skip-gram, 0.05 for CBOW).
      min_learning_rate: the floor :math:`\eta_{min} >= 0`.
      batch_size: focus positions per step, >= 1; rounded up to a multiple of ``2 *
        model.window`` (whole lanes; every window size equally often). Default:
        :func:`default_batch_size` (the rows of a step fit in cache) within the caps
        where the vectors still match gensim's (above): CBOW at most ``2 * window``
        positions (one lane) with hierarchical softmax and ``10 * window`` (five lanes)
        with negative sampling, hierarchical skip-gram at most 82 lanes.
      key: the PRNG key or int seed of subsampling, windows and negatives (epoch
        ``e`` uses a key hashed from it and ``e``).
      progress: show a tqdm bar over epochs.
      params: the starting tables (default ``model.init(model.key)``).
      max_row_hits: :math:`\kappa`, with hierarchical softmax, the most examples whose
        updates an inner node of the tree sums in one step: a node on :math:`n > \kappa`
        of the batch's paths (the root is on all of them) moves by :math:`\kappa / n`
        of the sum, that is :math:`\kappa` times the mean. word2vec.c applies such
        updates one at a time, each seeing the last; summed from the same values they
        overshoot (at word2vec.c's CBOW rate 0.05 on the 60k-word Lee corpus,
        hierarchical softmax diverged to inf with the plain sum). Negative sampling has
        no such shared rows and always takes the plain sum. ``None``: the plain sum.

    Returns:
      A :class:`Word2VecResult` ``(params, vectors, history)``.

    Raises:
      ValueError: for bad arguments, an empty corpus or one without in-vocabulary words.

    Example:
      >>> from nnfunc.text.corpus import Vocab
      >>> from nnfunc.text.word2vec import word2vec, train_word2vec
      >>> sents = [["cat", "dog", "pet"], ["car", "bus", "road"]] * 50
      >>> model = word2vec(Vocab.build(sents, min_count=1), dim=8, window=2, sample=0)
      >>> res = train_word2vec(model, sents, epochs=2, batch_size=64, progress=False)
      >>> res.params['in'].shape, len(res.history['loss'])
      ((6, 8), 2)
      >>> res.history['loss'][1] < res.history['loss'][0]
      True
    """
    if not isinstance(model, Word2Vec):
        raise ValueError(f"model must be a Word2Vec (from word2vec()), got {model!r}")
    epochs = check_int("epochs", epochs, minimum=1)
    check_real("learning_rate", learning_rate, low=0.0, low_open=True)
    check_real("min_learning_rate", min_learning_rate, low=0.0)
    if batch_size is None:
        batch_size = _default_batch(model)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    chunk = 2 * model.window       # lanes of 2W positions, window strata of B / W
    batch_size = -(-batch_size // chunk) * chunk
    tokens, sentences = encode_corpus(model.vocab, corpus)
    n = int(tokens.size)
    if max_row_hits is not None:
        max_row_hits = check_int("max_row_hits", max_row_hits, minimum=1)
    programs, tables, unit = _programs_for(model, n, batch_size, epochs, learning_rate,
                                           min_learning_rate, max_row_hits)
    params = model.init(model.key) if params is None else params
    params = jax.tree_util.tree_map(jnp.array, params)  # a copy: the program donates it
    dev_tokens, dev_sentences = jnp.asarray(tokens), jnp.asarray(sentences)

    t0 = time.perf_counter()
    layout_program, loop_program = _compile_epoch(programs, params, tables, dev_tokens,
                                                  dev_sentences)
    history = {"loss": [], "seconds": [], "words_per_s": [], "lr": [],
               "compile_seconds": [time.perf_counter() - t0]}
    bar = _progress_bar(epochs) if progress else None
    for e in range(epochs):
        t = time.perf_counter()
        layout = layout_program(tables, dev_tokens, dev_sentences, _epoch_key(key, e))
        params, loss_sum, count, lr = loop_program(params, tables, *layout,
                                                   jnp.int32(e * n // unit))
        loss = float(loss_sum) / max(int(count), 1)        # waits for the epoch
        seconds = time.perf_counter() - t
        history["loss"].append(loss)
        history["seconds"].append(seconds)
        history["words_per_s"].append(n / seconds)
        history["lr"].append(float(lr))
        if bar is not None:
            bar.set_postfix(loss=f"{loss:.4f}", words_per_s=f"{n / seconds:.0f}")
            bar.update(1)
    if bar is not None:
        bar.close()
    vectors = KeyedVectors(list(model.vocab.words), np.asarray(params["in"]))
    return Word2VecResult(params, vectors, history)


def _progress_bar(epochs: int):
    from tqdm.auto import tqdm
    return tqdm(total=epochs, desc="word2vec", unit="epoch")
