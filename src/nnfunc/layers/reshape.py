"""Shape layers: reshape each example, and flatten."""
from __future__ import annotations

import math
from typing import Any, Sequence

import jax

from nnfunc._checks import as_shape
from nnfunc.layers._base import Layer, no_params_init

__all__ = ["reshape", "flatten"]


def _as_target(shape: Any) -> tuple[int, ...]:
    """``shape`` as a tuple of positive ints with at most one ``-1``."""
    target = (shape,) if isinstance(shape, int) and not isinstance(shape, bool) else shape
    try:
        target = tuple(target)
    except TypeError:
        target = None
    if (not target or not all(isinstance(d, int) and not isinstance(d, bool)
                              and (d > 0 or d == -1) for d in target)
            or target.count(-1) > 1):
        raise ValueError(f"shape must be a non-empty tuple of positive ints, one of which "
                         f"may be -1, got {shape!r}")
    return target


def _resolve(target: tuple[int, ...], shape: Sequence[int]) -> tuple[int, ...]:
    """``target`` with its ``-1`` worked out for examples of shape ``shape``."""
    size = math.prod(shape)
    known = math.prod(d for d in target if d != -1)
    if -1 in target:
        if size % known:
            raise ValueError(f"reshape: cannot reshape examples of shape {tuple(shape)} "
                             f"({size} elements) to {target}: {size} is not a multiple "
                             f"of {known}")
        return tuple(size // known if d == -1 else d for d in target)
    if size != known:
        raise ValueError(f"reshape: cannot reshape examples of shape {tuple(shape)} "
                         f"({size} elements) to {target} ({known} elements)")
    return target


def reshape(shape: int | Sequence[int]) -> Layer:
    """Reshape every example, keeping the batch axis: ``(batch, *in) -> (batch, *shape)``.

    ``y[n] = x[n].reshape(shape)`` (row-major order, as ``numpy.reshape``). One entry of
    ``shape`` may be ``-1``: it is worked out from the input size. ``init`` checks that
    the element counts match. No parameters.

    Args:
      shape: the shape of each output example, without the batch axis: a tuple of
        positive ints (or a single int), one of which may be ``-1``.

    Returns:
      A parameterless ``Layer``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> layer = reshape((7, 7, -1))
      >>> params, state = layer.init(jax.random.key(0), (392,))
      >>> y, _ = layer.apply(params, state, jnp.ones((2, 392)))
      >>> y.shape
      (2, 7, 7, 8)
    """
    target = _as_target(shape)

    def init(key: jax.Array, input_shape: tuple[int, ...]) -> tuple[dict, dict]:
        _resolve(target, as_shape(input_shape, "reshape"))
        return {}, {}

    def apply(params: dict, state: dict, x: jax.Array, *, train: bool = False,
              key: Any = None) -> tuple[jax.Array, dict]:
        if x.ndim < 1:
            raise ValueError(f"reshape expects inputs with a batch axis, got shape "
                             f"{tuple(x.shape)}")
        return x.reshape((x.shape[0], *_resolve(target, x.shape[1:]))), state

    return Layer(init, apply, name="reshape")


def flatten() -> Layer:
    """Flatten every axis but the batch axis: ``(batch, d1, ..., dk) -> (batch, d1···dk)``.

    Returns:
      A parameterless ``Layer``.

    Example:
      >>> import jax.numpy as jnp
      >>> y, _ = flatten().apply({}, {}, jnp.ones((2, 4, 4, 3)))
      >>> y.shape
      (2, 48)
    """
    init = no_params_init("flatten")

    def apply(params: dict, state: dict, x: jax.Array, *, train: bool = False,
              key: Any = None) -> tuple[jax.Array, dict]:
        if x.ndim < 1:
            raise ValueError(f"flatten expects inputs with a batch axis, got shape "
                             f"{tuple(x.shape)}")
        return x.reshape(x.shape[0], -1), state

    return Layer(init, apply, name="flatten")
