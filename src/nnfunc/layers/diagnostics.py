"""Per-layer activation statistics and dead-ReLU fractions for a model on a batch.

``dead_relu_fraction`` (no underscore, not in ``__all__``) is internal API for
``nnfunc.train``'s diagnostics.
"""
from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from nnfunc.layers._base import Layer, layer_outputs
from nnfunc.layers.activation import is_relu

__all__ = ["activation_stats"]


def activation_stats(layer: Layer, params: Any, state: Any, x: jax.Array, *,
                     train: bool = False, key: Any = None) -> list[dict[str, Any]]:
    """Statistics of every layer's output on one batch, including dead-unit fractions.

    Containers (``serial``, ``parallel``, ``residual`` and the models built on them:
    ``mlp``, ``cnn``, ...) are opened and each innermost layer reported, named by its path
    (``'2/relu'`` is child 2, ``'1/0/dense'`` child 0 of child 1). The model's real
    ``apply`` runs once, so random keys are split exactly as in training. For an output
    ``y`` of shape ``(batch, ..., units)`` the record holds::

        mean, std, min, max        over all of y
        zero_fraction = mean(y == 0)
        dead_fraction = mean over units u of [y[n, ..., u] == 0 for every n and position]

    A ReLU unit that outputs zero for the whole batch passes no gradient: ``dead_fraction``
    of a ReLU layer is its dead-ReLU fraction (for other layers it is usually 0).

    Args:
      layer: the model.
      params, state: its parameters and state.
      x: a batch of inputs.
      train: run in training mode (the state updates are discarded).
      key: random key for training mode.

    Returns:
      A list with one dict per leaf layer, in order: ``{'layer', 'shape', 'mean', 'std',
      'min', 'max', 'zero_fraction', 'dead_fraction'}`` (floats; ``shape`` a tuple).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import nnfunc as nf
      >>> from nnfunc.layers import serial, dense, activation
      >>> net = serial(dense(4, b_init=nf.init.constant(-100.0)), activation(jax.nn.relu))
      >>> params, state = net.init(jax.random.key(0), (3,))
      >>> stats = activation_stats(net, params, state, jnp.ones((8, 3)))
      >>> [(s['layer'], s['dead_fraction']) for s in stats]
      [('0/dense', 0.0), ('1/relu', 1.0)]
    """
    records = []
    for name, _, y in layer_outputs(layer, params, state, jnp.asarray(x), train=train, key=key):
        y = jnp.asarray(y)
        zero = y == 0
        records.append({
            "layer": name,
            "shape": tuple(y.shape),
            "mean": float(jnp.mean(y)),
            "std": float(jnp.std(y)),
            "min": float(jnp.min(y)),
            "max": float(jnp.max(y)),
            "zero_fraction": float(jnp.mean(zero)),
            "dead_fraction": float(jnp.mean(_dead_units(y))),
        })
    return records


def _dead_units(y: jax.Array) -> jax.Array:
    """Per unit (last axis): zero for every example and position."""
    zero = y == 0
    return jnp.all(zero.reshape(-1, y.shape[-1]), axis=0) if y.ndim >= 2 else zero


def dead_relu_fraction(layer: Layer, params: Any, state: Any, x: jax.Array) -> float:
    """Fraction of the units of all ReLU layers (``activation`` layers whose function is
    ``max(x, 0)``, see ``is_relu``) that output 0 for every example of ``x``; NaN when
    the model has no ReLU."""
    dead = [_dead_units(jnp.asarray(y)) for _, child, y in
            layer_outputs(layer, params, state, jnp.asarray(x)) if is_relu(child)]
    units = sum(int(d.size) for d in dead)
    return float(sum(jnp.sum(d) for d in dead)) / units if units else math.nan
