"""``skip_nonfinite``: skip (and count) steps whose gradient is not finite."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from nnfunc.optim._base import Optimizer, PyTree, check_optimizer, make_optimizer
from nnfunc.optim._slots import zero_count
from nnfunc.optim._update import select

__all__ = ["SkipNonfiniteState", "skip_nonfinite"]


class SkipNonfiniteState(NamedTuple):
    """count, hparams (empty); inner: opt's state; num_skipped: the steps skipped so far."""
    count: jax.Array
    hparams: dict
    inner: Any
    num_skipped: jax.Array


def skip_nonfinite(opt: Optimizer) -> Optimizer:
    """Skip steps whose gradient has a NaN or an infinity, and count them.

    If every entry of every gradient leaf is finite: ``(u, s) = opt.update(g, s, θ)``;
    otherwise ``u = 0``, ``opt``'s state is left exactly as it was and ``num_skipped``
    grows by one (a select, not a branch: vmap-friendly).

    Args:
      opt: the optimizer to protect.

    Returns:
      An ``Optimizer``; its state is a ``SkipNonfiniteState`` with ``inner`` (``opt``'s
      state; its ``count`` is the number of applied steps) and ``num_skipped``.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.skip_nonfinite(nf.optim.sgd(learning_rate=0.1))
      >>> p = {'w': jnp.ones(2)}
      >>> u, s = opt.update({'w': jnp.array([1.0, jnp.nan])}, opt.init(p), p)
      >>> u['w'], int(s.num_skipped), int(s.inner.count)
      (Array([0., 0.], dtype=float32), 1, 0)
    """
    check_optimizer(opt, "opt")

    def init(params: PyTree) -> SkipNonfiniteState:
        return SkipNonfiniteState(zero_count(), {}, opt.init(params), zero_count())

    def update(grads, state, params=None):
        leaves = jax.tree_util.tree_leaves(grads)
        ok = jnp.all(jnp.stack([jnp.all(jnp.isfinite(g)) for g in leaves])) if leaves \
            else jnp.asarray(True)
        # Feed zeros instead of the bad gradient, so nothing non-finite is computed at all.
        safe = jax.tree_util.tree_map(lambda g: jnp.where(ok, g, jnp.zeros_like(g)), grads)
        u, new_inner = opt.update(safe, state.inner, params)
        updates = jax.tree_util.tree_map(lambda x: jnp.where(ok, x, jnp.zeros_like(x)), u)
        inner = select(ok, new_inner, state.inner)
        return updates, SkipNonfiniteState(state.count + 1, state.hparams, inner,
                                           state.num_skipped + (~ok).astype(jnp.int32))

    return make_optimizer(init, update)
