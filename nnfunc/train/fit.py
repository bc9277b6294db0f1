"""``fit``: epochs of fused training, evaluation, history, progress bar and callbacks."""
from __future__ import annotations

import math
import sys
import time
from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp

from nnfunc._checks import check_bool, check_int
from nnfunc.layers import Layer
from nnfunc.layers.diagnostics import dead_relu_fraction
from nnfunc.optim import Optimizer, SkipNonfiniteState
from nnfunc.optim._base import hparams_of, iter_states
from nnfunc.train._program import (LossFn, Regularizer, all_finite, cached, check_model_fits,
                                   epoch_parts, jitted_epoch, jitted_eval, summarize)
from nnfunc.train._validate import (as_train_data, check_batch_size, check_builder_args,
                                    check_state_fits, model_misfit)
from nnfunc.train.callbacks import Callback, Run
from nnfunc.train.parallel import make_mesh, replicate
from nnfunc.train.state import TrainState, copy_state, init_state

__all__ = ["FitResult", "NonFiniteLossError", "fit"]

# Batch-progress granularity: an epoch runs as this many compiled scans when the
# progress bar is on (one scan otherwise).
_PROGRESS_CHUNKS = 10
_HOOKS = ("on_train_begin", "on_epoch_end", "on_train_end")


class FitResult(NamedTuple):
    """What :func:`fit` returns: the final ``state`` (a ``TrainState``) and ``history``
    (``{name: [one float per epoch]}``)."""

    state: TrainState
    history: dict


class NonFiniteLossError(FloatingPointError, ValueError):
    """The training loss became NaN or infinite; the message names the epoch and step."""


class _Plan(NamedTuple):
    """Everything :func:`fit` prepares once, before its first epoch."""

    model: Layer
    state: TrainState
    x: jax.Array
    y: Optional[jax.Array]          # None: the inputs are the targets
    eval_data: Optional[tuple[jax.Array, Optional[jax.Array]]]
    run_epoch: Callable          # (ts, batch_bar) -> (ts, metrics)
    evaluate: Callable           # (params, model_state, X, Y) -> metrics
    steps: int
    batch_size: int
    skips_nonfinite: bool
    probe: Optional[jax.Array]   # examples for the dead-ReLU diagnostic


# ---------------------------------------------------------------------------------------
# before the first epoch

def _prepare(model, opt, loss_fn, data, *, epochs, batch_size, key, eval_data, callbacks,
             progress, devices, state, regularizer, mixed_precision, diagnostics,
             eval_batch_size) -> _Plan:
    """Validate everything, build or copy the state, shard it, pick the compiled epoch."""
    check_builder_args(model, opt, loss_fn, regularizer)
    check_int("epochs", epochs, minimum=0, allowed="an int >= 0")
    batch_size = check_batch_size(batch_size)
    eval_batch_size = check_int("eval_batch_size", eval_batch_size, minimum=1,
                                allowed="an int >= 1")
    for cb in callbacks:
        if not any(hasattr(cb, h) for h in _HOOKS):
            raise ValueError(f"callbacks must have on_train_begin/on_epoch_end/on_train_end "
                             f"hooks (subclass nf.train.Callback), got {cb!r}")
    x, y, ev = as_train_data(data, eval_data, batch_size)
    _check_monitors(callbacks, ev)
    mixed_precision = check_bool("mixed_precision", mixed_precision)
    diagnostics = check_bool("diagnostics", diagnostics)
    ts = _starting_state(model, opt, key, x, state)
    check_model_fits(model, loss_fn, ts, x, y, "data", mixed_precision)
    if ev is not None:
        check_model_fits(model, loss_fn, ts, *ev, "eval_data", mixed_precision)

    mesh = None
    if devices is not None:
        mesh = make_mesh(devices, batch_size=batch_size)
        ts, x, y = replicate((ts, x, y), mesh)
        ev = None if ev is None else replicate(ev, mesh)
    args = (model, opt, loss_fn, batch_size, regularizer, mixed_precision, diagnostics, mesh)
    if progress and _interactive():      # batch bars: the epoch in chunks
        parts = _progress_parts(*args)
        run_epoch = lambda ts, bar: _chunked_epoch(parts, ts, x, y, bar)  # noqa: E731
    else:
        epoch_fn = jitted_epoch(*args, True)
        run_epoch = lambda ts, bar: epoch_fn(ts, x, y)  # noqa: E731
    probe = (ev[0] if ev is not None else x)[:1000] if diagnostics else None
    return _Plan(model, ts, x, y, ev, run_epoch,
                 jitted_eval(model, loss_fn, eval_batch_size, mixed_precision),
                 x.shape[0] // batch_size, batch_size, _skips_nonfinite(ts.opt_state), probe)


def _check_monitors(callbacks, ev) -> None:
    """A callback watching an ``eval_*`` entry needs ``eval_data``: fail before epoch 0
    rather than after it (callbacks name what they watch in ``monitor``)."""
    if ev is not None:
        return
    for cb in callbacks:
        mon = getattr(cb, "monitor", None)
        if isinstance(mon, str) and mon.startswith("eval_"):
            raise ValueError(f"callbacks: {type(cb).__name__} monitors {mon!r}, which only exists with "
                             f"eval_data=(X, Y); pass eval_data or monitor a training "
                             f"entry such as 'loss'")


def _starting_state(model, opt, key, x, state) -> TrainState:
    if state is None:
        try:
            return init_state(model, opt, key, x.shape[1:])
        except ValueError as err:    # the model's message says what it expects
            raise model_misfit("data", x.shape[1:], err) from err
    if not isinstance(state, TrainState):
        raise ValueError(f"state must be a TrainState, got {type(state).__name__}")
    _check_state_fits(model, opt, state, tuple(x.shape[1:]))
    return copy_state(state)  # never consume the caller's


def _check_state_fits(model, opt, ts: TrainState, input_shape: tuple) -> None:
    """``ts`` must have been built for this model (params and model state: same tree
    structure and leaf shapes as ``model.init``'s, checked abstractly) and by an optimizer
    of ``opt``'s kind (same state types and hyperparameter names). Its hyperparameter
    values win over ``opt``'s (torch's ``load_state_dict`` rule, which also keeps a rate
    that ``ReduceLROnPlateau`` lowered or ``set_hparams`` set: no warning, since setting
    them in the state is the way to change them)."""
    check_state_fits(model, ts, input_shape, "state")
    fresh = opt.init(jax.tree_util.tree_map(lambda p: jnp.zeros((1,) * jnp.ndim(p), p.dtype),
                                            ts.params))
    kinds = lambda s: [(type(o).__name__, sorted(hparams_of(o))) for o in iter_states(s)]  # noqa
    if kinds(fresh) != kinds(ts.opt_state):
        raise ValueError(f"state.opt_state was made by another optimizer than opt "
                         f"({kinds(ts.opt_state)} vs {kinds(fresh)}); to switch optimizers, "
                         f"pass state=state._replace(opt_state=opt.init(state.params))")


def _skips_nonfinite(opt_state: Any) -> bool:
    """Whether the optimizer is wrapped in ``nf.optim.skip_nonfinite`` (found by its state
    type): it then leaves the parameters unchanged on a non-finite step, so training may
    go on."""
    found = jax.tree_util.tree_leaves(
        opt_state, is_leaf=lambda s: isinstance(s, SkipNonfiniteState))
    return any(isinstance(s, SkipNonfiniteState) for s in found)


# ---------------------------------------------------------------------------------------
# one epoch: train, check, evaluate

@cached
def _progress_parts(model, opt, loss_fn, batch_size, regularizer, mixed_precision,
                    diagnostics, mesh):
    start, run, _ = epoch_parts(model, opt, loss_fn, batch_size, regularizer,
                                mixed_precision, diagnostics, mesh)
    return (jax.jit(start, donate_argnums=(0,)), jax.jit(run, donate_argnums=(0,)),
            jax.jit(lambda chunks, opt_state: summarize(
                {k: jnp.concatenate([c[k] for c in chunks]) for k in chunks[0]}, opt_state)))


def _chunked_epoch(parts, ts, x, y, bar):
    """One epoch as several scans, updating the batch bar between them. The next chunk
    is dispatched before the previous one's metrics are read, so the device never waits
    for the host."""
    start, run, summarize_chunks = parts
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
    return ts, summarize_chunks(chunks, ts.opt_state)


def _show_chunk(bar, per_step) -> None:
    post = {"loss": f"{float(jnp.mean(per_step['loss'])):.4f}"}
    if "accuracy" in per_step:
        post["acc"] = f"{float(jnp.mean(per_step['accuracy'])):.4f}"
    bar.set_postfix(post, refresh=False)
    bar.update(int(per_step["loss"].shape[0]))


def _train_epoch(plan: _Plan, ts: TrainState, epoch: int, bar) -> tuple[TrainState, dict]:
    """Run one compiled epoch; its mean metrics, wall time and throughput as floats."""
    start_step = int(ts.step)
    t0 = time.perf_counter()
    ts, metrics = plan.run_epoch(ts, bar)
    metrics = jax.device_get(metrics)
    seconds = time.perf_counter() - t0
    bad_step = int(metrics.pop("nonfinite_step"))
    if (bad_step >= 0 and not plan.skips_nonfinite) or not bool(all_finite(ts.params)):
        where = (f"step {bad_step} of the epoch (global step {start_step + bad_step})"
                 if bad_step >= 0 else "an unknown step (the loss stayed finite)")
        raise NonFiniteLossError(
            f"non-finite training loss or parameters in epoch {epoch} (0-based) at "
            f"{where}; lower the learning rate, check the data, or wrap the "
            f"optimizer in nf.optim.skip_nonfinite to skip such steps")
    logs = {k: float(v) for k, v in metrics.items()}
    logs["seconds"] = seconds
    logs["samples_per_s"] = plan.steps * plan.batch_size / seconds
    return ts, logs


def _evaluate_epoch(plan: _Plan, ts: TrainState) -> dict:
    """``eval_*`` metrics on the evaluation data, and the dead-ReLU diagnostic."""
    logs = {}
    if plan.eval_data is not None:
        metrics = plan.evaluate(ts.params, ts.model_state, *plan.eval_data)
        logs.update({"eval_" + k: float(v) for k, v in jax.device_get(metrics).items()})
    if plan.probe is not None:
        logs["dead_relu"] = dead_relu_fraction(plan.model, ts.params, ts.model_state,
                                               plan.probe)
    return logs


# ---------------------------------------------------------------------------------------
# progress bars and callbacks

def _interactive() -> bool:
    """A terminal or a Jupyter kernel, where progress bars redraw in place."""
    return sys.stderr.isatty() or "ipykernel" in sys.modules


class _Bars:
    """The epoch and batch progress bars (tqdm) in a terminal or a notebook; in a
    non-interactive log (a file, CI) one line per epoch instead; nothing with
    ``progress=False``."""

    def __init__(self, progress: bool, epochs: int, steps: int):
        self.epoch = self.batch = None
        self.lines = progress and not _interactive()
        if progress and not self.lines:
            from tqdm.auto import tqdm
            self.epoch = tqdm(total=epochs, desc="epoch", unit="epoch")
            self.batch = tqdm(total=steps, desc="batch", unit="batch", leave=False)
        self.steps, self.epochs, self.done = steps, epochs, 0

    def __enter__(self) -> "_Bars":
        return self

    def __exit__(self, *exc) -> None:
        if self.epoch is not None:
            self.batch.close()
            self.epoch.close()

    def start_epoch(self):
        """The batch bar, reset for a new epoch (``None`` without bars)."""
        if self.batch is not None:
            self.batch.reset(total=self.steps)
        return self.batch

    def end_epoch(self, logs: dict) -> None:
        shown = {k: f"{logs[k]:.4f}" for k in ("loss", "accuracy", "eval_loss",
                                               "eval_accuracy") if k in logs}
        self.done += 1
        if self.lines:
            print(f"epoch {self.done}/{self.epochs}: "
                  + ", ".join(f"{k} {v}" for k, v in shown.items())
                  + (f" ({logs['seconds']:.2f} s)" if "seconds" in logs else ""),
                  file=sys.stderr, flush=True)
        elif self.epoch is not None:
            self.epoch.set_postfix(shown, refresh=False)
            self.epoch.update(1)


def _notify(callbacks: Sequence[Callback], hook: str, run: Run) -> None:
    for cb in callbacks:
        getattr(cb, hook, lambda r: None)(run)


def _record(run: Run, epoch: int, logs: dict) -> None:
    for k, v in logs.items():
        run.history.setdefault(k, []).append(v)
    run.epoch, run.logs = epoch, logs


# ---------------------------------------------------------------------------------------
# the loop

def fit(model: Layer, opt: Optimizer, loss_fn: LossFn, data: Any, *,
        epochs: int = 1, batch_size: int = 32, key: Any = 0,
        eval_data: Any = None,
        callbacks: Sequence[Callback] = (), progress: bool = True,
        devices: Optional[Sequence[Any]] = None, state: Optional[TrainState] = None,
        regularizer: Regularizer = None, mixed_precision: bool = False,
        diagnostics: bool = False, eval_batch_size: int = 1000) -> FitResult:
    """Train ``model`` for ``epochs`` epochs and record a per-epoch history.

    Each epoch is :func:`make_epoch`'s compiled program (shuffle on the device, scan of
    ``N // batch_size`` steps, remainder dropped), then :func:`evaluate` on ``eval_data``,
    then the callbacks. ``history`` holds one float per epoch for: ``loss``, ``accuracy``
    (classification), ``penalty`` (the activity regularizers' mean, with
    ``nf.layers.activity_regularizer`` in the model), ``lr`` (the last step's),
    ``eval_loss`` and ``eval_accuracy`` (with ``eval_data``), ``seconds`` (training wall
    time of the epoch) and ``samples_per_s``;
    with ``diagnostics=True`` also ``grad_norm`` (mean ‖g‖₂ per step), ``update_ratio``
    (mean ‖Δθ‖/‖θ‖ per step) and ``dead_relu`` (fraction of ReLU units
    dead on up to 1000 evaluation, else training, examples; ``nf.layers.activation_stats``).

    Progress: with ``progress=True``, in a terminal or a notebook, a tqdm bar counts
    epochs and a second one the batches of the current epoch, showing loss and accuracy.
    For the batch bar the epoch runs as 10 compiled scans of consecutive batches (the same
    steps, in the same order, as the single-scan epoch). In a non-interactive log (output
    to a file, CI) each epoch writes one line to stderr instead (``epoch 3/10: loss ...``)
    and runs as one compiled program, as with ``progress=False``.

    Regularization and clipping, one way each: a penalty goes in ``regularizer=`` (a
    function ``params -> scalar`` added to the loss, e.g. ``lambda p: 1e-4 *
    nf.regularizers.l2(p)``); gradient clipping is part of the optimizer
    (``nf.optim.chain(nf.optim.clip_by_global_norm(1.0), opt)``).

    Errors: bad inputs raise ``ValueError`` before any training (X/Y length mismatch,
    NaN/inf in the data, ``batch_size`` outside [1, N], a model whose output does not fit
    ``loss_fn``, integer labels outside [0, classes), complex data, a ``state`` built for
    another model or optimizer, a callback monitoring ``eval_*`` without ``eval_data``;
    ``TypeError`` for a ``mixed_precision`` or ``diagnostics`` that is not a bool). A
    non-finite training loss raises
    :class:`NonFiniteLossError` naming the epoch and step, unless the optimizer is wrapped
    in a skip-non-finite transform; non-finite parameters always raise.

    Data parallel: ``devices=[...]`` replicates state and data on the devices and shards
    every batch across them (``batch_size`` must be divisible by ``len(devices)``); see
    :mod:`nnfunc.train.parallel`, also for multi-host use with
    ``jax.distributed.initialize()``.

    Args:
      model, opt, loss_fn: the ``Layer``, ``Optimizer`` and per-example loss.
      data: ``(X, Y)``; X's first axis indexes examples. Or the inputs ``X`` alone:
        unsupervised training whose targets are the inputs (an autoencoder:
        ``loss_fn(f(x), x)``); the device then holds one copy of ``X``.
      epochs: number of epochs, >= 0.
      batch_size: examples per step.
      key: seed or key for :func:`init_state` (ignored when ``state`` is given).
      eval_data: optional ``(X, Y)`` (or ``X`` alone) evaluated after every epoch.
      callbacks: :class:`Callback` objects (``nf.train.EarlyStopping``, ...).
      progress: show tqdm progress bars.
      devices: devices for data parallelism, ``None`` for the default device.
      state: a ``TrainState`` to continue from (e.g. a loaded checkpoint); it is copied,
        not consumed. It must fit the model (tree structure and leaf shapes of
        ``params``/``model_state``) and come from an optimizer of ``opt``'s kind; its
        optimizer hyperparameters are used, not ``opt``'s (torch's ``load_state_dict``
        rule; change them with ``nf.optim.set_hparams`` on ``state.opt_state``).
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
    plan = _prepare(model, opt, loss_fn, data, epochs=epochs, batch_size=batch_size, key=key,
                    eval_data=eval_data, callbacks=callbacks, progress=progress,
                    devices=devices, state=state, regularizer=regularizer,
                    mixed_precision=mixed_precision, diagnostics=diagnostics,
                    eval_batch_size=eval_batch_size)
    run = Run(state=plan.state, epochs=epochs, history={})
    _notify(callbacks, "on_train_begin", run)
    with _Bars(progress, epochs, plan.steps) as bars:
        for epoch in range(epochs):
            run.state, logs = _train_epoch(plan, run.state, epoch, bars.start_epoch())
            logs.update(_evaluate_epoch(plan, run.state))
            _record(run, epoch, logs)
            _notify(callbacks, "on_epoch_end", run)
            bars.end_epoch(logs)
            if run.stop:
                break
        _notify(callbacks, "on_train_end", run)
    return FitResult(run.state, run.history)
