"""SGD, exactly torch.optim.SGD (momentum, dampening, Nesterov), and its aliases ``momentum``
and ``nesterov``."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nnfunc._checks import check_bool
from nnfunc.optim._base import Optimizer, PyTree, make_optimizer
from nnfunc.optim._hparams import current_lr, decay_hparams, is_zero
from nnfunc.optim._slots import LazySlot, lazy_slots, zeros_slots
from nnfunc.optim._update import coupled_decay

__all__ = ["SgdState", "sgd", "momentum", "nesterov"]


class SgdState(NamedTuple):
    """count, hparams; momentum_buffer: b (lazy if μ is off); momentum_fresh: b not written yet."""
    count: jax.Array
    hparams: dict
    momentum_buffer: PyTree
    momentum_fresh: jax.Array | LazySlot | None = None


def sgd(learning_rate: Any = 1e-3, momentum: Any = 0.0, dampening: Any = 0.0,
        weight_decay: Any = 0.0, *, nesterov: bool = False) -> Optimizer:
    """SGD with momentum, exactly torch.optim.SGD.

    ``g ← g + λθ``; with momentum μ: ``b₀ = g``, ``bₜ = μ bₜ₋₁ + (1 − τ) g``;
    ``d = g + μ bₜ`` (Nesterov) or ``d = bₜ``; ``θ ← θ − η d``.

    A ``momentum`` or ``weight_decay`` that is a concrete 0 at construction is compiled out
    (no term; no momentum buffer, its slot holds ``LazySlot``s) but stays a
    hyperparameter: it reads as 0, and ``set_hparams`` gives it a value (one more
    compilation; a decay then needs ``params``). Momentum switched on that way behaves as
    torch's when a param group's momentum goes from 0 to μ: torch makes the buffer at the
    first step with momentum, ``b = g`` (no dampening). Here ``set_hparams`` makes
    ``momentum_buffer`` (zeros) with ``momentum_fresh = True``, and that step writes
    ``b = g``; built with momentum, ``momentum_fresh`` is ``None`` and step 0 writes it.
    ``dampening`` is always stored, so it is adjustable too.

    Args:
      learning_rate: η, a number, array or schedule ``step -> η``.
      momentum: μ >= 0.
      dampening: τ in [0, 1].
      weight_decay: λ >= 0 (L2 penalty added to the gradient).
      nesterov: Nesterov momentum; needs μ > 0 and τ = 0.

    Returns:
      An ``Optimizer``; its state is an ``SgdState``.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.sgd(learning_rate=0.1, momentum=0.9)
      >>> params = {'w': jnp.array([1.0])}
      >>> state = opt.init(params)
      >>> updates, state = opt.update({'w': jnp.array([2.0])}, state, params)
      >>> nf.optim.apply_updates(params, updates)['w']
      Array([0.8], dtype=float32)
    """
    nesterov = check_bool("nesterov", nesterov)
    if nesterov and (is_zero(momentum) or not is_zero(dampening)):
        raise ValueError(f"nesterov=True needs momentum > 0 and dampening == 0, got "
                         f"momentum={momentum!r}, dampening={dampening!r}")
    hparams0 = decay_hparams(learning_rate, weight_decay, momentum=momentum,
                             dampening=dampening, compiled_out=("momentum",))

    def init(params: PyTree) -> SgdState:
        if hparams0["momentum"] is not None:
            return SgdState(jnp.zeros((), jnp.int32), dict(hparams0), zeros_slots(params))
        return SgdState(jnp.zeros((), jnp.int32), dict(hparams0),
                        lazy_slots(params, "momentum"),
                        LazySlot((), np.dtype(bool), "momentum", True))

    def update(grads, state, params=None):
        lr, hp = current_lr(learning_rate, state.hparams, state.count)
        grads = coupled_decay(grads, params, hp, "sgd(weight_decay=...)")
        buf, fresh = state.momentum_buffer, state.momentum_fresh
        mu = hp["momentum"]
        if mu is not None:
            tau = hp["dampening"]
            # torch's buffer is made from the first gradient with momentum: b = g
            first = state.count == 0 if fresh is None else fresh
            buf = jax.tree_util.tree_map(
                lambda b, g: jnp.where(first, g, mu * b + (1 - tau) * g).astype(b.dtype),
                buf, grads)
            fresh = None if fresh is None else jnp.zeros_like(fresh)
            grads = (jax.tree_util.tree_map(lambda g, b: g + mu * b, grads, buf)
                     if nesterov else buf)
        updates = jax.tree_util.tree_map(lambda g: (-lr * g).astype(g.dtype), grads)
        return updates, SgdState(state.count + 1, hp, buf, fresh)

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
