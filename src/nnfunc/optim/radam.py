"""RAdam, exactly torch.optim.RAdam (rectified Adam)."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from nnfunc._checks import check_bool
from nnfunc.optim._base import Betas, Optimizer, PyTree, make_optimizer
from nnfunc.optim._hparams import current_lr, decay_hparams
from nnfunc.optim._slots import zeros_slots
from nnfunc.optim._update import bias_corrections, decay_split, leafwise, torch_step

__all__ = ["RadamState", "radam"]


class RadamState(NamedTuple):
    """count, hparams; exp_avg: m, EMA of g; exp_avg_sq: v, EMA of g²."""
    count: jax.Array
    hparams: dict
    exp_avg: PyTree
    exp_avg_sq: PyTree


def radam(learning_rate: Any = 1e-3, betas: Betas = (0.9, 0.999), eps: Any = 1e-8,
          weight_decay: Any = 0.0, *, decoupled_weight_decay: bool = False) -> Optimizer:
    """RAdam, exactly torch.optim.RAdam (rectified Adam).

    m, v as in Adam; ``ρ∞ = 2/(1 − β₂) − 1``, ``ρₜ = ρ∞ − 2tβ₂ᵗ/(1 − β₂ᵗ)``; if ``ρₜ > 5``:
    ``r = √((ρₜ−4)(ρₜ−2)ρ∞ / ((ρ∞−4)(ρ∞−2)ρₜ))`` and
    ``θ ← θ − η · mₜ/(1 − β₁ᵗ) · r √(1 − β₂ᵗ) / (√vₜ + ε)``, else ``θ ← θ − η mₜ/(1 − β₁ᵗ)``.

    Args:
      learning_rate: η, a number, array or schedule.
      betas: (β₁, β₂), each in [0, 1).
      eps: ε >= 0.
      weight_decay: λ >= 0.
      decoupled_weight_decay: decay the weights directly (``θ ← θ(1 − ηλ)``).

    Returns:
      An ``Optimizer``; its state has ``exp_avg`` and ``exp_avg_sq``.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.radam(learning_rate=0.1)
      >>> p = {'w': jnp.array([1.0])}
      >>> u, s = opt.update({'w': jnp.array([2.0])}, opt.init(p), p)
      >>> round(float(u['w'][0]), 4)   # not rectified yet: -lr * m / (1 - b1)
      -0.2
    """
    decoupled_weight_decay = check_bool("decoupled_weight_decay", decoupled_weight_decay)
    hparams0 = decay_hparams(learning_rate, weight_decay, betas=betas, eps=eps)

    def init(params: PyTree) -> RadamState:
        return RadamState(jnp.zeros((), jnp.int32), dict(hparams0), zeros_slots(params),
                          zeros_slots(params))

    def update(grads, state, params=None):
        lr, hp = current_lr(learning_rate, state.hparams, state.count)
        b1, b2 = hp["betas"]
        eps = hp["eps"]
        t = torch_step(state.count, lr)
        bc1, bc2 = bias_corrections(t, b1, b2)
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * t * b2 ** t / bc2
        rectify = rho_t > 5
        # the root is taken only where it is real: the other branch of where() is not used
        rect = jnp.sqrt(jnp.where(rectify, (rho_t - 4) * (rho_t - 2) * rho_inf
                                  / ((rho_inf - 4) * (rho_inf - 2) * rho_t), 1.0))
        c_rect = rect * jnp.sqrt(bc2)
        step_size = lr / bc1
        grads, decay = decay_split(grads, params, hp, lr, decoupled_weight_decay,
                                    "radam(weight_decay=...)")

        def leaf(g, m, v, p):
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            scale = jnp.where(rectify, c_rect / (jnp.sqrt(v) + eps), 1.0)
            u = -step_size * m * scale
            if decay is not None:
                u = u - decay * p
            return u.astype(g.dtype), m.astype(g.dtype), v.astype(g.dtype)
        updates, m, v = leafwise(leaf, 3, grads, state.exp_avg, state.exp_avg_sq,
                                 params if decay is not None else None)
        return updates, RadamState(state.count + 1, hp, m, v)

    return make_optimizer(init, update)
