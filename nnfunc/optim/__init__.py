"""Optimizers written by hand, with torch.optim's names, defaults and semantics.

``opt = nf.optim.adam(learning_rate=1e-3)``; ``state = opt.init(params)``;
``updates, state = opt.update(grads, state, params)``;
``params = nf.optim.apply_updates(params, updates)``.
"""
from nnfunc.optim._base import Optimizer, apply_updates, get_hparams, set_hparams  # noqa: F401
from nnfunc.optim.gd import *  # noqa: F401,F403
from nnfunc.optim.adaptive import *  # noqa: F401,F403
from nnfunc.optim.others import *  # noqa: F401,F403
from nnfunc.optim.beyond import *  # noqa: F401,F403
from nnfunc.optim.wrappers import *  # noqa: F401,F403
from nnfunc.optim.averaging import *  # noqa: F401,F403
