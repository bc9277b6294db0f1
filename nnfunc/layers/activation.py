"""Wrap an elementwise function as a layer."""
from __future__ import annotations

from typing import Any, Callable

import jax

from nnfunc.layers._base import Layer, _make, _no_params_init

__all__ = ["activation"]


def activation(fn: Callable[[jax.Array], jax.Array]) -> Layer:
    """A parameterless layer computing ``y = fn(x)``.

    Args:
      fn: a shape-preserving function, typically from ``nf.activations``
        (``relu``, ``tanh``, ...). Its ``__name__`` becomes the layer's name.

    Returns:
      A ``Layer`` with empty params and state.

    Example:
      >>> import jax.numpy as jnp
      >>> layer = activation(jnp.tanh)
      >>> y, _ = layer.apply({}, {}, jnp.zeros((2, 3)))
      >>> layer.name, bool((y == 0).all())
      ('tanh', True)
    """
    if not callable(fn):
        raise ValueError(f"activation needs a callable fn, got {fn!r}")

    init = _no_params_init("activation")

    def apply(params: dict, state: dict, x: jax.Array, *, train: bool = False,
              key: Any = None) -> tuple[jax.Array, dict]:
        return fn(x), state

    return _make(getattr(fn, "__name__", "activation"), init, apply)
