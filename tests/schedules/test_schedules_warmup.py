"""nnfunc.schedules.warmup: linear warmup and Noam's inverse square root against torch,
the other warmups against their closed forms, and continuity at the joins."""
import math

import numpy as np
import pytest

from _schedules_setup import (S, WARMUP_CASES, assert_rel, evaluate, python_trace,
                              torch_trace)


@pytest.mark.parametrize("name,sched,make,lr,K", WARMUP_CASES,
                         ids=[c[0] for c in WARMUP_CASES])
def test_matches_torch(x64, name, sched, make, lr, K):
    expected, _ = torch_trace(make, K, lr=lr)
    assert_rel(evaluate(sched, K), expected)


# --------------------------------------------------------------------- beyond torch: formulas

BEYOND_CASES = [
    ("warmup_cos_ramp", S.warmup(S.step_decay(1.0, 50, 0.5), 30, 0.1, strategy="cos"),
     lambda k: 0.1 + 0.9 * (1 - math.cos(math.pi * k / 30)) / 2 if k < 30
     else 0.5 ** ((k - 30) // 50)),
    ("warmup_zero_steps", S.warmup(S.exponential_decay(0.3, 0.99), 0),
     lambda k: 0.3 * 0.99 ** k),
    ("warmup_number", S.warmup(0.2, 100), lambda k: 0.2 * min(k, 100) / 100),
    ("warmup_cosine", S.warmup_cosine(0.5, 40, 400, init_value=0.01, end_value=0.02),
     lambda k: 0.01 + 0.49 * k / 40 if k < 40
     else 0.02 + 0.48 * (1 + math.cos(math.pi * min(k - 40, 360) / 360)) / 2),
    ("wsd_linear", S.warmup_stable_decay(0.5, 30, 200, 150, end_value=0.05),
     lambda k: 0.5 * k / 30 if k < 30 else 0.5 if k < 230
     else 0.05 + 0.45 * (1 - min(k - 230, 150) / 150)),
    ("wsd_cos", S.warmup_stable_decay(0.5, 30, 200, 150, init_value=0.1, decay_strategy="cos"),
     lambda k: 0.1 + 0.4 * k / 30 if k < 30 else 0.5 if k < 230
     else 0.25 * (1 + math.cos(math.pi * min(k - 230, 150) / 150))),
    ("wsd_1_sqrt", S.warmup_stable_decay(0.5, 0, 100, 300, decay_strategy="1-sqrt"),
     lambda k: 0.5 if k < 100 else 0.5 * (1 - math.sqrt(min(k - 100, 300) / 300))),
]


@pytest.mark.parametrize("name,sched,fn", BEYOND_CASES, ids=[c[0] for c in BEYOND_CASES])
def test_beyond_torch_closed_forms(x64, name, sched, fn):
    K = 500
    assert_rel(evaluate(sched, K), python_trace(fn, K))


def test_warmup_schedules_are_continuous_at_the_joins(x64):
    wsd = evaluate(S.warmup_stable_decay(1.0, 10, 20, 30, end_value=0.1), 80)
    np.testing.assert_allclose(wsd[[10, 29, 30, 60, 79]], [1.0, 1.0, 1.0, 0.1, 0.1])
    assert np.all(np.diff(wsd[:10]) > 0) and np.all(np.diff(wsd[30:61]) < 0)
    noam = evaluate(S.inverse_sqrt(2.0, warmup_steps=16), 100)
    assert int(np.argmax(noam)) == 15 and noam[15] == pytest.approx(2.0)
    assert noam[63] == pytest.approx(1.0)  # sqrt(16 / 64)
