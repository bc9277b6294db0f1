"""Interop: nnfunc's optimizers and schedules train Equinox and Flax (NNX and Linen)
models with those libraries' own idioms, step for step like optax's optimizers; and
optax's optimizers drive ``nf.train.fit``. Flax, Equinox and optax are test-only
dependencies."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf

optax = pytest.importorskip("optax")
STEPS = 20


def _data(n=64, d=5, classes=3):
    x = jax.random.normal(jax.random.key(0), (n, d))
    return x, jnp.argmax(x[:, :classes], axis=1)     # learnable labels


def _xent(logits, y):
    return jnp.mean(nf.losses.softmax_cross_entropy_with_integer_labels(logits, y))


def _train(opt, params, grad_fn, apply_updates, steps=STEPS):
    """``steps`` steps of ``opt`` (an nnfunc or optax optimizer): the same loop for both."""
    state = opt.init(params)
    losses = []
    for _ in range(steps):
        loss, grads = grad_fn(params)
        updates, state = opt.update(grads, state, params)
        params = apply_updates(params, updates)
        losses.append(float(loss))
    return params, state, losses


PAIRS = [  # (nnfunc optimizer, optax's equivalent)
    ("adam", lambda: nf.optim.adam(1e-2), lambda: optax.adam(1e-2)),
    ("sgd-momentum", lambda: nf.optim.sgd(5e-2, momentum=0.9),
     lambda: optax.sgd(5e-2, momentum=0.9)),
    ("rmsprop", lambda: nf.optim.rmsprop(1e-2, alpha=0.9, eps=1e-8),
     lambda: optax.rmsprop(1e-2, decay=0.9, eps=1e-8, eps_in_sqrt=False)),
]


def _close(a, b, tol=2e-5):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=tol, atol=tol)


@pytest.mark.parametrize("name,ours,theirs", PAIRS, ids=[p[0] for p in PAIRS])
def test_equinox_model(name, ours, theirs):
    eqx = pytest.importorskip("equinox")
    x, y = _data()
    model = eqx.nn.MLP(5, 3, width_size=16, depth=2, key=jax.random.key(1))
    params, static = eqx.partition(model, eqx.is_inexact_array)

    @jax.jit
    def grad_fn(params):
        loss = lambda p: _xent(jax.vmap(eqx.combine(p, static))(x), y)  # noqa: E731
        return jax.value_and_grad(loss)(params)

    mine, _, losses = _train(ours(), params, grad_fn, eqx.apply_updates)
    ref, _, _ = _train(theirs(), params, grad_fn, optax.apply_updates)
    _close(mine, ref)
    assert losses[-1] < 0.8 * losses[0]
    trained = eqx.combine(mine, static)          # still an Equinox module
    assert isinstance(trained, eqx.nn.MLP) and jax.vmap(trained)(x).shape == (64, 3)


def test_equinox_with_a_schedule_and_hparams_in_the_state():
    eqx = pytest.importorskip("equinox")
    x, y = _data()
    model = eqx.nn.MLP(5, 3, width_size=8, depth=1, key=jax.random.key(2))
    params, static = eqx.partition(model, eqx.is_inexact_array)
    grad_fn = jax.jit(jax.value_and_grad(
        lambda p: _xent(jax.vmap(eqx.combine(p, static))(x), y)))
    sched = nf.schedules.cosine_annealing(1e-2, STEPS)
    _, state, losses = _train(nf.optim.adam(learning_rate=sched), params, grad_fn,
                              eqx.apply_updates)
    ref, _, _ = _train(optax.adam(optax.cosine_decay_schedule(1e-2, STEPS)), params, grad_fn,
                       optax.apply_updates)
    mine, _, _ = _train(nf.optim.adam(learning_rate=sched), params, grad_fn,
                        eqx.apply_updates)
    _close(mine, ref)
    assert losses[-1] < losses[0]
    assert int(state.count) == STEPS


@pytest.mark.parametrize("name,ours,theirs", PAIRS, ids=[p[0] for p in PAIRS])
def test_flax_nnx_model(name, ours, theirs):
    nnx = pytest.importorskip("flax.nnx")
    x, y = _data()

    class MLP(nnx.Module):
        def __init__(self, rngs):
            self.l1 = nnx.Linear(5, 16, rngs=rngs)
            self.l2 = nnx.Linear(16, 3, rngs=rngs)

        def __call__(self, x):
            return self.l2(jax.nn.relu(self.l1(x)))

    model = MLP(nnx.Rngs(0))
    graphdef, params = nnx.split(model, nnx.Param)

    @jax.jit
    def grad_fn(params):
        return jax.value_and_grad(lambda p: _xent(nnx.merge(graphdef, p)(x), y))(params)

    mine, _, losses = _train(ours(), params, grad_fn, nf.optim.apply_updates)
    ref, _, _ = _train(theirs(), params, grad_fn, optax.apply_updates)
    _close(mine, ref)
    assert losses[-1] < 0.8 * losses[0]
    nnx.update(model, mine)                      # back into the stateful module
    np.testing.assert_allclose(model(x), nnx.merge(graphdef, mine)(x), rtol=1e-6)


def test_flax_linen_model():
    nn = pytest.importorskip("flax.linen")
    x, y = _data()

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(3)(nn.relu(nn.Dense(16)(x)))

    module = MLP()
    variables = module.init(jax.random.key(0), x)
    grad_fn = jax.jit(jax.value_and_grad(
        lambda p: _xent(module.apply({"params": p}, x), y)))
    mine, state, losses = _train(nf.optim.adamw(1e-2, weight_decay=1e-2),
                                 variables["params"], grad_fn, nf.optim.apply_updates)
    ref, _, _ = _train(optax.adamw(1e-2, weight_decay=1e-2), variables["params"], grad_fn,
                       optax.apply_updates)
    _close(mine, ref)
    assert losses[-1] < 0.8 * losses[0]
    assert nf.optim.get_hparams(state)["weight_decay"] == pytest.approx(1e-2)


def _fit_setup():
    X, y = _data(128, 8, 3)
    return nf.models.mlp([8, 16, 3]), nf.losses.softmax_cross_entropy_with_integer_labels, \
        (X, y)


def test_optax_optimizer_drives_fit_like_nnfuncs_own():
    model, loss, data = _fit_setup()
    kw = dict(epochs=3, batch_size=32, key=0, progress=False)
    mine = nf.train.fit(model, nf.optim.adam(1e-2), loss, data, **kw)
    theirs = nf.train.fit(model, optax.adam(1e-2), loss, data, **kw)
    _close(theirs.state.params, mine.state.params, tol=1e-5)
    np.testing.assert_allclose(theirs.history["loss"], mine.history["loss"], rtol=1e-5)
    # a plain optax state exposes no hyperparameters: the history has no lr (not NaN)
    assert nf.optim.get_hparams(theirs.state.opt_state) == {}
    assert "lr" not in theirs.history and "lr" in mine.history


def test_optax_inject_hyperparams_reads_sets_and_sweeps():
    model, loss, data = _fit_setup()
    tx = optax.inject_hyperparams(optax.adam)(learning_rate=1e-2)
    res = nf.train.fit(model, tx, loss, data, epochs=1, batch_size=32, key=0, progress=False)
    assert res.history["lr"] == pytest.approx([1e-2])
    state = nf.optim.set_hparams(res.state.opt_state, learning_rate=1e-3)
    assert float(nf.optim.get_hparams(state)["learning_rate"]) == pytest.approx(1e-3)
    runs = nf.train.sweep(model, tx, loss, data, hparams={"learning_rate": [1e-2, 1e-3]},
                          epochs=1, batch_size=32, key=0)
    assert runs.history["lr"][:, 0] == pytest.approx([1e-2, 1e-3])
    one = nf.train.fit(model, optax.inject_hyperparams(optax.adam)(learning_rate=1e-3), loss,
                       data, epochs=1, batch_size=32, key=0, progress=False)
    np.testing.assert_allclose(runs.history["loss"][1], one.history["loss"], rtol=1e-5)
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        nf.train.sweep(model, optax.adam(1e-2), loss, data,
                       hparams={"learning_rate": [1e-2, 1e-3]}, epochs=1, batch_size=32,
                       key=0)


def test_fit_resumes_from_an_optax_inject_hyperparams_state():
    model, loss, data = _fit_setup()
    tx = optax.inject_hyperparams(optax.adam)(learning_rate=1e-2)
    kw = dict(batch_size=32, key=0, progress=False)
    two = nf.train.fit(model, tx, loss, data, epochs=2, **kw)
    one = nf.train.fit(model, tx, loss, data, epochs=1, **kw)
    resumed = nf.train.fit(model, tx, loss, data, epochs=1, state=one.state, **kw)
    _close(resumed.state.params, two.state.params, tol=1e-6)
