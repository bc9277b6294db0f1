"""Batch metrics: when a task counts as classification, accuracy, and the forward pass
(optionally in bfloat16) that training and evaluation share."""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from nnfunc import tree as _tree
from nnfunc.layers import Layer

__all__ = ["is_classification", "accuracy"]

PyTree = Any


def is_classification(logits: Any, labels: Any) -> bool:
    """Whether ``(logits, labels)`` is a classification pair (decided from shapes and dtypes).

    True when the labels are integers and the logits have one extra, last, class axis
    of size > 1: ``logits.shape == labels.shape + (C,)``. The decision is static (it
    reads shapes only), so it works on tracers.

    Args:
      logits: model outputs (array or ``jax.ShapeDtypeStruct``).
      labels: targets.

    Returns:
      A Python bool.

    Example:
      >>> import jax.numpy as jnp
      >>> is_classification(jnp.zeros((4, 10)), jnp.zeros(4, jnp.int32))
      True
      >>> is_classification(jnp.zeros((4, 1)), jnp.zeros((4, 1)))
      False
    """
    ls, ys = tuple(jnp.shape(logits)), tuple(jnp.shape(labels))
    return (jnp.issubdtype(jnp.result_type(labels), jnp.integer) and len(ls) == len(ys) + 1
            and ls[:-1] == ys and ls[-1] > 1)


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Fraction of examples whose arg-max class equals the label: ``mean(argmax(x) == y)``.

    Args:
      logits: ``(N, ..., C)`` scores.
      labels: ``(N, ...)`` integer labels.

    Returns:
      A float32 scalar in [0, 1].

    Example:
      >>> import jax.numpy as jnp
      >>> print(float(accuracy(jnp.array([[0., 1.], [1., 0.]]), jnp.array([1, 1]))))
      0.5
    """
    return jnp.mean((jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32))


def _forward(model: Layer, params: PyTree, model_state: PyTree, x: jax.Array, *,
             train: bool, key: Any, mixed_precision: bool) -> tuple[jax.Array, PyTree]:
    """``model.apply``; with mixed precision, params and inputs are cast to bfloat16 for
    the computation while the float32 master copy is what gets differentiated (the cast
    is part of the graph), and outputs and model state come back in their own dtypes."""
    if not mixed_precision:
        return model.apply(params, model_state, x, train=train, key=key)
    y, new_state = model.apply(_tree.cast(params, jnp.bfloat16), model_state,
                               _tree.cast(x, jnp.bfloat16), train=train, key=key)
    new_state = jax.tree_util.tree_map(lambda n, o: n.astype(o.dtype), new_state, model_state)
    return _tree.cast(y, jnp.float32), new_state
