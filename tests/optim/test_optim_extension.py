"""The optimizer extension API: an optimizer and a schedule written by a user with the
public names only (``nf.optim.make_hparams``, ``current_lr``, ``zeros_slots``,
``make_optimizer``, ``iter_states``, ``hparams_of``, a plain ``step -> value`` function)
behave like the built-in ones: same updates, schedules, ``get_hparams``/``set_hparams``
without recompiling; and an Adam whose bias corrections are one vector power, written
the same way, gives ``nf.optim.adam``'s bits."""
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf


# ---------------------------------------------------------------------------------------
# a user's optimizer, written only with the public helpers (as in the README)

class MomentumState(NamedTuple):
    count: jax.Array
    hparams: dict
    momentum_buffer: Any


def my_momentum(learning_rate=1e-3, momentum=0.9):
    """Heavy-ball SGD: ``b ← μ b + g`` (b₀ = 0, so b₁ = g as torch), ``θ ← θ − η b``."""
    hparams0 = nf.optim.make_hparams(learning_rate=learning_rate, momentum=momentum)

    def init(params):
        return MomentumState(jnp.zeros((), jnp.int32), hparams0, nf.optim.zeros_slots(params))

    def update(grads, state, params=None):
        lr, hp = nf.optim.current_lr(learning_rate, state.hparams, state.count)
        buf = jax.tree_util.tree_map(lambda b, g: hp["momentum"] * b + g,
                                     state.momentum_buffer, grads)
        updates = jax.tree_util.tree_map(lambda b: -lr * b, buf)
        return updates, MomentumState(state.count + 1, hp, buf)

    return nf.optim.make_optimizer(init, update)


# a user's schedule: a plain function step -> value, jit-able with a traced step
def halving(step):
    """0.1, halved every 2 steps."""
    return 0.1 * 0.5 ** (jnp.asarray(step) // 2)


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


# ---------------------------------------------------------------------------------------
# (e) an experimental kernel layout as a user's optimizer, not a library switch: Adam with
# its bias corrections 1 - β₁ᵗ, 1 - β₂ᵗ as one vector power (one GPU kernel instead of
# two scalar ones), from the public API only; the same bits as nf.optim.adam

def adam_stacked_bias_corrections(learning_rate=1e-3, betas=(0.9, 0.999), eps=1e-8):
    """``nf.optim.adam`` (no weight decay, no amsgrad) with 1 − βᵢᵗ as one vector power."""
    # adam's hparams, weight decay compiled out (None), so the states have one structure
    hparams0 = {**nf.optim.make_hparams(learning_rate=learning_rate, betas=betas, eps=eps),
                "weight_decay": None}

    def init(params):
        return nf.optim.AdamState(jnp.zeros((), jnp.int32), dict(hparams0),
                                  nf.optim.zeros_slots(params), nf.optim.zeros_slots(params),
                                  None)

    def update(grads, state, params=None):
        lr, hp = nf.optim.current_lr(learning_rate, state.hparams, state.count)
        b1, b2 = hp["betas"]
        eps = hp["eps"]
        t = (state.count + 1).astype(lr.dtype)                  # torch's step, 1-based
        dtype = jnp.result_type(t, b1, b2)
        bc = 1 - jnp.stack([jnp.asarray(b1, dtype), jnp.asarray(b2, dtype)]) ** t.astype(dtype)
        step_size, inv_sqrt_bc2 = lr / bc[0], 1 / jnp.sqrt(bc[1])

        def leaf(g, m, v):
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            u = -step_size * m / (jnp.sqrt(v) * inv_sqrt_bc2 + eps)
            return u.astype(g.dtype), m.astype(g.dtype), v.astype(g.dtype)
        flat = [jax.tree_util.tree_leaves(x) for x in (grads, state.exp_avg, state.exp_avg_sq)]
        treedef = jax.tree_util.tree_structure(grads)
        updates, m, v = (jax.tree_util.tree_unflatten(treedef, col)
                         for col in zip(*(leaf(*a) for a in zip(*flat))))
        return updates, nf.optim.AdamState(state.count + 1, hp, m, v, None)

    return nf.optim.make_optimizer(init, update)


@pytest.mark.parametrize("lr", [1e-2, nf.schedules.cosine_annealing(1e-2, 20)],
                         ids=["number", "schedule"])
def test_stacked_bias_corrections_give_adams_bits(lr):
    """jitted and vmapped over the learning rate (lr_scale for a schedule), 12 steps."""
    p = {"w": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4), "b": jnp.arange(4.0)}
    name = "lr_scale" if callable(lr) else "learning_rate"

    def run(opt, x):
        s = nf.optim.set_hparams(opt.init(p), **{name: x})
        q = p
        for i in range(12):
            g = jax.tree_util.tree_map(lambda a: jnp.sin(a * (i + 1)), q)
            u, s = opt.update(g, s, q)
            q = nf.optim.apply_updates(q, u)
        return q, s
    xs = jnp.asarray([0.1, 1.0, 10.0]) * (1.0 if callable(lr) else 1e-2)
    outs = {}
    for stacked, build in ((False, nf.optim.adam), (True, adam_stacked_bias_corrections)):
        fresh = lambda x, opt=build(lr): run(opt, x)        # noqa: E731
        text = str(jax.make_jaxpr(fresh)(xs[1]))
        assert ("stack[" in text or "concatenate" in text) == stacked
        outs[stacked] = (jax.jit(fresh)(xs[1]), jax.jit(jax.vmap(fresh))(xs))
    tree = jax.tree_util
    assert tree.tree_structure(outs[True]) == tree.tree_structure(outs[False])
    for a, b in zip(tree.tree_leaves(outs[True]), tree.tree_leaves(outs[False])):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(outs[True][0][0]["w"], p["w"])       # it did train
