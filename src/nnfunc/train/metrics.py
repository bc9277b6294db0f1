"""Batch metrics: when a task counts as classification, and accuracy."""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


__all__ = ["is_classification", "accuracy"]


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
