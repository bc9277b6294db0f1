"""``fit``: epochs of fused training, evaluation, history, progress bar and callbacks.

The loop is here; what it prepares once is ``_setup``, resuming ``_resume``, the
progress bars ``_progress``, and what it returns ``results``.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Optional, Sequence

import jax

from nnfunc.layers import Layer
from nnfunc.layers.diagnostics import dead_relu_fraction
from nnfunc.optim import Optimizer
from nnfunc.train._program import LossFn, Regularizer, all_finite
from nnfunc.train._progress import Bars
from nnfunc.train._resume import restore_callbacks
from nnfunc.train._setup import Plan, prepare
from nnfunc.train._validate import check_monitor_names
from nnfunc.train.callbacks import Callback, Checkpoint, Run
from nnfunc.train.results import FitResult, NonFiniteLossError
from nnfunc.train.state import TrainState

__all__ = ["FitResult", "NonFiniteLossError", "fit"]


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
    plan = prepare(model, opt, loss_fn, data, epochs=epochs, batch_size=batch_size, key=key,
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
        restore_callbacks(callbacks, plan.resumed, plan.state)
        first = plan.resumed.epochs_done
        run.epoch, run.history = first - 1, plan.resumed.history
    with Bars(progress, epochs, plan.steps, done=min(first, epochs)) as bars:
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


# ---------------------------------------------------------------------------------------
# one epoch, and the callbacks after it

def _train_epoch(plan: Plan, ts: TrainState, epoch: int, bar) -> tuple[TrainState, dict]:
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


def _evaluate_epoch(plan: Plan, ts: TrainState) -> dict:
    """``eval_*`` metrics on the evaluation data, and the dead-ReLU diagnostic."""
    logs = {}
    if plan.evaluate is not None:
        metrics = plan.evaluate(ts.params, ts.model_state)
        logs.update({"eval_" + k: float(v) for k, v in jax.device_get(metrics).items()})
    if plan.probe is not None:
        logs["dead_relu"] = dead_relu_fraction(plan.model, ts.params, ts.model_state,
                                               plan.probe)
    return logs


def _notify(callbacks: Sequence[Callback], hook: str, run: Run) -> None:
    for cb in callbacks:
        getattr(cb, hook, lambda r: None)(run)


def _record(run: Run, epoch: int, logs: dict) -> None:
    for k, v in logs.items():
        run.history.setdefault(k, []).append(v)
    run.epoch, run.logs = epoch, logs
