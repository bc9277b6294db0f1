"""Parameter averaging as optimizer wrappers, as torch.optim.swa_utils: ``swa``, ``ema`` and
``averaged_params``."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from nnfunc.optim._base import (
    Optimizer,
    PyTree,
    check_optimizer,
    iter_states,
    make_optimizer,
    require_params,
)
from nnfunc.optim._hparams import int_hparam, make_hparams

__all__ = ["AveragingState", "swa", "ema", "averaged_params"]


class AveragingState(NamedTuple):
    """count, hparams; inner: opt's state, averaged: the averaged params θ̄, n_averaged: N."""
    count: jax.Array
    hparams: dict
    inner: Any
    averaged: PyTree
    n_averaged: jax.Array


def _averaging(opt: Optimizer, start: Any, every: Any, decay: Any | None) -> Optimizer:
    """The shared wrapper: ``decay=None`` is SWA's equal-weight mean, else an EMA.

    It runs ``opt`` unchanged and, after its step, folds the new parameters into a running
    average kept in the state. This is torch's ``AveragedModel``: calling
    ``optimizer.step()`` then ``averaged.update_parameters(model)`` on the chosen steps,
    where the first averaged call copies the parameters (``n_averaged == 0``).
    """
    check_optimizer(opt, "opt")
    hparams0 = {"start": int_hparam("start", start), "every": int_hparam("every", every)}
    if decay is not None:
        hparams0.update(make_hparams(decay=decay))

    def init(params: PyTree) -> AveragingState:
        averaged = jax.tree_util.tree_map(jnp.asarray, params)
        return AveragingState(jnp.zeros((), jnp.int32), dict(hparams0), opt.init(params),
                              averaged, jnp.zeros((), jnp.int32))

    def update(grads, state, params=None):
        require_params(params, "swa/ema")
        hp, n = state.hparams, state.n_averaged
        u, inner = opt.update(grads, state.inner, params)
        steps = state.count + 1
        due = (steps >= hp["start"]) & ((steps - hp["start"]) % hp["every"] == 0)
        first = n == 0
        # torch's lerp weight: 1/(n+1) for SWA, 1 − decay for EMA.
        weight = 1.0 / (n + 1) if decay is None else 1 - hp["decay"]

        def leaf(p, u, avg):
            new = (p + u).astype(p.dtype)
            mixed = (avg + weight * (new - avg)).astype(avg.dtype)
            return jnp.where(due, jnp.where(first, new, mixed), avg)

        averaged = jax.tree_util.tree_map(leaf, params, u, state.averaged)
        return u, AveragingState(state.count + 1, hp, inner, averaged,
                                 n + due.astype(jnp.int32))

    return make_optimizer(init, update)


def swa(opt: Optimizer, *, start: Any = 0, every: Any = 1) -> Optimizer:
    """Stochastic weight averaging (Izmailov et al., 2018): the equal-weight running mean
    of the params, as ``torch.optim.swa_utils.AveragedModel`` with its default average.

    After optimizer step n (n = 1, 2, ...) the new params θₙ are averaged when
    ``n >= start`` and ``(n − start) % every == 0``: the first time ``θ̄ = θₙ`` (a copy),
    then ``θ̄ ← θ̄ + (θₙ − θ̄) / (N + 1)`` with N the number averaged so far. ``opt``'s
    updates pass through unchanged. E.g. ``every=steps_per_epoch`` averages once per epoch,
    like torch's per-epoch ``update_parameters``.

    Args:
      opt: the optimizer producing the params to average.
      start: the first step averaged, an integer >= 0 (``hparams['start']``).
      every: the period, an integer >= 1 (``hparams['every']``).

    Returns:
      An ``Optimizer`` (``update`` needs ``params``); its state is an ``AveragingState``
      with ``inner``, ``averaged`` and ``n_averaged``. Read the average with
      ``averaged_params(state)``.

    Batch-norm statistics are model state, not params: as with torch's ``update_bn``,
    recompute them for the averaged params before evaluating.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.swa(nf.optim.sgd(learning_rate=1.0))
      >>> p = {'w': jnp.zeros(1)}
      >>> s = opt.init(p)
      >>> for _ in range(3):                # params become 1, 2, 3
      ...     u, s = opt.update({'w': jnp.array([-1.0])}, s, p)
      ...     p = nf.optim.apply_updates(p, u)
      >>> float(nf.optim.averaged_params(s)['w'][0])
      2.0
    """
    return _averaging(opt, start, every, None)


def ema(opt: Optimizer, decay: Any = 0.999, *, start: Any = 0, every: Any = 1) -> Optimizer:
    """Exponential moving average of the params, as ``torch.optim.swa_utils.AveragedModel``
    with ``get_ema_multi_avg_fn(decay)``.

    After optimizer step n, when ``n >= start`` and ``(n − start) % every == 0``: the first
    time ``θ̄ = θₙ`` (a copy), then ``θ̄ ← decay · θ̄ + (1 − decay) · θₙ``. ``opt``'s updates
    pass through unchanged.

    Args:
      opt: the optimizer producing the params to average.
      decay: in [0, 1] (``hparams['decay']``, adjustable with ``set_hparams``).
      start: the first step averaged, an integer >= 0.
      every: the period, an integer >= 1.

    Returns:
      An ``Optimizer`` (``update`` needs ``params``); its state is an ``AveragingState``.
      Read the average with ``averaged_params(state)``.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.ema(nf.optim.sgd(learning_rate=1.0), decay=0.5)
      >>> p = {'w': jnp.zeros(1)}
      >>> s = opt.init(p)
      >>> for _ in range(2):                # params become 1, 2
      ...     u, s = opt.update({'w': jnp.array([-1.0])}, s, p)
      ...     p = nf.optim.apply_updates(p, u)
      >>> float(nf.optim.averaged_params(s)['w'][0])   # 0.5 · 1 + 0.5 · 2
      1.5
    """
    if decay is None:       # _averaging reads None as SWA's equal weights
        raise ValueError("decay must be in [0, 1], got None (nf.optim.swa is the "
                         "equal-weight average)")
    return _averaging(opt, start, every, decay)


def averaged_params(state: Any) -> PyTree:
    """The averaged params held by an ``swa``/``ema`` state, found anywhere in a state.

    Before the first averaged step this is the params given to ``init`` (torch's
    ``AveragedModel`` starts as a copy of the model). If several averaging wrappers are
    nested, the outermost (first found) wins.

    Args:
      state: an optimizer state containing an ``AveragingState`` (e.g. the ``opt_state``
        of a ``TrainState``, or a chain's state).

    Returns:
      The averaged params, with the params' structure and dtypes.

    Raises:
      ValueError: the state holds no averaging state.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.chain(nf.optim.clip_by_value(1.0), nf.optim.ema(nf.optim.sgd()))
      >>> s = opt.init({'w': jnp.ones(2)})
      >>> nf.optim.averaged_params(s)['w']
      Array([1., 1.], dtype=float32)
    """
    found = next((s for s in iter_states(state) if isinstance(s, AveragingState)), None)
    if found is None:
        raise ValueError("averaged_params needs a state from nf.optim.swa or nf.optim.ema "
                         f"(possibly inside a chain or wrapper), got {type(state).__name__}")
    return found.averaged
