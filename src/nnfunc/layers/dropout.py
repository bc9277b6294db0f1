"""Inverted dropout."""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from nnfunc._checks import is_real, is_traced
from nnfunc.layers._base import Layer, no_params_init, require_key

__all__ = ["dropout"]


def dropout(rate: float) -> Layer:
    """Inverted dropout: zero units at random in training, rescale the rest.

    In training ``y = m ⊙ x / (1 − rate)`` with ``m ~ Bernoulli(1 − rate)`` elementwise.

    Each unit is kept with probability ``1 − rate`` and the kept ones are scaled by
    ``1/(1 − rate)``, so ``E[y] = x`` and evaluation (``train=False``) is the identity.
    Training needs an explicit ``key``; the same key gives the same mask.

    Args:
      rate: drop probability, ``0 <= rate < 1``.

    Returns:
      A parameterless ``Layer``. ``apply(..., train=True)`` without ``key`` raises
      ``ValueError``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> layer = dropout(0.5)
      >>> x = jnp.ones((1, 8))
      >>> y, _ = layer.apply({}, {}, x)            # eval: identity
      >>> bool((y == x).all())
      True
      >>> y, _ = layer.apply({}, {}, x, train=True, key=jax.random.key(0))
      >>> sorted(set(y.ravel().tolist())) in ([0.0, 2.0], [0.0], [2.0])
      True
    """
    if not is_traced(rate):
        if not is_real(rate) or not 0 <= rate < 1:
            raise ValueError(f"dropout rate must be in [0, 1), got {rate!r}")

    init = no_params_init("dropout")

    def apply(params: dict, state: dict, x: jax.Array, *, train: bool = False,
              key: Any = None) -> tuple[jax.Array, dict]:
        if not train:
            return x, state
        require_key(f"dropout(rate={rate})", key)
        keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
        # One multiply by a precomputed 1/(1-rate): exact and identical on every backend.
        return jnp.where(keep, x * (1.0 / (1.0 - rate)), jnp.zeros((), x.dtype)), state

    return Layer(init, apply, name="dropout")
