"""A user's extension, written with nnfunc's public names only (as in the README): an
optimizer (``nf.optim.make_hparams``, ``current_lr``, ``zeros_slots``, ``make_optimizer``),
a schedule (a plain ``step -> value`` function) and a layer (``nf.layers.Layer``); shared by
tests/optim/test_optim_extension.py and tests/test_extension_api.py."""
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

import nnfunc as nf


# ---------------------------------------------------------------------------------------
# a user's optimizer, written only with the public helpers (as in the README)

class MomentumState(NamedTuple):
    count: jax.Array
    hparams: dict
    momentum_buffer: Any


def my_momentum(learning_rate=1e-3, momentum=0.9):
    """Heavy-ball SGD: ``b ← μ b + g`` (b₀ = 0, so b₁ = g as torch), ``θ ← θ − η b``."""
    hparams0 = nf.optim.make_hparams(learning_rate=learning_rate, momentum=momentum)

    def init(params):
        return MomentumState(jnp.zeros((), jnp.int32), hparams0, nf.optim.zeros_slots(params))

    def update(grads, state, params=None):
        lr, hp = nf.optim.current_lr(learning_rate, state.hparams, state.count)
        buf = jax.tree_util.tree_map(lambda b, g: hp["momentum"] * b + g,
                                     state.momentum_buffer, grads)
        updates = jax.tree_util.tree_map(lambda b: -lr * b, buf)
        return updates, MomentumState(state.count + 1, hp, buf)

    return nf.optim.make_optimizer(init, update)


# a user's schedule: a plain function step -> value, jit-able with a traced step
def halving(step):
    """0.1, halved every 2 steps."""
    return 0.1 * 0.5 ** (jnp.asarray(step) // 2)


# a user's layer: elementwise learned scale, built with the public Layer and a name
def scale(name="scale"):
    def init(key, input_shape):
        return {"s": jnp.ones(input_shape[-1:])}, {}

    def apply(params, state, x, *, train=False, key=None):
        return x * params["s"], state

    return nf.layers.Layer(init, apply, name=name)
