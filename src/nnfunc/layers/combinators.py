"""Combinators: build one layer out of several (serial, parallel, residual)."""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from nnfunc._checks import as_shape
from nnfunc.layers._base import Layer, apply_child, infer_out_shape, split_key

__all__ = ["serial", "parallel", "residual"]


def _check_layers(combinator: str, layers: tuple) -> None:
    if not layers:
        raise ValueError(f"{combinator} needs at least one layer, got none")
    for i, layer in enumerate(layers):
        if not (isinstance(layer, tuple) and len(layer) == 2 and callable(layer[0])
                and callable(layer[1])):
            raise ValueError(f"{combinator}: argument {i} must be a Layer (init, apply), "
                             f"got {layer!r}")


def _as_layer(layer: Any) -> Layer:
    return layer if isinstance(layer, Layer) else Layer(*layer)


def _init_child(where: str, layer: Layer, key: jax.Array, shape: tuple[int, ...]):
    """Initialise one child and infer its output shape, naming it in any shape error."""
    try:
        params, state = layer.init(key, shape)
        out = infer_out_shape(layer, params, state, shape)
    except ValueError as err:
        raise ValueError(f"{where} ({layer.name}) received input_shape {shape}: {err}") from err
    return params, state, out


def serial(*layers: Layer) -> Layer:
    """Compose layers in order: ``y = f_k(... f_2(f_1(x)))``.

    Params and state are tuples with one entry per layer (``params[i]`` belongs to
    ``layers[i]``; parameterless layers hold ``{}``), so a leaf's path reads e.g.
    ``[0]['w']`` and ``jax.tree_util.tree_map_with_path`` can find every ``'b'`` by name.
    ``init`` threads the shape through the layers; a layer that cannot take the shape it
    receives raises ``ValueError`` naming its position, the expected and received shape.
    In ``apply`` the ``key``, when given, is split into one key per layer.

    Args:
      *layers: the layers, first applied first.

    Returns:
      A ``Layer``; ``layer.children`` lists the layers.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from nnfunc.layers import dense, activation
      >>> net = serial(dense(8), activation(jnp.tanh), dense(2))
      >>> params, state = net.init(jax.random.key(0), (3,))
      >>> [p['w'].shape for p in params if p]
      [(3, 8), (8, 2)]
      >>> y, state = net.apply(params, state, jnp.ones((5, 3)))
      >>> y.shape
      (5, 2)
    """
    _check_layers("serial", layers)
    layers = tuple(_as_layer(layer) for layer in layers)
    n = len(layers)

    def init(key: jax.Array, input_shape: tuple[int, ...]) -> tuple[tuple, tuple]:
        shape = as_shape(input_shape, "serial")
        all_params, all_states = [], []
        for i, (layer, k) in enumerate(zip(layers, split_key(key, n))):
            params, state, shape = _init_child(f"serial: layer {i}", layer, k, shape)
            all_params.append(params)
            all_states.append(state)
        return tuple(all_params), tuple(all_states)

    def apply(params: tuple, state: tuple, x: jax.Array, *, train: bool = False,
              key: Any = None) -> tuple[jax.Array, tuple]:
        if len(params) != n or len(state) != n:
            raise ValueError(f"serial of {n} layers got params of length {len(params)} and "
                             f"state of length {len(state)}")
        new_states = []
        for i, (layer, p, s, k) in enumerate(zip(layers, params, state, split_key(key, n))):
            x, s = apply_child(f"serial: layer {i}", i, layer, p, s, x, train=train, key=k)
            new_states.append(s)
        return x, tuple(new_states)

    return Layer(init, apply, name="serial", children=layers)


def parallel(*layers: Layer, merge: str = "concat") -> Layer:
    """Feed one input to several branches and merge their outputs.

    ``merge='concat'``: ``y = concat([f_1(x), ..., f_k(x)], axis=-1)`` (outputs must agree
    on every axis but the last); ``merge='add'``: ``y = Σ_i f_i(x)`` (outputs must have
    one shape). Params and state are tuples with one entry per branch.

    Args:
      *layers: the branches.
      merge: ``'concat'`` or ``'add'``.

    Returns:
      A ``Layer``; ``layer.children`` lists the branches.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from nnfunc.layers import dense
      >>> net = parallel(dense(2), dense(3))
      >>> params, state = net.init(jax.random.key(0), (4,))
      >>> y, _ = net.apply(params, state, jnp.ones((5, 4)))
      >>> y.shape
      (5, 5)
    """
    _check_layers("parallel", layers)
    if merge not in ("concat", "add"):
        raise ValueError(f"parallel merge must be 'concat' or 'add', got {merge!r}")
    layers = tuple(_as_layer(layer) for layer in layers)
    n = len(layers)

    def init(key: jax.Array, input_shape: tuple[int, ...]) -> tuple[tuple, tuple]:
        shape = as_shape(input_shape, "parallel")
        outs, all_params, all_states = [], [], []
        for i, (layer, k) in enumerate(zip(layers, split_key(key, n))):
            params, state, out = _init_child(f"parallel: branch {i}", layer, k, shape)
            all_params.append(params)
            all_states.append(state)
            outs.append(out)
        for i, out in enumerate(outs[1:], start=1):
            ok = out == outs[0] if merge == "add" else (
                len(out) == len(outs[0]) and out[:-1] == outs[0][:-1])
            if not ok:
                want = f"{outs[0]}" if merge == "add" else f"{outs[0][:-1]} + (any,)"
                raise ValueError(f"parallel(merge={merge!r}): branch {i} outputs shape {out} "
                                 f"but branch 0 outputs {outs[0]}; expected {want}")
        return tuple(all_params), tuple(all_states)

    def apply(params: tuple, state: tuple, x: jax.Array, *, train: bool = False,
              key: Any = None) -> tuple[jax.Array, tuple]:
        ys, new_states = [], []
        for i, (layer, p, s, k) in enumerate(zip(layers, params, state, split_key(key, n))):
            y, s = apply_child(f"parallel: branch {i}", i, layer, p, s, x, train=train, key=k)
            ys.append(y)
            new_states.append(s)
        y = jnp.concatenate(ys, axis=-1) if merge == "concat" else sum(ys[1:], ys[0])
        return y, tuple(new_states)

    return Layer(init, apply, name="parallel", children=layers)


def residual(*layers: Layer) -> Layer:
    """Skip connection: ``y = x + f(x)`` with ``f = serial(*layers)``.

    ``f`` must preserve the shape of its input; ``init`` raises ``ValueError`` otherwise.
    Params and state are those of ``serial(*layers)``.

    Args:
      *layers: the body ``f``, applied in order.

    Returns:
      A ``Layer``; ``layer.children`` lists the body's layers (its params are the body's).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import nnfunc as nf
      >>> from nnfunc.layers import dense
      >>> block = residual(dense(4, w_init=nf.init.zeros, b_init=nf.init.zeros))
      >>> params, state = block.init(jax.random.key(0), (4,))
      >>> y, _ = block.apply(params, state, jnp.ones((2, 4)))
      >>> bool((y == 1).all())
      True
    """
    _check_layers("residual", layers)
    body = serial(*layers)

    def init(key: jax.Array, input_shape: tuple[int, ...]) -> tuple[tuple, tuple]:
        shape = as_shape(input_shape, "residual")
        params, state, out = _init_child("residual: body", body, key, shape)
        if out != shape:
            raise ValueError(f"residual: the body must preserve the shape: expected output "
                             f"{shape}, got {out}")
        return params, state

    def apply(params: tuple, state: tuple, x: jax.Array, *, train: bool = False,
              key: Any = None) -> tuple[jax.Array, tuple]:
        y, state = body.apply(params, state, x, train=train, key=key)
        return x + y, state

    return Layer(init, apply, name="residual", children=body.children)
