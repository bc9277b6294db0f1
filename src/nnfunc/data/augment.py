"""Ready-made random augmentations of image batches, run on the device.

Each factory checks its arguments and returns a function ``augment(key, x) -> x`` of a
JAX random key and a batch ``x``, as ``nf.train.fit(..., augment=fn)`` calls it on every
training batch inside the compiled step. Every example gets its own random draw (its
own shift, crop window, flips, noise), the output has the input's shape and dtype
(integer images stay integer), and the same key gives the same output. The functions
are pure JAX, so they work under ``jax.jit``, ``jax.vmap`` (over extra leading axes) and
``lax.scan``; the crops are one padding of the batch and one per-example
``lax.dynamic_slice`` (a single gather under ``vmap``), with no loop over examples.

Layouts: ``(N, H, W)``, NHWC ``(N, H, W, C)`` (the library's convention), or flattened
``(N, H*W)`` / ``(N, H*W*C)`` with ``image_shape=(H, W)`` or ``(H, W, C)``; without
``image_shape`` a flattened width that is a perfect square is read as one square channel
(784 -> 28x28), any other raises ``ValueError`` asking for ``image_shape``.

``nnfunc.data`` imports NumPy only: JAX is loaded lazily (``importlib.import_module``)
when a returned ``augment`` is first called, never when this module is imported.
"""
from __future__ import annotations

import importlib
import math
import numbers
from typing import Any, Callable, Optional, Sequence, Tuple, Union

import numpy as np

from nnfunc._checks import check_bool, check_finite, check_int, check_pair

__all__ = ["random_translate", "random_crop", "random_flip", "gaussian_noise", "compose"]

Augment = Callable[[Any, Any], Any]
IntPair = Union[int, Tuple[int, int]]
PADDING_MODES = ("constant", "edge", "reflect", "symmetric")


def _jax():
    """``(jax, jax.numpy, jax.lax)``, imported on first use (``nnfunc.data`` stays
    importable without JAX)."""
    jax = importlib.import_module("jax")
    return jax, importlib.import_module("jax.numpy"), importlib.import_module("jax.lax")


# ------------------------------------------------------------------ argument checks

def _int_pair(name: str, value: Any) -> Tuple[int, int]:
    """``value`` as ``(vertical, horizontal)`` ints >= 0, from an int or a pair."""
    what = "an int >= 0 or a pair (dy, dx) of ints >= 0"
    is_pair = isinstance(value, (tuple, list)) or (isinstance(value, np.ndarray)
                                                   and value.ndim == 1)
    items = check_pair(name, value, what, arrays=True) if is_pair else (value, value)
    try:
        return tuple(check_int(name, v, minimum=0) for v in items)     # type: ignore
    except ValueError:
        raise ValueError(f"{name} must be {what}, got {value!r}") from None


def _image_shape_arg(image_shape: Any) -> Optional[Tuple[int, ...]]:
    if image_shape is None:
        return None
    allowed = ("image_shape must be None, (height, width) or (height, width, channels) "
               f"of positive ints, got {image_shape!r}")
    if isinstance(image_shape, np.ndarray) and image_shape.ndim == 1:
        image_shape = image_shape.tolist()
    if not isinstance(image_shape, (tuple, list)) or len(image_shape) not in (2, 3):
        raise ValueError(allowed)
    try:
        return tuple(check_int("image_shape", v, minimum=1) for v in image_shape)
    except ValueError:
        raise ValueError(allowed) from None


def _fill_arg(fill: Any) -> float:
    return check_finite("fill", fill)


def _as_key(jax, key: Any) -> Any:
    """An int seed becomes ``jax.random.key(seed)``; keys pass unchanged."""
    if isinstance(key, numbers.Integral) and not isinstance(key, (bool, np.bool_)):
        return jax.random.key(int(key))
    return key


# ------------------------------------------------------------------ layouts

def _to_nhwc(name: str, x: Any, image_shape: Optional[Tuple[int, ...]]):
    """``x`` as a ``(N, H, W, C)`` JAX array (a reshape, no copy under jit)."""
    _, jnp, _ = _jax()
    x = jnp.asarray(x)
    shape = tuple(x.shape)
    if x.ndim == 2:
        d = shape[1]
        if image_shape is None:
            s = math.isqrt(d)
            if s * s != d:
                raise ValueError(
                    f"{name}: cannot tell the image shape of flattened inputs of shape "
                    f"{shape} ({d} values per example is not a square number): pass "
                    f"image_shape=(height, width) or (height, width, channels)")
            img = (s, s, 1)
        else:
            img = image_shape if len(image_shape) == 3 else (*image_shape, 1)
            if math.prod(img) != d:
                raise ValueError(
                    f"{name}: image_shape={image_shape!r} holds {math.prod(img)} values "
                    f"per example, but the flattened inputs of shape {shape} have {d}")
    elif x.ndim in (3, 4):
        img = shape[1:] if x.ndim == 4 else (*shape[1:], 1)
        if image_shape is not None and image_shape != img and image_shape != img[:2]:
            raise ValueError(f"{name}: image_shape={image_shape!r} does not match inputs "
                             f"of shape {shape} (images {shape[1:]})")
    else:
        raise ValueError(f"{name} takes a batch of images (N, H, W), (N, H, W, C) or "
                         f"flattened (N, H*W[*C]), got x of shape {shape}")
    return x.reshape((shape[0], *img)), shape


def _fill_value(name: str, fill: float, dtype: Any):
    """``fill`` in ``dtype``; it must be representable there (no wrap-around of -1 in
    uint8, no truncation of 0.5 to 0)."""
    _, jnp, _ = _jax()
    if not jnp.issubdtype(dtype, jnp.inexact):
        info = jnp.iinfo(dtype) if jnp.issubdtype(dtype, jnp.integer) else None
        low, high = (info.min, info.max) if info is not None else (0, 1)     # bool
        if fill != int(fill) or not low <= fill <= high:
            raise ValueError(f"{name}: fill={fill!r} is not a value of the inputs' dtype "
                             f"{np.dtype(dtype).name}")
    return jnp.asarray(fill, dtype)


def _random_window(key, x4, pads: Tuple[int, int], mode: str, fill):
    """Pad ``x4`` by ``pads = (py, px)`` on every side, then per example take the
    ``H x W`` window at offsets ``(oy, ox)`` drawn uniformly from ``[0, 2py] x [0, 2px]``."""
    jax, jnp, lax = _jax()
    n, h, w, c = x4.shape
    py, px = pads
    if py == px == 0:
        return x4
    kwargs = {"constant_values": fill} if mode == "constant" else {}
    xp = jnp.pad(x4, ((0, 0), (py, py), (px, px), (0, 0)), mode=mode, **kwargs)
    ky, kx = jax.random.split(key)
    oy = jax.random.randint(ky, (n,), 0, 2 * py + 1)
    ox = jax.random.randint(kx, (n,), 0, 2 * px + 1)
    zero = jnp.zeros((), oy.dtype)
    return jax.vmap(lambda im, a, b: lax.dynamic_slice(im, (a, b, zero), (h, w, c)))(
        xp, oy, ox)


def _named(fn: Augment, name: str) -> Augment:
    fn.__name__ = fn.__qualname__ = name
    return fn


# ------------------------------------------------------------------ augmentations

def random_translate(max_shift: IntPair = 2, *, image_shape: Optional[Sequence[int]] = None,
                     fill: float = 0.0) -> Augment:
    """Shift every image by its own random whole number of pixels.

    ``y[n, i, j] = x[n, i - dy_n, j - dx_n]`` (``fill`` where that falls outside the
    image), with ``dy_n ~ U{-max_dy, ..., max_dy}`` and ``dx_n ~ U{-max_dx, ..., max_dx}``
    drawn independently for each example.

    Args:
      max_shift: largest shift in pixels, ``m`` (both axes) or ``(max_dy, max_dx)``; ints
        ``>= 0``.
      image_shape: ``(H, W)`` or ``(H, W, C)`` of flattened inputs ``(N, H*W[*C])``;
        ``None`` infers square one-channel images (784 -> 28x28).
      fill: value of the vacated pixels; it must be a value of the inputs' dtype.

    Returns:
      ``augment(key, x)``: ``x`` shifted, same shape and dtype.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from nnfunc.data import random_translate
      >>> augment = random_translate(2)
      >>> x = jnp.ones((8, 28, 28), jnp.uint8)
      >>> y = jax.jit(augment)(jax.random.key(0), x)
      >>> y.shape, y.dtype.name
      ((8, 28, 28), 'uint8')
      >>> bool((y.sum(axis=(1, 2)) >= 26 * 26).all())   # at most 2 rows and 2 columns gone
      True
    """
    pads = _int_pair("max_shift", max_shift)
    shape = _image_shape_arg(image_shape)
    fill = _fill_arg(fill)

    def augment(key, x):
        jax, _, _ = _jax()
        x4, orig = _to_nhwc("random_translate", x, shape)
        y = _random_window(_as_key(jax, key), x4, pads, "constant",
                           _fill_value("random_translate", fill, x4.dtype))
        return y.reshape(orig)

    return _named(augment, "random_translate")


def random_crop(padding: IntPair = 4, *, image_shape: Optional[Sequence[int]] = None,
                padding_mode: str = "constant", fill: float = 0.0) -> Augment:
    """Pad every image, then crop a random window of the original size from it.

    ``y[n] = pad(x[n], p)[oy_n : oy_n + H, ox_n : ox_n + W]`` with
    ``oy_n ~ U{0, ..., 2 p_y}`` and ``ox_n ~ U{0, ..., 2 p_x}`` for each example:
    torchvision's ``RandomCrop(size, padding=p)`` at the input's own size (the CIFAR
    recipe ``RandomCrop(32, padding=4)``). With ``padding_mode='constant'`` it is
    :func:`random_translate` with ``max_shift=padding``.

    Args:
      padding: ``p`` on every side, or ``(p_y, p_x)``; ints ``>= 0``.
      image_shape: ``(H, W)`` or ``(H, W, C)`` of flattened inputs ``(N, H*W[*C])``;
        ``None`` infers square one-channel images (784 -> 28x28).
      padding_mode: as ``numpy.pad``'s ``mode``: ``'constant'`` (``fill``), ``'edge'``
        (repeat the border pixel), ``'reflect'`` (mirror without repeating the border:
        torch's ``'reflect'``) or ``'symmetric'`` (mirror repeating it).
      fill: the padding value for ``'constant'``; it must be a value of the inputs'
        dtype.

    Returns:
      ``augment(key, x)``: ``x`` cropped, same shape and dtype.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from nnfunc.data import random_crop
      >>> augment = random_crop(4, padding_mode="reflect")
      >>> x = jnp.zeros((16, 32, 32, 3))
      >>> augment(jax.random.key(0), x).shape
      (16, 32, 32, 3)
    """
    pads = _int_pair("padding", padding)
    shape = _image_shape_arg(image_shape)
    if not isinstance(padding_mode, str) or padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of "
                         f"{', '.join(repr(m) for m in PADDING_MODES)}, got {padding_mode!r}")
    fill = _fill_arg(fill)

    def augment(key, x):
        jax, _, _ = _jax()
        x4, orig = _to_nhwc("random_crop", x, shape)
        value = _fill_value("random_crop", fill, x4.dtype) if padding_mode == "constant" \
            else None
        y = _random_window(_as_key(jax, key), x4, pads, padding_mode, value)
        return y.reshape(orig)

    return _named(augment, "random_crop")


def random_flip(*, horizontal: bool = True, vertical: bool = False,
                image_shape: Optional[Sequence[int]] = None) -> Augment:
    """Mirror every image left-right and/or upside down, each with probability 1/2.

    ``y[n, i, j] = x[n, i', j']`` with ``j' = W - 1 - j`` if ``h_n`` else ``j``, and
    ``i' = H - 1 - i`` if ``v_n`` else ``i``; ``h_n, v_n ~ Bernoulli(1/2)`` independently
    for each example (``v_n`` only with ``vertical=True``, ``h_n`` only with
    ``horizontal=True``).

    Args:
      horizontal: flip left-right (the width axis).
      vertical: flip upside down (the height axis).
      image_shape: ``(H, W)`` or ``(H, W, C)`` of flattened inputs ``(N, H*W[*C])``;
        ``None`` infers square one-channel images (784 -> 28x28).

    Returns:
      ``augment(key, x)``: ``x`` flipped, same shape and dtype.

    Raises:
      ValueError: both ``horizontal`` and ``vertical`` are False (nothing to flip).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from nnfunc.data import random_flip
      >>> x = jnp.arange(3.0).reshape(1, 1, 3)
      >>> sorted({tuple(random_flip()(jax.random.key(s), x)[0, 0].tolist())
      ...         for s in range(20)})
      [(0.0, 1.0, 2.0), (2.0, 1.0, 0.0)]
    """
    horizontal = check_bool("horizontal", horizontal)
    vertical = check_bool("vertical", vertical)
    if not (horizontal or vertical):
        raise ValueError("random_flip: horizontal=False and vertical=False flip nothing; "
                         "set at least one of them to True")
    shape = _image_shape_arg(image_shape)

    def augment(key, x):
        jax, jnp, _ = _jax()
        x4, orig = _to_nhwc("random_flip", x, shape)
        kh, kv = jax.random.split(_as_key(jax, key))
        n = x4.shape[0]
        for on, k, axis in ((horizontal, kh, 2), (vertical, kv, 1)):
            if on:
                flip = jax.random.bernoulli(k, 0.5, (n,))
                x4 = jnp.where(flip[:, None, None, None], jnp.flip(x4, axis), x4)
        return x4.reshape(orig)

    return _named(augment, "random_flip")


def gaussian_noise(stddev: float) -> Augment:
    """Add independent Gaussian noise to every value.

    ``y = x + stddev * z`` with ``z ~ N(0, 1)`` drawn for each value of each example
    (any shape: no image layout needed).

    Args:
      stddev: the noise's standard deviation, a finite number ``>= 0``.

    Returns:
      ``augment(key, x)`` for floating-point ``x`` (integer images would need rounding
      and clipping: convert them first); same shape and dtype.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from nnfunc.data import gaussian_noise
      >>> y = gaussian_noise(0.5)(jax.random.key(0), jnp.zeros((100, 784)))
      >>> round(float(y.std()), 1), y.dtype.name
      (0.5, 'float32')
    """
    stddev = check_finite("stddev", stddev, low=0)

    def augment(key, x):
        jax, jnp, _ = _jax()
        x = jnp.asarray(x)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise ValueError(f"gaussian_noise needs floating-point inputs, got dtype "
                             f"{np.dtype(x.dtype).name}; convert them first, e.g. "
                             f"x.astype(jnp.float32) / 255")
        z = jax.random.normal(_as_key(jax, key), x.shape, x.dtype)
        return x + jnp.asarray(stddev, x.dtype) * z

    return _named(augment, "gaussian_noise")


def compose(*augments: Augment) -> Augment:
    """Chain augmentations: apply them in order, each with its own key.

    ``y = f_k(key_k, ... f_2(key_2, f_1(key_1, x)))`` with
    ``(key_1, ..., key_k) = jax.random.split(key, k)``.

    Args:
      *augments: functions ``(key, x) -> x``, e.g. from the factories of this module;
        at least one.

    Returns:
      ``augment(key, x)`` applying all of them.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from nnfunc.data import compose, gaussian_noise, random_crop, random_flip
      >>> augment = compose(random_crop(2), random_flip(), gaussian_noise(0.01))
      >>> augment(jax.random.key(0), jnp.zeros((4, 784))).shape
      (4, 784)
    """
    if not augments:
        raise ValueError("compose needs at least one augmentation, got none")
    for i, fn in enumerate(augments):
        if not callable(fn):
            raise ValueError(f"compose: argument {i} must be a function (key, x) -> x, "
                             f"got {fn!r}")
    fns = tuple(augments)

    def augment(key, x):
        jax, _, _ = _jax()
        keys = jax.random.split(_as_key(jax, key), len(fns))
        for k, fn in zip(keys, fns):
            x = fn(k, x)
        return x

    return _named(augment, "compose")
