"""Tests of nnfunc.models.linear (linear and logistic regression, softmax regression, the
perceptron) against closed forms and numpy."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

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


# ---------------------------------------------------------------- bad inputs

BAD = [
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
