"""What ``fit`` prepares once, before its first epoch: every argument checked, the
starting state (fresh, copied or resumed) on its devices, the compiled epoch and
evaluation, as one :class:`Plan`.

Internal API of ``nnfunc.train`` (names without an underscore, not exported by the package).
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import jax

from nnfunc._checks import check_bool, check_int
from nnfunc.layers import Layer
from nnfunc.optim import SkipNonfiniteState
from nnfunc.train import _progress
from nnfunc.train._program import (ProgramSpec, epoch_parts, jitted_epoch, jitted_eval,
                                   jitted_eval_sums, jitted_stacked)
from nnfunc.train._progress import chunked_epoch, progress_parts
from nnfunc.train._resume import Resumed, load_resume
from nnfunc.train._stream import evaluate_stream, resolve_data, summarizer
from nnfunc.train._stream import train_epoch as stream_epoch
from nnfunc.train._validate import (as_metrics, check_augment, check_batch_size,
                                    check_builder_args, check_callbacks, check_model_fits,
                                    check_monitors, check_records_lr, check_state_fits,
                                    model_misfit, warn_raw_pixels, with_accuracy)
from nnfunc.train.parallel import make_mesh, replicate
from nnfunc.train.state import TrainState, copy_state, init_state


class Plan(NamedTuple):
    """Everything :func:`fit` prepares once, before its first epoch."""

    model: Layer
    state: TrainState
    run_epoch: Callable          # (ts, batch_bar, epoch) -> (ts, metrics, samples)
    evaluate: Optional[Callable]  # (params, model_state) -> eval metrics; None: no eval
    steps: Optional[int]         # steps per epoch (None: unknown, an iterable's)
    skips_nonfinite: bool
    probe: Optional[jax.Array]   # examples for the dead-ReLU diagnostic
    resumed: Optional[Resumed]
    history_names: Callable      # () -> the names one epoch records (traced abstractly)
    records_lr: bool             # the optimizer state exposes its learning rate


def prepare(model, opt, loss_fn, data, *, epochs, batch_size, key, eval_data, callbacks,
            progress, devices, state, regularizer, mixed_precision, diagnostics,
            eval_batch_size, resume, metrics, augment, steps_per_epoch) -> Plan:
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
    ts = starting_state(model, opt, key, x, state)
    resumed = None
    if resume is not None:
        resumed = load_resume(resume, ts, steps or 1)
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
    elif progress and _progress.interactive():      # batch bars: the epoch in chunks
        parts = progress_parts(spec, batch_size)

        def run_epoch(ts, bar, epoch):
            return chunked_epoch(parts, ts, x, y, bar) + (steps * batch_size,)
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

    return Plan(model, ts, run_epoch, evaluate, steps, skips_nonfinite(ts.opt_state), probe,
                resumed, history_names, records_lr)


def starting_state(model, opt, key, x, state) -> TrainState:
    if state is None:
        try:
            return init_state(model, opt, key, x.shape[1:])
        except ValueError as err:    # the model's message says what it expects
            raise model_misfit("data", x.shape[1:], err) from err
    if not isinstance(state, TrainState):
        raise ValueError(f"state must be a TrainState, got {type(state).__name__}")
    check_state_fits(model, state, tuple(x.shape[1:]), "state", opt=opt)
    return copy_state(state)  # never consume the caller's


def skips_nonfinite(opt_state: Any) -> bool:
    """Whether the optimizer is wrapped in ``nf.optim.skip_nonfinite`` (found by its state
    type): it then leaves the parameters unchanged on a non-finite step, so training may
    go on."""
    found = jax.tree_util.tree_leaves(
        opt_state, is_leaf=lambda s: isinstance(s, SkipNonfiniteState))
    return any(isinstance(s, SkipNonfiniteState) for s in found)
