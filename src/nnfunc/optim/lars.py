"""LARS (You, Gitman and Ginsburg, 2017): SGD with momentum and a layer-wise learning rate."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from nnfunc._checks import check_bool
from nnfunc.optim._base import Optimizer, PyTree, make_optimizer, require_params
from nnfunc.optim._hparams import check_hparam, current_lr, is_zero, make_hparams
from nnfunc.optim._slots import zeros_slots
from nnfunc.optim._update import leaf_norm

__all__ = ["LarsState", "lars"]


class LarsState(NamedTuple):
    """count, hparams; momentum_buffer: b, the momentum of the trust-scaled steps."""
    count: jax.Array
    hparams: dict
    momentum_buffer: PyTree


def lars(learning_rate: Any = 1.0, momentum: Any = 0.9, weight_decay: Any = 0.0,
         trust_coefficient: Any = 1e-3, eps: Any = 0.0, *, nesterov: bool = False) -> Optimizer:
    """LARS (You, Gitman and Ginsburg, 2017): SGD with momentum and a per-leaf (layer-wise)
    learning rate.

    Per leaf: ``ρ = κ ‖θ‖ / (‖g‖ + λ‖θ‖ + ε)`` (ρ = 1 where ‖θ‖ = 0 or ``‖g‖ + λ‖θ‖ = 0``);
    ``s = η ρ (g + λθ)``; ``b ← μ b + s`` (b₀ = 0); ``θ ← θ − b``, or with Nesterov
    ``θ ← θ − (s + μ b)``.

    The paper's Algorithm 1 (the global learning rate η inside the momentum). With λ = 0
    it is exactly ``optax.lars(learning_rate, trust_coefficient=κ, eps=ε, momentum=μ,
    nesterov=...)``; with λ > 0 optax divides by ``‖g + λθ‖`` instead of the paper's
    ``‖g‖ + λ‖θ‖``. To exclude biases and norm scales (as the paper does), use ``partition``.

    Args:
      learning_rate: η, a number, array or schedule ``step -> η``. The default 1.0 makes
        each step change a leaf by about κ of its norm.
      momentum: μ >= 0.
      weight_decay: λ >= 0 (L2, inside the trust ratio's denominator).
      trust_coefficient: κ >= 0 (the paper's η).
      eps: ε >= 0 in the trust ratio's denominator.
      nesterov: Nesterov momentum.

    Returns:
      An ``Optimizer`` (``update`` needs ``params``); its state is a ``LarsState`` with slot
      ``momentum_buffer`` (b).

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.lars(learning_rate=1.0, trust_coefficient=0.01)
      >>> params = {'w': jnp.array([3.0, 4.0])}
      >>> updates, _ = opt.update({'w': jnp.array([10.0, 0.0])}, opt.init(params), params)
      >>> updates['w']   # κ ‖θ‖ / ‖g‖ · g = 0.01 · 5 / 10 · g
      Array([-0.05, -0.  ], dtype=float32)
    """
    nesterov = check_bool("nesterov", nesterov)
    if nesterov and is_zero(momentum):
        raise ValueError(f"nesterov=True needs momentum > 0, got momentum={momentum!r}")
    # before make_hparams (which checks it too): a bad κ is reported ahead of other arguments
    check_hparam("trust_coefficient", trust_coefficient)
    hparams0 = make_hparams(learning_rate=learning_rate, momentum=momentum,
                            weight_decay=weight_decay, trust_coefficient=trust_coefficient,
                            eps=eps)

    def init(params: PyTree) -> LarsState:
        return LarsState(jnp.zeros((), jnp.int32), dict(hparams0),
                         zeros_slots(params))

    def update(grads, state, params=None):
        require_params(params, "lars")
        lr, hp = current_lr(learning_rate, state.hparams, state.count)
        mu, wd = hp["momentum"], hp["weight_decay"]

        def scaled(g, p):
            p_norm, g_norm = leaf_norm(p), leaf_norm(g)
            den = g_norm + wd * p_norm
            safe = (p_norm == 0) | (den == 0)
            ratio = jnp.where(safe, 1.0,
                              hp["trust_coefficient"] * p_norm
                              / (jnp.where(safe, 1.0, den) + hp["eps"]))
            return lr * ratio * (g + wd * p)

        s = jax.tree_util.tree_map(scaled, grads, params)
        buf = jax.tree_util.tree_map(lambda b, s: (mu * b + s).astype(b.dtype),
                                     state.momentum_buffer, s)
        step = (jax.tree_util.tree_map(lambda s, b: s + mu * b, s, buf) if nesterov else buf)
        updates = jax.tree_util.tree_map(lambda d, g: (-d).astype(g.dtype), step, grads)
        return updates, LarsState(state.count + 1, hp, buf)

    return make_optimizer(init, update)
