"""``accumulate``: gradient accumulation over k micro-batches."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from nnfunc.optim._base import Optimizer, PyTree, check_optimizer, make_optimizer
from nnfunc.optim._hparams import int_hparam
from nnfunc.optim._slots import zero_count
from nnfunc.optim._update import select

__all__ = ["AccumulateState", "accumulate"]


class AccumulateState(NamedTuple):
    """count, hparams; inner: opt's state; grad_sum: the gradients summed since opt's last step."""
    count: jax.Array
    hparams: dict
    inner: Any
    grad_sum: PyTree


def accumulate(opt: Optimizer, every_k: Any) -> Optimizer:
    """Gradient accumulation: one step of ``opt`` on the mean gradient of k micro-batches.

    Calls t = 0, 1, ...: ``S ← S + gₜ``; on every k-th call (``(t + 1) % k == 0``)
    ``(u, s) = opt.update(S / k, s, θ)`` and ``S ← 0``; on the other calls ``u = 0`` and
    ``opt``'s state is unchanged. So ``opt``'s own ``count`` (and its schedule) advances
    once per k micro-batches.

    Written with selects, not ``lax.cond``: every call also evaluates ``opt.update`` and
    discards it off the k-th call, which keeps the step ``vmap``-friendly (a ``cond``
    under ``vmap`` runs both branches anyway). The sum is kept in at least float32.

    Args:
      opt: the optimizer to run on the mean gradient.
      every_k: k, an integer >= 1 (stored as ``hparams['every_k']``).

    Returns:
      An ``Optimizer``; its state is an ``AccumulateState`` with ``inner`` (``opt``'s
      state) and ``grad_sum``.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.accumulate(nf.optim.sgd(learning_rate=1.0), every_k=2)
      >>> p = {'w': jnp.zeros(1)}
      >>> s = opt.init(p)
      >>> u1, s = opt.update({'w': jnp.array([1.0])}, s, p)
      >>> u2, s = opt.update({'w': jnp.array([3.0])}, s, p)
      >>> float(u1['w'][0]), float(u2['w'][0])
      (0.0, -2.0)
    """
    check_optimizer(opt, "opt")
    k0 = int_hparam("every_k", every_k)

    def init(params: PyTree) -> AccumulateState:
        acc = jax.tree_util.tree_map(
            lambda p: jnp.zeros(jnp.shape(p), jnp.promote_types(jnp.result_type(p),
                                                                jnp.float32)), params)
        return AccumulateState(zero_count(), {"every_k": k0}, opt.init(params), acc)

    def update(grads, state, params=None):
        k = state.hparams["every_k"]
        acc = jax.tree_util.tree_map(lambda a, g: a + g.astype(a.dtype), state.grad_sum, grads)
        fire = (state.count + 1) % k == 0
        mean = jax.tree_util.tree_map(lambda a, g: (a / k).astype(g.dtype), acc, grads)
        u, new_inner = opt.update(mean, state.inner, params)
        updates = jax.tree_util.tree_map(lambda x: jnp.where(fire, x, jnp.zeros_like(x)), u)
        inner = select(fire, new_inner, state.inner)
        acc = jax.tree_util.tree_map(lambda a: jnp.where(fire, jnp.zeros_like(a), a), acc)
        return updates, AccumulateState(state.count + 1, state.hparams, inner, acc)

    return make_optimizer(init, update)
