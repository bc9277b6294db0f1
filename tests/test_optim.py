"""Optimizers with a torch.optim counterpart: parity with torch (float64, params and state
slots), defaults, convergence under jit, no recompilation, vmap over hyperparameters,
schedules, bfloat16, and bad input."""
import inspect
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from nnfunc.optim._base import LazySlot

torch = pytest.importorskip("torch")

SHAPES = {"a": (4, 3), "b": (3,), "c": (2, 2, 3)}   # c: a batched leaf for adafactor


def _init_params():
    rng = np.random.default_rng(0)
    return {k: rng.uniform(-1.5, 1.5, size=s) for k, s in SHAPES.items()}


def _grad(name, p, k, tiny):
    """A parameter-dependent gradient (numpy float64), the same for jax and torch."""
    g = 0.8 * p + 0.3 * np.sin(3 * p) + 0.1 * np.cos(k + np.arange(p.size).reshape(p.shape))
    if name == "c":
        g = g * (1 + p ** 2)
    if tiny and k % 3 == 0:
        g = g * 1e-9
    return g


# (id, nnfunc builder, torch class, kwargs with torch's names, overrides for the tiny run)
CASES = [
    ("sgd", "sgd", "SGD", dict(lr=0.05, weight_decay=0.1), {}),
    ("sgd_momentum", "sgd", "SGD", dict(lr=0.05, momentum=0.8, dampening=0.3,
                                        weight_decay=0.01), {}),
    ("sgd_nesterov", "sgd", "SGD", dict(lr=0.05, momentum=0.7, nesterov=True), {}),
    ("momentum", "momentum", "SGD", dict(lr=0.05, momentum=0.9), {}),
    ("nesterov", "nesterov", "SGD", dict(lr=0.05, momentum=0.9, nesterov=True,
                                         weight_decay=0.01), {}),
    ("adagrad", "adagrad", "Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.05,
                                           initial_accumulator_value=0.1, eps=1e-8),
     dict(eps=1.0)),
    ("adadelta", "adadelta", "Adadelta", dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.01),
     dict(eps=1.0)),
    ("rmsprop", "rmsprop", "RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.01),
     dict(eps=1.0)),
    ("rmsprop_centered", "rmsprop", "RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.5,
                                                    centered=True), dict(eps=1.0)),
    ("adam", "adam", "Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-7, weight_decay=0.01),
     dict(eps=1.0)),
    ("adam_amsgrad", "adam", "Adam", dict(lr=0.02, betas=(0.85, 0.95), amsgrad=True),
     dict(eps=1.0)),
    ("adamw", "adamw", "AdamW", dict(lr=0.02, betas=(0.8, 0.99), weight_decay=0.1),
     dict(eps=1.0)),
    ("adamw_amsgrad", "adamw", "AdamW", dict(lr=0.02, weight_decay=0.05, amsgrad=True),
     dict(eps=1.0)),
    ("adamax", "adamax", "Adamax", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6,
                                        weight_decay=0.01), dict(eps=1.0)),
    ("nadam", "nadam", "NAdam", dict(lr=0.01, betas=(0.8, 0.99), momentum_decay=0.01,
                                     weight_decay=0.01), dict(eps=1.0)),
    ("nadam_decoupled", "nadam", "NAdam", dict(lr=0.01, weight_decay=0.1,
                                               decoupled_weight_decay=True), dict(eps=1.0)),
    ("radam", "radam", "RAdam", dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.01),
     dict(eps=1.0)),
    ("radam_decoupled", "radam", "RAdam", dict(lr=0.01, betas=(0.85, 0.9), weight_decay=0.1,
                                               decoupled_weight_decay=True), dict(eps=1.0)),
    ("asgd", "asgd", "ASGD", dict(lr=0.05, lambd=1e-3, alpha=0.6, t0=10, weight_decay=0.01),
     {}),
    ("rprop", "rprop", "Rprop", dict(lr=0.01, etas=(0.4, 1.3), step_sizes=(1e-5, 0.5)), {}),
    ("adafactor", "adafactor", "Adafactor", dict(lr=0.05, beta2_decay=-0.7, eps=(1e-20, 1e-3),
                                                 d=1.5, weight_decay=0.01),
     dict(eps=(0.3, 1.0))),
    ("adafactor_default_eps", "adafactor", "Adafactor", dict(lr=0.05), {}),
]
IDS = [c[0] for c in CASES]


def _nf_kwargs(kw):
    out = dict(kw)
    if "lr" in out:
        out["learning_rate"] = out.pop("lr")
    return out


def _make_nf(fn, kw):
    kw = _nf_kwargs(kw)
    if fn == "momentum":
        kw.pop("momentum", None)
    if fn == "nesterov":
        kw.pop("nesterov")
    return getattr(nf.optim, fn)(**kw)


def _make_torch(cls, params, kw):
    return getattr(torch.optim, cls)(params, **kw)


def _rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = np.maximum(np.abs(a), np.abs(b))
    err = np.where(scale == 0, 0.0, np.abs(a - b) / np.where(scale == 0, 1.0, scale))
    return float(err.max()) if err.size else 0.0


def _run_parity(fn, cls, kw, *, tiny, steps, schedule=None, opt=None, overrides=None,
                switch_at=0, on_switch=None):
    """Run nnfunc and torch side by side: (max rel err, state, lrs used, slots compared).

    ``opt`` reuses a built optimizer (and its compiled step) with ``overrides`` applied to
    the initial state through ``set_hparams``; torch is built with ``kw | overrides``.
    With ``switch_at > 0`` the overrides come before that step instead: ``set_hparams``
    then, and torch's param groups are changed then (``on_switch(topt)`` may adjust
    torch's state too).
    """
    overrides = overrides or {}
    p0 = _init_params()
    names = sorted(p0)
    tp = [torch.tensor(p0[k], requires_grad=True) for k in names]
    topt = _make_torch(cls, tp, kw if switch_at else {**kw, **overrides})
    nkw = dict(kw)
    if schedule is not None:
        nkw["lr"] = lambda step, lr=kw["lr"]: lr * schedule(step)
        sched = torch.optim.lr_scheduler.LambdaLR(topt, schedule)
    opt = opt or _make_nf(fn, nkw)
    params = {k: jnp.asarray(v) for k, v in p0.items()}
    state = opt.init(params)
    if overrides and not switch_at:
        state = nf.optim.set_hparams(state, **overrides)
    used = []
    for k in range(steps):
        if overrides and switch_at and k == switch_at:
            state = nf.optim.set_hparams(state, **overrides)
            for group in topt.param_groups:
                group.update(overrides)
            if on_switch is not None:
                on_switch(topt)
        grads = {n: jnp.asarray(_grad(n, np.asarray(params[n]), k, tiny)) for n in names}
        updates, state = opt.update(grads, state, params)
        params = nf.optim.apply_updates(params, updates)
        used.append(float(nf.optim.get_hparams(state)["learning_rate"]))
        for n, t in zip(names, tp):
            t.grad = torch.tensor(_grad(n, t.detach().numpy(), k, tiny))
        topt.step()
        if schedule is not None:
            sched.step()
    err = max(_rel_err(params[n], t.detach().numpy()) for n, t in zip(names, tp))
    # state slots, under torch's names; scalar slots are per parameter in torch
    tstates = [topt.state[t] for t in tp]
    assert all(int(s["step"]) == int(state.count) for s in tstates if "step" in s)
    treedef = jax.tree_util.tree_structure(params)
    compared = 0
    for field in state._fields[2:]:
        slot = getattr(state, field)
        if slot is None or isinstance(slot, LazySlot):
            continue
        if field == "momentum_fresh":       # True exactly while torch has no buffer yet
            assert all(bool(slot) == ("momentum_buffer" not in ts) for ts in tstates)
            continue
        if isinstance(slot, jax.Array) and slot.ndim == 0 and len(names) > 1:
            leaves = [slot] * len(names)
        else:
            leaves = treedef.flatten_up_to(slot)
        for leaf, ts in zip(leaves, tstates):
            if leaf is None or isinstance(leaf, LazySlot):    # compiled out: no slot
                continue
            assert field in ts, f"torch has no state {field!r}"
            err = max(err, _rel_err(leaf, ts[field].detach().numpy()))
            compared += 1
    return err, state, used, compared


@pytest.fixture
def torch64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_parity_with_torch(case, x64, torch64):
    """Non-default hyperparameters; then (same compiled step, via set_hparams) a run with
    tiny gradients every third step and a large eps."""
    _, fn, cls, kw, tiny_kw = case
    opt = _make_nf(fn, kw)
    for tiny in (False, True):
        err, state, _, compared = _run_parity(fn, cls, kw, tiny=tiny, steps=50, opt=opt,
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
    err, state, used, _ = _run_parity(fn, cls, kw, tiny=False, steps=25,
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


# ---------------------------------------------------------------------------------------
# every counterpart under jit: convergence, no recompilation, vmap, bfloat16

def _ids(cases):
    return [c[0] for c in cases]


# (id, builder, kwargs with nnfunc names) tuned so that each converges in few steps
JIT_CASES = [
    ("sgd", nf.optim.sgd, dict(learning_rate=0.02)),
    ("sgd_wd", nf.optim.sgd, dict(learning_rate=0.02, weight_decay=1e-4)),
    ("momentum", nf.optim.momentum, dict(learning_rate=0.01)),
    ("nesterov", nf.optim.nesterov, dict(learning_rate=0.01)),
    ("adagrad", nf.optim.adagrad, dict(learning_rate=0.5)),
    ("adadelta", nf.optim.adadelta, dict(learning_rate=1.0)),
    ("rmsprop", nf.optim.rmsprop, dict(learning_rate=0.01, momentum=0.5, centered=True)),
    ("adam", nf.optim.adam, dict(learning_rate=0.05)),
    ("adam_amsgrad", nf.optim.adam, dict(learning_rate=0.05, amsgrad=True)),
    ("adamw", nf.optim.adamw, dict(learning_rate=0.05, weight_decay=1e-4)),
    ("adamax", nf.optim.adamax, dict(learning_rate=0.05)),
    ("nadam", nf.optim.nadam, dict(learning_rate=0.05)),
    ("radam", nf.optim.radam, dict(learning_rate=0.05)),
    ("asgd", nf.optim.asgd, dict(learning_rate=0.02)),
    ("rprop", nf.optim.rprop, dict(learning_rate=0.01)),
    ("adafactor", nf.optim.adafactor, dict(learning_rate=0.05)),
]
JIT_IDS = [c[0] for c in JIT_CASES]


def _quadratic(p):
    return 0.5 * jnp.sum(jnp.array([1.0, 3.0]) * p["x"] ** 2) + 0.5 * jnp.sum(p["m"] ** 2)


def _rosenbrock(p):
    x, y = p["x"][0], p["x"][1]
    return (1 - x) ** 2 + 10.0 * (y - x ** 2) ** 2 + 0.5 * jnp.sum((p["m"] - 1) ** 2)


def _run(opt, loss, params, steps, state=None):
    def body(carry, _):
        params, state = carry
        g = jax.grad(loss)(params)
        u, state = opt.update(g, state, params)
        return (nf.optim.apply_updates(params, u), state), None
    state = opt.init(params) if state is None else state
    (params, state), _ = jax.lax.scan(body, (params, state), None, length=steps)
    return params, state


P0 = {"x": jnp.array([-1.2, 1.0], jnp.float32), "m": jnp.full((2, 2), 0.5, jnp.float32)}


def _leaves(t):
    return jax.tree_util.tree_leaves(t)


@pytest.mark.parametrize("case", JIT_CASES, ids=JIT_IDS)
def test_converges_under_jit_and_vmap_over_learning_rate(case):
    """One program per optimizer: a quadratic and Rosenbrock, built with a traced
    learning rate; vmap over two learning rates equals the two separate runs (compared
    after 30 steps: float32 rounding differs between the two programs and Rosenbrock's
    valley amplifies it over a long run)."""
    _, build, kw = case

    def run(lr):
        opt = build(**{**kw, "learning_rate": lr})
        out = []
        for loss in (_quadratic, _rosenbrock):
            early, state = _run(opt, loss, P0, 30)
            out += [early, _run(opt, loss, early, 1470, state)[0]]
        return out
    lrs = jnp.array([1.0, 0.5], jnp.float32) * kw["learning_rate"]
    batched = jax.jit(jax.vmap(run))(lrs)
    single = jax.jit(run)
    for i in range(2):
        q30, q, r30, r = single(lrs[i])
        if i == 0:
            assert float(_quadratic(q)) < 1e-2 * float(_quadratic(P0))
            assert float(_rosenbrock(r)) < 1e-2 * float(_rosenbrock(P0))
        for a, b in zip(_leaves((batched[0], batched[2])), _leaves((q30, r30))):
            np.testing.assert_allclose(a[i], b, rtol=2e-5, atol=1e-6)
        assert not np.allclose(batched[0]["x"][0], batched[0]["x"][1])   # lr was used


@pytest.mark.parametrize("build", [nf.optim.adam, nf.optim.adamw, nf.optim.nadam,
                                   nf.optim.radam, nf.optim.adamax],
                         ids=["adam", "adamw", "nadam", "radam", "adamax"])
def test_vmap_over_betas(build):
    b1s = jnp.array([0.8, 0.95], jnp.float32)

    def run(b1):
        return _run(build(learning_rate=0.05, betas=(b1, 0.99)), _quadratic, P0, 30)[0]
    batched = jax.jit(jax.vmap(run))(b1s)
    single = jax.jit(run)
    outs = [single(b) for b in b1s]
    for i in range(2):
        np.testing.assert_allclose(batched["x"][i], outs[i]["x"], rtol=1e-5, atol=1e-6)
    assert not np.allclose(outs[0]["x"], outs[1]["x"])     # betas really were used


@pytest.mark.parametrize("case", JIT_CASES, ids=JIT_IDS)
def test_no_recompile_and_set_hparams(case):
    name, build, kw = case
    opt = build(**kw)
    traces = []

    @jax.jit
    def step(params, state):
        traces.append(1)
        g = jax.grad(_quadratic)(params)
        u, state = opt.update(g, state, params)
        return nf.optim.apply_updates(params, u), state, u

    state0 = opt.init(P0)
    params, state, u = step(P0, state0)
    for a, b in zip(_leaves(state0), _leaves(state)):     # float32 slots stay float32
        assert a.dtype == b.dtype and a.shape == b.shape
    assert all(x.dtype == jnp.float32 for x in _leaves(u))
    params, state, _ = step(params, state)
    state = nf.optim.set_hparams(state, learning_rate=0.5 * kw["learning_rate"])
    params, state, _ = step(params, state)
    assert len(traces) == 1
    assert float(nf.optim.get_hparams(state)["learning_rate"]) == pytest.approx(
        0.5 * kw["learning_rate"], rel=1e-6)
    # the new value is used: learning_rate 0 freezes the parameters (not so for rprop and
    # asgd, whose step sizes / eta are their own state after the first step, as in torch)
    if name not in ("rprop", "asgd"):
        frozen, _, _ = step(params, nf.optim.set_hparams(state, learning_rate=0.0))
        assert len(traces) == 1
        for a, b in zip(_leaves(frozen), _leaves(params)):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("case", JIT_CASES, ids=JIT_IDS)
def test_bfloat16_params(case):
    _, build, kw = case
    p0 = jax.tree_util.tree_map(lambda x: x.astype(jnp.bfloat16), P0)

    def loss(p):
        return _quadratic(jax.tree_util.tree_map(lambda x: x.astype(jnp.float32), p))
    params, state = jax.jit(lambda p: _run(build(**kw), loss, p, 100))(p0)
    for leaf in _leaves((params, tuple(state)[2:])):
        if leaf.ndim:                      # params and slots; scalar slots stay float32
            assert leaf.dtype == jnp.bfloat16
    assert all(v.dtype == jnp.float32 for v in _leaves(state.hparams))
    assert float(loss(params)) < 0.5 * float(loss(p0))


# ---------------------------------------------------------------------------------------
# bad input

BAD = [
    (nf.optim.sgd, dict(learning_rate=-1.0), "learning_rate"),
    (nf.optim.sgd, dict(momentum=-0.1), "momentum"),
    (nf.optim.sgd, dict(momentum=0.9, dampening=1.5), "dampening"),
    (nf.optim.sgd, dict(weight_decay=-1.0), "weight_decay"),
    (nf.optim.sgd, dict(nesterov=True), "nesterov"),
    (nf.optim.sgd, dict(momentum=0.9, dampening=0.1, nesterov=True), "nesterov"),
    (nf.optim.adagrad, dict(learning_rate=-0.1), "learning_rate"),
    (nf.optim.adagrad, dict(lr_decay=-0.1), "lr_decay"),
    (nf.optim.adagrad, dict(weight_decay=-0.1), "weight_decay"),
    (nf.optim.adagrad, dict(initial_accumulator_value=-0.1), "initial_accumulator_value"),
    (nf.optim.adagrad, dict(eps=-1e-3), "eps"),
    (nf.optim.adadelta, dict(rho=1.5), "rho"),
    (nf.optim.adadelta, dict(eps=-1.0), "eps"),
    (nf.optim.adadelta, dict(learning_rate=-1.0), "learning_rate"),
    (nf.optim.rmsprop, dict(alpha=-0.5), "alpha"),
    (nf.optim.rmsprop, dict(momentum=-0.5), "momentum"),
    (nf.optim.rmsprop, dict(eps=-0.5), "eps"),
    (nf.optim.rmsprop, dict(weight_decay=-0.5), "weight_decay"),
    (nf.optim.adam, dict(betas=(1.0, 0.999)), "betas[0]"),
    (nf.optim.adam, dict(betas=(0.9, -0.1)), "betas[1]"),
    (nf.optim.adam, dict(eps=-1.0), "eps"),
    (nf.optim.adam, dict(learning_rate=-1.0), "learning_rate"),
    (nf.optim.adam, dict(weight_decay=-1.0), "weight_decay"),
    (nf.optim.adamw, dict(weight_decay=-1.0), "weight_decay"),
    (nf.optim.adamw, dict(betas=(0.9, 1.0)), "betas[1]"),
    (nf.optim.adamax, dict(betas=(-0.1, 0.9)), "betas[0]"),
    (nf.optim.adamax, dict(eps=-1.0), "eps"),
    (nf.optim.nadam, dict(momentum_decay=-1.0), "momentum_decay"),
    (nf.optim.nadam, dict(betas=(1.5, 0.9)), "betas[0]"),
    (nf.optim.radam, dict(betas=(0.9, 1.5)), "betas[1]"),
    (nf.optim.radam, dict(eps=-1.0), "eps"),
    (nf.optim.asgd, dict(learning_rate=-1.0), "learning_rate"),
    (nf.optim.asgd, dict(lambd=-1.0), "lambd"),
    (nf.optim.asgd, dict(alpha=-1.0), "alpha"),
    (nf.optim.asgd, dict(t0=-1.0), "t0"),
    (nf.optim.asgd, dict(weight_decay=-1.0), "weight_decay"),
    (nf.optim.rprop, dict(learning_rate=-1.0), "learning_rate"),
    (nf.optim.rprop, dict(etas=(1.5, 1.2)), "etas[0]"),
    (nf.optim.rprop, dict(etas=(0.5, 0.9)), "etas[1]"),
    (nf.optim.rprop, dict(step_sizes=(-1.0, 1.0)), "step_sizes[0]"),
    (nf.optim.rprop, dict(step_sizes=(1.0, 0.5)), "step_sizes[1]"),
    (nf.optim.adafactor, dict(learning_rate=-1.0), "learning_rate"),
    (nf.optim.adafactor, dict(beta2_decay=0.5), "beta2_decay"),
    (nf.optim.adafactor, dict(eps=(-1.0, 1e-3)), "eps[0]"),
    (nf.optim.adafactor, dict(eps=(None, -1.0)), "eps[1]"),
    (nf.optim.adafactor, dict(d=0.5), "d"),
    (nf.optim.adafactor, dict(weight_decay=-1.0), "weight_decay"),
    # issue 16: non-finite values, rmsprop's alpha > 1, betas not a pair, negative schedules
    (nf.optim.sgd, dict(learning_rate=float("inf")), "learning_rate"),
    (nf.optim.adam, dict(learning_rate=float("nan")), "learning_rate"),
    (nf.optim.sgd, dict(momentum=float("inf")), "momentum"),
    (nf.optim.adam, dict(eps=float("inf")), "eps"),
    (nf.optim.rmsprop, dict(alpha=2.0), "alpha"),
    (nf.optim.adam, dict(betas=0.9), "betas"),
    (nf.optim.adam, dict(betas=(0.9, 0.99, 0.5)), "betas"),
    (nf.optim.nadam, dict(betas=(0.9,)), "betas"),
    (nf.optim.rprop, dict(etas=0.5), "etas"),
    (nf.optim.adafactor, dict(eps=1e-3), "eps"),
    (nf.optim.sgd, dict(learning_rate=lambda t: -0.1 + 0.0 * t), "learning_rate"),
    (nf.optim.sgd, dict(learning_rate=lambda t: jnp.inf + 0.0 * t), "learning_rate"),
]


@pytest.mark.parametrize("build,kwargs,name", BAD,
                         ids=[f"{b.__name__}-{n}-{i}" for i, (b, _, n) in enumerate(BAD)])
def test_invalid_hyperparameter(build, kwargs, name):
    with pytest.raises(ValueError, match=name.replace("[", r"\[").replace("]", r"\]")):
        build(**kwargs)


def test_set_hparams_validates_and_traced_values_pass():
    state = nf.optim.adam().init(P0)
    with pytest.raises(ValueError, match="learning_rate"):
        nf.optim.set_hparams(state, learning_rate=-1.0)
    with pytest.raises(ValueError, match="unknown"):
        nf.optim.set_hparams(state, momentum=0.9)
    # a tracer is not validated at construction
    out = jax.jit(lambda lr: nf.optim.adam(learning_rate=lr).init(P0).hparams["learning_rate"])
    assert float(out(-1.0)) == -1.0


@pytest.mark.parametrize("case", JIT_CASES, ids=JIT_IDS)
def test_structure_mismatch(case):
    _, build, kw = case
    opt = build(**kw)
    state = opt.init(P0)
    bad = {"x": P0["x"], "n": P0["m"]}
    with pytest.raises(ValueError, match="grads and params have different tree structures"):
        opt.update(bad, state, P0)


def test_params_required():
    for build in (nf.optim.asgd, nf.optim.adafactor, nf.optim.adamw):
        opt = build()
        with pytest.raises(ValueError, match="params"):
            opt.update(P0, opt.init(P0))


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
    opt = _make_nf(fn, no_decay)
    state = opt.init(P0)
    assert float(nf.optim.get_hparams(state)["weight_decay"]) == 0.0
    opt.update(P0, state)                   # no params needed while the decay is 0
    with pytest.raises(ValueError, match="weight_decay=.*needs the current params"):
        opt.update(P0, nf.optim.set_hparams(state, weight_decay=0.5))
    err, state, _, _ = _run_parity(fn, cls, no_decay, tiny=False, steps=30, opt=opt,
                                   overrides={"weight_decay": wd})
    assert err <= 1e-10
    assert float(nf.optim.get_hparams(state)["weight_decay"]) == pytest.approx(wd)


def test_adagrad_lr_decay_is_a_hyperparameter_even_at_zero(x64, torch64):
    kw = dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)
    opt = nf.optim.adagrad(learning_rate=0.1, initial_accumulator_value=0.1)
    assert float(nf.optim.get_hparams(opt.init(P0))["lr_decay"]) == 0.0
    err, _, _, _ = _run_parity("adagrad", "Adagrad", {k: v for k, v in kw.items()
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
    opt = _make_nf(fn, built)
    state = opt.init(P0)
    for name in off:
        assert state.hparams[name] is None
        assert float(nf.optim.get_hparams(state)[name]) == 0.0
    if "momentum" in off:
        assert all(isinstance(x, LazySlot) for x in jax.tree_util.tree_leaves(
            state.momentum_buffer, is_leaf=lambda x: isinstance(x, LazySlot)))
    values = {k: kw[k] for k in off}
    err, state, _, compared = _run_parity(fn, cls, built, tiny=False, steps=30, opt=opt,
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
    err, state, _, compared = _run_parity(
        fn, cls, built, tiny=False, steps=30, overrides={k: kw[k] for k in off},
        switch_at=7, on_switch=_zero_momentum_buffers if fn == "rmsprop" else None)
    assert err <= 1e-10
    assert compared >= len(SHAPES)


def test_sgd_momentum_can_be_set_after_building_without_it():
    """``set_hparams(sgd(lr).init(p), momentum=0.9)`` used to raise "unknown
    hyperparameter"; it now makes the buffer and steps exactly as ``sgd(lr, momentum=0.9)``,
    with one more compilation, and the state keeps its structure from then on."""
    opt = nf.optim.sgd(0.1)
    state = opt.init(P0)
    hp = nf.optim.get_hparams(state)
    assert float(hp["momentum"]) == 0.0 and float(hp["dampening"]) == 0.0
    traces = []

    @jax.jit
    def step(params, state):
        traces.append(1)
        u, state = opt.update(jax.grad(_quadratic)(params), state, params)
        return nf.optim.apply_updates(params, u), state

    ref = nf.optim.sgd(0.1, momentum=0.9)

    @jax.jit
    def ref_step(params, state):
        u, state = ref.update(jax.grad(_quadratic)(params), state, params)
        return nf.optim.apply_updates(params, u), state

    params, state = step(P0, state)
    assert len(traces) == 1
    state = nf.optim.set_hparams(state, momentum=0.9)
    structure = jax.tree_util.tree_structure(state)
    ref_params, ref_state = params, ref.init(params)
    for _ in range(5):
        params, state = step(params, state)
        ref_params, ref_state = ref_step(ref_params, ref_state)
        assert jax.tree_util.tree_structure(state) == structure
        for a, b in zip(_leaves((params, state.momentum_buffer)),
                        _leaves((ref_params, ref_state.momentum_buffer))):
            np.testing.assert_array_equal(a, b)
    assert len(traces) == 2                 # one more compilation, for the momentum term
    params, state = step(params, nf.optim.set_hparams(state, momentum=0.5, dampening=0.1))
    assert len(traces) == 2                 # from then on, adjustable without recompiling
    assert not bool(state.momentum_fresh)


def test_compiled_out_momentum_can_be_swept_in_one_program():
    """set_hparams inside a jitted vmap, then a scan of steps (as ``sweep`` and
    ``make_epoch`` do): the state's structure is fixed before the scan."""
    for build in (lambda **k: nf.optim.sgd(0.02, **k),
                  lambda **k: nf.optim.rmsprop(0.01, centered=True, **k)):
        opt = build()

        def run(mu):
            state = nf.optim.set_hparams(opt.init(P0), momentum=mu)
            return _run(opt, _quadratic, P0, 30, state)[0]
        mus = jnp.array([0.0, 0.9], jnp.float32)
        batched = jax.jit(jax.vmap(run))(mus)
        # the references are built with a traced momentum: not compiled out
        single = jax.jit(lambda mu: _run(build(momentum=mu), _quadratic, P0, 30)[0])
        for i in range(2):
            for a, b in zip(_leaves(batched), _leaves(single(mus[i]))):
                np.testing.assert_allclose(a[i], b, rtol=2e-5, atol=1e-6)
        assert not np.allclose(batched["x"][0], batched["x"][1])


# ---------------------------------------------------------------------------------------
# issue 16: no silent wrong results

SET_BAD = [
    (nf.optim.sgd(0.1), dict(learning_rate=float("inf")), "learning_rate"),
    (nf.optim.adam(), dict(betas=(0.9, 0.99, 0.5)), "betas"),
    (nf.optim.adam(), dict(betas=0.9), "betas"),
    (nf.optim.rmsprop(), dict(alpha=2.0), "alpha"),
    (nf.optim.chain(nf.optim.clip_by_global_norm(1.0), nf.optim.rmsprop()), dict(alpha=1.5),
     "alpha"),
    (nf.optim.adam(nf.schedules.cosine_annealing(1e-3, 80)), dict(learning_rate=1e-2),
     "lr_scale"),
]


@pytest.mark.parametrize("opt,values,name", SET_BAD,
                         ids=[f"{n}-{i}" for i, (_, _, n) in enumerate(SET_BAD)])
def test_set_hparams_rejects_what_would_silently_be_wrong(opt, values, name):
    with pytest.raises(ValueError, match=name):
        nf.optim.set_hparams(opt.init(P0), **values)


def test_asgd_alpha_keeps_torchs_range():
    """rmsprop's stricter alpha rule is its own: asgd's alpha (a power) may exceed 1."""
    s = nf.optim.set_hparams(nf.optim.asgd(alpha=1.5).init(P0), alpha=2.0)
    assert float(s.hparams["alpha"]) == 2.0


def test_schedule_lr_scale_is_settable_where_learning_rate_is_not():
    s = nf.optim.adam(nf.schedules.constant(0.1)).init(P0)
    assert float(nf.optim.set_hparams(s, lr_scale=0.5).hparams["lr_scale"]) == 0.5


@pytest.mark.parametrize("case", JIT_CASES, ids=JIT_IDS)
def test_grad_leaf_of_another_shape_is_rejected(case):
    """sgd on w (3, 1) with g (3,) used to give a (3, 3) parameter by broadcasting."""
    _, build, kw = case
    opt = build(**kw)
    params = {"w": jnp.ones((3, 1))}
    with pytest.raises(ValueError, match=r"shape at \['w'\]: grads \(3,\), params \(3, 1\)"):
        opt.update({"w": jnp.ones(3)}, opt.init(params), params)


def test_apply_updates_rejects_updates_of_another_shape():
    with pytest.raises(ValueError, match=r"\['w'\].*\(3, 1\).*\(3,\)"):
        nf.optim.apply_updates({"w": jnp.ones((3, 1))}, {"w": jnp.ones(3)})


@pytest.mark.parametrize("dtype", [jnp.int32, jnp.bool_, jnp.uint8])
@pytest.mark.parametrize("case", JIT_CASES[:1] + JIT_CASES[7:8], ids=["sgd", "adam"])
def test_non_float_parameters_are_rejected(case, dtype):
    _, build, kw = case
    with pytest.raises(TypeError, match=r"parameter \['n'\] must have a floating dtype"):
        build(**kw).init({"x": jnp.ones(2), "n": jnp.ones(2, dtype)})
    # a wrapper that leaves them out (masked, partition) accepts them
    opt = nf.optim.masked(build(**kw), {"x": True, "n": False})
    opt.init({"x": jnp.ones(2), "n": jnp.ones(2, dtype)})


def test_numpy_scalar_hyperparameters_are_accepted():
    opt = nf.optim.adam(np.float32(0.01), betas=(np.float32(0.5), np.float64(0.9)),
                        eps=np.float32(1e-8))
    s = nf.optim.set_hparams(opt.init(P0), learning_rate=np.float32(0.02))
    assert float(s.hparams["learning_rate"]) == pytest.approx(0.02)


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


@pytest.mark.parametrize("build", [
    lambda: nf.optim.adam(1e-2), lambda: nf.optim.adamw(1e-2, amsgrad=True),
    lambda: nf.optim.radam(1e-2), lambda: nf.optim.lamb(1e-2, weight_decay=0.1)],
    ids=["adam", "adamw-amsgrad", "radam", "lamb"])
def test_stacked_bias_corrections_give_the_same_bits(build, monkeypatch):
    """``_base.bias_corrections`` as one vector power (a GPU kernel layout, off by default)
    computes what the scalar powers do, jitted and vmapped over the learning rate."""
    base = sys.modules["nnfunc.optim._base"]
    p = {"w": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4), "b": jnp.arange(4.0)}

    def run(opt, lr):
        s = nf.optim.set_hparams(opt.init(p), learning_rate=lr)
        q = p
        for i in range(12):        # past torch's RAdam rectification threshold (step 6)
            g = jax.tree_util.tree_map(lambda a: jnp.sin(a * (i + 1)), q)
            u, s = opt.update(g, s, q)
            q = nf.optim.apply_updates(q, u)
        return q
    lrs = jnp.asarray([1e-3, 1e-2, 1e-1])
    outs = {}
    for stacked in (False, True):
        monkeypatch.setattr(base, "_STACKED_BIAS_CORRECTIONS", stacked)
        opt = build()           # a new optimizer: its jitted update traces the form anew
        fresh = lambda lr, opt=opt: run(opt, lr)        # noqa: E731
        text = str(jax.make_jaxpr(fresh)(lrs[1]))
        assert ("stack[" in text or "concatenate" in text) == stacked
        outs[stacked] = (jax.jit(fresh)(lrs[1]), jax.jit(jax.vmap(fresh))(lrs))
    for a, b in zip(jax.tree_util.tree_leaves(outs[True]), jax.tree_util.tree_leaves(outs[False])):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(outs[True][0]["w"], p["w"])       # it did train
