"""Training: the corpus flattened into device arrays (:func:`encode_corpus`) and the driver
that compiles the epoch once and runs it ``epochs`` times (:func:`train_word2vec`, which
returns a :class:`Word2VecResult`)."""
from __future__ import annotations

import time
from typing import Any, Iterable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from nnfunc._checks import check_int, check_real
from nnfunc.text._word2vec.batch import capped_batch_size
from nnfunc.text._word2vec.model import Word2Vec
from nnfunc.text._word2vec.program import INT32_MAX, compile_epoch, epoch_key, programs_for
from nnfunc.text._word2vec.step import MAX_ROW_HITS
from nnfunc.text.vectors import KeyedVectors

__all__ = ["Word2VecResult", "encode_corpus", "train_word2vec"]


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
      >>> from nnfunc.text._word2vec.train import encode_corpus
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
    if tokens.size > INT32_MAX:
        raise ValueError(f"corpus must have fewer than 2**31 tokens, got {tokens.size}")
    sent = np.repeat(np.arange(len(encoded), dtype=np.int32), lengths)
    return tokens.astype(np.int32), sent


def train_word2vec(model: Word2Vec, corpus: Iterable, *, epochs: int = 5,
                   learning_rate: float = 0.025, min_learning_rate: float = 1e-4,
                   batch_size: Optional[int] = None, key: Any = 0, progress: bool = True,
                   params: Optional[dict] = None,
                   max_row_hits: Optional[int] = MAX_ROW_HITS) -> Word2VecResult:
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
    A batch updates its rows together, from their values before the step: the lanes keep
    its examples far apart in the corpus, so that a lower final loss is reached than
    with consecutive positions and skip-gram's vectors match gensim's (word similarity,
    analogies) over a wide range of batch sizes. Rows that many examples of a step share
    (the tree's root and upper nodes) would move by the sum of all their updates:
    ``max_row_hits`` caps that sum, which keeps hierarchical softmax stable at
    word2vec.c's CBOW rate 0.05 on small corpora.

    CBOW and hierarchical skip-gram are the exceptions to batch-size independence: their
    vectors move away from gensim's as batches grow, so their default batch is capped, on
    every backend (a batch means the same on each; the word2vec benchmark's batch sweep
    shows how far each moves). Skip-gram with negative sampling stays at or above
    gensim's across the batch sizes tried and keeps the cache size. Neither the cap,
    capping the input rows or the negatives' rows, skipping the terms with
    :math:`|u^\top h| \ge 6` (word2vec.c's hierarchical softmax does), nor one position
    per lane changes CBOW's dependence. Its small batches cost training time: some on the
    CPU, and far more on an accelerator, where a step costs about as much at a few
    positions as at thousands: pass a larger ``batch_size`` there for throughput at that
    cost in quality.
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
        overshoot (at word2vec.c's CBOW rate 0.05 on a small corpus, hierarchical
        softmax diverges to inf with the plain sum). Negative sampling has
        no such shared rows and always takes the plain sum. ``None``: the plain sum.

    Returns:
      A :class:`Word2VecResult` ``(params, vectors, history)``.

    Raises:
      ValueError: for bad arguments, an empty corpus or one without in-vocabulary words.

    Example:
      >>> from nnfunc.text.corpus import Vocab
      >>> from nnfunc.text import word2vec, train_word2vec
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
        batch_size = capped_batch_size(model)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    chunk = 2 * model.window       # lanes of 2W positions, window strata of B / W
    batch_size = -(-batch_size // chunk) * chunk
    tokens, sentences = encode_corpus(model.vocab, corpus)
    n = int(tokens.size)
    if max_row_hits is not None:
        max_row_hits = check_int("max_row_hits", max_row_hits, minimum=1)
    programs, tables, unit = programs_for(model, n, batch_size, epochs, learning_rate,
                                          min_learning_rate, max_row_hits)
    params = model.init(model.key) if params is None else params
    params = jax.tree_util.tree_map(jnp.array, params)  # a copy: the program donates it
    dev_tokens, dev_sentences = jnp.asarray(tokens), jnp.asarray(sentences)

    t0 = time.perf_counter()
    layout_program, loop_program = compile_epoch(programs, params, tables, dev_tokens,
                                                 dev_sentences)
    history = {"loss": [], "seconds": [], "words_per_s": [], "lr": [],
               "compile_seconds": [time.perf_counter() - t0]}
    bar = _progress_bar(epochs) if progress else None
    for e in range(epochs):
        t = time.perf_counter()
        layout = layout_program(tables, dev_tokens, dev_sentences, epoch_key(key, e))
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
