"""benchmarks/speedrun.py in its ``--quick`` mode (the suite's CI smoke run): both frameworks train the recipe
on 512 MNIST images (the shared folder's, else synthetic digits) for two one-cycle epochs
and evaluate 500; only the structure and sanity of the results are checked, not the
speed or the 99 % target (the full run's numbers are in
benchmarks/results/speedrun/mnist-speedrun-cpu.md)."""
import json
import math
import os
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))


def _have_mnist() -> bool:
    root = pathlib.Path(os.environ.get("NNFUNC_DATA", "~/.cache/nnfunc")).expanduser()
    return all((root / "mnist" / f).exists() for f in (
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"))


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    pytest.importorskip("torch", reason="the PyTorch peer needs torch")
    import speedrun as S
    out = tmp_path_factory.mktemp("speedrun") / "speedrun"
    argv = ["--quick", "--device", "cpu", "--profile", "--out", str(out)]
    if not _have_mnist():
        argv.append("--synthetic")
    res = S.main(argv)
    return S, out, res


def test_reached_counts_test_examples():
    import speedrun as S
    assert S.reached(0.98999995, 0.99, 10_000)          # 9900/10000 read back in float32
    assert not S.reached(0.9899, 0.99, 10_000)
    assert S.reached(1.0, 0.99, 7)


def test_summary_statistics():
    import speedrun as S
    runs = [S.summary_of_run([2.0, 3.0], [0.97, 0.992], 0.99, 1000),
            S.summary_of_run([4.0], [0.995], 0.99, 1000),
            S.summary_of_run([1.0, 1.0], [0.9, 0.95], 0.99, 1000)]
    assert [r["time_to_target_s"] for r in runs] == [5.0, 4.0, None]
    assert [r["epochs_to_target"] for r in runs] == [2, 1, None]
    s = S.summarize(runs)
    assert s["reached"] == 2 and s["seeds"] == 3
    assert math.isclose(s["fraction_reached"], 2 / 3)
    assert s["time_to_target_s"]["mean"] == 4.5 and s["time_to_target_s"]["n"] == 2
    assert s["epoch_s"]["n"] == 5


def test_one_cycle_is_capped_after_its_last_step():
    import nnfunc as nf
    import speedrun as S
    sched = S.capped(nf.schedules.one_cycle(0.01, 10), 10)
    assert float(sched(9)) == float(sched(25)) > 0
    assert float(sched(3)) > float(sched(9))


def test_quick_run_structure(quick_run):
    S, out, res = quick_run
    assert set(res["runs"]) == {"nnfunc", "torch"}
    for fw in ("nnfunc", "torch"):
        runs = res["runs"][fw]
        assert sorted(runs) == ["0", "1"]
        for r in runs.values():
            assert 1 <= r["epochs"] <= 2 == res["meta"]["args"]["max_epochs"]
            assert len(r["epoch_seconds"]) == len(r["test_accuracy"]) == r["epochs"]
            assert all(s > 0 for s in r["epoch_seconds"])
            assert all(0.0 <= a <= 1.0 for a in r["test_accuracy"])
            assert all(math.isfinite(v) for v in r["train_loss"])
            # two epochs of the recipe on 512 digits learn something
            assert r["final_accuracy"] > 0.3
            if r["reached"]:
                assert r["time_to_target_s"] == pytest.approx(
                    sum(r["epoch_seconds"][:r["epochs_to_target"]]))
        s = res["summary"][fw]
        assert s["seeds"] == 2 and 0 <= s["reached"] <= 2
        assert s["fraction_reached"] == s["reached"] / 2
    # the timed nnfunc runs reuse the warm-up's compiled programs
    assert all(r["compiles_in_timed_runs"] == 0 for r in res["runs"]["nnfunc"].values())
    w = res["warmup"]["nnfunc"]
    assert w["compile_s"] > 0 and w["xla_compiles"] > 0
    assert res["warmup"]["torch"]["warmup_steps"] == 2
    assert res["ratios"]["epoch_s"] > 0
    assert [row["layer"] for row in res["profile"]][0].startswith("conv 5x5")
    assert all(row["nnfunc_fwd_bwd_ms"] > 0 and row["torch_fwd_bwd_ms"] > 0
               for row in res["profile"])


def test_quick_run_files(quick_run):
    S, out, res = quick_run
    data = json.loads(pathlib.Path(str(out) + ".json").read_text())
    assert data["summary"] == json.loads(json.dumps(res["summary"]))
    md = pathlib.Path(str(out) + ".md").read_text()
    assert "Recipe:" in md and "nnfunc / PyTorch" in md and "Where the time goes" in md
    assert data["meta"]["command"].startswith("python benchmarks/run.py speedrun --quick")
