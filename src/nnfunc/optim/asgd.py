"""Averaged SGD, exactly torch.optim.ASGD."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from nnfunc.optim._base import Optimizer, PyTree, make_optimizer, require_params
from nnfunc.optim._hparams import current_lr, decay_hparams
from nnfunc.optim._slots import zeros_slots
from nnfunc.optim._update import coupled_decay, leafwise, torch_step

__all__ = ["AsgdState", "asgd"]


class AsgdState(NamedTuple):
    """count, hparams; eta: ηₜ and mu: μₜ for the next step; ax: the averaged parameters."""
    count: jax.Array
    hparams: dict
    eta: jax.Array
    mu: jax.Array
    ax: PyTree


def asgd(learning_rate: Any = 1e-2, lambd: Any = 1e-4, alpha: Any = 0.75, t0: Any = 1e6,
         weight_decay: Any = 0.0) -> Optimizer:
    """Averaged SGD, exactly torch.optim.ASGD.

    At step t = 1, 2, ...: ``g ← g + λ_wd θ``; ``θ ← θ(1 − λ ηₜ) − ηₜ g``;
    ``axₜ = θ`` while ``μₜ = 1``, else ``axₜ = axₜ₋₁ + μₜ(θ − axₜ₋₁)``; then
    ``ηₜ₊₁ = η / (1 + λ η t)^α`` and ``μₜ₊₁ = 1 / max(1, t − t₀)`` (``η₁ = η``, ``μ₁ = 1``).
    The averaged parameters are the slot ``ax``.

    Args:
      learning_rate: η, a number, array or schedule.
      lambd: λ >= 0, the decay term.
      alpha: α >= 0, the power of the η update.
      t0: t₀ >= 0, the step at which averaging starts.
      weight_decay: λ_wd >= 0 (L2 penalty added to the gradient).

    Returns:
      An ``Optimizer``; its state has the scalars ``eta`` and ``mu`` and the slot ``ax``.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.asgd(learning_rate=0.1, lambd=0.0)
      >>> p = {'w': jnp.array([1.0])}
      >>> u, s = opt.update({'w': jnp.array([2.0])}, opt.init(p), p)
      >>> round(float(u['w'][0]), 4), round(float(s.ax['w'][0]), 4)
      (-0.2, 0.8)
    """
    hparams0 = decay_hparams(learning_rate, weight_decay, lambd=lambd, alpha=alpha, t0=t0)

    def init(params: PyTree) -> AsgdState:
        lr0 = hparams0["learning_rate"]
        # eta is its own buffer (a copy), so a donated state never aliases hparams
        return AsgdState(jnp.zeros((), jnp.int32), dict(hparams0), jnp.array(lr0, copy=True),
                         jnp.ones((), lr0.dtype), zeros_slots(params))

    def update(grads, state, params=None):
        require_params(params, "asgd")
        lr, hp = current_lr(learning_rate, state.hparams, state.count)
        grads = coupled_decay(grads, params, hp, "asgd")
        lambd, alpha, t0 = hp["lambd"], hp["alpha"], hp["t0"]
        # torch sets eta from the learning rate of the first step
        eta = jnp.where(state.count == 0, lr, state.eta)
        mu = state.mu
        copy = mu == 1

        def leaf(g, p, ax):
            u = (-lambd * eta * p - eta * g).astype(p.dtype)
            new_p = p + u
            ax = jnp.where(copy, new_p, ax + (new_p - ax) * mu).astype(ax.dtype)
            return u, ax
        updates, ax = leafwise(leaf, 2, grads, params, state.ax)
        t = torch_step(state.count, lr)
        new_eta = lr / (1 + lambd * lr * t) ** alpha
        new_mu = 1 / jnp.maximum(1, t - t0)
        return updates, AsgdState(state.count + 1, hp, new_eta, new_mu.astype(mu.dtype), ax)

    return make_optimizer(init, update)
