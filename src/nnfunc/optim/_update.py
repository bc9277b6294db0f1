"""The pieces an update is made of: torch's step number and bias corrections, weight
decay either way, one fused pass over the leaves, a leaf's norm, and a branchless select
between two states.

Scalar factors (bias corrections, schedules) are computed in the hyperparameters' float
dtype (float32, or float64 under x64), so bfloat16 parameters get float32 bias
corrections.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from nnfunc.optim._base import PyTree, require_params


def torch_step(count: jax.Array, like: jax.Array) -> jax.Array:
    """torch's 1-based step number as a float of the hyperparameters' dtype (>= float32)."""
    return (count + 1).astype(like.dtype)


def bias_corrections(t: jax.Array, *betas: Any) -> tuple[jax.Array, ...]:
    """``1 − βᵢᵗ`` for each ``βᵢ`` (Adam's, RAdam's and LAMB's bias corrections)."""
    return tuple(1 - b ** t for b in betas)


def coupled_decay(grads, params, hp, who):
    """``g + λθ`` (torch's default L2 penalty; Lion adds it to its direction), or
    ``grads`` when λ is compiled out (``None``, see :func:`decay_hparams`)."""
    wd = hp.get("weight_decay")
    if wd is None:
        return grads
    require_params(params, who)
    # in float32 or wider, rounded once to the gradient's dtype (as torch's add(alpha=))
    return jax.tree_util.tree_map(lambda g, p: (g + wd * p).astype(jnp.result_type(g)),
                                  grads, params)


def decay_split(grads, params, hp, lr, decoupled: bool, who: str):
    """Weight decay either way: ``(g + λθ, None)`` (coupled, torch's L2 penalty) or
    ``(g, ηλ)`` for the leaf update to subtract ``ηλθ`` (decoupled, as AdamW); ``(g, None)``
    when λ is compiled out (see :func:`decay_hparams`)."""
    if decoupled and hp.get("weight_decay") is not None:
        require_params(params, who)
        return grads, lr * hp["weight_decay"]
    return coupled_decay(grads, params, hp, who), None


def leafwise(fn: Callable, n_out: int, tree: PyTree, *slots: PyTree | None) -> tuple:
    """Run ``fn(leaf, *slot_leaves) -> n_out values`` once per leaf: one fused pass.

    A slot given as ``None`` (absent) passes ``None`` to ``fn``; leaf positions where ``fn``
    returns ``None`` are stored as ``None``. Returns ``n_out`` trees (``None`` when a whole
    output is absent).
    """
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    cols = [[None] * len(leaves) if s is None else treedef.flatten_up_to(s) for s in slots]
    outs = [fn(*args) for args in zip(leaves, *cols)]
    result = []
    for i in range(n_out):
        col = [o[i] for o in outs]
        absent = bool(col) and all(c is None for c in col)
        result.append(None if absent else treedef.unflatten(col))
    return tuple(result)


def leaf_norm(x: jax.Array) -> jax.Array:
    """‖x‖₂ of one leaf, accumulated in at least float32."""
    acc = jnp.promote_types(x.dtype, jnp.float32)
    return jnp.sqrt(jnp.sum(jnp.square(x.astype(acc))))


def _select_leaf(pred: jax.Array, a: Any, b: Any) -> Any:
    """``a if pred else b`` for one leaf, without a branch (vmap-friendly); PRNG keys too."""
    a, b = jnp.asarray(a), jnp.asarray(b)
    if jnp.issubdtype(a.dtype, jax.dtypes.prng_key):
        data = jnp.where(pred, jax.random.key_data(a), jax.random.key_data(b))
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(a))
    return jnp.where(pred, a, b).astype(a.dtype)


def select(pred: jax.Array, a: PyTree, b: PyTree) -> PyTree:
    """Leafwise select between two pytrees of one structure (e.g. two optimizer states)."""
    return jax.tree_util.tree_map(lambda x, y: _select_leaf(pred, x, y), a, b)
