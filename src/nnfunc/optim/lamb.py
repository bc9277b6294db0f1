"""LAMB (You et al., 2020): Adam with decoupled decay and a layer-wise trust ratio."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from nnfunc.optim._base import Optimizer, PyTree, make_optimizer, require_params
from nnfunc.optim._hparams import current_lr, make_hparams
from nnfunc.optim._slots import zeros_slots
from nnfunc.optim._update import bias_corrections, leaf_norm, torch_step

__all__ = ["LambState", "lamb"]


class LambState(NamedTuple):
    """count, hparams; exp_avg: m, EMA of g; exp_avg_sq: v, EMA of g² (not bias-corrected)."""
    count: jax.Array
    hparams: dict
    exp_avg: PyTree
    exp_avg_sq: PyTree


def lamb(learning_rate: Any = 1e-3, betas: tuple[Any, Any] = (0.9, 0.999), eps: Any = 1e-6,
         weight_decay: Any = 0.0) -> Optimizer:
    """LAMB (You et al., 2020): Adam's step plus decoupled decay, rescaled per leaf by a
    trust ratio.

    ``m ← β₁ m + (1 − β₁) g``, ``v ← β₂ v + (1 − β₂) g²`` (t = step + 1);
    ``r = (m / (1 − β₁ᵗ)) / (sqrt(v / (1 − β₂ᵗ)) + ε) + λθ``;
    ``θ ← θ − η · (‖θ‖ / ‖r‖) · r``, the norms taken per leaf (layer-wise), and the trust
    ratio replaced by 1 where ``‖θ‖ = 0`` or ``‖r‖ = 0``.

    This is ``optax.lamb(learning_rate, b1, b2, eps, eps_root=0, weight_decay=λ)`` with
    ``betas = (b1, b2)`` (the paper's φ is the identity, no trust-ratio clipping). To keep
    biases and norm scales out of the decay and the trust ratio, use ``partition``.

    Args:
      learning_rate: η, a number, array or schedule ``step -> η``.
      betas: (β₁, β₂), each in [0, 1).
      eps: ε >= 0, added to the root of the bias-corrected second moment.
      weight_decay: λ >= 0, decoupled (added to the Adam direction before the trust ratio).

    Returns:
      An ``Optimizer`` (``update`` needs ``params``); its state is a ``LambState`` with
      slots ``exp_avg`` (m) and ``exp_avg_sq`` (v).

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.lamb(learning_rate=0.1)
      >>> params = {'w': jnp.array([3.0, 4.0])}
      >>> updates, _ = opt.update({'w': jnp.array([1.0, 1.0])}, opt.init(params), params)
      >>> round(float(jnp.linalg.norm(updates['w'])), 4)   # η · ‖θ‖
      0.5
    """
    hparams0 = make_hparams(learning_rate=learning_rate, betas=betas, eps=eps,
                            weight_decay=weight_decay)

    def init(params: PyTree) -> LambState:
        return LambState(jnp.zeros((), jnp.int32), dict(hparams0), zeros_slots(params),
                         zeros_slots(params))

    def update(grads, state, params=None):
        require_params(params, "lamb")
        lr, hp = current_lr(learning_rate, state.hparams, state.count)
        b1, b2 = hp["betas"]
        t = torch_step(state.count, b1)
        bc1, bc2 = bias_corrections(t, b1, b2)
        m = jax.tree_util.tree_map(lambda m, g: (b1 * m + (1 - b1) * g).astype(m.dtype),
                                   state.exp_avg, grads)
        v = jax.tree_util.tree_map(lambda v, g: (b2 * v + (1 - b2) * g * g).astype(v.dtype),
                                   state.exp_avg_sq, grads)

        def step(m, v, p):
            r = (m / bc1) / (jnp.sqrt(v / bc2) + hp["eps"]) + hp["weight_decay"] * p
            p_norm, r_norm = leaf_norm(p), leaf_norm(r)
            ratio = jnp.where((p_norm == 0) | (r_norm == 0), 1.0,
                              p_norm / jnp.where(r_norm == 0, 1.0, r_norm))
            return (-lr * ratio * r).astype(p.dtype)

        updates = jax.tree_util.tree_map(step, m, v, params)
        return updates, LambState(state.count + 1, hp, m, v)

    return make_optimizer(init, update)
