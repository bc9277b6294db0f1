"""Wrap an elementwise function as a layer, and tell which activation layers are ReLUs."""
from __future__ import annotations

import weakref
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from nnfunc.layers._base import Layer, no_params_init

__all__ = ["activation"]

# apply function of every activation layer -> its elementwise function (explicit, so no
# layer is recognised by its name)
_FNS: "weakref.WeakKeyDictionary[Callable, Callable]" = weakref.WeakKeyDictionary()
_PROBE = np.array([-1e3, -3.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 3.0, 1e3], np.float32)


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

    init = no_params_init("activation")

    def apply(params: dict, state: dict, x: jax.Array, *, train: bool = False,
              key: Any = None) -> tuple[jax.Array, dict]:
        return fn(x), state

    _FNS[apply] = fn
    return Layer(init, apply, name=getattr(fn, "__name__", "activation"))


def is_relu(layer: Layer) -> bool:
    """Whether ``layer`` is an :func:`activation` layer whose function is the ReLU
    ``max(x, 0)``, judged by its values on a probe vector: a lambda or ``jax.nn.relu``
    counts, ``leaky_relu`` and ``prelu`` (non-zero for x < 0) do not."""
    fn, elementwise = layer.apply, None
    while fn is not None and elementwise is None:
        try:
            elementwise = _FNS.get(fn)
        except TypeError:   # not weakly referenceable, so never registered
            pass
        fn = getattr(fn, "__wrapped__", None)
    if elementwise is None:
        return False
    try:
        y = np.asarray(elementwise(jnp.asarray(_PROBE)))
    except Exception:   # a function that cannot take the probe is no elementwise ReLU
        return False
    return y.shape == _PROBE.shape and bool(np.array_equal(y, np.maximum(_PROBE, 0)))
