"""RMSprop, exactly torch.optim.RMSprop (momentum and centered variants)."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from nnfunc._checks import check_bool
from nnfunc.optim._base import Optimizer, PyTree, make_optimizer
from nnfunc.optim._hparams import check_hparam, current_lr, decay_hparams
from nnfunc.optim._slots import lazy_slots, zeros_slots
from nnfunc.optim._update import coupled_decay, leafwise

__all__ = ["RmspropState", "rmsprop"]


class RmspropState(NamedTuple):
    """count, hparams; square_avg: EMA of g²; momentum_buffer (lazy at μ=0); grad_avg: EMA of g."""
    count: jax.Array
    hparams: dict
    square_avg: PyTree
    momentum_buffer: PyTree
    grad_avg: PyTree | None
    # stricter than torch's alpha >= 0: alpha > 1 makes square_avg negative (NaN updates)
    hparam_rules = {"alpha": (lambda a: 0 <= a <= 1, "in [0, 1]")}


def rmsprop(learning_rate: Any = 1e-2, alpha: Any = 0.99, eps: Any = 1e-8,
            weight_decay: Any = 0.0, momentum: Any = 0.0, *,
            centered: bool = False) -> Optimizer:
    """RMSprop, exactly torch.optim.RMSprop (ε outside the root).

    ``g ← g + λθ``; ``vₜ = α vₜ₋₁ + (1 − α) g²``; centered: ``ḡₜ = α ḡₜ₋₁ + (1 − α) g``,
    ``d = √(vₜ − ḡₜ²) + ε``, else ``d = √vₜ + ε``; with momentum μ: ``bₜ = μ bₜ₋₁ + g / d``,
    ``θ ← θ − η bₜ``; without: ``θ ← θ − η g / d``.

    Args:
      learning_rate: η, a number, array or schedule.
      alpha: α in [0, 1], the smoothing constant (torch accepts any α >= 0, but α > 1
        makes ``square_avg`` negative and the update NaN; rejected here, also by
        ``set_hparams``).
      eps: ε >= 0, added to the root.
      weight_decay: λ >= 0 (L2 penalty added to the gradient).
      momentum: μ >= 0; a concrete 0 is compiled out (``momentum_buffer`` is then lazy:
        ``set_hparams(state, momentum=μ)`` makes it, zeros as torch's, and the update
        compiles once more).
      centered: normalise by the estimated variance instead of the raw second moment.

    Returns:
      An ``Optimizer``; its state has ``square_avg``, ``momentum_buffer`` (LazySlots while
      momentum is compiled out) and ``grad_avg`` (``None`` unless centered).

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.rmsprop(learning_rate=0.01, alpha=0.0, eps=0.0)
      >>> p = {'w': jnp.array([1.0])}
      >>> u, s = opt.update({'w': jnp.array([3.0])}, opt.init(p), p)
      >>> round(float(u['w'][0]), 4)   # -0.01 * 3 / sqrt(9)
      -0.01
    """
    check_hparam("alpha", alpha, *RmspropState.hparam_rules["alpha"])
    centered = check_bool("centered", centered)
    hparams0 = decay_hparams(learning_rate, weight_decay, alpha=alpha, eps=eps,
                             momentum=momentum, compiled_out=("momentum",))

    def init(params: PyTree) -> RmspropState:
        use_mom = hparams0["momentum"] is not None
        return RmspropState(jnp.zeros((), jnp.int32), dict(hparams0), zeros_slots(params),
                            zeros_slots(params) if use_mom else lazy_slots(params, "momentum"),
                            zeros_slots(params) if centered else None)

    def update(grads, state, params=None):
        lr, hp = current_lr(learning_rate, state.hparams, state.count)
        grads = coupled_decay(grads, params, hp, "rmsprop(weight_decay=...)")
        alpha, eps = hp["alpha"], hp["eps"]
        mu = hp["momentum"]
        use_mom = mu is not None

        def leaf(g, v, b, ga):
            v = alpha * v + (1 - alpha) * g * g
            if centered:
                ga = alpha * ga + (1 - alpha) * g
                d = jnp.sqrt(v - ga * ga) + eps
                ga = ga.astype(g.dtype)
            else:
                d = jnp.sqrt(v) + eps
            if use_mom:
                b = mu * b + g / d
                step, b = b, b.astype(g.dtype)
            else:
                step = g / d
            return (-lr * step).astype(g.dtype), v.astype(g.dtype), b, ga
        updates, v, b, ga = leafwise(leaf, 4, grads, state.square_avg,
                                     state.momentum_buffer if use_mom else None, state.grad_avg)
        if not use_mom:
            b = state.momentum_buffer
        return updates, RmspropState(state.count + 1, hp, v, b, ga)

    return make_optimizer(init, update)
