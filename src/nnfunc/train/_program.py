"""The compiled training programs that ``make_step``, ``make_epoch``, ``evaluate``, ``fit``
and ``sweep`` are built from: the forward pass, the step, the epoch scan and the batched
evaluation, each built once per configuration (:func:`cached`).

Internal API of ``nnfunc.train`` (names without an underscore, not exported by the package).
"""
from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from nnfunc import tree as _tree
from nnfunc.layers import Layer
from nnfunc.layers.activity import total_penalty
from nnfunc.metrics import accuracy
from nnfunc.optim import Optimizer, apply_updates, get_hparams
from nnfunc.train.metrics import is_classification
from nnfunc.train.state import TrainState
from nnfunc.train._forward import forward
from nnfunc.train._validate import check_data_shapes

PyTree = Any


LossFn = Callable[[jax.Array, jax.Array], jax.Array]


Regularizer = Optional[Callable[[Any], jax.Array]]


Metrics = tuple     # ((name, nnfunc.metrics.Metric), ...): hashable, for the caches


class EvalSpec(NamedTuple):
    """What an evaluation program is built from (hashable: the builders' cache key)."""

    model: Layer
    loss_fn: LossFn
    mixed_precision: bool = False
    metrics: Metrics = ()


class ProgramSpec(NamedTuple):
    """What a training step, and the epochs and sweeps built from it, are made of
    (hashable: the builders' cache key; an unhashable field skips the cache).

    ``metrics`` is ``((name, Metric), ...)``; ``augment(key, x) -> x`` runs on every
    batch first; ``mesh`` shards every batch over its ``'data'`` axis."""

    model: Layer
    opt: Optimizer
    loss_fn: LossFn
    regularizer: Regularizer = None
    mixed_precision: bool = False
    diagnostics: bool = False
    mesh: Optional[Mesh] = None
    metrics: Metrics = ()
    augment: Optional[Callable] = None

    @property
    def eval(self) -> EvalSpec:
        """The evaluation of this training's model, loss and metrics."""
        return EvalSpec(self.model, self.loss_fn, self.mixed_precision, self.metrics)


def cached(builder: Callable) -> Callable:
    """Memoise a builder of jitted functions so that equal arguments reuse one compiled
    program (``jax.jit`` caches by function identity); unhashable arguments skip the cache."""
    cached = functools.lru_cache(maxsize=64)(builder)

    @functools.wraps(builder)
    def get(*args, **kwargs):
        try:
            return cached(*args, **kwargs)
        except TypeError:
            return builder(*args, **kwargs)
    return get


def learning_rate(opt_state: Any) -> jax.Array:
    """The learning rate the optimizer used last (``nan`` if it has none)."""
    lr = get_hparams(opt_state).get("learning_rate")
    return jnp.asarray(jnp.nan if lr is None else lr, jnp.float32).reshape(())


def check_loss_output(per_example: jax.Array, batch: int) -> None:
    if jnp.shape(per_example) != (batch,):
        raise ValueError(f"loss_fn must return one loss per example, shape ({batch},), got "
                         f"shape {jnp.shape(per_example)}; use reduction='none'")


def _first_elements(grads: Any) -> jax.Array:
    """A scalar ``>= 0`` (or NaN) that depends on every gradient leaf but reads only one
    element of each: what :func:`_after` needs, without a pass over all gradients."""
    firsts = [jnp.abs(jnp.ravel(g)[0]).astype(jnp.float32)
              for g in jax.tree_util.tree_leaves(grads)
              if jnp.issubdtype(g.dtype, jnp.inexact) and jnp.size(g)]
    return sum(firsts, jnp.zeros((), jnp.float32))


def _after(scalar: jax.Array, grads: Any) -> Any:
    """``grads`` unchanged, but data-dependent on ``scalar`` (``>= 0`` or NaN, computed
    from all of them).

    Every parameter update then waits for the whole backward pass, so XLA can prove that
    the backward matmuls reading a weight run before its in-place update and does not copy
    the weight every step (a copy of every weight matrix per step otherwise). Dividing
    by a 1 that XLA cannot fold (``s >= 0`` or ``s`` is NaN: always true) is exact.
    """
    one = jnp.logical_or(scalar >= 0, jnp.isnan(scalar))
    return jax.tree_util.tree_map(
        lambda g: g / one.astype(g.dtype) if jnp.issubdtype(g.dtype, jnp.inexact) else g,
        grads)


def _after_on_cpu(scalar: jax.Array, grads: Any) -> Any:
    """:func:`_after` where the program is lowered for a CPU; elsewhere ``grads`` as they
    are (XLA:GPU orders the updates without copies, and the extra kernel would cost)."""
    return jax.lax.platform_dependent(scalar, grads, cpu=_after, default=lambda _, g: g)


# The augmentation key of a step: a stream of the step's key that the model's own random
# numbers (dropout, noise layers) never use.
_AUGMENT_STREAM = 0x61756720


def batch_statistics(metrics: Metrics, logits: jax.Array, y: jax.Array) -> dict:
    """Each metric's summable statistics of one batch (``Metric.update``)."""
    return {name: m.update(logits, y) for name, m in metrics}


def finalize(metrics: Metrics, totals: dict) -> dict:
    """Each metric's value from its statistics summed over batches."""
    return {name: jnp.asarray(m.finalize(totals[name]), jnp.float32) for name, m in metrics}


def step_body(spec: ProgramSpec, *, with_grad_norm: Optional[bool] = None) -> Callable:
    """The un-jitted step ``(ts, x, y) -> (ts, metrics)`` shared by step, epoch and sweep.

    ``with_grad_norm`` (default: ``spec.diagnostics``) adds ``grad_norm``: a pass over
    every gradient, about nine more GPU kernels per step, so the fused epoch reports it
    only on request while the single step always does. ``spec.metrics`` adds
    ``'stats'``: each metric's statistics of the batch. ``spec.augment(key, x) -> x``
    runs on the batch first (with ``y=None`` the augmented inputs are the targets)."""
    model, opt, loss_fn, regularizer, mixed_precision, diagnostics, mesh, metrics, augment = spec
    if with_grad_norm is None:
        with_grad_norm = diagnostics
    batch_sharding = None if mesh is None else NamedSharding(mesh, PartitionSpec("data"))

    def body(ts: TrainState, x: jax.Array, y: Optional[jax.Array] = None
             ) -> tuple[TrainState, dict]:
        if batch_sharding is not None:
            # Each device computes on its slice of the batch; XLA inserts the all-reduce
            # of the gradients because the parameters are replicated.
            x, y = jax.lax.with_sharding_constraint((x, y), batch_sharding)
        # Derived, not split: a model that draws no random numbers then costs no key
        # arithmetic at all (XLA drops the unused fold_in), and ts.key stays put.
        sub = jax.random.fold_in(ts.key, ts.step)
        if augment is not None:
            x = augment(jax.random.fold_in(sub, _AUGMENT_STREAM), x)
        y = x if y is None else y           # unsupervised: the inputs are the targets

        def objective(params):
            logits, model_state = forward(model, params, ts.model_state, x, train=True,
                                          key=sub, mixed_precision=mixed_precision)
            per_example = loss_fn(logits, y)
            check_loss_output(per_example, x.shape[0])
            loss = jnp.mean(per_example)
            penalty = total_penalty(model_state)        # activity regularizers' sum
            total = loss if penalty is None else loss + penalty
            total = total if regularizer is None else total + regularizer(params)
            acc = (accuracy(logits, y) if is_classification(logits, y)
                   and "accuracy" not in names else None)
            return total, (loss, acc, penalty, model_state, logits)

        (_, (loss, acc, penalty, model_state, logits)), grads = jax.value_and_grad(
            objective, has_aux=True)(ts.params)
        grad_norm = _tree.l2_norm(grads) if with_grad_norm else None
        grads = _after_on_cpu(_first_elements(grads) if grad_norm is None else grad_norm,
                              grads)
        updates, opt_state = opt.update(grads, ts.opt_state, ts.params)
        params = apply_updates(ts.params, updates)
        out = {"loss": loss, "lr": learning_rate(opt_state)}
        if acc is not None:
            out["accuracy"] = acc
        if penalty is not None:
            out["penalty"] = penalty
        if with_grad_norm:
            out["grad_norm"] = grad_norm
        if diagnostics:
            out["update_ratio"] = _tree.l2_norm(updates) / jnp.maximum(
                _tree.l2_norm(ts.params), jnp.finfo(jnp.float32).tiny)
        if metrics:
            out["stats"] = batch_statistics(metrics, jax.lax.stop_gradient(logits), y)
        return ts._replace(params=params, model_state=model_state, opt_state=opt_state,
                           step=ts.step + 1), out

    names = {name for name, _ in metrics}
    return body


@cached
def jitted_step(spec: ProgramSpec, donate: bool) -> Callable:
    """The jitted single step (``grad_norm`` always reported)."""
    body = step_body(spec, with_grad_norm=True)
    return jax.jit(body, donate_argnums=(0,) if donate else ())


def epoch_start(ts: TrainState, n: int, batch_size: int) -> tuple[TrainState, jax.Array]:
    """Advance the key and draw this epoch's batches: indices of shape (N // B, B)."""
    key, perm_key = jax.random.split(ts.key)
    steps = n // batch_size
    idx = jax.random.permutation(perm_key, n)[: steps * batch_size].reshape(steps, batch_size)
    return ts._replace(key=key), idx.astype(jnp.int32)


def _scan_steps(body: Callable, ts: TrainState, xs: Any, batch: Callable
                ) -> tuple[TrainState, dict]:
    """``lax.scan`` of the step over ``xs`` (``batch(x_i) -> (xb, yb)``); per-step metrics
    stacked, except ``lr``, which the final optimizer state holds (one GPU kernel less per
    step), and the metrics' statistics (``'stats'``), stacked as they are."""
    names: list[str] = []       # the metric names, in stacking order (set while tracing)

    def scan_body(ts, xi):
        ts, metrics = body(ts, *batch(xi))
        del metrics["lr"]
        stats = metrics.pop("stats", {})
        names[:] = sorted(metrics)
        # One stacked vector per step: one dynamic-update-slice kernel, not one per metric.
        return ts, (jnp.stack([metrics[k] for k in names]), stats)

    ts, (stacked, stats) = jax.lax.scan(scan_body, ts, xs)
    per_step = {k: stacked[:, j] for j, k in enumerate(names)}
    if stats:
        per_step["stats"] = stats
    return ts, per_step


def run_batches(body: Callable, ts: TrainState, x: jax.Array, y: Optional[jax.Array],
                 idx: jax.Array) -> tuple[TrainState, dict]:
    """The steps over the batches ``x[idx[j]]``. With ``y=None`` the batch of inputs is
    its own target: one gather, one copy of the data."""
    def batch(i):
        xb = x.at[i].get(mode="promise_in_bounds")
        return xb, None if y is None else y.at[i].get(mode="promise_in_bounds")
    return _scan_steps(body, ts, idx, batch)


def summarize(per_step: dict, opt_state: Any, metrics: Metrics = (),
              sizes: Optional[jax.Array] = None) -> dict:
    """Epoch metrics from per-step ones: means (weighted by the batch ``sizes`` when
    given), the metrics finalized from their summed statistics, the first non-finite
    step, and the lr of the last step (read from the optimizer state after it)."""
    per_step = dict(per_step)
    stats = per_step.pop("stats", None)
    if sizes is None:
        out = {k: jnp.mean(v) for k, v in per_step.items()}
    else:
        w = sizes.astype(jnp.float32) / jnp.sum(sizes.astype(jnp.float32))
        out = {k: jnp.sum(v * w) for k, v in per_step.items()}
    if stats:
        out.update(finalize(metrics, jax.tree_util.tree_map(lambda a: jnp.sum(a, 0), stats)))
    out["lr"] = learning_rate(opt_state)
    bad = ~jnp.isfinite(per_step["loss"])
    out["nonfinite_step"] = jnp.where(jnp.any(bad), jnp.argmax(bad), -1).astype(jnp.int32)
    return out


@cached
def epoch_parts(spec: ProgramSpec, batch_size: int) -> tuple[Callable, Callable, Callable]:
    """The un-jitted pieces of an epoch: (start, run_batches, whole_epoch)."""
    body = step_body(spec)

    def start(ts, x, y=None):
        check_data_shapes(x, y, batch_size)
        return epoch_start(ts, x.shape[0], batch_size)

    def run(ts, x, y, idx):
        return run_batches(body, ts, x, y, idx)

    def epoch(ts, x, y=None):
        ts, idx = start(ts, x, y)
        ts, per_step = run(ts, x, y, idx)
        return ts, summarize(per_step, ts.opt_state, spec.metrics)

    return start, run, epoch


@cached
def jitted_epoch(spec: ProgramSpec, batch_size: int, donate: bool) -> Callable:
    """The jitted whole epoch ``(ts, x, y=None) -> (ts, metrics)``."""
    epoch = epoch_parts(spec, batch_size)[2]
    return jax.jit(epoch, donate_argnums=(0,) if donate else ())


@cached
def jitted_stacked(spec: ProgramSpec, runs: bool = False) -> Callable:
    """``(ts, xs, ys) -> (ts, per_step)``: the steps over a chunk of batches stacked on a
    leading axis (``ys=None``: the inputs are the targets), for data from an iterable;
    with ``runs=True``, ``vmap``-ped over the runs of a sweep (leading axis of ``ts``)."""
    body = step_body(spec)

    def run(ts, xs, ys=None):
        if ys is None:
            return _scan_steps(body, ts, xs, lambda xb: (xb, None))
        return _scan_steps(body, ts, (xs, ys), lambda b: b)
    if runs:
        run = jax.vmap(run, in_axes=(0, None, None))
    return jax.jit(run, donate_argnums=(0,))


def eval_sums(spec: EvalSpec) -> Callable:
    """``(params, model_state, xb, yb) -> sums``: the batch's summed loss (and hits, unless
    a metric is named ``accuracy``), and each metric's statistics; summed over batches,
    :func:`eval_means` makes the results."""
    model, loss_fn, mixed_precision, metrics = spec
    accuracy_too = "accuracy" not in {name for name, _ in metrics}

    def sums(params, model_state, xb, yb):
        logits, _ = forward(model, params, model_state, xb, train=False, key=None,
                            mixed_precision=mixed_precision)
        per_example = loss_fn(logits, yb)
        check_loss_output(per_example, xb.shape[0])
        out = {"loss": jnp.sum(per_example.astype(jnp.float32))}
        if accuracy_too and is_classification(logits, yb):
            out["accuracy"] = jnp.sum(jnp.argmax(logits, axis=-1) == yb, dtype=jnp.int32)
        out.update(batch_statistics(metrics, logits, yb))
        return out
    return sums


@cached
def jitted_eval_sums(spec: EvalSpec) -> Callable:
    return jax.jit(eval_sums(spec))


def eval_means(metrics: Metrics, totals: dict, n: Any) -> dict:
    """The evaluation results from the sums over all ``n`` examples."""
    out = {k: jnp.asarray(totals[k], jnp.float32) / n for k in ("loss", "accuracy")
           if k in totals}
    out.update(finalize(metrics, totals))
    return out


@cached
def jitted_eval(spec: EvalSpec, batch_size: int) -> Callable:
    """Loss, accuracy and metrics over a whole dataset: a scan over its full batches,
    then the remaining examples as one smaller batch (every example counts once)."""
    sums = eval_sums(spec)
    metrics = spec.metrics

    def ev(params, model_state, x, y=None):
        n = x.shape[0]
        y = x if y is None else y
        bs = min(batch_size, n)
        steps, rest = n // bs, n % bs

        def body(carry, j):
            xb = jax.lax.dynamic_slice_in_dim(x, j * bs, bs)
            yb = jax.lax.dynamic_slice_in_dim(y, j * bs, bs)
            return jax.tree_util.tree_map(jnp.add, carry, sums(params, model_state, xb, yb)), None

        init = jax.tree_util.tree_map(lambda a: jnp.zeros(a.shape, a.dtype), jax.eval_shape(
            sums, params, model_state, x[:bs], y[:bs]))
        totals, _ = jax.lax.scan(body, init, jnp.arange(steps))
        if rest:
            totals = jax.tree_util.tree_map(jnp.add, totals, sums(
                params, model_state, x[steps * bs:], y[steps * bs:]))
        return eval_means(metrics, totals, n)

    return jax.jit(ev)


@jax.jit
def all_finite(tree: Any) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(a)) for a in jax.tree_util.tree_leaves(tree)
              if jnp.issubdtype(a.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)
