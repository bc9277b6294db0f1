"""benchmarks/daily_tools.py at its smallest settings (``--smoke``, the suite's CI smoke
run): predict on 512 test images, the metrics and streaming sections end to end on 512
images with a 784-16-10 MLP (MNIST from the shared folder when it is there, synthetic
digits otherwise), then the internals' profiles of
benchmarks/investigations/daily_tools_internals.py into the same page; only the
structure of the results is checked, not the timings (the full run's numbers are in
benchmarks/results/daily_tools/daily-tools-cpu.md)."""
import json
import pathlib
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
for folder in (ROOT / "benchmarks", ROOT / "benchmarks" / "investigations"):
    sys.path.insert(0, str(folder))

TINY = ["--samples", "512", "--epochs", "2", "--reps", "1", "--sizes", "784-16-10"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    import daily_tools as D
    import daily_tools_internals as I
    out = tmp_path_factory.mktemp("daily") / "daily"
    D.main(["--smoke", "--out", str(out)])        # the same sizes as TINY, and predict
    I.main(["--samples", "512", "--reps", "1", "--sizes", "784-16-10", "--out", str(out)])
    return D, out, json.loads(out.with_suffix(".json").read_text())


def test_numpy_batches_reshuffle_each_epoch_and_drop_the_remainder():
    import daily_tools as D
    X = np.arange(10 * 3, dtype=np.float32).reshape(10, 3)
    Y = np.arange(10, dtype=np.int32)
    data = D.NumpyBatches(X, Y, 4)
    first, second = list(data), list(data)
    assert len(data) == 2 and len(first) == 2 and len(second) == 2
    for xb, yb in first + second:
        assert xb.shape == (4, 3) and yb.shape == (4,)
        np.testing.assert_array_equal(xb, X[yb])            # pairs stay together
    ys1, ys2 = np.concatenate([y for _, y in first]), np.concatenate([y for _, y in second])
    assert len(set(ys1.tolist())) == 8                      # no repeats within an epoch
    assert not np.array_equal(ys1, ys2)                     # a new order each epoch


def test_smoke_run_writes_every_section(tiny_run):
    _, out, res = tiny_run
    assert out.with_suffix(".md").is_file()
    p = res["predict"]
    assert p["examples"] == 512 and p["predict_s"] > 0 and p["apply_s"] > 0
    assert {"metrics", "stream", "metrics_programs", "stream_profile"} <= set(res)


def test_metrics_section(tiny_run):
    _, _, res = tiny_run
    m = res["metrics"]
    assert m["sizes"] == [784, 16, 10] and m["batch_size"] == 128 and m["samples"] == 512
    assert set(m["train_ratio"]) == {"f1", "top3", "f1+top3", "eval, none",
                                     "eval, f1+top3"}
    for r in list(m["train_ratio"].values()) + [m["wall_ratio_eval"]]:
        assert r["min"] <= r["median"] <= r["max"] and r["median"] > 0
        assert len(r["ratios"]) == 1
    assert isinstance(m["target_met"], bool)
    assert m["command"].endswith("--out " + str(tiny_run[1]))
    pm = res["metrics_programs"]
    assert set(pm["ratio"]) == {"none (A/A)", "f1", "top3", "f1+top3"}
    assert len(pm["ratio"]["f1"]["ratios"]) == 3               # reps * 3 rounds


def test_stream_section_and_profile(tiny_run):
    _, _, res = tiny_run
    st = res["stream"]
    assert st["median_samples_per_s"]["arrays"] > 0
    assert "numpy generator" in st["ratio"]
    try:
        import torch  # noqa: F401
        assert "torch DataLoader" in st["ratio"]
    except ImportError:
        assert st["torch"].startswith("skipped")
    prof = res["stream_profile"]
    assert prof["steps"] == 4 and prof["over_array_epoch"][
        "array epoch program (make_epoch)"] == pytest.approx(1.0)
    assert any(k.startswith("streamed epoch") for k in prof["seconds"])


def test_markdown_has_the_tables(tiny_run):
    _, out, _ = tiny_run
    md = out.with_suffix(".md").read_text()
    assert "| variant | median ratio | spread |" in md
    assert "numpy generator" in md and "f1 + top3" in md and "### Profile" in md
    assert "none (A/A)" in md
    assert "python benchmarks/run.py daily_tools" in md
    assert "python benchmarks/investigations/daily_tools_internals.py" in md


def test_only_keeps_the_other_sections(tiny_run, tmp_path):
    D, out, res = tiny_run
    copy = tmp_path / "daily"
    copy.with_suffix(".json").write_text(json.dumps(dict(res, predict={
        "examples": 10, "batch_size": 4, "predict_s": 1.0, "apply_s": 3.0, "speedup": 3.0,
        "reps": 1})))
    D.main(["--only", "stream", *TINY, "--out", str(copy)])
    new = json.loads(copy.with_suffix(".json").read_text())
    assert new["predict"]["speedup"] == 3.0 and new["metrics"] == res["metrics"]
    assert "predict is **3.0x**" in copy.with_suffix(".md").read_text()


def test_bad_only_fails_clearly(capsys):
    import daily_tools as D
    with pytest.raises(SystemExit):
        D.main(["--only", "nope"])
    assert "--only" in capsys.readouterr().err
