"""The investigations' GPU kernel counter (gpu_kernels.py) and device session script
(gpu_session.sh), on this CPU: the HLO reader, the targets, the cuBLAS rule, the traced-as-
GPU switch and the session's imports (the numbers come from device runs, not from here)."""
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
# the scripts live in benchmarks/investigations/, common and the suites in benchmarks/
for folder in (ROOT / "benchmarks", ROOT / "benchmarks" / "investigations"):
    sys.path.insert(0, str(folder))
SESSION = ROOT / "benchmarks" / "gpu_session.sh"


def test_gpu_kernels_reads_the_training_loop_of_a_compiled_program():
    """benchmarks/gpu_kernels.py's HLO reader on a CPU-compiled scan (the reader is the
    same for any backend; CI has no CUDA plugin to compile for the H100)."""
    import gpu_kernels as gk

    def f(w, xs):
        def body(w, x):
            w = w - 0.1 * jnp.tanh(x @ w)           # (16, 32) @ (32, 32)
            return w, jnp.sum(w)
        w, s = jax.lax.scan(body, w, xs)
        return w + 1.0, jnp.dot(w[:4], w)           # a dot outside the loop: not counted

    xs = jax.ShapeDtypeStruct((7, 32, 32), jnp.float32)
    text = jax.jit(f).lower(jax.ShapeDtypeStruct((32, 32), jnp.float32), xs).compile().as_text()
    ks = gk.step_kernels(text)
    assert ks and sum(k["flops"] for k in ks) == 2 * 32 * 32 * 32
    assert all(k["bytes"] > 0 for k in ks)
    # launch-bound, bandwidth-bound and compute-bound limits of the estimate
    one = [{"bytes": 3e6, "flops": 0}]
    assert gk.estimate_us(one, 2.0, 3e12, 300) == pytest.approx(2.0)
    assert gk.estimate_us(one, 0.1, 1e12, 300) == pytest.approx(3.0)
    assert gk.estimate_us([{"bytes": 0, "flops": 3e9}], 0.1, 1e12, 300) == pytest.approx(10.0)


def test_gpu_kernels_targets_and_the_sliced_read_rule():
    """The H200 target is the H100's description with HBM3e's bandwidth and size, and a
    loop kernel that slices a batch out of the data set counts the rows it reads, not
    the whole source (the rule once missed fusions named after their other ops)."""
    import gpu_kernels as gk
    h200 = gk.TARGETS["h200"][0]
    assert "memory_bandwidth: 4800000000000" in h200 and '"NVIDIA H200"' in h200
    assert h200.replace("4800000000000", "3352320000000").replace(
        "150754820096", "84929347584").replace('"NVIDIA H200"', '"NVIDIA H100 80GB HBM3"') \
        == gk.H100
    big = jax.ShapeDtypeStruct((4096, 256), jnp.float32)        # 4 MiB of "data"

    def f(data):
        def body(c, i):
            x = jax.lax.dynamic_slice_in_dim(data, i * 16, 16)   # 16 KiB per step
            return c + jnp.sum(jnp.tanh(x) * 2.0), None
        return jax.lax.scan(body, 0.0, jnp.arange(256))[0]

    ks = gk.step_kernels(jax.jit(f).lower(big).compile().as_text())
    assert ks and sum(k["bytes"] for k in ks) < 1 << 20          # not the 4 MiB source


def test_gpu_kernels_counts_a_cublas_gemm_as_a_dot_without_its_workspace():
    """With ``--xla_gpu_enable_triton_gemm=false`` the GEMMs are cuBLAS custom calls whose
    contracting dimensions are in the backend config's JSON and whose result carries a
    scratch workspace: FLOPs as for the dot, bytes without the workspace (the call's text
    is cut from an H200 deviceless compile of the MLP epoch)."""
    import gpu_kernels as gk
    cfg = ('{"gemm_backend_config":{"dot_dimension_numbers":{"lhs_contracting_dimensions":'
           '["1"],"rhs_contracting_dimensions":["0"],"lhs_batch_dimensions":[],'
           '"rhs_batch_dimensions":[]},"epilogue":"DEFAULT"}}')
    text = "\n".join([
        "%body (p: (s32[], f32[128,784], f32[784,1024])) -> (s32[], f32[128,1024]) {",
        "  %p = (s32[], f32[128,784]{1,0}, f32[784,1024]{1,0}) parameter(0)",
        "  %x = f32[128,784]{1,0} get-tuple-element(%p), index=1",
        "  %w = f32[784,1024]{1,0} get-tuple-element(%p), index=2",
        "  %cublas-lt-matmul.3 = (f32[128,1024]{1,0}, s8[4194304]{0}) custom-call(%x, %w), "
        f'custom_call_target="__cublas$lt$matmul", backend_config={cfg}',
        "  %h = f32[128,1024]{1,0} get-tuple-element(%cublas-lt-matmul.3), index=0",
        "}",
        "ENTRY %main (a: (s32[], f32[128,784], f32[784,1024])) -> (s32[], f32[128,1024]) {",
        "  %a = (s32[], f32[128,784]{1,0}, f32[784,1024]{1,0}) parameter(0)",
        "  ROOT %while = (s32[], f32[128,1024]{1,0}) while(%a), condition=%cond, body=%body",
        "}"])
    (k,) = gk.step_kernels(text)
    assert k["flops"] == 2 * 128 * 784 * 1024
    assert k["bytes"] == 4 * (128 * 784 + 784 * 1024 + 128 * 1024)


def test_gpu_kernels_traces_nnfunc_as_a_gpu_session_would():
    """Deviceless compiles run with the CPU as the default backend; nnfunc's CPU-only
    convolution lowerings must not leak into the GPU programs (and come back after)."""
    import gpu_kernels as gk
    from nnfunc.layers import conv
    w, x = jnp.zeros((3, 3, 1, 4)), jnp.zeros((2, 8, 8, 1))
    on_cpu = jax.default_backend() == "cpu"
    assert conv._by_taps(w) == on_cpu
    with gk._traced_as_gpu():
        assert not conv._by_taps(w)
        assert not conv._weight_grad_by_taps(x, w, (1, 1), "VALID", (1, 1))
    assert conv._by_taps(w) == on_cpu
    assert conv._weight_grad_by_taps(x, w, (1, 1), "VALID", (1, 1)) == on_cpu


def test_gpu_session_imports_nnfunc_from_the_checkout(tmp_path):
    """The device's python has no nnfunc installed: gpu_session.sh must find the checkout's
    src/nnfunc (after the move to a src layout, its old path gave every step 'No module
    named nnfunc'). A python without this environment's .pth files (-S) stands in for it."""
    import sysconfig
    site = ":".join(dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib")))
    bare = tmp_path / "python"
    bare.write_text(f'#!/bin/sh\nPYTHONPATH="${{PYTHONPATH:+$PYTHONPATH:}}{site}" '
                    f'exec "{sys.executable}" -S "$@"\n')
    bare.chmod(0o755)
    alone = subprocess.run([str(bare), "-c", "import nnfunc"], capture_output=True, text=True,
                           cwd=tmp_path)
    assert "No module named 'nnfunc'" in alone.stderr          # the stand-in is bare
    proc = subprocess.run(["bash", str(SESSION), "--dry-run"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          env={**os.environ, "PYTHON": str(bare)})
    assert f"import nnfunc: 0.1.0 from {ROOT / 'src' / 'nnfunc'}" in proc.stdout, (
        proc.stdout + proc.stderr)
    assert "import common: ok" in proc.stdout, proc.stdout        # the benchmarks' helpers


def test_gpu_kernels_reads_word2vecs_epoch_loop_which_has_no_conditional():
    """The word2vec epoch loop as gpu_kernels.py reads it (compiled for this CPU here; the
    script compiles it for an H100/H200): one while loop, no lax.cond inside it (a scan
    skipping padding batches with lax.cond made XLA:GPU copy both tables every step), no
    whole-table copy, and the step count of the kept tokens."""
    import re
    import gpu_kernels as gk
    from conftest import SHARED
    lee = SHARED / "data" / "text" / "lee_background.cor"
    if not lee.exists():
        pytest.skip(f"no corpus at {lee}")
    cpu = jax.sharding.SingleDeviceSharding(jax.devices("cpu")[0])
    prog = gk.word2vec_program(str(lee), sharding=cpu)
    comps = gk._computations(prog["text"])
    bodies = [re.search(r"body=%([\w.\-]+)", i["rest"]).group(1)
              for instrs in comps.values() for i in instrs if i["op"] == "while"]
    assert len(bodies) == 1
    assert not [i for i in comps[bodies[0]] if i["op"] == "conditional"]
    ks = gk.step_kernels(prog["text"])
    assert ks and not [k for k in ks if k["kind"] == "copy" and
                       k["bytes"] >= prog["table_mb"] * 2e6]
    assert prog["batch"] % 10 == 0 and 0 < prog["steps"] <= -(-prog["words"] // prog["batch"]) + 1
