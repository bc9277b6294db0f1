"""The sparse SGD step: gather the rows a batch uses, differentiate the batch's loss with
respect to them, scatter-add the update (:func:`sparse_sgd_step`), with hierarchical
softmax's cap on the rows many examples share (:func:`cap_row_hits`)."""
from __future__ import annotations

from typing import Any, Optional

import jax
import jax.numpy as jnp

from nnfunc.text._word2vec.batch import Batch, batch_rows, pair_focus
from nnfunc.text._word2vec.layout import from_pairs
from nnfunc.text._word2vec.loss import batch_loss, huffman_terms
from nnfunc.text._word2vec.model import Word2Vec

__all__ = ["MAX_ROW_HITS", "sparse_sgd_step", "cap_row_hits"]

MAX_ROW_HITS = 64          # train_word2vec's default cap (see there)


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
      >>> from nnfunc.text import word2vec
      >>> from nnfunc.text._word2vec.batch import make_batch
      >>> from nnfunc.text._word2vec.step import sparse_sgd_step
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
        g_out = cap_row_hits(g_out, out_ids, _tree_hits(model, batch), table_out.shape[0],
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
        target, ok = pair_focus(batch), batch.valid
    else:
        target, ok = batch.focus, from_pairs(batch.valid.astype(jnp.int32), window) > 0
    return huffman_terms(model, target, ok, jnp.float32)[1] > 0


def cap_row_hits(grads: jax.Array, ids: jax.Array, hits: jax.Array, rows: int,
                 cap: int) -> jax.Array:
    """Scale the gradient rows of table rows hit more than ``cap`` times in the batch
    (``hits``: which entries of ``ids`` are real updates) by ``cap / hits``: their summed
    update is then ``cap`` times their mean."""
    counts = jnp.zeros((rows,), jnp.float32).at[ids].add(hits.astype(jnp.float32),
                                                         mode="promise_in_bounds")
    n = counts.at[ids].get(mode="promise_in_bounds")
    scale = jnp.minimum(1.0, cap / jnp.maximum(n, 1.0)).astype(grads.dtype)
    return grads * scale[..., None]
