"""Weight penalties over a parameter pytree: L1 and L2, with an optional mask.

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

__all__ = ["l1", "l2", "weights_only"]

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
