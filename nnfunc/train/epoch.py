"""``make_epoch`` (a whole epoch as one compiled ``lax.scan``) and batched ``evaluate``.

The dataset stays on the device. Each epoch splits ``key, k = split(ts.key)``, draws a
permutation of the examples with ``k`` on the device and scans the training step over
``N // batch_size`` batches gathered from it. **The remainder is dropped**: the
``N mod batch_size`` examples left after the last full batch are skipped in that epoch
(every batch has the same size, so every step weighs its examples equally, as torch's
``drop_last=True``); because the permutation changes every epoch, every example is
still seen over the run. Evaluation, in contrast, covers every example (the last
batch is padded and the padding masked out).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional, Sequence

import jax
import jax.numpy as jnp

from nnfunc.layers import Layer
from nnfunc.optim import Optimizer
from nnfunc.train.metrics import _forward, is_classification
from nnfunc.train.parallel import make_mesh, replicate
from nnfunc.train.state import TrainState, _check_int
from nnfunc.train.step import (LossFn, Regularizer, _cached, _check_builder_args,
                               _check_loss_output, _learning_rate, _step_body)

__all__ = ["make_epoch", "evaluate"]


def _check_batch_size(batch_size: Any) -> int:
    return _check_int("batch_size", batch_size, 1)


def _check_data_shapes(x: Any, y: Any, batch_size: int, *, name: str = "data") -> None:
    """Static checks (shapes only), so they also run while tracing."""
    if jnp.ndim(x) < 1 or jnp.ndim(y) < 1:
        raise ValueError(f"{name}: X and Y need a leading example axis, got shapes "
                         f"{jnp.shape(x)} and {jnp.shape(y)}")
    if jnp.shape(x)[0] != jnp.shape(y)[0]:
        raise ValueError(f"{name}: X and Y must have the same number of examples, got "
                         f"{jnp.shape(x)[0]} and {jnp.shape(y)[0]}")
    if batch_size > jnp.shape(x)[0]:
        raise ValueError(f"batch_size must be <= the number of examples "
                         f"({jnp.shape(x)[0]}), got {batch_size}")


def _epoch_start(ts: TrainState, n: int, batch_size: int) -> tuple[TrainState, jax.Array]:
    """Advance the key and draw this epoch's batches: indices of shape (N // B, B)."""
    key, perm_key = jax.random.split(ts.key)
    steps = n // batch_size
    idx = jax.random.permutation(perm_key, n)[: steps * batch_size].reshape(steps, batch_size)
    return ts._replace(key=key), idx.astype(jnp.int32)


def _run_batches(body: Callable, ts: TrainState, x: jax.Array, y: jax.Array,
                 idx: jax.Array) -> tuple[TrainState, dict]:
    """``lax.scan`` of the step over the rows of ``idx``; per-step metrics stacked, except
    ``lr``, which the final optimizer state holds (one GPU kernel less per step)."""
    names: list[str] = []       # the metric names, in stacking order (set while tracing)

    def scan_body(ts, i):
        xb = x.at[i].get(mode="promise_in_bounds")
        yb = y.at[i].get(mode="promise_in_bounds")
        ts, metrics = body(ts, xb, yb)
        del metrics["lr"]
        names[:] = sorted(metrics)
        # One stacked vector per step: one dynamic-update-slice kernel, not one per metric.
        return ts, jnp.stack([metrics[k] for k in names])

    ts, stacked = jax.lax.scan(scan_body, ts, idx)
    return ts, {k: stacked[:, j] for j, k in enumerate(names)}


def _summarize(per_step: dict, opt_state: Any) -> dict:
    """Epoch metrics from per-step ones: means, the first non-finite step, and the lr of
    the last step (read from the optimizer state after it)."""
    out = {k: jnp.mean(v) for k, v in per_step.items()}
    out["lr"] = _learning_rate(opt_state)
    bad = ~jnp.isfinite(per_step["loss"])
    out["nonfinite_step"] = jnp.where(jnp.any(bad), jnp.argmax(bad), -1).astype(jnp.int32)
    return out


@_cached
def _epoch_parts(model, opt, loss_fn, batch_size, regularizer, mixed_precision, diagnostics,
                 mesh):
    """The un-jitted pieces of an epoch: (start, run_batches, whole_epoch)."""
    body = _step_body(model, opt, loss_fn, regularizer=regularizer,
                      mixed_precision=mixed_precision, diagnostics=diagnostics, mesh=mesh)

    def start(ts, x, y):
        _check_data_shapes(x, y, batch_size)
        return _epoch_start(ts, x.shape[0], batch_size)

    def run(ts, x, y, idx):
        return _run_batches(body, ts, x, y, idx)

    def epoch(ts, x, y):
        ts, idx = start(ts, x, y)
        ts, per_step = run(ts, x, y, idx)
        return ts, _summarize(per_step, ts.opt_state)

    return start, run, epoch


@_cached
def _jitted_epoch(model, opt, loss_fn, batch_size, regularizer, mixed_precision, diagnostics,
                  mesh, donate):
    epoch = _epoch_parts(model, opt, loss_fn, batch_size, regularizer, mixed_precision,
                         diagnostics, mesh)[2]
    return jax.jit(epoch, donate_argnums=(0,) if donate else ())


def make_epoch(model: Layer, opt: Optimizer, loss_fn: LossFn, batch_size: int, *,
               regularizer: Regularizer = None, mixed_precision: bool = False,
               diagnostics: bool = False, donate: bool = True,
               devices: Optional[Sequence[Any]] = None) -> Callable:
    """A whole training epoch as one jitted program ``(ts, X, Y) -> (ts, metrics)``.

    ``key, k = split(ts.key)``; ``π = permutation(k, N)``; then ``lax.scan`` of
    :func:`make_step`'s step over the batches ``π[jB:(j+1)B]``, ``j < N // B``; the
    ``N mod B`` remaining examples are dropped for this epoch (see the module notes).
    Inputs already on the device cause no host↔device transfer.

    Args:
      model, opt, loss_fn, regularizer, mixed_precision, donate: as :func:`make_step`.
      diagnostics: also report ``grad_norm`` and ``update_ratio`` (means over the
        steps). Off by default: unlike the single step, the fused epoch leaves out the
        gradient norm, a pass over every gradient (about nine more GPU kernels a step).
      batch_size: examples per step, ``1 <= batch_size <= N``.
      devices: optional list of devices for data parallelism (see :func:`fit`); the
        state and data are then replicated on them and each batch sharded.

    Returns:
      ``epoch(ts, X, Y) -> (ts, metrics)`` with the mean over the steps of ``loss`` (and
      ``accuracy``, ``grad_norm``, ``update_ratio`` where the step has them), the
      last step's ``lr``, and ``nonfinite_step``: the index of the first step whose loss
      was not finite, ``-1`` if none.

    Example:
      >>> import jax, jax.numpy as jnp, nnfunc as nf
      >>> model = nf.models.mlp([2, 8, 2])
      >>> opt = nf.optim.sgd(learning_rate=0.5)
      >>> loss = nf.losses.softmax_cross_entropy_with_integer_labels
      >>> X = jax.random.normal(jax.random.key(1), (64, 2))
      >>> Y = (X[:, 0] > 0).astype(jnp.int32)
      >>> epoch = nf.train.make_epoch(model, opt, loss, batch_size=16)
      >>> ts = nf.train.init_state(model, opt, jax.random.key(0), (2,))
      >>> for _ in range(5):
      ...     ts, m = epoch(ts, X, Y)
      >>> int(ts.step), bool(m['accuracy'] > 0.8)
      (20, True)
    """
    _check_builder_args(model, opt, loss_fn, regularizer)
    batch_size = _check_batch_size(batch_size)
    mesh = None if devices is None else make_mesh(devices, batch_size=batch_size)
    fn = _jitted_epoch(model, opt, loss_fn, batch_size, regularizer, bool(mixed_precision),
                       bool(diagnostics), mesh, bool(donate))
    if mesh is None:
        return fn

    def sharded_epoch(ts, x, y):
        return fn(*replicate((ts, x, y), mesh))
    sharded_epoch.__doc__ = fn.__doc__
    return sharded_epoch


# ---------------------------------------------------------------------------------------
# evaluation

@_cached
def _jitted_eval(model, loss_fn, batch_size, mixed_precision):
    def ev(params, model_state, x, y):
        n = x.shape[0]
        bs = min(batch_size, n)
        steps = math.ceil(n / bs)
        pad = steps * bs - n
        xp = jnp.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1))
        yp = jnp.pad(y, [(0, pad)] + [(0, 0)] * (y.ndim - 1))
        valid = (jnp.arange(steps * bs) < n).reshape(steps, bs)

        def body(carry, j):
            xb = jax.lax.dynamic_slice_in_dim(xp, j * bs, bs)
            yb = jax.lax.dynamic_slice_in_dim(yp, j * bs, bs)
            logits, _ = _forward(model, params, model_state, xb, train=False, key=None,
                                 mixed_precision=mixed_precision)
            per_example = loss_fn(logits, yb)
            _check_loss_output(per_example, bs)
            w = valid[j]
            loss_sum = jnp.sum(jnp.where(w, per_example, 0.0))
            out = {"loss": carry["loss"] + loss_sum}
            if "accuracy" in carry:
                hit = jnp.argmax(logits, axis=-1) == yb
                out["accuracy"] = carry["accuracy"] + jnp.sum(jnp.where(w, hit, False))
            return out, None

        logits_shape = jax.eval_shape(
            lambda: _forward(model, params, model_state, xp[:bs], train=False, key=None,
                             mixed_precision=mixed_precision)[0])
        init = {"loss": jnp.zeros((), jnp.float32)}
        if is_classification(logits_shape, yp[:bs]):
            init["accuracy"] = jnp.zeros((), jnp.float32)
        totals, _ = jax.lax.scan(body, init, jnp.arange(steps))
        return {k: v / n for k, v in totals.items()}

    return jax.jit(ev)


def evaluate(model: Layer, loss_fn: LossFn, ts: TrainState, data: tuple[Any, Any], *,
             batch_size: int = 1000, mixed_precision: bool = False) -> dict:
    """Mean loss (and accuracy for classification) over a whole dataset, batched and jitted.

    ``loss = (1/N) Σᵢ loss_fn(f(xᵢ), yᵢ)``, ``accuracy = (1/N) Σᵢ [argmax f(xᵢ) = yᵢ]``, the
    model in evaluation mode (``train=False``). Every example counts: the last batch is
    padded and the padding masked out. Compiled once per (model, loss, batch size) and
    data shape.

    Args:
      model: the ``Layer``.
      loss_fn: ``(logits, labels) -> per-example losses``.
      ts: a ``TrainState`` (its ``params`` and ``model_state`` are used).
      data: ``(X, Y)``.
      batch_size: examples per forward pass (memory bound only; >= 1).
      mixed_precision: run the forward pass in bfloat16.

    Returns:
      ``{'loss': scalar, 'accuracy': scalar}`` (no ``accuracy`` unless classification).

    Example:
      >>> import jax, jax.numpy as jnp, nnfunc as nf
      >>> model = nf.models.mlp([3, 2])
      >>> loss = nf.losses.softmax_cross_entropy_with_integer_labels
      >>> ts = nf.train.init_state(model, nf.optim.sgd(0.1), jax.random.key(0), (3,))
      >>> m = nf.train.evaluate(model, loss, ts, (jnp.zeros((5, 3)), jnp.zeros(5, jnp.int32)),
      ...                       batch_size=2)
      >>> sorted(m)
      ['accuracy', 'loss']
    """
    batch_size = _check_batch_size(batch_size)
    x, y = data
    _check_data_shapes(x, y, 1, name="eval data")
    fn = _jitted_eval(model, loss_fn, batch_size, bool(mixed_precision))
    return fn(ts.params, ts.model_state, x, y)
