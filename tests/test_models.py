"""Tests for nnfunc.models against closed forms, numpy and torch."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from nnfunc import layers as L
from nnfunc import models as M

KEY = jax.random.key(0)


def _regression_data(n=60, d=3, k=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((d, k))
    Y = X @ W + 0.7 + 0.1 * rng.standard_normal((n, k))
    return X, Y


# ---------------------------------------------------------------- linear regression

@pytest.mark.parametrize("k, fit_intercept", [(1, True), (2, True), (1, False)])
def test_closed_form_linear_regression_equals_numpy_lstsq(k, fit_intercept, x64):
    X, Y = _regression_data(k=k)
    params = M.linear_regression_closed_form(jnp.asarray(X), jnp.asarray(Y[:, 0] if k == 1 else Y),
                                             fit_intercept=fit_intercept)
    A = np.hstack([X, np.ones((len(X), 1))]) if fit_intercept else X
    theta, *_ = np.linalg.lstsq(A, Y, rcond=None)
    np.testing.assert_allclose(params["w"], theta[:3], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(params["b"], theta[3] if fit_intercept else np.zeros(k),
                               rtol=1e-10, atol=1e-12)
    # The params plug straight into the model.
    model = M.linear_regression(k)
    _, state = model.init(KEY, (3,))
    pred, _ = model.apply(params, state, jnp.asarray(X))
    np.testing.assert_allclose(pred, A @ theta, rtol=1e-10, atol=1e-10)


def test_gradient_descent_converges_to_the_closed_form(x64):
    X, Y = _regression_data(k=2)
    closed = M.linear_regression_closed_form(X, Y)
    model = M.linear_regression(2)
    params, _ = model.init(KEY, (3,))
    params = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params)
    params, losses = M.linear_regression_gd(params, X, Y, learning_rate=0.3, steps=300)
    assert losses.shape == (300,)
    assert bool(jnp.all(jnp.diff(losses) <= 1e-12))            # GD on a convex quadratic
    np.testing.assert_allclose(params["w"], closed["w"], atol=1e-8)
    np.testing.assert_allclose(params["b"], closed["b"], atol=1e-8)
    residual = X @ np.asarray(closed["w"]) + np.asarray(closed["b"]) - Y
    assert float(losses[-1]) == pytest.approx(float(np.mean(residual ** 2)), rel=1e-6)


# ---------------------------------------------------------------- perceptron

def _separable(n=80, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (4 * n, 2))
    score = X @ np.array([1.0, -2.0]) + 0.3
    X = X[np.abs(score) > 0.1][:n]                               # a margin of 0.1
    Y = (X @ np.array([1.0, -2.0]) + 0.3 > 0).astype(np.float32)
    return X.astype(np.float32), Y


def _numpy_perceptron_pass(w, b, X, Y, lr):
    mistakes = 0
    for x, y in zip(X, Y):
        err = y - (x @ w + b > 0).astype(np.float32)
        w = w + lr * np.outer(x, err)
        b = b + lr * err
        mistakes += int(np.any(err != 0))
    return w, b, mistakes


def test_perceptron_update_is_the_classic_rule():
    X, Y = _separable()
    params = {"w": np.zeros((2, 1), np.float32), "b": np.zeros(1, np.float32)}
    w, b = params["w"], params["b"]
    for _ in range(3):
        params, mistakes = M.perceptron_update(params, X, Y, learning_rate=0.5)
        w, b, ref_mistakes = _numpy_perceptron_pass(w, b, X, Y.reshape(-1, 1), 0.5)
        np.testing.assert_allclose(params["w"], w, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(params["b"], b, rtol=1e-6, atol=1e-6)
        assert int(mistakes) == ref_mistakes


def test_perceptron_separates_a_separable_set():
    X, Y = _separable()
    model = M.perceptron()
    params, state = model.init(KEY, (2,))
    assert float(jnp.abs(params["w"]).sum()) == 0.0              # classic zero start
    params, epochs, mistakes = M.fit_perceptron(params, X, Y, max_epochs=200)
    assert int(mistakes) == 0 and 1 <= int(epochs) < 200
    pred, _ = model.apply(params, state, X)
    np.testing.assert_array_equal(pred[:, 0], Y)
    assert set(np.unique(np.asarray(pred)).tolist()) <= {0.0, 1.0}


# ---------------------------------------------------------------- logistic / softmax

def _gd_fit(model, params, state, X, loss, lr, steps):
    @jax.jit
    def run(params):
        def step(p, _):
            g = jax.grad(lambda q: loss(model.apply(q, state, X)[0]))(p)
            return jax.tree_util.tree_map(lambda a, b: a - lr * b, p, g), None
        return jax.lax.scan(step, params, None, length=steps)[0]
    return run(params)


def test_logistic_regression_reaches_the_accuracy_of_the_true_model():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((2000, 2)).astype(np.float32)
    w_true, b_true = np.array([2.0, -1.0]), 0.5
    p_true = 1 / (1 + np.exp(-(X @ w_true + b_true)))
    Y = (rng.uniform(size=2000) < p_true).astype(np.float32)
    known_accuracy = np.mean((p_true > 0.5) == Y)

    model = M.logistic_regression()
    params, state = model.init(KEY, (2,))

    def bce(prob):                                 # binary cross-entropy on probabilities
        prob = jnp.clip(prob[:, 0], 1e-7, 1 - 1e-7)
        return -jnp.mean(Y * jnp.log(prob) + (1 - Y) * jnp.log(1 - prob))

    params = _gd_fit(model, params, state, X, bce, lr=1.0, steps=200)
    prob, _ = model.apply(params, state, X)
    accuracy = float(np.mean((np.asarray(prob[:, 0]) > 0.5) == Y))
    assert accuracy >= known_accuracy - 0.01
    np.testing.assert_allclose(params["w"][:, 0], w_true, atol=0.35)

    logit_model = M.logistic_regression(logits=True)
    logits, _ = logit_model.apply(params, state, X)
    np.testing.assert_allclose(jax.nn.sigmoid(logits), prob, rtol=1e-5, atol=1e-6)


def test_softmax_regression_classifies_blobs():
    rng = np.random.default_rng(3)
    centers = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    labels = rng.integers(0, 3, 600)
    X = (centers[labels] + rng.standard_normal((600, 2))).astype(np.float32)
    model = M.softmax_regression(3)
    params, state = model.init(KEY, (2,))

    def ce(prob):
        return -jnp.mean(jnp.log(prob[jnp.arange(600), labels] + 1e-9))

    params = _gd_fit(model, params, state, X, ce, lr=0.5, steps=200)
    prob, _ = model.apply(params, state, X)
    np.testing.assert_allclose(prob.sum(axis=1), 1.0, rtol=1e-5)
    assert float(np.mean(np.argmax(prob, axis=1) == labels)) > 0.93
    logits, _ = M.softmax_regression(3, logits=True).apply(params, state, X)
    np.testing.assert_allclose(jax.nn.softmax(logits), prob, rtol=1e-5, atol=1e-6)


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
    stats = M.activation_stats(model, params, state, x)
    assert [s["layer"] for s in stats] == ["0/dense", "1/relu", "2/dense"]
    hidden = np.maximum(x @ np.array(params[0]["w"]) + b, 0)
    assert stats[1]["dead_fraction"] == pytest.approx(np.mean(np.all(hidden == 0, axis=0)))
    assert stats[1]["dead_fraction"] >= 0.5
    assert stats[2]["shape"] == (32, 2)
    nested = M.activation_stats(L.serial(L.flatten(), model), params=((), params),
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
    ("softmax classes", lambda: M.softmax_regression(1), "num_classes must be >= 2, got 1"),
    ("perceptron lr", lambda: M.perceptron_update({"w": jnp.zeros((2, 1)), "b": jnp.zeros(1)},
                                                  jnp.zeros((3, 2)), jnp.zeros(3),
                                                  learning_rate=-1.0),
     "learning_rate must be > 0, got -1.0"),
    ("perceptron X width", lambda: M.perceptron_update({"w": jnp.zeros((2, 1)),
                                                        "b": jnp.zeros(1)},
                                                       jnp.zeros((3, 4)), jnp.zeros(3)),
     "params map 2 features to 1 outputs"),
    ("closed form rows", lambda: M.linear_regression_closed_form(jnp.zeros((5, 2)),
                                                                 jnp.zeros(4)),
     "Y must have shape (5,) or (5, k)"),
    ("gd steps", lambda: M.linear_regression_gd({"w": jnp.zeros((2, 1)), "b": jnp.zeros(1)},
                                                jnp.zeros((5, 2)), jnp.zeros(5), steps=0),
     "steps must be a positive int, got 0"),
    ("regression input rank", lambda: M.linear_regression().init(KEY, (2, 2)),
     "linear_regression expects input_shape (in_features,), got (2, 2)"),
    # issue 16: inputs that used to give a quiet wrong result
    ("perceptron -1/1 labels", lambda: M.fit_perceptron(
        {"w": jnp.zeros((2, 1)), "b": jnp.zeros(1)}, jnp.eye(2), jnp.array([-1.0, 1.0])),
     "Y must hold targets in {0, 1}, got values [-1.0] (labels in {-1, 1}: pass (Y + 1) / 2)"),
    ("perceptron other labels", lambda: M.perceptron_update(
        {"w": jnp.zeros((2, 1)), "b": jnp.zeros(1)}, jnp.eye(2), jnp.array([2.0, 1.0])),
     "Y must hold targets in {0, 1}, got values [2.0]"),
    ("closed form NaN X", lambda: M.linear_regression_closed_form(
        jnp.array([[1.0], [jnp.nan], [2.0]]), jnp.zeros(3)), "X contains 1 NaN or infinite"),
    ("gd inf Y", lambda: M.linear_regression_gd(
        {"w": jnp.zeros((1, 1)), "b": jnp.zeros(1)}, jnp.ones((3, 1)),
        jnp.array([1.0, jnp.inf, 0.0])), "Y contains 1 NaN or infinite"),
    ("gd diverges", lambda: M.linear_regression_gd(
        {"w": jnp.zeros((1, 1)), "b": jnp.zeros(1)}, jnp.arange(6.0)[:, None] * 10,
        jnp.arange(6.0), learning_rate=10.0, steps=200),
     "linear_regression_gd diverged: the loss became non-finite at step"),
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


def test_conv_autoencoder_without_channel_axis_says_how_to_add_it():
    with pytest.raises(ValueError, match=r"conv_autoencoder: input_shape must be \(height, "
                                         r"width, channels\), got \(28, 28\): add the channel "
                                         r"axis to grayscale images, x\[\.\.\., None\] "
                                         r"\(input_shape \(28, 28, 1\)\)"):
        M.conv_autoencoder((28, 28))
