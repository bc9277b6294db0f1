"""benchmarks/gpu_profile.py (the GPU A/B of nnfunc's fused epoch against raw JAX, per
kernel): a tiny run on the CPU writes the A/B, the kernel table and a variant; trace names
line up between programs; the max-pool forms it compares are the ones it says."""
import json
import pathlib
import sys

import jax
import jax.numpy as jnp
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


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
def test_max_pool_forms(form, has_reduce_window, has_cumsum, monkeypatch):
    import gpu_profile as G
    import nnfunc as nf
    from nnfunc.layers import pooling
    for name in ("_mask_by_walk", "_max_pool_tiles"):
        monkeypatch.setattr(pooling, name, getattr(pooling, name))   # undone after the test
    G._set_pool(form)
    layer = nf.layers.max_pool(2)
    x = jax.random.normal(jax.random.key(0), (2, 4, 4, 3))
    jaxpr = str(jax.make_jaxpr(jax.grad(lambda v: layer.apply({}, {}, v)[0].sum()))(x))
    assert ("reduce_window_max" in jaxpr or "select_and_scatter_add" in jaxpr) \
        == has_reduce_window
    assert ("cumsum" in jaxpr) == has_cumsum


def test_bias_corrections_variant_switches_the_library_form(monkeypatch):
    import gpu_profile as G
    from nnfunc.optim import _base
    monkeypatch.setattr(_base, "_STACKED_BIAS_CORRECTIONS", False)    # undone after the test
    t, b1, b2 = jnp.float32(3.0), jnp.float32(0.9), jnp.float32(0.999)
    jaxprs = {}
    for form in ("scalar", "stacked"):
        G._set_bias_corrections(form)
        assert _base._STACKED_BIAS_CORRECTIONS == (form == "stacked")
        # a new function each time: make_jaxpr caches traces by function
        jaxprs[form] = str(jax.make_jaxpr(lambda *a: _base.bias_corrections(*a))(t, b1, b2))
    stacks = {f: "stack[" in j or "concatenate" in j for f, j in jaxprs.items()}
    assert stacks == {"scalar": False, "stacked": True}
    assert G.VARIANTS["adam bias corrections stacked"].bias == "stacked"
    assert all(v.bias == "scalar" for k, v in G.VARIANTS.items() if "bias" not in k)
    cublas = {k: v for k, v in G.VARIANTS.items() if "cublas" in k}
    assert len(cublas) == 2 and all(v.flags == "--xla_gpu_enable_triton_gemm=false"
                                     for v in cublas.values())
    assert [v.bias for v in cublas.values()] == ["scalar", "stacked"]
