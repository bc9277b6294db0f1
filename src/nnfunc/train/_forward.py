"""The model's forward pass as training and its checks run it: :func:`forward` (with the
mixed-precision casts) and :func:`output_spec` (its output traced abstractly).

Internal API of ``nnfunc.train`` (names without an underscore, not exported by the package).
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from nnfunc import tree as _tree
from nnfunc.layers import Layer
from nnfunc.train.state import TrainState

PyTree = Any


def forward(model: Layer, params: PyTree, model_state: PyTree, x: jax.Array, *,
            train: bool, key: Any, mixed_precision: bool) -> tuple[jax.Array, PyTree]:
    """``model.apply``; with mixed precision, params and inputs are cast to bfloat16 for
    the computation while the float32 master copy is what gets differentiated (the cast
    is part of the graph), and outputs and model state come back in their own dtypes."""
    if not mixed_precision:
        return model.apply(params, model_state, x, train=train, key=key)
    y, new_state = model.apply(_tree.cast(params, jnp.bfloat16), model_state,
                               _tree.cast(x, jnp.bfloat16), train=train, key=key)
    new_state = jax.tree_util.tree_map(lambda n, o: n.astype(o.dtype), new_state, model_state)
    return _tree.cast(y, jnp.float32), new_state


def output_spec(model: Layer, ts: TrainState, x: jax.Array, mixed_precision: bool) -> Any:
    """The model's output (shape and dtype) for two examples of ``x``, traced abstractly."""
    return jax.eval_shape(lambda p, s, v: forward(
        model, p, s, v, train=False, key=None, mixed_precision=mixed_precision)[0],
        ts.params, ts.model_state, x[:2])
