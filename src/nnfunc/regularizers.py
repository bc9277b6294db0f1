"""Weight penalties over a parameter pytree (L1 and L2, with an optional mask), and activity
penalties on a layer's outputs (KL sparsity and L1) for ``nf.layers.activity_regularizer``.

``l2`` is the plain squared norm ``Σ w²`` (no ½), so ``λ · l2(params)`` adds ``2λw`` to the
gradient; ``λ/2 · l2(params)`` is the form equivalent to torch's ``weight_decay=λ`` in SGD.

A **mask** selects the leaves to penalise. It is either a pytree of booleans with the
structure of ``params`` (or a prefix of it: one boolean for a whole sub-tree), or a
callable ``params -> mask``. A boolean array leaf masks element by element. The common
"skip biases" mask is :func:`weights_only`. Sums accumulate in at least float32.
"""
from __future__ import annotations

from typing import Any, Callable, Union

import jax
import jax.numpy as jnp
import numpy as np

from nnfunc import tree as _tree
from nnfunc._checks import check_real, is_traced

__all__ = ["l1", "l2", "weights_only", "kl_sparsity", "l1_activity"]

PyTree = Any
Mask = Union[PyTree, Callable[[PyTree], PyTree], None]


def _selected(params: PyTree, mask: Mask) -> list[jax.Array]:
    """The leaves (masked elementwise where the mask is an array) that the penalty covers."""
    if mask is None:
        return [jnp.asarray(x) for x in jax.tree_util.tree_leaves(params)]
    if callable(mask):
        mask = mask(params)
    out: list[jax.Array] = []

    def collect(m: Any, sub: PyTree) -> None:
        for leaf in jax.tree_util.tree_leaves(sub):
            leaf = jnp.asarray(leaf)
            if isinstance(m, (bool, np.bool_)):
                if m:
                    out.append(leaf)
            else:
                # Array (possibly traced) masks select element by element.
                out.append(jnp.where(m, leaf, jnp.zeros_like(leaf)))

    try:
        jax.tree_util.tree_map(collect, mask, params)
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"mask must have the structure of params (or a prefix of it): "
            f"mask={jax.tree_util.tree_structure(mask)}, "
            f"params={jax.tree_util.tree_structure(params)} ({err})") from None
    return out


def _sum(values: list[jax.Array]) -> jax.Array:
    if not values:
        return jnp.zeros((), jnp.float32)
    dtype = jnp.promote_types(jnp.result_type(*values), jnp.float32)
    return sum(jnp.sum(v.astype(dtype)) for v in values)


def l1(params: PyTree, *, mask: Mask = None) -> jax.Array:
    """L1 penalty: ``‖θ‖₁ = Σ_leaves Σ_i |θ_i|`` over the masked leaves.

    Its subgradient is ``sign(θ)`` (0 at 0, so zero weights stay put).

    Args:
      params: a pytree of arrays.
      mask: which leaves to include: ``None`` (all), a pytree of booleans matching ``params``
        (or a prefix of it; boolean array leaves mask elementwise), or a callable
        ``params -> mask`` such as :func:`weights_only`.

    Returns:
      A scalar array (float32, or float64 for float64 parameters).

    Raises:
      ValueError: if the mask's structure does not match ``params``.

    Example:
      >>> params = {'w': jnp.array([[1., -2.]]), 'b': jnp.array([3.])}
      >>> print(float(l1(params)), float(l1(params, mask={'w': True, 'b': False})))
      6.0 3.0
    """
    return _sum([jnp.sign(x) * x for x in _selected(params, mask)])


def l2(params: PyTree, *, mask: Mask = None) -> jax.Array:
    """L2 penalty: the squared norm ``‖θ‖₂² = Σ_leaves Σ_i θ_i²`` (no ½) over the masked leaves.

    Its gradient is ``2θ``.

    Args:
      params: a pytree of arrays.
      mask: which leaves to include: ``None`` (all), a pytree of booleans matching ``params``
        (or a prefix of it; boolean array leaves mask elementwise), or a callable
        ``params -> mask`` such as :func:`weights_only`.

    Returns:
      A scalar array (float32, or float64 for float64 parameters).

    Raises:
      ValueError: if the mask's structure does not match ``params``.

    Example:
      >>> params = {'w': jnp.array([[1., -2.]]), 'b': jnp.array([3.])}
      >>> print(float(l2(params)), float(l2(params, mask=weights_only)))
      14.0 5.0
    """
    return _tree.l2_norm(_selected(params, mask), squared=True)


def weights_only(params: PyTree) -> PyTree:
    """The "skip biases" mask: ``True`` for leaves with ``ndim >= 2``, ``False`` otherwise.

    Dense and conv kernels and embedding tables are penalised; biases, normalisation scales
    and offsets (1-D) and scalars are not.

    Args:
      params: a pytree of arrays.

    Returns:
      A pytree of Python booleans with the structure of ``params``.

    Example:
      >>> weights_only({'w': jnp.zeros((3, 2)), 'b': jnp.zeros(2)})
      {'b': False, 'w': True}
    """
    return jax.tree_util.tree_map(lambda x: jnp.ndim(x) >= 2, params)


# ---------------------------------------------------------------------------------------
# activity penalties: functions of a batch of activations, for activity_regularizer

# ρ̂ is clipped to [_KL_EPS, 1 − _KL_EPS] so that a unit whose sigmoid saturates at exactly
# 0 or 1 over the batch gives a large, finite penalty instead of log 0.
_KL_EPS = 1e-6


def kl_sparsity(rho: float, beta: float = 1.0) -> Callable[[jax.Array], jax.Array]:
    """The sparse autoencoder's KL penalty on the mean activation of each hidden unit.

    ``ρ̂ⱼ = mean over the batch (and any spatial axes) of a_j``, then
    ``β Σⱼ [ρ log(ρ/ρ̂ⱼ) + (1 − ρ) log((1 − ρ)/(1 − ρ̂ⱼ))]``: the KL divergence between
    Bernoulli(ρ) and Bernoulli(ρ̂ⱼ), zero when every unit is active a fraction ρ of the
    time. Activations must lie in [0, 1] (sigmoid units): concrete arrays outside raise
    ``ValueError``; ``ρ̂`` is clipped to ``[1e-6, 1 − 1e-6]`` to avoid ``log 0``.

    Args:
      rho: the target sparsity ρ, ``0 < ρ < 1`` (e.g. 0.05).
      beta: the weight β >= 0.

    Returns:
      ``penalty(activations) -> scalar``, for ``nf.layers.activity_regularizer``.

    Example:
      >>> import jax.numpy as jnp
      >>> pen = kl_sparsity(0.5, beta=2.0)
      >>> float(pen(jnp.full((4, 3), 0.5)))       # ρ̂ = ρ: no penalty
      0.0
      >>> round(float(pen(jnp.full((4, 1), 0.25))), 4)   # 2·[.5 log 2 + .5 log(2/3)]
      0.2877
    """
    check_real("rho", rho, low=0.0, high=1.0, low_open=True, high_open=True)
    check_real("beta", beta, low=0.0)

    def penalty(activations: jax.Array) -> jax.Array:
        a = jnp.asarray(activations)
        if a.ndim < 1:
            raise ValueError(f"kl_sparsity needs a batch of activations, got shape {a.shape}")
        if not is_traced(a) and a.size and not bool(jnp.all((a >= 0) & (a <= 1))):
            raise ValueError(f"kl_sparsity: activations must lie in [0, 1] (sigmoid units), "
                             f"got values in [{float(jnp.min(a))}, {float(jnp.max(a))}]")
        a = a.astype(jnp.promote_types(a.dtype, jnp.float32))
        axes = tuple(range(a.ndim - 1)) if a.ndim > 1 else (0,)
        rho_hat = jnp.clip(jnp.mean(a, axis=axes), _KL_EPS, 1 - _KL_EPS)
        kl = rho * jnp.log(rho / rho_hat) + (1 - rho) * jnp.log((1 - rho) / (1 - rho_hat))
        return beta * jnp.sum(kl)

    return penalty


def l1_activity(scale: float) -> Callable[[jax.Array], jax.Array]:
    """L1 activity penalty: ``λ · (1/N) Σₙ ‖aₙ‖₁`` (Keras's ``ActivityRegularization(l1=λ)``,
    divided by the batch size N as Keras does).

    Args:
      scale: λ >= 0.

    Returns:
      ``penalty(activations) -> scalar``, for ``nf.layers.activity_regularizer``.

    Example:
      >>> import jax.numpy as jnp
      >>> float(l1_activity(0.1)(jnp.array([[1., -2.], [3., 0.]])))   # 0.1 · 6 / 2
      0.3
    """
    check_real("scale", scale, low=0.0)

    def penalty(activations: jax.Array) -> jax.Array:
        a = jnp.asarray(activations)
        if a.ndim < 1 or a.shape[0] == 0:
            raise ValueError(f"l1_activity needs a non-empty batch of activations, got "
                             f"shape {a.shape}")
        return scale * _sum([jnp.abs(a)]) / a.shape[0]

    return penalty
