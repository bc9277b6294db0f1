"""The ``Layer`` type, shape inference and the argument checks every layer shares.

A ``Layer`` is a NamedTuple of exactly two pure functions, as the contract pins::

    params, state = layer.init(key, input_shape)      # input_shape excludes the batch axis
    y, state = layer.apply(params, state, x, *, train=False, key=None)

Output shapes are not a third field: they are worked out by abstract evaluation
(``jax.eval_shape``) of ``init`` and ``apply``, so any pair of functions that follows the
contract (including one a user writes by hand) takes part in shape inference for free.
A layer's display name and, for containers, its children ride along as attributes of its
``apply`` function; ``Layer.name`` and ``Layer.children`` read them back.
"""
from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp

from nnfunc import init as _init

Shape = tuple[int, ...]

__all__ = ["Layer", "output_shape"]


class Layer(NamedTuple):
    """A layer: the pair ``(init, apply)`` of pure functions.

    ``init(key, input_shape) -> (params, state)`` builds the parameters (a dict of named
    arrays, e.g. ``{'w': ..., 'b': ...}``) and the non-trained state (e.g. batch-norm
    running statistics; ``{}`` for stateless layers) for inputs whose shape, without
    the batch axis, is ``input_shape``.

    ``apply(params, state, x, *, train=False, key=None) -> (y, state)`` runs the layer on
    a batch ``x`` of shape ``(batch, *input_shape)``; ``train`` (a Python bool: it picks
    the code path while tracing) selects training behaviour (dropout, batch statistics)
    and ``key`` feeds the layers that draw random numbers. Shapes are checked when
    ``apply`` is traced, so a wrong input raises ``ValueError`` before any arithmetic.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from nnfunc import layers
      >>> layer = layers.dense(3)
      >>> init, apply = layer
      >>> params, state = init(jax.random.key(0), (2,))
      >>> y, state = apply(params, state, jnp.ones((5, 2)))
      >>> y.shape, layer.name
      ((5, 3), 'dense')
    """

    init: Callable[..., tuple[Any, Any]]
    apply: Callable[..., tuple[Any, Any]]

    @property
    def name(self) -> str:
        """A short display name (``'dense'``, ``'conv2d'``, ``'serial'``, ...)."""
        return getattr(self.apply, "_nnfunc_name", getattr(self.apply, "__name__", "layer"))

    @property
    def children(self) -> tuple["Layer", ...]:
        """The sub-layers of a ``serial`` container, applied in order; ``()`` otherwise."""
        return getattr(self.apply, "_nnfunc_children", ())


def _make(name: str, init: Callable, apply: Callable,
          children: Sequence[Layer] = ()) -> Layer:
    # Metadata is attached to the (closure-local, hence unique) apply function so the
    # NamedTuple keeps exactly the two contracted fields.
    apply._nnfunc_name = name
    apply._nnfunc_children = tuple(children)
    return Layer(init, apply)


def output_shape(layer: Layer, input_shape: Sequence[int], *,
                 dtype: Any = jnp.float32) -> Shape:
    """The shape (without the batch axis) of ``layer``'s output for ``input_shape`` inputs.

    Computed abstractly with ``jax.eval_shape``: no parameters are materialised and no
    arithmetic runs. Invalid shapes raise the layer's own ``ValueError``.

    Args:
      layer: any ``Layer``.
      input_shape: the input shape without the batch axis.
      dtype: the input dtype to assume.

    Returns:
      The output shape, without the batch axis, as a tuple.

    Example:
      >>> from nnfunc import layers
      >>> layers.output_shape(layers.conv2d(8, 3, stride=2), (28, 28, 1))
      (14, 14, 8)
    """
    shape = _as_shape(input_shape, layer.name)
    params, state = jax.eval_shape(lambda: layer.init(jax.random.key(0), shape))
    return _infer_out_shape(layer, params, state, shape, dtype)


def _infer_out_shape(layer: Layer, params: Any, state: Any, shape: Shape,
                     dtype: Any = jnp.float32) -> Shape:
    # A batch of 2 keeps any layer that needs more than one example per batch happy.
    x = jax.ShapeDtypeStruct((2,) + tuple(shape), dtype)
    y, _ = jax.eval_shape(lambda p, s, v: layer.apply(p, s, v), params, state, x)
    return tuple(int(d) for d in y.shape[1:])


def _is_tracer(x: Any) -> bool:
    return isinstance(x, jax.core.Tracer)


def _as_shape(input_shape: Any, layer_name: str) -> Shape:
    if isinstance(input_shape, int) and not isinstance(input_shape, bool):
        input_shape = (input_shape,)        # a bare width means a 1-D input
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise ValueError(f"{layer_name}: input_shape must be a tuple of positive ints "
                         f"(without the batch axis), got {input_shape!r}") from None
    if not all(isinstance(d, (int,)) or hasattr(d, "__index__") for d in shape) or \
            any(int(d) <= 0 for d in shape):
        raise ValueError(f"{layer_name}: input_shape must be a tuple of positive ints "
                         f"(without the batch axis), got {input_shape!r}")
    return tuple(int(d) for d in shape)


def _no_params_init(layer_name: str) -> Callable[..., tuple[dict, dict]]:
    """``init`` of a layer without parameters or state that takes any input shape."""
    def init(key: jax.Array, input_shape: tuple[int, ...]) -> tuple[dict, dict]:
        _as_shape(input_shape, layer_name)
        return {}, {}
    return init


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _pair(name: str, value: Any) -> tuple[int, int]:
    """An int or a pair of ints, as a validated pair of positive ints."""
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    try:
        pair = tuple(pair)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                 for v in pair):
        raise ValueError(f"{name} must be a positive int or a pair of positive ints, "
                         f"got {value!r}")
    return pair


def _padding(value: Any) -> str | tuple[tuple[int, int], tuple[int, int]]:
    """'SAME' / 'VALID' / int / (ph, pw) / ((top, bottom), (left, right)) -> lax padding."""
    if isinstance(value, str):
        if value.upper() not in ("SAME", "VALID"):
            raise ValueError(f"padding must be 'SAME', 'VALID', an int or pairs of ints, "
                             f"got {value!r}")
        return value.upper()
    def nonneg(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0
    if nonneg(value):
        return ((value, value), (value, value))
    try:
        items = tuple(value)
    except TypeError:
        items = ()
    if len(items) == 2 and all(nonneg(v) for v in items):
        return ((items[0], items[0]), (items[1], items[1]))
    if len(items) == 2 and all(isinstance(p, (tuple, list)) and len(p) == 2
                               and all(nonneg(v) for v in p) for p in items):
        return (tuple(items[0]), tuple(items[1]))
    raise ValueError(f"padding must be 'SAME', 'VALID', a non-negative int, a pair of "
                     f"ints or ((top, bottom), (left, right)), got {value!r}")


def _window_out(size: int, window: int, stride: int, pad: Any, axis: int,
                dilation: int = 1) -> int:
    """Output length of one spatial axis; 0 or less means the window does not fit."""
    eff = (window - 1) * dilation + 1
    if pad == "SAME":
        return -(-size // stride)
    if pad == "VALID":
        lo = hi = 0
    else:
        lo, hi = pad[axis]
    return (size + lo + hi - eff) // stride + 1


def _split(key: Any, n: int) -> list[Any]:
    if key is None:
        return [None] * n
    return list(jax.random.split(key, n))


def _torch_bias_init(fan_in: int) -> Callable[..., jax.Array]:
    """torch.nn.Linear / Conv2d bias rule: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``."""
    bound = 1.0 / math.sqrt(fan_in)

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        return jax.random.uniform(key, tuple(shape), dtype, minval=-bound, maxval=bound)

    return init


def _kernel_params(key: jax.Array, w_shape: tuple[int, ...], fan_in: int, w_init: Any,
                   b_init: Any, use_bias: bool) -> dict:
    """``{'w', 'b'}`` of a dense or conv layer, torch's defaults unless inits are given."""
    k_w, k_b = jax.random.split(key)
    params = {"w": (w_init or _init.fan_in_uniform)(k_w, w_shape)}
    if use_bias:
        params["b"] = (b_init or _torch_bias_init(fan_in))(k_b, (w_shape[-1],))
    return params


def _pad_desc(pad: Any) -> str:
    return repr(pad) if isinstance(pad, str) else str(tuple(tuple(p) for p in pad))


def _check_fits(name: str, spatial: tuple[int, ...], window: tuple[int, int],
                strides: tuple[int, int], pad: Any, dilation: tuple[int, int] = (1, 1)) -> None:
    for axis, (size, k, s, d) in enumerate(zip(spatial, window, strides, dilation)):
        if _window_out(int(size), k, s, pad, axis, d) < 1:
            eff = (k - 1) * d + 1
            raise ValueError(
                f"{name}: window {window} (dilation {dilation}, effective size {eff} on axis "
                f"{'hw'[axis]}) does not fit the input of spatial shape {tuple(spatial)} "
                f"with padding {_pad_desc(pad)}; use a smaller kernel, padding='SAME' or "
                f"larger inputs")
