"""What the optimizer tests share: the torch-parity table and its runner (nnfunc and
torch.optim side by side, float64, params and state slots compared), and the jit table
with its two test problems (a quadratic and Rosenbrock) and a scanned training loop.

torch is optional here: the modules that need it (the parity tests) skip without it."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from nnfunc.optim._slots import LazySlot

try:
    import torch
except ImportError:         # the parity tests importorskip it; the jit tests need none
    torch = None

SHAPES = {"a": (4, 3), "b": (3,), "c": (2, 2, 3)}   # c: a batched leaf for adafactor


def init_params():
    rng = np.random.default_rng(0)
    return {k: rng.uniform(-1.5, 1.5, size=s) for k, s in SHAPES.items()}


def parity_grad(name, p, k, tiny):
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

def nf_kwargs(kw):
    out = dict(kw)
    if "lr" in out:
        out["learning_rate"] = out.pop("lr")
    return out


def make_nf(fn, kw):
    kw = nf_kwargs(kw)
    if fn == "momentum":
        kw.pop("momentum", None)
    if fn == "nesterov":
        kw.pop("nesterov")
    return getattr(nf.optim, fn)(**kw)


def make_torch(cls, params, kw):
    return getattr(torch.optim, cls)(params, **kw)


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = np.maximum(np.abs(a), np.abs(b))
    err = np.where(scale == 0, 0.0, np.abs(a - b) / np.where(scale == 0, 1.0, scale))
    return float(err.max()) if err.size else 0.0

def run_parity(fn, cls, kw, *, tiny, steps, schedule=None, opt=None, overrides=None,
               switch_at=0, on_switch=None):
    """Run nnfunc and torch side by side: (max rel err, state, lrs used, slots compared).

    ``opt`` reuses a built optimizer (and its compiled step) with ``overrides`` applied to
    the initial state through ``set_hparams``; torch is built with ``kw | overrides``.
    With ``switch_at > 0`` the overrides come before that step instead: ``set_hparams``
    then, and torch's param groups are changed then (``on_switch(topt)`` may adjust
    torch's state too).
    """
    overrides = overrides or {}
    p0 = init_params()
    names = sorted(p0)
    tp = [torch.tensor(p0[k], requires_grad=True) for k in names]
    topt = make_torch(cls, tp, kw if switch_at else {**kw, **overrides})
    nkw = dict(kw)
    if schedule is not None:
        nkw["lr"] = lambda step, lr=kw["lr"]: lr * schedule(step)
        sched = torch.optim.lr_scheduler.LambdaLR(topt, schedule)
    opt = opt or make_nf(fn, nkw)
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
        grads = {n: jnp.asarray(parity_grad(n, np.asarray(params[n]), k, tiny)) for n in names}
        updates, state = opt.update(grads, state, params)
        params = nf.optim.apply_updates(params, updates)
        used.append(float(nf.optim.get_hparams(state)["learning_rate"]))
        for n, t in zip(names, tp):
            t.grad = torch.tensor(parity_grad(n, t.detach().numpy(), k, tiny))
        topt.step()
        if schedule is not None:
            sched.step()
    err = max(rel_err(params[n], t.detach().numpy()) for n, t in zip(names, tp))
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
            err = max(err, rel_err(leaf, ts[field].detach().numpy()))
            compared += 1
    return err, state, used, compared

@pytest.fixture
def torch64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)

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


def quadratic(p):
    return 0.5 * jnp.sum(jnp.array([1.0, 3.0]) * p["x"] ** 2) + 0.5 * jnp.sum(p["m"] ** 2)


def rosenbrock(p):
    x, y = p["x"][0], p["x"][1]
    return (1 - x) ** 2 + 10.0 * (y - x ** 2) ** 2 + 0.5 * jnp.sum((p["m"] - 1) ** 2)


def scan_steps(opt, loss, params, steps, state=None):
    def body(carry, _):
        params, state = carry
        g = jax.grad(loss)(params)
        u, state = opt.update(g, state, params)
        return (nf.optim.apply_updates(params, u), state), None
    state = opt.init(params) if state is None else state
    (params, state), _ = jax.lax.scan(body, (params, state), None, length=steps)
    return params, state


P0 = {"x": jnp.array([-1.2, 1.0], jnp.float32), "m": jnp.full((2, 2), 0.5, jnp.float32)}


def leaves_of(t):
    return jax.tree_util.tree_leaves(t)
