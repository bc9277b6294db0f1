"""2-D convolution and transposed convolution over NHWC images with HWIO kernels.

The convolution carries its own derivative rule (``jax.custom_jvp``) for one reason:
XLA:CPU runs a convolution fast only in its canonical layout (batch first, features
last; kernel spatial, in, out), and it rewrites other layouts into that one only outside
loops (jax issue #12868). JAX's own derivatives of an NHWC convolution are convolutions
in other layouts, so inside a ``lax.scan`` (``nf.train.make_epoch``) the backward pass
ran much slower than the same step called on its own. The rule below computes the same
tangent with operands laid out so that both transposed convolutions (the input and the
weight gradient) are canonical: values are bit-identical to JAX's, and forward mode,
reverse mode, higher derivatives and ``vmap`` all still work. The transposed convolution
(``conv_transpose2d``) gets the same kind of rule: its forward pass is a convolution of the
input dilated by the stride, and its tangent is written so that both of its reverse-mode
transposes (a strided convolution for the input gradient, a dilated one for the weight
gradient) are canonical too. With JAX's own derivatives a scanned step of a conv
decoder ran slower than the same step alone; with the rule both run at the same speed,
and the weight gradient (no window reversal any more) is faster outside loops as well. Its values equal JAX's up to rounding (the weight gradient sums in another order).

On CPU a convolution with one input channel (the first layer on grayscale images) runs
as ``kh * kw`` shifted multiply-adds instead (``_taps_conv``): XLA:CPU's convolution is
slow for a single input channel and the fused sum is not; its own rule makes the weight
gradient one matmul. Values equal the convolution's up to rounding.

Also on CPU, an unpadded convolution ('VALID', or 'SAME' with a 1x1 kernel) takes its
weight gradient as one matmul per kernel tap (``_tap_matmuls``): XLA:CPU's
weight-gradient convolution is slower than the matmuls for unpadded convolutions. Both
CPU paths exist so that a small CNN trains on CPU about as fast as PyTorch's (the
``speedrun`` benchmark compares them).
"""
from __future__ import annotations

import functools
import warnings
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
from jax import lax

from nnfunc._checks import POSITIVE_INT, as_pair, as_shape, check_bool, check_int
from nnfunc.layers._base import (Layer, as_padding, check_fits, kernel_params,
                                 symmetric_uniform, window_out)

__all__ = ["conv2d", "conv_transpose2d"]

Initializer = Callable[..., jax.Array]
_DIMS = ("NHWC", "HWIO", "NHWC")


def _plain(x, w, strides, pad, dil):
    return lax.conv_general_dilated(x, w, window_strides=strides, padding=pad,
                                    rhs_dilation=dil, dimension_numbers=_DIMS)


def _conv(x, w, strides, pad, dil):
    """The NHWC convolution: by taps when :func:`_by_taps` says so, else ``_canonical``."""
    if _by_taps(w):
        # jitted: called eagerly, the kh * kw taps would each be a pass over the batch
        return _taps_jit(x, w, strides, pad, dil)
    return _canonical(x, w, strides, pad, dil)


def _by_taps(w) -> bool:
    # XLA:CPU's convolution runs a single input channel (grayscale images into the first
    # layer) slowly; the same sum as kh * kw shifted multiply-adds is one fused loop,
    # many times faster.
    # GPUs' convolution libraries have no such gap: elsewhere the convolution stays.
    return w.shape[2] == 1 and jax.default_backend() == "cpu"


def _explicit_pads(x, kernel, strides, pad, dil):
    """``pad`` as ``((top, bottom), (left, right))`` ('SAME'/'VALID' resolved for ``x``)."""
    if not isinstance(pad, str):
        return pad
    window = tuple((k - 1) * d + 1 for k, d in zip(kernel, dil))
    return lax.padtype_to_pads(x.shape[1:3], window, strides, pad)


def _tap_slices(x, kernel, strides, pad, dil) -> list:
    """The ``kh * kw`` strided views of the padded input that the kernel taps read."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, strides, dil
    pad = _explicit_pads(x, kernel, strides, pad, dil)
    x = jnp.pad(x, ((0, 0), tuple(pad[0]), tuple(pad[1]), (0, 0)))
    ho, wo = (window_out(n, k, st, "VALID", 0, d)
              for n, k, st, d in zip(x.shape[1:3], kernel, strides, dil))
    return [lax.slice(x, (0, i * dh, j * dw, 0),
                      (x.shape[0], i * dh + (ho - 1) * sh + 1, j * dw + (wo - 1) * sw + 1,
                       x.shape[3]), (1, sh, sw, 1))
            for i in range(kh) for j in range(kw)]


def _shift_add(x, w, strides, pad, dil):
    r""":math:`y = \sum_{i,j} x_{\downarrow ij} \, w_{ij}` for one input channel
    (:math:`x_{\downarrow ij}` the tap's view, broadcast against the ``O`` features)."""
    kw = w.shape[1]
    taps = _tap_slices(x, w.shape[:2], strides, pad, dil)
    return functools.reduce(lambda acc, k: acc + taps[k] * w[k // kw, k % kw, 0],
                            range(1, len(taps)), taps[0] * w[0, 0, 0])


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4))
def _taps_conv(x, w, strides, pad, dil):
    """A one-input-channel convolution as shifted multiply-adds (see :func:`_by_taps`)."""
    return _shift_add(x, w, strides, pad, dil)


_taps_jit = jax.jit(_taps_conv, static_argnums=(2, 3, 4))


@_taps_conv.defjvp
def _taps_conv_jvp(strides, pad, dil, primals, tangents):
    x, w = primals
    dx, dw = tangents
    # d/dw as patches @ dw: its transpose, the weight gradient, is then one matmul over
    # the batch rather than kh * kw separate reductions (slower on XLA:CPU). The
    # patches are flattened to a matrix first: XLA:CPU runs the transposed 2-D product
    # faster than the same contraction over the (batch, height, width) axes of the
    # 4-D arrays.
    kh, kw, _, out = w.shape
    patches = jnp.concatenate(_tap_slices(x, (kh, kw), strides, pad, dil), axis=-1)
    t_w = (patches.reshape(-1, kh * kw) @ dw.reshape(kh * kw, out)).reshape(
        *patches.shape[:-1], out)
    return _shift_add(x, w, strides, pad, dil), _shift_add(dx, w, strides, pad, dil) + t_w


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4))
def _canonical(x, w, strides, pad, dil):
    """``_plain`` with a tangent whose reverse-mode transposes are canonical convolutions."""
    return _plain(x, w, strides, pad, dil)


@_canonical.defjvp
def _canonical_jvp(strides, pad, dil, primals, tangents):
    x, w = primals
    dx, dw = tangents
    # d/dx: the kernel is handed over as HWOI, so the transposed (input-gradient)
    # convolution reads it as a plain HWIO kernel.
    t_x = lax.conv_general_dilated(dx, jnp.transpose(w, (0, 1, 3, 2)), strides, pad,
                                   rhs_dilation=dil,
                                   dimension_numbers=("NHWC", "HWOI", "NHWC"))
    if _weight_grad_by_taps(x, w, strides, pad, dil):
        t_w = _tap_matmuls(x, dw, strides, pad, dil)
    else:
        # d/dw: images as CHWN and the output as HWNC, so the weight-gradient convolution
        # has channels as its batch and the examples as its features (canonical again).
        t_w = jnp.transpose(lax.conv_general_dilated(
            jnp.transpose(x, (3, 1, 2, 0)), jnp.transpose(dw, (2, 0, 1, 3)), strides, pad,
            rhs_dilation=dil, dimension_numbers=("CHWN", "IHWO", "HWNC")), (2, 0, 1, 3))
    return _plain(x, w, strides, pad, dil), t_x + t_w


def _weight_grad_by_taps(x, w, strides, pad, dil) -> bool:
    # XLA:CPU's weight-gradient convolution is slow when the convolution has no padding:
    # one matmul per kernel tap is faster over a range of unpadded shapes (channels,
    # kernel sizes, strides), while with 'SAME' padding the convolution wins about as
    # often as it loses. The kh * kw tap slices are copies that live together: past
    # _TAP_BYTES of them the convolution (no copies) is kept, bounding the extra memory.
    if jax.default_backend() != "cpu":
        return False
    pad = _explicit_pads(x, w.shape[:2], strides, pad, dil)
    if any(tuple(p) != (0, 0) for p in pad):
        return False
    ho, wo = (window_out(n, k, s, "VALID", 0, d)
              for n, k, s, d in zip(x.shape[1:3], w.shape[:2], strides, dil))
    slices = w.shape[0] * w.shape[1] * x.shape[0] * ho * wo * x.shape[3]
    return slices * jnp.dtype(x.dtype).itemsize <= _TAP_BYTES


_TAP_BYTES = 128 * 2**20


def _tap_matmuls(x, dw, strides, pad, dil):
    r""":math:`\sum_{i,j} x_{\downarrow ij} \, dw_{ij}`, one ``(B H' W', C) @ (C, O)``
    matmul per kernel tap: its transpose, the weight gradient, is one matmul per tap."""
    kh, kw, cin, out = dw.shape
    taps = _tap_slices(x, (kh, kw), strides, pad, dil)

    def term(k):
        return taps[k].reshape(-1, cin) @ dw[k // kw, k % kw]
    return sum((term(k) for k in range(1, len(taps))), term(0)).reshape(
        *taps[0].shape[:-1], out)


def _image_shape(layer: str, input_shape: Any) -> tuple[int, ...]:
    """``input_shape`` validated as one NHWC example: ``(height, width, channels)``."""
    shape = as_shape(input_shape, layer)
    if len(shape) != 3:
        hint = (f"; images here are NHWC (batch, height, width, channels): for grayscale "
                f"images without a channel axis add one, x[..., None] (input_shape "
                f"{(*shape, 1)})" if len(shape) == 2 else "")
        raise ValueError(f"{layer} expects input_shape (height, width, channels), got "
                         f"{shape}{hint}")
    if shape[0] in (1, 3) and shape[0] < shape[1] == shape[2]:
        warnings.warn(f"{layer}: input_shape {shape} looks like NCHW (channels, height, "
                      f"width), but images here are NHWC: this layer gets {shape[2]} "
                      f"channels of {shape[0]}x{shape[1]} pixels; for NCHW data use "
                      f"input_shape {(shape[1], shape[2], shape[0])} and "
                      f"x.transpose(0, 2, 3, 1)", stacklevel=3)
    return shape


def _check_nhwc(layer: str, x: jax.Array, channels: int) -> None:
    """Raise unless ``x`` is a batch of NHWC images with ``channels`` channels."""
    if x.ndim != 4 or x.shape[-1] != channels:
        hint = ""
        if x.ndim == 4 and x.shape[1] == channels:
            hint = "; NCHW input? NHWC is x.transpose(0, 2, 3, 1)"
        elif x.ndim == 3 and channels == 1 and x.shape[-1] != 1:
            hint = ("; grayscale images (batch, height, width) without a channel axis? "
                    "add one: x[..., None]")
        elif x.ndim == 3 and x.shape[-1] == channels:
            hint = "; a single image? add the batch axis: x[None]"
        raise ValueError(f"{layer} expects NHWC inputs (batch, height, width, {channels}), "
                         f"got {tuple(x.shape)}{hint}")


def conv2d(features: int, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] = 1,
           padding: Any = "SAME", dilation: int | tuple[int, int] = 1, *,
           w_init: Optional[Initializer] = None, b_init: Optional[Initializer] = None,
           use_bias: bool = True) -> Layer:
    """2-D cross-correlation (what deep learning calls convolution), NHWC in and out.

    ``y[n,i,j,o] = b[o] + Σ_{p,q,c} x[n, s·i + d·p − pad, s·j + d·q − pad, c] · W[p,q,c,o]``

    The kernel ``W`` is HWIO: ``(kh, kw, in_channels, features)``. Parameters:
    ``{'w': W, 'b': b}``. Defaults follow ``torch.nn.Conv2d``: ``W`` from
    ``nf.init.fan_in_uniform`` and ``b ~ U(-1/√fan_in, 1/√fan_in)`` with
    ``fan_in = kh·kw·in_channels``. An input of another dtype than the kernel (uint8
    images, float64 data) is computed in their promoted dtype, as ``dense`` does. An
    ``input_shape`` that looks like NCHW (``(1 or 3, n, n)``) gets a warning: images
    here are NHWC.

    Args:
      features: number of output channels (> 0).
      kernel_size: ``k`` or ``(kh, kw)``.
      stride: ``s`` or ``(sh, sw)``.
      padding: ``'SAME'`` (output ``ceil(size / stride)``, extra padding at the end like
        torch's ``'same'``), ``'VALID'`` (no padding), an int ``p`` (``p`` zeros on every
        side, torch's ``padding=p``), ``(ph, pw)`` or ``((top, bottom), (left, right))``.
      dilation: ``d`` or ``(dh, dw)``: kernel taps are ``d`` pixels apart.
      w_init, b_init: initializers ``(key, shape, dtype) -> Array``; defaults above.
      use_bias: whether to add ``b``.

    Returns:
      A ``Layer`` taking ``(batch, height, width, in_channels)``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> layer = conv2d(8, 3, stride=2)
      >>> params, state = layer.init(jax.random.key(0), (28, 28, 1))
      >>> params['w'].shape
      (3, 3, 1, 8)
      >>> y, _ = layer.apply(params, state, jnp.ones((4, 28, 28, 1)))
      >>> y.shape
      (4, 14, 14, 8)
    """
    check_int("features", features, minimum=1, allowed=POSITIVE_INT)
    use_bias = check_bool("use_bias", use_bias)
    kernel = as_pair("kernel_size", kernel_size)
    strides = as_pair("stride", stride)
    dil = as_pair("dilation", dilation)
    pad = as_padding(padding)

    def init(key: jax.Array, input_shape: tuple[int, ...]) -> tuple[dict, dict]:
        shape = _image_shape("conv2d", input_shape)
        check_fits("conv2d", shape[:2], kernel, strides, pad, dil)
        fan_in = kernel[0] * kernel[1] * shape[2]
        return kernel_params(key, (*kernel, shape[2], features), fan_in, w_init, b_init,
                             use_bias), {}

    def apply(params: dict, state: dict, x: jax.Array, *, train: bool = False,
              key: Any = None) -> tuple[jax.Array, dict]:
        w = params["w"]
        _check_nhwc("conv2d", x, w.shape[2])
        check_fits("conv2d", x.shape[1:3], kernel, strides, pad, dil)
        dtype = jnp.result_type(x, w)       # as dense: uint8 images, float64 inputs
        y = _conv(x.astype(dtype), w.astype(dtype), strides, pad, dil)
        if use_bias:
            y = y + params["b"]
        return y, state

    return Layer(init, apply, name="conv2d")


# ---------------------------------------------------------------------------------------
# transposed convolution

def _plain_t(x, w, strides, pad, dil):
    """torch's transposed convolution: the input dilated by the stride, convolved with the
    spatially flipped kernel (``pad`` already holds the transposed padding)."""
    return lax.conv_general_dilated(x, lax.rev(w, (0, 1)), window_strides=(1, 1),
                                    padding=pad, lhs_dilation=strides, rhs_dilation=dil,
                                    dimension_numbers=_DIMS)


def _torch_pads(pad, kernel, dil):
    """torch's ``(padding, output_padding)`` per axis, from the forward pass's pads."""
    return tuple((d * (k - 1) - lo, hi - lo) for (lo, hi), k, d in zip(pad, kernel, dil))


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4))
def _conv_t(x, w, strides, pad, dil):
    """``_plain_t`` with a tangent whose reverse-mode transposes are canonical convolutions."""
    return _plain_t(x, w, strides, pad, dil)


@_conv_t.defjvp
def _conv_t_jvp(strides, pad, dil, primals, tangents):
    x, w = primals
    dx, dw = tangents
    # d/dx: the flipped kernel handed over as HWOI; its transpose (the input gradient, a
    # strided convolution of the output cotangent) reads it as a plain HWIO kernel.
    t_x = lax.conv_general_dilated(dx, jnp.transpose(lax.rev(w, (0, 1)), (0, 1, 3, 2)),
                                   (1, 1), pad, lhs_dilation=strides, rhs_dilation=dil,
                                   dimension_numbers=("NHWC", "HWOI", "NHWC"))
    # d/dw: written as a convolution of the kernel tangent (the image: batch = out
    # channels, features = in channels, dilated by d) with the flipped input (the kernel,
    # dilated by the stride: in = in channels, out = examples). Its transpose, the weight
    # gradient, is then the canonical convolution of the output cotangent (batch = out
    # channels, features = examples) with the input as an HWIO kernel, strided by d and
    # dilated by the stride: no base dilation, no window reversal.
    pad_w = tuple(((n - 1) * s - p, (n - 1) * s - p + op) for n, s, (p, op)
                  in zip(x.shape[1:3], strides, _torch_pads(pad, w.shape[:2], dil)))
    t_w = lax.conv_general_dilated(jnp.transpose(dw, (3, 0, 1, 2)),
                                   lax.rev(jnp.transpose(x, (1, 2, 0, 3)), (0, 1)), (1, 1),
                                   pad_w, lhs_dilation=dil, rhs_dilation=strides,
                                   dimension_numbers=("NHWC", "HWOI", "NHWC"))
    return _plain_t(x, w, strides, pad, dil), t_x + jnp.transpose(t_w, (3, 1, 2, 0))


def conv_transpose2d(features: int, kernel_size: int | tuple[int, int],
                     stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
                     output_padding: int | tuple[int, int] = 0,
                     dilation: int | tuple[int, int] = 1, *,
                     w_init: Optional[Initializer] = None,
                     b_init: Optional[Initializer] = None, use_bias: bool = True) -> Layer:
    """2-D transposed convolution (``torch.nn.ConvTranspose2d``), NHWC in and out.

    ``y[n,o,u,c] = b[c] + Σ_{i,j,p,q,m : o = s·i − pad + d·p, u = s·j − pad + d·q}
    x[n,i,j,m] · W[p,q,m,c]``

    Each input pixel scatters ``W``, scaled by its value, into the output at ``stride``
    steps: the gradient of ``conv2d`` with respect to its input, so a ``conv2d`` with the
    same ``kernel_size``, ``stride``, ``padding`` and ``dilation`` maps the output shape back
    to the input shape. Output size per spatial axis:
    ``(size − 1)·s − 2·pad + d·(k − 1) + output_padding + 1``; ``output_padding`` adds rows
    and columns at the bottom and right (it picks one of the several output sizes a
    strided ``conv2d`` maps to the same input size).

    The kernel ``W`` is HWIO: ``(kh, kw, in_channels, features)``; a torch weight
    ``(in_channels, features, kh, kw)`` converts with ``w_torch.permute(2, 3, 0, 1)``.
    Parameters: ``{'w': W, 'b': b}``. Defaults follow ``torch.nn.ConvTranspose2d``:
    ``W`` and ``b`` from ``U(-1/√fan_in, 1/√fan_in)`` with ``fan_in = features·kh·kw``
    (torch's fan_in of its ``(in, out, kh, kw)`` weight). Integer inputs (e.g. uint8
    images) are cast to the kernel's dtype.

    Args:
      features: number of output channels (> 0).
      kernel_size: ``k`` or ``(kh, kw)``.
      stride: ``s`` or ``(sh, sw)``.
      padding: ``pad`` or ``(ph, pw)``, ``>= 0``: ``d·(k − 1) − pad`` zeros of implicit
        padding, i.e. ``pad`` rows and columns cropped from each border of the full
        transposed convolution (torch's ``padding``).
      output_padding: ``op`` or ``(oph, opw)``, ``>= 0``; on each axis it must be smaller
        than the stride or the dilation (torch's rule).
      dilation: ``d`` or ``(dh, dw)``: kernel taps are ``d`` pixels apart.
      w_init, b_init: initializers ``(key, shape, dtype) -> Array``; defaults above.
      use_bias: whether to add ``b``.

    Returns:
      A ``Layer`` taking ``(batch, height, width, in_channels)``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> layer = conv_transpose2d(8, 3, stride=2, padding=1, output_padding=1)
      >>> params, state = layer.init(jax.random.key(0), (7, 7, 32))
      >>> params['w'].shape
      (3, 3, 32, 8)
      >>> y, _ = layer.apply(params, state, jnp.ones((4, 7, 7, 32)))
      >>> y.shape
      (4, 14, 14, 8)
    """
    check_int("features", features, minimum=1, allowed=POSITIVE_INT)
    use_bias = check_bool("use_bias", use_bias)
    kernel = as_pair("kernel_size", kernel_size)
    strides = as_pair("stride", stride)
    dil = as_pair("dilation", dilation)
    pads = as_pair("padding", padding, minimum=0)
    out_pads = as_pair("output_padding", output_padding, minimum=0)
    for axis in range(2):
        if out_pads[axis] >= strides[axis] and out_pads[axis] >= dil[axis]:
            raise ValueError(
                f"output_padding must be smaller than either stride or dilation on each "
                f"axis (torch's rule), got output_padding={output_padding!r} with "
                f"stride={stride!r} and dilation={dilation!r}")
    # The forward pass convolves the stride-dilated input: these are its (lo, hi) pads.
    lax_pad = tuple((d * (k - 1) - p, d * (k - 1) - p + op)
                    for k, d, p, op in zip(kernel, dil, pads, out_pads))
    fan_in = features * kernel[0] * kernel[1]

    def out_size(spatial: tuple[int, ...]) -> tuple[int, int]:
        out = tuple((int(n) - 1) * s - 2 * p + d * (k - 1) + op + 1
                    for n, s, p, d, k, op in zip(spatial, strides, pads, dil, kernel,
                                                 out_pads))
        if min(out) < 1:
            raise ValueError(
                f"conv_transpose2d: input of spatial shape {tuple(spatial)} with kernel_size "
                f"{kernel}, stride {strides}, padding {pads}, output_padding {out_pads} and "
                f"dilation {dil} gives output spatial shape {out}; padding crops too much "
                f"(output size is (size - 1)*stride - 2*padding + dilation*(kernel - 1) + "
                f"output_padding + 1)")
        return out

    def init(key: jax.Array, input_shape: tuple[int, ...]) -> tuple[dict, dict]:
        shape = _image_shape("conv_transpose2d", input_shape)
        out_size(shape[:2])
        return kernel_params(key, (*kernel, shape[2], features), fan_in,
                             w_init or symmetric_uniform(fan_in),
                             b_init or symmetric_uniform(fan_in), use_bias), {}

    def apply(params: dict, state: dict, x: jax.Array, *, train: bool = False,
              key: Any = None) -> tuple[jax.Array, dict]:
        w = params["w"]
        _check_nhwc("conv_transpose2d", x, w.shape[2])
        out_size(x.shape[1:3])
        dtype = jnp.result_type(x, w)
        y = _conv_t(x.astype(dtype), w.astype(dtype), strides, lax_pad, dil)
        if use_bias:
            y = y + params["b"]
        return y, state

    return Layer(init, apply, name="conv_transpose2d")
