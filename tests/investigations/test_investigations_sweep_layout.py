"""benchmarks/investigations/sweep_layout.py: the two layouts of a sweep train alike (the check the GPU
run relies on), the layout moves only the first weight and its moments, and the report."""
import json
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks" / "investigations"))


def test_both_layouts_train_alike_and_are_timed(tmp_path):
    import sweep_layout as S
    out = tmp_path / "sl"
    res = S.main(["--device", "cpu", "--samples", "512", "--reps", "1", "--runs", "3",
                  "--out", str(out)])
    assert [(r["sizes"], r["runs"]) for r in res["rows"]] == [
        ([784, 100, 10], 3), ([784, 1024, 1024, 10], 3)]
    for r in res["rows"]:
        assert r["steps"] == 4 and r["params_max_rel_diff"] < 1e-5
        first, inside = r["runs first"]["epoch_s"], r["runs inside"]["epoch_s"]
        assert r["speedup"] == pytest.approx(first / inside)
        assert r["runs first"]["step_us"] == pytest.approx(1e6 * first / 4)
    md = out.with_suffix(".md").read_text()
    assert "| 784-100-10 | 3 |" in md and "params max rel. diff" in md
    assert json.loads(out.with_suffix(".json").read_text())["rows"] == json.loads(
        json.dumps(res["rows"]))


def test_inside_layout_moves_only_the_first_weight_and_its_moments():
    import sweep_layout as S
    s0 = S.init_state((784, 16, 10), 3, jax.random.key(0))
    si = S.to_inside(s0)
    for tree in si[:3]:                                     # params, m, v
        assert tree[0]["w"].shape == (784, 3, 16)
        assert tree[0]["b"].shape == (3, 16) and tree[1]["w"].shape == (3, 16, 10)
    back = S.to_first(si)
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(s0)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    lrs = np.asarray(s0[4])
    assert lrs[0] == pytest.approx(1e-4) and lrs[-1] == pytest.approx(3e-3)


def test_params_difference_detects_a_change():
    import sweep_layout as S
    s0 = S.init_state((8, 4, 2), 2, jax.random.key(0))
    p = s0[0]
    q = [dict(layer) for layer in p]
    q[1]["b"] = q[1]["b"].at[0, 0].add(0.5)
    assert S.max_rel_diff(p, p) == 0.0
    assert S.max_rel_diff(q, p) == pytest.approx(
        0.5 / float(jnp.max(jnp.abs(p[1]["b"]))), rel=1e-6)
