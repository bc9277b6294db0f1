"""nnfunc.train.init_state: structure, determinism, bad keys."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from _core_setup import MODEL, SGD, leaves_equal
from nnfunc.train import TrainState


def test_init_state_structure_and_determinism():
    ts = nf.train.init_state(MODEL, SGD, jax.random.key(0), (8,))
    assert isinstance(ts, TrainState) and int(ts.step) == 0
    assert ts.params[0]["w"].shape == (8, 16) and ts.params[2]["w"].shape == (16, 3)
    leaves_equal(ts, nf.train.init_state(MODEL, SGD, jax.random.key(0), (8,)))
    other = nf.train.init_state(MODEL, SGD, jax.random.key(1), (8,))
    assert not np.array_equal(ts.params[0]["w"], other.params[0]["w"])
    seeded = nf.train.init_state(MODEL, SGD, 0, (8,))       # int seed == key(seed)
    leaves_equal(ts, seeded)
    raw = nf.train.init_state(MODEL, SGD, jax.random.PRNGKey(0), (8,))
    assert raw.key.dtype == jnp.uint32


@pytest.mark.parametrize("key", ["abc", 1.5, jnp.zeros(3, jnp.float32)])
def test_init_state_bad_key(key):
    with pytest.raises(ValueError, match="key"):
        nf.train.init_state(MODEL, SGD, key, (8,))
