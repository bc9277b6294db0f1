"""nnfunc.schedules.decay against torch (step, multistep, exponential, lambda, time-based,
constant factor, linear, polynomial): the tables in _schedules_setup.DECAY_CASES."""
import pytest

from _schedules_setup import DECAY_CASES, assert_rel, evaluate, torch_trace


@pytest.mark.parametrize("name,sched,make,lr,K", DECAY_CASES,
                         ids=[c[0] for c in DECAY_CASES])
def test_matches_torch(x64, name, sched, make, lr, K):
    expected, _ = torch_trace(make, K, lr=lr)
    assert_rel(evaluate(sched, K), expected)
