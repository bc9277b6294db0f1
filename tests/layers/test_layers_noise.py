"""nf.layers noise and activity layers, nf.regularizers activity penalties, and the
training loop's handling of both (penalty in the loss, metrics and history)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf

L = nf.layers
KEY = jax.random.key(0)


# ------------------------------------------------------------------- corruption layers

@pytest.mark.parametrize("layer", [L.gaussian_noise(0.3), L.masking_noise(0.3),
                                   L.salt_and_pepper(0.3)])
def test_corruption_is_identity_at_evaluation_and_needs_a_key_in_training(layer):
    x = jax.random.uniform(KEY, (4, 7))
    params, state = layer.init(KEY, (7,))
    assert (params, state) == ({}, {})
    y, _ = layer.apply(params, state, x)
    np.testing.assert_array_equal(y, x)
    with pytest.raises(ValueError, match="needs a random key"):
        layer.apply(params, state, x, train=True)
    a, _ = layer.apply(params, state, x, train=True, key=jax.random.key(1))
    b, _ = jax.jit(lambda v, k: layer.apply({}, {}, v, train=True, key=k))(x, jax.random.key(1))
    np.testing.assert_allclose(a, b, rtol=1e-6)              # same key, same noise, jit too
    assert a.dtype == x.dtype and not np.array_equal(a, x)


def test_noise_statistics():
    n = 200_000
    x = jnp.full((1, n), 0.5)
    g, _ = L.gaussian_noise(0.2).apply({}, {}, x, train=True, key=KEY)
    assert abs(float(jnp.mean(g - x))) < 3 * 0.2 / np.sqrt(n)
    assert float(jnp.std(g - x)) == pytest.approx(0.2, rel=0.01)
    m, _ = L.masking_noise(0.3).apply({}, {}, x, train=True, key=KEY)
    frac = float(jnp.mean(m == 0))
    assert abs(frac - 0.3) < 4 * np.sqrt(0.3 * 0.7 / n)
    assert set(np.unique(np.asarray(m)).tolist()) == {0.0, 0.5}      # no rescaling
    s, _ = L.salt_and_pepper(0.2, low=-1.0, high=2.0).apply({}, {}, x, train=True, key=KEY)
    for value, p in ((-1.0, 0.1), (2.0, 0.1), (0.5, 0.8)):
        assert abs(float(jnp.mean(s == value)) - p) < 4 * np.sqrt(p * (1 - p) / n)


def test_noise_layers_vmap_over_keys():
    layer = L.masking_noise(0.5)
    keys = jax.random.split(KEY, 3)
    ys = jax.vmap(lambda k: layer.apply({}, {}, jnp.ones((2, 50)), train=True, key=k)[0])(keys)
    assert ys.shape == (3, 2, 50) and not np.array_equal(ys[0], ys[1])


@pytest.mark.parametrize("build,match", [
    (lambda: L.gaussian_noise(-0.1), "stddev must be in"),
    (lambda: L.masking_noise(1.0), r"rate must be in \[0.0, 1.0\)"),
    (lambda: L.masking_noise(-0.1), "rate must be in"),
    (lambda: L.salt_and_pepper(1.5), "rate must be in"),
    (lambda: L.salt_and_pepper(0.1, low="a"), "low must be a real number"),
    (lambda: L.activity_regularizer(3.0), "callable penalty"),
    (lambda: nf.regularizers.kl_sparsity(0.0), "rho must be in"),
    (lambda: nf.regularizers.kl_sparsity(1.0), "rho must be in"),
    (lambda: nf.regularizers.kl_sparsity(0.1, beta=-1), "beta must be in"),
    (lambda: nf.regularizers.l1_activity(-1e-3), "scale must be in"),
])
def test_bad_arguments_name_themselves(build, match):
    with pytest.raises(ValueError, match=match):
        build()


# ------------------------------------------------------------------- activity penalties

def _kl_reference(a, rho, beta):
    rho_hat = np.clip(a.reshape(-1, a.shape[-1]).mean(0), 1e-6, 1 - 1e-6)
    return beta * np.sum(rho * np.log(rho / rho_hat)
                         + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))


def test_kl_sparsity_equals_the_formula_and_its_gradient_finite_differences(x64):
    a = np.random.default_rng(0).uniform(0.01, 0.99, (16, 5))
    pen = nf.regularizers.kl_sparsity(0.05, beta=3.0)
    a64 = jnp.asarray(a, jnp.float64)
    assert float(pen(a64)) == pytest.approx(_kl_reference(a, 0.05, 3.0), rel=1e-12)
    g = np.asarray(jax.grad(pen)(a64))
    eps = 1e-6
    for idx in [(0, 0), (3, 2), (15, 4)]:
        d = np.zeros_like(a)
        d[idx] = eps
        fd = (_kl_reference(a + d, 0.05, 3.0) - _kl_reference(a - d, 0.05, 3.0)) / (2 * eps)
        assert g[idx] == pytest.approx(fd, rel=1e-6)
    conv = np.random.default_rng(1).uniform(0, 1, (4, 3, 3, 2))      # spatial axes averaged
    assert float(pen(jnp.asarray(conv))) == pytest.approx(_kl_reference(conv, 0.05, 3.0),
                                                           rel=1e-5)


def test_kl_sparsity_clips_saturated_units_and_rejects_values_outside_0_1():
    pen = nf.regularizers.kl_sparsity(0.1)
    saturated = jnp.concatenate([jnp.zeros((4, 1)), jnp.ones((4, 1))], axis=1)
    assert np.isfinite(float(pen(saturated))) and float(pen(saturated)) > 1
    with pytest.raises(ValueError, match=r"activations must lie in \[0, 1\]"):
        pen(jnp.array([[0.5, 1.5]]))
    assert np.isfinite(float(jax.jit(pen)(jnp.array([[0.5, 1.5]]))))   # traced: clipped


def test_l1_activity_is_keras_l1_over_the_batch():
    a = np.random.default_rng(0).normal(size=(8, 6))
    assert float(nf.regularizers.l1_activity(0.01)(jnp.asarray(a))) == pytest.approx(
        0.01 * np.abs(a).sum() / 8, rel=1e-6)


def test_activity_regularizer_only_in_training_and_penalty_must_be_scalar():
    layer = L.activity_regularizer(lambda a: jnp.sum(a ** 2))
    params, state = layer.init(KEY, (3,))
    x = jnp.array([[1.0, 2.0, 3.0]])
    y, s = layer.apply(params, state, x)
    assert float(s.value) == 0.0 and y is x
    y, s = layer.apply(params, state, x, train=True)
    assert float(s.value) == 14.0
    bad = L.activity_regularizer(lambda a: a)
    with pytest.raises(ValueError, match="penalty must return a scalar"):
        bad.apply(*bad.init(KEY, (3,)), x, train=True)


# ------------------------------------------------------------------- in the training loop

def _sparse_model():
    return L.serial(L.dense(6), L.activation(nf.activations.sigmoid),
                    L.activity_regularizer(nf.regularizers.kl_sparsity(0.1, beta=2.0)),
                    L.dense(10))


def test_step_adds_the_penalty_to_the_differentiated_loss():
    model, opt = _sparse_model(), nf.optim.sgd(learning_rate=0.1)
    x = jax.random.uniform(KEY, (32, 10))
    ts = nf.train.init_state(model, opt, 1, (10,))

    def objective(params):                 # written out by hand
        h = jax.nn.sigmoid(x @ params[0]["w"] + params[0]["b"])
        out = h @ params[3]["w"] + params[3]["b"]
        loss = jnp.mean(jnp.mean((out - x) ** 2, axis=1))
        rho_hat = jnp.clip(h.mean(0), 1e-6, 1 - 1e-6)
        kl = 2.0 * jnp.sum(0.1 * jnp.log(0.1 / rho_hat) + 0.9 * jnp.log(0.9 / (1 - rho_hat)))
        return loss + kl, (loss, kl)

    (_, (loss, kl)), grads = jax.value_and_grad(objective, has_aux=True)(ts.params)
    step = nf.train.make_step(model, opt, nf.losses.mse, donate=False)
    new, m = step(ts, x)                   # no targets: the inputs are the targets
    assert float(m["loss"]) == pytest.approx(float(loss), rel=1e-6)
    assert float(m["penalty"]) == pytest.approx(float(kl), rel=1e-6)
    for p, p0, g in zip(jax.tree_util.tree_leaves(new.params),
                        jax.tree_util.tree_leaves(ts.params), jax.tree_util.tree_leaves(grads)):
        np.testing.assert_allclose(p, p0 - 0.1 * g, rtol=1e-5, atol=1e-7)


def test_fit_and_sweep_report_the_penalty_and_it_makes_codes_sparse():
    x = jax.random.uniform(KEY, (256, 10))
    model, opt = _sparse_model(), nf.optim.adam(learning_rate=0.02)
    r = nf.train.fit(model, opt, nf.losses.mse, x, epochs=15, batch_size=32, key=0,
                     progress=False, eval_data=x)
    assert "penalty" in r.history and "accuracy" not in r.history
    assert r.history["penalty"][-1] < r.history["penalty"][0]
    h = jax.nn.sigmoid(x @ r.state.params[0]["w"] + r.state.params[0]["b"])
    assert float(h.mean()) < 0.2                                 # pulled towards rho = 0.1
    s = nf.train.sweep(model, opt, nf.losses.mse, x, hparams={"learning_rate": [0.02]},
                       epochs=15, batch_size=32, key=0)
    np.testing.assert_allclose(s.history["penalty"][0], r.history["penalty"], rtol=1e-4)
