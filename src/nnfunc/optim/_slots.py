"""Slots: the buffers shaped like the parameters that an optimizer state holds.

Slots have the parameters' dtype (``accumulate``'s sum: at least float32). A slot that
only a compiled-out hyperparameter needs (a momentum buffer while ``momentum`` is 0) is
made of :class:`LazySlot` leaves: no array, only its shape and dtype, so it costs
nothing, and ``set_hparams`` turns it into zeros once the hyperparameter gets a value.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nnfunc.optim._base import PyTree


def zero_count() -> jax.Array:
    """A fresh ``count`` (or any int32 counter) at 0."""
    return jnp.zeros((), jnp.int32)


def zeros_slots(params: PyTree) -> PyTree:
    """Fresh zero buffers shaped like ``params``: an optimizer's slot (``m₀ = 0``).

    Each leaf keeps its parameter's shape and dtype with the weak type dropped, so the
    state's type is stable across steps (no recompilation at step 1); every call makes new
    buffers, so no two slots share one (a training step donates the state's buffers).

    Args:
      params: the parameter pytree (or any pytree of arrays).

    Returns:
      A pytree of the same structure, all zeros.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> nf.optim.zeros_slots({'w': jnp.ones((2, 3)), 'b': jnp.ones(3, jnp.bfloat16)})
      {'b': Array([0, 0, 0], dtype=bfloat16), 'w': Array([[0., 0., 0.],
             [0., 0., 0.]], dtype=float32)}
    """
    return jax.tree_util.tree_map(lambda p: jnp.zeros(jnp.shape(p), jnp.result_type(p)), params)


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class LazySlot:
    """A slot leaf that does not exist yet, because hyperparameter ``hparam`` is compiled
    out: the shape and dtype its array will have, and the value it starts from.

    A pytree node without leaves (static under ``jit``): it costs no memory and is part of
    the state's structure. ``set_hparams`` makes it ``full(shape, fill, dtype)`` as soon as
    ``hparam`` gets a value.
    """
    shape: tuple
    dtype: Any
    hparam: str
    fill: Any = 0

    def make(self) -> jax.Array:
        return jnp.full(self.shape, self.fill, self.dtype)


def lazy_slots(params: PyTree, hparam: str) -> PyTree:
    """A zero slot shaped like ``params`` that is compiled out with ``hparam``: one
    :class:`LazySlot` per leaf, with the dtype ``zeros_slots`` would give."""
    return jax.tree_util.tree_map(
        lambda p: LazySlot(tuple(jnp.shape(p)), np.dtype(jnp.result_type(p)), hparam), params)
