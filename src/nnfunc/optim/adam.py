"""Adam and AdamW, exactly torch.optim.Adam and torch.optim.AdamW (one shared update)."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from nnfunc._checks import check_bool
from nnfunc.optim._base import Betas, Optimizer, PyTree, make_optimizer
from nnfunc.optim._hparams import current_lr, decay_hparams
from nnfunc.optim._slots import zeros_slots
from nnfunc.optim._update import bias_corrections, decay_split, leafwise, torch_step

__all__ = ["AdamState", "adam", "adamw"]


class AdamState(NamedTuple):
    """count, hparams; exp_avg: m, exp_avg_sq: v (EMA of g, g²); max_exp_avg_sq: max v (amsgrad)."""
    count: jax.Array
    hparams: dict
    exp_avg: PyTree
    exp_avg_sq: PyTree
    max_exp_avg_sq: PyTree | None


def _adam(learning_rate, betas, eps, weight_decay, amsgrad, decoupled, who) -> Optimizer:
    amsgrad = check_bool("amsgrad", amsgrad)
    hparams0 = decay_hparams(learning_rate, weight_decay, betas=betas, eps=eps)

    def init(params: PyTree) -> AdamState:
        return AdamState(jnp.zeros((), jnp.int32), dict(hparams0), zeros_slots(params),
                         zeros_slots(params), zeros_slots(params) if amsgrad else None)

    def update(grads, state, params=None):
        lr, hp = current_lr(learning_rate, state.hparams, state.count)
        b1, b2 = hp["betas"]
        eps = hp["eps"]
        t = torch_step(state.count, lr)
        bc1, bc2 = bias_corrections(t, b1, b2)
        step_size = lr / bc1
        # a scalar reciprocal: one multiply per element instead of a divide
        inv_sqrt_bc2 = 1 / jnp.sqrt(bc2)
        grads, decay = decay_split(grads, params, hp, lr, decoupled,
                                    f"{who}(weight_decay=...)")

        def leaf(g, m, v, vmax, p):
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            if amsgrad:
                vmax = jnp.maximum(vmax, v.astype(g.dtype))
                denom = jnp.sqrt(vmax) * inv_sqrt_bc2 + eps
            else:
                denom = jnp.sqrt(v) * inv_sqrt_bc2 + eps
            u = -step_size * m / denom
            if decay is not None:
                u = u - decay * p
            return u.astype(g.dtype), m.astype(g.dtype), v.astype(g.dtype), vmax
        updates, m, v, vmax = leafwise(leaf, 4, grads, state.exp_avg, state.exp_avg_sq,
                                       state.max_exp_avg_sq,
                                       params if decay is not None else None)
        return updates, AdamState(state.count + 1, hp, m, v, vmax)

    return make_optimizer(init, update)


def adam(learning_rate: Any = 1e-3, betas: Betas = (0.9, 0.999), eps: Any = 1e-8,
         weight_decay: Any = 0.0, *, amsgrad: bool = False,
         decoupled_weight_decay: bool = False) -> Optimizer:
    """Adam, exactly torch.optim.Adam.

    ``g ← g + λθ``; ``mₜ = β₁ mₜ₋₁ + (1 − β₁) g``; ``vₜ = β₂ vₜ₋₁ + (1 − β₂) g²``;
    amsgrad: ``v̂ₜ = max(v̂ₜ₋₁, vₜ)`` (the max of the raw second moment), else ``v̂ₜ = vₜ``;
    ``θ ← θ − η/(1 − β₁ᵗ) · mₜ / (√v̂ₜ / √(1 − β₂ᵗ) + ε)``.

    Args:
      learning_rate: η, a number, array or schedule.
      betas: (β₁, β₂), each in [0, 1).
      eps: ε >= 0, added to the (bias-corrected) root. ε = 0 is allowed, as in torch,
        but then a gradient that is exactly 0 at the first step (or whose second moment
        underflows) gives 0/0 = NaN, in torch too.
      weight_decay: λ >= 0, an L2 penalty added to the gradient.
      amsgrad: keep the running max of v (slot ``max_exp_avg_sq``).
      decoupled_weight_decay: decay as AdamW does (``θ ← θ(1 − ηλ)``).

    Returns:
      An ``Optimizer``; its state has ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.adam(learning_rate=0.1)
      >>> p = {'w': jnp.array([1.0])}
      >>> u, s = opt.update({'w': jnp.array([5.0])}, opt.init(p), p)
      >>> round(float(u['w'][0]), 4)   # first step moves by ~ -lr * sign(g)
      -0.1
    """
    decoupled_weight_decay = check_bool("decoupled_weight_decay", decoupled_weight_decay)
    return _adam(learning_rate, betas, eps, weight_decay, amsgrad, decoupled_weight_decay,
                 "adamw" if decoupled_weight_decay else "adam")


def adamw(learning_rate: Any = 1e-3, betas: Betas = (0.9, 0.999), eps: Any = 1e-8,
          weight_decay: Any = 1e-2, *, amsgrad: bool = False) -> Optimizer:
    """AdamW, exactly torch.optim.AdamW: Adam with decoupled weight decay.

    ``θ ← θ(1 − ηₜλ)`` with this step's (possibly scheduled) ηₜ, then the Adam step
    ``θ ← θ − ηₜ/(1 − β₁ᵗ) · mₜ / (√v̂ₜ / √(1 − β₂ᵗ) + ε)`` (see ``adam``).

    Args:
      learning_rate: η, a number, array or schedule.
      betas: (β₁, β₂), each in [0, 1).
      eps: ε >= 0.
      weight_decay: λ >= 0 (torch's default 1e-2).
      amsgrad: keep the running max of v.

    Returns:
      An ``Optimizer`` with an ``AdamState``.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.adamw(learning_rate=0.1, weight_decay=0.5)
      >>> p = {'w': jnp.array([2.0])}
      >>> u, s = opt.update({'w': jnp.array([0.0])}, opt.init(p), p)
      >>> round(float(u['w'][0]), 4)   # zero gradient: only the decay -0.1 * 0.5 * 2
      -0.1
    """
    return _adam(learning_rate, betas, eps, weight_decay, amsgrad, True, "adamw")
