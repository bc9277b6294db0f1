"""Adagrad, exactly torch.optim.Adagrad."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from nnfunc.optim._base import Optimizer, PyTree, make_optimizer
from nnfunc.optim._hparams import current_lr, decay_hparams
from nnfunc.optim._update import coupled_decay, leafwise

__all__ = ["AdagradState", "adagrad"]


class AdagradState(NamedTuple):
    """count, hparams; sum: s, the running sum of g² (from initial_accumulator_value)."""
    count: jax.Array
    hparams: dict
    sum: PyTree


def adagrad(learning_rate: Any = 1e-2, lr_decay: Any = 0.0, weight_decay: Any = 0.0,
            initial_accumulator_value: Any = 0.0, eps: Any = 1e-10) -> Optimizer:
    """Adagrad, exactly torch.optim.Adagrad.

    ``g ← g + λθ``; ``sₜ = sₜ₋₁ + g²`` (``s₀`` = initial_accumulator_value);
    ``θ ← θ − η / (1 + (t − 1)·lr_decay) · g / (√sₜ + ε)`` at step t = 1, 2, ...

    Args:
      learning_rate: η, a number, array or schedule ``step -> η``.
      lr_decay: decay of η with the step count, >= 0.
      weight_decay: λ >= 0 (L2 penalty added to the gradient).
      initial_accumulator_value: ``s₀`` >= 0 (used by ``init``).
      eps: ε >= 0, added to the root.

    Returns:
      An ``Optimizer``; its state has the slot ``sum``.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.adagrad(learning_rate=0.1)
      >>> p = {'w': jnp.array([1.0])}
      >>> u, s = opt.update({'w': jnp.array([2.0])}, opt.init(p), p)
      >>> round(float(u['w'][0]), 4)   # -0.1 * 2 / sqrt(4)
      -0.1
    """
    hparams0 = decay_hparams(learning_rate, weight_decay, eps=eps, lr_decay=lr_decay,
                             initial_accumulator_value=initial_accumulator_value)

    def init(params: PyTree) -> AdagradState:
        iav = hparams0["initial_accumulator_value"]
        return AdagradState(jnp.zeros((), jnp.int32), dict(hparams0),
                            jax.tree_util.tree_map(
                                lambda p: jnp.full(jnp.shape(p), iav, jnp.result_type(p)),
                                params))

    def update(grads, state, params=None):
        lr, hp = current_lr(learning_rate, state.hparams, state.count)
        grads = coupled_decay(grads, params, hp, "adagrad(weight_decay=...)")
        clr = lr / (1 + state.count.astype(lr.dtype) * hp["lr_decay"])
        eps = hp["eps"]

        def leaf(g, s):
            s = s + g * g
            return (-clr * g / (jnp.sqrt(s) + eps)).astype(g.dtype), s.astype(g.dtype)
        updates, sums = leafwise(leaf, 2, grads, state.sum)
        return updates, AdagradState(state.count + 1, hp, sums)

    return make_optimizer(init, update)
