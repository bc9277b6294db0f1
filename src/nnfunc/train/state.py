"""``TrainState``: everything a training run carries from one step to the next, as a pytree.

``as_key`` and ``copy_state`` (not exported by the package) are what ``fit``, ``sweep`` and
the callbacks share: seeds or keys as typed keys, and a state that owns its buffers.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp

from nnfunc._checks import is_traced
from nnfunc.layers import Layer
from nnfunc.optim import Optimizer

__all__ = ["TrainState", "init_state"]

PyTree = Any


class TrainState(NamedTuple):
    """The whole state of a training run, a pytree of arrays.

    Attributes:
      params: the trained parameters (the model's pytree).
      model_state: the non-trained model state (e.g. batch-norm running statistics).
      opt_state: the optimizer state (hyperparameters included).
      step: the number of optimizer steps taken so far (int32 scalar).
      key: the run's random key. Each epoch splits it for its shuffle
        (``key, k = split(key)``); each step's dropout key is ``fold_in(key, step)``.

    Because the key and the step are part of the state, saving and restoring a
    ``TrainState`` resumes a run exactly.
    """

    params: PyTree
    model_state: PyTree
    opt_state: PyTree
    step: jax.Array
    key: jax.Array


def copy_state(ts: TrainState) -> TrainState:
    # The training loop donates the state's buffers to the next epoch: keep a real copy.
    return jax.tree_util.tree_map(lambda a: a.copy(), ts)


def as_key(key: Any) -> jax.Array:
    """An int seed becomes a typed key; keys (typed or raw uint32) pass through."""
    if isinstance(key, int) and not isinstance(key, bool):
        return jax.random.key(key)
    if is_traced(key):
        return key
    try:
        arr = jnp.asarray(key)
    except TypeError:
        arr = jnp.zeros(0)
    is_typed = jnp.issubdtype(arr.dtype, jax.dtypes.prng_key)
    if not is_typed and not (arr.dtype == jnp.uint32 and arr.shape == (2,)):
        raise ValueError(f"key must be an int seed, a jax.random.key(...) or a raw "
                         f"jax.random.PRNGKey(...), got {key!r}")
    return arr


def init_state(model: Layer, opt: Optimizer, key: Any, input_shape: Sequence[int]) -> TrainState:
    """Initialise parameters, model state and optimizer state: step 0 of a training run.

    ``k_init, k_train = split(key)``; ``params, model_state = model.init(k_init,
    input_shape)``; ``opt_state = opt.init(params)``; the state keeps ``k_train`` for the
    shuffling and dropout of the steps to come.

    Args:
      model: a ``Layer`` (e.g. ``nf.models.mlp(...)``).
      opt: an ``Optimizer`` (e.g. ``nf.optim.adam(...)``).
      key: a ``jax.random.key``, a raw ``jax.random.PRNGKey`` or an int seed.
      input_shape: the shape of one example (without the batch axis).

    Returns:
      A ``TrainState`` with ``step == 0``.

    Example:
      >>> import jax, nnfunc as nf
      >>> model = nf.models.mlp([4, 8, 3])
      >>> ts = nf.train.init_state(model, nf.optim.sgd(0.1), jax.random.key(0), (4,))
      >>> ts.params[0]['w'].shape, int(ts.step)
      ((4, 8), 0)
    """
    key = as_key(key)
    k_init, k_train = jax.random.split(key)
    params, model_state = model.init(k_init, tuple(input_shape))
    opt_state = opt.init(params)
    ts = TrainState(params, model_state, opt_state, jnp.zeros((), jnp.int32), k_train)
    # The steps donate the state's buffers, so the state must own them: an optimizer or
    # layer may hand out arrays it also keeps (e.g. hyperparameter constants).
    return jax.tree_util.tree_map(
        lambda a: a.copy() if isinstance(a, jax.Array) and not is_traced(a)
        else a, ts)
