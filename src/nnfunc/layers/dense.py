"""Fully connected layer."""
from __future__ import annotations

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp

from nnfunc._checks import POSITIVE_INT, as_shape, check_bool, check_int
from nnfunc.layers._base import Layer, kernel_params

__all__ = ["dense"]

Initializer = Callable[..., jax.Array]


def dense(features: int, *, w_init: Optional[Initializer] = None,
          b_init: Optional[Initializer] = None, use_bias: bool = True) -> Layer:
    """Affine map over the last axis: ``y = x W + b``.

    ``W`` has shape ``(in_features, features)``, so ``x`` of shape ``(..., in_features)``
    maps to ``(..., features)``. Parameters: ``{'w': W, 'b': b}`` (no ``'b'`` when
    ``use_bias=False``).

    Defaults follow ``torch.nn.Linear``: ``W ~ U(-1/√fan_in, 1/√fan_in)``
    (``nf.init.fan_in_uniform``, which is what torch's ``kaiming_uniform_(a=√5)`` works out
    to) and ``b ~ U(-1/√fan_in, 1/√fan_in)`` with ``fan_in = in_features``.

    Args:
      features: number of output features (> 0).
      w_init: initializer ``(key, shape, dtype) -> Array`` for ``W``; default above.
      b_init: initializer for ``b``; default above (e.g. ``nf.init.zeros`` for zeros).
      use_bias: whether to add ``b``.

    Returns:
      A ``Layer``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> layer = dense(4)
      >>> params, state = layer.init(jax.random.key(0), (3,))
      >>> params['w'].shape, params['b'].shape
      ((3, 4), (4,))
      >>> y, _ = layer.apply(params, state, jnp.ones((2, 3)))
      >>> bool(jnp.allclose(y, jnp.ones((2, 3)) @ params['w'] + params['b']))
      True
    """
    check_int("features", features, minimum=1, allowed=POSITIVE_INT)
    use_bias = check_bool("use_bias", use_bias)

    def init(key: jax.Array, input_shape: tuple[int, ...]) -> tuple[dict, dict]:
        shape = as_shape(input_shape, "dense")
        if len(shape) < 1:
            raise ValueError(f"dense expects input_shape (..., in_features) with at least "
                             f"one axis, got {shape}")
        fan_in = shape[-1]
        return kernel_params(key, (fan_in, features), fan_in, w_init, b_init, use_bias), {}

    def apply(params: dict, state: dict, x: jax.Array, *, train: bool = False,
              key: Any = None) -> tuple[jax.Array, dict]:
        w = params["w"]
        if x.ndim < 1 or x.shape[-1] != w.shape[0]:
            raise ValueError(f"dense expects inputs of shape (batch, ..., {w.shape[0]}), "
                             f"got {tuple(x.shape)}")
        y = jnp.matmul(x, w)
        if use_bias:
            y = y + params["b"]
        return y, state

    return Layer(init, apply, name="dense")
