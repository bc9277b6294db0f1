"""Autoencoders: ``decoder ∘ encoder``, a dense one in one line, and a convolutional one.

An autoencoder compresses ``x ∈ R^d`` to a code ``x' = encoder(x) ∈ R^{d'}`` and rebuilds
``x̂ = decoder(x')``; trained on ``L = ‖x̂ − x‖²`` with the inputs as their own targets
(``nf.train.fit(model, opt, nf.losses.mse, X, ...)``). Denoising and sparse variants are
the same model with a corruption layer (``nf.layers.masking_noise``, ...) in front of the
encoder, or an ``nf.layers.activity_regularizer`` on the code.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import jax

from nnfunc import activations as _act
from nnfunc._checks import as_shape, check_int
from nnfunc.layers import (Layer, activation as _activation, apply_child, conv2d,
                           conv_transpose2d, dense, flatten, infer_out_shape, reshape, serial,
                           split_key)

__all__ = ["autoencoder", "dense_autoencoder", "conv_autoencoder"]

Activation = Optional[Callable[[jax.Array], jax.Array]]


def autoencoder(encoder: Layer, decoder: Layer) -> Layer:
    """The autoencoder ``x̂ = decoder(encoder(x))``.

    Params and state are ``{'encoder': ..., 'decoder': ...}``, so the codes of a trained
    model are ``encoder.apply(params['encoder'], state['encoder'], x)``. ``init`` checks
    that the decoder takes the encoder's output and rebuilds the input's shape, and names
    both layers and the shapes when not. In ``apply`` the ``key`` is split between the two.

    Args:
      encoder: ``x -> code``.
      decoder: ``code -> x̂``, with ``x̂`` shaped like ``x``.

    Returns:
      A ``Layer`` whose ``children`` are ``(encoder, decoder)``.

    Example:
      >>> import jax, jax.numpy as jnp, nnfunc as nf
      >>> ae = autoencoder(nf.layers.dense(2), nf.layers.dense(5))
      >>> params, state = ae.init(jax.random.key(0), (5,))
      >>> sorted(params), params['encoder']['w'].shape
      (['decoder', 'encoder'], (5, 2))
      >>> x_hat, _ = ae.apply(params, state, jnp.ones((3, 5)))
      >>> x_hat.shape
      (3, 5)
    """
    for name, layer in (("encoder", encoder), ("decoder", decoder)):
        if not isinstance(layer, Layer):
            raise ValueError(f"autoencoder: {name} must be an nf.layers.Layer, got "
                             f"{type(layer).__name__}")

    def init(key: jax.Array, input_shape: tuple[int, ...]) -> tuple[dict, dict]:
        shape = as_shape(input_shape, "autoencoder")
        k_enc, k_dec = split_key(key, 2)
        p_enc, s_enc = encoder.init(k_enc, shape)
        code = infer_out_shape(encoder, p_enc, s_enc, shape)
        try:
            p_dec, s_dec = decoder.init(k_dec, code)
            out = infer_out_shape(decoder, p_dec, s_dec, code)
        except ValueError as err:
            raise ValueError(f"autoencoder: the decoder ({decoder.name}) cannot take the "
                             f"encoder ({encoder.name})'s output of shape {code}: "
                             f"{err}") from err
        if out != shape:
            raise ValueError(f"autoencoder: the decoder ({decoder.name}) maps the encoder "
                             f"({encoder.name})'s code of shape {code} to shape {out}, but "
                             f"it must rebuild the input shape {shape}")
        return {"encoder": p_enc, "decoder": p_dec}, {"encoder": s_enc, "decoder": s_dec}

    def apply(params: dict, state: dict, x: jax.Array, *, train: bool = False,
              key: Any = None) -> tuple[jax.Array, dict]:
        k_enc, k_dec = split_key(key, 2)
        code, s_enc = apply_child("autoencoder: encoder", "encoder", encoder,
                                  params["encoder"], state["encoder"], x, train=train,
                                  key=k_enc)
        x_hat, s_dec = apply_child("autoencoder: decoder", "decoder", decoder,
                                   params["decoder"], state["decoder"], code, train=train,
                                   key=k_dec)
        return x_hat, {"encoder": s_enc, "decoder": s_dec}

    return Layer(init, apply, name="autoencoder", children=(encoder, decoder))


def _dense_stack(sizes: Sequence[int], activation: Activation, last: Activation) -> Layer:
    """``dense → activation`` for every width of ``sizes``; ``last`` after the final one."""
    layers: list[Layer] = []
    for i, width in enumerate(sizes):
        layers.append(dense(width))
        act = last if i == len(sizes) - 1 else activation
        if act is not None:
            layers.append(_activation(act))
    return serial(*layers)


def dense_autoencoder(sizes: Sequence[int], *, activation: Activation = _act.relu,
                      code_activation: Activation = None,
                      output_activation: Activation = None) -> Layer:
    """A dense (MLP) autoencoder ``sizes[0] → ... → sizes[-1] → ... → sizes[0]``.

    The encoder is ``dense(sizes[1]) → act → ... → dense(sizes[-1]) → [code_activation]``
    and the decoder mirrors it back to ``sizes[0]``, ending in ``[output_activation]``
    (e.g. ``nf.activations.sigmoid`` for pixels in [0, 1]). ``activation=None`` gives the
    linear autoencoder, whose optimum is PCA's rank-``sizes[-1]`` reconstruction.

    Args:
      sizes: ``[d, h₁, ..., d']``: the input width first, the code width last.
      activation: hidden activation (``None``: linear).
      code_activation: applied to the code (e.g. sigmoid for a sparse autoencoder).
      output_activation: applied to the reconstruction.

    Returns:
      ``autoencoder(encoder, decoder)``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> ae = dense_autoencoder([784, 128, 32])
      >>> params, state = ae.init(jax.random.key(0), (784,))
      >>> [p['w'].shape for p in params['decoder'] if p]
      [(32, 128), (128, 784)]
    """
    try:
        widths = [int(s) for s in sizes]
    except (TypeError, ValueError):
        widths = []
    if len(widths) < 2 or any(w <= 0 or w != s or isinstance(s, bool)
                              for w, s in zip(widths, sizes)):
        raise ValueError(f"dense_autoencoder sizes must be at least two positive ints "
                         f"(input width first, code width last), got {sizes!r}")
    encoder = _dense_stack(widths[1:], activation, code_activation)
    decoder = _dense_stack(widths[-2::-1], activation, output_activation)
    return autoencoder(encoder, decoder)


def conv_autoencoder(input_shape: Sequence[int] = (28, 28, 1), *,
                     channels: Sequence[int] = (16, 32), code: int = 32,
                     activation: Activation = _act.relu,
                     output_activation: Activation = _act.sigmoid) -> Layer:
    """A convolutional autoencoder for NHWC images.

    Encoder: ``conv 3×3, stride 2, pad 1`` per entry of ``channels`` (each halves the
    height and width), each followed by ``activation``, then ``flatten → dense(code)``.
    Decoder: ``dense → activation → reshape`` back to the smallest feature map, then one
    ``conv_transpose2d 3×3, stride 2, pad 1, output_padding 1`` per level (doubling the
    size; the last one has the image's channels) and ``output_activation``. For 28×28×1:
    28×28×1 → 14×14×16 → 7×7×32 → 32 → 7×7×32 → 14×14×16 → 28×28×1.

    Args:
      input_shape: ``(height, width, channels)``; height and width divisible by
        ``2 ** len(channels)``.
      channels: feature maps per downsampling level.
      code: the code width.
      activation: hidden activation.
      output_activation: applied to the reconstruction (sigmoid for pixels in [0, 1]).

    Returns:
      ``autoencoder(encoder, decoder)``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> ae = conv_autoencoder((28, 28, 1), channels=(8, 16), code=10)
      >>> params, state = ae.init(jax.random.key(0), (28, 28, 1))
      >>> y, _ = ae.apply(params, state, jnp.zeros((2, 28, 28, 1)))
      >>> y.shape
      (2, 28, 28, 1)
    """
    shape = as_shape(input_shape, "conv_autoencoder")
    if len(shape) != 3:
        hint = (f": add the channel axis to grayscale images, x[..., None] (input_shape "
                f"{(*shape, 1)})" if len(shape) == 2 else "")
        raise ValueError(f"conv_autoencoder: input_shape must be (height, width, channels), "
                         f"got {input_shape!r}{hint}")
    h, w, c = shape
    check_int("code", code, minimum=1, allowed="a positive int")
    levels = len(channels)
    if levels < 1 or any(not isinstance(ch, int) or ch <= 0 for ch in channels):
        raise ValueError(f"conv_autoencoder channels must be a non-empty sequence of "
                         f"positive ints, got {channels!r}")
    if h % 2 ** levels or w % 2 ** levels:
        raise ValueError(f"conv_autoencoder: input height and width must be divisible by "
                         f"2 ** len(channels) = {2 ** levels}, got input_shape "
                         f"{tuple(input_shape)}")
    act = (lambda: [_activation(activation)]) if activation is not None else list
    enc: list[Layer] = []
    for ch in channels:
        enc += [conv2d(ch, 3, stride=2, padding=1), *act()]
    enc += [flatten(), dense(code)]
    small = (h // 2 ** levels, w // 2 ** levels, channels[-1])
    dec: list[Layer] = [dense(small[0] * small[1] * small[2]), *act(), reshape(small)]
    outs = list(channels[-2::-1]) + [c]
    for i, ch in enumerate(outs):
        dec.append(conv_transpose2d(ch, 3, stride=2, padding=1, output_padding=1))
        if i < len(outs) - 1:
            dec += act()
    if output_activation is not None:
        dec.append(_activation(output_activation))
    return autoencoder(serial(*enc), serial(*dec))
