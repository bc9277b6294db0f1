"""Corruption layers for denoising autoencoders: additive Gaussian noise, masking noise and
salt-and-pepper noise. Active only in training (``train=True``, with a ``key``); the
identity at evaluation."""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from nnfunc._checks import check_real
from nnfunc.layers._base import Layer, no_params_init, require_key

__all__ = ["gaussian_noise", "masking_noise", "salt_and_pepper"]


def _corruption(name: str, corrupt: Callable[[jax.Array, jax.Array], jax.Array]) -> Layer:
    """A parameterless layer applying ``corrupt(key, x)`` in training only."""
    def apply(params: dict, state: dict, x: jax.Array, *, train: bool = False,
              key: Any = None) -> tuple[jax.Array, dict]:
        if not train:
            return x, state
        require_key(name, key)
        return corrupt(key, x).astype(x.dtype), state

    return Layer(no_params_init(name), apply, name=name.split("(")[0])


def gaussian_noise(stddev: float) -> Layer:
    """Additive Gaussian noise in training: ``x̃ = x + σ ε``, ``ε ~ N(0, I)``.

    Args:
      stddev: σ >= 0.

    Returns:
      A parameterless ``Layer``; the identity with ``train=False``. ``apply(...,
      train=True)`` needs a ``key``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> layer = gaussian_noise(0.5)
      >>> x = jnp.zeros((100, 100))
      >>> y, _ = layer.apply({}, {}, x, train=True, key=jax.random.key(0))
      >>> round(float(y.std()), 1), bool((layer.apply({}, {}, x)[0] == x).all())
      (0.5, True)
    """
    check_real("stddev", stddev, low=0.0)

    def corrupt(key, x):
        return x + stddev * jax.random.normal(key, x.shape, jnp.result_type(x, jnp.float32))

    return _corruption(f"gaussian_noise(stddev={stddev})", corrupt)


def masking_noise(rate: float) -> Layer:
    """Masking noise in training: each input is set to 0 with probability ``rate``.

    ``x̃ = m ⊙ x``, ``m ~ Bernoulli(1 − rate)`` elementwise, with no rescaling (unlike
    ``dropout``): the lecture notes' "masking some of the input values" of a denoising
    autoencoder, whose target stays the clean ``x``.

    Args:
      rate: the fraction masked, ``0 <= rate < 1``.

    Returns:
      A parameterless ``Layer``; the identity with ``train=False``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> y, _ = masking_noise(0.3).apply({}, {}, jnp.ones((1, 10000)), train=True,
      ...                                 key=jax.random.key(0))
      >>> round(float((y == 0).mean()), 2), float(y.max())
      (0.3, 1.0)
    """
    check_real("rate", rate, low=0.0, high=1.0, high_open=True)

    def corrupt(key, x):
        keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
        return jnp.where(keep, x, jnp.zeros((), x.dtype))

    return _corruption(f"masking_noise(rate={rate})", corrupt)


def salt_and_pepper(rate: float, low: float = 0.0, high: float = 1.0) -> Layer:
    """Salt-and-pepper noise in training: a fraction ``rate`` of the inputs is set to
    ``low`` or ``high`` (each with probability ½).

    ``x̃ᵢ = xᵢ`` with probability ``1 − rate``, else ``low`` or ``high`` with equal
    probability (for images in [0, 1]: black or white pixels).

    Args:
      rate: the fraction corrupted, ``0 <= rate < 1``.
      low: the "pepper" value.
      high: the "salt" value.

    Returns:
      A parameterless ``Layer``; the identity with ``train=False``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> y, _ = salt_and_pepper(0.2).apply({}, {}, jnp.full((1, 10000), 0.5), train=True,
      ...                                   key=jax.random.key(0))
      >>> [round(float((y == v).mean()), 2) for v in (0.0, 0.5, 1.0)]
      [0.1, 0.8, 0.1]
    """
    check_real("rate", rate, low=0.0, high=1.0, high_open=True)
    check_real("low", low)
    check_real("high", high)

    def corrupt(key, x):
        k_hit, k_salt = jax.random.split(key)
        hit = jax.random.bernoulli(k_hit, rate, x.shape)
        salt = jax.random.bernoulli(k_salt, 0.5, x.shape)
        return jnp.where(hit, jnp.where(salt, high, low).astype(x.dtype), x)

    return _corruption(f"salt_and_pepper(rate={rate})", corrupt)
