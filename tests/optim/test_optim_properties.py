"""Property tests of the optimizers (issue 16 §2): the machinery is ``_property_kit``."""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from hypothesis import strategies as st

import nnfunc as nf
from _property_kit import (Arg, Entry, NONNEG, UNIT, UNIT_OPEN, assert_finite,
                           assert_finite_like, bad_kinds, boolean, integer, pair,
                           property_tests, real)


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


ENTRIES = {f"optim.{k}": v for k, v in OPTIM.items()}
BAD_KINDS = bad_kinds(ENTRIES)


test_bad_argument_raises_naming_it, test_valid_arguments_give_finite_results = \
    property_tests(ENTRIES)
