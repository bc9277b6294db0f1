"""The classic linear models: perceptron, linear, logistic and softmax regression.

Each model is a ``Layer`` whose parameters are one flat dict ``{'w': (d, k), 'b': (k,)}``
(the parameters of ``nf.layers.dense``), initialised to zeros as the textbooks do.
"""
from __future__ import annotations

from functools import partial
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp

from nnfunc import activations as _act
from nnfunc import init as _init
from nnfunc.layers import Layer, dense
from nnfunc._checks import POSITIVE_INT, as_shape, check_bool, check_int, is_traced

__all__ = ["perceptron", "perceptron_update", "fit_perceptron", "linear_regression",
           "linear_regression_closed_form", "linear_regression_gd", "logistic_regression",
           "softmax_regression"]

Initializer = Callable[..., jax.Array]


def _affine_model(name: str, features: int, out_fn: Optional[Callable],
                  w_init: Optional[Initializer]) -> Layer:
    inner = dense(features, w_init=w_init or _init.zeros, b_init=_init.zeros)

    def init(key: jax.Array, input_shape: tuple[int, ...]) -> tuple[dict, dict]:
        shape = as_shape(input_shape, name)
        if len(shape) != 1:
            raise ValueError(f"{name} expects input_shape (in_features,), got {shape}")
        return inner.init(key, shape)

    def apply(params: dict, state: dict, x: jax.Array, *, train: bool = False,
              key: Any = None) -> tuple[jax.Array, dict]:
        if x.ndim != 2:
            raise ValueError(f"{name} expects inputs (batch, in_features), got "
                             f"{tuple(x.shape)}")
        y, state = inner.apply(params, state, x)
        return (y if out_fn is None else out_fn(y)), state

    return Layer(init, apply, name=name)


def _check_lr(learning_rate: Any) -> None:
    if not is_traced(learning_rate) and not float(learning_rate) > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}")


def _check_xy(name: str, X: jax.Array, Y: jax.Array) -> tuple[jax.Array, jax.Array]:
    X, Y = jnp.asarray(X), jnp.asarray(Y)
    if X.ndim != 2:
        raise ValueError(f"{name}: X must have shape (n_examples, n_features), got {X.shape}")
    if Y.ndim not in (1, 2) or Y.shape[0] != X.shape[0]:
        raise ValueError(f"{name}: Y must have shape ({X.shape[0]},) or ({X.shape[0]}, k) to "
                         f"match X of shape {X.shape}, got {Y.shape}")
    for what, a in (("X", X), ("Y", Y)):
        if not is_traced(a) and not bool(jnp.all(jnp.isfinite(a))):
            raise ValueError(f"{name}: {what} contains {int(jnp.sum(~jnp.isfinite(a)))} NaN "
                             f"or infinite value(s); clean the data first")
    return X, Y


def _check_binary_targets(name: str, Y: jax.Array) -> None:
    """The perceptron's targets are in {0, 1}; {-1, 1} labels would never be learned."""
    if is_traced(Y):
        return
    bad = (Y != 0) & (Y != 1)
    if bool(jnp.any(bad)):
        hint = " (labels in {-1, 1}: pass (Y + 1) / 2)" if bool(jnp.all(jnp.abs(Y) == 1)) else ""
        raise ValueError(f"{name}: Y must hold targets in {{0, 1}}, got values "
                         f"{sorted(set(jnp.unique(Y[bad]).tolist()))[:5]}{hint}")


def perceptron(features: int = 1, *, w_init: Optional[Initializer] = None) -> Layer:
    """Rosenblatt's perceptron: ``y = step(x W + b)`` with ``step(z) = 1 if z > 0 else 0``.

    Args:
      features: number of output neurons (1 for the classic single neuron).
      w_init: initializer for ``W``; default zeros (``b`` always starts at zero).

    Returns:
      A ``Layer`` on ``(batch, in_features)`` with outputs in ``{0, 1}``. Train it with
      :func:`perceptron_update` or :func:`fit_perceptron` (its step output has no gradient).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> model = perceptron()
      >>> params, state = model.init(jax.random.key(0), (2,))
      >>> params = {'w': jnp.array([[1.], [1.]]), 'b': jnp.array([-1.5])}
      >>> y, _ = model.apply(params, state, jnp.array([[0., 0.], [1., 0.], [1., 1.]]))
      >>> y[:, 0].tolist()                     # logical AND
      [0.0, 0.0, 1.0]
    """
    check_int("features", features, minimum=1, allowed=POSITIVE_INT)
    return _affine_model("perceptron", features, _act.step, w_init)


@jax.jit
def _perceptron_epoch(params: dict, X: jax.Array, Y: jax.Array,
                      learning_rate: jax.Array) -> tuple[dict, jax.Array]:
    def one(p, xy):
        x, y = xy
        err = y - _act.step(x @ p["w"] + p["b"])
        p = {"w": p["w"] + learning_rate * jnp.outer(x, err), "b": p["b"] + learning_rate * err}
        return p, jnp.any(err != 0)

    params, wrong = jax.lax.scan(one, params, (X, Y))
    return params, jnp.sum(wrong)


def _perceptron_args(name, params, X, Y, learning_rate):
    X, Y = _check_xy(name, X, Y)
    _check_binary_targets(name, Y)
    k = params["w"].shape[1]
    Y = Y.reshape(Y.shape[0], -1)
    if Y.shape[1] != k or X.shape[1] != params["w"].shape[0]:
        raise ValueError(f"{name}: params map {params['w'].shape[0]} features to {k} outputs, "
                         f"got X of shape {X.shape} and Y of shape {Y.shape}")
    _check_lr(learning_rate)
    dtype = params["w"].dtype
    return X.astype(dtype), Y.astype(dtype), jnp.asarray(learning_rate, dtype)


def perceptron_update(params: dict, X: jax.Array, Y: jax.Array, *,
                      learning_rate: float = 1.0) -> tuple[dict, jax.Array]:
    """One pass of the perceptron learning rule over ``(X, Y)``, example by example.

    For each example in order: ``ŷ = step(x W + b)``, then
    ``W ← W + η · xᵀ(y − ŷ)`` and ``b ← b + η · (y − ŷ)``. Compiled once (``jax.jit``,
    a ``lax.scan`` over the examples); the learning rate is traced.

    Args:
      params: ``{'w': (d, k), 'b': (k,)}``, e.g. from ``perceptron(k).init``.
      X: inputs ``(n, d)``.
      Y: targets in ``{0, 1}``, ``(n,)`` or ``(n, k)`` (other values, ``{-1, 1}``
        included, raise ``ValueError``: map them with ``(Y + 1) / 2``).
      learning_rate: ``η > 0``.

    Returns:
      ``(params, mistakes)``: the updated params and the number of misclassified
      examples seen during the pass (0 means the data are separated).

    Example:
      >>> import jax.numpy as jnp
      >>> X = jnp.array([[0., 0.], [0., 1.], [1., 0.], [1., 1.]])
      >>> Y = jnp.array([0., 1., 1., 1.])                  # logical OR
      >>> params = {'w': jnp.zeros((2, 1)), 'b': jnp.zeros((1,))}
      >>> for _ in range(5):
      ...     params, mistakes = perceptron_update(params, X, Y)
      >>> int(mistakes)
      0
    """
    X, Y, lr = _perceptron_args("perceptron_update", params, X, Y, learning_rate)
    return _perceptron_epoch(params, X, Y, lr)


@jax.jit
def _perceptron_fit(params, X, Y, lr, max_epochs):
    def cond(carry):
        _, epoch, mistakes = carry
        return (epoch < max_epochs) & (mistakes > 0)

    def body(carry):
        p, epoch, _ = carry
        p, mistakes = _perceptron_epoch(p, X, Y, lr)
        return p, epoch + 1, mistakes

    init = (params, jnp.zeros((), jnp.int32), jnp.ones((), jnp.int32))
    return jax.lax.while_loop(cond, body, init)


def fit_perceptron(params: dict, X: jax.Array, Y: jax.Array, *, learning_rate: float = 1.0,
                   max_epochs: int = 100) -> tuple[dict, jax.Array, jax.Array]:
    """Repeat :func:`perceptron_update` passes until one makes no mistake (or ``max_epochs``).

    The loop is a single compiled ``lax.while_loop``. On linearly separable data the
    perceptron convergence theorem guarantees a mistake-free pass after finitely many.

    Args:
      params: ``{'w': (d, k), 'b': (k,)}``.
      X: inputs ``(n, d)``.
      Y: targets in ``{0, 1}``, ``(n,)`` or ``(n, k)`` (other values, ``{-1, 1}``
        included, raise ``ValueError``: map them with ``(Y + 1) / 2``).
      learning_rate: ``η > 0``.
      max_epochs: most passes to run (> 0).

    Returns:
      ``(params, epochs, mistakes)``: the final params, the number of passes run and the
      mistakes in the last pass (0 when converged).

    Example:
      >>> import jax.numpy as jnp
      >>> X = jnp.array([[0., 0.], [0., 1.], [1., 0.], [1., 1.]])
      >>> Y = jnp.array([0., 0., 0., 1.])                  # logical AND
      >>> params = {'w': jnp.zeros((2, 1)), 'b': jnp.zeros((1,))}
      >>> params, epochs, mistakes = fit_perceptron(params, X, Y)
      >>> int(mistakes)
      0
    """
    check_int("max_epochs", max_epochs, minimum=1, allowed=POSITIVE_INT)
    X, Y, lr = _perceptron_args("fit_perceptron", params, X, Y, learning_rate)
    params, epochs, mistakes = _perceptron_fit(params, X, Y, lr, jnp.asarray(max_epochs))
    return params, epochs, mistakes


def linear_regression(features: int = 1) -> Layer:
    """Linear regression model ``y = x W + b`` (zeros-initialised ``dense``).

    Fit it in closed form with :func:`linear_regression_closed_form` or by gradient
    descent on the mean squared error with :func:`linear_regression_gd` (or any optimizer).

    Args:
      features: number of regression targets.

    Returns:
      A ``Layer`` on ``(batch, in_features)``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> model = linear_regression()
      >>> params, state = model.init(jax.random.key(0), (3,))
      >>> params['w'].shape, params['b'].shape
      ((3, 1), (1,))
    """
    check_int("features", features, minimum=1, allowed=POSITIVE_INT)
    return _affine_model("linear_regression", features, None, None)


def linear_regression_closed_form(X: jax.Array, Y: jax.Array, *,
                                  fit_intercept: bool = True) -> dict:
    """Least-squares fit ``θ = argmin ‖[X 1] θ − Y‖² = ([X 1]ᵀ[X 1])⁻¹ [X 1]ᵀ Y``.

    Solved stably with ``jnp.linalg.lstsq`` (SVD) rather than by inverting ``XᵀX``;
    rank-deficient problems get the minimum-norm solution.

    Args:
      X: inputs ``(n, d)``.
      Y: targets ``(n,)`` or ``(n, k)``.
      fit_intercept: whether to fit ``b`` (else ``b = 0``).

    Returns:
      ``{'w': (d, k), 'b': (k,)}`` for :func:`linear_regression` (``k = 1`` for 1-D ``Y``).

    Example:
      >>> import jax.numpy as jnp
      >>> X = jnp.array([[0.], [1.], [2.]])
      >>> params = linear_regression_closed_form(X, 2 * X[:, 0] + 1)
      >>> round(float(params['w'][0, 0]), 4), round(float(params['b'][0]), 4)
      (2.0, 1.0)
    """
    X, Y = _check_xy("linear_regression_closed_form", X, Y)
    Y = Y.reshape(Y.shape[0], -1)
    A = jnp.concatenate([X, jnp.ones((X.shape[0], 1), X.dtype)], axis=1) if fit_intercept else X
    theta, *_ = jnp.linalg.lstsq(A, Y.astype(A.dtype))
    if fit_intercept:
        return {"w": theta[:-1], "b": theta[-1]}
    return {"w": theta, "b": jnp.zeros((Y.shape[1],), theta.dtype)}


@partial(jax.jit, static_argnames="steps")
def _gd(params, X, Y, lr, steps):
    def loss(p):
        return jnp.mean(jnp.square(X @ p["w"] + p["b"] - Y))

    def one(p, _):
        value, g = jax.value_and_grad(loss)(p)
        return jax.tree_util.tree_map(lambda a, b: a - lr * b, p, g), value

    return jax.lax.scan(one, params, None, length=steps)


def linear_regression_gd(params: dict, X: jax.Array, Y: jax.Array, *,
                         learning_rate: float = 0.1, steps: int = 100) -> tuple[dict, jax.Array]:
    """Full-batch gradient descent on the mean squared error.

    ``L(W, b) = mean((X W + b − Y)²)``; each step ``θ ← θ − η ∇L(θ)`` with the gradient
    from ``jax.grad``. All ``steps`` run in one compiled ``lax.scan``.

    Args:
      params: ``{'w': (d, k), 'b': (k,)}``, e.g. from ``linear_regression(k).init``.
      X: inputs ``(n, d)``.
      Y: targets ``(n,)`` or ``(n, k)``.
      learning_rate: ``η > 0``.
      steps: number of steps (> 0).

    Returns:
      ``(params, losses)`` with ``losses[t]`` the loss before step ``t``.

    Raises:
      ValueError: bad shapes, NaN/inf in ``X`` or ``Y``, or a descent that diverged (the
        loss became NaN or inf: the message names the step).

    Example:
      >>> import jax.numpy as jnp
      >>> X = jnp.array([[0.], [1.], [2.]])
      >>> params = {'w': jnp.zeros((1, 1)), 'b': jnp.zeros((1,))}
      >>> params, losses = linear_regression_gd(params, X, 2 * X[:, 0] + 1, steps=500)
      >>> round(float(params['w'][0, 0]), 2), round(float(params['b'][0]), 2)
      (2.0, 1.0)
    """
    X, Y = _check_xy("linear_regression_gd", X, Y)
    check_int("steps", steps, minimum=1, allowed=POSITIVE_INT)
    _check_lr(learning_rate)
    Y = Y.reshape(Y.shape[0], -1)
    if params["w"].shape != (X.shape[1], Y.shape[1]):
        raise ValueError(f"linear_regression_gd: params['w'] must have shape "
                         f"{(X.shape[1], Y.shape[1])} for X {X.shape} and Y {Y.shape}, got "
                         f"{params['w'].shape}")
    dtype = params["w"].dtype
    params, losses = _gd(params, X.astype(dtype), Y.astype(dtype),
                         jnp.asarray(learning_rate, dtype), steps)
    _check_converging(losses, learning_rate)
    return params, losses


def _check_converging(losses: jax.Array, learning_rate: Any) -> None:
    """Raise when gradient descent diverged to inf/NaN (concrete runs only)."""
    if is_traced(losses):
        return
    bad = ~jnp.isfinite(losses)
    if bool(jnp.any(bad)):
        raise ValueError(
            f"linear_regression_gd diverged: the loss became non-finite at step "
            f"{int(jnp.argmax(bad))} with learning_rate={learning_rate!r}; lower it (gradient "
            f"descent on this loss needs learning_rate < 1 / λ_max(XᵀX / n)) or standardise X")


def logistic_regression(*, logits: bool = False) -> Layer:
    """Binary logistic regression: ``p(y=1 | x) = σ(x w + b)``, ``σ(z) = 1/(1 + e^{−z})``.

    Trained with binary cross-entropy: on probabilities ``nf.losses.binary_cross_entropy``,
    or with ``logits=True`` (raw scores ``x w + b``) the more stable
    ``nf.losses.sigmoid_binary_cross_entropy``.

    Args:
      logits: return the scores ``x w + b`` instead of probabilities.

    Returns:
      A ``Layer`` mapping ``(batch, in_features)`` to ``(batch, 1)``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> model = logistic_regression()
      >>> params, state = model.init(jax.random.key(0), (2,))
      >>> p, _ = model.apply(params, state, jnp.ones((3, 2)))     # zero init: p = 0.5
      >>> p[:, 0].tolist()
      [0.5, 0.5, 0.5]
    """
    return _affine_model("logistic_regression", 1, None if logits else _act.sigmoid, None)


def softmax_regression(num_classes: int, *, logits: bool = False) -> Layer:
    """Multinomial logistic regression: ``p(y=c | x) = softmax(x W + b)_c``.

    Trained with cross-entropy; with ``logits=True`` it returns the scores ``x W + b`` for
    ``nf.losses.softmax_cross_entropy_with_integer_labels``.

    Args:
      num_classes: number of classes ``C`` (> 1).
      logits: return scores instead of probabilities.

    Returns:
      A ``Layer`` mapping ``(batch, in_features)`` to ``(batch, C)``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> model = softmax_regression(4)
      >>> params, state = model.init(jax.random.key(0), (2,))
      >>> p, _ = model.apply(params, state, jnp.ones((1, 2)))
      >>> p[0].tolist()
      [0.25, 0.25, 0.25, 0.25]
    """
    check_int("num_classes", num_classes, minimum=1, allowed=POSITIVE_INT)
    logits = check_bool("logits", logits)
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    return _affine_model("softmax_regression", num_classes,
                         None if logits else _act.softmax, None)
