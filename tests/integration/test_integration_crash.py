"""Crash trials (tests/integration/_crash_trials.py): 5 trials, each killing a training
worker once (SIGKILL) at a random moment of its training and resuming it from its newest
checkpoint; the final states must be bit-identical to an uninterrupted run's and every
checkpoint left behind must load."""
import _crash_trials


def test_killed_and_resumed_runs_end_bit_identical():
    res = _crash_trials.run_trials(5, seed=1, kills=1)
    assert res["identical"] == 5, res["rows"]
    assert res["kills"] >= 4                 # a kill can miss only a run that ended first
    assert res["files_checked"] >= res["kills"]
