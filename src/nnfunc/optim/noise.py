"""``add_noise``: annealed Gaussian gradient noise, a gradient transformation."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from nnfunc.optim._base import Optimizer, PyTree, make_optimizer
from nnfunc.optim._hparams import make_hparams
from nnfunc.optim._slots import zero_count

__all__ = ["AddNoiseState", "add_noise"]


class AddNoiseState(NamedTuple):
    """count, hparams; key: the PRNG key, split at every step."""
    count: jax.Array
    hparams: dict
    key: jax.Array


def add_noise(eta: Any = 0.01, gamma: Any = 0.55, key: jax.Array | None = None) -> Optimizer:
    """Annealed Gaussian gradient noise (Neelakantan et al., 2015), a gradient transformation.

    ``g̃ = g + N(0, σₜ²)``, ``σₜ² = η / (1 + t)^γ`` with t the step (0, 1, ...): early
    noise helps escape saddle points, and it decays so training still converges. Use it
    before an optimizer: ``chain(add_noise(0.01, 0.55, key=key), sgd(...))``.

    Args:
      eta: η >= 0, the initial variance.
      gamma: γ >= 0, the decay exponent (0.55 in the paper).
      key: a ``jax.random`` key, typed or raw (or an int seed); required. It is carried
        in the state and split at every step.

    Returns:
      An ``Optimizer`` returning noisy gradients; its state is an ``AddNoiseState`` with
      slot ``key``.

    Example:
      >>> import jax, jax.numpy as jnp, nnfunc as nf
      >>> noise = nf.optim.add_noise(eta=1.0, gamma=0.55, key=jax.random.key(0))
      >>> g = {'w': jnp.zeros(1000)}
      >>> noisy, state = noise.update(g, noise.init(g))
      >>> bool(0.8 < float(noisy['w'].std()) < 1.2)    # σ₀ = 1
      True
    """
    if key is None:
        raise ValueError("add_noise needs an explicit key=jax.random.key(seed), got key=None")
    if isinstance(key, int) and not isinstance(key, bool):
        key = jax.random.key(key)
    hparams0 = make_hparams(eta=eta, gamma=gamma)

    def init(params: PyTree) -> AddNoiseState:
        return AddNoiseState(zero_count(), dict(hparams0), key)

    def update(grads, state, params=None):
        hp = state.hparams
        t = state.count.astype(hp["eta"].dtype)
        std = jnp.sqrt(hp["eta"] / (1 + t) ** hp["gamma"])
        leaves, treedef = jax.tree_util.tree_flatten(grads)
        new_key, sub = jax.random.split(state.key)
        keys = jax.random.split(sub, max(len(leaves), 1))
        noisy = [(g + std * jax.random.normal(k, jnp.shape(g), jnp.result_type(g)))
                 .astype(jnp.result_type(g)) for g, k in zip(leaves, keys)]
        return (jax.tree_util.tree_unflatten(treedef, noisy),
                AddNoiseState(state.count + 1, hp, new_key))

    return make_optimizer(init, update)
