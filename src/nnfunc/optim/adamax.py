"""Adamax, exactly torch.optim.Adamax (Adam with the infinity norm)."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from nnfunc.optim._base import Betas, Optimizer, PyTree, make_optimizer
from nnfunc.optim._hparams import current_lr, decay_hparams
from nnfunc.optim._slots import zeros_slots
from nnfunc.optim._update import coupled_decay, leafwise, torch_step

__all__ = ["AdamaxState", "adamax"]


class AdamaxState(NamedTuple):
    """count, hparams; exp_avg: m, EMA of g; exp_inf: u = max(β₂u, |g| + ε), a decayed max."""
    count: jax.Array
    hparams: dict
    exp_avg: PyTree
    exp_inf: PyTree


def adamax(learning_rate: Any = 2e-3, betas: Betas = (0.9, 0.999), eps: Any = 1e-8,
           weight_decay: Any = 0.0) -> Optimizer:
    """Adamax, exactly torch.optim.Adamax (Adam with the infinity norm).

    ``g ← g + λθ``; ``mₜ = β₁ mₜ₋₁ + (1 − β₁) g``; ``uₜ = max(β₂ uₜ₋₁, |g| + ε)``;
    ``θ ← θ − η/(1 − β₁ᵗ) · mₜ / uₜ``.

    Args:
      learning_rate: η (torch's default 2e-3), a number, array or schedule.
      betas: (β₁, β₂), each in [0, 1).
      eps: ε >= 0, added to |g|.
      weight_decay: λ >= 0 (L2 penalty added to the gradient).

    Returns:
      An ``Optimizer``; its state has ``exp_avg`` and ``exp_inf``.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.adamax(learning_rate=0.1, eps=0.0)
      >>> p = {'w': jnp.array([1.0])}
      >>> u, s = opt.update({'w': jnp.array([-4.0])}, opt.init(p), p)
      >>> round(float(u['w'][0]), 4)
      0.1
    """
    hparams0 = decay_hparams(learning_rate, weight_decay, betas=betas, eps=eps)

    def init(params: PyTree) -> AdamaxState:
        return AdamaxState(jnp.zeros((), jnp.int32), dict(hparams0), zeros_slots(params),
                           zeros_slots(params))

    def update(grads, state, params=None):
        lr, hp = current_lr(learning_rate, state.hparams, state.count)
        grads = coupled_decay(grads, params, hp, "adamax(weight_decay=...)")
        b1, b2 = hp["betas"]
        eps = hp["eps"]
        clr = lr / (1 - b1 ** torch_step(state.count, lr))

        def leaf(g, m, u):
            m = b1 * m + (1 - b1) * g
            u = jnp.maximum(b2 * u, jnp.abs(g) + eps)
            return (-clr * m / u).astype(g.dtype), m.astype(g.dtype), u.astype(g.dtype)
        updates, m, u = leafwise(leaf, 3, grads, state.exp_avg, state.exp_inf)
        return updates, AdamaxState(state.count + 1, hp, m, u)

    return make_optimizer(init, update)
