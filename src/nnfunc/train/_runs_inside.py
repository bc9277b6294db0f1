"""A sweep's ``runs inside`` layout: the runs axis of a weight placed next to its output axis.

``sweep`` ``vmap``-s whole runs, every state leaf ``(R, ...)``. When the runs share their
input (a first layer, whose input is the data), XLA computes that layer of ``R`` runs as
one product ``x[B, in] @ W[in, R·out]``: it transposes the stacked ``(R, in, out)`` weight
for it every step, and the weight's gradient comes back as ``(in, R·out)``, which splits
the optimizer's update of it into transposing kernels. Carried as ``(in, R, out)`` (the
runs axis just before the weight's output axis) the weight, its gradient and its
optimizer slots need no transpose; the runs are then ``vmap``-ped inside the step, which
a ``lax.scan`` of steps carries. That moves less memory per step, but adds layout work
that a CPU pays for, so ``sweep`` uses it with ``layout='runs_inside'`` (see
:mod:`nnfunc.train.sweep` for what ``'auto'`` picks).

Which weights share their input is read off one run's step (:func:`weight_axes`); the
choice changes only the layout, never the arithmetic.

Internal API of ``nnfunc.train`` (names without an underscore, not exported by the package).
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from nnfunc.train._program import epoch_start, run_batches, summarize
from nnfunc.train.state import TrainState

# Primitives whose sub-program takes exactly the equation's operands, so that what is
# shared (not run-specific) can be followed into it.
_CALLS = ("jit", "pjit", "closed_call", "core_call", "custom_jvp_call", "custom_vjp_call",
          "custom_vjp_call_jaxpr", "remat", "checkpoint")
_SAME_WEIGHT = ("convert_element_type", "copy", "copy_p")


def _sub_jaxpr(eqn) -> Optional[Any]:
    if eqn.primitive.name not in _CALLS:
        return None
    for v in eqn.params.values():
        j = getattr(v, "jaxpr", v)
        if hasattr(j, "eqns") and len(j.invars) == len(eqn.invars):
            return j
    return None


def _weight_use(eqn, ops, tainted, origin, uses) -> None:
    """Record where a weight's runs axis would go for this product: next to its output
    axis when the other operand is shared by the runs, else ``0`` (runs first)."""
    name = eqn.primitive.name
    if name == "dot_general":
        (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
        pairs = ((ops[1], ops[0], rc, rb), (ops[0], ops[1], lc, lb))
    elif name == "conv_general_dilated":
        dn = eqn.params["dimension_numbers"]
        grouped = eqn.params["feature_group_count"] != 1 or eqn.params["batch_group_count"] != 1
        w, x = ops[1], ops[0]
        if origin.get(w) is not None:
            shared = not tainted.get(x, False) and not grouped
            uses.setdefault(origin[w], set()).add(dn.rhs_spec[0] if shared else 0)
        return
    else:
        return
    for w, x, contract, batch in pairs:
        if origin.get(w) is None:
            continue
        free = [d for d in range(len(w.aval.shape)) if d not in contract]
        contiguous = free and free == list(range(free[0], free[0] + len(free)))
        shared = not tainted.get(x, False) and not batch and contiguous
        uses.setdefault(origin[w], set()).add(free[0] if shared else 0)


def _walk(jaxpr, tainted: dict, origin: dict, uses: dict) -> None:
    """Follow which values are run-specific (``tainted``) through ``jaxpr`` and record
    every product of a weight (``origin``: the params leaf a value is) in ``uses``."""
    for eqn in jaxpr.eqns:
        ops = list(eqn.invars)
        is_var = [not hasattr(v, "val") for v in ops]
        any_tainted = any(tainted.get(v, False) for v, ok in zip(ops, is_var) if ok)
        _weight_use(eqn, [v if ok else None for v, ok in zip(ops, is_var)],
                    tainted, origin, uses)
        sub = _sub_jaxpr(eqn)
        if sub is not None:
            inner_t = {iv: tainted.get(v, False) for iv, v, ok in zip(sub.invars, ops, is_var)
                       if ok}
            inner_o = {iv: origin.get(v) for iv, v, ok in zip(sub.invars, ops, is_var) if ok}
            _walk(sub, inner_t, inner_o, uses)
            out_t = [inner_t.get(v, False) if not hasattr(v, "val") else False
                     for v in sub.outvars]
            if len(out_t) == len(eqn.outvars):
                tainted.update(zip(eqn.outvars, out_t))
                continue
        for v in eqn.outvars:
            tainted[v] = any_tainted
        if eqn.primitive.name in _SAME_WEIGHT and is_var[0] and origin.get(ops[0]) is not None:
            origin[eqn.outvars[0]] = origin[ops[0]]


def weight_axes(body: Callable, ts: TrainState, x: Any, y: Any, key_axis: Optional[int]
                ) -> Any:
    """Where each params leaf carries the runs axis: the position of its output axis when
    every product (``dot_general``, convolution) it enters takes an input the runs share
    (``x[B, in] @ W[in, out]``: 1; an HWIO convolution kernel on the data: 3), else 0
    (runs first). Only the layout depends on this; the arithmetic is the same.

    Args:
      body: one run's step ``(ts, x, y) -> (ts, metrics)``.
      ts, x, y: one run's state and a batch (arrays or shape structs).
      key_axis: ``0`` when every run has its own key (then its data order and
        augmentations are run-specific too), ``None`` when the runs share it.

    Returns:
      A pytree of ints shaped like ``ts.params``.
    """
    closed = jax.make_jaxpr(body)(ts, x, y)
    roles = ts._replace(
        params=jax.tree_util.tree_map(lambda _: "param", ts.params),
        model_state=jax.tree_util.tree_map(lambda _: "run", ts.model_state),
        opt_state=jax.tree_util.tree_map(lambda _: "run", ts.opt_state),
        step="shared", key="run" if key_axis is not None else "shared")
    data = "run" if key_axis is not None else "shared"     # own key: own batches
    flat_roles = jax.tree_util.tree_leaves(roles) + [data] * len(jax.tree_util.tree_leaves((x, y)))
    invars = closed.jaxpr.invars
    tainted = {v: role != "shared" for v, role in zip(invars, flat_roles)}
    param_vars = [v for v, role in zip(invars, flat_roles) if role == "param"]
    origin = {v: i for i, v in enumerate(param_vars)}
    uses: dict = {}
    _walk(closed.jaxpr, tainted, origin, uses)
    leaves, treedef = jax.tree_util.tree_flatten(ts.params)
    axes = [uses[i].pop() if len(uses.get(i, ())) == 1 else 0 for i in range(len(leaves))]
    return jax.tree_util.tree_unflatten(treedef, axes)


def state_axes(ts: TrainState, param_axes: Any, key_axis: Optional[int]) -> TrainState:
    """The runs axis of every leaf of the runs-inside state: ``param_axes`` for the params
    and every part of the optimizer state shaped like them (its slots), ``0`` for the rest,
    ``-1`` (not batched) for the step and a shared key."""
    pdef = jax.tree_util.tree_structure(ts.params)
    shapes = [np.shape(a) for a in jax.tree_util.tree_leaves(ts.params)]

    def like_params(node) -> bool:
        return (node is not ts.opt_state and jax.tree_util.tree_structure(node) == pdef
                and [np.shape(a) for a in jax.tree_util.tree_leaves(node)] == shapes)
    parts, odef = jax.tree_util.tree_flatten(ts.opt_state, is_leaf=like_params)
    opt_axes = odef.unflatten([param_axes if like_params(p) else 0 for p in parts])
    return TrainState(params=param_axes,
                      model_state=jax.tree_util.tree_map(lambda _: 0, ts.model_state),
                      opt_state=opt_axes, step=-1, key=-1 if key_axis is None else 0)


def layout(body: Callable, stacked: TrainState, x: Any, y: Any, batch_size: int,
           key_axis: Optional[int]) -> Optional[TrainState]:
    """:func:`state_axes` for the runs-first ``stacked`` state (every leaf ``(R, ...)``)
    and data ``x``, ``y`` (``(N, ...)``, ``y`` may be ``None``), or ``None`` when no
    weight moves (then the runs-first program is the same computation)."""
    one = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype), stacked)
    batch = lambda a: None if a is None else jax.ShapeDtypeStruct(    # noqa: E731
        (batch_size,) + tuple(a.shape[1:]), a.dtype)
    param_axes = weight_axes(body, one, batch(x), batch(y), key_axis)
    if not any(a > 0 for a in jax.tree_util.tree_leaves(param_axes)):
        return None
    return state_axes(one, param_axes, key_axis)


def vmap_axes(axes: Any) -> Any:
    """``state_axes``' ints as ``vmap`` axes (``-1``: ``None``)."""
    return jax.tree_util.tree_map(lambda a: None if a < 0 else a, axes)


def to_inside(ts: TrainState, axes: TrainState) -> TrainState:
    """A runs-first stacked state (every leaf ``(R, ...)``) in the runs-inside layout."""
    return jax.tree_util.tree_map(
        lambda a, ax: a[0] if ax < 0 else jnp.moveaxis(a, 0, ax) if ax > 0 else a, ts, axes)


def to_first(ts: TrainState, axes: TrainState, runs: int) -> TrainState:
    """The runs-inside state back in the runs-first layout (shared leaves repeated)."""
    return jax.tree_util.tree_map(
        lambda a, ax: (jnp.broadcast_to(a, (runs,) + jnp.shape(a)) if ax < 0
                       else jnp.moveaxis(a, ax, 0) if ax > 0 else a), ts, axes)


def epoch(body: Callable, axes: TrainState, key_axis: Optional[int], batch_size: int,
          metrics: tuple = ()) -> Callable:
    """``(ts, x, y) -> (ts, metrics)``: one epoch of all runs on the runs-inside state, a
    ``lax.scan`` of the ``vmap``-ped step (``metrics``' values ``(R,)``)."""
    vaxes = vmap_axes(axes)
    data_axis = None if key_axis is None else 0     # own data order: own batches
    vbody = jax.vmap(body, in_axes=(vaxes, data_axis, data_axis), out_axes=(vaxes, 0))

    def run_epoch(ts, x, y=None):
        start = jax.vmap(lambda t: epoch_start(t, x.shape[0], batch_size),
                         in_axes=(vaxes,), out_axes=(vaxes, key_axis))
        ts, idx = start(ts)
        if key_axis is not None:
            idx = jnp.swapaxes(idx, 0, 1)            # (steps, R, B): one step per scan
        ts, per_step = run_batches(vbody, ts, x, y, idx)
        m = jax.vmap(lambda p, o: summarize(p, o, metrics),
                     in_axes=(1, vaxes.opt_state))(per_step, ts.opt_state)
        return ts, m
    return run_epoch
