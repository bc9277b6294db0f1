"""``lookahead`` (Zhang et al., 2019): k fast steps, then a pull towards the slow weights."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from nnfunc.optim._base import (
    Optimizer,
    PyTree,
    check_optimizer,
    make_optimizer,
    require_params,
)
from nnfunc.optim._hparams import int_hparam, make_hparams
from nnfunc.optim._slots import zero_count

__all__ = ["LookaheadState", "lookahead"]


class LookaheadState(NamedTuple):
    """count, hparams; inner: the fast optimizer's state; slow: the slow weights φ."""
    count: jax.Array
    hparams: dict
    inner: Any
    slow: PyTree


def lookahead(opt: Optimizer, k: Any = 5, alpha: Any = 0.5) -> Optimizer:
    """Lookahead (Zhang et al., 2019): k fast steps of ``opt``, then pull back towards the
    slow weights.

    The params are the fast weights θ; the slow weights φ start as θ₀. Each call runs
    ``opt``; on every k-th call (``(t + 1) % k == 0``) ``φ ← φ + α (θ' − φ)`` with θ' the
    fast weights after ``opt``'s step, and the params are reset to the new φ (the update
    returned is ``φ − θ``). ``opt``'s own state is kept across syncs.

    Reading the slow weights: ``state.slow`` (for a lookahead inside a chain,
    ``state.inner[i].slow``). Right after every k-th step they equal the params, so
    evaluating the params then evaluates φ.

    Args:
      opt: the inner (fast) optimizer.
      k: the sync period, an integer >= 1 (stored as ``hparams['lookahead_k']``).
      alpha: α in [0, 1], the slow step size (stored as ``hparams['lookahead_alpha']``,
        so it does not clash with ``rmsprop``'s ``alpha`` in ``set_hparams``).

    Returns:
      An ``Optimizer`` (``update`` needs ``params``); its state is a ``LookaheadState``
      with ``inner`` and ``slow``.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.lookahead(nf.optim.sgd(learning_rate=1.0), k=2, alpha=0.5)
      >>> p = {'w': jnp.zeros(1)}
      >>> s = opt.init(p)
      >>> for _ in range(2):
      ...     u, s = opt.update({'w': jnp.array([-1.0])}, s, p)
      ...     p = nf.optim.apply_updates(p, u)
      >>> float(p['w'][0]), float(s.slow['w'][0])   # fast went 0 -> 2, φ = 0 + 0.5 · 2
      (1.0, 1.0)
    """
    check_optimizer(opt, "opt")
    k0 = int_hparam("lookahead_k", k)
    hparams0 = {"lookahead_k": k0, **make_hparams(lookahead_alpha=alpha)}

    def init(params: PyTree) -> LookaheadState:
        slow = jax.tree_util.tree_map(jnp.asarray, params)
        return LookaheadState(zero_count(), dict(hparams0), opt.init(params), slow)

    def update(grads, state, params=None):
        require_params(params, "lookahead")
        a, k = state.hparams["lookahead_alpha"], state.hparams["lookahead_k"]
        u, inner = opt.update(grads, state.inner, params)
        sync = (state.count + 1) % k == 0

        def leaf(p, u, s):
            fast = (p + u).astype(p.dtype)
            target = (s + a * (fast - s)).astype(p.dtype)
            delta = jnp.where(sync, (target - p).astype(p.dtype), u)
            # Store exactly what apply_updates will produce, so params == slow after a sync.
            return delta, jnp.where(sync, (p + delta).astype(p.dtype), s)

        pairs = jax.tree_util.tree_map(leaf, params, u, state.slow)
        outer = jax.tree_util.tree_structure(params)
        updates, slow = jax.tree_util.tree_transpose(
            outer, jax.tree_util.tree_structure((0, 0)), pairs)
        return updates, LookaheadState(state.count + 1, state.hparams, inner, slow)

    return make_optimizer(init, update)
