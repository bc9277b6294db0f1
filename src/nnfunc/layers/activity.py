"""Activity regularization: an identity layer whose penalty on its input joins the loss.

The penalty travels in the model state, the one channel a layer has to the training
loop: in training, the layer's state becomes ``ActivityPenalty(penalty(x))``, and
``nf.train``'s step adds every ``ActivityPenalty`` in the new model state to the loss
(``total_penalty``, internal API for ``nnfunc.train``). Being a state type, not a name,
it cannot be mistaken for anything else, and ``jax.grad`` sees the path from the
parameters to the penalty.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

from nnfunc._checks import as_shape
from nnfunc.layers._base import Layer

__all__ = ["ActivityPenalty", "activity_regularizer"]


class ActivityPenalty(NamedTuple):
    """Model state of an ``activity_regularizer``: ``value``, the penalty of the last
    training batch (a float32 scalar; 0 before the first)."""

    value: jax.Array


def activity_regularizer(penalty: Callable[[jax.Array], jax.Array]) -> Layer:
    """An identity layer that adds ``penalty(activations)`` to the training loss.

    ``y = x``; in training, ``L ← L + penalty(x)`` with ``x`` the whole batch reaching the
    layer, in ``nf.train``'s ``make_step``, ``make_epoch``, ``fit`` and ``sweep``, whose
    metrics and history report the sum of all such penalties as ``penalty`` (the
    ``loss`` stays the data loss). Evaluation (``train=False``) adds nothing.

    Args:
      penalty: ``activations -> scalar`` for the batch, e.g.
        ``nf.regularizers.kl_sparsity(0.05, beta=3)`` or
        ``nf.regularizers.l1_activity(1e-4)``.

    Returns:
      A ``Layer`` without params whose state is an :class:`ActivityPenalty`.

    Example:
      >>> import jax, jax.numpy as jnp, nnfunc as nf
      >>> layer = activity_regularizer(nf.regularizers.l1_activity(0.5))
      >>> params, state = layer.init(jax.random.key(0), (3,))
      >>> y, state = layer.apply(params, state, jnp.array([[1., -2., 3.]]), train=True)
      >>> float(state.value)                   # 0.5 · (1 + 2 + 3) / 1 example
      3.0
    """
    if not callable(penalty):
        raise ValueError(f"activity_regularizer needs a callable penalty(activations) -> "
                         f"scalar, got {penalty!r}")

    def init(key: jax.Array, input_shape: tuple[int, ...]) -> tuple[dict, ActivityPenalty]:
        as_shape(input_shape, "activity_regularizer")
        return {}, ActivityPenalty(jnp.zeros((), jnp.float32))

    def apply(params: dict, state: ActivityPenalty, x: jax.Array, *, train: bool = False,
              key: Any = None) -> tuple[jax.Array, ActivityPenalty]:
        if not train:
            return x, state
        value = jnp.asarray(penalty(x))
        if value.shape != ():
            raise ValueError(f"activity_regularizer: penalty must return a scalar for the "
                             f"batch, got shape {value.shape}")
        return x, ActivityPenalty(value.astype(jnp.float32))

    return Layer(init, apply, name="activity_regularizer")


def total_penalty(model_state: Any) -> Optional[jax.Array]:
    """The sum of every ``ActivityPenalty`` in a model state; ``None`` if it holds none."""
    found = [s.value for s in jax.tree_util.tree_leaves(
        model_state, is_leaf=lambda s: isinstance(s, ActivityPenalty))
        if isinstance(s, ActivityPenalty)]
    return sum(found[1:], found[0]) if found else None
