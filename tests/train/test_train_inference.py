"""nf.train.predict, save_model and load_model."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from nnfunc.layers import batch_norm, dense, dropout, serial
from nnfunc.train import CheckpointError, load_model, predict, save_model


def _bn_mlp():
    return serial(dense(6), batch_norm(), nf.layers.activation(jax.nn.relu), dropout(0.5),
                  dense(3))


def _trained_bn_state(model, shape):
    params, state = model.init(jax.random.key(0), shape)
    # one training-mode pass moves the running statistics away from their init
    _, state = model.apply(params, state, jax.random.normal(jax.random.key(1), (16,) + shape),
                           train=True, key=jax.random.key(2))
    return params, state


@pytest.mark.parametrize("n,batch_size", [(0, 4), (1, 4), (5, 2), (7, 7), (9, 1024)])
def test_predict_equals_apply_in_inference_mode(n, batch_size):
    model = _bn_mlp()
    params, state = _trained_bn_state(model, (4,))
    X = np.random.default_rng(0).normal(size=(n, 4)).astype(np.float32)
    y = predict(model, (params, state), X, batch_size=batch_size)
    assert y.shape == (n, 3)
    if n:
        expected = model.apply(params, state, jnp.asarray(X), train=False)[0]
        np.testing.assert_allclose(np.asarray(y), np.asarray(expected), rtol=1e-5, atol=1e-6)


def test_predict_takes_a_train_state_and_a_cnn():
    model = nf.models.cnn(10)
    ts = nf.train.init_state(model, nf.optim.sgd(0.1), 0, (28, 28, 1))
    X = jax.random.uniform(jax.random.key(3), (37, 28, 28, 1))
    y = predict(model, ts, X, batch_size=16)            # 16 + 16 + 5 (padded)
    expected = model.apply(ts.params, ts.model_state, X)[0]
    np.testing.assert_allclose(np.asarray(y), np.asarray(expected), rtol=1e-4, atol=1e-5)


def test_predict_bad_input():
    model = nf.models.mlp([4, 3])
    params, state = model.init(jax.random.key(0), (4,))
    with pytest.raises(ValueError, match=r"does not take inputs of shape \(5,\)"):
        predict(model, (params, state), np.ones((2, 5), np.float32))
    with pytest.raises(ValueError, match="batch_size"):
        predict(model, (params, state), np.ones((2, 4), np.float32), batch_size=0)
    with pytest.raises(TypeError, match="TrainState or a"):
        predict(model, params, np.ones((2, 4), np.float32))
    with pytest.raises(TypeError, match="model must be a Layer"):
        predict(lambda x: x, (params, state), np.ones((2, 4), np.float32))


def _same(a, b):
    la, ta = jax.tree_util.tree_flatten(a)
    lb, tb = jax.tree_util.tree_flatten(b)
    assert ta == tb
    for x, y in zip(la, lb):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(np.asarray(x, np.float32), np.asarray(y, np.float32))


def test_save_and_load_without_a_template(tmp_path):
    model = _bn_mlp()
    params, state = _trained_bn_state(model, (4,))
    path = tmp_path / "m.npz"
    save_model(path, params, state)
    p, s = load_model(path)
    _same(p, params)
    _same(s, state)
    X = jnp.ones((3, 4))
    np.testing.assert_array_equal(model.apply(p, s, X)[0], model.apply(params, state, X)[0])


def test_containers_and_dtypes_survive(tmp_path):
    params = {"a": [jnp.ones(2), (jnp.zeros((2, 2), jnp.bfloat16), None)],
              "b": {"k": jax.random.key(3)}, "c": ()}
    save_model(tmp_path / "m.npz", params)
    p, s = load_model(tmp_path / "m.npz")
    assert isinstance(p["a"], list) and isinstance(p["a"][1], tuple) and p["a"][1][1] is None
    assert p["a"][1][0].dtype == jnp.bfloat16 and p["c"] == () and s == ()
    assert jax.random.key_data(p["b"]["k"]).tolist() == \
        jax.random.key_data(params["b"]["k"]).tolist()


def test_reads_a_training_checkpoint(tmp_path):
    model = nf.models.mlp([4, 8, 3])
    X = jax.random.normal(jax.random.key(0), (64, 4))
    y = jnp.arange(64) % 3
    cb = nf.train.Checkpoint(tmp_path, every=1)
    loss = nf.losses.softmax_cross_entropy_with_integer_labels
    res = nf.train.fit(model, nf.optim.adam(1e-2), loss, (X, y), epochs=2, batch_size=16,
                       key=0, callbacks=[cb], progress=False)
    for like in (None, model.init(jax.random.key(9), (4,))):   # params-only template too
        p, s = load_model(cb.latest(), like=like)
        _same(p, res.state.params)
    np.testing.assert_allclose(predict(model, (p, s), X), predict(model, res.state, X))


def test_load_errors(tmp_path):
    model = nf.models.mlp([4, 8, 3])
    params, state = model.init(jax.random.key(0), (4,))
    save_model(tmp_path / "m.npz", params, state)
    other = nf.models.mlp([4, 5, 3]).init(jax.random.key(0), (4,))
    with pytest.raises(CheckpointError, match="shape"):
        load_model(tmp_path / "m.npz", like=other)
    deeper = nf.models.mlp([4, 8, 8, 3]).init(jax.random.key(0), (4,))
    with pytest.raises(CheckpointError, match=r"first mismatching path .params\[4\]"):
        load_model(tmp_path / "m.npz", like=deeper)
    nf.train.save_checkpoint(tmp_path / "w.npz", {"w": jnp.ones(3)})
    with pytest.raises(CheckpointError, match="holds no model"):
        load_model(tmp_path / "w.npz")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "missing.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(os.fspath(tmp_path / "bad.npz"))
