"""Stochastic gradient descent with torch.optim.SGD's momentum, dampening and Nesterov."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from nnfunc.optim._base import (
    Optimizer,
    PyTree,
    _coupled_decay,
    _hparams,
    current_lr,
    is_zero,
    make_optimizer,
    zeros_slots,
)

__all__ = ["SgdState", "sgd", "momentum", "nesterov"]


class SgdState(NamedTuple):
    count: jax.Array
    hparams: dict
    momentum_buffer: PyTree | None


def sgd(learning_rate: Any = 1e-3, momentum: Any = 0.0, dampening: Any = 0.0,
        weight_decay: Any = 0.0, *, nesterov: bool = False) -> Optimizer:
    """SGD with momentum, exactly torch.optim.SGD.

    ``g ← g + λθ``; with momentum μ: ``b₀ = g``, ``bₜ = μ bₜ₋₁ + (1 − τ) g``;
    ``d = g + μ bₜ`` (Nesterov) or ``d = bₜ``; ``θ ← θ − η d``.

    A momentum that is a concrete 0 at construction is compiled out, and then has no slot
    (``momentum_buffer is None``) nor hyperparameter entry; pass an array or tracer to
    keep it adjustable. A concrete-0 ``weight_decay`` is compiled out too, but stays a
    hyperparameter: it reads as 0, and ``set_hparams`` gives it a value (one more
    compilation, then ``update`` needs ``params``).

    Args:
      learning_rate: η, a number, array or schedule ``step -> η``.
      momentum: μ >= 0.
      dampening: τ in [0, 1].
      weight_decay: λ >= 0 (L2 penalty added to the gradient).
      nesterov: Nesterov momentum; needs μ > 0 and τ = 0.

    Returns:
      An ``Optimizer``.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.sgd(learning_rate=0.1, momentum=0.9)
      >>> params = {'w': jnp.array([1.0])}
      >>> state = opt.init(params)
      >>> updates, state = opt.update({'w': jnp.array([2.0])}, state, params)
      >>> nf.optim.apply_updates(params, updates)['w']
      Array([0.8], dtype=float32)
    """
    if nesterov and (is_zero(momentum) or not is_zero(dampening)):
        raise ValueError(f"nesterov=True needs momentum > 0 and dampening == 0, got "
                         f"momentum={momentum!r}, dampening={dampening!r}")
    use_mom = not is_zero(momentum)
    extra = {"momentum": momentum, "dampening": dampening} if use_mom else {}
    hparams0 = _hparams(learning_rate, weight_decay, **extra)

    def init(params: PyTree) -> SgdState:
        buf = zeros_slots(params) if use_mom else None
        return SgdState(jnp.zeros((), jnp.int32), dict(hparams0), buf)

    def update(grads, state, params=None):
        lr, hp = current_lr(learning_rate, state.hparams, state.count)
        grads = _coupled_decay(grads, params, hp, "sgd(weight_decay=...)")
        buf = state.momentum_buffer
        if use_mom:
            mu, tau = hp["momentum"], hp["dampening"]
            first = state.count == 0
            buf = jax.tree_util.tree_map(
                lambda b, g: jnp.where(first, g, mu * b + (1 - tau) * g).astype(b.dtype),
                buf, grads)
            grads = (jax.tree_util.tree_map(lambda g, b: g + mu * b, grads, buf)
                     if nesterov else buf)
        updates = jax.tree_util.tree_map(lambda g: (-lr * g).astype(g.dtype), grads)
        return updates, SgdState(state.count + 1, hp, buf)

    return make_optimizer(init, update)


def momentum(learning_rate: Any = 1e-3, momentum: Any = 0.9, dampening: Any = 0.0,
             weight_decay: Any = 0.0) -> Optimizer:
    """SGD with heavy-ball momentum (``sgd`` with momentum=0.9 by default).

    ``bₜ = μ bₜ₋₁ + (1 − τ) g``, ``θ ← θ − η bₜ``.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> s = nf.optim.momentum(learning_rate=0.1).init({'w': jnp.zeros(1)})
      >>> round(float(nf.optim.get_hparams(s)['momentum']), 2)
      0.9
    """
    return sgd(learning_rate, momentum, dampening, weight_decay)


def nesterov(learning_rate: Any = 1e-3, momentum: Any = 0.9,
             weight_decay: Any = 0.0) -> Optimizer:
    """SGD with Nesterov momentum (``sgd(..., nesterov=True)``, momentum=0.9 by default).

    ``bₜ = μ bₜ₋₁ + g``, ``θ ← θ − η (g + μ bₜ)``.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.nesterov(learning_rate=0.1)
      >>> p = {'w': jnp.array([1.0])}
      >>> u, _ = opt.update({'w': jnp.array([1.0])}, opt.init(p), p)
      >>> round(float(u['w'][0]), 4)   # -0.1 * (1 + 0.9 * 1)
      -0.19
    """
    return sgd(learning_rate, momentum, 0.0, weight_decay, nesterov=True)
