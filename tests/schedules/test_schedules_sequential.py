"""nnfunc.schedules.sequential against torch's SequentialLR."""
import pytest

from _schedules_setup import SEQUENTIAL_CASES, assert_rel, evaluate, torch_trace


@pytest.mark.parametrize("name,sched,make,lr,K", SEQUENTIAL_CASES,
                         ids=[c[0] for c in SEQUENTIAL_CASES])
def test_matches_torch(x64, name, sched, make, lr, K):
    expected, _ = torch_trace(make, K, lr=lr)
    assert_rel(evaluate(sched, K), expected)
