"""Every optimizer with a torch counterpart under jit: convergence, vmap over the learning
rate and the betas, no recompilation when set_hparams changes a value (a compiled-out
momentum given later compiles once more), bfloat16 parameters."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from _optim_cases import JIT_CASES, JIT_IDS, P0, leaves_of, quadratic, rosenbrock, scan_steps


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
        for loss in (quadratic, rosenbrock):
            early, state = scan_steps(opt, loss, P0, 30)
            out += [early, scan_steps(opt, loss, early, 1470, state)[0]]
        return out
    lrs = jnp.array([1.0, 0.5], jnp.float32) * kw["learning_rate"]
    batched = jax.jit(jax.vmap(run))(lrs)
    single = jax.jit(run)
    for i in range(2):
        q30, q, r30, r = single(lrs[i])
        if i == 0:
            assert float(quadratic(q)) < 1e-2 * float(quadratic(P0))
            assert float(rosenbrock(r)) < 1e-2 * float(rosenbrock(P0))
        for a, b in zip(leaves_of((batched[0], batched[2])), leaves_of((q30, r30))):
            np.testing.assert_allclose(a[i], b, rtol=2e-5, atol=1e-6)
        assert not np.allclose(batched[0]["x"][0], batched[0]["x"][1])   # lr was used


@pytest.mark.parametrize("build", [nf.optim.adam, nf.optim.adamw, nf.optim.nadam,
                                   nf.optim.radam, nf.optim.adamax],
                         ids=["adam", "adamw", "nadam", "radam", "adamax"])
def test_vmap_over_betas(build):
    b1s = jnp.array([0.8, 0.95], jnp.float32)

    def run(b1):
        return scan_steps(build(learning_rate=0.05, betas=(b1, 0.99)), quadratic, P0, 30)[0]
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
        g = jax.grad(quadratic)(params)
        u, state = opt.update(g, state, params)
        return nf.optim.apply_updates(params, u), state, u

    state0 = opt.init(P0)
    params, state, u = step(P0, state0)
    for a, b in zip(leaves_of(state0), leaves_of(state)):     # float32 slots stay float32
        assert a.dtype == b.dtype and a.shape == b.shape
    assert all(x.dtype == jnp.float32 for x in leaves_of(u))
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
        for a, b in zip(leaves_of(frozen), leaves_of(params)):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("case", JIT_CASES, ids=JIT_IDS)
def test_bfloat16_params(case):
    _, build, kw = case
    p0 = jax.tree_util.tree_map(lambda x: x.astype(jnp.bfloat16), P0)

    def loss(p):
        return quadratic(jax.tree_util.tree_map(lambda x: x.astype(jnp.float32), p))
    params, state = jax.jit(lambda p: scan_steps(build(**kw), loss, p, 100))(p0)
    for leaf in leaves_of((params, tuple(state)[2:])):
        if leaf.ndim:                      # params and slots; scalar slots stay float32
            assert leaf.dtype == jnp.bfloat16
    assert all(v.dtype == jnp.float32 for v in leaves_of(state.hparams))
    assert float(loss(params)) < 0.5 * float(loss(p0))


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
        u, state = opt.update(jax.grad(quadratic)(params), state, params)
        return nf.optim.apply_updates(params, u), state

    ref = nf.optim.sgd(0.1, momentum=0.9)

    @jax.jit
    def ref_step(params, state):
        u, state = ref.update(jax.grad(quadratic)(params), state, params)
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
        for a, b in zip(leaves_of((params, state.momentum_buffer)),
                        leaves_of((ref_params, ref_state.momentum_buffer))):
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
            return scan_steps(opt, quadratic, P0, 30, state)[0]
        mus = jnp.array([0.0, 0.9], jnp.float32)
        batched = jax.jit(jax.vmap(run))(mus)
        # the references are built with a traced momentum: not compiled out
        single = jax.jit(lambda mu: scan_steps(build(momentum=mu), quadratic, P0, 30)[0])
        for i in range(2):
            for a, b in zip(leaves_of(batched), leaves_of(single(mus[i]))):
                np.testing.assert_allclose(a[i], b, rtol=2e-5, atol=1e-6)
        assert not np.allclose(batched["x"][0], batched["x"][1])
