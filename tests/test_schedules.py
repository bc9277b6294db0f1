"""Schedules against torch.optim.lr_scheduler (and closed forms where torch has none).

Convention under test: ``schedule(k)`` is the learning rate torch's optimizer holds for
optimizer step ``k`` when the scheduler is stepped once after every optimizer step. Every
parity check evaluates ``jax.jit(jax.vmap(schedule))(jnp.arange(K))`` in float64, so the
steps are traced, and asks for a relative error <= 1e-10 at every step.
"""
import math
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf

S = nf.schedules
torch = pytest.importorskip("torch")
tls = torch.optim.lr_scheduler

RTOL = 1e-10


# --------------------------------------------------------------------------- references

def torch_trace(make, K, lr=1.0):
    """lr and momentum torch's SGD holds for optimizer steps 0..K-1 under ``make(opt)``."""
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=lr, momentum=0.9)
    sched = make(opt)
    lrs, moms = np.empty(K), np.empty(K)
    for k in range(K):
        lrs[k] = opt.param_groups[0]["lr"]
        moms[k] = opt.param_groups[0]["momentum"]
        opt.step()  # no gradients: a no-op that keeps torch's step-order check quiet
        if k < K - 1:
            sched.step()
    return lrs, moms


def python_trace(fn, K):
    return np.array([fn(k) for k in range(K)], dtype=np.float64)


def evaluate(sched, K):
    return np.asarray(jax.jit(jax.vmap(sched))(jnp.arange(K)))


def assert_rel(actual, expected, rtol=RTOL):
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=0)


# ----------------------------------------------------------------------------- torch parity
# (id, nnfunc schedule, torch scheduler factory, initial lr for torch's optimizer, K)

def _seq2():
    return (S.sequential([S.linear(0.5, start_factor=0.1, total_iters=20),
                          S.cosine_annealing(0.5, T_max=200, eta_min=0.01)], [20]),
            lambda o: tls.SequentialLR(o, [tls.LinearLR(o, start_factor=0.1, total_iters=20),
                                           tls.CosineAnnealingLR(o, T_max=200, eta_min=0.01)],
                                       milestones=[20]))


def _seq3():
    return (S.sequential([S.constant_factor(0.5, factor=0.5, total_iters=10),
                          S.exponential_decay(0.5, gamma=0.99),
                          S.step_decay(0.5, step_size=30, gamma=0.5)], [50, 250]),
            lambda o: tls.SequentialLR(o, [tls.ConstantLR(o, factor=0.5, total_iters=10),
                                           tls.ExponentialLR(o, gamma=0.99),
                                           tls.StepLR(o, step_size=30, gamma=0.5)],
                                       milestones=[50, 250]))


def _lam(t):  # works on Python ints (torch) and traced integer arrays (nnfunc)
    return 0.97 ** (t // 10) + 0.1 * (t % 3)


LR_CASES = [
    ("step", S.step_decay(0.5, step_size=7, gamma=0.8),
     lambda o: tls.StepLR(o, step_size=7, gamma=0.8), 0.5, 500),
    ("multistep_repeated", S.multistep_decay(0.5, [10, 50, 50, 200], gamma=0.7),
     lambda o: tls.MultiStepLR(o, [10, 50, 50, 200], gamma=0.7), 0.5, 500),
    ("exponential", S.exponential_decay(0.5, gamma=0.995),
     lambda o: tls.ExponentialLR(o, gamma=0.995), 0.5, 500),
    ("lambda", S.lambda_schedule(0.5, _lam), lambda o: tls.LambdaLR(o, _lam), 0.5, 500),
    ("time_based", S.time_based_decay(0.5, decay_rate=0.03),
     lambda o: tls.LambdaLR(o, lambda t: 1 / (1 + 0.03 * t)), 0.5, 500),
    ("constant_factor", S.constant_factor(0.5, factor=0.25, total_iters=40),
     lambda o: tls.ConstantLR(o, factor=0.25, total_iters=40), 0.5, 500),
    ("constant_factor_default", S.constant_factor(0.5),
     lambda o: tls.ConstantLR(o), 0.5, 500),
    ("linear_up", S.linear(0.5, start_factor=0.1, end_factor=0.6, total_iters=120),
     lambda o: tls.LinearLR(o, start_factor=0.1, end_factor=0.6, total_iters=120), 0.5, 500),
    ("linear_down", S.linear(0.5, start_factor=1.0, end_factor=0.2, total_iters=333),
     lambda o: tls.LinearLR(o, start_factor=1.0, end_factor=0.2, total_iters=333), 0.5, 500),
    ("linear_default", S.linear(0.5), lambda o: tls.LinearLR(o), 0.5, 500),
    ("polynomial", S.polynomial(0.5, total_iters=300, power=2.5),
     lambda o: tls.PolynomialLR(o, total_iters=300, power=2.5), 0.5, 500),
    ("cosine_past_T_max", S.cosine_annealing(0.5, T_max=60, eta_min=0.01),
     lambda o: tls.CosineAnnealingLR(o, T_max=60, eta_min=0.01), 0.5, 500),
    ("cosine_eta0", S.cosine_annealing(0.5, T_max=37),
     lambda o: tls.CosineAnnealingLR(o, T_max=37), 0.5, 500),
    ("warm_restarts_T_mult1", S.cosine_warm_restarts(0.5, T_0=37, eta_min=0.02),
     lambda o: tls.CosineAnnealingWarmRestarts(o, T_0=37, eta_min=0.02), 0.5, 500),
    ("warm_restarts_T_mult2", S.cosine_warm_restarts(0.5, T_0=10, T_mult=2, eta_min=0.02),
     lambda o: tls.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=2, eta_min=0.02), 0.5, 700),
    ("warm_restarts_T_mult3", S.cosine_warm_restarts(0.5, T_0=5, T_mult=3),
     lambda o: tls.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=3), 0.5, 600),
    ("sequential_two", *_seq2(), 0.5, 500),
    ("sequential_three", *_seq3(), 0.5, 500),
    # beyond torch, expressed through torch: a linear warmup is LinearLR then the schedule
    ("warmup_linear", S.warmup(S.cosine_annealing(0.5, T_max=150), 20, init_value=0.05 * 0.5),
     lambda o: tls.SequentialLR(o, [tls.LinearLR(o, start_factor=0.05, total_iters=20),
                                    tls.CosineAnnealingLR(o, T_max=150)], milestones=[20]),
     0.5, 500),
    ("inverse_sqrt_noam", S.inverse_sqrt(512 ** -0.5 * 40 ** -0.5, warmup_steps=40),
     lambda o: tls.LambdaLR(o, lambda t: 512 ** -0.5 * min((t + 1) ** -0.5,
                                                         (t + 1) * 40 ** -1.5)), 1.0, 500),
]

# (id, lr schedule, momentum schedule, torch factory, K)
_CYC = dict(base_momentum=0.75, max_momentum=0.95)
CYCLE_CASES = [
    ("triangular", S.cyclic(0.01, 0.3, step_size_up=20, step_size_down=50),
     S.cyclic_momentum(0.75, 0.95, step_size_up=20, step_size_down=50),
     lambda o: tls.CyclicLR(o, 0.01, 0.3, step_size_up=20, step_size_down=50, **_CYC), 500),
    ("triangular2", S.cyclic(0.01, 0.3, 30, 10, mode="triangular2"),
     S.cyclic_momentum(0.75, 0.95, 30, 10, mode="triangular2"),
     lambda o: tls.CyclicLR(o, 0.01, 0.3, 30, 10, mode="triangular2", **_CYC), 500),
    ("exp_range", S.cyclic(0.01, 0.3, 25, 15, mode="exp_range", gamma=0.998),
     S.cyclic_momentum(0.75, 0.95, 25, 15, mode="exp_range", gamma=0.998),
     lambda o: tls.CyclicLR(o, 0.01, 0.3, 25, 15, mode="exp_range", gamma=0.998, **_CYC),
     500),
    ("scale_fn_cycle", S.cyclic(0.01, 0.3, 13, scale_fn=lambda c: 1 / c),
     S.cyclic_momentum(0.75, 0.95, 13, scale_fn=lambda c: 1 / c),
     lambda o: tls.CyclicLR(o, 0.01, 0.3, 13, scale_fn=lambda c: 1 / c, **_CYC), 500),
    ("scale_fn_iterations",
     S.cyclic(0.01, 0.3, 13, 29, scale_fn=lambda t: 1 / (1 + 0.01 * t), scale_mode="iterations"),
     S.cyclic_momentum(0.75, 0.95, 13, 29, scale_fn=lambda t: 1 / (1 + 0.01 * t),
                       scale_mode="iterations"),
     lambda o: tls.CyclicLR(o, 0.01, 0.3, 13, 29, scale_fn=lambda t: 1 / (1 + 0.01 * t),
                            scale_mode="iterations", **_CYC), 500),
    ("defaults", S.cyclic(0.01, 0.3), S.cyclic_momentum(),
     lambda o: tls.CyclicLR(o, 0.01, 0.3), 500),
]
_OC = dict(pct_start=0.25, div_factor=10.0, final_div_factor=100.0)
_OCM = dict(base_momentum=0.8, max_momentum=0.97)
for _three in (False, True):
    for _strategy in ("cos", "linear"):
        CYCLE_CASES.append((
            f"one_cycle_{'three' if _three else 'two'}_phase_{_strategy}",
            S.one_cycle(0.5, 500, anneal_strategy=_strategy, three_phase=_three, **_OC),
            S.one_cycle_momentum(500, 0.25, _strategy, three_phase=_three, **_OCM),
            lambda o, s=_strategy, t=_three: tls.OneCycleLR(
                o, 0.5, 500, anneal_strategy=s, three_phase=t, **_OC, **_OCM),
            501))  # torch allows one value past the last step: k = total_steps
CYCLE_CASES.append(("one_cycle_defaults", S.one_cycle(0.5, 503), S.one_cycle_momentum(503),
                    lambda o: tls.OneCycleLR(o, 0.5, 503), 504))


@pytest.mark.parametrize("name,sched,make,lr,K", LR_CASES, ids=[c[0] for c in LR_CASES])
def test_matches_torch(x64, name, sched, make, lr, K):
    expected, _ = torch_trace(make, K, lr=lr)
    assert_rel(evaluate(sched, K), expected)


@pytest.mark.parametrize("name,sched,mom,make,K", CYCLE_CASES, ids=[c[0] for c in CYCLE_CASES])
def test_cyclic_lr_and_momentum_match_torch(x64, name, sched, mom, make, K):
    lrs, moms = torch_trace(make, K)
    assert_rel(evaluate(sched, K), lrs)
    assert_rel(evaluate(mom, K), moms)


def test_cosine_annealing_matches_torch_closed_form(x64):
    # torch's closed form (step(epoch)) and its recursive form agree; check the former too.
    K, T_max = 400, 45
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    torch_sched = tls.CosineAnnealingLR(torch.optim.SGD([p], lr=0.5), T_max=T_max, eta_min=0.1)
    torch_sched.last_epoch = 0
    closed = []
    for k in range(K):
        torch_sched.last_epoch = k
        closed.append(torch_sched._get_closed_form_lr()[0])
    ours = evaluate(S.cosine_annealing(0.5, T_max=T_max, eta_min=0.1), K)
    assert_rel(ours, np.array(closed))
    # periodic past T_max: back at the top at 2 T_max
    assert ours[2 * T_max] == pytest.approx(0.5, rel=1e-12)


# --------------------------------------------------------------------- beyond torch: formulas

BEYOND_CASES = [
    ("warmup_cos_ramp", S.warmup(S.step_decay(1.0, 50, 0.5), 30, 0.1, strategy="cos"),
     lambda k: 0.1 + 0.9 * (1 - math.cos(math.pi * k / 30)) / 2 if k < 30
     else 0.5 ** ((k - 30) // 50)),
    ("warmup_zero_steps", S.warmup(S.exponential_decay(0.3, 0.99), 0),
     lambda k: 0.3 * 0.99 ** k),
    ("warmup_number", S.warmup(0.2, 100), lambda k: 0.2 * min(k, 100) / 100),
    ("warmup_cosine", S.warmup_cosine(0.5, 40, 400, init_value=0.01, end_value=0.02),
     lambda k: 0.01 + 0.49 * k / 40 if k < 40
     else 0.02 + 0.48 * (1 + math.cos(math.pi * min(k - 40, 360) / 360)) / 2),
    ("wsd_linear", S.warmup_stable_decay(0.5, 30, 200, 150, end_value=0.05),
     lambda k: 0.5 * k / 30 if k < 30 else 0.5 if k < 230
     else 0.05 + 0.45 * (1 - min(k - 230, 150) / 150)),
    ("wsd_cos", S.warmup_stable_decay(0.5, 30, 200, 150, init_value=0.1, decay_strategy="cos"),
     lambda k: 0.1 + 0.4 * k / 30 if k < 30 else 0.5 if k < 230
     else 0.25 * (1 + math.cos(math.pi * min(k - 230, 150) / 150))),
    ("wsd_1_sqrt", S.warmup_stable_decay(0.5, 0, 100, 300, decay_strategy="1-sqrt"),
     lambda k: 0.5 if k < 100 else 0.5 * (1 - math.sqrt(min(k - 100, 300) / 300))),
    ("constant", S.constant(0.123), lambda k: 0.123),
]


@pytest.mark.parametrize("name,sched,fn", BEYOND_CASES, ids=[c[0] for c in BEYOND_CASES])
def test_beyond_torch_closed_forms(x64, name, sched, fn):
    K = 500
    assert_rel(evaluate(sched, K), python_trace(fn, K))


def test_warmup_schedules_are_continuous_at_the_joins(x64):
    wsd = evaluate(S.warmup_stable_decay(1.0, 10, 20, 30, end_value=0.1), 80)
    np.testing.assert_allclose(wsd[[10, 29, 30, 60, 79]], [1.0, 1.0, 1.0, 0.1, 0.1])
    assert np.all(np.diff(wsd[:10]) > 0) and np.all(np.diff(wsd[30:61]) < 0)
    noam = evaluate(S.inverse_sqrt(2.0, warmup_steps=16), 100)
    assert int(np.argmax(noam)) == 15 and noam[15] == pytest.approx(2.0)
    assert noam[63] == pytest.approx(1.0)  # sqrt(16 / 64)


# ------------------------------------------------------------------- traced steps, dtypes

ALL_CASES = ([(c[0], c[1], c[3]) for c in LR_CASES]
             + [(c[0], c[1], c[4]) for c in CYCLE_CASES]
             + [(c[0] + "_momentum", c[2], c[4]) for c in CYCLE_CASES])


def test_float32_mode_dtype_and_any_step_shape():
    """Default (float32) mode: float32 values; plain jit on a 2-D step array agrees with
    float64 evaluation to float32 accuracy. (All schedules in one program: one compile.)"""
    steps = np.arange(60).reshape(6, 10) * 7
    run_all = lambda k: [sched(k) for _, sched, _ in ALL_CASES]  # noqa: E731
    outs = jax.jit(run_all)(jnp.asarray(steps, jnp.int32))
    with jax.enable_x64(True):
        refs = [np.asarray(r) for r in jax.jit(run_all)(jnp.asarray(steps, jnp.int64))]
    for (name, sched, _), out, ref in zip(ALL_CASES, outs, refs):
        assert out.dtype == jnp.float32 and out.shape == (6, 10), name
        assert ref.dtype == np.float64, name
        np.testing.assert_allclose(np.asarray(out), ref, rtol=2e-5, atol=1e-6, err_msg=name)


def test_schedules_run_inside_scan(x64):
    for sched in (S.sequential([S.linear(1.0, 0.1, 1.0, 5), S.cosine_warm_restarts(1.0, 4, 2)],
                               [5]),
                  S.one_cycle(1.0, 100, three_phase=True)):
        def body(count, _):
            return count + 1, sched(count)
        _, values = jax.jit(lambda: jax.lax.scan(body, jnp.asarray(0), None, length=101))()
        assert_rel(np.asarray(values), evaluate(sched, 101))


def test_one_cycle_holds_its_final_value_past_total_steps(x64):
    sched = S.one_cycle(0.5, 100)
    v = evaluate(sched, 300)
    assert np.all(v[100:] == v[100])


def test_cosine_warm_restarts_restarts_exactly_at_large_boundaries():
    # Restart n starts at T_0 (2^n - 1); a float log would misplace some of these.
    sched = jax.jit(S.cosine_warm_restarts(1.0, T_0=10, T_mult=2, eta_min=0.0))
    for n in (3, 10, 20, 27):
        start = 10 * (2 ** n - 1)
        assert float(sched(start)) == 1.0
        length = 10 * 2 ** (n - 1)  # the cycle that ends there
        assert float(sched(start - 1)) <= (math.pi / length) ** 2
    assert np.isfinite(float(sched(2 ** 31 - 1)))


def test_hyperparameters_can_be_traced(x64):
    lrs = jnp.array([0.1, 0.2, 0.4])
    for build in (lambda lr: S.cosine_annealing(lr, T_max=10),
                  lambda lr: S.one_cycle(lr, 50),
                  lambda lr: S.warmup(S.exponential_decay(lr, 0.9), 3)):
        out = jax.jit(jax.vmap(lambda lr: build(lr)(7)))(lrs)
        expected = [float(build(float(lr))(7)) for lr in lrs]
        assert_rel(np.asarray(out), np.array(expected))


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


# ---------------------------------------------------------------------------------- plot

def test_plot_draws_the_schedule():
    from matplotlib.figure import Figure
    sched = S.warmup_cosine(1.0, 5, 40)
    ax = S.plot(sched, 40, ax=Figure().add_subplot(), label="lr")
    x, y = ax.lines[0].get_data()
    np.testing.assert_array_equal(x, np.arange(40))
    np.testing.assert_allclose(y, np.asarray(jax.vmap(sched)(jnp.arange(40))), rtol=1e-6)
    assert ax.lines[0].get_label() == "lr"
    ax = S.plot(sched, [0, 10, 20], ax=Figure().add_subplot())
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [0, 10, 20])


def test_plot_makes_its_own_axes():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ax = S.plot(S.constant(0.5), 3)
    try:
        assert list(ax.lines[0].get_ydata()) == [0.5, 0.5, 0.5]
    finally:
        plt.close(ax.figure)


def test_plot_without_matplotlib_raises_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="needs matplotlib"):
        S.plot(S.constant(0.1), 10)


# ------------------------------------------------------------------------------ bad input

BAD = [
    ("total_steps", lambda: S.one_cycle(0.1, total_steps=0)),
    ("total_steps", lambda: S.one_cycle(0.1, total_steps=-3)),
    ("total_steps", lambda: S.one_cycle_momentum(total_steps=2.5)),
    ("pct_start", lambda: S.one_cycle(0.1, 100, pct_start=0.0)),
    ("pct_start", lambda: S.one_cycle(0.1, 100, pct_start=1.0)),
    ("pct_start", lambda: S.one_cycle_momentum(100, pct_start=-0.2)),
    ("anneal_strategy", lambda: S.one_cycle(0.1, 100, anneal_strategy="cosine")),
    ("div_factor", lambda: S.one_cycle(0.1, 100, div_factor=0.0)),
    ("three_phase", lambda: S.one_cycle(0.1, 100, three_phase="yes")),
    ("T_0", lambda: S.cosine_warm_restarts(0.1, T_0=0)),
    ("T_0", lambda: S.cosine_warm_restarts(0.1, T_0=2.5)),
    ("T_mult", lambda: S.cosine_warm_restarts(0.1, T_0=5, T_mult=0)),
    ("T_max", lambda: S.cosine_annealing(0.1, T_max=0)),
    ("milestones", lambda: S.multistep_decay(0.1, [30, 10])),
    ("milestones", lambda: S.multistep_decay(0.1, [-1, 10])),
    ("milestones", lambda: S.sequential([S.constant(1.0)] * 3, [20, 10])),
    ("milestones", lambda: S.sequential([S.constant(1.0)] * 3, [20])),
    ("schedules", lambda: S.sequential([], [])),
    ("mode", lambda: S.cyclic(0.1, 1.0, mode="triangle")),
    ("mode", lambda: S.cyclic_momentum(mode="exp")),
    ("scale_mode", lambda: S.cyclic(0.1, 1.0, scale_mode="epochs")),
    ("step_size_up", lambda: S.cyclic(0.1, 1.0, step_size_up=0)),
    ("step_size_down", lambda: S.cyclic(0.1, 1.0, step_size_down=-1)),
    ("mode", lambda: S.reduce_on_plateau(mode="mean")),
    ("threshold_mode", lambda: S.reduce_on_plateau(threshold_mode="relative")),
    ("factor", lambda: S.reduce_on_plateau(factor=1.0)),
    ("patience", lambda: S.reduce_on_plateau(patience=-1)),
    ("cooldown", lambda: S.reduce_on_plateau(cooldown=1.5)),
    ("min_lr", lambda: S.reduce_on_plateau(min_lr=-0.1)),
    ("eps", lambda: S.reduce_on_plateau(eps=-1.0)),
    ("step_size", lambda: S.step_decay(0.1, step_size=0)),
    ("gamma", lambda: S.exponential_decay(0.1, gamma=-0.5)),
    ("init_value", lambda: S.exponential_decay("a", gamma=0.5)),
    ("init_value", lambda: S.step_decay(float("nan"), 10)),
    ("factor", lambda: S.constant_factor(0.1, factor=1.5)),
    ("start_factor", lambda: S.linear(0.1, start_factor=0.0)),
    ("end_factor", lambda: S.linear(0.1, end_factor=1.5)),
    ("total_iters", lambda: S.linear(0.1, total_iters=0)),
    ("total_iters", lambda: S.polynomial(0.1, total_iters=0)),
    ("power", lambda: S.polynomial(0.1, power=-1.0)),
    ("decay_rate", lambda: S.time_based_decay(0.1, decay_rate=-1.0)),
    ("fn", lambda: S.lambda_schedule(0.1, fn=3)),
    ("warmup_steps", lambda: S.warmup(S.constant(0.1), warmup_steps=-1)),
    ("strategy", lambda: S.warmup(S.constant(0.1), 10, strategy="exp")),
    ("schedule", lambda: S.warmup("fast", 10)),
    ("total_steps", lambda: S.warmup_cosine(0.1, warmup_steps=10, total_steps=10)),
    ("warmup_steps", lambda: S.inverse_sqrt(0.1, warmup_steps=0)),
    ("decay_steps", lambda: S.warmup_stable_decay(0.1, 10, 10, 0)),
    ("decay_strategy", lambda: S.warmup_stable_decay(0.1, 10, 10, 10, decay_strategy="exp")),
    ("steps", lambda: S.plot(S.constant(0.1), 0)),
    # issue 16: negative values (they make a learning rate ascend), growing decays
    ("value", lambda: S.constant(-0.1)),
    ("value", lambda: S.constant(float("inf"))),
    ("init_value", lambda: S.exponential_decay(-0.1, gamma=0.5)),
    ("init_value", lambda: S.cosine_annealing(-0.1, T_max=10)),
    ("eta_min", lambda: S.cosine_annealing(0.1, T_max=10, eta_min=-0.01)),
    ("base_lr", lambda: S.cyclic(-0.1, 1.0)),
    ("peak_value", lambda: S.warmup_cosine(-0.1, warmup_steps=1, total_steps=10)),
    ("gamma", lambda: S.exponential_decay(1.0, gamma=1e6)),
    ("gamma", lambda: S.step_decay(1.0, 10, gamma=10.0)),
    ("gamma", lambda: S.multistep_decay(1.0, [5], gamma=2.0)),
    ("gamma", lambda: S.cyclic(0.1, 1.0, mode="exp_range", gamma=1.5)),
]


@pytest.mark.parametrize("name,build", BAD, ids=[f"{i}-{b[0]}" for i, b in enumerate(BAD)])
def test_bad_arguments_raise_value_error_naming_them(name, build):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        build()


def test_non_integer_step_and_non_scalar_metric_are_rejected():
    with pytest.raises(TypeError, match="integer"):
        S.constant(0.1)(1.5)
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


NEG_STEP = [
    S.constant(0.1), S.step_decay(1.0, 10), S.multistep_decay(1.0, [3]),
    S.exponential_decay(1.0, 0.5), S.time_based_decay(1.0, 0.5),
    S.lambda_schedule(1.0, lambda t: 1.0 / (1 + t)), S.constant_factor(1.0),
    S.linear(1.0), S.polynomial(1.0), S.cosine_annealing(1.0, 10),
    S.cosine_warm_restarts(1.0, 5), S.cyclic(0.1, 1.0, 4), S.one_cycle(1.0, 100),
    S.sequential([S.constant(1.0), S.constant(0.5)], [3]),
    S.warmup(S.constant(1.0), 5), S.warmup_cosine(1.0, 5, 20), S.inverse_sqrt(1.0, 5),
    S.warmup_stable_decay(1.0, 5, 5, 5),
]


@pytest.mark.parametrize("sched", NEG_STEP, ids=range(len(NEG_STEP)))
def test_negative_step_is_rejected_when_concrete_and_clamped_when_traced(sched):
    """step_decay(-10) used to give 10x the initial rate, exponential_decay(-3) 8x."""
    with pytest.raises(ValueError, match=r"\bstep\b.*>= 0"):
        sched(-3)
    with pytest.raises(ValueError, match=r"\bstep\b"):
        sched(jnp.array([0, -1]))
    traced = jax.jit(sched)(jnp.array(-3))
    assert float(traced) == pytest.approx(float(sched(0)), rel=1e-6)


def test_one_cycle_rejects_factors_whose_rates_overflow_float32():
    with pytest.raises(ValueError, match="final_div_factor is so small"):
        nf.schedules.one_cycle(0.1, total_steps=10, final_div_factor=1e-42)
    with pytest.raises(ValueError, match="div_factor is so small"):
        nf.schedules.one_cycle(1e30, total_steps=10, div_factor=1e-20)
    s = nf.schedules.one_cycle(0.1, total_steps=10, final_div_factor=1e-3)
    assert np.isfinite(float(s(9)))
