"""The word2vec model: its configuration, vocabulary, sampling tables and initial tables
(:class:`Word2Vec`, built by :func:`word2vec`)."""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from nnfunc._checks import check_bool, check_choice, check_int, check_real
from nnfunc.text.huffman import huffman_tree
from nnfunc.text.sampling import NegativeTable, keep_probabilities, negative_table

__all__ = ["Word2Vec", "word2vec"]

_ARCHITECTURES = ("skipgram", "cbow")
_OUTPUTS = ("negative", "hierarchical", "softmax")


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
      >>> from nnfunc.text import word2vec
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
