"""ASGD, Rprop and Adafactor with torch.optim's names, defaults and semantics."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from nnfunc.optim._base import (
    Optimizer,
    PyTree,
    _coupled_decay,
    _hparams,
    _leafwise,
    _step,
    check_hparam,
    current_lr,
    make_hparams,
    make_optimizer,
    require_params,
    zeros_slots,
)

__all__ = ["AsgdState", "asgd", "RpropState", "rprop", "AdafactorState", "adafactor"]


class AsgdState(NamedTuple):
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
    hparams0 = _hparams(learning_rate, weight_decay, lambd=lambd, alpha=alpha, t0=t0)

    def init(params: PyTree) -> AsgdState:
        lr0 = hparams0["learning_rate"]
        # eta is its own buffer (a copy), so a donated state never aliases hparams
        return AsgdState(jnp.zeros((), jnp.int32), dict(hparams0), jnp.array(lr0, copy=True),
                         jnp.ones((), lr0.dtype), zeros_slots(params))

    def update(grads, state, params=None):
        require_params(params, "asgd")
        lr, hp = current_lr(learning_rate, state.hparams, state.count)
        grads = _coupled_decay(grads, params, hp, "asgd")
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
        updates, ax = _leafwise(leaf, 2, grads, params, state.ax)
        t = _step(state.count, lr)
        new_eta = lr / (1 + lambd * lr * t) ** alpha
        new_mu = 1 / jnp.maximum(1, t - t0)
        return updates, AsgdState(state.count + 1, hp, new_eta, new_mu.astype(mu.dtype), ax)

    return make_optimizer(init, update)


# ---------------------------------------------------------------------------------------

class RpropState(NamedTuple):
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
    etas, step_sizes = tuple(etas), tuple(step_sizes)
    check_hparam("etas[0]", etas[0], lambda e: 0 < e < 1, "in (0, 1)")
    check_hparam("etas[1]", etas[1], lambda e: e > 1, "> 1")
    check_hparam("step_sizes[0]", step_sizes[0], lambda s: s >= 0, ">= 0")
    if not any(isinstance(s, jax.core.Tracer) for s in step_sizes):
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
        # first, and each pass reads fewer arrays (1.5x -> 1.0x optax's step time on CPU,
        # benchmarks/optimizers.py).
        one = (state.count >= 0).astype(jnp.float32)

        def leaf(g, prev, size):
            prod = g * prev                 # its sign, as torch's sign(g * prev)
            factor = jnp.where(prod > 0, eta_plus, jnp.where(prod < 0, eta_minus, 1.0))
            size = (jnp.clip((size + lr0) * factor, lo, hi).astype(prev.dtype)
                    / one.astype(prev.dtype))
            prev = jnp.where(prod < 0, jnp.zeros_like(g), g) / one.astype(g.dtype)
            # sign(prev) is sign(g), and 0 where the gradient was zeroed (no move)
            return (-jnp.sign(prev) * size).astype(g.dtype), prev, size
        updates, prev, size = _leafwise(leaf, 3, grads, state.prev, state.step_size)
        return updates, RpropState(state.count + 1, hp, prev, size)

    return make_optimizer(init, update)


# ---------------------------------------------------------------------------------------

class AdafactorState(NamedTuple):
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
    eps = tuple(eps)
    if eps[0] is not None:
        check_hparam("eps[0]", eps[0], lambda e: e >= 0, ">= 0")
    check_hparam("eps[1]", eps[1], lambda e: e >= 0, ">= 0")
    hparams0 = _hparams(learning_rate, weight_decay, beta2_decay=beta2_decay, d=d)
    dtype = hparams0["learning_rate"].dtype
    hparams0["eps"] = (jnp.asarray(jnp.nan if eps[0] is None else eps[0], dtype),
                       jnp.asarray(eps[1], dtype))

    def init(params: PyTree) -> AdafactorState:
        def leaf(p):
            if p.ndim >= 2:
                return (jnp.zeros(p.shape[:-1] + (1,), p.dtype),
                        jnp.zeros(p.shape[:-2] + (1,) + p.shape[-1:], p.dtype), None)
            return None, None, jnp.zeros(p.shape, p.dtype)
        row, col, var = _leafwise(leaf, 3, params)
        return AdafactorState(jnp.zeros((), jnp.int32), dict(hparams0), row, col, var)

    def update(grads, state, params=None):
        require_params(params, "adafactor")
        lr, hp = current_lr(learning_rate, state.hparams, state.count)
        eps1_given, eps2 = hp["eps"]
        t = _step(state.count, lr)
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
        updates, r, c, v = _leafwise(leaf, 4, grads, params, state.row_var, state.col_var,
                                     state.variance)
        return updates, AdafactorState(state.count + 1, hp, r, c, v)

    return make_optimizer(init, update)
