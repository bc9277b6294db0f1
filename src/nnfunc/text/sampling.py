"""The random choices word2vec makes afresh every epoch, drawn on the device from a key:
which tokens survive frequent-word subsampling, how wide each focus word's window is, and
which words serve as negative samples.

Tables (keep probabilities, the negative-sampling distribution) are built once from the
vocabulary counts with NumPy in float64; the draws are pure ``jax`` functions of a key
that run inside ``jit`` and ``lax.scan``.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from nnfunc._checks import check_choice, check_int, check_real

__all__ = ["keep_probabilities", "subsample", "dynamic_windows", "NegativeTable",
           "negative_table", "draw_negatives"]

def _check_counts(name: str, counts: Any) -> np.ndarray:
    """``counts`` as a 1-D float64 array of finite values >= 0 with a positive sum."""
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 1 or c.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of word counts, got shape "
                         f"{c.shape}")
    if not np.all(np.isfinite(c)) or np.any(c < 0) or c.sum() <= 0:
        raise ValueError(f"{name} must be finite counts >= 0 with a positive sum, got "
                         f"{counts!r}")
    return c


def keep_probabilities(counts: Sequence[int] | np.ndarray, sample: float, *,
                       formula: str = "notes") -> jax.Array:
    r"""The probability that frequent-word subsampling keeps each occurrence of a word.

    With :math:`f(w) = \text{count}(w) / \sum \text{count}` and threshold :math:`t` =
    ``sample``, the notes (Mikolov et al. 2013) discard a word with probability
    :math:`1 - \sqrt{t / f(w)}`; word2vec.c (and gensim) keep it with a gentler rule:

    .. math::
        \text{notes:}\quad k(w) = \min\!\left(1, \sqrt{t / f(w)}\right) \qquad
        \text{word2vec:}\quad k(w) = \min\!\left(1, \left(\sqrt{f(w)/t} + 1\right)
        \frac{t}{f(w)}\right)

    ``sample=0`` disables subsampling (every word is kept), and so does a count of 0.

    Args:
      counts: the word counts, shape ``(v,)`` (e.g. ``vocab.counts``).
      sample: the threshold :math:`t >= 0` (word2vec's ``-sample``; typical 1e-3 to 1e-5).
      formula: ``'notes'`` or ``'word2vec'``.

    Returns:
      The keep probabilities, float32 of shape ``(v,)``, each in (0, 1].

    Example:
      >>> from nnfunc.text.sampling import keep_probabilities
      >>> [round(float(p), 4) for p in keep_probabilities([90, 9, 1], 0.01)]
      [0.1054, 0.3333, 1.0]
      >>> [round(float(p), 4) for p in keep_probabilities([90, 9, 1], 0.01,
      ...                                                   formula='word2vec')]
      [0.1165, 0.4444, 1.0]
    """
    c = _check_counts("counts", counts)
    check_real("sample", sample, low=0.0)
    check_choice("formula", formula, ("notes", "word2vec"))
    if sample == 0:
        return jnp.ones(c.shape, jnp.float32)
    # f / t, with zero counts mapped to a ratio below 1 (always kept, no division by 0).
    ratio = np.where(c > 0, c / c.sum() / sample, 0.5)
    if formula == "notes":
        keep = np.sqrt(1.0 / ratio)
    else:
        keep = (np.sqrt(ratio) + 1.0) / ratio
    return jnp.asarray(np.minimum(keep, 1.0), jnp.float32)


def subsample(key: jax.Array, ids: jax.Array, keep_prob: jax.Array) -> jax.Array:
    r"""Which tokens survive subsampling: token :math:`i` is kept when
    :math:`u_i < k(\text{ids}_i)` for independent :math:`u_i \sim U[0, 1)`.

    .. math:: P(\text{keep}_i) = k(\text{ids}_i)

    Args:
      key: a PRNG key.
      ids: token ids, an integer array of any shape.
      keep_prob: per-word keep probabilities, shape ``(v,)`` (:func:`keep_probabilities`).

    Returns:
      A boolean mask shaped like ``ids``, ``True`` for the tokens kept. Jit-able.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from nnfunc.text.sampling import subsample
      >>> mask = subsample(jax.random.key(0), jnp.array([0, 1, 0, 1]),
      ...                  jnp.array([1.0, 0.0]))
      >>> mask.tolist()
      [True, False, True, False]
    """
    u = jax.random.uniform(key, jnp.shape(ids), jnp.float32)
    return u < jnp.asarray(keep_prob, jnp.float32)[ids]


def dynamic_windows(key: jax.Array, n: int, window: int, *,
                    block: Optional[int] = None) -> jax.Array:
    r"""The effective window of each of ``n`` focus positions, uniform on 1..``window``
    (word2vec.c draws ``b = rand % window`` and uses ``window - b``).

    .. math:: P(w_i = k) = 1 / \text{window}, \quad k = 1, \dots, \text{window}

    Closer context words are thereby used more often: offset :math:`\pm d` with
    probability :math:`(\text{window} - d + 1) / \text{window}`. With ``block=B``
    (a multiple of ``window``) the draws are stratified: each run of ``B`` positions
    holds every window size exactly ``B / window`` times, in random order. Each position
    is still uniform on 1..window, and a batch of ``B`` focus positions then has exactly
    :math:`B(\text{window} - d + 1)/\text{window}` pairs at each offset :math:`\pm d`
    (static shapes, no padded pairs).

    Args:
      key: a PRNG key.
      n: how many windows to draw (a Python int; a multiple of ``block`` if given).
      window: the maximum window, an integer >= 1.
      block: ``None`` (independent draws) or the stratification block.

    Returns:
      int32 array of shape ``(n,)`` with values in ``[1, window]``.

    Example:
      >>> import jax
      >>> from nnfunc.text.sampling import dynamic_windows
      >>> w = dynamic_windows(jax.random.key(0), 1000, 5)
      >>> int(w.min()), int(w.max()), w.dtype.name
      (1, 5, 'int32')
      >>> sorted(dynamic_windows(jax.random.key(0), 6, 3, block=6).tolist())
      [1, 1, 2, 2, 3, 3]
    """
    n = check_int("n", n, minimum=0)
    window = check_int("window", window, minimum=1)
    if block is None:
        return (window - jax.random.randint(key, (n,), 0, window)).astype(jnp.int32)
    block = check_int("block", block, minimum=1)
    if block % window or n % block:
        raise ValueError(f"block must be a multiple of window ({window}) that divides n "
                         f"({n}), got {block}")
    # Each block: the sizes window, ..., 1 (block / window times each), shuffled by
    # sorting independent uniform keys.
    sizes = window - jnp.arange(block, dtype=jnp.int32) // (block // window)
    order = jnp.argsort(jax.random.uniform(key, (n // block, block)), axis=1)
    return sizes[order].reshape(n)


class NegativeTable(NamedTuple):
    """The noise distribution of negative sampling, as an alias table (Walker 1977).

    Attributes:
      probs: float32 ``(v,)``, the normalised :math:`\\text{count}^{power}`.
      threshold: uint32 ``(G,)``, ``G`` the power of two ``>= v`` (at least 2) columns:
        column ``i`` yields word ``i`` when a uniform 32-bit integer is below
        ``threshold[i]``, else ``alias[i]``.
      alias: int32 ``(G,)``, the word a column yields otherwise.
    """
    probs: jax.Array
    threshold: jax.Array
    alias: jax.Array


def _alias_table(p: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Vose's alias construction over ``columns >= len(p)`` equally likely columns
    (the extra ones have probability 0): thresholds in units of 2**-32, and aliases."""
    q = np.zeros(columns)
    q[: p.size] = p * columns
    alias = np.arange(columns)
    small = [i for i in range(columns) if q[i] < 1.0]
    large = [i for i in range(columns) if q[i] >= 1.0]
    q_list = q.tolist()
    while small and large:
        s, g = small.pop(), large[-1]
        alias[s] = g
        q_list[g] -= 1.0 - q_list[s]        # g gives column s the mass it lacks
        if q_list[g] < 1.0:
            small.append(large.pop())
    for i in large + small:                 # full columns, and rounding leftovers
        real = i < p.size                   # a padding column must never yield itself
        q_list[i] = 1.0 if real else 0.0
        alias[i] = i if real else int(np.argmax(p))
    thr = np.minimum(np.floor(np.asarray(q_list) * 2.0**32), 2.0**32 - 1)
    return thr.astype(np.uint32), alias.astype(np.int32)


def negative_table(counts: Sequence[int] | np.ndarray, power: float = 0.75) -> NegativeTable:
    r"""The unigram distribution raised to ``power`` and renormalised, from which word2vec
    draws its negative samples, laid out as an alias table for :math:`O(1)` draws.

    .. math:: P_n(w) = \frac{\text{count}(w)^{p}}{\sum_{w'} \text{count}(w')^{p}}

    Args:
      counts: the word counts, shape ``(v,)``.
      power: the exponent :math:`p >= 0` (0.75 in word2vec; 0 is uniform, 1 the unigram).

    Returns:
      A :class:`NegativeTable`.

    Example:
      >>> from nnfunc.text.sampling import negative_table
      >>> t = negative_table([16, 1], power=0.5)
      >>> [round(float(p), 4) for p in t.probs], t.threshold.shape
      ([0.8, 0.2], (2,))
    """
    c = _check_counts("counts", counts)
    check_real("power", power, low=0.0)
    weights = np.where(c > 0, np.maximum(c, 1e-300) ** power, 0.0)
    probs = weights / weights.sum()
    bits = max(1, int(np.ceil(np.log2(c.size))))
    threshold, alias = _alias_table(probs, 2**bits)
    return NegativeTable(jnp.asarray(probs, jnp.float32), jnp.asarray(threshold),
                         jnp.asarray(alias))


def draw_negatives(key: jax.Array, table: NegativeTable, shape: Sequence[int]) -> jax.Array:
    r"""Draw word ids from the noise distribution in :math:`O(1)` each, from one uniform
    32-bit integer: its top :math:`b = \log_2 G` bits pick a column :math:`i`, the
    other :math:`32 - b` bits :math:`r` keep :math:`i` or take its alias.

    .. math:: \text{id} = \begin{cases} i & r < \lfloor \text{threshold}_i / 2^b
              \rfloor \\ \text{alias}_i & \text{otherwise} \end{cases}, \qquad
              P(\text{id} = w) = P_n(w) \pm (1 + a_w)\,2^{-32}

    (:math:`a_w` the number of columns aliased to :math:`w`: gensim's cumulative table
    has the same :math:`2^{-31}` resolution).

    Args:
      key: a PRNG key (any implementation; ``'rbg'`` keys are the fastest on CPU).
      table: a :class:`NegativeTable` (:func:`negative_table`).
      shape: the shape of the result.

    Returns:
      int32 word ids of the given shape. Jit-able.

    Example:
      >>> import jax
      >>> from nnfunc.text.sampling import negative_table, draw_negatives
      >>> ids = draw_negatives(jax.random.key(0), negative_table([1, 0, 4], power=1.0),
      ...                      (10000,))
      >>> round(float((ids == 2).mean()), 1), int((ids == 1).sum())
      (0.8, 0)
    """
    bits = table.threshold.shape[0].bit_length() - 1      # G = 2**bits columns
    r = jax.random.bits(key, tuple(shape), jnp.uint32)
    # The top bits pick the column, the other 32 - bits decide against its threshold
    # (truncated to as many bits): the error per column is still 2**-32 of total mass.
    col = (r >> (32 - bits)).astype(jnp.int32)
    low = r & jnp.uint32(2**(32 - bits) - 1)
    accept = low < (table.threshold.at[col].get(mode="promise_in_bounds") >> bits)
    return jnp.where(accept, col, table.alias.at[col].get(mode="promise_in_bounds"))
