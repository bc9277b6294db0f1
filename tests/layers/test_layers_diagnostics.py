"""Tests of activation_stats and the recognition of ReLUs."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from nnfunc import layers as L
from _layers_setup import KEY, float_input


def test_activation_stats_reports_dead_relus_per_layer():
    net = L.serial(L.dense(4), L.activation(nf.activations.relu), L.dense(2))
    params, state = net.init(KEY, (3,))
    # Units 0 and 2 get a huge negative bias: dead for every input in the batch.
    params = (dict(params[0], b=params[0]["b"].at[jnp.array([0, 2])].set(-1e3)),) + params[1:]
    x = jnp.asarray(float_input((16, 3)), jnp.float32)
    stats = L.activation_stats(net, params, state, x)
    assert [s["layer"] for s in stats] == ["0/dense", "1/relu", "2/dense"]
    hidden = np.maximum(np.asarray(x) @ np.asarray(params[0]["w"]) + np.asarray(params[0]["b"]),
                        0)
    relu = stats[1]
    assert relu["dead_fraction"] == pytest.approx(np.all(hidden == 0, axis=0).mean())
    assert relu["dead_fraction"] >= 0.5
    assert relu["zero_fraction"] == pytest.approx((hidden == 0).mean())
    assert relu["mean"] == pytest.approx(hidden.mean(), rel=1e-5)
    assert relu["std"] == pytest.approx(hidden.std(), rel=1e-5)
    assert relu["max"] == pytest.approx(hidden.max(), rel=1e-5)
    assert relu["shape"] == (16, 4)
    assert stats[0]["dead_fraction"] == 0.0


def test_activation_stats_opens_parallel_and_residual():
    relu = L.activation(nf.activations.relu)
    net = L.serial(L.dense(4), L.parallel(L.dense(2), L.serial(L.dense(3), relu)),
                   L.residual(L.dense(5), relu))
    params, state = net.init(KEY, (3,))
    x = jnp.asarray(float_input((8, 3)), jnp.float32)
    stats = L.activation_stats(net, params, state, x)
    assert [s["layer"] for s in stats] == ["0/dense", "1/0/dense", "1/1/0/dense",
                                           "1/1/1/relu", "2/0/dense", "2/1/relu"]
    # the residual body's relu output is what the body computes, before the skip
    h = np.asarray(x) @ np.asarray(params[0]["w"]) + np.asarray(params[0]["b"])
    p = np.concatenate([h @ np.asarray(params[1][0]["w"]) + np.asarray(params[1][0]["b"]),
                        np.maximum(h @ np.asarray(params[1][1][0]["w"])
                                   + np.asarray(params[1][1][0]["b"]), 0)], axis=-1)
    body = np.maximum(p @ np.asarray(params[2][0]["w"]) + np.asarray(params[2][0]["b"]), 0)
    assert stats[-1]["mean"] == pytest.approx(body.mean(), rel=1e-5)
    assert stats[-1]["shape"] == (8, 5)


def test_relus_are_recognised_by_their_values_not_their_names():
    from nnfunc.layers.activation import is_relu
    assert is_relu(L.activation(nf.activations.relu))
    assert is_relu(L.activation(jax.nn.relu))
    assert is_relu(L.activation(lambda x: jnp.maximum(x, 0.0)))       # a lambda counts
    assert not is_relu(L.activation(nf.activations.leaky_relu))      # negative slope
    assert not is_relu(L.activation(jnp.tanh))
    assert not is_relu(L.dense(3))


def test_a_container_written_with_the_public_helpers_is_opened_like_serial():
    """nf.layers' extension API (split_key, infer_out_shape, apply_child): a two-child
    container of one's own names a failing child and is opened by activation_stats."""
    first, second = L.dense(4), L.activation(nf.activations.relu)

    def init(key, input_shape):
        k1, k2 = L.split_key(key, 2)
        p1, s1 = first.init(k1, input_shape)
        p2, s2 = second.init(k2, L.infer_out_shape(first, p1, s1, tuple(input_shape)))
        return (p1, p2), (s1, s2)

    def apply(params, state, x, *, train=False, key=None):
        k1, k2 = L.split_key(key, 2)
        h, s1 = L.apply_child("pair: layer 0", 0, first, params[0], state[0], x,
                              train=train, key=k1)
        y, s2 = L.apply_child("pair: layer 1", 1, second, params[1], state[1], h,
                              train=train, key=k2)
        return y, (s1, s2)

    pair = L.Layer(init, apply, name="pair", children=(first, second))
    params, state = pair.init(KEY, (3,))
    assert L.output_shape(pair, (3,)) == (4,)
    x = jnp.asarray(float_input((8, 3)), jnp.float32)
    stats = L.activation_stats(pair, params, state, x)
    assert [s["layer"] for s in stats] == ["0/dense", "1/relu"]
    with pytest.raises(ValueError, match=r"pair: layer 0 \(dense\): "):
        pair.apply(params, state, jnp.ones((2, 5)))
