"""Combinators: ``chain`` (transformations in sequence) and ``partition`` (parameter groups)."""
from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import jax

from nnfunc.optim._base import Optimizer, PyTree, check_optimizer, make_optimizer
from nnfunc.optim._labels import broadcast_prefix, holes, split_by_labels
from nnfunc.optim._slots import zero_count

__all__ = ["ChainState", "chain", "PartitionState", "partition"]


class ChainState(NamedTuple):
    """count, hparams (empty); inner: the inner states, in order."""
    count: jax.Array
    hparams: dict
    inner: tuple


def chain(*optimizers: Optimizer) -> Optimizer:
    """Compose gradient transformations and an optimizer, applied left to right.

    ``u₀ = g``, ``(uᵢ, sᵢ) = optᵢ.update(uᵢ₋₁, sᵢ, θ)``; the result is the last ``uₙ``.
    The last element is normally the optimizer (it turns gradients into updates); the
    ones before it transform the gradients.

    Args:
      *optimizers: one or more ``Optimizer``s.

    Returns:
      An ``Optimizer`` whose state is a ``ChainState`` holding the inner states in
      ``inner`` (a tuple, in order); ``get_hparams``/``set_hparams`` reach all of them.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.chain(nf.optim.clip_by_global_norm(1.0), nf.optim.sgd(learning_rate=0.1))
      >>> params = {'w': jnp.array([0.0, 0.0])}
      >>> updates, state = opt.update({'w': jnp.array([30.0, 40.0])}, opt.init(params), params)
      >>> [round(float(u), 4) for u in updates['w']]   # -0.1 · g / ‖g‖
      [-0.06, -0.08]
    """
    if not optimizers:
        raise ValueError("chain needs at least one optimizer, got none")
    for i, opt in enumerate(optimizers):
        check_optimizer(opt, f"chain argument {i}")

    def init(params: PyTree) -> ChainState:
        return ChainState(zero_count(), {}, tuple(o.init(params) for o in optimizers))

    def update(grads, state, params=None):
        inner = []
        for opt, s in zip(optimizers, state.inner):
            grads, s = opt.update(grads, s, params)
            inner.append(s)
        return grads, ChainState(state.count + 1, state.hparams, tuple(inner))

    return make_optimizer(init, update)


class PartitionState(NamedTuple):
    """count, hparams (empty); inner: {label: the state of that group's optimizer}."""
    count: jax.Array
    hparams: dict
    inner: dict


def partition(labels: Any, optimizers: Mapping[Any, Optimizer]) -> Optimizer:
    """Per-parameter groups (torch's param groups): each leaf is updated by the optimizer
    of its label.

    ``uᵢ = opt[labelᵢ].update(g restricted to label, ...)``; every inner optimizer sees
    the params/grads tree with ``None`` in place of the other groups' leaves, so its
    slots and norms (e.g. a clip or a trust ratio) cover its own group only.

    The usual recipe, biases and norm scales without weight decay::

        no_decay = lambda params: jax.tree_util.tree_map(
            lambda p: 'decay' if p.ndim >= 2 else 'no_decay', params)
        opt = partition(no_decay, {'decay': adamw(1e-3, weight_decay=1e-2),
                                   'no_decay': adamw(1e-3, weight_decay=0.0)})

    Args:
      labels: a pytree of labels with the params' structure or a prefix of it (e.g.
        ``{'encoder': 'frozen', 'head': 'train'}``), or a callable ``params -> labels``.
      optimizers: ``{label: Optimizer}``; every label used must be a key.

    Returns:
      An ``Optimizer``; its state is a ``PartitionState`` whose ``inner`` is
      ``{label: state}``. ``set_hparams`` changes a name in every group holding it; to
      change one group, replace ``state.inner[label]`` (e.g. via ``set_hparams`` on it).

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.partition({'w': 'fast', 'b': 'slow'},
      ...                          {'fast': nf.optim.sgd(learning_rate=1.0),
      ...                           'slow': nf.optim.sgd(learning_rate=0.1)})
      >>> p = {'w': jnp.ones(2), 'b': jnp.ones(2)}
      >>> u, _ = opt.update({'w': jnp.ones(2), 'b': jnp.ones(2)}, opt.init(p), p)
      >>> float(u['w'][0]), round(float(u['b'][0]), 4)
      (-1.0, -0.1)
    """
    if not isinstance(optimizers, Mapping) or not optimizers:
        raise ValueError(f"optimizers must be a non-empty dict {{label: Optimizer}}, "
                         f"got {optimizers!r}")
    for name, opt in optimizers.items():
        check_optimizer(opt, f"optimizers[{name!r}]")

    def _leaf_labels(tree):
        labs = broadcast_prefix(labels, tree, "labels")
        missing = sorted({repr(l) for l in labs if l not in optimizers})
        if missing:
            raise ValueError(f"labels {', '.join(missing)} have no optimizer; optimizers has "
                             f"{sorted(map(repr, optimizers))}")
        return labs

    def init(params: PyTree) -> PartitionState:
        labs = _leaf_labels(params)
        inner = {name: opt.init(split_by_labels(params, labs, lambda l, n=name: l == n))
                 for name, opt in optimizers.items()}
        return PartitionState(zero_count(), {}, inner)

    def update(grads, state, params=None):
        labs = _leaf_labels(params if params is not None else grads)
        leaves, treedef = jax.tree_util.tree_flatten(grads)
        out = list(leaves)
        inner = {}
        for name, opt in optimizers.items():
            keep = lambda l, n=name: l == n  # noqa: E731
            sub_params = None if params is None else split_by_labels(params, labs, keep)
            u, inner[name] = opt.update(split_by_labels(grads, labs, keep),
                                        state.inner[name], sub_params)
            for i, (ui, lab) in enumerate(zip(holes(u), labs)):
                if lab == name:
                    out[i] = ui
        return (jax.tree_util.tree_unflatten(treedef, out),
                PartitionState(state.count + 1, state.hparams, inner))

    return make_optimizer(init, update, selects_leaves=True)
