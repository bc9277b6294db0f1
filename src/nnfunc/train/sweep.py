"""``sweep``: many training runs as ONE compiled program, with a leading run axis.

How the runs share the program is ``sweep``'s ``layout``:

* ``'runs_first'``: ``vmap`` of whole runs, every state leaf ``(R, ...)``. While one
  run's step is too small to keep the device busy, its fixed costs are shared by all
  runs.
* ``'runs_inside'``: the same ``vmap``, with the runs axis of every weight whose input
  the runs share (a first layer's) carried next to the weight's output axis
  (:mod:`nnfunc.train._runs_inside`): those weights, their gradients and their optimizer
  slots then need no transpose in the step, so a step moves less memory.
* ``'sequential'``: ``lax.map`` over the runs: still one compiled program, each run the
  same computation as :func:`fit`'s. On CPU this beats ``vmap`` for large steps: XLA:CPU
  lowers the run-batched weight-gradient products ``(R, B, m)ᵀ·(R, B, n)`` to slower
  loops than the single-run GEMMs and adds transposes and copies of the ``(R, m, n)``
  weights every step, while a single large run already spends its time in GEMMs.
* ``'auto'``: per backend, from :data:`_AUTO_LAYOUT`; on CPU a run whose step costs at
  least ``scan_flops`` FLOPs (XLA's count) is run ``'sequential'``.

Every layout computes the same arithmetic; only the memory layout and the order of the
work differ.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from nnfunc._checks import check_bool, check_choice, check_int
from nnfunc.layers import Layer
from nnfunc.optim import Optimizer, set_hparams
from nnfunc.train import _runs_inside
from nnfunc.train._program import (LossFn, ProgramSpec, Regularizer, all_finite, cached,
                                   epoch_parts, eval_means, jitted_eval, jitted_eval_sums,
                                   jitted_stacked, step_body)
from nnfunc.train._stream import Stream, evaluate_stream, resolve_data, summarizer
from nnfunc.train._stream import train_epoch as stream_epoch
from nnfunc.train._validate import (check_model_fits, as_metrics, check_augment,
                                    check_batch_size, check_builder_args, model_misfit,
                                    with_accuracy)
from nnfunc.train.results import SweepResult
from nnfunc.train.state import TrainState, as_key, init_state

__all__ = ["SweepResult", "sweep"]

LAYOUTS = ("auto", "runs_first", "runs_inside", "sequential")

# layout='auto', per backend (``jax.default_backend()``; others: 'runs_first'). CPU:
# 'runs_inside' is slower there than 'runs_first' (the extra layout work outweighs the
# saved transposes), and large steps go 'sequential' (see ``_scan_runs``). Accelerators:
# 'runs_first' until the sweep-layout benchmark shows 'runs_inside' faster there.
_AUTO_LAYOUT = {"cpu": "runs_first", "gpu": "runs_first", "tpu": "runs_first"}


def _runs(hparams: Mapping[str, Any], seeds: Optional[Sequence[int]]) -> tuple[dict, Any, int]:
    values = {}
    for name, v in hparams.items():
        arr = np.asarray(v, dtype=np.float64)
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"hparams[{name!r}] must be a non-empty 1-D sequence of values "
                             f"(one per run), got shape {arr.shape}")
        values[name] = arr
    seed_arr = None
    if seeds is not None:
        seed_arr = np.asarray(seeds)
        if (seed_arr.ndim != 1 or seed_arr.size == 0
                or not np.issubdtype(seed_arr.dtype, np.integer) or np.any(seed_arr < 0)):
            raise ValueError(f"seeds must be a non-empty 1-D sequence of ints >= 0, got {seeds!r}")
    lengths = {len(v) for v in values.values()} | ({len(seed_arr)} if seed_arr is not None else set())
    if not lengths:
        raise ValueError("sweep needs hparams={name: values} and/or seeds=[...]")
    if len(lengths) > 1:
        raise ValueError(f"every hparams sequence and seeds must have the same length (one "
                         f"entry per run), got lengths "
                         f"{ {k: len(v) for k, v in values.items()} } and seeds "
                         f"{None if seed_arr is None else len(seed_arr)}")
    return values, seed_arr, lengths.pop()


class _Runs(NamedTuple):
    """What a sweep's program is built from besides its step (hashable: a cache key)."""

    batch_size: int
    eval_batch_size: int
    epochs: int
    input_shape: tuple
    key_axis: Optional[int]     # 0: a key per run; None: one key for all
    runs: int
    layout: str                 # 'runs_first', 'runs_inside' or 'sequential'


def _step_flops(spec: ProgramSpec, batch_size, input_shape, x_dtype, y_shape, y_dtype
                ) -> Optional[float]:
    """XLA's FLOP count of one run's training step (from the lowered, uncompiled program;
    ``None`` where the backend gives none)."""
    body = step_body(spec)
    ts = jax.eval_shape(lambda: init_state(spec.model, spec.opt, jax.random.key(0),
                                           input_shape))
    xb = jax.ShapeDtypeStruct((batch_size,) + input_shape, x_dtype)
    yb = None if y_shape is None else jax.ShapeDtypeStruct((batch_size,) + y_shape, y_dtype)
    cost = jax.jit(body).lower(ts, xb, yb).cost_analysis()
    if isinstance(cost, (list, tuple)):     # older jax: one dict per computation
        cost = cost[0] if cost else None
    flops = None if not cost else cost.get("flops")
    return None if flops is None or flops < 0 else float(flops)


def _target_spec(y: Optional[jax.Array]) -> tuple[Optional[tuple], Any]:
    """(example shape, dtype) of the targets; ``(None, None)`` when the inputs are."""
    return (None, None) if y is None else (tuple(y.shape[1:]), jnp.dtype(y.dtype))


@cached
def _scan_runs(spec: ProgramSpec, batch_size, input_shape, x_dtype, y_shape, y_dtype, *,
               scan_flops: float = 1e8) -> bool:
    """Whether ``layout='auto'`` scans over the runs instead of vmapping them: on CPU,
    when one run's step costs at least ``scan_flops`` FLOPs (XLA's count; the default is
    about where vmapped runs stop beating runs one after the other on a few-core CPU: an
    MLP 784-256-256-10 with Adam at batch 128 is above it, 784-128-128-10 below). See
    the module notes."""
    if jax.default_backend() != "cpu":
        return False
    flops = _step_flops(spec, batch_size, input_shape, x_dtype, y_shape, y_dtype)
    return flops is not None and flops >= scan_flops


def _resolve_layout(layout: str, scan: Callable[[], bool]) -> str:
    """The layout ``'auto'`` stands for on this backend (``scan()``: whether a
    ``'runs_first'`` choice goes ``'sequential'`` for its large steps)."""
    if layout != "auto":
        return layout
    chosen = _AUTO_LAYOUT.get(jax.default_backend(), "runs_first")
    return "sequential" if chosen == "runs_first" and scan() else chosen


def _init_run(model, opt, input_shape, run_key, hp) -> TrainState:
    ts = init_state(model, opt, run_key, input_shape)
    return ts._replace(opt_state=set_hparams(ts.opt_state, **hp)) if hp else ts


@cached
def _sweep_program(spec: ProgramSpec, r: _Runs):
    """The jitted program of all runs: ``vmap`` of whole runs (``'runs_first'``), or
    ``lax.map`` over them (``'sequential'``), or a scan of the ``vmap``-ped step on the
    runs-inside state (``'runs_inside'``); cached: repeated sweeps reuse the compilation."""
    epoch = epoch_parts(spec, r.batch_size)[2]
    evaluate = jitted_eval(spec.eval, r.eval_batch_size)
    init_run = lambda k, hp: _init_run(spec.model, spec.opt, r.input_shape, k, hp)  # noqa: E731
    key_axis, runs, epochs = r.key_axis, r.runs, r.epochs

    def one_run(run_key, hp, x, y, ev):
        ts = init_run(run_key, hp)

        def epoch_body(ts, _):
            ts, m = epoch(ts, x, y)
            if ev is not None:
                m.update({"eval_" + k: v for k, v in
                          evaluate(ts.params, ts.model_state, *ev).items()})
            return ts, m
        ts, history = jax.lax.scan(epoch_body, ts, None, length=epochs)
        return ts, history, all_finite(ts.params)

    if r.layout != "sequential":
        runs_first = jax.vmap(one_run, in_axes=(key_axis, 0, None, None, None),
                              axis_size=runs)
        if r.layout == "runs_first":
            return jax.jit(runs_first)
        return jax.jit(_inside_sweep(runs_first, init_run, step_body(spec), evaluate, r,
                                     spec.metrics))

    def all_runs(run_keys, hp, x, y, ev):
        def run_i(i):
            k = run_keys if key_axis is None else run_keys[i]
            return one_run(k, {n: v[i] for n, v in hp.items()}, x, y, ev)
        return jax.lax.map(run_i, jnp.arange(runs))
    return jax.jit(all_runs)


def _inside_sweep(runs_first, init_run, body, evaluate, r: _Runs, metrics):
    """``runs_first``'s program on the runs-inside state (``_runs_inside``), or
    ``runs_first`` itself when no weight has an input the runs share."""
    batch_size, epochs, key_axis, runs = r.batch_size, r.epochs, r.key_axis, r.runs

    def all_runs(run_keys, hp, x, y, ev):
        ts = jax.vmap(init_run, in_axes=(key_axis, 0), axis_size=runs)(run_keys, hp)
        axes = _runs_inside.layout(body, ts, x, y, batch_size, key_axis)
        if axes is None:
            return runs_first(run_keys, hp, x, y, ev)
        vaxes = _runs_inside.vmap_axes(axes)
        run_epoch = _runs_inside.epoch(body, axes, key_axis, batch_size, metrics)

        def epoch_body(ts, _):
            ts, m = run_epoch(ts, x, y)
            if ev is not None:
                ev_m = jax.vmap(lambda p, s: evaluate(p, s, *ev),
                                in_axes=(vaxes.params, vaxes.model_state))(
                    ts.params, ts.model_state)
                m.update({"eval_" + k: v for k, v in ev_m.items()})
            return ts, m
        ts, history = jax.lax.scan(epoch_body, _runs_inside.to_inside(ts, axes), None,
                                   length=epochs)
        finite = jax.vmap(all_finite, in_axes=(vaxes.params,))(ts.params)
        history = jax.tree_util.tree_map(lambda v: jnp.swapaxes(v, 0, 1), history)
        return _runs_inside.to_first(ts, axes, runs), history, finite
    return all_runs


def _sweep_stream(spec: ProgramSpec, r: _Runs, run_keys, hp, train, ev):
    """The sweep when the training or evaluation data is an iterable of batches: every
    chunk of batches goes through all runs at once (one ``vmap``-ped scan of steps), then
    each run's epoch metrics and evaluation; ``train`` is a :class:`Stream` or
    ``(X, Y, batch_size)``, ``ev`` a :class:`Stream`, ``(X, Y)`` or ``None``."""
    metrics = spec.metrics
    init_run = lambda k, hp: _init_run(spec.model, spec.opt, r.input_shape, k, hp)  # noqa: E731
    ts = jax.jit(jax.vmap(init_run, in_axes=(r.key_axis, 0), axis_size=r.runs))(run_keys, hp)
    if isinstance(train, Stream):
        run_chunk = jitted_stacked(spec, True)
        summarize_chunks = summarizer(metrics, True)     # for each run
    else:
        epoch = jax.jit(jax.vmap(epoch_parts(spec, train[2])[2], in_axes=(0, None, None)),
                        donate_argnums=(0,))
    if isinstance(ev, Stream):
        sums = jax.jit(jax.vmap(jitted_eval_sums(spec.eval), in_axes=(0, 0, None, None)))
        evaluate = lambda p, s: evaluate_stream(  # noqa: E731
            sums, metrics, p, s, ev, means=jax.vmap(lambda t, n: eval_means(metrics, t, n),
                                                      in_axes=(0, None)))
    elif ev is not None:
        ev_arrays = jax.jit(jax.vmap(jitted_eval(spec.eval, r.eval_batch_size),
                                     in_axes=(0, 0, None, None)))
        evaluate = lambda p, s: ev_arrays(p, s, *ev)  # noqa: E731
    history: dict = {}
    for e in range(r.epochs):
        if isinstance(train, Stream):
            ts, m, _ = stream_epoch(run_chunk, summarize_chunks, ts, train, e, None)
        else:
            ts, m = epoch(ts, train[0], train[1])
        if ev is not None:
            m.update({"eval_" + k: v for k, v in evaluate(ts.params, ts.model_state).items()})
        for k, v in jax.device_get(m).items():
            history.setdefault(k, []).append(np.asarray(v))
    return ts, {k: np.stack(v, axis=1) for k, v in history.items()}


def sweep(model: Layer, opt: Optimizer, loss_fn: LossFn, data: Any, *,
          hparams: Optional[Mapping[str, Any]] = None, seeds: Optional[Sequence[int]] = None,
          epochs: int = 1, batch_size: int = 32, key: Any = 0,
          eval_data: Any = None, regularizer: Regularizer = None,
          mixed_precision: bool = False, eval_batch_size: int = 1000,
          metrics: Any = None, augment: Optional[Callable] = None,
          layout: str = "auto") -> SweepResult:
    """Train R runs at once, as one compiled program with a leading run axis.

    Run ``i`` starts from ``init_state(model, opt, key_i, X.shape[1:])`` with
    ``key_i = fold_in(key, seeds[i])`` (or ``key`` without seeds), sets its
    hyperparameters with ``nf.optim.set_hparams(opt_state, **{n: hparams[n][i]})`` (inside
    the compiled program, so they are traced values: one compilation for all runs), then
    runs ``epochs`` epochs of :func:`make_epoch`'s program, evaluating after each. Run
    ``i`` therefore equals ``fit(model, opt_i, loss_fn, data, key=key_i, ...)`` with
    ``opt_i`` built with those hyperparameter values, up to float32 rounding of the
    batched arithmetic.

    ``layout`` says how the runs share the program (see :mod:`nnfunc.train.sweep`):
    ``'runs_first'`` ``vmap``-s whole runs, their steps one batched step (runs that
    share a key share the data order, and the data gather is then computed once for all
    of them); ``'runs_inside'`` is that ``vmap`` with the runs axis of the weights whose
    input the runs share next to their output axis (no transposes of those weights in
    the step); ``'sequential'`` scans over the runs (``lax.map``). ``'auto'`` (the
    default) picks per backend: ``'runs_first'`` on CPU (where ``'runs_inside'`` is
    slower), going ``'sequential'`` when one run's step costs at least 1e8 FLOPs (XLA's
    count), which is faster there for such models; ``'runs_first'`` on other backends
    too, until benchmarks there show ``'runs_inside'`` to be faster. The results are
    the same in every layout.

    Hyperparameter sequences and seeds pair up run by run (zip, not a grid: build a
    grid with ``np.meshgrid`` and flatten it). Diverging runs do not stop the sweep;
    they are flagged in ``diverged``.

    Args:
      model, opt, loss_fn: as :func:`fit`.
      data: ``(X, Y)`` (or ``X`` alone, as in :func:`fit`), shared by all runs.
      hparams: ``{name: values}``, names of ``nf.optim.get_hparams(opt_state)`` (e.g.
        ``'learning_rate'``, ``'weight_decay'``), one value per run.
      seeds: one int per run (``key_i = jax.random.fold_in(key, seed)``).
      epochs, batch_size, key, eval_data, regularizer, mixed_precision, eval_batch_size,
        metrics, augment: as :func:`fit` (each run gets its own augmentation draws, from
        its own key).
      layout: ``'auto'``, ``'runs_first'``, ``'runs_inside'`` or ``'sequential'`` (see
        above). With data from an iterable every chunk of batches is one ``vmap``-ped
        program of all runs, whatever the layout.

    ``data`` and ``eval_data`` may be iterables of batches, as in :func:`fit`: every
    chunk of batches then trains all runs at once (one ``vmap``-ped program per chunk),
    and the epochs loop in Python instead of one program for the whole sweep.

    Returns:
      A :class:`SweepResult`.

    Example:
      >>> import jax, jax.numpy as jnp, nnfunc as nf
      >>> X = jax.random.normal(jax.random.key(1), (64, 2))
      >>> Y = (X[:, 0] > 0).astype(jnp.int32)
      >>> res = nf.train.sweep(nf.models.mlp([2, 8, 2]), nf.optim.sgd(0.1),
      ...                      nf.losses.softmax_cross_entropy_with_integer_labels, (X, Y),
      ...                      hparams={'learning_rate': [0.01, 0.1, 1.0]}, epochs=3,
      ...                      batch_size=16)
      >>> res.history['loss'].shape, res.state.params[0]['w'].shape
      ((3, 3), (3, 2, 8))
    """
    check_builder_args(model, opt, loss_fn, regularizer)
    check_choice("layout", layout, LAYOUTS)
    epochs = check_int("epochs", epochs, minimum=1, allowed="an int >= 1")
    batch_size = check_batch_size(batch_size)
    eval_batch_size = check_int("eval_batch_size", eval_batch_size, minimum=1,
                                allowed="an int >= 1")
    mixed_precision = check_bool("mixed_precision", mixed_precision)
    values, seed_arr, runs = _runs(dict(hparams or {}), seeds)
    x, y, batch_size, ev, stream, ev_stream = resolve_data(data, eval_data, batch_size,
                                                           epochs=epochs)
    base_key = as_key(key)
    input_shape = tuple(x.shape[1:])

    # Concrete checks before compiling: model/loss fit, hyperparameter names and values.
    try:
        ts0 = init_state(model, opt, base_key, input_shape)
    except ValueError as err:        # the model's message says what it expects
        raise model_misfit("data", input_shape, err) from err
    check_model_fits(model, loss_fn, ts0, x, y, "data", mixed_precision)
    if ev is not None:
        check_model_fits(model, loss_fn, ts0, *ev, "eval_data", mixed_precision)
    metrics = with_accuracy(as_metrics(metrics), model, ts0, x, y, ev, mixed_precision)
    check_augment(augment, x, batch_size)
    if values:
        try:
            set_hparams(ts0.opt_state, **values)
        except ValueError as err:
            raise ValueError(f"hparams: {err}") from err
    del ts0

    hp_arrays = {k: jnp.asarray(v, jnp.result_type(float)) for k, v in values.items()}
    if seed_arr is None:
        run_keys, key_axis = base_key, None     # shared key: shared data order
    else:
        run_keys = jax.vmap(lambda s: jax.random.fold_in(base_key, s))(
            jnp.asarray(seed_arr, jnp.uint32))
        key_axis = 0
    spec = ProgramSpec(model, opt, loss_fn, regularizer, mixed_precision, False, None,
                       metrics, augment)
    if stream is not None or ev_stream is not None:
        ts, history = _sweep_stream(
            spec, _Runs(batch_size, eval_batch_size, epochs, input_shape, key_axis, runs,
                        "runs_first"), run_keys, hp_arrays,
            stream if stream is not None else (x, y, batch_size),
            ev_stream if ev_stream is not None else ev)
        finite = jax.vmap(all_finite)(ts.params)
        diverged = np.any(history["nonfinite_step"] >= 0, axis=1) | ~np.asarray(finite)
        return SweepResult(ts, history, {k: np.asarray(v) for k, v in values.items()},
                           seed_arr, diverged)
    layout = _resolve_layout(layout, lambda: _scan_runs(
        ProgramSpec(model, opt, loss_fn, regularizer, mixed_precision), batch_size,
        input_shape, jnp.dtype(x.dtype), *_target_spec(y)))
    program = _sweep_program(spec, _Runs(batch_size, eval_batch_size, epochs, input_shape,
                                         key_axis, runs, layout))
    ts, history, finite = program(run_keys, hp_arrays, x, y, ev)
    history = {k: np.asarray(v) for k, v in jax.device_get(history).items()}
    diverged = np.any(history["nonfinite_step"] >= 0, axis=1) | ~np.asarray(finite)
    return SweepResult(ts, history, {k: np.asarray(v) for k, v in values.items()},
                       seed_arr, diverged)
