"""Property tests (issue 16 §2): every public constructor and ``fit``/``sweep``/``evaluate``
/``predict`` over generated arguments, valid and invalid.

The property: a call either raises ``ValueError``/``TypeError`` naming the argument (for a
drawn invalid value: always; a silent accept fails), or succeeds and a small forward pass,
update or evaluation gives finite values of the right shape (for valid draws: always).

Each area keeps a registry (``ENTRIES``): per callable, per argument, one hypothesis
strategy of valid values and a dict ``{class of bad value: strategy}``. A *kind of bad
input* is one ``(callable, argument, class)`` triple of a registry; ``test_kinds_count``
adds the areas up (goal of the issue: >= 150). This file holds the machinery and the
optimizers and schedules; ``test_properties_layers.py`` (layers, models, losses) and
``test_properties_train.py`` (data, train, text) hold the other areas.

Hypothesis runs derandomized (the same examples on every run) with few examples each,
on tiny arrays, so the three files run in well under 90 s on a loaded 2-core CPU.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings, strategies as st

import nnfunc as nf

NAN, INF = float("nan"), float("inf")

# derandomize: CI sees the same examples every run; no database of past failures
# no shrinking: a failure is reported as drawn (each draw is labelled), and fast
_COMMON = dict(deadline=None, derandomize=True, database=None,
               suppress_health_check=list(HealthCheck),
               phases=(Phase.explicit, Phase.reuse, Phase.generate))
BAD_SETTINGS = settings(max_examples=4, **_COMMON)
VALID_SETTINGS = settings(max_examples=6, **_COMMON)


# ------------------------------------------------------------------------ argument kinds

class Arg(NamedTuple):
    """One argument: a strategy of valid values and ``{class name: strategy}`` of bad ones.
    ``name``: the text the error must contain (the argument's name by default)."""
    valid: st.SearchStrategy
    bad: dict
    name: Optional[str] = None


def _with_numpy(s: st.SearchStrategy, cast: Callable) -> st.SearchStrategy:
    """Python numbers and NumPy scalars of them (NumPy scalars are valid everywhere)."""
    return st.one_of(s, s.map(cast))


def real(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
         hi_open: bool = False, none_ok: bool = False, span: float = 10.0,
         extra: dict | None = None, skip: tuple = ()) -> Arg:
    """A finite real number in the given interval; bad: outside it, NaN, +-inf, a string,
    a list of valid numbers, None (unless allowed)."""
    vlo = lo if lo is not None else -span
    vhi = hi if hi is not None else vlo + span
    valid = _with_numpy(st.floats(vlo, vhi, exclude_min=lo_open and lo is not None,
                                  exclude_max=hi_open and hi is not None), np.float64)
    bad = {"nan": st.just(NAN), "inf": st.sampled_from([INF, -INF]),
           "str": st.sampled_from(["0.1", "fast"]),
           "list": st.lists(st.floats(vlo, vhi, exclude_min=True, exclude_max=True),
                            min_size=2, max_size=3)}
    if not none_ok:
        bad["None"] = st.none()
    if lo is not None:
        bad["below"] = st.floats(lo - 1e3, lo, exclude_max=not lo_open)
    if hi is not None:
        bad["above"] = st.floats(hi, hi + 1e3, exclude_min=not hi_open)
    bad.update(extra or {})
    for k in skip:
        bad.pop(k)
    return Arg(valid, bad)


def integer(lo: int = 0, hi: int | None = None, *, cap: int | None = None,
            none_ok: bool = False, skip: tuple = ()) -> Arg:
    """An int in ``[lo, hi]`` (NumPy ints valid; valid draws stop at ``cap``, to keep
    shapes small); bad: out of range, a non-integral float, a bool, a string, NaN, None
    (unless allowed)."""
    vhi = hi if hi is not None else cap if cap is not None else lo + 6
    valid = _with_numpy(st.integers(lo, vhi), np.int64)
    bad = {"below": st.integers(lo - 50, lo - 1), "float": st.floats(0.5, 20.0).filter(
               lambda v: not float(v).is_integer()),
           "bool": st.booleans(), "str": st.sampled_from(["3", "many"]), "nan": st.just(NAN)}
    if not none_ok:
        bad["None"] = st.none()
    if hi is not None:
        bad["above"] = st.integers(hi + 1, hi + 50)
    for k in skip:
        bad.pop(k)
    return Arg(valid, bad)


def boolean() -> Arg:
    """True/False (NumPy bools valid); bad: a string ('no' reads as True), an int, None."""
    return Arg(_with_numpy(st.booleans(), np.bool_),
               {"str": st.sampled_from(["no", "yes"]), "int": st.sampled_from([0, 1]),
                "None": st.none()})


def choice(*options: Any, none_ok: bool = False) -> Arg:
    bad = {"unknown": st.sampled_from(["bogus", "other"]), "int": st.just(1)}
    if not none_ok:
        bad["None"] = st.none()
    return Arg(st.sampled_from(options), bad)


def pair(elem: Arg, ok: Callable[[tuple], bool] = lambda p: True, *,
         elem_kinds: tuple = ("below", "above", "nan"), scalar_bad: bool = True) -> Arg:
    """A 2-tuple (or list) of ``elem`` values with ``ok(pair)``; bad: a wrong length, a
    string, a bare scalar, and the first or second entry of a bad class of ``elem``."""
    valid = st.tuples(elem.valid, elem.valid).filter(ok)
    valid = st.one_of(valid, valid.map(list))
    bad = {"wrong-length": st.one_of(st.tuples(elem.valid),
                                     st.tuples(elem.valid, elem.valid, elem.valid)),
           "str": st.just("ab")}
    if scalar_bad:
        bad["scalar"] = elem.valid
    for k in elem_kinds:
        if k in elem.bad:
            bad[f"first-{k}"] = st.tuples(elem.bad[k], elem.valid)
            bad[f"second-{k}"] = st.tuples(elem.valid, elem.bad[k])
    return Arg(valid, bad)


def function_arg(*valid: Callable) -> Arg:
    return Arg(st.sampled_from(valid), {"not-callable": st.sampled_from([3, "relu"]),
                                        "None": st.none()})


class Entry(NamedTuple):
    """A public callable: ``build(**kwargs)`` with ``base`` kwargs and the ``args`` drawn;
    ``run(result)`` checks a valid result (finite values of the right shape); ``ok(kwargs)``
    is a joint constraint among valid values (hypothesis ``assume``s it)."""
    build: Callable
    args: dict
    run: Callable = lambda result: None
    base: dict = {}
    ok: Callable = lambda kwargs: True
    raises: tuple = (ValueError, TypeError)
    examples: Optional[int] = None      # max_examples of the valid property, if not 6


def bad_kinds(entries: dict) -> list[tuple[str, str, str]]:
    """Every ``(callable, argument, class of bad value)`` of a registry."""
    return [(e, a, k) for e, entry in entries.items() for a, arg in entry.args.items()
            for k in arg.bad]


def check_bad(entry: Entry, arg: str, kind: str, data: Any, *, guard: Callable = None) -> None:
    """Draw a bad value of ``kind`` for ``arg``: the call must raise, naming the argument."""
    spec = entry.args[arg]
    value = data.draw(spec.bad[kind], label=f"{arg} ({kind})")
    kwargs = {**entry.base, arg: value}
    try:
        if guard is None:
            entry.build(**kwargs)
        else:
            with guard():
                entry.build(**kwargs)
    except entry.raises as err:
        assert (spec.name or arg) in str(err), \
            f"the error for {arg}={value!r} does not name {spec.name or arg!r}: {err}"
    else:
        pytest.fail(f"{arg}={value!r} ({kind}) was accepted silently")


def check_valid(entry: Entry, data: Any) -> None:
    """Draw every argument from its valid strategy: the call succeeds and ``run`` passes."""
    kwargs = dict(entry.base)
    for arg, spec in entry.args.items():
        if data.draw(st.booleans(), label=f"draw {arg}"):
            kwargs[arg] = data.draw(spec.valid, label=arg)
    assume(entry.ok(kwargs))
    entry.run(entry.build(**kwargs))


def assert_finite_like(tree: Any, like: Any) -> None:
    """Same tree structure and leaf shapes as ``like``, every leaf finite."""
    assert jax.tree_util.tree_structure(tree) == jax.tree_util.tree_structure(like)
    for a, b in zip(jax.tree_util.tree_leaves(tree), jax.tree_util.tree_leaves(like)):
        assert jnp.shape(a) == jnp.shape(b)
        assert bool(jnp.all(jnp.isfinite(a))), a


def assert_finite(x: Any, shape: tuple | None = None) -> None:
    for leaf in jax.tree_util.tree_leaves(x):
        if jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.inexact):
            assert bool(jnp.all(jnp.isfinite(leaf))), leaf
    if shape is not None:
        assert tuple(jnp.shape(x)) == tuple(shape), (jnp.shape(x), shape)


# ------------------------------------------------------------------------ optimizers

P = {"w": jnp.array([[0.5, -1.0], [2.0, 0.25]]), "b": jnp.array([0.1, -0.3])}
G = {"w": jnp.array([[0.1, -0.2], [0.3, 0.05]]), "b": jnp.array([-0.1, 0.2])}


def run_opt(opt: Any) -> None:
    """Two updates on a tiny pytree: finite updates shaped like the params."""
    state = opt.init(P)
    params = P
    for _ in range(2):
        updates, state = opt.update(G, state, params)
        assert_finite_like(updates, P)
        params = nf.optim.apply_updates(params, updates)


LR = real(0.0, span=2.0, extra={"below": st.floats(-1e3, -1e-6),
                                 "negative-schedule": st.just(lambda t: -0.1 + 0.0 * t),
                           "nan-schedule": st.just(lambda t: jnp.nan + 0.0 * t)})
LR = LR._replace(valid=st.one_of(LR.valid, st.just(nf.schedules.cosine_annealing(0.1, 10))))
NONNEG = real(0.0, span=5.0)
POSITIVE = real(0.0, lo_open=True, span=5.0)
UNIT = real(0.0, 1.0)
UNIT_OPEN = real(0.0, 1.0, hi_open=True)
BETAS = pair(UNIT_OPEN)
OPT = Arg(st.sampled_from([nf.optim.sgd(0.1), nf.optim.adam(0.01)]),
          {"str": st.just("adam"), "None": st.none(), "function": st.just(lambda g: g),
           "class": st.just(nf.optim.adam)})
ADAM_LIKE = dict(learning_rate=LR, betas=BETAS, eps=NONNEG, weight_decay=NONNEG)


def _opt_entry(build, args, base=None, ok=lambda kw: True):
    return Entry(build, args, run_opt, base or {}, ok)


def _sgd_ok(kw):
    return not kw.get("nesterov") or (kw.get("momentum", 0.0) > 0
                                      and kw.get("dampening", 0.0) == 0)


OPTIM = {
    "sgd": _opt_entry(nf.optim.sgd, dict(learning_rate=LR, momentum=NONNEG, dampening=UNIT,
                                         weight_decay=NONNEG, nesterov=boolean()),
                      ok=_sgd_ok),
    "momentum": _opt_entry(nf.optim.momentum, dict(learning_rate=LR, momentum=NONNEG,
                                                   dampening=UNIT, weight_decay=NONNEG)),
    "nesterov": _opt_entry(nf.optim.nesterov, dict(learning_rate=LR, weight_decay=NONNEG,
                                                   momentum=real(0.0, lo_open=True,
                                                                 span=5.0))),
    "adagrad": _opt_entry(nf.optim.adagrad, dict(
        learning_rate=LR, lr_decay=NONNEG, weight_decay=NONNEG,
        initial_accumulator_value=NONNEG, eps=NONNEG)),
    "adadelta": _opt_entry(nf.optim.adadelta, dict(learning_rate=LR, rho=UNIT, eps=NONNEG,
                                                   weight_decay=NONNEG)),
    "rmsprop": _opt_entry(nf.optim.rmsprop, dict(
        learning_rate=LR, alpha=UNIT, eps=NONNEG, weight_decay=NONNEG, momentum=NONNEG,
        centered=boolean()), ok=lambda kw: not (kw.get("centered") and kw.get("alpha") == 1
                                                and kw.get("eps", 1) == 0)),
    "adam": _opt_entry(nf.optim.adam, dict(ADAM_LIKE, amsgrad=boolean(),
                                           decoupled_weight_decay=boolean())),
    "adamw": _opt_entry(nf.optim.adamw, dict(ADAM_LIKE, amsgrad=boolean())),
    "adamax": _opt_entry(nf.optim.adamax, dict(ADAM_LIKE)),
    "nadam": _opt_entry(nf.optim.nadam, dict(ADAM_LIKE, momentum_decay=NONNEG,
                                             decoupled_weight_decay=boolean())),
    "radam": _opt_entry(nf.optim.radam, dict(ADAM_LIKE, decoupled_weight_decay=boolean())),
    "asgd": _opt_entry(nf.optim.asgd, dict(learning_rate=LR, lambd=NONNEG, alpha=NONNEG,
                                           t0=NONNEG, weight_decay=NONNEG)),
    "rprop": _opt_entry(nf.optim.rprop, dict(
        learning_rate=LR,
        etas=pair(real(0.0, lo_open=True, span=3.0), lambda p: 0 < p[0] < 1 < p[1]),
        step_sizes=pair(NONNEG, lambda p: p[0] <= p[1]))),
    "adafactor": _opt_entry(nf.optim.adafactor, dict(
        learning_rate=LR, beta2_decay=real(hi=0.0), d=real(1.0, span=5.0),
        eps=pair(real(0.0, 1.0, none_ok=True), elem_kinds=("below", "nan")),
        weight_decay=NONNEG)),
    "lion": _opt_entry(nf.optim.lion, dict(learning_rate=LR, betas=BETAS, weight_decay=NONNEG)),
    "lamb": _opt_entry(nf.optim.lamb, dict(ADAM_LIKE)),
    "lars": _opt_entry(nf.optim.lars, dict(learning_rate=LR, momentum=NONNEG,
                                           weight_decay=NONNEG, trust_coefficient=NONNEG,
                                           eps=NONNEG, nesterov=boolean()),
                       ok=lambda kw: not kw.get("nesterov") or kw.get("momentum", 0.9) > 0),
    "clip_by_global_norm": _opt_entry(nf.optim.clip_by_global_norm,
                                      dict(max_norm=NONNEG), base=dict(max_norm=1.0)),
    # clip_value may be an array (per-entry bounds): no "list" kind
    "clip_by_value": _opt_entry(nf.optim.clip_by_value,
                                dict(clip_value=real(0.0, span=5.0, skip=("list",))),
                                base=dict(clip_value=1.0)),
    "add_noise": _opt_entry(nf.optim.add_noise, dict(eta=NONNEG, gamma=NONNEG),
                            base=dict(key=jax.random.key(0))),
    "accumulate": _opt_entry(nf.optim.accumulate, dict(opt=OPT, every_k=integer(1)),
                             base=dict(opt=nf.optim.sgd(0.1), every_k=2)),
    "skip_nonfinite": _opt_entry(nf.optim.skip_nonfinite, dict(opt=OPT),
                                 base=dict(opt=nf.optim.sgd(0.1))),
    "lookahead": _opt_entry(nf.optim.lookahead, dict(opt=OPT, k=integer(1), alpha=UNIT),
                            base=dict(opt=nf.optim.sgd(0.1))),
    "swa": _opt_entry(nf.optim.swa, dict(opt=OPT, start=integer(0), every=integer(1)),
                      base=dict(opt=nf.optim.sgd(0.1))),
    "ema": _opt_entry(nf.optim.ema, dict(opt=OPT, decay=UNIT, start=integer(0),
                                         every=integer(1)),
                      base=dict(opt=nf.optim.sgd(0.1))),
    "masked": _opt_entry(nf.optim.masked, dict(
        opt=OPT, mask=Arg(st.sampled_from([{"w": True, "b": False}, lambda p: {"w": True,
                                                                                 "b": True}]),
                          {"wrong-structure": st.just({"w": True}), "str": st.just("w")})),
        base=dict(opt=nf.optim.sgd(0.1), mask={"w": True, "b": False})),
}
# chain and partition take their optimizers positionally / as a mapping
OPTIM["chain"] = Entry(lambda opts: nf.optim.chain(*opts),
                       dict(opts=Arg(st.just((nf.optim.clip_by_global_norm(1.0),
                                              nf.optim.sgd(0.1))),
                                     {"str": st.just(("sgd",)), "None": st.just((None,)),
                                      "function": st.just((lambda g: g,))},
                                     name="chain")), run_opt,
                       dict(opts=(nf.optim.sgd(0.1),)))
OPTIM["partition"] = Entry(nf.optim.partition, dict(
    labels=Arg(st.just({"w": "a", "b": "b"}),
               {"unknown-label": st.just({"w": "a", "b": "zzz"}),
                "wrong-structure": st.just({"w": "a"})}),
    optimizers=Arg(st.just({"a": nf.optim.sgd(0.1), "b": nf.optim.adam(0.01)}),
                   {"not-optimizer": st.just({"a": "sgd", "b": nf.optim.adam(0.01)}),
                    "not-mapping": st.just([nf.optim.sgd(0.1)])})),
    run_opt, dict(labels={"w": "a", "b": "b"},
                  optimizers={"a": nf.optim.sgd(0.1), "b": nf.optim.adam(0.01)}))


def _partition_lazy(**kw):
    """partition validates labels against the params in ``init``: count that as the call."""
    opt = nf.optim.partition(**kw)
    return opt.init(P)


# partition can only compare labels with the params in init: build and init in one call
OPTIM["partition"] = OPTIM["partition"]._replace(
    build=_partition_lazy, run=lambda s: assert_finite(s))
# masked likewise compares its mask with the params in init
OPTIM["masked"] = OPTIM["masked"]._replace(
    build=lambda **kw: (nf.optim.masked(**kw), nf.optim.masked(**kw).init(P))[0])


# set_hparams: a bad value of a hyperparameter set into an existing state
def _set_hparams(opt_name: str):
    state = {"sgd": nf.optim.sgd(0.1, momentum=0.9), "adam": nf.optim.adam(0.01)}[opt_name]
    state = state.init(P)

    def build(**kw):
        return nf.optim.set_hparams(state, **kw)
    return build


# set_hparams takes arrays (sweep sets one value per run): no "list" kind
_SET = dict(span=5.0, skip=("list",))
OPTIM["set_hparams(sgd)"] = Entry(_set_hparams("sgd"), dict(
    learning_rate=real(0.0, **_SET), momentum=real(0.0, **_SET),
    weight_decay=real(0.0, **_SET), dampening=real(0.0, 1.0, **_SET)),
    lambda s: assert_finite(nf.optim.get_hparams(s)))
OPTIM["set_hparams(adam)"] = Entry(_set_hparams("adam"), dict(
    learning_rate=real(0.0, **_SET), betas=BETAS, eps=real(0.0, **_SET)),
    lambda s: assert_finite(nf.optim.get_hparams(s)))


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

ENTRIES = {**{f"optim.{k}": v for k, v in OPTIM.items()},
           **{f"schedules.{k}": v for k, v in SCHED.items()}}
BAD_KINDS = bad_kinds(ENTRIES)


def valid_settings(entry: Entry) -> settings:
    return VALID_SETTINGS if entry.examples is None else settings(
        VALID_SETTINGS, max_examples=entry.examples)


def prop(check: Callable, settings_: settings, *args: Any, **kwargs: Any) -> None:
    """Run ``check(*args, data, **kwargs)`` as a hypothesis property.

    The ``@given`` function is built inside each parametrized test: decorating the
    parametrized test itself makes the hypothesis pytest plugin re-wrap one shared
    settings object per parameter, a chain that grows until it overflows the stack
    after a few hundred parameters (and slows every example down on the way)."""
    @settings_
    @given(data=st.data())
    def run(data):
        check(*args, data, **kwargs)
    run()


@pytest.mark.parametrize("entry,arg,kind", BAD_KINDS, ids=["-".join(k) for k in BAD_KINDS])
def test_bad_argument_raises_naming_it(entry, arg, kind):
    prop(check_bad, BAD_SETTINGS, ENTRIES[entry], arg, kind)


@pytest.mark.parametrize("entry", list(ENTRIES))
def test_valid_arguments_give_finite_results(entry):
    prop(check_valid, valid_settings(ENTRIES[entry]), ENTRIES[entry])


def test_kinds_count():
    """The kinds of bad input the property tests cover, over all areas (issue 16: >= 150)."""
    import test_properties_layers as layers_area
    import test_properties_train as train_area
    areas = {"optim+schedules": BAD_KINDS, "layers+models+losses": layers_area.BAD_KINDS,
             "data+train+text": train_area.BAD_KINDS}
    total = sum(len(v) for v in areas.values())
    print(f"kinds of bad input: {total} ("
          + ", ".join(f"{k} {len(v)}" for k, v in areas.items()) + ")")
    assert len(set().union(*map(set, areas.values()))) == total   # no kind counted twice
    assert total >= 150
