"""benchmarks/investigations/gpu_profile.py (the GPU A/B of nnfunc's fused epoch against
raw JAX, per kernel): a tiny run on the CPU writes the A/B, the kernel table and a variant;
trace names line up between programs; the max-pool forms and the stacked bias corrections
it compares are the ones it says, with the library's numerics."""
import json
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "benchmarks" / "investigations"), str(ROOT / "benchmarks")]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import gpu_profile as G
    out = tmp_path_factory.mktemp("profile")
    res = G.main(["--device", "cpu", "--quick", "--samples", "512", "--reps", "1",
                  "--cases", "mlp128", "--variants", "default",
                  "--variant-cases", "mlp128", "--out", str(out)])
    return res, out


def test_tiny_run_writes_the_ab_the_kernels_and_the_variant(tiny):
    res, out = tiny
    ab = res["ab"]["mlp128"]
    assert ab["steps"] == 4 and ab["ratio"] == pytest.approx(ab["raw"] / ab["nnfunc"])
    for name in ("nnfunc", "raw"):
        tr = res["traces"][f"mlp128/{name}"]
        assert tr["busy_ns"] > 0 and tr["busy_ns"] <= tr["span_ns"] + 1
        assert sum(o["n"] for o in tr["ops"].values()) >= tr["steps"]   # a launch a step at least
    v = res["variants"]["default"]
    assert "error" not in v and v["mlp128"]["steps"] == 4
    md = (out / "gpu-profile.md").read_text()
    assert "| mlp128 |" in md and "## Kernels of one epoch: mlp128" in md
    assert "**sum of op time**" in md and "| default |" in md
    assert json.loads((out / "gpu-profile.json").read_text())["ab"] == json.loads(
        json.dumps(res["ab"]))
    assert {p.name for p in (out / "hlo").iterdir()} == {"mlp128-nnfunc.txt", "mlp128-raw.txt"}


def test_op_names_lose_their_instance_numbers():
    import gpu_profile as G
    assert G._op_name("loop_add_fusion.12") == "loop_add_fusion"
    assert G._op_name("input_reduce_select_fusion.2.1") == "input_reduce_select_fusion"
    assert G._op_name("cudnn-conv-bw-filter") == "cudnn-conv-bw-filter"


@pytest.mark.parametrize("form,has_reduce_window,has_cumsum", [
    ("tiles", False, True), ("tiles-unrolled", False, False), ("reduce-window", True, False)])
def test_max_pool_forms(form, has_reduce_window, has_cumsum):
    import gpu_profile as G
    import nnfunc as nf
    layer = G.pool_layer(form)
    x = jax.random.normal(jax.random.key(0), (2, 4, 4, 3))
    jaxpr = str(jax.make_jaxpr(jax.grad(lambda v: layer.apply({}, {}, v)[0].sum()))(x))
    assert ("reduce_window_max" in jaxpr or "select_and_scatter_add" in jaxpr) \
        == has_reduce_window
    assert ("cumsum" in jaxpr) == has_cumsum
    # every form is the library's max-pool: the same values and gradients
    ref = nf.layers.max_pool(2)
    np.testing.assert_array_equal(layer.apply({}, {}, x)[0], ref.apply({}, {}, x)[0])
    grad = lambda lay: jax.grad(lambda v: (lay.apply({}, {}, v)[0] ** 2).sum())(x)  # noqa: E731
    np.testing.assert_array_equal(grad(layer), grad(ref))


def test_the_cnn_with_another_max_pool_is_the_suites_cnn_around_it():
    import gpu_profile as G
    from common.nnfunc_bench import model_and_shape
    assert G.model("cnn") is model_and_shape("cnn", G.MLP)[0]
    assert G.model("mlp", "tiles") is model_and_shape("mlp", G.MLP)[0]
    suite, other = G.model("cnn"), G.model("cnn", "reduce-window")
    p1, s1 = suite.init(jax.random.key(3), (12, 12, 1))     # small images: a fast check
    p2, s2 = other.init(jax.random.key(3), (12, 12, 1))
    for a, b in zip(jax.tree.leaves((p1, s1)), jax.tree.leaves((p2, s2)), strict=True):
        np.testing.assert_array_equal(a, b)
    x = jax.random.normal(jax.random.key(4), (2, 12, 12, 1))
    run = lambda net: jax.jit(lambda x: net.apply(p1, s1, x)[0])(x)   # noqa: E731
    np.testing.assert_allclose(run(other), run(suite), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="form"):
        G.pool_layer("default")


def test_stacked_bias_corrections_are_adam_to_the_bit_in_one_vector_power():
    import gpu_profile as G
    import nnfunc as nf
    ref, stacked = G.optimizer("scalar"), G.optimizer("stacked")
    p = {"w": jax.random.normal(jax.random.key(0), (5, 3)), "b": jnp.zeros(3)}
    sr, ss = ref.init(p), stacked.init(p)
    assert type(ss) is nf.optim.AdamState
    assert jax.tree.structure(ss) == jax.tree.structure(sr)     # hparams and slots alike
    for k in range(4):
        g = jax.tree.map(lambda a: jax.random.normal(jax.random.key(10 + k), a.shape), p)
        ur, sr = ref.update(g, sr, p)
        us, ss = stacked.update(g, ss, p)
        for a, b in zip(jax.tree.leaves((ur, sr)), jax.tree.leaves((us, ss)), strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # one vector power instead of two scalar ones (new functions: make_jaxpr caches)
    jaxprs = {name: str(jax.make_jaxpr(lambda g, s, o=o: o.update(g, s, p))(g, s))
              for name, o, s in (("scalar", ref, sr), ("stacked", stacked, ss))}
    stacks = {f: "stack[" in j or "concatenate" in j for f, j in jaxprs.items()}
    assert stacks == {"scalar": False, "stacked": True}
    with pytest.raises(ValueError, match="bias"):
        G.optimizer("vector")


@pytest.mark.parametrize("lr", [1e-2, nf.schedules.cosine_annealing(1e-2, 20)],
                         ids=["number", "schedule"])
def test_stacked_bias_corrections_give_adams_bits_jitted_and_vmapped(lr):
    """jitted and vmapped over the learning rate (lr_scale for a schedule), 12 steps."""
    import gpu_profile as G
    p = {"w": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4), "b": jnp.arange(4.0)}
    name = "lr_scale" if callable(lr) else "learning_rate"

    def run(opt, x):
        s = nf.optim.set_hparams(opt.init(p), **{name: x})
        q = p
        for i in range(12):
            g = jax.tree_util.tree_map(lambda a: jnp.sin(a * (i + 1)), q)
            u, s = opt.update(g, s, q)
            q = nf.optim.apply_updates(q, u)
        return q, s
    xs = jnp.asarray([0.1, 1.0, 10.0]) * (1.0 if callable(lr) else 1e-2)
    outs = {}
    for stacked, build in ((False, nf.optim.adam), (True, G.adam_stacked_bias_corrections)):
        fresh = lambda x, opt=build(lr): run(opt, x)        # noqa: E731
        text = str(jax.make_jaxpr(fresh)(xs[1]))
        assert ("stack[" in text or "concatenate" in text) == stacked
        outs[stacked] = (jax.jit(fresh)(xs[1]), jax.jit(jax.vmap(fresh))(xs))
    tree = jax.tree_util
    assert tree.tree_structure(outs[True]) == tree.tree_structure(outs[False])
    for a, b in zip(tree.tree_leaves(outs[True]), tree.tree_leaves(outs[False])):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(outs[True][0][0]["w"], p["w"])       # it did train


def test_variants_name_their_forms():
    import gpu_profile as G
    assert G.VARIANTS["adam bias corrections stacked"].bias == "stacked"
    assert all(v.bias == "scalar" for k, v in G.VARIANTS.items() if "bias" not in k)
    cublas = {k: v for k, v in G.VARIANTS.items() if "cublas" in k}
    assert len(cublas) == 2 and all(v.flags == "--xla_gpu_enable_triton_gemm=false"
                                     for v in cublas.values())
    assert [v.bias for v in cublas.values()] == ["scalar", "stacked"]
    assert {v.pool for v in G.VARIANTS.values()} == set(G.POOLS)
