"""Batch normalisation (PyTorch semantics) and layer normalisation."""
from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from nnfunc._checks import as_shape, is_real, is_traced
from nnfunc.layers._base import Layer

__all__ = ["batch_norm", "layer_norm"]


def _check_eps(eps: Any) -> None:
    if not is_traced(eps) and (not is_real(eps)
                               or not 0 < eps < math.inf):
        raise ValueError(f"eps must be a positive number, got {eps!r}")


def batch_norm(momentum: float = 0.1, eps: float = 1e-5) -> Layer:
    """Batch normalisation over every axis but the last (channels): ``(N, C)`` or NHWC.

    Training (``train=True``), with batch mean ``μ`` and biased batch variance ``σ²`` per
    channel over the ``n`` values in the batch::

        y = scale · (x − μ) / √(σ² + eps) + bias
        running_mean ← (1 − momentum) · running_mean + momentum · μ
        running_var  ← (1 − momentum) · running_var  + momentum · σ² · n/(n − 1)

    Evaluation (``train=False``) normalises with the running statistics and leaves them
    unchanged. This is ``torch.nn.BatchNorm1d``/``BatchNorm2d`` exactly (torch updates the
    running variance with the unbiased estimate). Parameters ``{'scale': ones(C),
    'bias': zeros(C)}``; state ``{'mean': zeros(C), 'var': ones(C)}``. The running
    statistics carry no gradient.

    Args:
      momentum: weight of the new batch statistic, in ``[0, 1]`` (torch's default 0.1).
      eps: added to the variance, ``> 0``.

    Returns:
      A ``Layer``. Training on a batch with a single value per channel raises ``ValueError``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> layer = batch_norm()
      >>> params, state = layer.init(jax.random.key(0), (3,))
      >>> x = jnp.array([[1., 2., 3.], [3., 6., 9.]])
      >>> y, state = layer.apply(params, state, x, train=True)
      >>> [round(v, 3) for v in y[0].tolist()]
      [-1.0, -1.0, -1.0]
      >>> [round(v, 3) for v in state['mean'].tolist()]
      [0.2, 0.4, 0.6]
    """
    if not is_traced(momentum) and (not is_real(momentum)
                                    or not 0 <= momentum <= 1):
        raise ValueError(f"batch_norm momentum must be in [0, 1], got {momentum!r}")
    _check_eps(eps)

    def init(key: jax.Array, input_shape: tuple[int, ...]) -> tuple[dict, dict]:
        shape = as_shape(input_shape, "batch_norm")
        if len(shape) < 1:
            raise ValueError(f"batch_norm expects input_shape (channels,) or "
                             f"(height, width, channels), got {shape}")
        c = shape[-1]
        params = {"scale": jnp.ones((c,), jnp.float32), "bias": jnp.zeros((c,), jnp.float32)}
        state = {"mean": jnp.zeros((c,), jnp.float32), "var": jnp.ones((c,), jnp.float32)}
        return params, state

    def apply(params: dict, state: dict, x: jax.Array, *, train: bool = False,
              key: Any = None) -> tuple[jax.Array, dict]:
        c = params["scale"].shape[0]
        if x.ndim < 2 or x.shape[-1] != c:
            raise ValueError(f"batch_norm expects inputs (batch, ..., {c}) with the channels "
                             f"last, got {tuple(x.shape)}")
        axes = tuple(range(x.ndim - 1))
        if train:
            n = math.prod(x.shape[:-1])
            if n < 2:
                raise ValueError(f"batch_norm in train mode needs more than one value per "
                                 f"channel, got inputs of shape {tuple(x.shape)}")
            mean = jnp.mean(x, axis=axes)
            var = jnp.mean(jnp.square(x - mean), axis=axes)
            m = momentum
            stat_mean, stat_var = jax.lax.stop_gradient((mean, var * (n / (n - 1))))
            new_state = {
                "mean": ((1 - m) * state["mean"] + m * stat_mean).astype(state["mean"].dtype),
                "var": ((1 - m) * state["var"] + m * stat_var).astype(state["var"].dtype),
            }
        else:
            mean, var, new_state = state["mean"], state["var"], state
        inv = jax.lax.rsqrt(var + eps) * params["scale"]
        y = (x - mean) * inv + params["bias"]
        return y.astype(x.dtype), new_state

    return Layer(init, apply, name="batch_norm")


def layer_norm(eps: float = 1e-5) -> Layer:
    """Layer normalisation over the last axis, per example.

    ``y = scale · (x − μ) / √(σ² + eps) + bias`` with ``μ``, ``σ²`` the mean and biased
    variance of each example's last axis (``torch.nn.LayerNorm(C)``). Parameters
    ``{'scale': ones(C), 'bias': zeros(C)}``; no state.

    Args:
      eps: added to the variance, ``> 0``.

    Returns:
      A ``Layer``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> layer = layer_norm()
      >>> params, state = layer.init(jax.random.key(0), (2,))
      >>> y, _ = layer.apply(params, state, jnp.array([[1., 3.]]))
      >>> [round(v, 3) for v in y[0].tolist()]
      [-1.0, 1.0]
    """
    _check_eps(eps)

    def init(key: jax.Array, input_shape: tuple[int, ...]) -> tuple[dict, dict]:
        shape = as_shape(input_shape, "layer_norm")
        if len(shape) < 1:
            raise ValueError(f"layer_norm expects input_shape (..., features), got {shape}")
        c = shape[-1]
        return {"scale": jnp.ones((c,), jnp.float32), "bias": jnp.zeros((c,), jnp.float32)}, {}

    def apply(params: dict, state: dict, x: jax.Array, *, train: bool = False,
              key: Any = None) -> tuple[jax.Array, dict]:
        c = params["scale"].shape[0]
        if x.ndim < 1 or x.shape[-1] != c:
            raise ValueError(f"layer_norm expects inputs (batch, ..., {c}), got "
                             f"{tuple(x.shape)}")
        mean = jnp.mean(x, axis=-1, keepdims=True)
        var = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
        y = (x - mean) * jax.lax.rsqrt(var + eps) * params["scale"] + params["bias"]
        return y.astype(x.dtype), state

    return Layer(init, apply, name="layer_norm")
