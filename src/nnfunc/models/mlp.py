"""Multi-layer perceptron and a LeNet-style convolutional network."""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import jax

from nnfunc import activations as _act
from nnfunc.layers import (Layer, activation as _activation, batch_norm as _batch_norm,
                           conv2d, dense, dropout as _dropout, flatten, max_pool, serial)
from nnfunc._checks import POSITIVE_INT, as_shape, check_bool, check_int

__all__ = ["mlp", "cnn"]

Initializer = Callable[..., jax.Array]


def mlp(sizes: Sequence[int], activation: Callable[[jax.Array], jax.Array] = _act.relu,
        output_activation: Optional[Callable[[jax.Array], jax.Array]] = None, *,
        init: Optional[Initializer] = None, b_init: Optional[Initializer] = None,
        dropout: Optional[float] = None, batch_norm: bool = False) -> Layer:
    """Multi-layer perceptron ``sizes[0] → sizes[1] → ... → sizes[-1]``.

    Each hidden layer is ``dense → [batch_norm] → activation → [dropout]``; the last is
    ``dense → [output_activation]`` (no activation by default, so the output is logits).
    It is a ``serial`` of those layers: ``params[i]`` belongs to the ``i``-th of them
    (parameterless ones hold ``{}``), and ``nf.layers.activation_stats`` opens it.

    Args:
      sizes: layer widths including the input width ``sizes[0]`` (at least two entries).
      activation: hidden activation, default ``nf.activations.relu``.
      output_activation: applied to the output, default none.
      init: weight initializer; default torch's ``nn.Linear`` rule
        (``nf.init.fan_in_uniform``).
      b_init: bias initializer; default torch's ``U(-1/√fan_in, 1/√fan_in)``.
      dropout: drop rate after each hidden activation, ``None`` for no dropout.
      batch_norm: insert ``batch_norm()`` after each hidden ``dense``.

    Returns:
      A ``Layer`` on ``(batch, sizes[0])``; ``init`` raises ``ValueError`` unless
      ``input_shape == (sizes[0],)``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import nnfunc as nf
      >>> model = mlp([784, 64, 10], activation=nf.activations.relu)
      >>> params, state = model.init(jax.random.key(0), (784,))
      >>> [p['w'].shape for p in params if 'w' in p]
      [(784, 64), (64, 10)]
      >>> logits, state = model.apply(params, state, jnp.zeros((2, 784)))
      >>> logits.shape
      (2, 10)
    """
    try:
        sizes = [int(s) if not isinstance(s, bool) and int(s) == s else None for s in sizes]
    except (TypeError, ValueError):
        sizes = [None]
    if len(sizes) < 2 or any(s is None or s <= 0 for s in sizes):
        raise ValueError(f"mlp sizes must be a sequence of at least two positive ints "
                         f"(input width first), got {sizes!r}")
    for name, fn in (("activation", activation), ("output_activation", output_activation)):
        if not callable(fn) and not (fn is None and name == "output_activation"):
            raise ValueError(f"{name} must be a callable, got {fn!r}")
    if dropout is not None:
        _dropout(dropout)           # its check: "dropout rate must be in [0, 1)"
    batch_norm = check_bool("batch_norm", batch_norm)
    layers = []
    for width in sizes[1:-1]:
        layers.append(dense(width, w_init=init, b_init=b_init))
        if batch_norm:
            layers.append(_batch_norm())
        layers.append(_activation(activation))
        if dropout is not None:
            layers.append(_dropout(dropout))
    layers.append(dense(sizes[-1], w_init=init, b_init=b_init))
    if output_activation is not None:
        layers.append(_activation(output_activation))
    body = serial(*layers)

    def init_fn(key: jax.Array, input_shape: tuple[int, ...]) -> tuple[tuple, tuple]:
        shape = as_shape(input_shape, "mlp")
        if shape != (sizes[0],):
            raise ValueError(f"mlp expects input_shape ({sizes[0]},) (sizes[0]), got {shape}; "
                             f"flatten images first, e.g. serial(flatten(), mlp(...))")
        return body.init(key, shape)

    return Layer(init_fn, body.apply, name="mlp", children=body.children)


def cnn(num_classes: int = 10, *,
        activation: Callable[[jax.Array], jax.Array] = _act.relu) -> Layer:
    """LeNet-5-style convolutional network for 28×28×1 images (NHWC).

    ``conv 5×5, 6, pad 2 → act → max_pool 2 → conv 5×5, 16 → act → max_pool 2 → flatten →
    dense 120 → act → dense 84 → act → dense num_classes`` (logits). On 28×28×1 inputs
    the shapes are 28×28×6, 14×14×6, 10×10×16, 5×5×16, 400, 120, 84, ``num_classes``.
    Other image sizes work when the windows fit; shape inference reports where not.

    Args:
      num_classes: output width (> 0).
      activation: the nonlinearity, default ``nf.activations.relu``.

    Returns:
      A ``serial`` ``Layer`` on ``(batch, height, width, channels)``. Grayscale images
      without a channel axis (MNIST as ``(N, 28, 28)``) raise ``ValueError``: add the
      axis with ``x[..., None]``. It is not added implicitly, since the model is its
      layers (``summary``, ``activation_stats`` and ``layer_outputs`` run them as they
      are) and a silent reshape there would be invisible to them.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> model = cnn()
      >>> params, state = model.init(jax.random.key(0), (28, 28, 1))
      >>> logits, _ = model.apply(params, state, jnp.zeros((2, 28, 28, 1)))
      >>> logits.shape
      (2, 10)
    """
    check_int("num_classes", num_classes, minimum=1, allowed=POSITIVE_INT)
    act = _activation(activation)
    body = serial(conv2d(6, 5, padding=2), act, max_pool(2),
                  conv2d(16, 5, padding="VALID"), act, max_pool(2), flatten(),
                  dense(120), act, dense(84), act, dense(num_classes))

    def init_fn(key: jax.Array, input_shape: tuple[int, ...]) -> tuple[tuple, tuple]:
        shape = as_shape(input_shape, "cnn")
        if len(shape) == 2:
            raise ValueError(f"cnn expects input_shape (height, width, channels) of NHWC "
                             f"images, got {shape}: add the channel axis to grayscale "
                             f"images, x[..., None] (input_shape {(*shape, 1)})")
        return body.init(key, shape)

    return Layer(init_fn, body.apply, name="cnn", children=body.children)
