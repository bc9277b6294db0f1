"""Tests for the optimizers beyond torch (lion, lamb, lars), the gradient transformations
and wrappers (chain, clips, noise, partition, masked, accumulate, skip_nonfinite,
lookahead) and parameter averaging (swa, ema).

Oracles: optax for lion/lamb/lars (test-only), numpy references written here from the
papers, torch for the clips and for swa_utils.AveragedModel.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf

O = nf.optim
KEY = jax.random.key(0)

# ---------------------------------------------------------------------------------------
# one test problem: a diagonal quadratic leaf plus a Rosenbrock leaf (separable sum)

C = jnp.array([0.5, -0.3, 1.5])
A = jnp.array([1.0, 2.0, 4.0])
P0 = {"q": jnp.array([1.0, 1.0, -1.0]), "r": jnp.array([1.3, 1.5])}


def _loss(p):
    q, r = p["q"], p["r"]
    return (0.5 * jnp.sum(A * (q - C) ** 2)
            + (1 - r[0]) ** 2 + 100 * (r[1] - r[0] ** 2) ** 2)


def _run(opt, steps, state=None, params=P0):
    """``steps`` jitted steps of ``opt`` on the test problem (one lax.scan)."""
    def body(carry, _):
        p, s = carry
        u, s = opt.update(jax.grad(_loss)(p), s, p)
        return (O.apply_updates(p, u), s), None
    state = opt.init(params) if state is None else state
    return jax.lax.scan(body, (params, state), None, length=steps)[0]


_jit_run = jax.jit(_run, static_argnums=(0, 1))

SGD_LR = 5e-4


def _sgd(lr):
    return O.sgd(lr, momentum=0.9)


# name -> (factory(learning_rate) -> Optimizer, learning rate that converges)
CASES = {
    "lion": (lambda lr: O.lion(lr, weight_decay=0.0), 1e-3),
    "lamb": (lambda lr: O.lamb(lr), 2e-3),
    "lars": (lambda lr: O.lars(lr, trust_coefficient=0.02), 0.2),
    "lars_nesterov": (lambda lr: O.lars(lr, trust_coefficient=0.02, nesterov=True), 0.2),
    "chain_clip_norm": (lambda lr: O.chain(O.clip_by_global_norm(1.0), _sgd(lr)), SGD_LR),
    "chain_clip_value": (lambda lr: O.chain(O.clip_by_value(1.0), _sgd(lr)), SGD_LR),
    "chain_noise": (lambda lr: O.chain(O.add_noise(1e-4, 0.55, key=KEY), _sgd(lr)), SGD_LR),
    "partition": (lambda lr: O.partition({"q": "a", "r": "b"},
                                         {"a": _sgd(lr), "b": O.nesterov(lr)}), SGD_LR),
    "masked": (lambda lr: O.chain(O.masked(O.clip_by_value(0.5), {"q": True, "r": False},
                                           passthrough=True), _sgd(lr)), SGD_LR),
    "accumulate": (lambda lr: O.accumulate(_sgd(lr), 2), SGD_LR),
    "skip_nonfinite": (lambda lr: O.skip_nonfinite(_sgd(lr)), SGD_LR),
    "lookahead": (lambda lr: O.lookahead(_sgd(lr), k=5, alpha=0.5), SGD_LR),
    "swa": (lambda lr: O.swa(_sgd(lr), start=3000, every=3), SGD_LR),
    "ema": (lambda lr: O.ema(_sgd(lr), decay=0.9), SGD_LR),
    "chain_adamw": (lambda lr: O.chain(O.clip_by_global_norm(1.0), O.adamw(lr)), 1e-2),
}


@functools.lru_cache(maxsize=None)
def _converged(name):
    factory, lr = CASES[name]
    return _jit_run(factory(lr), 5000)


@pytest.mark.parametrize("name", CASES)
def test_converges_on_quadratic_and_rosenbrock_under_jit(name):
    p, _ = _converged(name)
    assert float(jnp.max(jnp.abs(p["q"] - C))) < 2e-2          # quadratic minimum
    assert float(jnp.max(jnp.abs(p["r"] - 1.0))) < 2e-2        # Rosenbrock minimum (1, 1)


@pytest.mark.parametrize("name", ["swa", "ema"])
def test_averaged_params_converge_too(name):
    _, s = _converged(name)
    avg = O.averaged_params(s)
    assert float(jnp.max(jnp.abs(avg["q"] - C))) < 5e-2
    assert float(jnp.max(jnp.abs(avg["r"] - 1.0))) < 5e-2


@pytest.mark.parametrize("name", CASES)
def test_vmap_over_learning_rate_equals_separate_runs(name):
    factory, lr = CASES[name]
    lrs = jnp.array([lr, lr / 2])
    opt = factory(lr)

    @jax.jit
    def batched(lrs):
        def one(lr):
            return _run(opt, 30, O.set_hparams(opt.init(P0), learning_rate=lr))
        return jax.vmap(one)(lrs)

    pb, _ = batched(lrs)
    p, _ = _jit_run(factory(float(lrs[1])), 30)       # a separate run built with lr / 2
    for k in p:
        np.testing.assert_allclose(pb[k][1], p[k], rtol=1e-5, atol=1e-6)
    assert not np.allclose(pb["r"][0], pb["r"][1])     # the runs really differ


@pytest.mark.parametrize("name", CASES)
def test_no_recompilation_on_second_call_or_after_set_hparams(name):
    factory, lr = CASES[name]
    opt = factory(lr)
    step = jax.jit(lambda g, s, p: opt.update(g, s, p))
    g = jax.grad(_loss)(P0)
    s = opt.init(P0)
    _, s = step(g, s, P0)
    _, s = step(g, s, P0)
    s = O.set_hparams(s, learning_rate=lr / 3)
    u, s = step(g, s, P0)
    assert step._cache_size() == 1
    assert float(O.get_hparams(s)["learning_rate"]) == pytest.approx(lr / 3)


# ---------------------------------------------------------------------------------------
# lion, lamb, lars against independent oracles (float64)

def _oracle_trajectory(ours, theirs, steps=60, tiny_every=7):
    """Run ours and the optax oracle side by side on gradients that depend on the params;
    every ``tiny_every``-th step the gradients are scaled by 1e-12."""
    params = {"a": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4), "b": jnp.array([0.3, -2.0, 0.7]),
              "c": jnp.array(1.5)}

    @jax.jit
    def grad_fn(p, t):
        g = jax.grad(lambda p: jnp.sum(jnp.sin(p["a"]) * p["a"] ** 2) + jnp.sum(p["b"] ** 4)
                     + jnp.cos(p["c"]) * p["c"])(p)
        scale = jnp.where(t % tiny_every == tiny_every - 1, 1e-12, 1.0)
        return jax.tree_util.tree_map(lambda x: x * scale, g)

    ref_update = theirs.update if isinstance(theirs, _NumpyLars) else jax.jit(theirs.update)
    p_ours, p_ref = params, params
    s_ours, s_ref = ours.init(params), theirs.init(params)
    for t in range(steps):
        u, s_ours = ours.update(grad_fn(p_ours, t), s_ours, p_ours)
        p_ours = O.apply_updates(p_ours, u)
        u_ref, s_ref = ref_update(grad_fn(p_ref, t), s_ref, p_ref)
        p_ref = jax.tree_util.tree_map(lambda a, b: a + b, p_ref, u_ref)
        for k in params:
            np.testing.assert_allclose(p_ours[k], p_ref[k], rtol=1e-10, atol=1e-14)
    return s_ours, s_ref


def test_lion_matches_optax(x64):
    optax = pytest.importorskip("optax")
    sched = lambda t: 0.01 * 0.97 ** t  # noqa: E731
    for lr in (0.01, sched):
        s, s_ref = _oracle_trajectory(
            O.lion(lr, betas=(0.8, 0.95), weight_decay=0.3),
            optax.lion(lr, b1=0.8, b2=0.95, weight_decay=0.3))
        mu = optax.tree_utils.tree_get(s_ref, "mu")
        for k in mu:
            np.testing.assert_allclose(s.exp_avg[k], mu[k], rtol=1e-10, atol=1e-300)


def test_lamb_matches_optax(x64):
    optax = pytest.importorskip("optax")
    s, s_ref = _oracle_trajectory(
        O.lamb(0.02, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.1),
        optax.lamb(0.02, b1=0.8, b2=0.99, eps=1e-3, weight_decay=0.1))
    for ours, name in ((s.exp_avg, "mu"), (s.exp_avg_sq, "nu")):
        ref = optax.tree_utils.tree_get(s_ref, name)
        for k in ref:
            np.testing.assert_allclose(ours[k], ref[k], rtol=1e-10, atol=1e-300)


@pytest.mark.parametrize("nesterov", [False, True])
def test_lars_matches_optax_without_weight_decay(x64, nesterov):
    optax = pytest.importorskip("optax")
    _oracle_trajectory(
        O.lars(0.5, momentum=0.8, trust_coefficient=0.01, eps=1e-6, nesterov=nesterov),
        optax.lars(0.5, momentum=0.8, trust_coefficient=0.01, eps=1e-6, nesterov=nesterov))


class _NumpyLars:
    """LARS from the paper (You et al. 2017, Algorithm 1), written independently in numpy:
    local lr ρ = κ‖w‖/(‖g‖ + λ‖w‖ + ε); v ← μv + η ρ (g + λw); w ← w − v."""

    def __init__(self, lr, momentum, weight_decay, trust, eps, nesterov):
        self.h = (lr, momentum, weight_decay, trust, eps, nesterov)
        self.update = self._update

    def init(self, params):
        return {k: np.zeros(np.shape(v)) for k, v in params.items()}

    def _update(self, grads, v, params):
        lr, mu, wd, kappa, eps, nesterov = self.h
        out, new_v = {}, {}
        for k in params:
            w, g = np.asarray(params[k]), np.asarray(grads[k])
            wn, gn = np.linalg.norm(w), np.linalg.norm(g)
            den = gn + wd * wn
            rho = 1.0 if wn == 0 or den == 0 else kappa * wn / (den + eps)
            s = lr * rho * (g + wd * w)
            new_v[k] = mu * v[k] + s
            out[k] = -(s + mu * new_v[k]) if nesterov else -new_v[k]
        return out, new_v


@pytest.mark.parametrize("nesterov", [False, True])
def test_lars_matches_numpy_paper_reference_with_weight_decay(x64, nesterov):
    s, v = _oracle_trajectory(
        O.lars(0.5, momentum=0.8, weight_decay=0.05, trust_coefficient=0.01, eps=1e-6,
               nesterov=nesterov),
        _NumpyLars(0.5, 0.8, 0.05, 0.01, 1e-6, nesterov))
    for k in v:
        np.testing.assert_allclose(s.momentum_buffer[k], v[k], rtol=1e-10, atol=1e-300)


def test_lamb_and_lars_trust_ratio_is_one_for_zero_params():
    p = {"w": jnp.zeros(3)}
    g = {"w": jnp.array([1.0, -2.0, 2.0])}
    u, _ = O.lamb(0.1).update(g, O.lamb(0.1).init(p), p)
    np.testing.assert_allclose(u["w"], -0.1 * jnp.sign(g["w"]), rtol=1e-4)   # Adam step 1
    u, _ = O.lars(0.1, momentum=0.0).update(g, O.lars(0.1).init(p), p)
    np.testing.assert_allclose(u["w"], -0.1 * g["w"], rtol=1e-6)


# ---------------------------------------------------------------------------------------
# gradient transformations against torch

@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_by_global_norm_matches_torch(x64, norm_type, max_norm):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    g = {"a": rng.normal(size=(3, 4)), "b": rng.normal(size=5)}
    clip = O.clip_by_global_norm(max_norm, norm_type=norm_type)
    ours, _ = clip.update(jax.tree_util.tree_map(jnp.asarray, g), clip.init(g))
    ts = [torch.nn.Parameter(torch.zeros(v.shape, dtype=torch.float64)) for v in g.values()]
    for t, v in zip(ts, g.values()):
        t.grad = torch.tensor(v)
    torch.nn.utils.clip_grad_norm_(ts, max_norm, norm_type=norm_type)
    for t, k in zip(ts, g):
        np.testing.assert_allclose(ours[k], t.grad.numpy(), rtol=1e-12)


def test_clip_by_value_matches_torch_and_takes_bounds(x64):
    torch = pytest.importorskip("torch")
    g = {"w": jnp.linspace(-3.0, 3.0, 13)}
    t = torch.nn.Parameter(torch.zeros(13, dtype=torch.float64))
    t.grad = torch.tensor(np.asarray(g["w"]))
    torch.nn.utils.clip_grad_value_([t], 1.2)
    clip = O.clip_by_value(1.2)
    np.testing.assert_array_equal(clip.update(g, clip.init(g))[0]["w"], t.grad.numpy())
    for clip in (O.clip_by_value(-0.5, 2.0), O.clip_by_value(min_value=-0.5, max_value=2.0)):
        np.testing.assert_array_equal(clip.update(g, clip.init(g))[0]["w"],
                                      np.clip(np.asarray(g["w"]), -0.5, 2.0))
    only_max = O.clip_by_value(max_value=1.0)
    np.testing.assert_array_equal(only_max.update(g, only_max.init(g))[0]["w"],
                                  np.minimum(np.asarray(g["w"]), 1.0))


def test_add_noise_variance_anneals_as_eta_over_one_plus_t_to_gamma():
    eta, gamma = 0.5, 0.55
    noise = O.add_noise(eta, gamma, key=jax.random.key(1))
    g = {"a": jnp.zeros(5000), "b": jnp.full((50, 50), 3.0)}
    step = jax.jit(noise.update)
    s = noise.init(g)
    samples = []
    for t in range(4):
        out, s = step(g, s)
        expected = np.sqrt(eta / (1 + t) ** gamma)
        for k in g:
            d = np.asarray(out[k] - g[k])
            assert abs(d.std() / expected - 1) < 0.03, (t, k)
            assert abs(d.mean()) < 0.05 * expected
        samples.append(np.asarray(out["a"]))
    assert not np.allclose(samples[0], samples[1])            # fresh noise each step
    again, _ = noise.update(g, noise.init(g))                  # same key, same noise
    np.testing.assert_array_equal(again["a"], samples[0])
    other = O.add_noise(eta, gamma, key=jax.random.key(2))
    assert not np.allclose(other.update(g, other.init(g))[0]["a"], samples[0])
    raw = O.add_noise(eta, gamma, key=jax.random.PRNGKey(0))   # raw uint32 keys work too
    assert raw.update(g, raw.init(g))[0]["a"].shape == (5000,)
    seeded = O.add_noise(eta, gamma, key=1)                      # an int seed is key(seed)
    np.testing.assert_array_equal(seeded.update(g, seeded.init(g))[0]["a"], samples[0])


# ---------------------------------------------------------------------------------------
# parameter groups

def _decay_labels(params):
    return jax.tree_util.tree_map(lambda p: "decay" if p.ndim >= 2 else "no_decay", params)


def test_partition_runs_each_group_as_its_own_optimizer():
    params = {"w": jnp.ones((2, 3)), "b": jnp.array([0.5, -0.5]), "scale": jnp.ones(3)}
    opt = O.partition(_decay_labels, {"decay": O.lamb(0.1, weight_decay=0.5),
                                      "no_decay": O.lamb(0.1, weight_decay=0.0)})
    ref_decay, ref_plain = O.lamb(0.1, weight_decay=0.5), O.lamb(0.1, weight_decay=0.0)
    sub_d, sub_p = {"w": params["w"]}, {"b": params["b"], "scale": params["scale"]}
    s, sd, sp = opt.init(params), ref_decay.init(sub_d), ref_plain.init(sub_p)
    p = params
    for t in range(3):
        g = jax.tree_util.tree_map(lambda x: jnp.sin(x + t), p)
        u, s = opt.update(g, s, p)
        ud, sd = ref_decay.update({"w": g["w"]}, sd, sub_d)
        up, sp = ref_plain.update({"b": g["b"], "scale": g["scale"]}, sp, sub_p)
        np.testing.assert_allclose(u["w"], ud["w"], rtol=1e-6)
        for k in ("b", "scale"):
            np.testing.assert_allclose(u[k], up[k], rtol=1e-6)
        p = O.apply_updates(p, u)
        sub_d, sub_p = {"w": p["w"]}, {"b": p["b"], "scale": p["scale"]}
    # the inner state is the group's own: None holes stand for the other group's leaves
    assert s.inner["no_decay"].exp_avg["w"] is None
    assert s.inner["decay"].exp_avg["b"] is None


def test_partition_takes_prefix_labels_and_rejects_unknown_labels():
    params = {"enc": {"w": jnp.ones(2), "b": jnp.ones(2)}, "head": jnp.ones(2)}
    opt = O.partition({"enc": "frozen", "head": "train"},
                      {"frozen": O.sgd(learning_rate=0.0), "train": O.sgd(learning_rate=1.0)})
    u, _ = opt.update(params, opt.init(params), params)
    assert float(jnp.abs(u["enc"]["w"]).sum() + jnp.abs(u["enc"]["b"]).sum()) == 0
    np.testing.assert_array_equal(u["head"], -jnp.ones(2))
    with pytest.raises(ValueError, match="labels"):
        O.partition({"enc": "x", "head": "train"}, {"train": O.sgd()}).init(params)
    with pytest.raises(ValueError, match="labels"):
        O.partition({"nope": "train"}, {"train": O.sgd()}).init(params)
    with pytest.raises(ValueError, match="optimizers"):
        O.partition({"head": "train"}, {})


def test_masked_freezes_unmasked_leaves_or_passes_their_gradients_through():
    p = {"w": jnp.ones(2), "b": jnp.ones(2)}
    g = {"w": jnp.array([1.0, 2.0]), "b": jnp.array([3.0, 4.0])}
    frozen = O.masked(O.sgd(learning_rate=0.1), lambda params: {"w": True, "b": False})
    u, s = frozen.update(g, frozen.init(p), p)
    np.testing.assert_allclose(u["w"], -0.1 * g["w"], rtol=1e-6)
    np.testing.assert_array_equal(u["b"], jnp.zeros(2))
    through = O.masked(O.clip_by_value(1.5), {"w": True, "b": False}, passthrough=True)
    u, _ = through.update(g, through.init(p), p)
    np.testing.assert_array_equal(u["w"], jnp.array([1.0, 1.5]))
    np.testing.assert_array_equal(u["b"], g["b"])
    with pytest.raises(ValueError, match="mask"):
        O.masked(O.sgd(), {"w": "yes", "b": False}).init(p)


# ---------------------------------------------------------------------------------------
# accumulation, non-finite skipping, lookahead

def test_accumulate_steps_on_the_mean_of_k_gradients_and_leaves_state_alone_between():
    k = 3
    inner = O.sgd(learning_rate=0.1, momentum=0.9)
    opt = O.accumulate(inner, every_k=k)
    p = {"w": jnp.array([1.0, -1.0])}
    s, s_ref = opt.init(p), inner.init(p)
    gs = [{"w": jnp.array([float(i), 2.0 - i])} for i in range(2 * k)]
    for t, g in enumerate(gs):
        u, s = opt.update(g, s, p)
        if (t + 1) % k:
            np.testing.assert_array_equal(u["w"], jnp.zeros(2))
            assert int(s.inner.count) == (t + 1) // k
        else:
            mean = {"w": sum(x["w"] for x in gs[t + 1 - k:t + 1]) / k}
            u_ref, s_ref = inner.update(mean, s_ref, p)
            np.testing.assert_allclose(u["w"], u_ref["w"], rtol=1e-6)
            np.testing.assert_allclose(s.inner.momentum_buffer["w"],
                                       s_ref.momentum_buffer["w"], rtol=1e-6)
            np.testing.assert_array_equal(s.grad_sum["w"], jnp.zeros(2))
        p = O.apply_updates(p, u)
    # every_k is an array hyperparameter: changing it does not recompile
    step = jax.jit(lambda g, s, p: opt.update(g, s, p))
    s = opt.init(p)
    u1, s = step(gs[0], s, p)
    s = O.set_hparams(s, every_k=1)
    u2, _ = step(gs[1], s, p)
    assert float(jnp.abs(u1["w"]).sum()) == 0 and float(jnp.abs(u2["w"]).sum()) > 0
    assert step._cache_size() == 1


def test_accumulate_carries_prng_keys_of_inner_transforms():
    opt = O.accumulate(O.chain(O.add_noise(0.1, 0.55, key=KEY), O.sgd(0.1)), every_k=2)
    p = {"w": jnp.zeros(4)}
    s = opt.init(p)
    _, s1 = opt.update(p, s, p)
    key_data = jax.random.key_data
    np.testing.assert_array_equal(key_data(s1.inner.inner[0].key), key_data(KEY))
    _, s2 = opt.update(p, s1, p)
    assert not np.array_equal(key_data(s2.inner.inner[0].key), key_data(KEY))


def test_skip_nonfinite_leaves_params_and_state_untouched_and_counts():
    inner = O.lamb(0.1)
    opt = O.skip_nonfinite(inner)
    p = {"w": jnp.array([1.0, 2.0]), "b": jnp.array(0.5)}
    good = {"w": jnp.array([0.1, -0.2]), "b": jnp.array(0.3)}
    s = opt.init(p)
    u, s = opt.update(good, s, p)
    u_ref, s_ref = inner.update(good, inner.init(p), p)
    np.testing.assert_allclose(u["w"], u_ref["w"], rtol=1e-6)
    before = s.inner
    for n, bad in enumerate([jnp.nan, jnp.inf, -jnp.inf], start=1):
        u, s = opt.update({"w": jnp.array([1.0, 1.0]), "b": jnp.array(bad)}, s, p)
        assert all(float(jnp.abs(x).sum()) == 0 for x in jax.tree_util.tree_leaves(u))
        jax.tree_util.tree_map(np.testing.assert_array_equal, s.inner, before)
        assert int(s.num_skipped) == n and int(s.count) == n + 1 and int(s.inner.count) == 1
    u, s = opt.update(good, s, p)
    assert int(s.num_skipped) == 3 and int(s.inner.count) == 2


def test_lookahead_matches_numpy_reference(x64):
    k, alpha, lr = 3, 0.4, 0.1
    opt = O.lookahead(O.sgd(lr), k=k, alpha=alpha)
    p = {"w": jnp.array([1.0, -2.0, 0.5])}
    s = opt.init(p)
    fast = slow = np.asarray(p["w"])
    for t in range(3 * k):
        g = {"w": jnp.cos(p["w"]) + p["w"]}
        u, s = opt.update(g, s, p)
        p = O.apply_updates(p, u)
        fast = fast - lr * (np.cos(fast) + fast)
        if (t + 1) % k == 0:
            slow = slow + alpha * (fast - slow)
            fast = slow
        np.testing.assert_allclose(p["w"], fast, rtol=1e-12)
        np.testing.assert_allclose(s.slow["w"], slow, rtol=1e-12)
    np.testing.assert_array_equal(s.slow["w"], p["w"])     # exactly equal after a sync


# ---------------------------------------------------------------------------------------
# SWA / EMA against torch.optim.swa_utils.AveragedModel

@pytest.mark.parametrize("kind,start,every", [("swa", 0, 1), ("swa", 4, 3),
                                               ("ema", 0, 1), ("ema", 2, 2)])
def test_averaging_matches_torch_averaged_model(x64, kind, start, every):
    torch = pytest.importorskip("torch")
    from torch.optim import swa_utils
    torch.set_default_dtype(torch.float64)
    try:
        decay = 0.8
        inner = O.sgd(learning_rate=0.05, momentum=0.5)
        opt = O.swa(inner, start=start, every=every) if kind == "swa" else \
            O.ema(inner, decay, start=start, every=every)
        params = {"a": jnp.linspace(-1.0, 2.0, 6).reshape(2, 3), "b": jnp.array([0.3, -0.4])}
        model = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.tensor(np.asarray(v))) for v in params.values()])
        avg_fn = None if kind == "swa" else swa_utils.get_ema_multi_avg_fn(decay)
        averaged = swa_utils.AveragedModel(model, multi_avg_fn=avg_fn)
        s = opt.init(params)
        for n in range(1, 16):
            g = jax.tree_util.tree_map(lambda x: jnp.sin(3 * x) + x ** 3, params)
            u, s = opt.update(g, s, params)
            params = O.apply_updates(params, u)
            with torch.no_grad():
                for t, v in zip(model, params.values()):
                    t.copy_(torch.tensor(np.asarray(v)))
            if n >= start and (n - start) % every == 0:
                averaged.update_parameters(model)
            ours = O.averaged_params(s)
            for t, k in zip(averaged.module, params):
                np.testing.assert_allclose(ours[k], t.detach().numpy(), rtol=1e-12, atol=1e-15)
            assert int(s.n_averaged) == int(averaged.n_averaged)
    finally:
        torch.set_default_dtype(torch.float32)


def test_averaged_params_before_any_step_and_inside_chains():
    p = {"w": jnp.array([2.0])}
    opt = O.chain(O.clip_by_global_norm(1.0), O.swa(O.sgd(0.1), start=5))
    s = opt.init(p)
    np.testing.assert_array_equal(O.averaged_params(s)["w"], p["w"])
    with pytest.raises(ValueError, match="swa"):
        O.averaged_params(O.sgd().init(p))


# ---------------------------------------------------------------------------------------
# hyperparameters through chains and wrappers, tracers, dtypes, bad input

def test_get_and_set_hparams_reach_through_chains_and_wrappers():
    opt = O.chain(O.clip_by_global_norm(1.0),
                  O.lookahead(O.ema(O.lamb(1e-3, weight_decay=0.1), decay=0.9), k=4))
    s = opt.init(P0)
    hp = O.get_hparams(s)
    assert {"max_norm", "lookahead_k", "lookahead_alpha", "decay", "learning_rate",
            "betas", "eps", "weight_decay", "start", "every"} <= set(hp)
    s = O.set_hparams(s, max_norm=0.5, learning_rate=3e-4, decay=0.5, lookahead_k=2)
    hp = O.get_hparams(s)
    assert float(hp["max_norm"]) == 0.5 and float(hp["decay"]) == 0.5
    assert float(hp["learning_rate"]) == pytest.approx(3e-4) and int(hp["lookahead_k"]) == 2
    assert hp["lookahead_k"].dtype == jnp.int32
    assert float(s.inner[1].inner.inner.hparams["learning_rate"]) == pytest.approx(3e-4)
    with pytest.raises(ValueError, match="max_norm"):
        O.set_hparams(s, max_norm=-1.0)
    with pytest.raises(ValueError, match="lookahead_k"):
        O.set_hparams(s, lookahead_k=1.5)
    with pytest.raises(ValueError, match="decay"):
        O.set_hparams(s, decay=2.0)
    # partition: a name shared by both groups is set in both
    part = O.partition({"q": "a", "r": "b"}, {"a": O.lion(1e-3), "b": O.lars(0.1)})
    s = O.set_hparams(part.init(P0), learning_rate=0.25)
    assert all(float(s.inner[g].hparams["learning_rate"]) == 0.25 for g in ("a", "b"))


def test_schedule_learning_rate_inside_wrappers_is_recorded():
    sched = lambda t: 0.1 / (1.0 + t)  # noqa: E731
    opt = O.accumulate(O.lion(sched), every_k=2)
    p = {"w": jnp.ones(2)}
    s = opt.init(p)
    for _ in range(4):
        _, s = opt.update({"w": jnp.ones(2)}, s, p)
    # inner step 1 (the second applied update) used schedule(1)
    assert float(O.get_hparams(s)["learning_rate"]) == pytest.approx(0.05)
    s = O.set_hparams(s, lr_scale=0.5)
    for _ in range(2):
        _, s = opt.update({"w": jnp.ones(2)}, s, p)
    assert float(O.get_hparams(s)["learning_rate"]) == pytest.approx(0.5 * 0.1 / 3)


def test_hyperparameters_may_be_tracers_at_construction():
    @jax.jit
    @jax.vmap
    def final(h):
        opt = O.chain(O.clip_by_global_norm(h), O.clip_by_value(h),
                      O.ema(O.lookahead(O.lion(h * 1e-3, betas=(h * 0.5, 0.9)), alpha=h),
                            decay=h))
        return _run(opt, 5)[0]["q"]

    out = final(jnp.array([0.5, 1.0]))
    for i, h in enumerate([0.5, 1.0]):
        opt = O.chain(O.clip_by_global_norm(h), O.clip_by_value(h),
                      O.ema(O.lookahead(O.lion(h * 1e-3, betas=(h * 0.5, 0.9)), alpha=h),
                            decay=h))
        np.testing.assert_allclose(out[i], _run(opt, 5)[0]["q"], rtol=1e-6)


@pytest.mark.parametrize("name", ["lion", "lamb", "lars", "chain_clip_norm", "chain_noise",
                                  "accumulate", "skip_nonfinite", "lookahead", "ema"])
def test_bfloat16_params_keep_their_dtype(name):
    factory, lr = CASES[name]
    opt = factory(lr)
    p = jax.tree_util.tree_map(lambda x: x.astype(jnp.bfloat16), P0)
    p, s = _run(opt, 3, params=p)
    for leaf in jax.tree_util.tree_leaves(p):
        assert leaf.dtype == jnp.bfloat16 and bool(jnp.all(jnp.isfinite(leaf)))
    if name == "accumulate":                 # the running sum is kept in float32
        assert all(x.dtype == jnp.float32 for x in jax.tree_util.tree_leaves(s.grad_sum))
        s = s.inner
    slots = [x for x in jax.tree_util.tree_leaves(s) if jnp.shape(x) in ((3,), (2,))]
    assert slots and all(x.dtype == jnp.bfloat16 for x in slots)


@pytest.mark.parametrize("make,name", [
    (lambda: O.lion(learning_rate=-1.0), "learning_rate"),
    (lambda: O.lion(betas=(1.0, 0.9)), "betas"),
    (lambda: O.lion(weight_decay=-0.1), "weight_decay"),
    (lambda: O.lamb(betas=(0.9, -0.1)), "betas"),
    (lambda: O.lamb(eps=-1e-6), "eps"),
    (lambda: O.lamb(weight_decay=-1.0), "weight_decay"),
    (lambda: O.lars(momentum=-0.9), "momentum"),
    (lambda: O.lars(trust_coefficient=-1.0), "trust_coefficient"),
    (lambda: O.lars(eps=-1.0), "eps"),
    (lambda: O.lars(momentum=0.0, nesterov=True), "nesterov"),
    (lambda: O.add_noise(-1.0, 0.55, key=KEY), "eta"),
    (lambda: O.add_noise(0.1, -0.5, key=KEY), "gamma"),
    (lambda: O.add_noise(0.1, 0.55), "key"),
    (lambda: O.clip_by_global_norm(-1.0), "max_norm"),
    (lambda: O.clip_by_global_norm(1.0, norm_type=0.0), "norm_type"),
    (lambda: O.clip_by_value(-1.0), "clip_value"),
    (lambda: O.clip_by_value(1.0, -1.0), "min_value"),
    (lambda: O.clip_by_value(), "clip_value"),
    (lambda: O.chain(), "chain"),
    (lambda: O.accumulate(O.sgd(), 0), "every_k"),
    (lambda: O.accumulate(O.sgd(), 2.5), "every_k"),
    (lambda: O.lookahead(O.sgd(), k=0), "lookahead_k"),
    (lambda: O.lookahead(O.sgd(), alpha=1.5), "lookahead_alpha"),
    (lambda: O.swa(O.sgd(), start=-1), "start"),
    (lambda: O.swa(O.sgd(), every=0), "every"),
    (lambda: O.ema(O.sgd(), decay=1.01), "decay"),
])
def test_bad_hyperparameters_raise_value_error_naming_them(make, name):
    with pytest.raises(ValueError, match=name):
        make()


def test_non_optimizers_and_mismatched_trees_are_rejected():
    with pytest.raises(TypeError, match="chain argument 1"):
        O.chain(O.sgd(), 0.1)
    with pytest.raises(TypeError, match="opt"):
        O.lookahead("sgd")
    opt = O.chain(O.clip_by_global_norm(1.0), O.lamb())
    s = opt.init(P0)
    with pytest.raises(ValueError, match="grads and params"):
        opt.update({"q": P0["q"]}, s, P0)
    for wrapper in (O.lookahead(O.sgd()), O.swa(O.sgd()), O.lamb(), O.lars()):
        with pytest.raises(ValueError, match="params"):
            wrapper.update(P0, wrapper.init(P0))


def test_two_states_of_one_optimizer_share_no_buffers():
    """A step that donates one state must leave a second state of the same optimizer intact."""
    opt = nf.optim.chain(nf.optim.clip_by_global_norm(1.0), nf.optim.adam(learning_rate=1e-3))
    params = {"w": jnp.ones(3)}
    s1, s2 = opt.init(params), opt.init(params)
    step = jax.jit(lambda g, s: opt.update(g, s, params), donate_argnums=1)
    step({"w": jnp.ones(3)}, s1)
    leaves = jax.tree_util.tree_leaves(s2)
    assert all(not x.is_deleted() for x in leaves)
    assert float(nf.optim.get_hparams(s2)["learning_rate"]) == pytest.approx(1e-3)
