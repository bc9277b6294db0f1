"""nf.layers.summary: rows, shapes and counts against a real forward pass and real params."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from nnfunc.layers import Layer, batch_norm, dense, residual, serial, summary
from nnfunc.layers._base import layer_outputs

MODELS = [
    ("mlp", lambda: nf.models.mlp([784, 64, 10]), (784,)),
    ("cnn", lambda: nf.models.cnn(10), (28, 28, 1)),
    ("bn-residual", lambda: serial(dense(8), batch_norm(), residual(dense(8))), (4,)),
    ("autoencoder", lambda: nf.models.conv_autoencoder((28, 28, 1)), (28, 28, 1)),
]


def _size(tree):
    return sum(int(np.size(a)) for a in jax.tree_util.tree_leaves(tree))


@pytest.mark.parametrize("name,build,shape", MODELS, ids=[m[0] for m in MODELS])
def test_rows_match_a_real_forward_pass(name, build, shape):
    model = build()
    params, state = model.init(jax.random.key(0), shape)
    real = layer_outputs(model, params, state, jnp.ones((3,) + shape))
    s = summary(model, shape)
    assert [r["layer"] for r in s.rows] == [n for n, _, _ in real]
    assert [r["output_shape"] for r in s.rows] == [tuple(y.shape[1:]) for _, _, y in real]
    assert s.total_params == _size(params) == sum(r["params"] for r in s.rows)
    assert s.total_state == _size(state) == sum(r["state"] for r in s.rows)
    assert s.param_bytes == sum(a.nbytes for a in jax.tree_util.tree_leaves(params))
    assert s.output_shape == tuple(model.apply(params, state, jnp.ones((2,) + shape))[0].shape[1:])
    for r in s.rows:                      # every row is printed with its count
        assert r["layer"] in s and f"{r['params']:,}" in s


def test_counts_per_layer():
    s = summary(serial(dense(8), batch_norm(), residual(dense(8))), (4,))
    assert [(r["layer"], r["params"], r["state"]) for r in s.rows] == [
        ("0/dense", 4 * 8 + 8, 0), ("1/batch_norm", 16, 16), ("2/0/dense", 8 * 8 + 8, 0)]
    assert "total params: 128" in s and "total state: 16" in s


def test_user_layer_with_a_name_and_a_jitted_container():
    def init(key, shape):
        return {"w": jnp.ones(shape)}, ()

    def apply(params, state, x, *, train=False, key=None):
        return x * params["w"], state

    scale = Layer(init, apply, name="scale")
    net = serial(dense(3), scale)
    s = summary(net, (2,))
    assert [r["layer"] for r in s.rows] == ["0/dense", "1/scale"]
    assert s.rows[1]["params"] == 3
    jitted = Layer(net.init, jax.jit(net.apply, static_argnames="train"))
    one = summary(jitted, (2,))   # opened when traced afresh, else one row: same totals
    assert one.total_params == 12 == sum(r["params"] for r in one.rows)
    assert one.rows[-1]["output_shape"] == (3,)


def test_container_parameters_get_their_own_row():
    inner = dense(2)

    def init(key, shape):
        p, s = inner.init(key, shape)
        return {"inner": p, "bias": jnp.zeros(2)}, s

    def apply(params, state, x, *, train=False, key=None):
        from nnfunc.layers import apply_child
        y, state = apply_child("wrap", "inner", inner, params["inner"], state, x,
                               train=train, key=key)
        return y + params["bias"], state

    s = summary(Layer(init, apply, name="wrap", children=(inner,)), (3,))
    assert [(r["layer"], r["params"]) for r in s.rows] == [("inner/dense", 8),
                                                           ("(container)", 2)]
    assert s.total_params == 10


def test_bad_input():
    with pytest.raises(TypeError, match="model must be a Layer"):
        summary(lambda x: x, (3,))
    with pytest.raises(ValueError, match="input_shape"):
        summary(dense(3), (0,))
    with pytest.raises(ValueError):
        summary(nf.models.cnn(10), (784,))      # a conv net needs (H, W, C)
