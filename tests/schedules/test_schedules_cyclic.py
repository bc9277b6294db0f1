"""nnfunc.schedules.cyclic: cyclic and one-cycle learning rates and momenta against
torch's CyclicLR and OneCycleLR, and one_cycle's ends."""
import numpy as np
import pytest

import nnfunc as nf
from _schedules_setup import CYCLE_CASES, S, assert_rel, evaluate, torch_trace


@pytest.mark.parametrize("name,sched,mom,make,K", CYCLE_CASES, ids=[c[0] for c in CYCLE_CASES])
def test_cyclic_lr_and_momentum_match_torch(x64, name, sched, mom, make, K):
    lrs, moms = torch_trace(make, K)
    assert_rel(evaluate(sched, K), lrs)
    assert_rel(evaluate(mom, K), moms)


def test_one_cycle_holds_its_final_value_past_total_steps(x64):
    sched = S.one_cycle(0.5, 100)
    v = evaluate(sched, 300)
    assert np.all(v[100:] == v[100])


def test_one_cycle_rejects_factors_whose_rates_overflow_float32():
    with pytest.raises(ValueError, match="final_div_factor is so small"):
        nf.schedules.one_cycle(0.1, total_steps=10, final_div_factor=1e-42)
    with pytest.raises(ValueError, match="div_factor is so small"):
        nf.schedules.one_cycle(1e30, total_steps=10, div_factor=1e-20)
    s = nf.schedules.one_cycle(0.1, total_steps=10, final_div_factor=1e-3)
    assert np.isfinite(float(s(9)))
