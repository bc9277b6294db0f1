"""Every benchmark suite's smoke run, through the one entry point (``benchmarks/run.py``).

Each suite runs its ``--smoke`` (or ``--quick``, where that is already seconds) into a
temporary folder, and the test checks that the output files exist and parse; no timing
is asserted. The suites that already had an end-to-end test run their smoke run there,
with the structure checks that need it: throughput in test_benchmarks_throughput.py
(``throughput --smoke``), speedrun in test_benchmarks_speedrun.py (``--quick``), word2vec
in test_benchmarks_word2vec.py (``--quick``), daily_tools in
test_benchmarks_daily_tools.py (``--smoke``). This file holds the entry point and the
smoke runs of the other suites.
"""
import json
import pathlib
import subprocess
import sys

import pytest

from conftest import MNIST_DIR

ROOT = pathlib.Path(__file__).resolve().parents[2]
RUN = ROOT / "benchmarks" / "run.py"
sys.path.insert(0, str(ROOT / "benchmarks"))


def test_the_entry_point_names_every_suite():
    import run
    assert list(run.SUITES) == ["throughput", "speedrun", "optimizers", "word2vec",
                                "autoencoders", "daily_tools"]
    for name in run.SUITES:
        assert run.split_argv([name, "--quick"]) == (name, ["--quick"])
    assert run.split_argv(["daily-tools"]) == ("daily_tools", [])
    assert run.take_device(["--quick", "--device", "gpu", "--out", "x"]) == (
        "gpu", ["--quick", "--out", "x"])


def test_quick_without_a_name_is_the_throughput_quick_run():
    """README's set-up command, ``python benchmarks/run.py --quick``, stays the throughput
    suite's quick run writing results.json, report.md and throughput.png into
    benchmarks/results/latest."""
    import run
    import throughput
    assert run.split_argv(["--quick"]) == ("throughput", ["--quick"])
    args = throughput.parse_args(["--quick"])
    assert args.quick and not args.tiny and args.part == "epochs"
    assert args.out == "benchmarks/results/latest" and args.backends == "cpu,gpu"


def test_an_unknown_suite_fails_clearly_as_a_module_too():
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "nope"], cwd=str(ROOT),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "unknown benchmark 'nope'" in proc.stderr and "throughput" in proc.stderr


def test_the_fit_part_renders_its_page():
    """throughput's ``--part fit`` (what fit and sweep cost over the fused epoch): its
    sizes and page, from a made-up result (the measurements take a minute)."""
    import throughput
    import throughput_fit as F
    args = throughput.parse_args(["--part", "fit", "--smoke", "--fit-repeats", "3"])
    assert F.settings(args) == (256, 3, 1)
    assert F.settings(throughput.parse_args(["--part", "fit"])) == (8192, 5, 2)
    res = {"command": "python benchmarks/run.py throughput --part fit", "jax": "x",
           "python": "3", "date": "d", "machine": "m", "cpu": "c", "backend": "cpu",
           "device": "c", "samples": 256, "samples_used": 256, "repeats": 3,
           "sweep_repeats": 1, "sizes": [784, 10], "batch_size": 128, "learning_rate": 1e-3,
           "rows": [{"what": "nnfunc make_epoch", "seconds": 0.5, "samples_per_s": 512.0}],
           "ratios": [{"ratio": "a / b", "value": 1.25, "target": ">= 1"}],
           "ceiling": [{"quantity": "q", "value": "1 G"}]}
    md = F.render(res)
    assert "| nnfunc make_epoch | 0.500 | 512 |" in md and "| a / b | 1.25x | >= 1 |" in md


def test_optimizers_smoke(tmp_path, monkeypatch):
    import run
    monkeypatch.setenv("JAX_PLATFORMS", "")     # --device sets it: undone after the test
    assert run.main(["optimizers", "--smoke", "--only", "adam,sgd", "--device", "cpu",
                     "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "optimizers-cpu.json").read_text())
    assert [r["optimizer"] for r in res["rows"]] == ["sgd", "adam"]
    assert res["meta"]["reps"] == 1 and res["meta"]["backend"] == "cpu"
    assert all(r["nnfunc_ms"] > 0 and r["optax_ms"] > 0 for r in res["rows"])
    assert "| adam |" in (tmp_path / "optimizers-cpu.md").read_text()


@pytest.mark.skipif(not (MNIST_DIR / "train-images-idx3-ubyte.gz").exists(),
                    reason=f"the MNIST training set is not in {MNIST_DIR} (set NNFUNC_SHARED)")
def test_autoencoders_smoke(tmp_path, monkeypatch):
    import run
    monkeypatch.setenv("NNFUNC_SHARED", str(MNIST_DIR.parents[1]))
    run.main(["autoencoders", "--smoke", "--out", str(tmp_path / "ae")])
    res = json.loads((tmp_path / "ae.json").read_text())
    assert res["train_images"] == 512 and res["test_images"] == 500
    assert res["pca32_mse"] > 0 and res["speed"]["ratio"] > 0
    assert (tmp_path / "ae.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| deep AE (code 32) / PCA-32 test MSE |" in (tmp_path / "ae.md").read_text()
