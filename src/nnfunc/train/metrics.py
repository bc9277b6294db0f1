"""When a training task counts as classification (:func:`is_classification`), and its
accuracy: ``nf.train.accuracy`` is :func:`nnfunc.metrics.accuracy`, the same function
(integer or one-hot labels), re-exported here because training reports it."""
from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from nnfunc.metrics import accuracy

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
      >>> import nnfunc as nf
      >>> nf.train.accuracy is nf.metrics.accuracy
      True
    """
    ls, ys = tuple(jnp.shape(logits)), tuple(jnp.shape(labels))
    return (jnp.issubdtype(jnp.result_type(labels), jnp.integer) and len(ls) == len(ys) + 1
            and ls[:-1] == ys and ls[-1] > 1)
