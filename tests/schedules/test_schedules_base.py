"""What every schedule of nnfunc.schedules shares (the protocol in schedules._base):
``constant``, values in the default float dtype for a step of any shape, traced steps and
hyperparameters, concrete arguments checked with a ValueError naming them, and negative
and non-integer steps rejected."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from _schedules_setup import ALL_CASES, S, assert_rel, evaluate, python_trace


def test_constant_closed_form(x64):
    K = 500
    assert_rel(evaluate(S.constant(0.123), K), python_trace(lambda k: 0.123, K))


# ------------------------------------------------------------------- traced steps, dtypes

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


def test_hyperparameters_can_be_traced(x64):
    lrs = jnp.array([0.1, 0.2, 0.4])
    for build in (lambda lr: S.cosine_annealing(lr, T_max=10),
                  lambda lr: S.one_cycle(lr, 50),
                  lambda lr: S.warmup(S.exponential_decay(lr, 0.9), 3)):
        out = jax.jit(jax.vmap(lambda lr: build(lr)(7)))(lrs)
        expected = [float(build(float(lr))(7)) for lr in lrs]
        assert_rel(np.asarray(out), np.array(expected))


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


def test_non_integer_step_is_rejected():
    with pytest.raises(TypeError, match="integer"):
        S.constant(0.1)(1.5)


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
