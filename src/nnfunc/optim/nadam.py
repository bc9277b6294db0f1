"""NAdam, exactly torch.optim.NAdam (Adam with Nesterov momentum; NAdamW when decoupled)."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from nnfunc._checks import check_bool
from nnfunc.optim._base import Betas, Optimizer, PyTree, make_optimizer
from nnfunc.optim._hparams import current_lr, decay_hparams
from nnfunc.optim._slots import zeros_slots
from nnfunc.optim._update import decay_split, leafwise, torch_step

__all__ = ["NadamState", "nadam"]


class NadamState(NamedTuple):
    """count, hparams; mu_product: Πₜ = μ₁⋯μₜ; exp_avg: m, EMA of g; exp_avg_sq: v, EMA of g²."""
    count: jax.Array
    hparams: dict
    mu_product: jax.Array
    exp_avg: PyTree
    exp_avg_sq: PyTree


def nadam(learning_rate: Any = 2e-3, betas: Betas = (0.9, 0.999), eps: Any = 1e-8,
          weight_decay: Any = 0.0, momentum_decay: Any = 4e-3, *,
          decoupled_weight_decay: bool = False) -> Optimizer:
    """NAdam, exactly torch.optim.NAdam (Nesterov momentum with a warming schedule).

    ``μₜ = β₁(1 − ½·0.96^(tψ))``, ``Πₜ = Πₜ₋₁ μₜ`` (slot ``mu_product``);
    ``g ← g + λθ`` (or ``θ ← θ(1 − ηλ)`` when decoupled); m, v as in Adam;
    ``θ ← θ − η(1 − μₜ)/(1 − Πₜ) · g/d − η μₜ₊₁/(1 − Πₜ μₜ₊₁) · mₜ/d`` with
    ``d = √(vₜ/(1 − β₂ᵗ)) + ε``.

    Args:
      learning_rate: η (torch's default 2e-3), a number, array or schedule.
      betas: (β₁, β₂), each in [0, 1).
      eps: ε >= 0.
      weight_decay: λ >= 0.
      momentum_decay: ψ >= 0.
      decoupled_weight_decay: decay the weights directly (NAdamW).

    Returns:
      An ``Optimizer``; its state has ``mu_product`` (a scalar), ``exp_avg``, ``exp_avg_sq``.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.nadam(learning_rate=0.1)
      >>> p = {'w': jnp.array([1.0])}
      >>> u, s = opt.update({'w': jnp.array([2.0])}, opt.init(p), p)
      >>> round(float(s.mu_product), 4)   # 0.9 * (1 - 0.5 * 0.96 ** 0.004)
      0.4501
    """
    decoupled_weight_decay = check_bool("decoupled_weight_decay", decoupled_weight_decay)
    hparams0 = decay_hparams(learning_rate, weight_decay, betas=betas, eps=eps,
                             momentum_decay=momentum_decay)

    def init(params: PyTree) -> NadamState:
        one = jnp.ones((), hparams0["learning_rate"].dtype)
        return NadamState(jnp.zeros((), jnp.int32), dict(hparams0), one, zeros_slots(params),
                          zeros_slots(params))

    def update(grads, state, params=None):
        lr, hp = current_lr(learning_rate, state.hparams, state.count)
        b1, b2 = hp["betas"]
        eps, psi = hp["eps"], hp["momentum_decay"]
        t = torch_step(state.count, lr)
        inv_bc2 = 1 / (1 - b2 ** t)
        mu = b1 * (1 - 0.5 * 0.96 ** (t * psi))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
        mu_product = state.mu_product * mu
        c_grad = -lr * (1 - mu) / (1 - mu_product)
        c_avg = -lr * mu_next / (1 - mu_product * mu_next)
        grads, decay = decay_split(grads, params, hp, lr, decoupled_weight_decay,
                                    "nadam(weight_decay=...)")

        def leaf(g, m, v, p):
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            d = jnp.sqrt(v * inv_bc2) + eps
            u = (c_grad * g + c_avg * m) / d
            if decay is not None:
                u = u - decay * p
            return u.astype(g.dtype), m.astype(g.dtype), v.astype(g.dtype)
        updates, m, v = leafwise(leaf, 3, grads, state.exp_avg, state.exp_avg_sq,
                                 params if decay is not None else None)
        return updates, NadamState(state.count + 1, hp, mu_product, m, v)

    return make_optimizer(init, update)
