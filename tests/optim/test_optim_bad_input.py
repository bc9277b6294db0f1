"""Bad input to the optimizers: hyperparameters out of range or not finite (at
construction and in set_hparams), grads or updates that do not fit the params, params
missing or not floating point; and what is accepted (tracers, numpy scalars)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from _optim_cases import JIT_CASES, JIT_IDS, P0


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
