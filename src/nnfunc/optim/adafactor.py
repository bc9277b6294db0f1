"""Adafactor, exactly torch.optim.Adafactor (factored second moments, no momentum)."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from nnfunc._checks import check_pair
from nnfunc.optim._base import Optimizer, PyTree, make_optimizer, require_params
from nnfunc.optim._hparams import check_hparam, current_lr, decay_hparams
from nnfunc.optim._update import leafwise, torch_step

__all__ = ["AdafactorState", "adafactor"]


class AdafactorState(NamedTuple):
    """count, hparams; row_var, col_var: EMA of g²'s row/column means; variance: EMA of g²."""
    count: jax.Array
    hparams: dict
    row_var: PyTree
    col_var: PyTree
    variance: PyTree


def adafactor(learning_rate: Any = 1e-2, beta2_decay: Any = -0.8,
              eps: tuple[Any, Any] = (None, 1e-3), d: Any = 1.0,
              weight_decay: Any = 0.0) -> Optimizer:
    """Adafactor, exactly torch.optim.Adafactor (factored second moments, no momentum).

    At step t: ``β̂ = t^c`` (c = beta2_decay), ``ρ = min(η, 1/√t)``,
    ``a = max(ε₂, RMS(θ)) ρ``; ``θ ← θ(1 − ηλ)``. For a leaf of >= 2 dims, row and column
    means of g² over the last two axes are averaged, ``Rₜ = Rₜ₋₁ + β̂(mean_col g² − Rₜ₋₁)``,
    ``Cₜ`` alike, and ``V = Rₜ Cₜ / max(mean(Rₜ), ε₁)``; otherwise ``V = Vₜ`` (full g²
    average). ``u = g / √max(V, ε₁²)``; ``θ ← θ − a u / max(1, RMS(u)/d)``.

    Args:
      learning_rate: η, a number, array or schedule.
      beta2_decay: c <= 0.
      eps: (ε₁, ε₂); ε₁ = None uses the parameter dtype's machine epsilon (stored as NaN
        in ``hparams``); both >= 0.
      d: the clipping threshold, >= 1.
      weight_decay: λ >= 0 (decoupled, like AdamW).

    Returns:
      An ``Optimizer``; its state has the slots ``row_var``, ``col_var`` (factored leaves)
      and ``variance`` (the others), each ``None`` at leaves where it does not apply.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.adafactor(learning_rate=0.1)
      >>> p = {'w': jnp.ones((2, 3)), 'b': jnp.ones(3)}
      >>> s = opt.init(p)
      >>> s.row_var['w'].shape, s.col_var['w'].shape, s.variance['b'].shape
      ((2, 1), (1, 3), (3,))
    """
    eps = check_pair("eps", eps, "a pair (eps1 or None, eps2)")
    if eps[0] is not None:
        check_hparam("eps[0]", eps[0], lambda e: e >= 0, ">= 0")
    check_hparam("eps[1]", eps[1], lambda e: e >= 0, ">= 0")
    hparams0 = decay_hparams(learning_rate, weight_decay, beta2_decay=beta2_decay, d=d)
    dtype = hparams0["learning_rate"].dtype
    hparams0["eps"] = (jnp.asarray(jnp.nan if eps[0] is None else eps[0], dtype),
                       jnp.asarray(eps[1], dtype))

    def init(params: PyTree) -> AdafactorState:
        def leaf(p):
            if p.ndim >= 2:
                return (jnp.zeros(p.shape[:-1] + (1,), p.dtype),
                        jnp.zeros(p.shape[:-2] + (1,) + p.shape[-1:], p.dtype), None)
            return None, None, jnp.zeros(p.shape, p.dtype)
        row, col, var = leafwise(leaf, 3, params)
        return AdafactorState(jnp.zeros((), jnp.int32), dict(hparams0), row, col, var)

    def update(grads, state, params=None):
        require_params(params, "adafactor")
        lr, hp = current_lr(learning_rate, state.hparams, state.count)
        eps1_given, eps2 = hp["eps"]
        t = torch_step(state.count, lr)
        beta = t ** hp["beta2_decay"]
        rho = jnp.minimum(lr, 1 / jnp.sqrt(t))
        decay = None if hp.get("weight_decay") is None else lr * hp["weight_decay"]
        d = hp["d"]

        def leaf(g, p, r, c, v):
            eps1 = jnp.where(jnp.isnan(eps1_given), jnp.finfo(p.dtype).eps, eps1_given)
            n = max(p.size, 1)
            rms_p = jnp.sqrt(jnp.sum(jnp.square(p.astype(lr.dtype)))) / n ** 0.5
            a = jnp.maximum(eps2, rms_p) * rho
            if p.ndim >= 2:
                g2 = g * g
                r = r + beta * (jnp.mean(g2, axis=-1, keepdims=True) - r)
                c = c + beta * (jnp.mean(g2, axis=-2, keepdims=True) - c)
                r, c = r.astype(p.dtype), c.astype(p.dtype)
                var = (r * c) / jnp.maximum(jnp.mean(r, axis=-2, keepdims=True), eps1)
            else:
                v = (v + beta * (g * g - v)).astype(p.dtype)
                var = v
            u = g / jnp.sqrt(jnp.maximum(var, eps1 * eps1))
            rms_u = jnp.sqrt(jnp.sum(jnp.square(u))) / (n ** 0.5 * d)
            out = -a / jnp.maximum(1.0, rms_u) * u
            if decay is not None:
                out = out - decay * p
            return out.astype(p.dtype), r, c, v
        updates, r, c, v = leafwise(leaf, 4, grads, params, state.row_var, state.col_var,
                                    state.variance)
        return updates, AdafactorState(state.count + 1, hp, r, c, v)

    return make_optimizer(init, update)
