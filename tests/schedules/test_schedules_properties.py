"""Property tests of the schedules (issue 16 §2): the machinery is ``_property_kit``."""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from hypothesis import strategies as st

import nnfunc as nf
from _property_kit import (Arg, Entry, NAN, NONNEG, UNIT, assert_finite, bad_kinds, boolean,
                           choice, function_arg, integer, property_tests, real)


# ------------------------------------------------------------------------ schedules

STEPS = jnp.array([0, 1, 3, 7, 50, 1000])


def run_schedule(sched: Any) -> None:
    """Finite scalar values at a few steps, eagerly and with a traced step."""
    values = jnp.stack([jnp.asarray(sched(int(k))) for k in STEPS[:3]])
    assert_finite(values, (3,))
    assert_finite(jax.jit(jax.vmap(sched))(STEPS), STEPS.shape)


def run_plateau(plateau: Any) -> None:
    state = plateau.init(0.1)
    for metric in (1.0, 1.0, 2.0, 0.5):
        state = plateau.update(state, metric)
    assert_finite(state.lr, ())
    assert float(state.lr) >= 0


V = real(0.0, span=2.0)            # a learning rate value
STEP_N = integer(1)
MILESTONES = Arg(st.lists(st.integers(1, 30), min_size=1, max_size=3, unique=True).map(sorted),
                 {"decreasing": st.just([5, 2]), "negative": st.just([-1, 3]),
                  "float": st.just([1.5]), "str": st.just("5")})
SCHED = {
    "constant": Entry(nf.schedules.constant, dict(value=V), run_schedule, dict(value=0.1)),
    "step_decay": Entry(nf.schedules.step_decay, dict(init_value=V, step_size=STEP_N,
                                                      gamma=UNIT), run_schedule,
                        dict(init_value=0.1, step_size=3)),
    "multistep_decay": Entry(nf.schedules.multistep_decay, dict(
        init_value=V, milestones=MILESTONES, gamma=UNIT), run_schedule,
        dict(init_value=0.1, milestones=[2, 5])),
    "exponential_decay": Entry(nf.schedules.exponential_decay, dict(init_value=V, gamma=UNIT),
                               run_schedule, dict(init_value=0.1, gamma=0.9)),
    "time_based_decay": Entry(nf.schedules.time_based_decay, dict(init_value=V,
                                                                  decay_rate=NONNEG),
                              run_schedule, dict(init_value=0.1, decay_rate=0.1)),
    "lambda_schedule": Entry(nf.schedules.lambda_schedule, dict(
        init_value=V, fn=function_arg(lambda t: 0.9 ** t, lambda t: 1.0 / (1.0 + t))),
        run_schedule, dict(init_value=0.1, fn=lambda t: 0.9 ** t)),
    "constant_factor": Entry(nf.schedules.constant_factor, dict(
        init_value=V, factor=UNIT, total_iters=integer(0)), run_schedule,
        dict(init_value=0.1)),
    "linear": Entry(nf.schedules.linear, dict(
        init_value=V, start_factor=real(0.0, 1.0, lo_open=True), end_factor=UNIT,
        total_iters=integer(1)), run_schedule, dict(init_value=0.1)),
    "polynomial": Entry(nf.schedules.polynomial, dict(init_value=V, total_iters=integer(1),
                                                      power=NONNEG), run_schedule,
                        dict(init_value=0.1)),
    "cosine_annealing": Entry(nf.schedules.cosine_annealing, dict(
        init_value=V, T_max=STEP_N, eta_min=real(0.0, span=0.1)), run_schedule,
        dict(init_value=0.1, T_max=10)),
    "cosine_warm_restarts": Entry(nf.schedules.cosine_warm_restarts, dict(
        init_value=V, T_0=STEP_N, T_mult=integer(1), eta_min=real(0.0, span=0.1)),
        run_schedule, dict(init_value=0.1, T_0=5)),
    "cyclic": Entry(nf.schedules.cyclic, dict(
        base_lr=real(0.0, span=0.1), max_lr=real(0.0, span=1.0), step_size_up=STEP_N,
        step_size_down=integer(1, none_ok=True),
        mode=choice("triangular", "triangular2", "exp_range"), gamma=UNIT),
        run_schedule, dict(base_lr=0.01, max_lr=0.1)),
    "cyclic_momentum": Entry(nf.schedules.cyclic_momentum, dict(
        base_momentum=real(0.0, 0.8, skip=("above",)),
        max_momentum=real(0.8, span=0.2, skip=("below",)), step_size_up=STEP_N,
        mode=choice("triangular", "triangular2", "exp_range")), run_schedule),
    "one_cycle": Entry(nf.schedules.one_cycle, dict(
        max_lr=real(0.0, span=1.0), total_steps=integer(2),
        pct_start=real(0.0, 1.0, lo_open=True, hi_open=True),
        anneal_strategy=choice("cos", "linear"), div_factor=real(0.0, lo_open=True, span=50),
        # valid from 1e-3 on: 0.1 / 25 / 1e-300 is no float32 learning rate
        final_div_factor=real(0.0, lo_open=True, span=1e4)._replace(
            valid=st.floats(1e-3, 1e4)), three_phase=boolean()),
        run_schedule, dict(max_lr=0.1, total_steps=100),
        ok=lambda kw: not kw.get("three_phase") or kw.get("pct_start", 0.3) < 0.5),
    "one_cycle_momentum": Entry(nf.schedules.one_cycle_momentum, dict(
        total_steps=integer(2), pct_start=real(0.0, 1.0, lo_open=True, hi_open=True),
        anneal_strategy=choice("cos", "linear")), run_schedule, dict(total_steps=100)),
    "sequential": Entry(nf.schedules.sequential, dict(
        schedules=Arg(st.just([nf.schedules.constant(0.1), nf.schedules.constant(0.01)]),
                      {"not-schedule": st.just([0.1, "x"]), "empty": st.just([]),
                       "str": st.just("cosine")}),
        milestones=Arg(st.integers(1, 20).map(lambda m: [m]),
                       {"wrong-count": st.just([2, 4]), "negative": st.just([-3]),
                        "str": st.just("5"), "float": st.just([2.5])})),
        run_schedule, dict(schedules=[nf.schedules.constant(0.1),
                                      nf.schedules.constant(0.01)], milestones=[3])),
    "warmup": Entry(nf.schedules.warmup, dict(
        # a number is a constant schedule
        schedule=Arg(st.sampled_from([nf.schedules.constant(0.1), 0.1]),
                     {"str": st.just("cos"), "None": st.none(), "nan": st.just(NAN)}),
        warmup_steps=integer(0),
        init_value=V, strategy=choice("linear", "cos")), run_schedule,
        dict(schedule=nf.schedules.constant(0.1), warmup_steps=5)),
    "warmup_cosine": Entry(nf.schedules.warmup_cosine, dict(
        peak_value=V, warmup_steps=integer(0), total_steps=integer(20),
        init_value=real(0.0, span=0.1), end_value=real(0.0, span=0.1)), run_schedule,
        dict(peak_value=0.1, warmup_steps=5, total_steps=50)),
    "inverse_sqrt": Entry(nf.schedules.inverse_sqrt, dict(
        peak_value=V, warmup_steps=integer(1)), run_schedule,
        dict(peak_value=0.1, warmup_steps=5)),
    "warmup_stable_decay": Entry(nf.schedules.warmup_stable_decay, dict(
        peak_value=V, warmup_steps=integer(0), stable_steps=integer(0),
        decay_steps=integer(1), init_value=real(0.0, span=0.1), end_value=real(0.0, span=0.1),
        decay_strategy=choice("linear", "cos")), run_schedule,
        dict(peak_value=0.1, warmup_steps=2, stable_steps=3, decay_steps=4)),
    "reduce_on_plateau": Entry(nf.schedules.reduce_on_plateau, dict(
        mode=choice("min", "max"), factor=real(0.0, 1.0, hi_open=True),
        patience=integer(0), threshold=NONNEG, threshold_mode=choice("rel", "abs"),
        cooldown=integer(0), min_lr=real(0.0, span=0.01, skip=("list",)), eps=NONNEG), run_plateau),
}

ENTRIES = {f"schedules.{k}": v for k, v in SCHED.items()}
BAD_KINDS = bad_kinds(ENTRIES)


test_bad_argument_raises_naming_it, test_valid_arguments_give_finite_results = \
    property_tests(ENTRIES)
