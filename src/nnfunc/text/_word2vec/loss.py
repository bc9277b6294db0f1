"""The objectives: the logistic loss of negative sampling and hierarchical softmax, the
full softmax, CBOW's hidden vector, and a batch's summed loss as a function of the rows
it gathered (:func:`batch_loss`)."""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from nnfunc.text._word2vec.batch import Batch, context_walks_focus_path, pair_focus
from nnfunc.text._word2vec.layout import from_pairs, to_pairs
from nnfunc.text._word2vec.model import Word2Vec

__all__ = ["logistic_loss", "softmax_loss", "cbow_hidden", "huffman_terms", "batch_loss"]


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
      >>> from nnfunc.text._word2vec.loss import logistic_loss
      >>> h = jnp.array([[1.0, 0.0]])
      >>> rows = jnp.array([[[2.0, 5.0], [1.0, 0.0]]])   # a target and a negative
      >>> round(float(logistic_loss(h, rows, jnp.array([1.0, -1.0]), 1.0)), 4)
      1.4402
    """
    # A batched matrix-vector product (dot_general), not a multiply-and-reduce: XLA:CPU
    # runs its forward and backward passes faster.
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
      >>> from nnfunc.text._word2vec.loss import softmax_loss
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
    (``h = s + stop_gradient(s / n - s)``): the mean's own derivative leaves CBOW's
    vectors (hierarchical softmax) much worse on word similarity.
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
      >>> from nnfunc.text._word2vec.loss import cbow_hidden
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


def huffman_terms(model: Word2Vec, target: jax.Array, ok: jax.Array, dtype: Any):
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
      >>> from nnfunc.text import word2vec
      >>> from nnfunc.text._word2vec.batch import make_batch, batch_rows
      >>> from nnfunc.text._word2vec.loss import batch_loss
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
    if context_walks_focus_path(model):
        h, target, ok = in_rows, pair_focus(batch), batch.valid
    elif model.architecture == "skipgram":
        h, target, ok = to_pairs(in_rows, window), batch.contexts, batch.valid
    else:
        h = cbow_hidden(in_rows, batch.valid, window, mean=model.cbow_mean)
        target, ok = batch.focus, from_pairs(batch.valid.astype(jnp.int32), window) > 0
    if model.output == "softmax":
        return softmax_loss(h, out_rows, target, ok.astype(dtype))
    if model.output == "hierarchical":
        signs, weights = huffman_terms(model, target, ok, dtype)
    else:
        signs, weights = _negative_terms(target, batch.negatives, ok, dtype)
    return logistic_loss(h, out_rows, signs, weights)
