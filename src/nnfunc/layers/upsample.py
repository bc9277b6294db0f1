"""Upsampling of NHWC images by integer factors: nearest neighbour and bilinear."""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nnfunc._checks import as_pair, as_shape, check_choice
from nnfunc.layers._base import Layer

__all__ = ["upsample"]

_METHODS = ("nearest", "bilinear")


def _linear_taps(size: int, scale: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights of one axis: torch's ``align_corners=False`` rule.

    Output pixel ``i`` reads the input at ``src = max((i + 0.5) / scale − 0.5, 0)``:
    ``(1 − λ)·x[⌊src⌋] + λ·x[min(⌊src⌋ + 1, size − 1)]`` with ``λ = src − ⌊src⌋``.
    """
    src = np.maximum((np.arange(size * scale) + 0.5) / scale - 0.5, 0.0)
    lo = np.floor(src).astype(np.int32)
    hi = np.minimum(lo + 1, size - 1)
    lam = src - lo
    return lo, hi, lam


def _lerp(x: jax.Array, axis: int, scale: int) -> jax.Array:
    lo, hi, lam = _linear_taps(x.shape[axis], scale)
    shape = [1] * x.ndim
    shape[axis] = lam.size
    lam = jnp.asarray(lam.reshape(shape), x.dtype)
    return (1 - lam) * jnp.take(x, lo, axis=axis) + lam * jnp.take(x, hi, axis=axis)


def upsample(scale: int | tuple[int, int], method: str = "nearest") -> Layer:
    """Upsample NHWC images by integer factors (``torch.nn.Upsample``).

    ``'nearest'``: ``y[n, i, j, c] = x[n, ⌊i/sh⌋, ⌊j/sw⌋, c]`` (every pixel repeated
    ``sh × sw`` times). ``'bilinear'``: ``y[n, i, j, c] = Σ_{p,q} a_p(i)·b_q(j)·x[n, p, q, c]``,
    separable linear interpolation with torch's ``align_corners=False`` rule: output pixel
    ``i`` samples the input at ``max((i + ½)/sh − ½, 0)`` between its two nearest rows
    (the last row repeats at the border), and likewise along the width.

    Values equal ``torch.nn.Upsample(scale_factor=scale, mode=method)`` (with
    ``align_corners=False`` for ``'bilinear'``). The output has shape
    ``(batch, sh·height, sw·width, channels)``. No parameters. ``'nearest'`` keeps the
    input's dtype; ``'bilinear'`` casts integer inputs to ``float32``.

    Args:
      scale: ``s`` or ``(sh, sw)``, positive ints.
      method: ``'nearest'`` (default) or ``'bilinear'``.

    Returns:
      A parameterless ``Layer`` on ``(batch, height, width, channels)``.

    Example:
      >>> import jax.numpy as jnp
      >>> x = jnp.array([[1., 2.], [3., 4.]]).reshape(1, 2, 2, 1)
      >>> y, _ = upsample(2).apply({}, {}, x)
      >>> y[0, :, :, 0].tolist()
      [[1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 2.0, 2.0], [3.0, 3.0, 4.0, 4.0], [3.0, 3.0, 4.0, 4.0]]
      >>> y, _ = upsample((1, 2), method='bilinear').apply({}, {}, x)
      >>> y[0, :, :, 0].tolist()
      [[1.0, 1.25, 1.75, 2.0], [3.0, 3.25, 3.75, 4.0]]
    """
    scales = as_pair("scale", scale)
    check_choice("method", method, _METHODS)

    def init(key: jax.Array, input_shape: tuple[int, ...]) -> tuple[dict, dict]:
        shape = as_shape(input_shape, "upsample")
        if len(shape) != 3:
            raise ValueError(f"upsample expects input_shape (height, width, channels), "
                             f"got {shape}")
        return {}, {}

    def apply(params: dict, state: dict, x: jax.Array, *, train: bool = False,
              key: Any = None) -> tuple[jax.Array, dict]:
        if x.ndim != 4:
            raise ValueError(f"upsample expects NHWC inputs (batch, height, width, "
                             f"channels), got {tuple(x.shape)}")
        x = jnp.asarray(x)
        if method == "nearest":
            return jnp.repeat(jnp.repeat(x, scales[0], axis=1), scales[1], axis=2), state
        if not jnp.issubdtype(x.dtype, jnp.inexact):
            x = x.astype(jnp.float32)
        return _lerp(_lerp(x, 2, scales[1]), 1, scales[0]), state

    return Layer(init, apply, name="upsample")
