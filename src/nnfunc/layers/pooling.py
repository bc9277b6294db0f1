"""2-D max and average pooling over NHWC images.

Internal API (no underscore, outside ``__all__``; for tests and investigations that
compare the max-pool's forms): ``max_pool_tiles`` (the stride = window path, with
``walk=`` choosing the gradient mask), ``mask_by_walk`` (the mask the library picks for a
backend and window), ``first_max_mask`` and ``first_max_mask_walk`` (the two masks).
"""
from __future__ import annotations

import math
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from nnfunc._checks import as_pair, as_shape, check_bool
from nnfunc.layers._base import Layer, check_fits, as_padding

__all__ = ["max_pool", "avg_pool"]


def _pool_setup(name: str, window: Any, stride: Any, padding: Any):
    win = as_pair("window", window)
    strides = win if stride is None else as_pair("stride", stride)
    pad = as_padding(padding)
    if not isinstance(pad, str):
        for axis, (w, sides) in enumerate(zip(win, pad)):
            if max(sides) > w // 2:
                raise ValueError(f"{name} padding must be at most half the window (as in "
                                 f"torch): window {win}, so at most {w // 2} on axis "
                                 f"{axis}, got padding {padding!r} (wider padding makes "
                                 f"windows of padding only: -inf or 0 borders)")
    lax_pad = pad if isinstance(pad, str) else ((0, 0), *pad, (0, 0))

    def init(key: jax.Array, input_shape: tuple[int, ...]) -> tuple[dict, dict]:
        shape = as_shape(input_shape, name)
        if len(shape) != 3:
            raise ValueError(f"{name} expects input_shape (height, width, channels), "
                             f"got {shape}")
        check_fits(name, shape[:2], win, strides, pad)
        return {}, {}

    def check(x: jax.Array) -> None:
        if x.ndim != 4:
            raise ValueError(f"{name} expects NHWC inputs (batch, height, width, channels), "
                             f"got {tuple(x.shape)}")
        check_fits(name, x.shape[1:3], win, strides, pad)

    return init, check, (1, *win, 1), (1, *strides, 1), lax_pad


def _hits(t: jax.Array, y: jax.Array) -> jax.Array:
    return (t == y) | (jnp.isnan(t) & jnp.isnan(y))


def first_max_mask(t: jax.Array, y: jax.Array) -> jax.Array:
    """Of ``t`` (``(n, oh, kh, ow, kw, c)`` tiles) the first entry of each tile, in
    row-major window order, equal to its maximum ``y`` (a NaN maximum: the first NaN):
    where torch's and ``reduce_window``'s max-pool gradients go."""
    hit = _hits(t, y)
    before_in_row = jnp.cumsum(hit, axis=4) - hit > 0
    row_hit = jnp.any(hit, axis=4, keepdims=True)
    before_row = jnp.cumsum(row_hit, axis=2) - row_hit > 0
    return hit & ~before_in_row & ~before_row


def first_max_mask_walk(t: jax.Array, y: jax.Array) -> jax.Array:
    """:func:`first_max_mask` built by walking the ``kh·kw`` window positions in order
    (elementwise operations on slices, no cumsum).

    The GPU form: XLA:GPU fuses the cumsum's reduce-window with the select into the
    next reduction (a convolution's bias gradient), one slow kernel that dominates a
    small CNN's step; the walked mask avoids it. On CPU the cumsum form is the faster
    one inside a scanned epoch."""
    hit = _hits(t, y)
    seen = jnp.zeros_like(hit[:, :, :1, :, :1])
    rows = []
    for p in range(t.shape[2]):
        row = []
        for q in range(t.shape[4]):
            h = hit[:, :, p:p + 1, :, q:q + 1]
            row.append(h & ~seen)
            seen = seen | h
        rows.append(jnp.concatenate(row, axis=4))
    return jnp.concatenate(rows, axis=2)


def _tiled_max_with(mask: Any) -> Any:
    """``t -> max over axes (2, 4)`` whose gradient goes where ``mask(t, y)`` says."""
    @jax.custom_vjp
    def tiled_max(t: jax.Array) -> jax.Array:
        return jnp.max(t, axis=(2, 4), keepdims=True)

    def fwd(t):
        y = tiled_max(t)
        return y, (t, y)

    def bwd(res, g):
        t, y = res
        return (jnp.where(mask(t, y), g, jnp.zeros((), g.dtype)),)

    tiled_max.defvjp(fwd, bwd)
    return tiled_max


_tiled_max = _tiled_max_with(first_max_mask)
_tiled_max_walk = _tiled_max_with(first_max_mask_walk)


# The walked mask unrolls one step per window position, so its compile time grows quickly
# with the window (a 28x28 window's gradient takes minutes to compile): small windows only.
_MAX_WALK_POSITIONS = 16


def mask_by_walk(kh: int, kw: int, backend: str) -> bool:
    """Whether the max-pool's gradient mask is :func:`first_max_mask_walk`: for windows of
    at most ``_MAX_WALK_POSITIONS`` positions in a program traced for ``backend`` a GPU or
    TPU (not ``'cpu'``).

    Example:
      >>> mask_by_walk(2, 2, "gpu"), mask_by_walk(2, 2, "cpu"), mask_by_walk(5, 5, "gpu")
      (True, False, False)
    """
    return kh * kw <= _MAX_WALK_POSITIONS and backend != "cpu"


def max_pool_tiles(x: jax.Array, kh: int, kw: int, *, walk: bool | None = None) -> jax.Array:
    """Max pooling with stride = window and no padding as a max over reshaped tiles.

    The same values and gradients as ``reduce_window`` (the gradient goes to the first
    maximum of each window), but the backward pass is one elementwise select instead of
    XLA's ``select_and_scatter``, which is several times slower on CPU.

    ``walk`` picks the gradient mask: ``True`` :func:`first_max_mask_walk`, ``False``
    :func:`first_max_mask`, ``None`` (the layer's choice) :func:`mask_by_walk` for the
    default backend, read here, when the layer is applied, outside the ``custom_vjp``, so
    that no trace cache carries one backend's form to another.

    Example:
      >>> import jax.numpy as jnp
      >>> x = jnp.arange(16.).reshape(1, 4, 4, 1)
      >>> max_pool_tiles(x, 2, 2, walk=True)[0, :, :, 0].tolist()
      [[5.0, 7.0], [13.0, 15.0]]
    """
    if walk is None:
        walk = mask_by_walk(kh, kw, jax.default_backend())
    n, h, w, c = x.shape
    oh, ow = h // kh, w // kw
    tiles = x[:, :oh * kh, :ow * kw, :].reshape(n, oh, kh, ow, kw, c)
    tiled_max = _tiled_max_walk if walk else _tiled_max
    return tiled_max(tiles).reshape(n, oh, ow, c)


def max_pool(window: int | tuple[int, int], stride: Optional[int | tuple[int, int]] = None,
             padding: Any = "VALID") -> Layer:
    """2-D max pooling over NHWC inputs.

    ``y[n, i, j, c] = max_{p<kh, q<kw} x[n, sh·i + p − pad, sw·j + q − pad, c]``.

    Padded positions count as ``-inf`` (never selected), as in ``torch.nn.MaxPool2d``.

    Args:
      window: ``k`` or ``(kh, kw)``.
      stride: ``s`` or ``(sh, sw)``; default ``window`` (torch's default).
      padding: ``'VALID'`` (default), ``'SAME'``, an int, ``(ph, pw)`` or
        ``((top, bottom), (left, right))``.

    Returns:
      A parameterless ``Layer`` on ``(batch, height, width, channels)``.

    Example:
      >>> import jax.numpy as jnp
      >>> layer = max_pool(2)
      >>> x = jnp.arange(16.).reshape(1, 4, 4, 1)
      >>> y, _ = layer.apply({}, {}, x)
      >>> y[0, :, :, 0].tolist()
      [[5.0, 7.0], [13.0, 15.0]]
    """
    init, check, dims, strides, pad = _pool_setup("max_pool", window, stride, padding)
    tiled = dims == strides and (pad == "VALID" or all(p == (0, 0) for p in pad))

    def apply(params: dict, state: dict, x: jax.Array, *, train: bool = False,
              key: Any = None) -> tuple[jax.Array, dict]:
        check(x)
        if tiled and jnp.issubdtype(x.dtype, jnp.floating):
            return max_pool_tiles(x, dims[1], dims[2]), state
        y = lax.reduce_window(x, -jnp.inf, lax.max, dims, strides, pad)
        return y, state

    return Layer(init, apply, name="max_pool")


def avg_pool(window: int | tuple[int, int], stride: Optional[int | tuple[int, int]] = None,
             padding: Any = "VALID", *, count_include_pad: bool = True) -> Layer:
    """2-D average pooling over NHWC inputs.

    ``y[n, i, j, c] = (1/(kh·kw)) Σ_{p<kh, q<kw} x[n, sh·i + p − pad, sw·j + q − pad, c]``.

    Like ``torch.nn.AvgPool2d``, zeros added by padding count in the divisor unless
    ``count_include_pad=False``, in which case each output divides by the number of real
    input pixels under its window.

    Args:
      window: ``k`` or ``(kh, kw)``.
      stride: ``s`` or ``(sh, sw)``; default ``window``.
      padding: ``'VALID'`` (default), ``'SAME'``, an int, ``(ph, pw)`` or
        ``((top, bottom), (left, right))``.
      count_include_pad: whether padded zeros count in the average.

    Returns:
      A parameterless ``Layer`` on ``(batch, height, width, channels)``.

    Example:
      >>> import jax.numpy as jnp
      >>> layer = avg_pool(2)
      >>> x = jnp.arange(16.).reshape(1, 4, 4, 1)
      >>> y, _ = layer.apply({}, {}, x)
      >>> y[0, :, :, 0].tolist()
      [[2.5, 4.5], [10.5, 12.5]]
    """
    init, check, dims, strides, pad = _pool_setup("avg_pool", window, stride, padding)
    count_include_pad = check_bool("count_include_pad", count_include_pad)
    area = math.prod(dims)

    def apply(params: dict, state: dict, x: jax.Array, *, train: bool = False,
              key: Any = None) -> tuple[jax.Array, dict]:
        check(x)
        # A concrete (numpy) zero lets lax recognise the windowed sum, which has a gradient.
        zero = np.zeros((), x.dtype)
        total = lax.reduce_window(x, zero, lax.add, dims, strides, pad)
        if count_include_pad:
            return total / area, state
        # The count of real pixels per window depends only on shapes, so it is a constant.
        counts = lax.reduce_window(np.ones(x.shape[1:3], x.dtype), zero, lax.add, dims[1:3],
                                   strides[1:3], pad if isinstance(pad, str) else pad[1:3])
        return total / counts[None, :, :, None], state

    return Layer(init, apply, name="avg_pool")

