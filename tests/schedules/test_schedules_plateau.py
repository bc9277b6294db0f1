"""nnfunc.schedules.plateau: reduce_on_plateau against torch's ReduceLROnPlateau, in a
Python loop, vmapped over runs, and driving an optimizer's learning rate."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from _schedules_setup import S, assert_rel, evaluate, tls, torch


# ------------------------------------------------------------------------- reduce_on_plateau

def _metrics():
    rng = np.random.RandomState(0)
    walk = 1.0 / (1.0 + 0.1 * np.arange(40)) + 0.02 * rng.standard_normal(40)
    flat = np.concatenate([walk, np.full(15, walk.min()), walk[::-1][:20], [np.nan, 0.01]])
    # Binary-exact ties: equal values, and steps of exactly an abs threshold of 0.25,
    # are not improvements (first rising, for 'max', then falling, for 'min').
    ties = np.array([1.0, 0.75, 0.75, 0.5, 0.25, 0.25, 0.0, -0.25, -0.5, -0.5, -0.75])
    return np.concatenate([ties[::-1] + 3.0, flat, ties, -flat[:30], ties[::-1]])


METRICS = _metrics()
# (torch keyword arguments, whether the learning rate gets reduced at all)
PLATEAU_CASES = [
    (dict(), True),
    (dict(mode="min", factor=0.5, patience=2), True),
    (dict(mode="max", factor=0.5, patience=1, threshold=0.05, threshold_mode="abs",
          cooldown=2), True),
    (dict(mode="min", factor=0.3, patience=0, threshold=0.25, threshold_mode="abs",
          cooldown=3, min_lr=0.02), True),
    (dict(mode="max", factor=0.3, patience=0, threshold=0.25, threshold_mode="abs"), True),
    (dict(mode="max", factor=0.7, patience=3, threshold=0.01, threshold_mode="rel"), True),
    (dict(mode="min", factor=0.5, patience=1, threshold=0.0), True),  # ties are not better
    (dict(mode="max", factor=0.5, patience=1, threshold=0.0, cooldown=1), True),
    (dict(mode="min", factor=0.9, patience=0, min_lr=0.095, eps=1e-3), True),  # floor + eps
    (dict(mode="min", factor=0.5, patience=0, eps=0.05), False),  # cut == eps: skipped
    (dict(mode="min", factor=0.9, patience=0, eps=0.02), False),  # cut < eps: skipped
    (dict(mode="min", factor=0.5, patience=1, min_lr=[0.01, 0.004]), True),  # two groups
]


def _torch_plateau(kwargs, lrs, metrics):
    ps = [torch.nn.Parameter(torch.zeros(1, dtype=torch.float64)) for _ in lrs]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(ps, lrs)])
    sched = tls.ReduceLROnPlateau(opt, **kwargs)
    trace = []
    for m in metrics:
        opt.step()
        sched.step(m)
        trace.append(([g["lr"] for g in opt.param_groups], sched.best,
                      sched.num_bad_epochs, sched.cooldown_counter))
    return trace


@pytest.mark.parametrize("kwargs,reduces", PLATEAU_CASES, ids=[",".join(
    f"{a}={b}" for a, b in k.items()) or "defaults" for k, _ in PLATEAU_CASES])
def test_reduce_on_plateau_matches_torch(x64, kwargs, reduces):
    lrs = [0.1, 0.04] if isinstance(kwargs.get("min_lr"), list) else [0.1]
    trace = _torch_plateau(kwargs, lrs, METRICS)
    plateau = S.reduce_on_plateau(**kwargs)

    def body(state, metric):
        state = plateau.update(state, metric)
        return state, state

    init = plateau.init(jnp.asarray(lrs) if len(lrs) > 1 else lrs[0])
    _, states = jax.jit(lambda s, m: jax.lax.scan(body, s, m))(init, jnp.asarray(METRICS))
    exp_lr = np.array([t[0] for t in trace]).reshape(np.shape(states.lr))
    assert_rel(np.asarray(states.lr), exp_lr, rtol=1e-14)
    np.testing.assert_array_equal(np.asarray(states.best), [t[1] for t in trace])
    np.testing.assert_array_equal(np.asarray(states.num_bad_epochs), [t[2] for t in trace])
    np.testing.assert_array_equal(np.asarray(states.cooldown_counter), [t[3] for t in trace])
    assert (len(np.unique(exp_lr)) > 1) == reduces


def test_reduce_on_plateau_python_loop_and_float32():
    plateau = S.reduce_on_plateau(factor=0.5, patience=1, cooldown=1)
    update = jax.jit(plateau.update)
    state = plateau.init(0.1)
    assert state.lr.dtype == jnp.float32 and state.best == jnp.inf
    lrs = []
    for m in [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5]:
        state = update(state, m)
        lrs.append(round(float(state.lr), 6))
    # bad counts 1, 2 -> cut; cooldown swallows one; 1, 2 -> cut; cooldown; improvement
    assert lrs == [0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025]
    assert S.reduce_on_plateau(mode="max").init(1.0).best == -jnp.inf


def test_reduce_on_plateau_vmaps_over_runs():
    """A sweep: one state per run, updated together; each run follows its own metrics."""
    plateau = S.reduce_on_plateau(factor=0.5, patience=0)
    metrics = jnp.array([[1.0, 2.0, 2.0], [1.0, 0.5, 0.25], [1.0, 1.0, 0.5]])
    states = jax.vmap(plateau.init)(jnp.array([0.1, 0.2, 0.4]))
    update = jax.jit(jax.vmap(plateau.update))
    for i in range(3):
        states = update(states, metrics[:, i])
    np.testing.assert_allclose(np.asarray(states.lr), [0.025, 0.2, 0.2], rtol=1e-6)


def test_plateau_scale_combines_with_a_schedule(x64):
    """With a scheduled lr the optimizer uses sched(count) * lr_scale, where lr_scale is the
    plateau value over its initial value."""
    sched = S.cosine_annealing(0.3, T_max=20)
    plateau = S.reduce_on_plateau(factor=0.5, patience=0)
    state = plateau.init(0.3)
    for m in [1.0, 2.0, 2.0]:
        state = plateau.update(state, m)
    effective = jax.vmap(sched)(jnp.arange(5)) * (state.lr / 0.3)
    np.testing.assert_allclose(np.asarray(effective), 0.25 * evaluate(sched, 5), rtol=1e-14)


def test_non_scalar_metric_is_rejected():
    plateau = S.reduce_on_plateau()
    with pytest.raises(ValueError, match="metric"):
        plateau.update(plateau.init(0.1), jnp.ones(3))


# --- reduce_on_plateau driving an optimizer ---------------------------------------------

def test_plateau_drives_optimizer_through_set_hparams_without_recompiling():
    """torch: ReduceLROnPlateau(SGD) over a scripted metric sequence; nnfunc: the plateau
    machine feeds ``set_hparams(opt_state, learning_rate=p.lr)`` into a jitted sgd step."""
    torch = pytest.importorskip("torch")
    import nnfunc as nf

    metrics = [1.0, 0.9, 0.95, 0.97, 0.96, 0.5, 0.6, 0.7, 0.8, 0.9]
    w = torch.zeros(3, requires_grad=True)
    topt = torch.optim.SGD([w], lr=0.1)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, factor=0.5, patience=1)

    opt = nf.optim.sgd(learning_rate=0.1)
    params = {"w": jnp.zeros(3)}
    state = opt.init(params)
    plateau = nf.schedules.reduce_on_plateau(factor=0.5, patience=1)
    p_state = plateau.init(0.1)
    traces = []

    @jax.jit
    def step(params, state):
        traces.append(1)
        updates, state = opt.update({"w": jnp.ones(3)}, state, params)
        return nf.optim.apply_updates(params, updates), state

    for m in metrics:
        w.grad = torch.ones(3)
        topt.step()
        params, state = step(params, state)
        np.testing.assert_allclose(np.asarray(params["w"]), w.detach().numpy(), rtol=1e-6)
        tsched.step(m)
        p_state = plateau.update(p_state, m)
        state = nf.optim.set_hparams(state, learning_rate=p_state.lr)
        assert float(nf.optim.get_hparams(state)["learning_rate"]) == pytest.approx(
            topt.param_groups[0]["lr"], rel=1e-6)
    assert len(traces) == 1
    assert topt.param_groups[0]["lr"] < 0.1  # the script really triggered reductions


def test_plateau_scales_a_scheduled_learning_rate():
    """With a schedule as learning_rate, the plateau factor goes in ``lr_scale``:
    the step uses ``schedule(count) * lr_scale`` and records it in the state."""
    import nnfunc as nf

    sched = nf.schedules.exponential_decay(0.1, gamma=0.9)
    opt = nf.optim.sgd(learning_rate=sched)
    params = {"w": jnp.zeros(2)}
    state = opt.init(params)
    plateau = nf.schedules.reduce_on_plateau(factor=0.5, patience=0)
    p_state = plateau.init(1.0)             # a multiplier, starting at 1
    for metric in [1.0, 2.0]:               # the second is worse: the factor halves
        p_state = plateau.update(p_state, metric)
    state = nf.optim.set_hparams(state, lr_scale=p_state.lr)
    updates, state = opt.update({"w": jnp.ones(2)}, state, params)
    expected = 0.1 * 0.9 ** 0 * 0.5
    np.testing.assert_allclose(np.asarray(updates["w"]), -expected, rtol=1e-6)
    assert float(state.hparams["learning_rate"]) == pytest.approx(expected, rel=1e-6)
    updates, state = opt.update({"w": jnp.ones(2)}, state, params)
    np.testing.assert_allclose(np.asarray(updates["w"]), -0.1 * 0.9 * 0.5, rtol=1e-6)
