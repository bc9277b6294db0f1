"""benchmarks/investigations/sweep_roofline.py: the step-cost arithmetic against a hand count, the bound
algebra on a quick run's rows, and the report (the full CPU numbers are in
benchmarks/results/investigations/sweep-roofline-cpu.md; the GPU ones come from gpu_session.sh)."""
import json
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks" / "investigations"))


def test_step_cost_counts_adam_bytes_activations_and_flops():
    import sweep_roofline as S
    cost = S.step_cost((784, 100, 10), batch=128)
    params = 784 * 100 + 100 + 100 * 10 + 10                  # 79,510
    assert cost["params"] == params == 79_510
    assert cost["bytes"] == 32 * params + 16 * 128 * (100 + 10)
    # forward 784x100 and 100x10, both weight gradients, the second layer's input gradient
    assert cost["flops"] == 2 * 128 * (2 * (78_400 + 1_000) + 1_000)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    import sweep_roofline as S
    out = tmp_path_factory.mktemp("sweep") / "sweep"
    return S.main(["--quick", "--runs-inside", "--out", str(out)]), out


def test_rows_follow_the_bound_algebra(quick):
    res, _ = quick
    assert [(r["model"], r["runs"]) for r in res["rows"]] == [
        ("MLP 784-100-10", 64), ("MLP 784-100-10", 8), ("MLP 784-1024-1024-10", 8)]
    for r in res["rows"]:
        one, sweep, runs = r["one_step_us"], r["sweep_step_us"], r["runs"]
        assert r["speedup"] == pytest.approx(runs * one / sweep)
        assert r["speedup"] == pytest.approx(r["sweep_samples_per_s"] / r["one_samples_per_s"])
        floor = 1e6 * max(r["bytes"] / r["bandwidth"], r["flops"] / res["machine"]["flops"])
        assert r["run_floor_us"] == pytest.approx(floor)
        assert r["overhead_us"] == pytest.approx(max(one - floor, 0.0), abs=1e-6)
        bound = r["overhead_us"] + runs * floor
        assert r["bound_step_us"] == pytest.approx(bound)
        assert r["bound_speedup"] == pytest.approx(runs * one / bound)
        assert r["fraction_of_bound"] == pytest.approx(bound / sweep)
        inside = r["inside_step_us"]                 # nf.train.sweep's runs-inside layout
        assert r["inside_speedup"] == pytest.approx(runs * one / inside)
        assert r["inside_fraction_of_bound"] == pytest.approx(bound / inside)
        assert r["working_set_bytes"] == max(runs * 16 * r["params"], 2**20)
        assert r["bandwidth"] > 1e8 and res["machine"]["flops"] > 1e8


def test_report_and_json_agree(quick):
    res, out = quick
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["rows"] == json.loads(json.dumps(res["rows"]))
    md = out.with_suffix(".md").read_text()
    assert md.startswith("# Sweeps against their bound (cpu)")
    for r in res["rows"]:
        assert f"| {r['model']} | {r['runs']} |" in md
        assert f"**{r['speedup']:.2f}x**" in md
        assert (f"| {r['sweep_step_us']:.0f} | {r['inside_step_us']:.0f} | "
                f"**{r['inside_speedup']:.2f}x** |") in md


def test_bandwidth_probe_runs_every_pass_as_its_own_loop_iteration():
    """The probe's passes are loop iterations (a chain of passes in one function would be
    fused into one pass, and its bytes counted k times): k passes give x * 2^k + 2^k - 1,
    and the compiled program keeps its while loop."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import sweep_roofline as S
    x = jnp.arange(8192, dtype=jnp.float32).reshape(8, 1024) / 8192
    for k in (2, 2 + S.EXTRA_PASSES):
        np.testing.assert_allclose(np.asarray(S.passes(k)(x)),
                                   np.asarray(x) * 2.0 ** k + 2.0 ** k - 1, rtol=1e-6)
    assert "while" in S.passes(2 + S.EXTRA_PASSES).lower(x).compile().as_text()


def test_bandwidth_is_the_extra_passes_bytes_over_the_time_difference():
    """A call's fixed cost (dispatch, sync, allocation) cancels: only the time the extra
    passes add counts, each pass reading and writing the buffer once."""
    import jax
    import sweep_roofline as S
    n = 4 * 2**20
    got = S.bandwidth(jax.devices("cpu")[0], n, reps=1,
                      timer=lambda fns, reps: {"few": 0.25, "many": 0.75})
    assert got == pytest.approx(S.EXTRA_PASSES * 2 * n / 0.5)
