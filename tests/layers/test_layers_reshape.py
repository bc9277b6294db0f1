"""Tests of reshape (and flatten back): round trips, -1, shape inference through a decoder,
jit/vmap and bad arguments and inputs."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnfunc import layers as L
from _layers_setup import KEY, applied_call, check_jit_and_vmap, init_call


def test_reshape_round_trip_and_minus_one():
    x = np.random.default_rng(0).standard_normal((3, 7, 7, 8))
    flat = L.flatten()
    back = L.reshape((7, 7, 8))
    assert back.init(KEY, (392,)) == ({}, {})
    y, _ = back.apply({}, {}, flat.apply({}, {}, x)[0])
    np.testing.assert_array_equal(y, x)
    for shape, expected in [((7, 7, 8), (7, 7, 8)), ((-1,), (392,)), (-1, (392,)),
                            ((14, -1), (14, 28)), ((2, -1, 4), (2, 49, 4)), (392, (392,))]:
        layer = L.reshape(shape)
        assert L.output_shape(layer, (7, 7, 8)) == expected
        y, _ = layer.apply({}, {}, x)
        np.testing.assert_array_equal(y, x.reshape(3, *expected))
    # jit, grad and a batch of one
    y = jax.jit(lambda v: L.reshape((2, -1)).apply({}, {}, v)[0])(x[:1])
    assert y.shape == (1, 2, 196)
    g = jax.grad(lambda v: jnp.sum(L.reshape((-1, 7)).apply({}, {}, v)[0] ** 2))(x)
    np.testing.assert_allclose(g, 2 * x)


def test_serial_shape_inference_through_a_decoder():
    net = L.serial(L.dense(7 * 7 * 8), L.reshape((7, 7, 8)),
                   L.conv_transpose2d(4, 3, stride=2, padding=1, output_padding=1),
                   L.upsample(2))
    assert L.output_shape(net, (10,)) == (28, 28, 4)
    params, state = net.init(KEY, (10,))
    assert params[2]["w"].shape == (3, 3, 8, 4) and params[1] == {} and params[3] == {}
    y, _ = jax.jit(net.apply)(params, state, jnp.ones((5, 10)))
    assert y.shape == (5, 28, 28, 4)
    assert [c.name for c in net.children] == ["dense", "reshape", "conv_transpose2d",
                                              "upsample"]
    bilinear = L.serial(net, L.upsample((1, 3), "bilinear"), L.reshape((-1, 4)))
    assert L.output_shape(bilinear, (10,)) == (28 * 84, 4)


# ---------------------------------------------------------------- jit, vmap and bad inputs

JIT_VMAP_CASES = {
    "reshape": (lambda: L.reshape((5, -1)), (4, 5, 2)),
}


@pytest.mark.parametrize("name", sorted(JIT_VMAP_CASES))
def test_jit_and_vmap_paths(name):
    make, shape = JIT_VMAP_CASES[name]
    check_jit_and_vmap(make(), shape)


BAD = [
    # reshape
    ("reshape empty", lambda: L.reshape(()), "shape must be a non-empty tuple of positive "
                                             "ints, one of which may be -1, got ()"),
    ("reshape zero", lambda: L.reshape((0, 4)), "shape must be a non-empty tuple"),
    ("reshape two -1", lambda: L.reshape((-1, -1)), "shape must be a non-empty tuple"),
    ("reshape -2", lambda: L.reshape((-2, 4)), "shape must be a non-empty tuple"),
    ("reshape str", lambda: L.reshape((2, "a")), "shape must be a non-empty tuple"),
    ("reshape bool", lambda: L.reshape((2, True)), "shape must be a non-empty tuple"),
    ("reshape float", lambda: L.reshape(1.5), "shape must be a non-empty tuple"),
    ("reshape init count", init_call(L.reshape((7, 7, 8)), (10,)),
     "reshape: cannot reshape examples of shape (10,) (10 elements) to (7, 7, 8) "
     "(392 elements)"),
    ("reshape init -1", init_call(L.reshape((-1, 3)), (2, 5)),
     "reshape: cannot reshape examples of shape (2, 5) (10 elements) to (-1, 3): 10 is "
     "not a multiple of 3"),
    ("reshape in serial", init_call(L.serial(L.dense(5), L.reshape((2, 2))), (3,)),
     "serial: layer 1 (reshape) received input_shape (5,)"),
    ("reshape apply count", applied_call(L.reshape((3, 4)), (12,), jnp.ones((2, 10))),
     "cannot reshape examples of shape (10,) (10 elements) to (3, 4) (12 elements)"),
]


@pytest.mark.parametrize("what, call, message", BAD, ids=[c[0] for c in BAD])
def test_bad_arguments_and_inputs_raise_value_error(what, call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value)
