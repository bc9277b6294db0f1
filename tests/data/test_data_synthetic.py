"""Tests of nnfunc.data.synthetic: shapes, determinism, MNIST-likeness, learnable and
not trivial."""
import numpy as np
import pytest

from nnfunc import data


def test_synthetic_shapes_determinism_and_prefix():
    x, y = data.synthetic_mnist(1500, seed=3)
    assert x.shape == (1500, 28, 28) and x.dtype == np.uint8
    assert y.shape == (1500,) and y.dtype == np.int32
    assert set(np.unique(y).tolist()) == set(range(10))
    x2, y2 = data.synthetic_mnist(1500, seed=3)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    xp, yp = data.synthetic_mnist(1100, seed=3)  # crosses the internal chunk boundary
    np.testing.assert_array_equal(xp, x[:1100])
    np.testing.assert_array_equal(yp, y[:1100])
    x3, _ = data.synthetic_mnist(1500, seed=4)
    assert (x3 != x).mean() > 0.2
    xf, yf = data.synthetic_mnist(1500, seed=3, normalize=True, flatten=True)
    assert xf.dtype == np.float32 and xf.shape == (1500, 784)
    np.testing.assert_allclose(xf, x.reshape(1500, 784) / 255.0, rtol=1e-6)
    assert data.synthetic_mnist(0, seed=0)[0].shape == (0, 28, 28)


def test_synthetic_looks_like_mnist():
    x, _ = data.synthetic_mnist(2000, seed=0, noise=0.0)
    ink = x.astype(np.float32) / 255
    # dark background, bright strokes covering roughly MNIST's 10-25 % of pixels
    assert 0.08 < (ink > 0.5).mean() < 0.3
    border = np.concatenate([ink[:, :2].ravel(), ink[:, -2:].ravel(),
                             ink[:, :, :2].ravel(), ink[:, :, -2:].ravel()])
    assert border.mean() < 0.02
    assert x.max() >= 200


@pytest.mark.parametrize("kwargs, match", [
    (dict(n=-1), "n must be >= 0"),
    (dict(n=2.5), "n must be an integer"),
    (dict(n=4, seed=-1), "seed must be >= 0"),
    (dict(n=4, noise=-0.1), "noise must be >= 0"),
    (dict(n=4, jitter=float("nan")), "jitter must be >= 0"),
])
def test_synthetic_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.synthetic_mnist(**kwargs)


def _train_softmax_model(x, y, hidden, *, epochs, seed=0):
    """Plain jax + numpy: an MLP (or softmax regression when hidden is None) with Adam."""
    import jax
    import jax.numpy as jnp

    key = jax.random.PRNGKey(seed)
    sizes = [x.shape[1]] + ([hidden] if hidden else []) + [10]
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        key, k = jax.random.split(key)
        params.append((jax.random.normal(k, (a, b)) * jnp.sqrt(2.0 / a), jnp.zeros(b)))

    def forward(ps, xb):
        for w, b in ps[:-1]:
            xb = jax.nn.relu(xb @ w + b)
        w, b = ps[-1]
        return xb @ w + b

    def loss(ps, xb, yb):
        logp = jax.nn.log_softmax(forward(ps, xb))
        return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))

    @jax.jit
    def step(ps, m, v, t, xb, yb):
        g = jax.grad(loss)(ps, xb, yb)
        m = jax.tree.map(lambda m, g: 0.9 * m + 0.1 * g, m, g)
        v = jax.tree.map(lambda v, g: 0.999 * v + 0.001 * g * g, v, g)
        upd = lambda p, m, v: p - 2e-3 * (m / (1 - 0.9 ** t)) / (  # noqa: E731
            jnp.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        return jax.tree.map(upd, ps, m, v), m, v

    m = jax.tree.map(jnp.zeros_like, params)
    v = m
    t = 0
    for epoch in range(epochs):
        for xb, yb in data.batches(x, y, batch_size=128, shuffle=True, seed=epoch,
                                   drop_last=True):
            t += 1
            params, m, v = step(params, m, v, jnp.float32(t), xb, yb)
    return jax.jit(lambda xb: forward(params, xb).argmax(-1))


@pytest.fixture(scope="module")
def synthetic_split():
    x, y = data.synthetic_mnist(8000, seed=0, normalize=True, flatten=True)
    xt, yt = data.synthetic_mnist(2000, seed=1, normalize=True, flatten=True)
    return x, y, xt, yt


def test_synthetic_is_learnable(synthetic_split):
    x, y, xt, yt = synthetic_split
    predict = _train_softmax_model(x, y, hidden=128, epochs=5)
    acc = float((np.asarray(predict(xt)) == yt).mean())
    assert acc > 0.9, acc


def test_synthetic_is_not_trivial(synthetic_split):
    x, y, xt, yt = synthetic_split
    # nearest class mean (template matching) is far from perfect ...
    means = np.stack([x[y == c].mean(0) for c in range(10)])
    d = (xt ** 2).sum(1)[:, None] - 2 * xt @ means.T + (means ** 2).sum(1)[None]
    ncm = float((d.argmin(1) == yt).mean())
    assert 0.5 < ncm < 0.95, ncm
    # ... and so is a linear model trained like the MLP
    predict = _train_softmax_model(x, y, hidden=None, epochs=5)
    linear = float((np.asarray(predict(xt)) == yt).mean())
    assert 0.6 < linear < 0.97, linear
