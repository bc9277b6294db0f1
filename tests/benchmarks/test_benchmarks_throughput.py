"""The throughput suite (``benchmarks/run.py throughput``): its smoke run and its pieces.

The end-to-end run is the suite's ``--smoke`` configuration (every model, variant and
peer on a few hundred samples), through the one entry point, so it checks that the suite
runs and writes valid files, never how fast anything is.
"""
import json
import math
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
RUN = ROOT / "benchmarks" / "run.py"
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import flops, jax_peer, report  # noqa: E402
from common.config import FULL, MLP_SIZES, QUICK  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _have(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One tiny end-to-end run (CPU; a 'gpu' request that is absent must be skipped)."""
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, str(RUN), "throughput", "--smoke", "--out", str(out),
         "--backends", "cpu,gpu",
         "--tag", "My Device 2026"],
        cwd=str(ROOT), capture_output=True, text=True, timeout=300)
    return out, proc


def test_tiny_run_succeeds(tiny_run):
    out, proc = tiny_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for name in ("results.json", "report.md", "throughput.png",
                 "my-device-2026.json", "my-device-2026.md", "my-device-2026.png"):
        assert (out / name).is_file(), name


def test_results_json_rows(tiny_run):
    out, proc = tiny_run
    if not jax.devices()[0].platform == "cpu":
        pytest.skip("the tiny run's expectations below are for a CPU-only JAX")
    res = json.loads((out / "results.json").read_text())
    assert res["errors"] == []
    rows = res["rows"]
    expected = {("nnfunc", "step"), ("nnfunc", "epoch"), ("nnfunc", "sweep8")}
    if _have("optax"):
        expected.add(("jax+optax", "scan_epoch"))
    if _have("torch"):
        expected.add(("torch", "eager"))
    for model in ("mlp", "cnn"):
        got = {(r["framework"], r["variant"]) for r in rows if r["model"] == model}
        assert got == expected, model
    for r in rows:
        for field in report.ROW_FIELDS:
            assert field in r, field
        for field in ("samples_per_s", "achieved_gflops", "pct_of_matmul_ceiling",
                      "epoch_ms", "final_loss"):
            assert isinstance(r[field], float) and math.isfinite(r[field]) and r[field] > 0, \
                (field, r)
        assert r["backend"] == "cpu" and r["jax_version"] == jax.__version__
        # throughput, time and FLOPs agree with each other
        assert r["samples_per_s"] == pytest.approx(r["samples_per_epoch"] / r["epoch_ms"] * 1e3)
        assert r["achieved_gflops"] == pytest.approx(
            r["samples_per_s"] * r["train_flops_per_sample"] / 1e9)
        assert r["runs"] == (8 if r["variant"] == "sweep8" else 1)
    assert res["ceilings"]["cpu"]["default"]["gflops"] > 0
    assert any("'gpu' skipped" in n for n in res["notes"])
    assert json.loads((out / "my-device-2026.json").read_text())["rows"] == rows


def test_report_md_has_table(tiny_run):
    out, _ = tiny_run
    md = (out / "report.md").read_text()
    assert "| backend | model | batch | framework / variant | samples/s |" in md
    assert "|---|---|---:|" in md
    assert md.count("| cpu | mlp | 64 |") >= 3 and md.count("| cpu | cnn | 64 |") >= 3
    assert "Backend 'gpu' skipped" in md
    assert "models·samples/s" in md


def test_throughput_png_is_valid(tiny_run):
    out, _ = tiny_run
    data = (out / "throughput.png").read_bytes()
    assert data[:8] == PNG_MAGIC
    plt = pytest.importorskip("matplotlib.pyplot")
    img = plt.imread(str(out / "throughput.png"))
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 300


@pytest.mark.parametrize("model,shape,expected", [
    ("mlp", (3, 784), flops.dense_forward_flops(MLP_SIZES)),
    ("cnn", (3, 28, 28, 1), flops.lenet_forward_flops()),
])
def test_analytic_flops_match_xla_cost_analysis(model, shape, expected):
    """The hand count of forward FLOPs agrees with XLA's own count of the same model."""
    init, apply = jax_peer.forward_fn(model, MLP_SIZES)
    params = init(jax.random.key(0))
    cost = jax.jit(apply).lower(params, jnp.zeros(shape)).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    # XLA also counts bias adds and ReLUs, a fraction of a percent here.
    assert cost["flops"] / shape[0] == pytest.approx(expected, rel=0.01)
    assert flops.train_flops_per_sample(model, MLP_SIZES) == 3 * expected


def test_flops_closed_forms():
    assert flops.dense_forward_flops([784, 1024, 1024, 10]) == 2 * (784 * 1024 + 1024 * 1024
                                                                     + 1024 * 10)
    # LeNet: conv 28x28x(5x5x1)x6, conv 10x10x(5x5x6)x16, dense 400-120-84-10
    assert flops.lenet_forward_flops() == 2 * (28 * 28 * 25 * 6 + 10 * 10 * 150 * 16
                                               + 400 * 120 + 120 * 84 + 84 * 10)
    with pytest.raises(ValueError, match="model must be"):
        flops.train_flops_per_sample("rnn", MLP_SIZES)


def _row(backend, framework, variant, sps, model="mlp", bs=128):
    return {"framework": framework, "variant": variant, "model": model, "batch_size": bs,
            "backend": backend, "device_name": backend, "jax_version": "x",
            "samples_per_s": sps, "achieved_gflops": 1.0, "pct_of_matmul_ceiling": 1.0,
            "epoch_ms": 60_000 / sps * 1e3, "samples_per_epoch": 60_000, "final_loss": 0.5}


def test_report_speedups_and_targets_with_both_backends(tmp_path):
    """GPU/CPU speedups and the issue's targets, from hand-made rows with known ratios."""
    rows = [_row("cpu", "nnfunc", "epoch", 50_000.0), _row("gpu", "nnfunc", "epoch", 3e6),
            _row("gpu", "nnfunc", "sweep8", 1.2e7), _row("cpu", "torch", "eager", 25_000.0),
            _row("gpu", "torch", "eager", 1e6), _row("gpu", "jax+optax", "scan_epoch", 2.5e6),
            {**_row("gpu", "torch", "compiled", 4e6), "compile_s": 31.0,
             "compile_mode": "reduce-overhead"}]
    meta = {"config": "full", "date": "d", "jax_version": "x", "python_version": "3",
            "data": "synthetic", "n_samples": 60_000, "devices": {"cpu": "c", "gpu": "g"},
            "min_reps": 3, "max_reps": 10, "min_time_s": 2.0, "sweep_runs": 8,
            "sweep_learning_rates": [1e-3] * 8, "sweep_samples_per_run": 7500}
    ceil = {"default": {"n": 8, "gflops": 10.0}, "highest": {"n": 8, "gflops": 5.0}}
    results = {"meta": meta, "ceilings": {"cpu": ceil, "gpu": ceil}, "rows": rows,
               "notes": ["a note"], "errors": []}
    md = report.render_markdown(results)
    assert "## GPU / CPU speedup" in md
    assert "| mlp | 128 | nnfunc fused epoch | 50,000 | 3,000,000 | 60.0x |" in md
    assert "| mlp | 128 | PyTorch eager | 25,000 | 1,000,000 | 40.0x |" in md
    assert "time for 60k samples: 20.0 ms (target <= 30 ms: met)" in md
    assert ("MLP b=128: nnfunc fused epoch / raw JAX + optax scan epoch: 1.20x "
            "(target >= 1.0x: met)") in md
    assert ("MLP b=128: nnfunc fused epoch / PyTorch torch.compile: 0.75x "
            "(target >= 1.0x: NOT met)") in md
    # nnfunc fused epoch relative to the peers, per backend; sweep/one run
    assert "| gpu | mlp | 128 | – | 1.20x | 3.00x | 0.75x | 4.00x |" in md
    assert "torch.compile(mode='reduce-overhead')" in md and "gpu mlp b=128 31.0 s" in md
    report.write_plot(tmp_path / "p.png", results)
    assert (tmp_path / "p.png").read_bytes()[:8] == PNG_MAGIC


def test_report_without_gpu_says_so():
    results = {"meta": {"config": "quick", "date": "d", "jax_version": "x",
                        "python_version": "3", "data": "s", "n_samples": 1,
                        "devices": {"cpu": "c"}, "min_reps": 3, "max_reps": 3,
                        "min_time_s": 0, "sweep_runs": 8, "sweep_learning_rates": [],
                        "sweep_samples_per_run": 1},
               "ceilings": {}, "rows": [_row("cpu", "nnfunc", "epoch", 10.0)],
               "notes": [], "errors": ["cpu cnn: boom"]}
    md = report.render_markdown(results)
    assert "GPU targets not checked" in md and "GPU / CPU speedup" not in md
    assert "## Errors" in md and "boom" in md


def test_help_documents_quick_reductions():
    proc = subprocess.run([sys.executable, str(RUN), "--help"], cwd=str(ROOT),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "--quick" in proc.stdout and "--tiny" not in proc.stdout
    assert f"{QUICK.n_samples} samples per epoch instead of {FULL.n_samples}" in \
        " ".join(proc.stdout.split())


@pytest.mark.parametrize("args,message", [
    (["--models", "rnn"], "--models must be a subset of mlp,cnn"),
    (["--data", "cifar"], "invalid choice"),
])
def test_bad_arguments_fail_clearly(args, message, tmp_path):
    proc = subprocess.run([sys.executable, str(RUN), "--out", str(tmp_path)] + args,
                          cwd=str(ROOT), capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert message in proc.stderr


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_torch_compile_peer_trains_what_the_eager_peer_trains(model):
    """The compiled PyTorch peer (issue 15's stronger peer) runs the same model, data order
    and Adam steps as the eager one: equal losses up to the compiler's float reordering;
    its compilation happens in the warm-up, and the timed epoch compiles nothing (the CNN's
    warm-up batches once differed from the epoch's in a way torch.compile guards on)."""
    torch = pytest.importorskip("torch", reason="the PyTorch peers need torch")
    from torch._dynamo.utils import counters
    from common import torch_peer
    rng = np.random.default_rng(0)
    n, shape = (256, (784,)) if model == "mlp" else (64, (28, 28, 1))
    X = rng.normal(size=(n,) + shape).astype(np.float32)
    Y = rng.integers(0, 10, n).astype(np.int32)
    losses, extras = {}, {}
    for mode in (None, "reduce-overhead"):
        r = torch_peer.build(model, (784, 32, 10), 32 if model == "mlp" else 16, X, Y,
                             "cpu", warmup_steps=5, compile_mode=mode)
        r.warmup()
        compiled_frames = sum(counters["frames"].values())
        r.run_epoch()
        r.sync(None)
        assert sum(counters["frames"].values()) == compiled_frames     # no recompilation
        losses[mode], extras[mode] = r.last_loss(), r.extra
    assert np.isfinite(losses[None]) and losses[None] < np.log(10) + 0.1
    assert losses["reduce-overhead"] == pytest.approx(losses[None], rel=1e-4)
    assert extras["reduce-overhead"]["compile_mode"] == "reduce-overhead"
    assert extras["reduce-overhead"]["compile_s"] > extras[None]["compile_s"] > 0


def test_torch_compile_rows_come_after_every_other_row():
    import throughput as suite
    peers = {"torch": "cpu", "optax": "0.2"}
    core = suite.variants(peers)
    assert ("torch", "compiled", "torch") not in core and ("torch", "eager", "torch") in core
    assert suite.variants(peers, compiled=True) == [("torch", "compiled", "torch")]
    assert suite.variants({"torch": None, "optax": None}, compiled=True) == []
    assert suite.parse_args(["--tiny"]).torch_compile == "none"
    assert suite.parse_args(["--smoke"]).torch_compile == "none"
    assert suite.parse_args([]).torch_compile == "reduce-overhead"


