"""``fit``: epochs of fused training, evaluation, history, progress bar and callbacks."""
from __future__ import annotations

import math
import os
import sys
import time
from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp

from nnfunc._checks import check_bool, check_int
from nnfunc.layers import Layer
from nnfunc.layers.diagnostics import dead_relu_fraction
from nnfunc.optim import Optimizer, SkipNonfiniteState
from nnfunc.train._program import (LossFn, ProgramSpec, Regularizer, all_finite, cached,
                                   epoch_parts, jitted_epoch, jitted_eval,
                                   jitted_eval_sums, jitted_stacked)
from nnfunc.train._stream import evaluate_stream, resolve_data, summarizer
from nnfunc.train._stream import train_epoch as stream_epoch
from nnfunc.train._validate import (as_metrics, check_augment, check_batch_size,
                                    check_builder_args, check_callbacks, check_model_fits,
                                    check_monitor_names, check_monitors, check_records_lr,
                                    check_state_fits, model_misfit, warn_raw_pixels,
                                    with_accuracy)
from nnfunc.train.callbacks import Callback, Checkpoint, Run, callback_key, checkpoint_files
from nnfunc.train.checkpoint import load_run
from nnfunc.train.parallel import make_mesh, replicate
from nnfunc.train.results import FitResult, NonFiniteLossError
from nnfunc.train.state import TrainState, copy_state, init_state

__all__ = ["FitResult", "NonFiniteLossError", "fit"]

# Batch-progress granularity: an epoch runs as this many compiled scans when the
# progress bar is on (one scan otherwise).
_PROGRESS_CHUNKS = 10


class _Plan(NamedTuple):
    """Everything :func:`fit` prepares once, before its first epoch."""

    model: Layer
    state: TrainState
    run_epoch: Callable          # (ts, batch_bar, epoch) -> (ts, metrics, samples)
    evaluate: Optional[Callable]  # (params, model_state) -> eval metrics; None: no eval
    steps: Optional[int]         # steps per epoch (None: unknown, an iterable's)
    skips_nonfinite: bool
    probe: Optional[jax.Array]   # examples for the dead-ReLU diagnostic
    resumed: Optional["_Resumed"]
    history_names: Callable      # () -> the names one epoch records (traced abstractly)
    records_lr: bool             # the optimizer state exposes its learning rate


# ---------------------------------------------------------------------------------------
# before the first epoch

def _prepare(model, opt, loss_fn, data, *, epochs, batch_size, key, eval_data, callbacks,
             progress, devices, state, regularizer, mixed_precision, diagnostics,
             eval_batch_size, resume, metrics, augment, steps_per_epoch) -> _Plan:
    """Validate everything, build or copy the state, shard it, pick the compiled epoch."""
    check_builder_args(model, opt, loss_fn, regularizer)
    epochs = check_int("epochs", epochs, minimum=0, allowed="an int >= 0")
    batch_size = check_batch_size(batch_size)
    eval_batch_size = check_int("eval_batch_size", eval_batch_size, minimum=1,
                                allowed="an int >= 1")
    check_callbacks(callbacks)
    if steps_per_epoch is not None:
        steps_per_epoch = check_int("steps_per_epoch", steps_per_epoch, minimum=1,
                                    allowed="None or an int >= 1")
    x, y, batch_size, ev, stream, ev_stream = resolve_data(
        data, eval_data, batch_size, epochs=epochs, steps_per_epoch=steps_per_epoch)
    steps = x.shape[0] // batch_size if stream is None else stream.length
    check_monitors(callbacks, ev)
    warn_raw_pixels(x)
    mixed_precision = check_bool("mixed_precision", mixed_precision)
    diagnostics = check_bool("diagnostics", diagnostics)
    if resume is not None and state is not None:
        raise ValueError("pass state= or resume=, not both: resume=path restores the state "
                         "(and the history and callbacks) from a checkpoint file")
    ts = _starting_state(model, opt, key, x, state)
    resumed = None
    if resume is not None:
        resumed = _load_resume(resume, ts, steps or 1)
        check_state_fits(model, resumed.state, tuple(x.shape[1:]), "state", opt=opt)
        ts = resumed.state
    check_model_fits(model, loss_fn, ts, x, y, "data", mixed_precision)
    if ev is not None:
        check_model_fits(model, loss_fn, ts, *ev, "eval_data", mixed_precision)
    metrics = with_accuracy(as_metrics(metrics), model, ts, x, y, ev, mixed_precision)
    check_augment(augment, x, batch_size)
    records_lr = check_records_lr(ts.opt_state)

    mesh = place = None
    if devices is not None:
        mesh = make_mesh(devices, batch_size=batch_size)
        place = lambda arrays: replicate(arrays, mesh)  # noqa: E731
        ts, x, y = replicate((ts, x, y), mesh)
        ev = None if ev is None or ev_stream is not None else replicate(ev, mesh)
    else:
        # The state on the data's device, committed: the first epoch's outputs are
        # committed like the data, and an uncommitted starting state would make the
        # second epoch a different program (compiled again) when the data is committed.
        ts = jax.device_put(ts, x.sharding)
    spec = ProgramSpec(model, opt, loss_fn, regularizer, mixed_precision, diagnostics, mesh,
                       metrics, augment)
    if stream is not None:
        run_chunk = jitted_stacked(spec)
        summarize_chunks = summarizer(metrics)

        def run_epoch(ts, bar, epoch):
            return stream_epoch(run_chunk, summarize_chunks, ts, stream, epoch, bar, place)
    elif progress and _interactive():      # batch bars: the epoch in chunks
        parts = _progress_parts(spec, batch_size)

        def run_epoch(ts, bar, epoch):
            return _chunked_epoch(parts, ts, x, y, bar) + (steps * batch_size,)
    else:
        epoch_fn = jitted_epoch(spec, batch_size, True)

        def run_epoch(ts, bar, epoch):
            return epoch_fn(ts, x, y) + (steps * batch_size,)
    probe = (ev[0] if ev is not None else x)[:1000] if diagnostics else None
    evaluate_arrays = jitted_eval(spec.eval, eval_batch_size)
    if ev_stream is not None:
        sums = jitted_eval_sums(spec.eval)
        evaluate = lambda p, s: evaluate_stream(sums, metrics, p, s, ev_stream)  # noqa: E731
    elif ev is not None:
        evaluate = lambda p, s: evaluate_arrays(p, s, *ev)  # noqa: E731
    else:
        evaluate = None

    def history_names() -> set:
        epoch = epoch_parts(spec, batch_size)[2]
        names = set(jax.eval_shape(epoch, ts, x, y)[1]) - {"nonfinite_step"}
        names |= {"seconds", "samples_per_s"} | ({"dead_relu"} if diagnostics else set())
        if ev is not None:
            names |= {"eval_" + k for k in jax.eval_shape(evaluate_arrays, ts.params,
                                                          ts.model_state, *ev)}
        return names if records_lr else names - {"lr"}

    return _Plan(model, ts, run_epoch, evaluate, steps, _skips_nonfinite(ts.opt_state), probe,
                 resumed, history_names, records_lr)


def _starting_state(model, opt, key, x, state) -> TrainState:
    if state is None:
        try:
            return init_state(model, opt, key, x.shape[1:])
        except ValueError as err:    # the model's message says what it expects
            raise model_misfit("data", x.shape[1:], err) from err
    if not isinstance(state, TrainState):
        raise ValueError(f"state must be a TrainState, got {type(state).__name__}")
    check_state_fits(model, state, tuple(x.shape[1:]), "state", opt=opt)
    return copy_state(state)  # never consume the caller's


def _skips_nonfinite(opt_state: Any) -> bool:
    """Whether the optimizer is wrapped in ``nf.optim.skip_nonfinite`` (found by its state
    type): it then leaves the parameters unchanged on a non-finite step, so training may
    go on."""
    found = jax.tree_util.tree_leaves(
        opt_state, is_leaf=lambda s: isinstance(s, SkipNonfiniteState))
    return any(isinstance(s, SkipNonfiniteState) for s in found)


def _resume_file(resume: Any) -> str:
    """The checkpoint file to resume from: ``resume`` itself, or the newest file a
    :class:`Checkpoint` wrote in the folder ``resume``."""
    path = os.fspath(resume)
    if os.path.isdir(path):
        files = checkpoint_files(path)
        if not files:
            raise FileNotFoundError(f"resume={path!r}: the folder holds no checkpoint "
                                    f"files (NAME-STEP.npz, as Checkpoint writes them)")
        return files[-1]
    if not os.path.isfile(path):
        raise FileNotFoundError(f"resume={path!r}: no such checkpoint file or folder")
    return path


class _Resumed(NamedTuple):
    state: TrainState
    epochs_done: int
    history: dict
    callbacks: list     # [{'key': ..., 'state': ...}]
    tree: Callable      # (name, like) -> a callback's saved state tree


def _load_resume(resume: Any, fresh: TrainState, steps: int) -> _Resumed:
    """The state, epochs done, history and callbacks' state of a checkpoint file (one
    written by :func:`save_checkpoint` has no run: its epochs are counted from the step)."""
    ts, run, tree = load_run(_resume_file(resume), fresh)
    if run is None:
        return _Resumed(ts, int(ts.step) // max(steps, 1), {}, [], tree)
    return _Resumed(ts, int(run["epochs_done"]),
                    {k: list(v) for k, v in run["history"].items()},
                    list(run["callbacks"]), tree)


def _restore_callbacks(callbacks: Sequence[Callback], resumed: _Resumed,
                       like: TrainState) -> None:
    """Give each stateful callback the state saved for the callback of the same type and
    monitor (in order among equals); a callback the file has no state for starts fresh."""
    saved = list(resumed.callbacks)
    for cb in callbacks:
        if not callable(getattr(cb, "load_state_dict", None)):
            continue
        match = next((e for e in saved if e["key"] == callback_key(cb)), None)
        if match is None:
            continue
        saved.remove(match)
        state = {k: (resumed.tree(v["__tree__"], like)
                     if isinstance(v, dict) and "__tree__" in v else v)
                 for k, v in match["state"].items()}
        cb.load_state_dict(state)


# ---------------------------------------------------------------------------------------
# one epoch: train, check, evaluate

@cached
def _progress_parts(spec: ProgramSpec, batch_size: int):
    start, run, _ = epoch_parts(spec, batch_size)
    return (jax.jit(start, donate_argnums=(0,)), jax.jit(run, donate_argnums=(0,)),
            summarizer(spec.metrics))


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
    ts, metrics, samples = plan.run_epoch(ts, bar, epoch)
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
    if not plan.records_lr:
        metrics.pop("lr")
    logs = {k: float(v) for k, v in metrics.items()}
    logs["seconds"] = seconds
    logs["samples_per_s"] = samples / seconds
    return ts, logs


def _evaluate_epoch(plan: _Plan, ts: TrainState) -> dict:
    """``eval_*`` metrics on the evaluation data, and the dead-ReLU diagnostic."""
    logs = {}
    if plan.evaluate is not None:
        metrics = plan.evaluate(ts.params, ts.model_state)
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

    def __init__(self, progress: bool, epochs: int, steps: int, *, done: int = 0):
        self.epoch = self.batch = None
        self.lines = progress and not _interactive()
        if progress and not self.lines:
            from tqdm.auto import tqdm
            self.epoch = tqdm(total=epochs, initial=done, desc="epoch", unit="epoch")
            self.batch = tqdm(total=steps, desc="batch", unit="batch", leave=False)
        self.steps, self.epochs, self.done = steps, epochs, done

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
        diagnostics: bool = False, eval_batch_size: int = 1000,
        metrics: Any = None, augment: Optional[Callable] = None,
        resume: Any = None, steps_per_epoch: Optional[int] = None) -> FitResult:
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
    another model or optimizer, a callback monitoring ``eval_*`` without ``eval_data`` or
    a name the history will not have;
    ``TypeError`` for a ``mixed_precision`` or ``diagnostics`` that is not a bool). A
    non-finite training loss raises
    :class:`NonFiniteLossError` naming the epoch and step, unless the optimizer is wrapped
    in a skip-non-finite transform; non-finite parameters always raise.

    Metrics: ``metrics={'top3': fn, ...}`` (or a list of functions, ``Metric`` objects or
    names of :mod:`nnfunc.metrics` such as ``'f1'``) adds one history entry per metric for
    training and, with ``eval_data``, ``eval_<name>``. A metric is ``fn(logits, labels) ->
    scalar``, computed on the device inside the compiled epoch on every batch: a plain
    function is a mean over examples (batches weighted by their size); an
    ``nf.metrics.Metric`` (``nf.metrics.f1``, ...) sums its statistics over the batches
    and finalizes them once (macro F1 over the whole epoch, not a mean of batch F1s).
    The training value is over the batches as trained (model in training mode, as
    ``loss``). One-hot float labels get ``accuracy`` too.

    Augmentation: ``augment(key, x) -> x`` runs on every training batch inside the
    compiled step (never on ``eval_data``), with a key derived from the state's key and
    step, so runs are reproducible; it must keep the batch's shape and dtype. Ready ones:
    ``nf.data.random_translate``, ``random_crop``, ``random_flip``, ``gaussian_noise``,
    ``compose``. With inputs as targets (``data=X``) the targets are the augmented inputs.

    Data from an iterable: ``data`` may be any iterable of ``(x, y)`` batches (or of
    ``x`` alone) instead of arrays: a generator, a list, a torch ``DataLoader`` or a
    ``tf.data`` dataset yielding arrays; ``eval_data`` too (a list of exactly two arrays
    is read as ``[X, Y]``, as before: give two ``x``-only batches as a generator). The
    batches are the batches (``batch_size`` is not used; the last one may be smaller and
    is weighted by its size); every batch must have the first one's example shape. A
    background thread converts and stacks consecutive batches of one size into chunks (up
    to 32 batches, 16 MB) and puts them on the device while it trains on the previous
    chunk, each chunk one compiled scan of steps. Each epoch is ``iter(data)``: a one-shot
    generator can feed one epoch, or any number with ``steps_per_epoch`` (then each epoch
    takes the next ``steps_per_epoch`` batches). Only the first batch is checked for NaN/inf (a
    later one shows as a non-finite loss, which names the step).

    Resume: ``resume=path`` continues a run from a file written by
    :class:`~nnfunc.train.Checkpoint` (or the newest such file in the folder ``path``):
    the training state, the history and the callbacks' state (early stopping's best value
    and patience count, the plateau machine, the best checkpoint) are restored, and
    ``epochs`` is the run's total (Keras's ``initial_epoch``, Lightning's
    ``max_epochs``): resuming after epoch 2 with ``epochs=4`` trains epochs 2 and 3, and
    the history holds all four, equal bit for bit to an uninterrupted run's (except
    ``seconds`` and ``samples_per_s``). A file from :func:`save_checkpoint` restores
    the state alone; its epochs done are counted from the state's step.

    Data parallel: ``devices=[...]`` replicates state and data on the devices and shards
    every batch across them (``batch_size`` must be divisible by ``len(devices)``); see
    :mod:`nnfunc.train.parallel`, also for multi-host use with
    ``jax.distributed.initialize()``.

    Args:
      model, opt, loss_fn: the ``Layer``, ``Optimizer`` and per-example loss.
      data: ``(X, Y)``; X's first axis indexes examples. Or the inputs ``X`` alone:
        unsupervised training whose targets are the inputs (an autoencoder:
        ``loss_fn(f(x), x)``); the device then holds one copy of ``X``. Or an iterable
        of ``(x, y)`` batches (see above).
      epochs: number of epochs, >= 0.
      batch_size: examples per step.
      key: seed or key for :func:`init_state` (ignored when ``state`` is given).
      eval_data: optional ``(X, Y)`` (or ``X`` alone, or an iterable of batches) evaluated
        after every epoch.
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
      metrics: extra metrics, ``{name: fn}`` or a list (see above).
      augment: ``(key, x) -> x`` applied to every training batch on the device.
      resume: a checkpoint file or folder to continue from (see above); not together
        with ``state``.
      steps_per_epoch: for an iterable ``data``: batches per epoch (``None``: one pass).

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
                    eval_batch_size=eval_batch_size, resume=resume, metrics=metrics,
                    augment=augment, steps_per_epoch=steps_per_epoch)
    check_monitor_names(callbacks, plan.history_names)
    # Checkpoints last: the file then holds every callback's state after the epoch.
    ordered = ([cb for cb in callbacks if not isinstance(cb, Checkpoint)]
               + [cb for cb in callbacks if isinstance(cb, Checkpoint)])
    run = Run(state=plan.state, epochs=epochs, history={}, callbacks=tuple(callbacks))
    _notify(ordered, "on_train_begin", run)
    first = 0
    if plan.resumed is not None:
        _restore_callbacks(callbacks, plan.resumed, plan.state)
        first = plan.resumed.epochs_done
        run.epoch, run.history = first - 1, plan.resumed.history
    with _Bars(progress, epochs, plan.steps, done=min(first, epochs)) as bars:
        for epoch in range(first, epochs):
            run.state, logs = _train_epoch(plan, run.state, epoch, bars.start_epoch())
            logs.update(_evaluate_epoch(plan, run.state))
            _record(run, epoch, logs)
            _notify(ordered, "on_epoch_end", run)
            bars.end_epoch(logs)
            if run.stop:
                break
        _notify(ordered, "on_train_end", run)
    return FitResult(run.state, run.history)
