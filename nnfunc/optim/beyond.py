"""Optimizers beyond torch.optim: Lion, LAMB and LARS, with torch-style argument names.

Hyperparameters follow the torch spelling used everywhere in nnfunc (``learning_rate``,
``betas``, ``eps``, ``weight_decay``); the mapping to optax (our test oracle) is given in
each docstring.
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
    _step,
    check_hparam,
    current_lr,
    is_zero,
    make_hparams,
    make_optimizer,
    require_params,
    zeros_slots,
)

__all__ = ["LionState", "lion", "LambState", "lamb", "LarsState", "lars"]


def _leaf_norm(x: jax.Array) -> jax.Array:
    """‖x‖₂ of one leaf, accumulated in at least float32."""
    acc = jnp.promote_types(x.dtype, jnp.float32)
    return jnp.sqrt(jnp.sum(jnp.square(x.astype(acc))))


class LionState(NamedTuple):
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
    hparams0 = _hparams(learning_rate, weight_decay, betas=betas)

    def init(params: PyTree) -> LionState:
        return LionState(jnp.zeros((), jnp.int32), dict(hparams0),
                         zeros_slots(params))

    def update(grads, state, params=None):
        lr, hp = current_lr(learning_rate, state.hparams, state.count)
        b1, b2 = hp["betas"]
        direction = jax.tree_util.tree_map(
            lambda m, g: jnp.sign(b1 * m + (1 - b1) * g), state.exp_avg, grads)
        # decoupled: λθ joins the sign direction, and both are scaled by η
        direction = _coupled_decay(direction, params, hp, "lion(weight_decay=...)")
        updates = jax.tree_util.tree_map(
            lambda d, g: (-lr * d).astype(g.dtype), direction, grads)
        exp_avg = jax.tree_util.tree_map(
            lambda m, g: (b2 * m + (1 - b2) * g).astype(m.dtype), state.exp_avg, grads)
        return updates, LionState(state.count + 1, hp, exp_avg)

    return make_optimizer(init, update)


class LambState(NamedTuple):
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
        t = _step(state.count, b1)
        bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
        m = jax.tree_util.tree_map(lambda m, g: (b1 * m + (1 - b1) * g).astype(m.dtype),
                                   state.exp_avg, grads)
        v = jax.tree_util.tree_map(lambda v, g: (b2 * v + (1 - b2) * g * g).astype(v.dtype),
                                   state.exp_avg_sq, grads)

        def step(m, v, p):
            r = (m / bc1) / (jnp.sqrt(v / bc2) + hp["eps"]) + hp["weight_decay"] * p
            p_norm, r_norm = _leaf_norm(p), _leaf_norm(r)
            ratio = jnp.where((p_norm == 0) | (r_norm == 0), 1.0,
                              p_norm / jnp.where(r_norm == 0, 1.0, r_norm))
            return (-lr * ratio * r).astype(p.dtype)

        updates = jax.tree_util.tree_map(step, m, v, params)
        return updates, LambState(state.count + 1, hp, m, v)

    return make_optimizer(init, update)


class LarsState(NamedTuple):
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
            p_norm, g_norm = _leaf_norm(p), _leaf_norm(g)
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
