"""Tests of dropout: statistics, scaling, determinism and keys."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnfunc import layers as L
from _layers_setup import KEY


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_dropout_statistics_scaling_and_determinism(rate):
    layer = L.dropout(rate)
    x = jnp.asarray(np.random.default_rng(0).uniform(1, 2, (10, 5000)), jnp.float32)
    k = jax.random.key(11)
    y, _ = layer.apply({}, {}, x, train=True, key=k)
    dropped = np.asarray(y == 0)
    assert abs(dropped.mean() - rate) < 0.01
    kept = ~dropped
    expected = np.asarray(x) * np.float32(1 / (1 - rate))
    np.testing.assert_array_equal(np.asarray(y)[kept], expected[kept])
    y_again, _ = layer.apply({}, {}, x, train=True, key=k)
    np.testing.assert_array_equal(y_again, y)
    y_other, _ = layer.apply({}, {}, x, train=True, key=jax.random.key(12))
    assert not np.array_equal(np.asarray(y_other == 0), dropped)
    y_eval, _ = layer.apply({}, {}, x)
    np.testing.assert_array_equal(y_eval, x)


def test_dropout_rate_zero_keeps_everything():
    x = jnp.ones((2, 100))
    y, _ = L.dropout(0.0).apply({}, {}, x, train=True, key=KEY)
    np.testing.assert_array_equal(y, x)


def test_serial_gives_each_dropout_its_own_key():
    net = L.serial(L.dropout(0.5), L.dropout(0.5))
    params, state = net.init(KEY, (4000,))
    x = jnp.ones((1, 4000))
    y, _ = net.apply(params, state, x, train=True, key=KEY)
    # Independent masks keep ~1/4 of units (scaled by 4); a shared mask would keep ~1/2.
    assert abs(float(jnp.mean(y != 0)) - 0.25) < 0.03
    assert set(np.unique(np.asarray(y)).tolist()) <= {0.0, 4.0}
