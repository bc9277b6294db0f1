"""Per-layer activation statistics and dead-ReLU fractions for a model on a batch."""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from nnfunc.layers._base import Layer, _split

__all__ = ["activation_stats"]


def _walk(layer: Layer, params: Any, state: Any, x: jax.Array, prefix: str,
          train: bool, key: Any, out: list) -> jax.Array:
    children = layer.children
    if not children:
        y, _ = layer.apply(params, state, x, train=train, key=key)
        out.append((f"{prefix}{layer.name}", y))
        return y
    for i, (child, p, s, k) in enumerate(zip(children, params, state,
                                             _split(key, len(children)))):
        x = _walk(child, p, s, x, f"{prefix}{i}/", train, k, out)
    return x


def activation_stats(layer: Layer, params: Any, state: Any, x: jax.Array, *,
                     train: bool = False, key: Any = None) -> list[dict[str, Any]]:
    """Statistics of every layer's output on one batch, including dead-unit fractions.

    ``serial`` containers (and models built on them: ``mlp``, ``cnn``, ...) are opened and
    each inner layer reported, named by its path (``'2/relu'`` is layer 2). For an output
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
    outputs: list = []
    _walk(layer, params, state, jnp.asarray(x), "", train, key, outputs)
    records = []
    for name, y in outputs:
        y = jnp.asarray(y)
        zero = y == 0
        dead = jnp.all(zero.reshape(-1, y.shape[-1]), axis=0) if y.ndim >= 2 else zero
        records.append({
            "layer": name,
            "shape": tuple(y.shape),
            "mean": float(jnp.mean(y)),
            "std": float(jnp.std(y)),
            "min": float(jnp.min(y)),
            "max": float(jnp.max(y)),
            "zero_fraction": float(jnp.mean(zero)),
            "dead_fraction": float(jnp.mean(dead)),
        })
    return records
