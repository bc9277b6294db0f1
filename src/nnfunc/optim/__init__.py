"""Optimizers written by hand, with torch.optim's names, defaults and semantics.

``opt = nf.optim.adam(learning_rate=1e-3)``; ``state = opt.init(params)``;
``updates, state = opt.update(grads, state, params)``;
``params = nf.optim.apply_updates(params, updates)``.

Where things are: ``_base`` holds the ``Optimizer`` protocol (``apply_updates``,
``make_optimizer``, the state convention's ``iter_states`` and ``hparams_of``);
``_hparams`` the hyperparameters in the state (``make_hparams``, ``current_lr``,
``get_hparams``, ``set_hparams``); ``_slots`` the slots (``zeros_slots``); ``_update``
and ``_labels`` the helpers the optimizer files share. Each optimizer has its file:
``sgd`` (sgd, momentum, nesterov), ``adagrad``, ``adadelta``, ``rmsprop``, ``adam`` (adam,
adamw), ``adamax``, ``nadam``, ``radam``, ``asgd``, ``rprop``, ``adafactor``, ``lion``,
``lamb``, ``lars``. Gradient transformations and wrappers:
``combining`` (chain, partition), ``masking`` (masked), ``clipping`` (clip_by_global_norm,
clip_by_value), ``noise`` (add_noise), ``accumulation`` (accumulate), ``nonfinite``
(skip_nonfinite), ``lookahead``, ``averaging`` (swa, ema, averaged_params).

The state convention
--------------------
Every optimizer state is one flat ``NamedTuple`` whose fields are, in order:

- ``count``: an int32 scalar, the number of updates applied so far (optimizer step ``k``
  is the update made with ``count == k``; a schedule is called with it);
- ``hparams``: a ``dict`` of every numeric hyperparameter as an array, made by
  :func:`make_hparams` (``learning_rate`` among them);
- then the slots (torch's state names: ``momentum_buffer``, ``exp_avg``, ...), pytrees
  shaped like the params, made by :func:`zeros_slots`. A wrapper holds its inner state
  as one field, ``inner``.

Everything else follows from it: ``get_hparams``/``set_hparams`` find the ``hparams``
dicts (in wrappers and chains too), a jitted ``update`` given new values does not
recompile, ``sweep`` ``vmap``-s over them, and ``fit`` records
``hparams['learning_rate']`` as the history's ``lr``. A state that does not follow it (a
plain tuple or dict, no ``hparams`` field, hyperparameters kept as Python numbers in the
closure) still trains, but has no hyperparameters to read or set: ``get_hparams`` gives
``{}`` and ``fit``'s ``lr`` is NaN.

Writing your own optimizer
--------------------------
The extension API is what the built-in optimizers are written with:

- :func:`make_hparams` validates the hyperparameters and stores them as arrays (a
  schedule as ``learning_rate`` adds ``lr_scale``);
- :func:`current_lr` gives the learning rate of step ``count`` (a schedule's value, or
  the one in the state) and the ``hparams`` recording it;
- :func:`zeros_slots` makes zero buffers shaped like the params;
- :func:`make_optimizer` builds the ``Optimizer``: ``update`` jitted, inputs checked;
- :func:`iter_states` walks every optimizer state inside a (wrapped, chained) state, and
  :func:`hparams_of` gives one state's own ``hparams`` dict.

A stateful SGD with heavy-ball momentum (``b ← μ b + g``, ``θ ← θ − η b``), which
takes a schedule as ``learning_rate`` and whose hyperparameters ``set_hparams`` changes
without recompiling::

    class MomentumState(NamedTuple):
        count: jax.Array
        hparams: dict
        momentum_buffer: Any

    def my_momentum(learning_rate=1e-3, momentum=0.9):
        hparams0 = nf.optim.make_hparams(learning_rate=learning_rate, momentum=momentum)

        def init(params):
            return MomentumState(jnp.zeros((), jnp.int32), hparams0,
                                 nf.optim.zeros_slots(params))

        def update(grads, state, params=None):
            lr, hp = nf.optim.current_lr(learning_rate, state.hparams, state.count)
            buf = jax.tree_util.tree_map(lambda b, g: hp["momentum"] * b + g,
                                         state.momentum_buffer, grads)
            updates = jax.tree_util.tree_map(lambda b: -lr * b, buf)
            return updates, MomentumState(state.count + 1, hp, buf)

        return nf.optim.make_optimizer(init, update)

Read every hyperparameter from the state (``hp``), never from the builder's arguments,
and return the ``hp`` that ``current_lr`` gave. A state class may declare
``hparam_rules = {name: (predicate, description)}``: ``set_hparams`` then checks a
concrete value of ``name`` with ``predicate`` (e.g. rmsprop's ``alpha`` in [0, 1]).
"""
from nnfunc.optim._base import (
    Optimizer, apply_updates, hparams_of, iter_states, make_optimizer)
from nnfunc.optim._hparams import current_lr, get_hparams, make_hparams, set_hparams
from nnfunc.optim._slots import zeros_slots
from nnfunc.optim.accumulation import AccumulateState, accumulate
from nnfunc.optim.adadelta import AdadeltaState, adadelta
from nnfunc.optim.adafactor import AdafactorState, adafactor
from nnfunc.optim.adagrad import AdagradState, adagrad
from nnfunc.optim.adam import AdamState, adam, adamw
from nnfunc.optim.adamax import AdamaxState, adamax
from nnfunc.optim.asgd import AsgdState, asgd
from nnfunc.optim.averaging import AveragingState, averaged_params, ema, swa
from nnfunc.optim.clipping import ClipState, clip_by_global_norm, clip_by_value
from nnfunc.optim.combining import ChainState, PartitionState, chain, partition
from nnfunc.optim.lamb import LambState, lamb
from nnfunc.optim.lars import LarsState, lars
from nnfunc.optim.lion import LionState, lion
from nnfunc.optim.lookahead import LookaheadState, lookahead
from nnfunc.optim.masking import MaskedState, masked
from nnfunc.optim.nadam import NadamState, nadam
from nnfunc.optim.noise import AddNoiseState, add_noise
from nnfunc.optim.nonfinite import SkipNonfiniteState, skip_nonfinite
from nnfunc.optim.radam import RadamState, radam
from nnfunc.optim.rmsprop import RmspropState, rmsprop
from nnfunc.optim.rprop import RpropState, rprop
from nnfunc.optim.sgd import SgdState, momentum, nesterov, sgd

__all__ = [
    # protocol and hyperparameters
    "Optimizer", "apply_updates", "get_hparams", "set_hparams",
    # the extension API: writing an optimizer that behaves like the built-in ones
    "make_hparams", "current_lr", "zeros_slots", "make_optimizer", "iter_states",
    "hparams_of",
    # optimizers
    "SgdState", "sgd", "momentum", "nesterov", "AdagradState", "adagrad", "AdadeltaState",
    "adadelta", "RmspropState", "rmsprop", "AdamState", "adam", "adamw", "AdamaxState",
    "adamax", "NadamState", "nadam", "RadamState", "radam", "AsgdState", "asgd", "RpropState",
    "rprop", "AdafactorState", "adafactor", "LionState", "lion", "LambState", "lamb",
    "LarsState", "lars",
    # gradient transformations and wrappers
    "ChainState", "chain", "PartitionState", "partition", "MaskedState", "masked",
    "ClipState", "clip_by_global_norm", "clip_by_value", "AddNoiseState", "add_noise",
    "AccumulateState", "accumulate", "SkipNonfiniteState", "skip_nonfinite",
    "LookaheadState", "lookahead", "AveragingState", "swa", "ema", "averaged_params",
]
