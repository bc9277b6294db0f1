"""``sweep``: many training runs as ONE compiled program, ``vmap``-ped over runs."""
from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from nnfunc.layers import Layer
from nnfunc.optim import Optimizer, set_hparams
from nnfunc.train.epoch import _check_batch_size, _check_data_shapes, _epoch_parts, _jitted_eval
from nnfunc.train.fit import _as_data, _check_int, _check_model_fits
from nnfunc.train.state import TrainState, _as_key, init_state
from nnfunc.train.step import LossFn, Regularizer, _cached, _check_builder_args

__all__ = ["SweepResult", "sweep"]


class SweepResult(NamedTuple):
    """What :func:`sweep` returns; every array has a leading run axis of length R.

    Attributes:
      state: the final ``TrainState`` of every run (each leaf ``(R, ...)``).
      history: ``{name: np.ndarray (R, epochs)}``: ``loss``, ``grad_norm``, ``lr``,
        ``accuracy`` (classification), ``eval_loss``/``eval_accuracy`` (with eval data),
        ``nonfinite_step`` (first step of the epoch with a non-finite loss, -1 if none).
      hparams: ``{name: np.ndarray (R,)}``, the values each run used.
      seeds: ``np.ndarray (R,)`` of the seeds, or ``None``.
      diverged: ``np.ndarray (R,) bool``: the run met a non-finite loss or ended with
        non-finite parameters (its results should be discarded).
    """

    state: TrainState
    history: dict
    hparams: dict
    seeds: Optional[np.ndarray]
    diverged: np.ndarray


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


@_cached
def _sweep_program(model, opt, loss_fn, batch_size, regularizer, mixed_precision,
                   eval_batch_size, epochs, input_shape, key_axis, runs):
    """The jitted ``vmap`` of whole runs (cached: repeated sweeps reuse the compilation)."""
    epoch = _epoch_parts(model, opt, loss_fn, batch_size, regularizer, mixed_precision,
                         False, None)[2]
    evaluate = _jitted_eval(model, loss_fn, eval_batch_size, mixed_precision)

    def one_run(run_key, hp, x, y, ev):
        ts = init_state(model, opt, run_key, input_shape)
        if hp:
            ts = ts._replace(opt_state=set_hparams(ts.opt_state, **hp))

        def epoch_body(ts, _):
            ts, m = epoch(ts, x, y)
            if ev is not None:
                m.update({"eval_" + k: v for k, v in
                          evaluate(ts.params, ts.model_state, *ev).items()})
            return ts, m
        ts, history = jax.lax.scan(epoch_body, ts, None, length=epochs)
        leaves = [jnp.all(jnp.isfinite(a)) for a in jax.tree_util.tree_leaves(ts.params)
                  if jnp.issubdtype(a.dtype, jnp.inexact)]
        finite = jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)
        return ts, history, finite

    return jax.jit(jax.vmap(one_run, in_axes=(key_axis, 0, None, None, None), axis_size=runs))


def sweep(model: Layer, opt: Optimizer, loss_fn: LossFn, data: tuple[Any, Any], *,
          hparams: Optional[Mapping[str, Any]] = None, seeds: Optional[Sequence[int]] = None,
          epochs: int = 1, batch_size: int = 32, key: Any = 0,
          eval_data: Optional[tuple[Any, Any]] = None, regularizer: Regularizer = None,
          mixed_precision: bool = False, eval_batch_size: int = 1000) -> SweepResult:
    """Train R runs at once, as one ``jit(vmap(...))`` program with a leading run axis.

    Run ``i`` starts from ``init_state(model, opt, key_i, X.shape[1:])`` with
    ``key_i = fold_in(key, seeds[i])`` (or ``key`` without seeds), sets its
    hyperparameters with ``nf.optim.set_hparams(opt_state, **{n: hparams[n][i]})`` (inside
    the vmapped function, so they are traced values: one compilation for all runs), then
    runs ``epochs`` epochs of :func:`make_epoch`'s program, evaluating after each. Run
    ``i`` therefore equals ``fit(model, opt_i, loss_fn, data, key=key_i, ...)`` with
    ``opt_i`` built with those hyperparameter values, up to float32 rounding of the
    batched arithmetic. Runs that share a key also share the data order, and the data
    gather is then computed once for all of them.

    Hyperparameter sequences and seeds pair up run by run (zip, not a grid: build a
    grid with ``np.meshgrid`` and flatten it). Diverging runs do not stop the sweep;
    they are flagged in ``diverged``.

    Args:
      model, opt, loss_fn: as :func:`fit`.
      data: ``(X, Y)``, shared by all runs.
      hparams: ``{name: values}``, names of ``nf.optim.get_hparams(opt_state)`` (e.g.
        ``'learning_rate'``, ``'weight_decay'``), one value per run.
      seeds: one int per run (``key_i = jax.random.fold_in(key, seed)``).
      epochs, batch_size, key, eval_data, regularizer, mixed_precision, eval_batch_size:
        as :func:`fit`.

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
    _check_builder_args(model, opt, loss_fn, regularizer)
    epochs = _check_int("epochs", epochs, 1)
    batch_size = _check_batch_size(batch_size)
    eval_batch_size = _check_batch_size(eval_batch_size)
    values, seed_arr, runs = _runs(dict(hparams or {}), seeds)
    x, y = _as_data(data, "data")
    _check_data_shapes(x, y, batch_size)
    ev = None if eval_data is None else _as_data(eval_data, "eval_data")
    base_key = _as_key(key)
    input_shape = tuple(x.shape[1:])

    # Concrete checks before compiling: model/loss fit, hyperparameter names and values.
    ts0 = init_state(model, opt, base_key, input_shape)
    _check_model_fits(model, loss_fn, ts0, x, y, "data", mixed_precision)
    if ev is not None:
        _check_model_fits(model, loss_fn, ts0, *ev, "eval_data", mixed_precision)
    if values:
        set_hparams(ts0.opt_state, **values)
    del ts0

    hp_arrays = {k: jnp.asarray(v, jnp.result_type(float)) for k, v in values.items()}
    if seed_arr is None:
        run_keys, key_axis = base_key, None     # shared key: shared data order
    else:
        run_keys = jax.vmap(lambda s: jax.random.fold_in(base_key, s))(
            jnp.asarray(seed_arr, jnp.uint32))
        key_axis = 0
    program = _sweep_program(model, opt, loss_fn, batch_size, regularizer,
                             bool(mixed_precision), eval_batch_size, epochs, input_shape,
                             key_axis, runs)
    ts, history, finite = program(run_keys, hp_arrays, x, y, ev)
    history = {k: np.asarray(v) for k, v in jax.device_get(history).items()}
    diverged = np.any(history["nonfinite_step"] >= 0, axis=1) | ~np.asarray(finite)
    return SweepResult(ts, history, {k: np.asarray(v) for k, v in values.items()},
                       seed_arr, diverged)
