"""``fit``: epochs of fused training, evaluation, history, progress bar and callbacks."""
from __future__ import annotations

import math
import time
from typing import Any, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp

from nnfunc import optim as _optim
from nnfunc.layers import Layer, activation_stats
from nnfunc.optim import Optimizer
from nnfunc.train.callbacks import Callback, Run
from nnfunc.train.epoch import (_check_batch_size, _check_data_shapes, _epoch_parts,
                                _jitted_epoch, _jitted_eval, _summarize)
from nnfunc.train.metrics import _forward, is_classification
from nnfunc.train.parallel import make_mesh, replicate
from nnfunc.train.state import TrainState, _check_int, _copy_state, init_state
from nnfunc.train.step import LossFn, Regularizer, _cached, _check_builder_args

__all__ = ["FitResult", "NonFiniteLossError", "fit"]

# Batch-progress granularity: an epoch runs as this many compiled scans when the
# progress bar is on (one scan otherwise).
_PROGRESS_CHUNKS = 10


class FitResult(NamedTuple):
    """What :func:`fit` returns: the final ``state`` (a ``TrainState``) and ``history``
    (``{name: [one float per epoch]}``)."""

    state: TrainState
    history: dict


class NonFiniteLossError(FloatingPointError, ValueError):
    """The training loss became NaN or infinite; the message names the epoch and step."""


# ---------------------------------------------------------------------------------------
# validation before training

def _check_finite(name: str, a: jax.Array) -> None:
    if jnp.issubdtype(a.dtype, jnp.inexact) and not bool(jnp.all(jnp.isfinite(a))):
        bad = int(jnp.sum(~jnp.isfinite(a)))
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); clean the data "
                         f"before training")


def _as_data(data: Any, name: str) -> tuple[jax.Array, jax.Array]:
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise ValueError(f"{name} must be a pair (X, Y) of arrays, got {type(data).__name__}")
    x, y = (d if isinstance(d, jax.Array) else jnp.asarray(d) for d in data)
    _check_data_shapes(x, y, 1, name=name)
    _check_finite(f"{name} X", x)
    _check_finite(f"{name} Y", y)
    return x, y


def _as_train_data(data: Any, eval_data: Any, batch_size: int):
    """Validated ``(X, Y, eval)``: ``eval`` is ``None`` or the validated ``eval_data``."""
    x, y = _as_data(data, "data")
    _check_data_shapes(x, y, batch_size)
    return x, y, None if eval_data is None else _as_data(eval_data, "eval_data")


def _check_model_fits(model: Layer, loss_fn: LossFn, ts: TrainState, x: jax.Array,
                      y: jax.Array, name: str, mixed_precision: bool) -> None:
    """Shape-check model and loss abstractly; check label ranges for classification."""
    xs, ys = x[:2], y[:2]
    try:
        logits = jax.eval_shape(lambda p, s, v: _forward(
            model, p, s, v, train=False, key=None, mixed_precision=mixed_precision)[0],
            ts.params, ts.model_state, xs)
    except Exception as err:  # the model's own message says what is wrong
        raise ValueError(f"the model cannot be applied to {name} X of example shape "
                         f"{tuple(x.shape[1:])}: {err}") from err
    try:
        per_example = jax.eval_shape(loss_fn, logits, ys)
    except Exception as err:
        raise ValueError(f"the model's output shape {tuple(logits.shape[1:])} (per example) "
                         f"does not fit loss_fn with {name} Y of example shape "
                         f"{tuple(y.shape[1:])}: {err}") from err
    if tuple(per_example.shape) != (xs.shape[0],):
        raise ValueError(f"loss_fn must return one loss per example, shape ({xs.shape[0]},), "
                         f"got {tuple(per_example.shape)} for model output shape "
                         f"{tuple(logits.shape)}; use reduction='none'")
    if is_classification(logits, ys):
        classes = logits.shape[-1]
        lo, hi = int(jnp.min(y)), int(jnp.max(y))
        if lo < 0 or hi >= classes:
            raise ValueError(f"{name} labels must be in [0, {classes}) for a model with "
                             f"{classes} outputs, got values in [{lo}, {hi}]")


def _skips_nonfinite(opt_state: Any) -> bool:
    """Whether the optimizer is wrapped in a skip-non-finite transform (it then leaves the
    parameters unchanged on a non-finite step, so training may go on)."""
    def visit(x) -> bool:
        if isinstance(x, tuple) and hasattr(x, "_fields") and (
                isinstance(x, _optim.SkipNonfiniteState)
                or "skipnonfinite" in type(x).__name__.lower()):
            return True
        if isinstance(x, (tuple, list)):
            return any(visit(c) for c in x)
        return isinstance(x, dict) and any(visit(c) for c in x.values())
    return visit(opt_state)


@jax.jit
def _all_finite(tree: Any) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(a)) for a in jax.tree_util.tree_leaves(tree)
              if jnp.issubdtype(a.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def _dead_relu_fraction(model: Layer, ts: TrainState, x: jax.Array) -> float:
    """Fraction of ReLU units (over all ReLU layers) that output 0 for every example."""
    stats = activation_stats(model, ts.params, ts.model_state, x)
    relus = [s for s in stats if "relu" in s["layer"].rsplit("/", 1)[-1].lower()]
    units = sum(s["shape"][-1] for s in relus)
    if not units:
        return math.nan
    return sum(s["dead_fraction"] * s["shape"][-1] for s in relus) / units


# ---------------------------------------------------------------------------------------
# the loop

@_cached
def _progress_parts(model, opt, loss_fn, batch_size, regularizer, mixed_precision,
                    diagnostics, mesh):
    start, run, _ = _epoch_parts(model, opt, loss_fn, batch_size, regularizer,
                                 mixed_precision, diagnostics, mesh)
    return (jax.jit(start, donate_argnums=(0,)), jax.jit(run, donate_argnums=(0,)),
            jax.jit(lambda chunks, opt_state: _summarize(
                {k: jnp.concatenate([c[k] for c in chunks]) for k in chunks[0]}, opt_state)))


def _chunked_epoch(parts, ts, x, y, bar):
    """One epoch as several scans, updating the batch bar between them. The next chunk
    is dispatched before the previous one's metrics are read, so the device never waits
    for the host."""
    start, run, summarize = parts
    ts, idx = start(ts, x, y)
    steps = idx.shape[0]
    size = max(1, math.ceil(steps / _PROGRESS_CHUNKS))
    chunks, pending = [], None
    for j in range(0, steps, size):
        ts, per_step = run(ts, x, y, idx[j:j + size])
        if pending is not None:
            _show_chunk(bar, pending)
        pending = per_step
        chunks.append(per_step)
    _show_chunk(bar, pending)
    return ts, summarize(chunks, ts.opt_state)


def _show_chunk(bar, per_step) -> None:
    if bar is None:
        return
    post = {"loss": f"{float(jnp.mean(per_step['loss'])):.4f}"}
    if "accuracy" in per_step:
        post["acc"] = f"{float(jnp.mean(per_step['accuracy'])):.4f}"
    bar.set_postfix(post, refresh=False)
    bar.update(int(per_step["loss"].shape[0]))


def fit(model: Layer, opt: Optimizer, loss_fn: LossFn, data: tuple[Any, Any], *,
        epochs: int = 1, batch_size: int = 32, key: Any = 0,
        eval_data: Optional[tuple[Any, Any]] = None,
        callbacks: Sequence[Callback] = (), progress: bool = True,
        devices: Optional[Sequence[Any]] = None, state: Optional[TrainState] = None,
        regularizer: Regularizer = None, mixed_precision: bool = False,
        diagnostics: bool = False, eval_batch_size: int = 1000) -> FitResult:
    """Train ``model`` for ``epochs`` epochs and record a per-epoch history.

    Each epoch is :func:`make_epoch`'s compiled program (shuffle on the device, scan of
    ``N // batch_size`` steps, remainder dropped), then :func:`evaluate` on ``eval_data``,
    then the callbacks. ``history`` holds one float per epoch for: ``loss``, ``accuracy``
    (classification), ``lr`` (the last step's), ``eval_loss`` and ``eval_accuracy`` (with
    ``eval_data``), ``seconds`` (training wall time of the epoch) and ``samples_per_s``;
    with ``diagnostics=True`` also ``grad_norm`` (mean ‖g‖₂ per step), ``update_ratio``
    (mean ‖Δθ‖/‖θ‖ per step) and ``dead_relu`` (fraction of ReLU units
    dead on up to 1000 evaluation, else training, examples; ``nf.layers.activation_stats``).

    Progress: with ``progress=True`` a tqdm bar counts epochs and a second one the batches
    of the current epoch, showing loss and accuracy. For the batch bar the epoch runs as
    10 compiled scans of consecutive batches (the same steps, in the same order, as the
    single-scan epoch); with ``progress=False`` each epoch is exactly one compiled program.

    Regularization and clipping, one way each: a penalty goes in ``regularizer=`` (a
    function ``params -> scalar`` added to the loss, e.g. ``lambda p: 1e-4 *
    nf.regularizers.l2(p)``); gradient clipping is part of the optimizer
    (``nf.optim.chain(nf.optim.clip_by_global_norm(1.0), opt)``).

    Errors: bad inputs raise ``ValueError`` before any training (X/Y length mismatch,
    NaN/inf in the data, ``batch_size`` outside [1, N], a model whose output does not fit
    ``loss_fn``, integer labels outside [0, classes)). A non-finite training loss raises
    :class:`NonFiniteLossError` naming the epoch and step, unless the optimizer is wrapped
    in a skip-non-finite transform; non-finite parameters always raise.

    Data parallel: ``devices=[...]`` replicates state and data on the devices and shards
    every batch across them (``batch_size`` must be divisible by ``len(devices)``); see
    :mod:`nnfunc.train.parallel`, also for multi-host use with
    ``jax.distributed.initialize()``.

    Args:
      model, opt, loss_fn: the ``Layer``, ``Optimizer`` and per-example loss.
      data: ``(X, Y)``; X's first axis indexes examples.
      epochs: number of epochs, >= 0.
      batch_size: examples per step.
      key: seed or key for :func:`init_state` (ignored when ``state`` is given).
      eval_data: optional ``(X, Y)`` evaluated after every epoch.
      callbacks: :class:`Callback` objects (``nf.train.EarlyStopping``, ...).
      progress: show tqdm progress bars.
      devices: devices for data parallelism, ``None`` for the default device.
      state: a ``TrainState`` to continue from (e.g. a loaded checkpoint); it is copied,
        not consumed.
      regularizer: optional penalty ``params -> scalar``.
      mixed_precision: bfloat16 compute with float32 master parameters.
      diagnostics: add ``grad_norm``, ``update_ratio`` and ``dead_relu`` to the history
        (they cost extra passes over the parameters every step).
      eval_batch_size: batch size of the evaluation passes.

    Returns:
      ``FitResult(state, history)``.

    Example:
      >>> import jax, jax.numpy as jnp, nnfunc as nf
      >>> X = jax.random.normal(jax.random.key(1), (128, 2))
      >>> Y = (X[:, 0] * X[:, 1] > 0).astype(jnp.int32)
      >>> model = nf.models.mlp([2, 16, 2])
      >>> result = nf.train.fit(model, nf.optim.adam(learning_rate=0.02),
      ...                       nf.losses.softmax_cross_entropy_with_integer_labels, (X, Y),
      ...                       epochs=30, batch_size=32, key=0, eval_data=(X, Y),
      ...                       progress=False)
      >>> len(result.history['loss']), bool(result.history['eval_accuracy'][-1] > 0.8)
      (30, True)
    """
    _check_builder_args(model, opt, loss_fn, regularizer)
    epochs = _check_int("epochs", epochs, 0)
    batch_size = _check_batch_size(batch_size)
    eval_batch_size = _check_int("eval_batch_size", eval_batch_size, 1)
    for cb in callbacks:
        if not any(hasattr(cb, h) for h in ("on_train_begin", "on_epoch_end", "on_train_end")):
            raise ValueError(f"callbacks must have on_train_begin/on_epoch_end/on_train_end "
                             f"hooks (subclass nf.train.Callback), got {cb!r}")
    x, y, ev = _as_train_data(data, eval_data, batch_size)
    mixed_precision, diagnostics = bool(mixed_precision), bool(diagnostics)

    if state is None:
        ts = init_state(model, opt, key, x.shape[1:])
    else:
        if not isinstance(state, TrainState):
            raise ValueError(f"state must be a TrainState, got {type(state).__name__}")
        ts = _copy_state(state)  # never consume the caller's
    _check_model_fits(model, loss_fn, ts, x, y, "data", mixed_precision)
    if ev is not None:
        _check_model_fits(model, loss_fn, ts, *ev, "eval_data", mixed_precision)

    mesh = None
    if devices is not None:
        mesh = make_mesh(devices, batch_size=batch_size)
        ts, x, y = replicate((ts, x, y), mesh)
        ev = None if ev is None else replicate(ev, mesh)

    builder_args = (model, opt, loss_fn, batch_size, regularizer, mixed_precision,
                    diagnostics, mesh)
    evaluate = _jitted_eval(model, loss_fn, eval_batch_size, mixed_precision)
    if progress:
        parts = _progress_parts(*builder_args)
    else:
        epoch_fn = _jitted_epoch(*builder_args, True)
    skips = _skips_nonfinite(ts.opt_state)
    steps = x.shape[0] // batch_size
    probe = (ev[0] if ev is not None else x)[:1000] if diagnostics else None

    run = Run(state=ts, epochs=epochs, history={})
    for cb in callbacks:
        getattr(cb, "on_train_begin", lambda r: None)(run)
    epoch_bar = batch_bar = None
    if progress:
        from tqdm.auto import tqdm
        epoch_bar = tqdm(total=epochs, desc="epoch", unit="epoch")
        batch_bar = tqdm(total=steps, desc="batch", unit="batch", leave=False)
    try:
        for epoch in range(epochs):
            start_step = int(run.state.step)
            t0 = time.perf_counter()
            if progress:
                batch_bar.reset(total=steps)
                ts, metrics = _chunked_epoch(parts, run.state, x, y, batch_bar)
            else:
                ts, metrics = epoch_fn(run.state, x, y)
            metrics = jax.device_get(metrics)
            seconds = time.perf_counter() - t0
            run.state = ts
            bad_step = int(metrics.pop("nonfinite_step"))
            if (bad_step >= 0 and not skips) or not bool(_all_finite(ts.params)):
                where = (f"step {bad_step} of the epoch (global step {start_step + bad_step})"
                         if bad_step >= 0 else "an unknown step (the loss stayed finite)")
                raise NonFiniteLossError(
                    f"non-finite training loss or parameters in epoch {epoch} (0-based) at "
                    f"{where}; lower the learning rate, check the data, or wrap the "
                    f"optimizer in nf.optim.skip_nonfinite to skip such steps")
            logs = {k: float(v) for k, v in metrics.items()}
            if ev is not None:
                for k, v in jax.device_get(evaluate(ts.params, ts.model_state, *ev)).items():
                    logs["eval_" + k] = float(v)
            logs["seconds"] = seconds
            logs["samples_per_s"] = steps * batch_size / seconds
            if diagnostics:
                logs["dead_relu"] = _dead_relu_fraction(model, ts, probe)
            for k, v in logs.items():
                run.history.setdefault(k, []).append(v)
            run.epoch, run.logs = epoch, logs
            for cb in callbacks:
                getattr(cb, "on_epoch_end", lambda r: None)(run)
            if epoch_bar is not None:
                shown = {k: f"{logs[k]:.4f}" for k in ("loss", "accuracy", "eval_loss",
                                                       "eval_accuracy") if k in logs}
                epoch_bar.set_postfix(shown, refresh=False)
                epoch_bar.update(1)
            if run.stop:
                break
        for cb in callbacks:
            getattr(cb, "on_train_end", lambda r: None)(run)
    finally:
        if progress:
            batch_bar.close()
            epoch_bar.close()
    return FitResult(run.state, run.history)
