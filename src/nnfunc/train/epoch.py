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

from typing import Any, Callable, Optional, Sequence

from nnfunc._checks import check_bool
from nnfunc.layers import Layer
from nnfunc.optim import Optimizer
from nnfunc.train._program import (EvalSpec, LossFn, ProgramSpec, Regularizer, jitted_epoch,
                                   jitted_eval, jitted_eval_sums)
from nnfunc.train._forward import output_spec
from nnfunc.train._stream import Stream, evaluate_stream, is_batches
from nnfunc.train._validate import (check_model_fits, as_metrics, check_batch_size, check_builder_args,
                                    check_data_shapes, check_finite, check_metrics,
                                    check_state_fits, split_data)
from nnfunc.train.parallel import make_mesh, replicate
from nnfunc.train.state import TrainState

__all__ = ["make_epoch", "evaluate"]


def make_epoch(model: Layer, opt: Optimizer, loss_fn: LossFn, batch_size: int, *,
               regularizer: Regularizer = None, mixed_precision: bool = False,
               diagnostics: bool = False, donate: bool = False,
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
      ``epoch(ts, X, Y=None) -> (ts, metrics)`` (``Y`` left out: the inputs are the
      targets, one copy on the device) with the mean over the steps of ``loss`` (and
      ``accuracy``, ``penalty``, ``grad_norm``, ``update_ratio`` where the step has
      them), the
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
    check_builder_args(model, opt, loss_fn, regularizer)
    batch_size = check_batch_size(batch_size)
    mixed_precision = check_bool("mixed_precision", mixed_precision)
    mesh = None if devices is None else make_mesh(devices, batch_size=batch_size)
    spec = ProgramSpec(model, opt, loss_fn, regularizer, mixed_precision, bool(diagnostics),
                       mesh)
    fn = jitted_epoch(spec, batch_size, bool(donate))
    if mesh is None:
        return fn

    def sharded_epoch(ts, x, y):
        """The epoch on state and data replicated over ``devices``, each batch sharded."""
        return fn(*replicate((ts, x, y), mesh))
    return sharded_epoch


# ---------------------------------------------------------------------------------------
# evaluation


def evaluate(model: Layer, loss_fn: LossFn, ts: TrainState, data: Any, *,
             batch_size: int = 1000, mixed_precision: bool = False,
             metrics: Any = None) -> dict:
    """Mean loss (and accuracy for classification) over a whole dataset, batched and jitted.

    ``loss = (1/N) Σᵢ loss_fn(f(xᵢ), yᵢ)``, ``accuracy = (1/N) Σᵢ [argmax f(xᵢ) = yᵢ]``, the
    model in evaluation mode (``train=False``), plus each of ``metrics`` (as in
    :func:`fit`: a function is a mean over the examples, an ``nf.metrics.Metric`` is
    finalized from its statistics summed over the batches). Every example counts once:
    a scan over the full batches, then the remaining examples as one smaller batch.
    Compiled once per (model, loss, batch size, metrics) and data shape. ``data`` may also
    be an iterable of ``(x, y)`` batches (one pass; each batch size compiles once).

    Args:
      model: the ``Layer``.
      loss_fn: ``(logits, labels) -> per-example losses``.
      ts: a ``TrainState`` (its ``params`` and ``model_state`` are used).
      data: ``(X, Y)``, or the inputs ``X`` alone when they are the targets
        (autoencoders: ``loss = loss_fn(f(X), X)``).
      batch_size: examples per forward pass (memory bound only; >= 1).
      mixed_precision: run the forward pass in bfloat16.
      metrics: ``{name: fn}``, a list of functions / ``Metric`` objects / names of
        :mod:`nnfunc.metrics`, or ``None``.

    Returns:
      ``{'loss': scalar, 'accuracy': scalar, name: scalar, ...}`` (no ``accuracy`` unless
      classification: integer labels, or one-hot labels with ``'accuracy'`` in
      ``metrics``).

    Raises:
      ValueError: a model whose output does not fit ``loss_fn`` and the data, or
        (concrete) integer labels outside ``[0, classes)``, which would give a NaN loss.
      TypeError: ``mixed_precision`` that is not a bool.

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
    batch_size = check_batch_size(batch_size)
    mixed_precision = check_bool("mixed_precision", mixed_precision)
    if not isinstance(ts, TrainState):
        raise ValueError(f"ts must be a TrainState, got {type(ts).__name__}")
    stream = Stream(data, "data") if is_batches(data) else None
    # with a stream: checked and compiled with its first batch
    x, y = split_data(data if stream is None else stream.sample(), "data")
    check_data_shapes(x, y, 1, name="eval data")
    check_finite("data X", x)
    if y is not None:
        check_finite("data Y", y)
    check_state_fits(model, ts, tuple(x.shape[1:]), "ts")
    check_model_fits(model, loss_fn, ts, x, y, "data", mixed_precision)
    metrics = as_metrics(metrics)
    check_metrics(metrics, output_spec(model, ts, x, mixed_precision),
                  (x if y is None else y)[:2], "data")
    if stream is not None:
        sums = jitted_eval_sums(EvalSpec(model, loss_fn, mixed_precision, metrics))
        return evaluate_stream(sums, metrics, ts.params, ts.model_state, stream)
    fn = jitted_eval(EvalSpec(model, loss_fn, mixed_precision, metrics), batch_size)
    return fn(ts.params, ts.model_state, x, y)
