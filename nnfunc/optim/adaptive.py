"""Adaptive-rate optimizers with torch.optim's names, defaults and semantics.

Adagrad, Adadelta, RMSprop, Adam, AdamW, Adamax, NAdam and RAdam. Each state is a flat
NamedTuple: ``count``, ``hparams``, then the slots under torch's state names
(``exp_avg``, ``exp_avg_sq``, ...). Slots have the parameters' dtype; scalar factors (bias
corrections, schedules) are computed in the hyperparameters' float dtype (float32, or
float64 under x64), so bfloat16 parameters get float32 bias corrections.

A ``weight_decay`` that is a concrete 0 at construction is compiled out (no pass over the
parameters, no ``params`` needed) but stays a hyperparameter: ``get_hparams`` reads 0 and
``set_hparams`` or a sweep gives it a value (the update then compiles once more, with the
term). A momentum that is a concrete 0 is compiled out too, with no slot and no
``hparams`` entry (pass an array to keep it adjustable).
"""
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
    current_lr,
    is_zero,
    make_optimizer,
    require_params,
    zeros_slots,
)

__all__ = ["AdagradState", "adagrad", "AdadeltaState", "adadelta", "RmspropState", "rmsprop",
           "AdamState", "adam", "adamw", "AdamaxState", "adamax", "NadamState", "nadam",
           "RadamState", "radam"]

Betas = tuple[Any, Any]


def _decay_split(grads, params, hp, lr, decoupled: bool, who: str):
    """Weight decay either way: ``(g + λθ, None)`` (coupled, torch's L2 penalty) or
    ``(g, ηλ)`` for the leaf update to subtract ``ηλθ`` (decoupled, as AdamW); ``(g, None)``
    when λ is compiled out (see :func:`_hparams`)."""
    if decoupled and hp.get("weight_decay") is not None:
        require_params(params, who)
        return grads, lr * hp["weight_decay"]
    return _coupled_decay(grads, params, hp, who), None


# ---------------------------------------------------------------------------------------

class AdagradState(NamedTuple):
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
    hparams0 = _hparams(learning_rate, weight_decay, eps=eps, lr_decay=lr_decay,
                        initial_accumulator_value=initial_accumulator_value)

    def init(params: PyTree) -> AdagradState:
        iav = hparams0["initial_accumulator_value"]
        return AdagradState(jnp.zeros((), jnp.int32), dict(hparams0),
                            jax.tree_util.tree_map(
                                lambda p: jnp.full(jnp.shape(p), iav, jnp.result_type(p)),
                                params))

    def update(grads, state, params=None):
        lr, hp = current_lr(learning_rate, state.hparams, state.count)
        grads = _coupled_decay(grads, params, hp, "adagrad(weight_decay=...)")
        clr = lr / (1 + state.count.astype(lr.dtype) * hp["lr_decay"])
        eps = hp["eps"]

        def leaf(g, s):
            s = s + g * g
            return (-clr * g / (jnp.sqrt(s) + eps)).astype(g.dtype), s.astype(g.dtype)
        updates, sums = _leafwise(leaf, 2, grads, state.sum)
        return updates, AdagradState(state.count + 1, hp, sums)

    return make_optimizer(init, update)


# ---------------------------------------------------------------------------------------

class AdadeltaState(NamedTuple):
    count: jax.Array
    hparams: dict
    square_avg: PyTree
    acc_delta: PyTree


def adadelta(learning_rate: Any = 1.0, rho: Any = 0.9, eps: Any = 1e-6,
             weight_decay: Any = 0.0) -> Optimizer:
    """Adadelta, exactly torch.optim.Adadelta.

    ``g ← g + λθ``; ``vₜ = ρ vₜ₋₁ + (1 − ρ) g²``; ``Δ = √(uₜ₋₁ + ε) / √(vₜ + ε) · g``;
    ``uₜ = ρ uₜ₋₁ + (1 − ρ) Δ²``; ``θ ← θ − η Δ``.

    Args:
      learning_rate: η (torch's default 1.0), a number, array or schedule.
      rho: ρ in [0, 1], the decay of both running averages.
      eps: ε >= 0, inside both roots.
      weight_decay: λ >= 0 (L2 penalty added to the gradient).

    Returns:
      An ``Optimizer``; its state has the slots ``square_avg`` (v) and ``acc_delta`` (u).

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.adadelta()
      >>> p = {'w': jnp.array([1.0])}
      >>> u, s = opt.update({'w': jnp.array([1.0])}, opt.init(p), p)
      >>> bool(u['w'][0] < 0)
      True
    """
    hparams0 = _hparams(learning_rate, weight_decay, rho=rho, eps=eps)

    def init(params: PyTree) -> AdadeltaState:
        return AdadeltaState(jnp.zeros((), jnp.int32), dict(hparams0), zeros_slots(params),
                             zeros_slots(params))

    def update(grads, state, params=None):
        lr, hp = current_lr(learning_rate, state.hparams, state.count)
        grads = _coupled_decay(grads, params, hp, "adadelta(weight_decay=...)")
        rho, eps = hp["rho"], hp["eps"]

        def leaf(g, v, u):
            v = rho * v + (1 - rho) * g * g
            delta = jnp.sqrt(u + eps) / jnp.sqrt(v + eps) * g
            u = rho * u + (1 - rho) * delta * delta
            return (-lr * delta).astype(g.dtype), v.astype(g.dtype), u.astype(g.dtype)
        updates, v, u = _leafwise(leaf, 3, grads, state.square_avg, state.acc_delta)
        return updates, AdadeltaState(state.count + 1, hp, v, u)

    return make_optimizer(init, update)


# ---------------------------------------------------------------------------------------

class RmspropState(NamedTuple):
    count: jax.Array
    hparams: dict
    square_avg: PyTree
    momentum_buffer: PyTree | None
    grad_avg: PyTree | None


def rmsprop(learning_rate: Any = 1e-2, alpha: Any = 0.99, eps: Any = 1e-8,
            weight_decay: Any = 0.0, momentum: Any = 0.0, *,
            centered: bool = False) -> Optimizer:
    """RMSprop, exactly torch.optim.RMSprop (ε outside the root).

    ``g ← g + λθ``; ``vₜ = α vₜ₋₁ + (1 − α) g²``; centered: ``ḡₜ = α ḡₜ₋₁ + (1 − α) g``,
    ``d = √(vₜ − ḡₜ²) + ε``, else ``d = √vₜ + ε``; with momentum μ: ``bₜ = μ bₜ₋₁ + g / d``,
    ``θ ← θ − η bₜ``; without: ``θ ← θ − η g / d``.

    Args:
      learning_rate: η, a number, array or schedule.
      alpha: α >= 0, the smoothing constant.
      eps: ε >= 0, added to the root.
      weight_decay: λ >= 0 (L2 penalty added to the gradient).
      momentum: μ >= 0; a concrete 0 is compiled out (no ``momentum_buffer``).
      centered: normalise by the estimated variance instead of the raw second moment.

    Returns:
      An ``Optimizer``; its state has ``square_avg``, ``momentum_buffer`` and ``grad_avg``
      (the latter two ``None`` when unused).

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.rmsprop(learning_rate=0.01, alpha=0.0, eps=0.0)
      >>> p = {'w': jnp.array([1.0])}
      >>> u, s = opt.update({'w': jnp.array([3.0])}, opt.init(p), p)
      >>> round(float(u['w'][0]), 4)   # -0.01 * 3 / sqrt(9)
      -0.01
    """
    use_mom = not is_zero(momentum)
    extra = {"momentum": momentum} if use_mom else {}
    hparams0 = _hparams(learning_rate, weight_decay, alpha=alpha, eps=eps, **extra)

    def init(params: PyTree) -> RmspropState:
        return RmspropState(jnp.zeros((), jnp.int32), dict(hparams0), zeros_slots(params),
                            zeros_slots(params) if use_mom else None,
                            zeros_slots(params) if centered else None)

    def update(grads, state, params=None):
        lr, hp = current_lr(learning_rate, state.hparams, state.count)
        grads = _coupled_decay(grads, params, hp, "rmsprop(weight_decay=...)")
        alpha, eps = hp["alpha"], hp["eps"]
        mu = hp.get("momentum")

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
        updates, v, b, ga = _leafwise(leaf, 4, grads, state.square_avg,
                                      state.momentum_buffer, state.grad_avg)
        return updates, RmspropState(state.count + 1, hp, v, b, ga)

    return make_optimizer(init, update)


# ---------------------------------------------------------------------------------------

class AdamState(NamedTuple):
    count: jax.Array
    hparams: dict
    exp_avg: PyTree
    exp_avg_sq: PyTree
    max_exp_avg_sq: PyTree | None


def _adam(learning_rate, betas, eps, weight_decay, amsgrad, decoupled, who) -> Optimizer:
    hparams0 = _hparams(learning_rate, weight_decay, betas=tuple(betas), eps=eps)

    def init(params: PyTree) -> AdamState:
        return AdamState(jnp.zeros((), jnp.int32), dict(hparams0), zeros_slots(params),
                         zeros_slots(params), zeros_slots(params) if amsgrad else None)

    def update(grads, state, params=None):
        lr, hp = current_lr(learning_rate, state.hparams, state.count)
        b1, b2 = hp["betas"]
        eps = hp["eps"]
        t = _step(state.count, lr)
        step_size = lr / (1 - b1 ** t)
        # a scalar reciprocal: one multiply per element instead of a divide
        inv_sqrt_bc2 = 1 / jnp.sqrt(1 - b2 ** t)
        grads, decay = _decay_split(grads, params, hp, lr, decoupled,
                                    f"{who}(weight_decay=...)")

        def leaf(g, m, v, vmax, p):
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            if amsgrad:
                vmax = jnp.maximum(vmax, v.astype(g.dtype))
                denom = jnp.sqrt(vmax) * inv_sqrt_bc2 + eps
            else:
                denom = jnp.sqrt(v) * inv_sqrt_bc2 + eps
            u = -step_size * m / denom
            if decay is not None:
                u = u - decay * p
            return u.astype(g.dtype), m.astype(g.dtype), v.astype(g.dtype), vmax
        updates, m, v, vmax = _leafwise(leaf, 4, grads, state.exp_avg, state.exp_avg_sq,
                                        state.max_exp_avg_sq,
                                        params if decay is not None else None)
        return updates, AdamState(state.count + 1, hp, m, v, vmax)

    return make_optimizer(init, update)


def adam(learning_rate: Any = 1e-3, betas: Betas = (0.9, 0.999), eps: Any = 1e-8,
         weight_decay: Any = 0.0, *, amsgrad: bool = False,
         decoupled_weight_decay: bool = False) -> Optimizer:
    """Adam, exactly torch.optim.Adam.

    ``g ← g + λθ``; ``mₜ = β₁ mₜ₋₁ + (1 − β₁) g``; ``vₜ = β₂ vₜ₋₁ + (1 − β₂) g²``;
    amsgrad: ``v̂ₜ = max(v̂ₜ₋₁, vₜ)`` (the max of the raw second moment), else ``v̂ₜ = vₜ``;
    ``θ ← θ − η/(1 − β₁ᵗ) · mₜ / (√v̂ₜ / √(1 − β₂ᵗ) + ε)``.

    Args:
      learning_rate: η, a number, array or schedule.
      betas: (β₁, β₂), each in [0, 1).
      eps: ε >= 0, added to the (bias-corrected) root.
      weight_decay: λ >= 0, an L2 penalty added to the gradient.
      amsgrad: keep the running max of v (slot ``max_exp_avg_sq``).
      decoupled_weight_decay: decay as AdamW does (``θ ← θ(1 − ηλ)``).

    Returns:
      An ``Optimizer``; its state has ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.adam(learning_rate=0.1)
      >>> p = {'w': jnp.array([1.0])}
      >>> u, s = opt.update({'w': jnp.array([5.0])}, opt.init(p), p)
      >>> round(float(u['w'][0]), 4)   # first step moves by ~ -lr * sign(g)
      -0.1
    """
    return _adam(learning_rate, betas, eps, weight_decay, amsgrad, decoupled_weight_decay,
                 "adamw" if decoupled_weight_decay else "adam")


def adamw(learning_rate: Any = 1e-3, betas: Betas = (0.9, 0.999), eps: Any = 1e-8,
          weight_decay: Any = 1e-2, *, amsgrad: bool = False) -> Optimizer:
    """AdamW, exactly torch.optim.AdamW: Adam with decoupled weight decay.

    ``θ ← θ(1 − ηₜλ)`` with this step's (possibly scheduled) ηₜ, then the Adam step
    ``θ ← θ − ηₜ/(1 − β₁ᵗ) · mₜ / (√v̂ₜ / √(1 − β₂ᵗ) + ε)`` (see ``adam``).

    Args:
      learning_rate: η, a number, array or schedule.
      betas: (β₁, β₂), each in [0, 1).
      eps: ε >= 0.
      weight_decay: λ >= 0 (torch's default 1e-2).
      amsgrad: keep the running max of v.

    Returns:
      An ``Optimizer`` with an ``AdamState``.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.adamw(learning_rate=0.1, weight_decay=0.5)
      >>> p = {'w': jnp.array([2.0])}
      >>> u, s = opt.update({'w': jnp.array([0.0])}, opt.init(p), p)
      >>> round(float(u['w'][0]), 4)   # zero gradient: only the decay -0.1 * 0.5 * 2
      -0.1
    """
    return _adam(learning_rate, betas, eps, weight_decay, amsgrad, True, "adamw")


# ---------------------------------------------------------------------------------------

class AdamaxState(NamedTuple):
    count: jax.Array
    hparams: dict
    exp_avg: PyTree
    exp_inf: PyTree


def adamax(learning_rate: Any = 2e-3, betas: Betas = (0.9, 0.999), eps: Any = 1e-8,
           weight_decay: Any = 0.0) -> Optimizer:
    """Adamax, exactly torch.optim.Adamax (Adam with the infinity norm).

    ``g ← g + λθ``; ``mₜ = β₁ mₜ₋₁ + (1 − β₁) g``; ``uₜ = max(β₂ uₜ₋₁, |g| + ε)``;
    ``θ ← θ − η/(1 − β₁ᵗ) · mₜ / uₜ``.

    Args:
      learning_rate: η (torch's default 2e-3), a number, array or schedule.
      betas: (β₁, β₂), each in [0, 1).
      eps: ε >= 0, added to |g|.
      weight_decay: λ >= 0 (L2 penalty added to the gradient).

    Returns:
      An ``Optimizer``; its state has ``exp_avg`` and ``exp_inf``.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.adamax(learning_rate=0.1, eps=0.0)
      >>> p = {'w': jnp.array([1.0])}
      >>> u, s = opt.update({'w': jnp.array([-4.0])}, opt.init(p), p)
      >>> round(float(u['w'][0]), 4)
      0.1
    """
    hparams0 = _hparams(learning_rate, weight_decay, betas=tuple(betas), eps=eps)

    def init(params: PyTree) -> AdamaxState:
        return AdamaxState(jnp.zeros((), jnp.int32), dict(hparams0), zeros_slots(params),
                           zeros_slots(params))

    def update(grads, state, params=None):
        lr, hp = current_lr(learning_rate, state.hparams, state.count)
        grads = _coupled_decay(grads, params, hp, "adamax(weight_decay=...)")
        b1, b2 = hp["betas"]
        eps = hp["eps"]
        clr = lr / (1 - b1 ** _step(state.count, lr))

        def leaf(g, m, u):
            m = b1 * m + (1 - b1) * g
            u = jnp.maximum(b2 * u, jnp.abs(g) + eps)
            return (-clr * m / u).astype(g.dtype), m.astype(g.dtype), u.astype(g.dtype)
        updates, m, u = _leafwise(leaf, 3, grads, state.exp_avg, state.exp_inf)
        return updates, AdamaxState(state.count + 1, hp, m, u)

    return make_optimizer(init, update)


# ---------------------------------------------------------------------------------------

class NadamState(NamedTuple):
    count: jax.Array
    hparams: dict
    mu_product: jax.Array
    exp_avg: PyTree
    exp_avg_sq: PyTree


def nadam(learning_rate: Any = 2e-3, betas: Betas = (0.9, 0.999), eps: Any = 1e-8,
          weight_decay: Any = 0.0, momentum_decay: Any = 4e-3, *,
          decoupled_weight_decay: bool = False) -> Optimizer:
    """NAdam, exactly torch.optim.NAdam (Nesterov momentum with a warming schedule).

    ``μₜ = β₁(1 − ½·0.96^(tψ))``, ``Πₜ = Πₜ₋₁ μₜ`` (slot ``mu_product``);
    ``g ← g + λθ`` (or ``θ ← θ(1 − ηλ)`` when decoupled); m, v as in Adam;
    ``θ ← θ − η(1 − μₜ)/(1 − Πₜ) · g/d − η μₜ₊₁/(1 − Πₜ μₜ₊₁) · mₜ/d`` with
    ``d = √(vₜ/(1 − β₂ᵗ)) + ε``.

    Args:
      learning_rate: η (torch's default 2e-3), a number, array or schedule.
      betas: (β₁, β₂), each in [0, 1).
      eps: ε >= 0.
      weight_decay: λ >= 0.
      momentum_decay: ψ >= 0.
      decoupled_weight_decay: decay the weights directly (NAdamW).

    Returns:
      An ``Optimizer``; its state has ``mu_product`` (a scalar), ``exp_avg``, ``exp_avg_sq``.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.nadam(learning_rate=0.1)
      >>> p = {'w': jnp.array([1.0])}
      >>> u, s = opt.update({'w': jnp.array([2.0])}, opt.init(p), p)
      >>> round(float(s.mu_product), 4)   # 0.9 * (1 - 0.5 * 0.96 ** 0.004)
      0.4501
    """
    hparams0 = _hparams(learning_rate, weight_decay, betas=tuple(betas), eps=eps,
                        momentum_decay=momentum_decay)

    def init(params: PyTree) -> NadamState:
        one = jnp.ones((), hparams0["learning_rate"].dtype)
        return NadamState(jnp.zeros((), jnp.int32), dict(hparams0), one, zeros_slots(params),
                          zeros_slots(params))

    def update(grads, state, params=None):
        lr, hp = current_lr(learning_rate, state.hparams, state.count)
        b1, b2 = hp["betas"]
        eps, psi = hp["eps"], hp["momentum_decay"]
        t = _step(state.count, lr)
        inv_bc2 = 1 / (1 - b2 ** t)
        mu = b1 * (1 - 0.5 * 0.96 ** (t * psi))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
        mu_product = state.mu_product * mu
        c_grad = -lr * (1 - mu) / (1 - mu_product)
        c_avg = -lr * mu_next / (1 - mu_product * mu_next)
        grads, decay = _decay_split(grads, params, hp, lr, decoupled_weight_decay,
                                    "nadam(weight_decay=...)")

        def leaf(g, m, v, p):
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            d = jnp.sqrt(v * inv_bc2) + eps
            u = (c_grad * g + c_avg * m) / d
            if decay is not None:
                u = u - decay * p
            return u.astype(g.dtype), m.astype(g.dtype), v.astype(g.dtype)
        updates, m, v = _leafwise(leaf, 3, grads, state.exp_avg, state.exp_avg_sq,
                                  params if decay is not None else None)
        return updates, NadamState(state.count + 1, hp, mu_product, m, v)

    return make_optimizer(init, update)


# ---------------------------------------------------------------------------------------

class RadamState(NamedTuple):
    count: jax.Array
    hparams: dict
    exp_avg: PyTree
    exp_avg_sq: PyTree


def radam(learning_rate: Any = 1e-3, betas: Betas = (0.9, 0.999), eps: Any = 1e-8,
          weight_decay: Any = 0.0, *, decoupled_weight_decay: bool = False) -> Optimizer:
    """RAdam, exactly torch.optim.RAdam (rectified Adam).

    m, v as in Adam; ``ρ∞ = 2/(1 − β₂) − 1``, ``ρₜ = ρ∞ − 2tβ₂ᵗ/(1 − β₂ᵗ)``; if ``ρₜ > 5``:
    ``r = √((ρₜ−4)(ρₜ−2)ρ∞ / ((ρ∞−4)(ρ∞−2)ρₜ))`` and
    ``θ ← θ − η · mₜ/(1 − β₁ᵗ) · r √(1 − β₂ᵗ) / (√vₜ + ε)``, else ``θ ← θ − η mₜ/(1 − β₁ᵗ)``.

    Args:
      learning_rate: η, a number, array or schedule.
      betas: (β₁, β₂), each in [0, 1).
      eps: ε >= 0.
      weight_decay: λ >= 0.
      decoupled_weight_decay: decay the weights directly (``θ ← θ(1 − ηλ)``).

    Returns:
      An ``Optimizer``; its state has ``exp_avg`` and ``exp_avg_sq``.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.radam(learning_rate=0.1)
      >>> p = {'w': jnp.array([1.0])}
      >>> u, s = opt.update({'w': jnp.array([2.0])}, opt.init(p), p)
      >>> round(float(u['w'][0]), 4)   # not rectified yet: -lr * m / (1 - b1)
      -0.2
    """
    hparams0 = _hparams(learning_rate, weight_decay, betas=tuple(betas), eps=eps)

    def init(params: PyTree) -> RadamState:
        return RadamState(jnp.zeros((), jnp.int32), dict(hparams0), zeros_slots(params),
                          zeros_slots(params))

    def update(grads, state, params=None):
        lr, hp = current_lr(learning_rate, state.hparams, state.count)
        b1, b2 = hp["betas"]
        eps = hp["eps"]
        t = _step(state.count, lr)
        bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * t * b2 ** t / bc2
        rectify = rho_t > 5
        # the root is taken only where it is real: the other branch of where() is not used
        rect = jnp.sqrt(jnp.where(rectify, (rho_t - 4) * (rho_t - 2) * rho_inf
                                  / ((rho_inf - 4) * (rho_inf - 2) * rho_t), 1.0))
        c_rect = rect * jnp.sqrt(bc2)
        step_size = lr / bc1
        grads, decay = _decay_split(grads, params, hp, lr, decoupled_weight_decay,
                                    "radam(weight_decay=...)")

        def leaf(g, m, v, p):
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            scale = jnp.where(rectify, c_rect / (jnp.sqrt(v) + eps), 1.0)
            u = -step_size * m * scale
            if decay is not None:
                u = u - decay * p
            return u.astype(g.dtype), m.astype(g.dtype), v.astype(g.dtype)
        updates, m, v = _leafwise(leaf, 3, grads, state.exp_avg, state.exp_avg_sq,
                                  params if decay is not None else None)
        return updates, RadamState(state.count + 1, hp, m, v)

    return make_optimizer(init, update)
