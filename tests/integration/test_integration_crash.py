"""benchmarks/crash_trials.py in CI: 5 trials, each killing a training worker once at a
random moment of its training and resuming it; the final states must be bit-identical to
an uninterrupted run's and every checkpoint left behind must load."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))

import crash_trials  # noqa: E402


def test_killed_and_resumed_runs_end_bit_identical():
    res = crash_trials.run_trials(5, seed=1, kills=1)
    assert res["identical"] == 5, res["rows"]
    assert res["kills"] >= 4                 # a kill can miss only a run that ended first
    assert res["files_checked"] >= res["kills"]
