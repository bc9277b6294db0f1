"""nnfunc.schedules.cosine against torch (CosineAnnealingLR in its recursive and closed
forms, CosineAnnealingWarmRestarts), and restarts placed exactly at large steps."""
import math

import jax
import numpy as np
import pytest

from _schedules_setup import (COSINE_CASES, S, assert_rel, evaluate, tls, torch,
                              torch_trace)


@pytest.mark.parametrize("name,sched,make,lr,K", COSINE_CASES,
                         ids=[c[0] for c in COSINE_CASES])
def test_matches_torch(x64, name, sched, make, lr, K):
    expected, _ = torch_trace(make, K, lr=lr)
    assert_rel(evaluate(sched, K), expected)


def test_cosine_annealing_matches_torch_closed_form(x64):
    # torch's closed form (step(epoch)) and its recursive form agree; check the former too.
    K, T_max = 400, 45
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    torch_sched = tls.CosineAnnealingLR(torch.optim.SGD([p], lr=0.5), T_max=T_max, eta_min=0.1)
    torch_sched.last_epoch = 0
    closed = []
    for k in range(K):
        torch_sched.last_epoch = k
        closed.append(torch_sched._get_closed_form_lr()[0])
    ours = evaluate(S.cosine_annealing(0.5, T_max=T_max, eta_min=0.1), K)
    assert_rel(ours, np.array(closed))
    # periodic past T_max: back at the top at 2 T_max
    assert ours[2 * T_max] == pytest.approx(0.5, rel=1e-12)


def test_cosine_warm_restarts_restarts_exactly_at_large_boundaries():
    # Restart n starts at T_0 (2^n - 1); a float log would misplace some of these.
    sched = jax.jit(S.cosine_warm_restarts(1.0, T_0=10, T_mult=2, eta_min=0.0))
    for n in (3, 10, 20, 27):
        start = 10 * (2 ** n - 1)
        assert float(sched(start)) == 1.0
        length = 10 * 2 ** (n - 1)  # the cycle that ends there
        assert float(sched(start - 1)) <= (math.pi / length) ** 2
    assert np.isfinite(float(sched(2 ** 31 - 1)))

