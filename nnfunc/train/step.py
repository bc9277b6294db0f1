"""``make_step``: one jitted training step (forward, ``jax.value_and_grad``, optimizer update)."""
from __future__ import annotations

import functools
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from nnfunc import tree as _tree
from nnfunc.layers import Layer
from nnfunc.optim import Optimizer, apply_updates, get_hparams
from nnfunc.train.metrics import _forward, accuracy, is_classification
from nnfunc.train.state import TrainState

__all__ = ["make_step"]

LossFn = Callable[[jax.Array, jax.Array], jax.Array]
Regularizer = Optional[Callable[[Any], jax.Array]]


def _check_builder_args(model: Any, opt: Any, loss_fn: Any, regularizer: Any) -> None:
    if not isinstance(model, Layer):
        raise ValueError(f"model must be an nf.layers.Layer (init, apply), got {type(model).__name__}")
    if not isinstance(opt, Optimizer):
        raise ValueError(f"opt must be an nf.optim.Optimizer (init, update), got {type(opt).__name__}")
    if not callable(loss_fn):
        raise ValueError(f"loss_fn must be callable (logits, labels) -> per-example losses, "
                         f"got {loss_fn!r}")
    if regularizer is not None and not callable(regularizer):
        raise ValueError(f"regularizer must be None or a callable params -> scalar penalty, "
                         f"got {regularizer!r}")


def _learning_rate(opt_state: Any) -> jax.Array:
    """The learning rate the optimizer used last (``nan`` if it has none)."""
    lr = get_hparams(opt_state).get("learning_rate")
    return jnp.asarray(jnp.nan if lr is None else lr, jnp.float32).reshape(())


def _check_loss_output(per_example: jax.Array, batch: int) -> None:
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
    the weight every step (on CPU, MLP 784-1024-1024-10: a 4 MB copy per step). Dividing
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


def _step_body(model: Layer, opt: Optimizer, loss_fn: LossFn, *, regularizer: Regularizer,
               mixed_precision: bool, diagnostics: bool, mesh: Optional[Mesh],
               with_grad_norm: Optional[bool] = None) -> Callable:
    """The un-jitted step ``(ts, x, y) -> (ts, metrics)`` shared by step, epoch and sweep.

    ``with_grad_norm`` (default: ``diagnostics``) adds ``grad_norm``: a pass over every
    gradient, about nine more GPU kernels per step, so the fused epoch reports it only on
    request while the single step always does."""
    if with_grad_norm is None:
        with_grad_norm = diagnostics
    batch_sharding = None if mesh is None else NamedSharding(mesh, PartitionSpec("data"))

    def body(ts: TrainState, x: jax.Array, y: jax.Array) -> tuple[TrainState, dict]:
        if batch_sharding is not None:
            # Each device computes on its slice of the batch; XLA inserts the all-reduce
            # of the gradients because the parameters are replicated.
            x = jax.lax.with_sharding_constraint(x, batch_sharding)
            y = jax.lax.with_sharding_constraint(y, batch_sharding)
        # Derived, not split: a model that draws no random numbers then costs no key
        # arithmetic at all (XLA drops the unused fold_in), and ts.key stays put.
        sub = jax.random.fold_in(ts.key, ts.step)

        def objective(params):
            logits, model_state = _forward(model, params, ts.model_state, x, train=True,
                                           key=sub, mixed_precision=mixed_precision)
            per_example = loss_fn(logits, y)
            _check_loss_output(per_example, x.shape[0])
            loss = jnp.mean(per_example)
            total = loss if regularizer is None else loss + regularizer(params)
            acc = accuracy(logits, y) if is_classification(logits, y) else None
            return total, (loss, acc, model_state)

        (_, (loss, acc, model_state)), grads = jax.value_and_grad(objective, has_aux=True)(
            ts.params)
        grad_norm = _tree.l2_norm(grads) if with_grad_norm else None
        grads = _after_on_cpu(_first_elements(grads) if grad_norm is None else grad_norm,
                              grads)
        updates, opt_state = opt.update(grads, ts.opt_state, ts.params)
        params = apply_updates(ts.params, updates)
        metrics = {"loss": loss, "lr": _learning_rate(opt_state)}
        if acc is not None:
            metrics["accuracy"] = acc
        if with_grad_norm:
            metrics["grad_norm"] = grad_norm
        if diagnostics:
            metrics["update_ratio"] = _tree.l2_norm(updates) / jnp.maximum(
                _tree.l2_norm(ts.params), jnp.finfo(jnp.float32).tiny)
        return ts._replace(params=params, model_state=model_state, opt_state=opt_state,
                           step=ts.step + 1), metrics

    return body


def _cached(builder: Callable) -> Callable:
    """Memoise a builder of jitted functions so that equal arguments reuse one compiled
    program (``jax.jit`` caches by function identity); unhashable arguments skip the cache."""
    cached = functools.lru_cache(maxsize=64)(builder)

    @functools.wraps(builder)
    def get(*args):
        try:
            return cached(*args)
        except TypeError:
            return builder(*args)
    return get


@_cached
def _jitted_step(model, opt, loss_fn, regularizer, mixed_precision, diagnostics, donate):
    body = _step_body(model, opt, loss_fn, regularizer=regularizer,
                      mixed_precision=mixed_precision, diagnostics=diagnostics, mesh=None,
                      with_grad_norm=True)
    return jax.jit(body, donate_argnums=(0,) if donate else ())


def make_step(model: Layer, opt: Optimizer, loss_fn: LossFn, *,
              regularizer: Regularizer = None, mixed_precision: bool = False,
              diagnostics: bool = False, donate: bool = True) -> Callable:
    """A jitted training step ``(ts, x, y) -> (ts, metrics)``.

    ``L(θ) = mean_i loss_fn(f_θ(x_i), y_i) + R(θ)``; ``g = ∇L``;
    ``u, s = opt.update(g, s, θ)``; ``θ ← θ + u``; ``step ← step + 1``. The model runs in
    training mode with the key ``k = fold_in(ts.key, ts.step)``: a new key every step,
    while ``ts.key`` itself stays as it is (epochs advance it for their shuffle).

    The input state's buffers are donated (reused for the output): do not use ``ts``
    after the call (pass ``donate=False`` to keep it). Gradient clipping is an optimizer
    transform: ``nf.optim.chain(nf.optim.clip_by_global_norm(1.0), opt)``; weight
    penalties go in ``regularizer``, e.g. ``lambda p: 1e-4 * nf.regularizers.l2(p)``.

    Args:
      model: the ``Layer`` to train.
      opt: the ``Optimizer``.
      loss_fn: ``(logits, labels) -> per-example losses`` of shape ``(batch,)``.
      regularizer: optional ``params -> scalar`` added to the mean loss.
      mixed_precision: compute the forward and backward pass in bfloat16 while the
        parameters (the master copy), the loss and the optimizer stay in float32.
      diagnostics: also return ``update_ratio = ‖u‖ / ‖θ‖``.
      donate: donate the input state's buffers.

    Returns:
      ``step(ts, x, y) -> (ts, metrics)``; ``metrics`` holds ``loss`` (the mean data loss,
      without the penalty), ``grad_norm`` (‖g‖₂ over all parameters), ``lr`` (the learning
      rate of this step), for classification (integer labels, logits with a class axis)
      ``accuracy``, and with ``diagnostics=True`` ``update_ratio``.

    Example:
      >>> import jax, jax.numpy as jnp, nnfunc as nf
      >>> model = nf.models.mlp([2, 8, 2])
      >>> opt = nf.optim.sgd(learning_rate=0.1)
      >>> loss = nf.losses.softmax_cross_entropy_with_integer_labels
      >>> step = nf.train.make_step(model, opt, loss)
      >>> ts = nf.train.init_state(model, opt, jax.random.key(0), (2,))
      >>> ts, m = step(ts, jnp.ones((4, 2)), jnp.array([0, 1, 0, 1]))
      >>> int(ts.step), sorted(m)
      (1, ['accuracy', 'grad_norm', 'loss', 'lr'])
    """
    _check_builder_args(model, opt, loss_fn, regularizer)
    return _jitted_step(model, opt, loss_fn, regularizer, bool(mixed_precision),
                        bool(diagnostics), bool(donate))
