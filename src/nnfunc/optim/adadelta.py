"""Adadelta, exactly torch.optim.Adadelta."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from nnfunc.optim._base import Optimizer, PyTree, make_optimizer
from nnfunc.optim._hparams import current_lr, decay_hparams
from nnfunc.optim._slots import zeros_slots
from nnfunc.optim._update import coupled_decay, leafwise

__all__ = ["AdadeltaState", "adadelta"]


class AdadeltaState(NamedTuple):
    """count, hparams; square_avg: v, EMA of g²; acc_delta: u, EMA of the squared steps Δ²."""
    count: jax.Array
    hparams: dict
    square_avg: PyTree
    acc_delta: PyTree


def adadelta(learning_rate: Any = 1.0, rho: Any = 0.9, eps: Any = 1e-6,
             weight_decay: Any = 0.0) -> Optimizer:
    """Adadelta, exactly torch.optim.Adadelta.

    ``g ← g + λθ``; ``vₜ = ρ vₜ₋₁ + (1 − ρ) g²``; ``Δ = √(uₜ₋₁ + ε) / √(vₜ + ε) · g``;
    ``uₜ = ρ uₜ₋₁ + (1 − ρ) Δ²``; ``θ ← θ − η Δ``.

    Args:
      learning_rate: η (torch's default 1.0), a number, array or schedule.
      rho: ρ in [0, 1], the decay of both running averages.
      eps: ε >= 0, inside both roots.
      weight_decay: λ >= 0 (L2 penalty added to the gradient).

    Returns:
      An ``Optimizer``; its state has the slots ``square_avg`` (v) and ``acc_delta`` (u).

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.adadelta()
      >>> p = {'w': jnp.array([1.0])}
      >>> u, s = opt.update({'w': jnp.array([1.0])}, opt.init(p), p)
      >>> bool(u['w'][0] < 0)
      True
    """
    hparams0 = decay_hparams(learning_rate, weight_decay, rho=rho, eps=eps)

    def init(params: PyTree) -> AdadeltaState:
        return AdadeltaState(jnp.zeros((), jnp.int32), dict(hparams0), zeros_slots(params),
                             zeros_slots(params))

    def update(grads, state, params=None):
        lr, hp = current_lr(learning_rate, state.hparams, state.count)
        grads = coupled_decay(grads, params, hp, "adadelta(weight_decay=...)")
        rho, eps = hp["rho"], hp["eps"]

        def leaf(g, v, u):
            v = rho * v + (1 - rho) * g * g
            delta = jnp.sqrt(u + eps) / jnp.sqrt(v + eps) * g
            u = rho * u + (1 - rho) * delta * delta
            return (-lr * delta).astype(g.dtype), v.astype(g.dtype), u.astype(g.dtype)
        updates, v, u = leafwise(leaf, 3, grads, state.square_avg, state.acc_delta)
        return updates, AdadeltaState(state.count + 1, hp, v, u)

    return make_optimizer(init, update)
