"""Learning-rate (and momentum) schedules: pure functions ``step -> value``.

``schedule(k)`` is the value torch's matching ``torch.optim.lr_scheduler`` gives the
optimizer for step ``k`` (``k = 0, 1, ...``) when the scheduler is stepped once per
optimizer step. Every schedule is a closed form that accepts a traced integer step, so it
runs inside ``jit``, ``scan`` and ``vmap``::

    sched = nf.schedules.one_cycle(max_lr=0.1, total_steps=1000)
    lrs = jax.vmap(sched)(jnp.arange(1000))

``reduce_on_plateau`` depends on observed metrics and is instead a small state machine
``(init, update)``. ``nf.plot.schedule`` draws any schedule (or several) with matplotlib.

Modules: ``decay`` (step, multistep, exponential, time-based, lambda, constant factor,
linear, polynomial), ``cosine``, ``cyclic`` (cyclic and one-cycle, with their momentum
schedules), ``warmup``, ``sequential`` and ``plateau``; the ``Schedule`` type, the
``constant`` schedule and the shared step and milestone helpers are in the internal
``_base``.

Your own schedule needs no registration: any function ``step -> value`` that runs with a
traced integer step (``jnp`` on ``step``, no Python ``if`` on it) is a schedule, and any
optimizer takes it as ``learning_rate``::

    def halving(step):                      # 0.1, halved every 2 steps
        return 0.1 * 0.5 ** (jnp.asarray(step) // 2)

    opt = nf.optim.sgd(learning_rate=halving, momentum=0.9)

The optimizer calls it with its ``count`` (``halving(k)`` is the rate of step ``k``);
``get_hparams(state)['learning_rate']`` is the value the last step used, and
``set_hparams(state, lr_scale=...)`` multiplies it (as ``reduce_on_plateau`` does).
"""
from nnfunc.schedules._base import Schedule, constant
from nnfunc.schedules.cosine import cosine_annealing, cosine_warm_restarts
from nnfunc.schedules.cyclic import cyclic, cyclic_momentum, one_cycle, one_cycle_momentum
from nnfunc.schedules.decay import (
    constant_factor, exponential_decay, lambda_schedule, linear, multistep_decay, polynomial,
    step_decay, time_based_decay)
from nnfunc.schedules.sequential import sequential
from nnfunc.schedules.warmup import inverse_sqrt, warmup, warmup_cosine, warmup_stable_decay
from nnfunc.schedules.plateau import Plateau, PlateauState, reduce_on_plateau

__all__ = [
    "Schedule", "constant", "step_decay", "multistep_decay", "exponential_decay",
    "time_based_decay", "lambda_schedule", "constant_factor", "linear", "polynomial",
    "cosine_annealing", "cosine_warm_restarts", "cyclic", "cyclic_momentum", "one_cycle",
    "one_cycle_momentum", "sequential", "warmup", "warmup_cosine", "inverse_sqrt",
    "warmup_stable_decay", "reduce_on_plateau", "Plateau", "PlateauState",
]
