"""``masked``: apply an optimizer or transformation to the masked leaves only."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from nnfunc.optim._base import Optimizer, PyTree, check_optimizer, make_optimizer
from nnfunc.optim._labels import broadcast_prefix, holes, split_by_labels
from nnfunc.optim._slots import zero_count

__all__ = ["MaskedState", "masked"]


class MaskedState(NamedTuple):
    """count, hparams (empty); inner: opt's state over the masked leaves (None holes elsewhere)."""
    count: jax.Array
    hparams: dict
    inner: Any


def masked(opt: Optimizer, mask: Any, *, passthrough: bool = False) -> Optimizer:
    """Apply ``opt`` to the leaves where ``mask`` is True only.

    ``uᵢ = opt.update(g restricted to the mask)ᵢ`` where ``maskᵢ``; elsewhere
    ``uᵢ = 0`` (those parameters are frozen), or ``uᵢ = gᵢ`` with ``passthrough=True``.

    Which to pick: an optimizer (``sgd``, ``adamw``, ...) returns *updates*, so the
    unmasked leaves must get 0 (the default: e.g. fine-tune only the head). A gradient
    transformation (``clip_by_value``, ``add_noise``) returns *gradients*, so inside a
    ``chain`` the unmasked gradients must go on unchanged: ``passthrough=True`` (optax's
    ``masked``), e.g. ``chain(masked(add_noise(..., key=k), mask, passthrough=True),
    sgd(...))``. Passing an optimizer with ``passthrough=True`` would *add* the raw
    gradients to the unmasked params. To give the unmasked leaves a different optimizer
    (biases without weight decay: ``adamw(weight_decay=0.0)`` for them), use
    ``partition``.

    Args:
      opt: the optimizer or transformation to apply on the masked leaves.
      mask: a pytree of booleans with the params' structure (or a prefix of it), or a
        callable ``params -> mask``.
      passthrough: keyword-only; unmasked leaves get the incoming gradients instead of 0.

    Returns:
      An ``Optimizer``; its state is a ``MaskedState`` whose ``inner`` is ``opt``'s state
      over the masked leaves (``None`` holes elsewhere).

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.masked(nf.optim.sgd(learning_rate=0.1), {'w': True, 'b': False})
      >>> p = {'w': jnp.ones(1), 'b': jnp.ones(1)}
      >>> u, _ = opt.update({'w': jnp.ones(1), 'b': jnp.ones(1)}, opt.init(p), p)
      >>> round(float(u['w'][0]), 4), float(u['b'][0])
      (-0.1, 0.0)
    """
    check_optimizer(opt, "opt")

    def _leaf_mask(tree):
        labs = broadcast_prefix(mask, tree, "mask")
        bad = [m for m in labs if not isinstance(m, (bool, jnp.bool_)) and
               not (hasattr(m, "dtype") and m.dtype == bool and jnp.ndim(m) == 0)]
        if bad:
            raise ValueError(f"mask leaves must be booleans, got {bad[0]!r}")
        return [bool(m) for m in labs]

    def init(params: PyTree) -> MaskedState:
        keep = _leaf_mask(params)
        return MaskedState(zero_count(), {}, opt.init(split_by_labels(params, keep, bool)))

    def update(grads, state, params=None):
        keep = _leaf_mask(params if params is not None else grads)
        sub_params = None if params is None else split_by_labels(params, keep, bool)
        u, inner = opt.update(split_by_labels(grads, keep, bool), state.inner, sub_params)
        leaves, treedef = jax.tree_util.tree_flatten(grads)
        out = [ui if k else (g if passthrough else jnp.zeros_like(g))
               for ui, k, g in zip(holes(u), keep, leaves)]
        return (jax.tree_util.tree_unflatten(treedef, out),
                MaskedState(state.count + 1, state.hparams, inner))

    return make_optimizer(init, update, selects_leaves=True)
