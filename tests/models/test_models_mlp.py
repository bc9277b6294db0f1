"""Tests of nnfunc.models.mlp (mlp and the LeNet-style cnn) against torch: structure,
shapes, names, composition, diagnostics and bad inputs."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from nnfunc import layers as L
from nnfunc import models as M

KEY = jax.random.key(0)


# ---------------------------------------------------------------- mlp

def test_mlp_structure_shapes_and_names():
    model = M.mlp([6, 8, 5, 3], activation=nf.activations.relu,
                  output_activation=nf.activations.softmax, dropout=0.2, batch_norm=True)
    assert [c.name for c in model.children] == [
        "dense", "batch_norm", "relu", "dropout", "dense", "batch_norm", "relu", "dropout",
        "dense", "softmax"]
    params, state = model.init(KEY, (6,))
    assert [p["w"].shape for p in params if "w" in p] == [(6, 8), (8, 5), (5, 3)]
    assert set(state[1]) == {"mean", "var"}
    x = jnp.asarray(np.random.default_rng(0).standard_normal((10, 6)), jnp.float32)
    y, new_state = model.apply(params, state, x, train=True, key=KEY)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(new_state[1]["mean"], state[1]["mean"])   # running stats moved
    y_eval, eval_state = model.apply(params, new_state, x)
    np.testing.assert_array_equal(eval_state[1]["mean"], new_state[1]["mean"])
    with pytest.raises(ValueError, match="needs a random key"):
        model.apply(params, state, x, train=True)


def test_mlp_matches_torch_sequential():
    torch = pytest.importorskip("torch")
    sizes = [5, 7, 4, 3]
    model = M.mlp(sizes, activation=nf.activations.tanh)
    params, state = model.init(KEY, (5,))
    denses = [p for p in params if "w" in p]
    layers = []
    for i, p in enumerate(denses):
        lin = torch.nn.Linear(sizes[i], sizes[i + 1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.array(p["w"]).T))   # (in, out) -> (out, in)
            lin.bias.copy_(torch.from_numpy(np.array(p["b"])))
        layers += [lin, torch.nn.Tanh()]
    net = torch.nn.Sequential(*layers[:-1])
    x = np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32)
    with jax.default_matmul_precision("float32"):      # no TF32 on GPUs: compare semantics
        y, _ = jax.jit(model.apply)(params, state, x)
    np.testing.assert_allclose(y, net(torch.from_numpy(x)).detach().numpy(), rtol=1e-5,
                               atol=1e-6)


def test_models_compose_and_vmap():
    model = L.serial(L.flatten(), M.mlp([12, 4, 2]))
    params, state = model.init(KEY, (2, 2, 3))
    x = np.random.default_rng(2).standard_normal((3, 5, 2, 2, 3)).astype(np.float32)
    ys, _ = jax.vmap(lambda v: model.apply(params, state, v))(x)
    ref = [model.apply(params, state, x[i])[0] for i in range(3)]
    np.testing.assert_allclose(ys, np.stack(ref), rtol=1e-5, atol=1e-6)
    grads = jax.grad(lambda p: jnp.sum(model.apply(p, state, x[0])[0] ** 2))(params)
    assert jax.tree_util.tree_structure(grads) == jax.tree_util.tree_structure(params)


# ---------------------------------------------------------------- cnn

def test_cnn_is_lenet_and_matches_torch():
    torch = pytest.importorskip("torch")
    model = M.cnn()
    params, state = model.init(KEY, (28, 28, 1))
    assert nf.tree.size(params) == 61706                 # LeNet-5 with 28x28 inputs
    c1, c2, f1, f2, f3 = (params[i] for i in (0, 3, 7, 9, 11))
    tnet = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(6, 16, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
        torch.nn.Linear(400, 120), torch.nn.ReLU(), torch.nn.Linear(120, 84), torch.nn.ReLU(),
        torch.nn.Linear(84, 10))
    # Our flatten sees NHWC (5, 5, 16) -> index h*80 + w*16 + c; torch's sees NCHW
    # (16, 5, 5) -> index c*25 + h*5 + w. Reorder fc1's input rows to torch's order.
    w1 = np.array(f1["w"]).reshape(5, 5, 16, 120).transpose(2, 0, 1, 3).reshape(400, 120)
    with torch.no_grad():
        for tconv, p in ((tnet[0], c1), (tnet[3], c2)):
            tconv.weight.copy_(torch.from_numpy(np.array(p["w"]).transpose(3, 2, 0, 1)))
            tconv.bias.copy_(torch.from_numpy(np.array(p["b"])))
        for tlin, w, b in ((tnet[7], w1, f1["b"]), (tnet[9], f2["w"], f2["b"]),
                           (tnet[11], f3["w"], f3["b"])):
            tlin.weight.copy_(torch.from_numpy(np.array(w).T.copy()))
            tlin.bias.copy_(torch.from_numpy(np.array(b)))
    x = np.random.default_rng(4).standard_normal((3, 28, 28, 1)).astype(np.float32)
    with jax.default_matmul_precision("float32"):
        y, _ = jax.jit(model.apply)(params, state, x)
    ref = tnet(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).detach().numpy()
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- diagnostics

def test_diagnostics_open_models_and_find_dead_relus():
    model = M.mlp([4, 6, 2])
    params, state = model.init(KEY, (4,))
    b = np.array(params[0]["b"])
    b[:3] = -100.0                                        # 3 of 6 hidden units can't fire
    params = ({"w": params[0]["w"], "b": b},) + params[1:]
    x = np.random.default_rng(5).uniform(-1, 1, (32, 4)).astype(np.float32)
    stats = L.activation_stats(model, params, state, x)
    assert [s["layer"] for s in stats] == ["0/dense", "1/relu", "2/dense"]
    hidden = np.maximum(x @ np.array(params[0]["w"]) + b, 0)
    assert stats[1]["dead_fraction"] == pytest.approx(np.mean(np.all(hidden == 0, axis=0)))
    assert stats[1]["dead_fraction"] >= 0.5
    assert stats[2]["shape"] == (32, 2)
    nested = L.activation_stats(L.serial(L.flatten(), model), params=((), params),
                                state=({}, state), x=x.reshape(32, 2, 2))
    assert [s["layer"] for s in nested] == ["0/flatten", "1/0/dense", "1/1/relu", "1/2/dense"]


# ---------------------------------------------------------------- bad inputs

BAD = [
    ("mlp one size", lambda: M.mlp([3]), "mlp sizes must be a sequence of at least two"),
    ("mlp zero width", lambda: M.mlp([3, 0, 2]), "mlp sizes must be"),
    ("mlp dropout", lambda: M.mlp([3, 4, 2], dropout=1.5), "dropout rate must be in [0, 1)"),
    ("mlp input shape", lambda: M.mlp([784, 10]).init(KEY, (28, 28, 1)),
     "mlp expects input_shape (784,) (sizes[0]), got (28, 28, 1)"),
    ("cnn tiny image", lambda: M.cnn().init(KEY, (8, 8, 1)), "does not fit the input"),
]


@pytest.mark.parametrize("what, call, message", BAD, ids=[b[0] for b in BAD])
def test_bad_inputs_raise_value_error(what, call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value)


# ------------------------------------- issue 17: MNIST as (N, 28, 28), no channel axis

def test_cnn_without_channel_axis_says_how_to_add_it():
    model = M.cnn()
    with pytest.raises(ValueError, match=r"cnn expects input_shape \(height, width, "
                                         r"channels\) of NHWC images, got \(28, 28\): add "
                                         r"the channel axis to grayscale images, "
                                         r"x\[\.\.\., None\] \(input_shape \(28, 28, 1\)\)"):
        model.init(KEY, (28, 28))
    params, state = model.init(KEY, (28, 28, 1))
    with pytest.raises(ValueError, match=r"serial: layer 0 \(conv2d\): conv2d expects NHWC "
                                         r"inputs \(batch, height, width, 1\), got "
                                         r"\(3, 28, 28\); .*x\[\.\.\., None\]"):
        model.apply(params, state, jnp.zeros((3, 28, 28)))
    # the fix the message names gives the model's numbers
    x = jax.random.uniform(jax.random.key(1), (3, 28, 28))
    logits, _ = model.apply(params, state, x[..., None])
    assert logits.shape == (3, 10) and bool(jnp.all(jnp.isfinite(logits)))


def test_fit_reports_the_cnn_channel_hint():
    x = np.zeros((8, 28, 28), np.float32)
    y = np.zeros(8, np.int32)
    with pytest.raises(ValueError, match=r"the model cannot be applied to data X of example "
                                         r"shape \(28, 28\): cnn expects .*x\[\.\.\., None\]"):
        nf.train.fit(M.cnn(), nf.optim.sgd(0.1), nf.losses.softmax_cross_entropy, (x, y),
                     epochs=1, batch_size=4, progress=False)
