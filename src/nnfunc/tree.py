"""Pytree arithmetic: the vector-space operations optimizers and training loops need.

Every function takes arbitrary pytrees (dicts, lists, tuples, NamedTuples, ``None``
leaves are skipped) and works under ``jit``, ``grad`` and ``vmap``.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

PyTree = Any

__all__ = ["add", "sub", "scale", "mul", "axpy", "vdot", "l2_norm", "global_norm",
           "zeros_like", "ones_like", "full_like", "size", "cast", "check_same_structure",
           "check_same_shapes"]


def check_same_structure(a: PyTree, b: PyTree, *, names: tuple[str, str] = ("a", "b")) -> None:
    """Raise ``ValueError`` when two pytrees do not share one structure.

    Args:
      a, b: the pytrees to compare.
      names: how to call them in the message (e.g. ``("grads", "params")``).

    Example:
      >>> check_same_structure({'w': 1}, {'w': 2})
      >>> check_same_structure({'w': 1}, {'v': 2})
      Traceback (most recent call last):
      ...
      ValueError: a and b have different tree structures: ...
    """
    ta, tb = jax.tree_util.tree_structure(a), jax.tree_util.tree_structure(b)
    if ta != tb:
        raise ValueError(f"{names[0]} and {names[1]} have different tree structures: "
                         f"{names[0]}={ta}, {names[1]}={tb}")


def check_same_shapes(a: PyTree, b: PyTree, *, names: tuple[str, str] = ("a", "b")) -> None:
    """Raise ``ValueError`` when two pytrees differ in structure or in a leaf's shape
    (naming the first leaf that differs). Shapes are static, so this is free under ``jit``.

    Example:
      >>> import jax.numpy as jnp
      >>> check_same_shapes({'w': jnp.zeros((3, 1))}, {'w': jnp.zeros(3)},
      ...                   names=('params', 'grads'))
      Traceback (most recent call last):
      ...
      ValueError: params and grads differ in shape at ['w']: params (3, 1), grads (3,)
    """
    check_same_structure(a, b, names=names)
    for (path, x), y in zip(jax.tree_util.tree_flatten_with_path(a)[0],
                            jax.tree_util.tree_leaves(b)):
        sx, sy = jnp.shape(x), jnp.shape(y)
        if sx != sy:
            raise ValueError(f"{names[0]} and {names[1]} differ in shape at "
                             f"{jax.tree_util.keystr(path)}: {names[0]} {sx}, {names[1]} {sy}")


def add(a: PyTree, b: PyTree) -> PyTree:
    """Leafwise sum ``a + b``.

    Args:
      a, b: pytrees of one structure.

    Returns:
      A pytree of that structure.

    Example:
      >>> add({'w': jnp.array([1.])}, {'w': jnp.array([2.])})['w']
      Array([3.], dtype=float32)
    """
    check_same_structure(a, b)
    return jax.tree_util.tree_map(jnp.add, a, b)


def sub(a: PyTree, b: PyTree) -> PyTree:
    """Leafwise difference ``a - b``.

    Example:
      >>> sub({'w': jnp.array([1.])}, {'w': jnp.array([2.])})['w']
      Array([-1.], dtype=float32)
    """
    check_same_structure(a, b)
    return jax.tree_util.tree_map(jnp.subtract, a, b)


def mul(a: PyTree, b: PyTree) -> PyTree:
    """Leafwise (Hadamard) product ``a ⊙ b``.

    Example:
      >>> mul([jnp.array([2.])], [jnp.array([3.])])[0]
      Array([6.], dtype=float32)
    """
    check_same_structure(a, b)
    return jax.tree_util.tree_map(jnp.multiply, a, b)


def scale(alpha: Any, tree: PyTree) -> PyTree:
    """Multiply every leaf by a scalar: ``α · tree``. Leaves keep their dtype.

    Example:
      >>> scale(0.5, {'w': jnp.array([2., 4.])})['w']
      Array([1., 2.], dtype=float32)
    """
    return jax.tree_util.tree_map(lambda x: (alpha * x).astype(x.dtype), tree)


def axpy(alpha: Any, x: PyTree, y: PyTree) -> PyTree:
    """``α · x + y`` leafwise (the BLAS name), in one pass.

    Example:
      >>> axpy(2., [jnp.array(1.)], [jnp.array(3.)])[0]
      Array(5., dtype=float32)
    """
    check_same_structure(x, y, names=("x", "y"))
    return jax.tree_util.tree_map(lambda a, b: (alpha * a + b).astype(b.dtype), x, y)


def vdot(a: PyTree, b: PyTree) -> jax.Array:
    """Inner product over all leaves: ``Σ_leaves Σ_i a_i b_i``.

    Example:
      >>> vdot({'w': jnp.array([1., 2.])}, {'w': jnp.array([3., 4.])})
      Array(11., dtype=float32)
    """
    check_same_structure(a, b)
    parts = jax.tree_util.tree_leaves(
        jax.tree_util.tree_map(lambda x, y: jnp.vdot(x.ravel(), y.ravel()), a, b))
    return sum(parts, jnp.zeros((), jnp.result_type(*parts) if parts else jnp.float32))


def l2_norm(tree: PyTree, *, squared: bool = False) -> jax.Array:
    """Global L2 norm over all leaves: ``‖θ‖₂ = sqrt(Σ_leaves Σ_i θ_i²)``.

    Accumulates in at least float32, so bfloat16 trees do not overflow or lose the sum.

    Args:
      tree: a pytree of arrays.
      squared: return ``‖θ‖₂²`` instead.

    Returns:
      A scalar array.

    Example:
      >>> l2_norm({'a': jnp.array([3.]), 'b': jnp.array([4.])})
      Array(5., dtype=float32)
    """
    leaves = jax.tree_util.tree_leaves(tree)
    if not leaves:
        return jnp.zeros((), jnp.float32)
    acc = jnp.promote_types(jnp.result_type(*leaves), jnp.float32)
    sq = sum(jnp.sum(jnp.square(x.astype(acc))) for x in leaves)
    return sq if squared else jnp.sqrt(sq)


global_norm = l2_norm


def zeros_like(tree: PyTree, dtype: Any = None) -> PyTree:
    """A pytree of zeros with the same structure, shapes and (unless given) dtypes.

    Example:
      >>> zeros_like({'w': jnp.ones(2)})['w']
      Array([0., 0.], dtype=float32)
    """
    return jax.tree_util.tree_map(lambda x: jnp.zeros_like(x, dtype=dtype), tree)


def ones_like(tree: PyTree, dtype: Any = None) -> PyTree:
    """A pytree of ones with the same structure, shapes and (unless given) dtypes.

    Example:
      >>> ones_like([jnp.zeros(2)])[0]
      Array([1., 1.], dtype=float32)
    """
    return jax.tree_util.tree_map(lambda x: jnp.ones_like(x, dtype=dtype), tree)


def full_like(tree: PyTree, value: Any, dtype: Any = None) -> PyTree:
    """A pytree filled with ``value``, same structure and shapes.

    Example:
      >>> full_like([jnp.zeros(2)], 0.1)[0]
      Array([0.1, 0.1], dtype=float32)
    """
    return jax.tree_util.tree_map(lambda x: jnp.full_like(x, value, dtype=dtype), tree)


def size(tree: PyTree) -> int:
    """Number of scalar entries (parameters) over all leaves: ``Σ_leaves prod(shape)``.

    Example:
      >>> size({'w': jnp.zeros((784, 10)), 'b': jnp.zeros(10)})
      7850
    """
    return sum(int(jnp.size(x)) for x in jax.tree_util.tree_leaves(tree))


def cast(tree: PyTree, dtype: Any) -> PyTree:
    """Cast every floating-point leaf to ``dtype``; integer and bool leaves are left alone.

    Example:
      >>> t = cast({'w': jnp.ones(2), 'n': jnp.array(3)}, jnp.bfloat16)
      >>> t['w'].dtype, t['n'].dtype
      (dtype(bfloat16), dtype('int32'))
    """
    def _cast(x):
        x = jnp.asarray(x)
        return x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x
    return jax.tree_util.tree_map(_cast, tree)
