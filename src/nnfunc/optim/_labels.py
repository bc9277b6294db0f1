"""Labels over a parameter tree: the prefixes of ``masked`` (booleans) and ``partition``
(labels), broadcast to one entry per leaf, and the trees with ``None`` holes that hand
each inner optimizer only its leaves."""
from __future__ import annotations

from typing import Any, Callable

import jax

from nnfunc.optim._base import PyTree


class _Label:
    """Opaque leaf wrapper, so label values (strings, None, bools) stay leaves."""
    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


def broadcast_prefix(prefix: Any, tree: PyTree, what: str) -> list:
    """The leaves of ``prefix`` (labels or booleans) repeated over the subtrees of ``tree``
    they cover; one entry per leaf of ``tree``. ``prefix`` may be a callable ``tree ->
    prefix``."""
    if callable(prefix):
        prefix = prefix(tree)
    try:
        full = jax.tree_util.tree_map(
            lambda lab, sub: jax.tree_util.tree_map(lambda _: _Label(lab), sub), prefix, tree)
    except ValueError as err:
        raise ValueError(f"{what} must be a pytree with the structure of the params (or a "
                         f"prefix of it), or a callable params -> such a pytree: {err}") from None
    return [lab.value for lab in jax.tree_util.tree_leaves(full)]


def split_by_labels(tree: PyTree, labels: list, keep: Callable[[Any], bool]) -> PyTree:
    """``tree`` with the leaves whose label fails ``keep`` replaced by ``None`` holes."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return jax.tree_util.tree_unflatten(
        treedef, [x if keep(lab) else None for x, lab in zip(leaves, labels)])


def holes(tree: PyTree) -> list:
    """The leaves of a tree with ``None`` holes, one entry per original leaf."""
    return jax.tree_util.tree_leaves(tree, is_leaf=lambda x: x is None)
