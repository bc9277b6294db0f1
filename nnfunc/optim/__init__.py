"""Optimizers written by hand, with torch.optim's names, defaults and semantics.

``opt = nf.optim.adam(learning_rate=1e-3)``; ``state = opt.init(params)``;
``updates, state = opt.update(grads, state, params)``;
``params = nf.optim.apply_updates(params, updates)``.

Where things are: ``_base`` holds the ``Optimizer`` protocol, hyperparameters in the state
(``get_hparams``, ``set_hparams``), ``apply_updates`` and the shared helpers. Each
optimizer has its file: ``sgd`` (sgd, momentum, nesterov), ``adagrad``, ``adadelta``,
``rmsprop``, ``adam`` (adam, adamw), ``adamax``, ``nadam``, ``radam``, ``asgd``, ``rprop``,
``adafactor``, ``lion``, ``lamb``, ``lars``. Gradient transformations and wrappers:
``combining`` (chain, partition), ``masking`` (masked), ``clipping`` (clip_by_global_norm,
clip_by_value), ``noise`` (add_noise), ``accumulation`` (accumulate), ``nonfinite``
(skip_nonfinite), ``lookahead``, ``averaging`` (swa, ema, averaged_params).
"""
from nnfunc.optim._base import Optimizer, apply_updates, get_hparams, set_hparams
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
