"""Lion (EvoLved Sign Momentum; Chen et al., 2023), with decoupled weight decay."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from nnfunc.optim._base import Optimizer, PyTree, make_optimizer
from nnfunc.optim._hparams import current_lr, decay_hparams
from nnfunc.optim._slots import zeros_slots
from nnfunc.optim._update import coupled_decay

__all__ = ["LionState", "lion"]


class LionState(NamedTuple):
    """count, hparams; exp_avg: m, the momentum (EMA of g with β₂)."""
    count: jax.Array
    hparams: dict
    exp_avg: PyTree


def lion(learning_rate: Any = 1e-4, betas: tuple[Any, Any] = (0.9, 0.99),
         weight_decay: Any = 0.0) -> Optimizer:
    """Lion (EvoLved Sign Momentum; Chen et al., 2023), with decoupled weight decay.

    ``c = β₁ m + (1 − β₁) g``; ``θ ← θ − η (sign(c) + λθ)``; ``m ← β₂ m + (1 − β₂) g``.

    Same update as ``optax.lion(learning_rate, b1, b2, weight_decay=λ)`` with
    ``betas = (b1, b2)``; the decay is multiplied by the learning rate, as in torch's
    AdamW. Defaults are the paper authors' (lr 1e-4, no decay; optax's weight_decay
    default is 1e-3). A concrete-0 ``weight_decay`` is compiled out (no params needed)
    but stays settable with ``set_hparams``.

    Args:
      learning_rate: η, a number, array or schedule ``step -> η``.
      betas: (β₁, β₂), each in [0, 1): interpolation for the sign, decay of the momentum.
      weight_decay: λ >= 0, decoupled.

    Returns:
      An ``Optimizer``; its state is a ``LionState`` with slot ``exp_avg`` (m).

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.lion(learning_rate=0.1)
      >>> params = {'w': jnp.array([1.0, -1.0])}
      >>> updates, state = opt.update({'w': jnp.array([3.0, -0.5])}, opt.init(params), params)
      >>> nf.optim.apply_updates(params, updates)['w']
      Array([ 0.9, -0.9], dtype=float32)
    """
    hparams0 = decay_hparams(learning_rate, weight_decay, betas=betas)

    def init(params: PyTree) -> LionState:
        return LionState(jnp.zeros((), jnp.int32), dict(hparams0),
                         zeros_slots(params))

    def update(grads, state, params=None):
        lr, hp = current_lr(learning_rate, state.hparams, state.count)
        b1, b2 = hp["betas"]
        direction = jax.tree_util.tree_map(
            lambda m, g: jnp.sign(b1 * m + (1 - b1) * g), state.exp_avg, grads)
        # decoupled: λθ joins the sign direction, and both are scaled by η
        direction = coupled_decay(direction, params, hp, "lion(weight_decay=...)")
        updates = jax.tree_util.tree_map(
            lambda d, g: (-lr * d).astype(g.dtype), direction, grads)
        exp_avg = jax.tree_util.tree_map(
            lambda m, g: (b2 * m + (1 - b2) * g).astype(m.dtype), state.exp_avg, grads)
        return updates, LionState(state.count + 1, hp, exp_avg)

    return make_optimizer(init, update)
