"""``make_step``: one jitted training step (forward, ``jax.value_and_grad``, optimizer update)."""
from __future__ import annotations

from typing import Callable

from nnfunc._checks import check_bool
from nnfunc.layers import Layer
from nnfunc.optim import Optimizer
from nnfunc.train._program import LossFn, ProgramSpec, Regularizer, jitted_step
from nnfunc.train._validate import check_builder_args

__all__ = ["make_step"]


def make_step(model: Layer, opt: Optimizer, loss_fn: LossFn, *,
              regularizer: Regularizer = None, mixed_precision: bool = False,
              diagnostics: bool = False, donate: bool = False) -> Callable:
    """A jitted training step ``(ts, x, y) -> (ts, metrics)``.

    ``L(θ) = mean_i loss_fn(f_θ(x_i), y_i) + R(θ)``; ``g = ∇L``;
    ``u, s = opt.update(g, s, θ)``; ``θ ← θ + u``; ``step ← step + 1``. The model runs in
    training mode with the key ``k = fold_in(ts.key, ts.step)``: a new key every step,
    while ``ts.key`` itself stays as it is (epochs advance it for their shuffle).

    The step is pure: ``ts`` stays valid after the call. A loop that owns its state can
    pass ``donate=True`` to let XLA reuse ``ts``'s buffers for the output (``ts`` is
    then deleted): a Python loop of steps then needs no fresh allocation for every
    step's output, which pays most for large models (``make_epoch``, one call per epoch,
    gains little; ``fit`` always donates the state it owns). Gradient clipping is an
    optimizer transform: ``nf.optim.chain(nf.optim.clip_by_global_norm(1.0), opt)``;
    weight penalties go in ``regularizer``, e.g. ``lambda p: 1e-4 * nf.regularizers.l2(p)``.

    Args:
      model: the ``Layer`` to train.
      opt: the ``Optimizer``.
      loss_fn: ``(logits, labels) -> per-example losses`` of shape ``(batch,)``.
      regularizer: optional ``params -> scalar`` added to the mean loss.
      mixed_precision: compute the forward and backward pass in bfloat16 while the
        parameters (the master copy), the loss and the optimizer stay in float32.
      diagnostics: also return ``update_ratio = ‖u‖ / ‖θ‖``.
      donate: donate the input state's buffers (``ts`` is deleted by the call).

    Returns:
      ``step(ts, x, y=None) -> (ts, metrics)`` (``y`` left out: the inputs are the
      targets, as for an autoencoder); ``metrics`` holds ``loss`` (the mean data loss,
      without the penalties), ``grad_norm`` (‖g‖₂ over all parameters), ``lr`` (the
      learning rate of this step), for classification (integer labels, logits with a
      class axis) ``accuracy``, for a model with ``nf.layers.activity_regularizer``
      layers ``penalty`` (their sum, added to the loss that is differentiated), and with
      ``diagnostics=True`` ``update_ratio``.

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
    check_builder_args(model, opt, loss_fn, regularizer)
    mixed_precision = check_bool("mixed_precision", mixed_precision)
    return jitted_step(ProgramSpec(model, opt, loss_fn, regularizer, mixed_precision,
                                   bool(diagnostics)), bool(donate))
