"""Gradient clipping transformations: ``clip_by_global_norm`` and ``clip_by_value``."""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from nnfunc._checks import is_real, is_traced
from nnfunc.optim._base import Optimizer, PyTree, make_optimizer
from nnfunc.optim._hparams import check_hparam, make_hparams
from nnfunc.optim._slots import zero_count

__all__ = ["ClipState", "clip_by_global_norm", "clip_by_value"]


class ClipState(NamedTuple):
    """count, hparams (max_norm, or min_value and max_value); no slots."""
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
    if not (is_real(norm_type) and norm_type > 0):
        raise ValueError(f"norm_type must be a number > 0 or inf, got {norm_type!r}")
    p = float(norm_type)

    def init(params: PyTree) -> ClipState:
        return ClipState(zero_count(), dict(hparams0))

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
        if not is_traced(lo) and not is_traced(hi):
            if bool(jnp.any(jnp.asarray(lo) > jnp.asarray(hi))):
                raise ValueError(f"min_value must be <= max_value, got min_value={lo!r}, "
                                 f"max_value={hi!r}")
    hparams0 = make_hparams(min_value=lo, max_value=hi)

    def init(params: PyTree) -> ClipState:
        return ClipState(zero_count(), dict(hparams0))

    def update(grads, state, params=None):
        lo, hi = state.hparams["min_value"], state.hparams["max_value"]
        clipped = jax.tree_util.tree_map(lambda g: jnp.clip(g, lo, hi).astype(g.dtype), grads)
        return clipped, ClipState(state.count + 1, state.hparams)

    return make_optimizer(init, update)
