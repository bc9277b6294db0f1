"""Gradient transformations and optimizer wrappers that compose with any optimizer.

Two kinds of building blocks share the ``Optimizer`` protocol:

* **gradient transformations** (``add_noise``, ``clip_by_global_norm``, ``clip_by_value``)
  return modified *gradients*; put them before an optimizer in ``chain``:
  ``chain(clip_by_global_norm(1.0), adamw(learning_rate=1e-3))``;
* **wrappers** (``partition``, ``masked``, ``accumulate``, ``skip_nonfinite``,
  ``lookahead``; ``swa``/``ema`` in ``averaging``) take optimizers and return one.

Every state is a NamedTuple ``(count, hparams, ...)``; a wrapper keeps the inner state(s)
in a field, so ``get_hparams``/``set_hparams`` reach the inner hyperparameters, e.g.
``set_hparams(state, learning_rate=1e-4)`` through a chain. Integer periods (``every_k``,
``lookahead_k``) are int32 arrays in ``hparams``, so they too can change without
recompiling.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp

from nnfunc.optim._base import (Optimizer, PyTree, check_hparam, make_hparams,
                                make_optimizer, require_params)

__all__ = ["ChainState", "chain", "AddNoiseState", "add_noise", "ClipState",
           "clip_by_global_norm", "clip_by_value", "PartitionState", "partition",
           "MaskedState", "masked", "AccumulateState", "accumulate", "SkipNonfiniteState",
           "skip_nonfinite", "LookaheadState", "lookahead"]


# ---------------------------------------------------------------------------------------
# helpers

def _zero_count() -> jax.Array:
    return jnp.zeros((), jnp.int32)


def _check_optimizer(opt: Any, name: str) -> None:
    if not (hasattr(opt, "init") and hasattr(opt, "update")):
        raise TypeError(f"{name} must be an Optimizer (with init and update), got {opt!r}")


def _int_hparam(name: str, value: Any) -> jax.Array:
    """An integer hyperparameter (a period or a step) as an int32 array, validated by its
    shared rule (the one ``set_hparams`` applies)."""
    check_hparam(name, value)
    return jnp.asarray(value, jnp.int32)


def _select_leaf(pred: jax.Array, a: Any, b: Any) -> Any:
    """``a if pred else b`` for one leaf, without a branch (vmap-friendly); PRNG keys too."""
    a, b = jnp.asarray(a), jnp.asarray(b)
    if jnp.issubdtype(a.dtype, jax.dtypes.prng_key):
        data = jnp.where(pred, jax.random.key_data(a), jax.random.key_data(b))
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(a))
    return jnp.where(pred, a, b).astype(a.dtype)


def _select(pred: jax.Array, a: PyTree, b: PyTree) -> PyTree:
    """Leafwise select between two pytrees of one structure (e.g. two optimizer states)."""
    return jax.tree_util.tree_map(lambda x, y: _select_leaf(pred, x, y), a, b)


def _broadcast_prefix(prefix: Any, tree: PyTree, what: str) -> list:
    """The leaves of ``prefix`` (labels or booleans) repeated over the subtrees of ``tree``
    they cover; one entry per leaf of ``tree``."""
    if callable(prefix):
        prefix = prefix(tree)
    try:
        full = jax.tree_util.tree_map(
            lambda lab, sub: jax.tree_util.tree_map(lambda _: _Label(lab), sub), prefix, tree)
    except ValueError as err:
        raise ValueError(f"{what} must be a pytree with the structure of the params (or a "
                         f"prefix of it), or a callable params -> such a pytree: {err}") from None
    return [lab.value for lab in jax.tree_util.tree_leaves(full)]


class _Label:
    """Opaque leaf wrapper, so label values (strings, None, bools) stay leaves."""
    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


def _split_by_labels(tree: PyTree, labels: list, keep: Callable[[Any], bool]) -> PyTree:
    """``tree`` with the leaves whose label fails ``keep`` replaced by ``None`` holes."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return jax.tree_util.tree_unflatten(
        treedef, [x if keep(lab) else None for x, lab in zip(leaves, labels)])


def _holes(tree: PyTree) -> list:
    """The leaves of a tree with ``None`` holes, one entry per original leaf."""
    return jax.tree_util.tree_leaves(tree, is_leaf=lambda x: x is None)


# ---------------------------------------------------------------------------------------
# chain

class ChainState(NamedTuple):
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
        _check_optimizer(opt, f"chain argument {i}")

    def init(params: PyTree) -> ChainState:
        return ChainState(_zero_count(), {}, tuple(o.init(params) for o in optimizers))

    def update(grads, state, params=None):
        inner = []
        for opt, s in zip(optimizers, state.inner):
            grads, s = opt.update(grads, s, params)
            inner.append(s)
        return grads, ChainState(state.count + 1, state.hparams, tuple(inner))

    return make_optimizer(init, update)


# ---------------------------------------------------------------------------------------
# gradient transformations

class AddNoiseState(NamedTuple):
    count: jax.Array
    hparams: dict
    key: jax.Array


def add_noise(eta: Any = 0.01, gamma: Any = 0.55, key: jax.Array | None = None) -> Optimizer:
    """Annealed Gaussian gradient noise (Neelakantan et al., 2015), a gradient transformation.

    ``g̃ = g + N(0, σₜ²)``, ``σₜ² = η / (1 + t)^γ`` with t the step (0, 1, ...): early
    noise helps escape saddle points, and it decays so training still converges. Use it
    before an optimizer: ``chain(add_noise(0.01, 0.55, key=key), sgd(...))``.

    Args:
      eta: η >= 0, the initial variance.
      gamma: γ >= 0, the decay exponent (0.55 in the paper).
      key: a ``jax.random`` key, typed or raw (or an int seed); required. It is carried
        in the state and split at every step.

    Returns:
      An ``Optimizer`` returning noisy gradients; its state is an ``AddNoiseState`` with
      slot ``key``.

    Example:
      >>> import jax, jax.numpy as jnp, nnfunc as nf
      >>> noise = nf.optim.add_noise(eta=1.0, gamma=0.55, key=jax.random.key(0))
      >>> g = {'w': jnp.zeros(1000)}
      >>> noisy, state = noise.update(g, noise.init(g))
      >>> bool(0.8 < float(noisy['w'].std()) < 1.2)    # σ₀ = 1
      True
    """
    if key is None:
        raise ValueError("add_noise needs an explicit key=jax.random.key(seed), got key=None")
    if isinstance(key, int) and not isinstance(key, bool):
        key = jax.random.key(key)
    hparams0 = make_hparams(eta=eta, gamma=gamma)

    def init(params: PyTree) -> AddNoiseState:
        return AddNoiseState(_zero_count(), dict(hparams0), key)

    def update(grads, state, params=None):
        hp = state.hparams
        t = state.count.astype(hp["eta"].dtype)
        std = jnp.sqrt(hp["eta"] / (1 + t) ** hp["gamma"])
        leaves, treedef = jax.tree_util.tree_flatten(grads)
        new_key, sub = jax.random.split(state.key)
        keys = jax.random.split(sub, max(len(leaves), 1))
        noisy = [(g + std * jax.random.normal(k, jnp.shape(g), jnp.result_type(g)))
                 .astype(jnp.result_type(g)) for g, k in zip(leaves, keys)]
        return (jax.tree_util.tree_unflatten(treedef, noisy),
                AddNoiseState(state.count + 1, hp, new_key))

    return make_optimizer(init, update)


class ClipState(NamedTuple):
    count: jax.Array
    hparams: dict


def clip_by_global_norm(max_norm: Any, *, norm_type: float = 2.0) -> Optimizer:
    """Rescale gradients whose global norm exceeds ``max_norm``, exactly
    ``torch.nn.utils.clip_grad_norm_``.

    ``N = ‖(‖g₁‖_p, ‖g₂‖_p, ...)‖_p`` over all leaves; ``g ← g · min(1, c / (N + 10⁻⁶))``
    with c = ``max_norm``. The norm is accumulated in at least float32.

    Args:
      max_norm: c >= 0.
      norm_type: p > 0, or ``float('inf')`` for the largest absolute entry (static).

    Returns:
      An ``Optimizer`` returning clipped gradients (use it first in a ``chain``); its state
      is a ``ClipState``.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> clip = nf.optim.clip_by_global_norm(1.0)
      >>> g = {'a': jnp.array([3.0]), 'b': jnp.array([4.0])}
      >>> clipped, _ = clip.update(g, clip.init(g))
      >>> round(float(nf.tree.global_norm(clipped)), 4)
      1.0
    """
    hparams0 = make_hparams(max_norm=max_norm)
    if not (isinstance(norm_type, (int, float)) and norm_type > 0):
        raise ValueError(f"norm_type must be a number > 0 or inf, got {norm_type!r}")
    p = float(norm_type)

    def init(params: PyTree) -> ClipState:
        return ClipState(_zero_count(), dict(hparams0))

    def update(grads, state, params=None):
        leaves = jax.tree_util.tree_leaves(grads)
        if not leaves:
            return grads, ClipState(state.count + 1, state.hparams)
        acc = jnp.promote_types(jnp.result_type(*leaves), jnp.float32)
        absl = [jnp.abs(g.astype(acc)) for g in leaves]
        if math.isinf(p):
            norm = jnp.max(jnp.stack([jnp.max(a) for a in absl]))
        else:
            norm = sum(jnp.sum(a ** p) for a in absl) ** (1 / p)
        coef = jnp.minimum(state.hparams["max_norm"] / (norm + 1e-6), 1.0)
        clipped = jax.tree_util.tree_map(lambda g: (g * coef).astype(g.dtype), grads)
        return clipped, ClipState(state.count + 1, state.hparams)

    return make_optimizer(init, update)


def clip_by_value(clip_value: Any = None, max_value: Any = None, *,
                  min_value: Any = None) -> Optimizer:
    """Clamp every gradient entry into an interval; one number is
    ``torch.nn.utils.clip_grad_value_``.

    ``g ← min(max(g, lo), hi)`` with ``[lo, hi] = [−c, c]`` for ``clip_by_value(c)``, or
    ``[lo, hi]`` for ``clip_by_value(lo, hi)`` / ``clip_by_value(min_value=lo,
    max_value=hi)`` (either bound may be left out, meaning unbounded).

    Args:
      clip_value: c >= 0 (torch's ``clip_value``); with ``max_value`` given positionally,
        the lower bound ``lo`` instead.
      max_value: the upper bound hi.
      min_value: the lower bound lo (keyword).

    Returns:
      An ``Optimizer`` returning clipped gradients; its state is a ``ClipState`` with
      hparams ``min_value`` and ``max_value``.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> clip = nf.optim.clip_by_value(0.5)
      >>> g = {'w': jnp.array([-2.0, 0.1, 3.0])}
      >>> clip.update(g, clip.init(g))[0]['w']
      Array([-0.5,  0.1,  0.5], dtype=float32)
    """
    if max_value is None and min_value is None:
        if clip_value is None:
            raise ValueError("clip_by_value needs clip_value, or min_value/max_value; got none")
        check_hparam("clip_value", clip_value, lambda x: x >= 0, ">= 0")
        lo, hi = -jnp.asarray(clip_value), clip_value
    else:
        if clip_value is not None and min_value is not None:
            raise ValueError(f"clip_by_value got two lower bounds: clip_value={clip_value!r} "
                             f"and min_value={min_value!r}")
        lo = clip_value if clip_value is not None else min_value
        hi = max_value
        lo = -jnp.inf if lo is None else lo
        hi = jnp.inf if hi is None else hi
        if not isinstance(lo, jax.core.Tracer) and not isinstance(hi, jax.core.Tracer):
            if bool(jnp.any(jnp.asarray(lo) > jnp.asarray(hi))):
                raise ValueError(f"min_value must be <= max_value, got min_value={lo!r}, "
                                 f"max_value={hi!r}")
    hparams0 = make_hparams(min_value=lo, max_value=hi)

    def init(params: PyTree) -> ClipState:
        return ClipState(_zero_count(), dict(hparams0))

    def update(grads, state, params=None):
        lo, hi = state.hparams["min_value"], state.hparams["max_value"]
        clipped = jax.tree_util.tree_map(lambda g: jnp.clip(g, lo, hi).astype(g.dtype), grads)
        return clipped, ClipState(state.count + 1, state.hparams)

    return make_optimizer(init, update)


# ---------------------------------------------------------------------------------------
# parameter groups

class PartitionState(NamedTuple):
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
        _check_optimizer(opt, f"optimizers[{name!r}]")

    def _leaf_labels(tree):
        labs = _broadcast_prefix(labels, tree, "labels")
        missing = sorted({repr(l) for l in labs if l not in optimizers})
        if missing:
            raise ValueError(f"labels {', '.join(missing)} have no optimizer; optimizers has "
                             f"{sorted(map(repr, optimizers))}")
        return labs

    def init(params: PyTree) -> PartitionState:
        labs = _leaf_labels(params)
        inner = {name: opt.init(_split_by_labels(params, labs, lambda l, n=name: l == n))
                 for name, opt in optimizers.items()}
        return PartitionState(_zero_count(), {}, inner)

    def update(grads, state, params=None):
        labs = _leaf_labels(params if params is not None else grads)
        leaves, treedef = jax.tree_util.tree_flatten(grads)
        out = list(leaves)
        inner = {}
        for name, opt in optimizers.items():
            keep = lambda l, n=name: l == n  # noqa: E731
            sub_params = None if params is None else _split_by_labels(params, labs, keep)
            u, inner[name] = opt.update(_split_by_labels(grads, labs, keep),
                                        state.inner[name], sub_params)
            for i, (ui, lab) in enumerate(zip(_holes(u), labs)):
                if lab == name:
                    out[i] = ui
        return (jax.tree_util.tree_unflatten(treedef, out),
                PartitionState(state.count + 1, state.hparams, inner))

    return make_optimizer(init, update)


class MaskedState(NamedTuple):
    count: jax.Array
    hparams: dict
    inner: Any


def masked(opt: Optimizer, mask: Any, *, passthrough: bool = False) -> Optimizer:
    """Apply ``opt`` to the leaves where ``mask`` is True only.

    ``uᵢ = opt.update(g restricted to the mask)ᵢ`` where ``maskᵢ``; elsewhere
    ``uᵢ = 0`` (those parameters are frozen), or ``uᵢ = gᵢ`` with ``passthrough=True``.

    Which to pick: an optimizer (``sgd``, ``adamw``, ...) returns *updates*, so the
    unmasked leaves must get 0 (the default: e.g. fine-tune only the head). A gradient
    transformation (``clip_by_value``, ``add_noise``) returns *gradients*, so inside a
    ``chain`` the unmasked gradients must go on unchanged: ``passthrough=True`` (optax's
    ``masked``), e.g. ``chain(masked(add_noise(..., key=k), mask, passthrough=True),
    sgd(...))``. Passing an optimizer with ``passthrough=True`` would *add* the raw
    gradients to the unmasked params. To give the unmasked leaves a different optimizer
    (biases without weight decay: ``adamw(weight_decay=0.0)`` for them), use
    ``partition``.

    Args:
      opt: the optimizer or transformation to apply on the masked leaves.
      mask: a pytree of booleans with the params' structure (or a prefix of it), or a
        callable ``params -> mask``.
      passthrough: keyword-only; unmasked leaves get the incoming gradients instead of 0.

    Returns:
      An ``Optimizer``; its state is a ``MaskedState`` whose ``inner`` is ``opt``'s state
      over the masked leaves (``None`` holes elsewhere).

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.masked(nf.optim.sgd(learning_rate=0.1), {'w': True, 'b': False})
      >>> p = {'w': jnp.ones(1), 'b': jnp.ones(1)}
      >>> u, _ = opt.update({'w': jnp.ones(1), 'b': jnp.ones(1)}, opt.init(p), p)
      >>> round(float(u['w'][0]), 4), float(u['b'][0])
      (-0.1, 0.0)
    """
    _check_optimizer(opt, "opt")

    def _leaf_mask(tree):
        labs = _broadcast_prefix(mask, tree, "mask")
        bad = [m for m in labs if not isinstance(m, (bool, jnp.bool_)) and
               not (hasattr(m, "dtype") and m.dtype == bool and jnp.ndim(m) == 0)]
        if bad:
            raise ValueError(f"mask leaves must be booleans, got {bad[0]!r}")
        return [bool(m) for m in labs]

    def init(params: PyTree) -> MaskedState:
        keep = _leaf_mask(params)
        return MaskedState(_zero_count(), {}, opt.init(_split_by_labels(params, keep, bool)))

    def update(grads, state, params=None):
        keep = _leaf_mask(params if params is not None else grads)
        sub_params = None if params is None else _split_by_labels(params, keep, bool)
        u, inner = opt.update(_split_by_labels(grads, keep, bool), state.inner, sub_params)
        leaves, treedef = jax.tree_util.tree_flatten(grads)
        out = [ui if k else (g if passthrough else jnp.zeros_like(g))
               for ui, k, g in zip(_holes(u), keep, leaves)]
        return (jax.tree_util.tree_unflatten(treedef, out),
                MaskedState(state.count + 1, state.hparams, inner))

    return make_optimizer(init, update)


# ---------------------------------------------------------------------------------------
# gradient accumulation, non-finite skipping, lookahead

class AccumulateState(NamedTuple):
    count: jax.Array
    hparams: dict
    inner: Any
    grad_sum: PyTree


def accumulate(opt: Optimizer, every_k: Any) -> Optimizer:
    """Gradient accumulation: one step of ``opt`` on the mean gradient of k micro-batches.

    Calls t = 0, 1, ...: ``S ← S + gₜ``; on every k-th call (``(t + 1) % k == 0``)
    ``(u, s) = opt.update(S / k, s, θ)`` and ``S ← 0``; on the other calls ``u = 0`` and
    ``opt``'s state is unchanged. So ``opt``'s own ``count`` (and its schedule) advances
    once per k micro-batches.

    Written with selects, not ``lax.cond``: every call also evaluates ``opt.update`` and
    discards it off the k-th call, which keeps the step ``vmap``-friendly (a ``cond``
    under ``vmap`` runs both branches anyway). The sum is kept in at least float32.

    Args:
      opt: the optimizer to run on the mean gradient.
      every_k: k, an integer >= 1 (stored as ``hparams['every_k']``).

    Returns:
      An ``Optimizer``; its state is an ``AccumulateState`` with ``inner`` (``opt``'s
      state) and ``grad_sum``.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.accumulate(nf.optim.sgd(learning_rate=1.0), every_k=2)
      >>> p = {'w': jnp.zeros(1)}
      >>> s = opt.init(p)
      >>> u1, s = opt.update({'w': jnp.array([1.0])}, s, p)
      >>> u2, s = opt.update({'w': jnp.array([3.0])}, s, p)
      >>> float(u1['w'][0]), float(u2['w'][0])
      (0.0, -2.0)
    """
    _check_optimizer(opt, "opt")
    k0 = _int_hparam("every_k", every_k)

    def init(params: PyTree) -> AccumulateState:
        acc = jax.tree_util.tree_map(
            lambda p: jnp.zeros(jnp.shape(p), jnp.promote_types(jnp.result_type(p),
                                                                jnp.float32)), params)
        return AccumulateState(_zero_count(), {"every_k": k0}, opt.init(params), acc)

    def update(grads, state, params=None):
        k = state.hparams["every_k"]
        acc = jax.tree_util.tree_map(lambda a, g: a + g.astype(a.dtype), state.grad_sum, grads)
        fire = (state.count + 1) % k == 0
        mean = jax.tree_util.tree_map(lambda a, g: (a / k).astype(g.dtype), acc, grads)
        u, new_inner = opt.update(mean, state.inner, params)
        updates = jax.tree_util.tree_map(lambda x: jnp.where(fire, x, jnp.zeros_like(x)), u)
        inner = _select(fire, new_inner, state.inner)
        acc = jax.tree_util.tree_map(lambda a: jnp.where(fire, jnp.zeros_like(a), a), acc)
        return updates, AccumulateState(state.count + 1, state.hparams, inner, acc)

    return make_optimizer(init, update)


class SkipNonfiniteState(NamedTuple):
    count: jax.Array
    hparams: dict
    inner: Any
    num_skipped: jax.Array


def skip_nonfinite(opt: Optimizer) -> Optimizer:
    """Skip steps whose gradient has a NaN or an infinity, and count them.

    If every entry of every gradient leaf is finite: ``(u, s) = opt.update(g, s, θ)``;
    otherwise ``u = 0``, ``opt``'s state is left exactly as it was and ``num_skipped``
    grows by one (a select, not a branch: vmap-friendly).

    Args:
      opt: the optimizer to protect.

    Returns:
      An ``Optimizer``; its state is a ``SkipNonfiniteState`` with ``inner`` (``opt``'s
      state; its ``count`` is the number of applied steps) and ``num_skipped``.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.skip_nonfinite(nf.optim.sgd(learning_rate=0.1))
      >>> p = {'w': jnp.ones(2)}
      >>> u, s = opt.update({'w': jnp.array([1.0, jnp.nan])}, opt.init(p), p)
      >>> u['w'], int(s.num_skipped), int(s.inner.count)
      (Array([0., 0.], dtype=float32), 1, 0)
    """
    _check_optimizer(opt, "opt")

    def init(params: PyTree) -> SkipNonfiniteState:
        return SkipNonfiniteState(_zero_count(), {}, opt.init(params), _zero_count())

    def update(grads, state, params=None):
        leaves = jax.tree_util.tree_leaves(grads)
        ok = jnp.all(jnp.stack([jnp.all(jnp.isfinite(g)) for g in leaves])) if leaves \
            else jnp.asarray(True)
        # Feed zeros instead of the bad gradient, so nothing non-finite is computed at all.
        safe = jax.tree_util.tree_map(lambda g: jnp.where(ok, g, jnp.zeros_like(g)), grads)
        u, new_inner = opt.update(safe, state.inner, params)
        updates = jax.tree_util.tree_map(lambda x: jnp.where(ok, x, jnp.zeros_like(x)), u)
        inner = _select(ok, new_inner, state.inner)
        return updates, SkipNonfiniteState(state.count + 1, state.hparams, inner,
                                           state.num_skipped + (~ok).astype(jnp.int32))

    return make_optimizer(init, update)


class LookaheadState(NamedTuple):
    count: jax.Array
    hparams: dict
    inner: Any
    slow: PyTree


def lookahead(opt: Optimizer, k: Any = 5, alpha: Any = 0.5) -> Optimizer:
    """Lookahead (Zhang et al., 2019): k fast steps of ``opt``, then pull back towards the
    slow weights.

    The params are the fast weights θ; the slow weights φ start as θ₀. Each call runs
    ``opt``; on every k-th call (``(t + 1) % k == 0``) ``φ ← φ + α (θ' − φ)`` with θ' the
    fast weights after ``opt``'s step, and the params are reset to the new φ (the update
    returned is ``φ − θ``). ``opt``'s own state is kept across syncs.

    Reading the slow weights: ``state.slow`` (for a lookahead inside a chain,
    ``state.inner[i].slow``). Right after every k-th step they equal the params, so
    evaluating the params then evaluates φ.

    Args:
      opt: the inner (fast) optimizer.
      k: the sync period, an integer >= 1 (stored as ``hparams['lookahead_k']``).
      alpha: α in [0, 1], the slow step size (stored as ``hparams['lookahead_alpha']``,
        so it does not clash with ``rmsprop``'s ``alpha`` in ``set_hparams``).

    Returns:
      An ``Optimizer`` (``update`` needs ``params``); its state is a ``LookaheadState``
      with ``inner`` and ``slow``.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.lookahead(nf.optim.sgd(learning_rate=1.0), k=2, alpha=0.5)
      >>> p = {'w': jnp.zeros(1)}
      >>> s = opt.init(p)
      >>> for _ in range(2):
      ...     u, s = opt.update({'w': jnp.array([-1.0])}, s, p)
      ...     p = nf.optim.apply_updates(p, u)
      >>> float(p['w'][0]), float(s.slow['w'][0])   # fast went 0 -> 2, φ = 0 + 0.5 · 2
      (1.0, 1.0)
    """
    _check_optimizer(opt, "opt")
    k0 = _int_hparam("lookahead_k", k)
    hparams0 = {"lookahead_k": k0, **make_hparams(lookahead_alpha=alpha)}

    def init(params: PyTree) -> LookaheadState:
        slow = jax.tree_util.tree_map(jnp.asarray, params)
        return LookaheadState(_zero_count(), dict(hparams0), opt.init(params), slow)

    def update(grads, state, params=None):
        require_params(params, "lookahead")
        a, k = state.hparams["lookahead_alpha"], state.hparams["lookahead_k"]
        u, inner = opt.update(grads, state.inner, params)
        sync = (state.count + 1) % k == 0

        def leaf(p, u, s):
            fast = (p + u).astype(p.dtype)
            target = (s + a * (fast - s)).astype(p.dtype)
            delta = jnp.where(sync, (target - p).astype(p.dtype), u)
            # Store exactly what apply_updates will produce, so params == slow after a sync.
            return delta, jnp.where(sync, (p + delta).astype(p.dtype), s)

        pairs = jax.tree_util.tree_map(leaf, params, u, state.slow)
        outer = jax.tree_util.tree_structure(params)
        updates, slow = jax.tree_util.tree_transpose(
            outer, jax.tree_util.tree_structure((0, 0)), pairs)
        return updates, LookaheadState(state.count + 1, state.hparams, inner, slow)

    return make_optimizer(init, update)
