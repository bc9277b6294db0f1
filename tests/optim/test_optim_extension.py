"""The optimizer extension API: an optimizer and a schedule written by a user with the
public names only (``nf.optim.make_hparams``, ``current_lr``, ``zeros_slots``,
``make_optimizer``, ``iter_states``, ``hparams_of``, a plain ``step -> value`` function)
behave like the built-in ones: same updates, schedules, ``get_hparams``/``set_hparams``
without recompiling. (An experimental Adam written the same way, with its bias
corrections as one vector power, is benchmarks/investigations/gpu_profile.py's, tested in
tests/investigations/test_investigations_gpu_profile.py.)"""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from _extension_kit import halving, my_momentum


PARAMS = {"w": jnp.array([[1.0, -2.0], [0.5, 3.0]]), "b": jnp.array([0.25, -0.75])}


def _grads(params, k):
    """A parameter-dependent gradient that changes with the step."""
    return jax.tree_util.tree_map(lambda p: 0.8 * p + jnp.sin(p + k), params)


def _run(opt, steps=5):
    params, state = PARAMS, opt.init(PARAMS)
    trail = []
    for k in range(steps):
        updates, state = opt.update(_grads(params, k), state, params)
        params = nf.optim.apply_updates(params, updates)
        trail.append(updates)
    return params, state, trail


# ---------------------------------------------------------------------------------------
# (a) the same updates as the built-in optimizer

def test_public_names():
    for name in ("make_hparams", "current_lr", "zeros_slots", "make_optimizer",
                 "iter_states", "hparams_of"):
        assert name in nf.optim.__all__
        fn = getattr(nf.optim, name)
        assert ">>>" in fn.__doc__ and "Returns:" in fn.__doc__, name


def test_same_updates_as_builtin_sgd():
    _, state, mine = _run(my_momentum(learning_rate=0.05, momentum=0.8))
    _, ref_state, ref = _run(nf.optim.sgd(learning_rate=0.05, momentum=0.8))
    for u, r in zip(mine, ref):
        for leaf in ("w", "b"):
            np.testing.assert_allclose(u[leaf], r[leaf], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(state.momentum_buffer["w"], ref_state.momentum_buffer["w"],
                               rtol=1e-6)
    assert int(state.count) == 5
    # by hand, the first two steps on one leaf: b1 = g0, b2 = μ g0 + g1
    g0 = _grads(PARAMS, 0)["b"]
    np.testing.assert_allclose(mine[0]["b"], -0.05 * g0, rtol=1e-6)
    # nothing shared between two states (init copies the hparams: donation-safe)
    opt = my_momentum(learning_rate=0.1)
    s1, s2 = opt.init(PARAMS), opt.init(PARAMS)
    assert s1.hparams["learning_rate"] is not s2.hparams["learning_rate"]
    assert s1.momentum_buffer["w"].dtype == jnp.float32


def test_checks_like_builtin():
    with pytest.raises(ValueError, match="learning_rate"):
        my_momentum(learning_rate=-0.1)
    with pytest.raises(ValueError, match="momentum"):
        my_momentum(momentum=float("nan"))
    opt = my_momentum()
    with pytest.raises(ValueError):     # grads that do not fit the params
        opt.update({"w": jnp.zeros(2), "b": jnp.zeros(2)}, opt.init(PARAMS), PARAMS)
    with pytest.raises(TypeError, match="floating dtype"):     # integer parameters
        opt.init({"w": jnp.zeros(2, jnp.int32)})


# ---------------------------------------------------------------------------------------
# (b) a schedule as learning_rate, a user's schedule included

@pytest.mark.parametrize("sched", [halving, nf.schedules.step_decay(0.1, 2, 0.5)],
                         ids=["user", "builtin"])
def test_schedule_as_learning_rate(sched):
    _, state, mine = _run(my_momentum(learning_rate=sched, momentum=0.5))
    _, _, ref = _run(nf.optim.sgd(learning_rate=sched, momentum=0.5))
    for u, r in zip(mine, ref):
        np.testing.assert_allclose(u["w"], r["w"], rtol=1e-6, atol=1e-7)
    hp = nf.optim.get_hparams(state)
    # the rate the last step (count 4) used: 0.1 * 0.5 ** 2
    assert math.isclose(float(hp["learning_rate"]), 0.025, rel_tol=1e-6)
    assert float(hp["lr_scale"]) == 1.0
    # lr_scale multiplies the schedule; learning_rate itself is the schedule's to set
    state = nf.optim.set_hparams(state, lr_scale=0.5)
    _, state = my_momentum(learning_rate=sched, momentum=0.5).update(
        _grads(PARAMS, 5), state, PARAMS)
    assert math.isclose(float(state.hparams["learning_rate"]), 0.0125, rel_tol=1e-6)
    with pytest.raises(ValueError, match="lr_scale"):
        nf.optim.set_hparams(state, learning_rate=0.1)


def test_user_schedule_is_jittable():
    assert math.isclose(float(jax.jit(halving)(jnp.asarray(5))), 0.025, rel_tol=1e-6)
    np.testing.assert_allclose(jax.vmap(halving)(jnp.arange(4)), [0.1, 0.1, 0.05, 0.05],
                               rtol=1e-6)


# ---------------------------------------------------------------------------------------
# (c) get_hparams / set_hparams, without recompiling

def test_get_and_set_hparams():
    opt = my_momentum(learning_rate=0.1, momentum=0.9)
    state = opt.init(PARAMS)
    hp = nf.optim.get_hparams(state)
    assert set(hp) == {"learning_rate", "momentum"}
    assert math.isclose(float(hp["learning_rate"]), 0.1, rel_tol=1e-6)
    state = nf.optim.set_hparams(state, learning_rate=0.01, momentum=0.0)
    updates, state = opt.update(_grads(PARAMS, 0), state, PARAMS)
    np.testing.assert_allclose(updates["b"], -0.01 * _grads(PARAMS, 0)["b"], rtol=1e-6)
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        nf.optim.set_hparams(state, betas=(0.9, 0.99))
    with pytest.raises(ValueError, match="learning_rate"):
        nf.optim.set_hparams(state, learning_rate=-1.0)
    # wrapped, it is still found
    wrapped = nf.optim.chain(nf.optim.clip_by_global_norm(1.0), opt)
    ws = nf.optim.set_hparams(wrapped.init(PARAMS), momentum=0.5)
    assert math.isclose(float(nf.optim.get_hparams(ws)["momentum"]), 0.5)


def test_set_hparams_does_not_recompile():
    opt = my_momentum(learning_rate=0.1, momentum=0.9)
    traces = []

    def loss(p):
        return jnp.sum(p["w"] ** 2) + jnp.sum(p["b"] ** 2)

    @jax.jit
    def step(params, state, lr):
        traces.append(1)
        state = nf.optim.set_hparams(state, learning_rate=lr)     # inside jit: traced
        updates, state = opt.update(jax.grad(loss)(params), state, params)
        return nf.optim.apply_updates(params, updates), state

    @jax.jit
    def plain_step(params, state):
        traces.append(2)
        updates, state = opt.update(jax.grad(loss)(params), state, params)
        return nf.optim.apply_updates(params, updates), state

    params, state = PARAMS, opt.init(PARAMS)
    for lr in (0.1, 0.05, 0.01):
        params, state = step(params, state, lr)
        assert math.isclose(float(nf.optim.get_hparams(state)["learning_rate"]), lr,
                            rel_tol=1e-6)
    for lr in (0.2, 0.02):                                        # outside jit
        params, state = plain_step(params, nf.optim.set_hparams(state, learning_rate=lr,
                                                                momentum=lr))
    assert traces.count(1) == 1 and traces.count(2) == 1


# ---------------------------------------------------------------------------------------
# (d) iter_states and hparams_of: which state of a chain holds which hyperparameter

def test_iter_states_and_hparams_of_find_each_inner_state():
    opt = nf.optim.chain(nf.optim.clip_by_global_norm(1.0), my_momentum(0.1, momentum=0.5),
                         nf.optim.sgd(0.2))
    state = opt.init(PARAMS)
    states = list(nf.optim.iter_states(state))
    assert [type(s).__name__ for s in states] == ["ChainState", "ClipState", "MomentumState",
                                                  "SgdState"]
    assert states[0] is state
    assert [sorted(nf.optim.hparams_of(s)) for s in states[2:]] == [
        ["learning_rate", "momentum"], ["dampening", "learning_rate", "momentum",
                                        "weight_decay"]]
    # hparams_of is the state's own dict, compiled-out values as None (get_hparams: 0)
    assert nf.optim.hparams_of(states[3])["momentum"] is None
    assert nf.optim.hparams_of(states[2]) is states[2].hparams
    assert float(nf.optim.get_hparams(state)["momentum"]) == 0.5       # the first one wins
    # a container of states is walked too; a non-state yields nothing
    assert len(list(nf.optim.iter_states({"a": state, "b": (state, 3)}))) == 8
    assert list(nf.optim.iter_states(PARAMS)) == []
