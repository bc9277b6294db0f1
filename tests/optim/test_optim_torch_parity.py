"""Optimizers with a torch.optim counterpart against torch (float64, params and state
slots): non-default hyperparameters, tiny gradients, schedules as LambdaLR, torch's
defaults, and the hyperparameters built as 0 (compiled out) yet settable."""
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from nnfunc.optim._slots import LazySlot

torch = pytest.importorskip("torch")

from _optim_cases import (  # noqa: E402
    CASES, IDS, P0, SHAPES, make_nf, run_parity, torch64)  # noqa: F401  (torch64: a fixture)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_parity_with_torch(case, x64, torch64):
    """Non-default hyperparameters; then (same compiled step, via set_hparams) a run with
    tiny gradients every third step and a large eps."""
    _, fn, cls, kw, tiny_kw = case
    opt = make_nf(fn, kw)
    for tiny in (False, True):
        err, state, _, compared = run_parity(fn, cls, kw, tiny=tiny, steps=50, opt=opt,
                                             overrides=tiny_kw if tiny else None)
        assert state.count.dtype == jnp.int32 and int(state.count) == 50
        if "momentum" in kw or fn != "sgd":
            assert compared >= len(SHAPES)
        assert err <= 1e-10, (tiny, err)


SCHEDULE_CASES = [c for c in CASES if c[0] in ("sgd_momentum", "adagrad", "rmsprop_centered",
                                              "adam", "adamw", "nadam_decoupled", "radam",
                                              "asgd", "rprop", "adafactor")]


@pytest.mark.parametrize("case", SCHEDULE_CASES, ids=[c[0] for c in SCHEDULE_CASES])
def test_schedule_matches_lambda_lr(case, x64, torch64):
    _, fn, cls, kw, _ = case
    err, state, used, _ = run_parity(fn, cls, kw, tiny=False, steps=25,
                                     schedule=lambda s: 0.9 ** s)
    assert err <= 1e-10
    np.testing.assert_allclose(used, [kw["lr"] * 0.9 ** k for k in range(25)], rtol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_defaults_are_torchs(case):
    _, fn, cls, _, _ = case
    if fn in ("momentum", "nesterov"):      # aliases with momentum=0.9
        assert inspect.signature(getattr(nf.optim, fn)).parameters["momentum"].default == 0.9
        return
    tsig = inspect.signature(getattr(torch.optim, cls).__init__).parameters
    nsig = inspect.signature(getattr(nf.optim, fn)).parameters
    skip = {"self", "params", "foreach", "maximize", "capturable", "differentiable", "fused"}
    for name, p in tsig.items():
        if name in skip:
            continue
        nname = "learning_rate" if name == "lr" else name
        assert nname in nsig, name
        default = nsig[nname].default
        assert tuple(default) == tuple(p.default) if isinstance(default, tuple) \
            else default == p.default, (name, default, p.default)
        if isinstance(p.default, bool):     # flags are keyword-only
            assert nsig[nname].kind is inspect.Parameter.KEYWORD_ONLY, name


DECAY_CASES = [c for c in CASES if c[3].get("weight_decay", 0) != 0
               and c[1] not in ("adamw", "asgd", "adafactor")]      # these default to != 0


@pytest.mark.parametrize("case", DECAY_CASES, ids=[c[0] for c in DECAY_CASES])
def test_weight_decay_is_a_hyperparameter_even_at_zero(case, x64, torch64):
    """Built with torch's default weight_decay=0, the decay is compiled out but still a
    hyperparameter: it reads 0, and setting it (the update compiles once more, with the
    term) reproduces torch built with the decay."""
    _, fn, cls, kw, _ = case
    wd = kw["weight_decay"]
    no_decay = {k: v for k, v in kw.items() if k != "weight_decay"}
    opt = make_nf(fn, no_decay)
    state = opt.init(P0)
    assert float(nf.optim.get_hparams(state)["weight_decay"]) == 0.0
    opt.update(P0, state)                   # no params needed while the decay is 0
    with pytest.raises(ValueError, match="weight_decay=.*needs the current params"):
        opt.update(P0, nf.optim.set_hparams(state, weight_decay=0.5))
    err, state, _, _ = run_parity(fn, cls, no_decay, tiny=False, steps=30, opt=opt,
                                  overrides={"weight_decay": wd})
    assert err <= 1e-10
    assert float(nf.optim.get_hparams(state)["weight_decay"]) == pytest.approx(wd)


def test_adagrad_lr_decay_is_a_hyperparameter_even_at_zero(x64, torch64):
    kw = dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)
    opt = nf.optim.adagrad(learning_rate=0.1, initial_accumulator_value=0.1)
    assert float(nf.optim.get_hparams(opt.init(P0))["lr_decay"]) == 0.0
    err, _, _, _ = run_parity("adagrad", "Adagrad", {k: v for k, v in kw.items()
                                                     if k != "lr_decay"},
                              tiny=False, steps=30, opt=opt, overrides={"lr_decay": 0.01})
    assert err <= 1e-10


# Every hyperparameter built as 0 is compiled out (stored as None, no term, no slot) yet
# settable: (id, builder, torch class, torch kwargs, the names left out at construction
# and given by set_hparams).
COMPILED_OUT = [
    ("sgd_momentum", "sgd", "SGD", dict(lr=0.05, momentum=0.8, dampening=0.3,
                                        weight_decay=0.01), ("momentum",)),
    ("sgd_momentum_no_dampening", "sgd", "SGD", dict(lr=0.05, momentum=0.9),
     ("momentum",)),
    ("sgd_momentum_and_decay", "sgd", "SGD", dict(lr=0.05, momentum=0.8, dampening=0.3,
                                                  weight_decay=0.01),
     ("momentum", "weight_decay")),
    ("rmsprop_momentum", "rmsprop", "RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6,
                                                    momentum=0.5), ("momentum",)),
    ("rmsprop_centered_momentum", "rmsprop", "RMSprop",
     dict(lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.01),
     ("momentum", "weight_decay")),
]


@pytest.mark.parametrize("case", COMPILED_OUT, ids=[c[0] for c in COMPILED_OUT])
def test_compiled_out_hyperparameters_are_settable(case, x64, torch64):
    """Built without them, they read 0 and their slot is lazy; given by set_hparams on the
    initial state, the run equals torch built with them."""
    _, fn, cls, kw, off = case
    built = {k: v for k, v in kw.items() if k not in off}
    opt = make_nf(fn, built)
    state = opt.init(P0)
    for name in off:
        assert state.hparams[name] is None
        assert float(nf.optim.get_hparams(state)[name]) == 0.0
    if "momentum" in off:
        assert all(isinstance(x, LazySlot) for x in jax.tree_util.tree_leaves(
            state.momentum_buffer, is_leaf=lambda x: isinstance(x, LazySlot)))
    values = {k: kw[k] for k in off}
    err, state, _, compared = run_parity(fn, cls, built, tiny=False, steps=30, opt=opt,
                                         overrides=values)
    assert err <= 1e-10
    assert compared >= len(SHAPES)          # the momentum buffers were compared too
    for name in off:
        assert float(nf.optim.get_hparams(state)[name]) == pytest.approx(kw[name])


def _zero_momentum_buffers(topt):
    """torch's RMSprop makes its buffer (zeros) only in its first step; switching momentum
    on later raises there, so give it the buffer it would have made."""
    for group in topt.param_groups:
        for p in group["params"]:
            topt.state[p].setdefault("momentum_buffer", torch.zeros_like(p))


@pytest.mark.parametrize("case", COMPILED_OUT, ids=[c[0] for c in COMPILED_OUT])
def test_compiled_out_hyperparameters_switched_on_mid_run(case, x64, torch64):
    """Set at step 7: as torch whose param groups get the values then. sgd's buffer is
    made from that step's gradient (b = g, no dampening), as torch makes it lazily."""
    _, fn, cls, kw, off = case
    built = {k: v for k, v in kw.items() if k not in off}
    err, state, _, compared = run_parity(
        fn, cls, built, tiny=False, steps=30, overrides={k: kw[k] for k in off},
        switch_at=7, on_switch=_zero_momentum_buffers if fn == "rmsprop" else None)
    assert err <= 1e-10
    assert compared >= len(SHAPES)


def test_adam_eps_zero_keeps_torch_parity():
    """torch accepts eps=0 (only eps < 0 raises), and a zero gradient at step 1 then gives
    0/0 = NaN there too: documented, not rejected."""
    opt = nf.optim.adam(eps=0.0)
    p = {"w": jnp.ones(2)}
    u, _ = opt.update({"w": jnp.zeros(2)}, opt.init(p), p)
    assert np.isnan(np.asarray(u["w"])).all()
    topt = torch.optim.Adam([torch.nn.Parameter(torch.ones(2))], eps=0.0)
    topt.param_groups[0]["params"][0].grad = torch.zeros(2)
    topt.step()
    assert torch.isnan(topt.param_groups[0]["params"][0]).all()
