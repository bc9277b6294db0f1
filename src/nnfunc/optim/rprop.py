"""Rprop (resilient backpropagation), exactly torch.optim.Rprop."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from nnfunc._checks import is_traced
from nnfunc._checks import check_pair
from nnfunc.optim._base import Optimizer, PyTree, make_optimizer
from nnfunc.optim._hparams import check_hparam, current_lr, make_hparams
from nnfunc.optim._slots import zeros_slots
from nnfunc.optim._update import leafwise

__all__ = ["RpropState", "rprop"]


class RpropState(NamedTuple):
    """count, hparams; prev: the last gradient (0 where its sign flipped); step_size: per entry."""
    count: jax.Array
    hparams: dict
    prev: PyTree
    step_size: PyTree


def rprop(learning_rate: Any = 1e-2, etas: tuple[Any, Any] = (0.5, 1.2),
          step_sizes: tuple[Any, Any] = (1e-6, 50.0)) -> Optimizer:
    """Resilient backpropagation, exactly torch.optim.Rprop.

    Per element, ``s = sign(g · gₜ₋₁)``; the step size is multiplied by η₊ (s > 0), η₋
    (s < 0) or 1, then clipped to [step_min, step_max]; where s < 0 the gradient is
    taken as 0 (no move, and it is remembered as 0); ``θ ← θ − sign(g) · step``.
    Step sizes start at the learning rate of the first step.

    Args:
      learning_rate: the initial step size, a number, array or schedule.
      etas: (η₋, η₊) with 0 < η₋ < 1 < η₊.
      step_sizes: (step_min, step_max) with 0 <= step_min <= step_max.

    Returns:
      An ``Optimizer``; its state has the slots ``prev`` and ``step_size``.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.rprop(learning_rate=0.1)
      >>> p = {'w': jnp.array([1.0, 1.0])}
      >>> u, s = opt.update({'w': jnp.array([3.0, -0.5])}, opt.init(p), p)
      >>> [round(float(x), 4) for x in u['w']]
      [-0.1, 0.1]
    """
    etas = check_pair("etas", etas, "a pair (etaminus, etaplus)")
    step_sizes = check_pair("step_sizes", step_sizes, "a pair (min, max)")
    check_hparam("etas[0]", etas[0], lambda e: 0 < e < 1, "in (0, 1)")
    check_hparam("etas[1]", etas[1], lambda e: e > 1, "> 1")
    check_hparam("step_sizes[0]", step_sizes[0], lambda s: s >= 0, ">= 0")
    if not any(is_traced(s) for s in step_sizes):
        check_hparam("step_sizes[1]", step_sizes[1], lambda s: s >= float(step_sizes[0]),
                     f">= step_sizes[0] = {step_sizes[0]!r}")
    hparams0 = make_hparams(learning_rate=learning_rate, etas=etas, step_sizes=step_sizes)

    def init(params: PyTree) -> RpropState:
        return RpropState(jnp.zeros((), jnp.int32), dict(hparams0), zeros_slots(params),
                          zeros_slots(params))

    def update(grads, state, params=None):
        lr, hp = current_lr(learning_rate, state.hparams, state.count)
        eta_minus, eta_plus = hp["etas"]
        lo, hi = hp["step_sizes"]
        # step sizes start at 0 and get this step's learning rate added on the first step
        # (an add, exact, instead of a per-element select)
        lr0 = jnp.where(state.count == 0, lr, jnp.zeros_like(lr))
        # A 1 that XLA cannot prove is 1 (a count is never negative). Dividing the new slots
        # by it is exact, and XLA does not duplicate a division into every consumer: the
        # parameter update then reads the new slots once they are written, instead of
        # recomputing them from the old ones: XLA no longer copies the donated step sizes
        # first, and each pass reads fewer arrays (the optimizers suite compares its step
        # with optax's).
        one = (state.count >= 0).astype(jnp.float32)

        def leaf(g, prev, size):
            prod = g * prev                 # its sign, as torch's sign(g * prev)
            factor = jnp.where(prod > 0, eta_plus, jnp.where(prod < 0, eta_minus, 1.0))
            size = (jnp.clip((size + lr0) * factor, lo, hi).astype(prev.dtype)
                    / one.astype(prev.dtype))
            prev = jnp.where(prod < 0, jnp.zeros_like(g), g) / one.astype(g.dtype)
            # sign(prev) is sign(g), and 0 where the gradient was zeroed (no move)
            return (-jnp.sign(prev) * size).astype(g.dtype), prev, size
        updates, prev, size = leafwise(leaf, 3, grads, state.prev, state.step_size)
        return updates, RpropState(state.count + 1, hp, prev, size)

    return make_optimizer(init, update)
