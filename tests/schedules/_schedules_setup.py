"""Setup shared by the tests of nnfunc.schedules: the torch and closed-form references,
and the parity tables (one per module; ``ALL_CASES`` gathers every schedule of them).

Convention under test: ``schedule(k)`` is the learning rate torch's optimizer holds for
optimizer step ``k`` when the scheduler is stepped once after every optimizer step. Every
parity check evaluates ``jax.jit(jax.vmap(schedule))(jnp.arange(K))`` in float64, so the
steps are traced, and asks for a relative error <= 1e-10 at every step.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf

S = nf.schedules
torch = pytest.importorskip("torch")
tls = torch.optim.lr_scheduler

RTOL = 1e-10


# --------------------------------------------------------------------------- references

def torch_trace(make, K, lr=1.0):
    """lr and momentum torch's SGD holds for optimizer steps 0..K-1 under ``make(opt)``."""
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=lr, momentum=0.9)
    sched = make(opt)
    lrs, moms = np.empty(K), np.empty(K)
    for k in range(K):
        lrs[k] = opt.param_groups[0]["lr"]
        moms[k] = opt.param_groups[0]["momentum"]
        opt.step()  # no gradients: a no-op that keeps torch's step-order check quiet
        if k < K - 1:
            sched.step()
    return lrs, moms


def python_trace(fn, K):
    return np.array([fn(k) for k in range(K)], dtype=np.float64)


def evaluate(sched, K):
    return np.asarray(jax.jit(jax.vmap(sched))(jnp.arange(K)))


def assert_rel(actual, expected, rtol=RTOL):
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=0)


# ----------------------------------------------------------------------------- torch parity
# (id, nnfunc schedule, torch scheduler factory, initial lr for torch's optimizer, K)

def _seq2():
    return (S.sequential([S.linear(0.5, start_factor=0.1, total_iters=20),
                          S.cosine_annealing(0.5, T_max=200, eta_min=0.01)], [20]),
            lambda o: tls.SequentialLR(o, [tls.LinearLR(o, start_factor=0.1, total_iters=20),
                                           tls.CosineAnnealingLR(o, T_max=200, eta_min=0.01)],
                                       milestones=[20]))


def _seq3():
    return (S.sequential([S.constant_factor(0.5, factor=0.5, total_iters=10),
                          S.exponential_decay(0.5, gamma=0.99),
                          S.step_decay(0.5, step_size=30, gamma=0.5)], [50, 250]),
            lambda o: tls.SequentialLR(o, [tls.ConstantLR(o, factor=0.5, total_iters=10),
                                           tls.ExponentialLR(o, gamma=0.99),
                                           tls.StepLR(o, step_size=30, gamma=0.5)],
                                       milestones=[50, 250]))


def _lam(t):  # works on Python ints (torch) and traced integer arrays (nnfunc)
    return 0.97 ** (t // 10) + 0.1 * (t % 3)


# decay.py
DECAY_CASES = [
    ("step", S.step_decay(0.5, step_size=7, gamma=0.8),
     lambda o: tls.StepLR(o, step_size=7, gamma=0.8), 0.5, 500),
    ("multistep_repeated", S.multistep_decay(0.5, [10, 50, 50, 200], gamma=0.7),
     lambda o: tls.MultiStepLR(o, [10, 50, 50, 200], gamma=0.7), 0.5, 500),
    ("exponential", S.exponential_decay(0.5, gamma=0.995),
     lambda o: tls.ExponentialLR(o, gamma=0.995), 0.5, 500),
    ("lambda", S.lambda_schedule(0.5, _lam), lambda o: tls.LambdaLR(o, _lam), 0.5, 500),
    ("time_based", S.time_based_decay(0.5, decay_rate=0.03),
     lambda o: tls.LambdaLR(o, lambda t: 1 / (1 + 0.03 * t)), 0.5, 500),
    ("constant_factor", S.constant_factor(0.5, factor=0.25, total_iters=40),
     lambda o: tls.ConstantLR(o, factor=0.25, total_iters=40), 0.5, 500),
    ("constant_factor_default", S.constant_factor(0.5),
     lambda o: tls.ConstantLR(o), 0.5, 500),
    ("linear_up", S.linear(0.5, start_factor=0.1, end_factor=0.6, total_iters=120),
     lambda o: tls.LinearLR(o, start_factor=0.1, end_factor=0.6, total_iters=120), 0.5, 500),
    ("linear_down", S.linear(0.5, start_factor=1.0, end_factor=0.2, total_iters=333),
     lambda o: tls.LinearLR(o, start_factor=1.0, end_factor=0.2, total_iters=333), 0.5, 500),
    ("linear_default", S.linear(0.5), lambda o: tls.LinearLR(o), 0.5, 500),
    ("polynomial", S.polynomial(0.5, total_iters=300, power=2.5),
     lambda o: tls.PolynomialLR(o, total_iters=300, power=2.5), 0.5, 500),
]

# cosine.py
COSINE_CASES = [
    ("cosine_past_T_max", S.cosine_annealing(0.5, T_max=60, eta_min=0.01),
     lambda o: tls.CosineAnnealingLR(o, T_max=60, eta_min=0.01), 0.5, 500),
    ("cosine_eta0", S.cosine_annealing(0.5, T_max=37),
     lambda o: tls.CosineAnnealingLR(o, T_max=37), 0.5, 500),
    ("warm_restarts_T_mult1", S.cosine_warm_restarts(0.5, T_0=37, eta_min=0.02),
     lambda o: tls.CosineAnnealingWarmRestarts(o, T_0=37, eta_min=0.02), 0.5, 500),
    ("warm_restarts_T_mult2", S.cosine_warm_restarts(0.5, T_0=10, T_mult=2, eta_min=0.02),
     lambda o: tls.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=2, eta_min=0.02), 0.5, 700),
    ("warm_restarts_T_mult3", S.cosine_warm_restarts(0.5, T_0=5, T_mult=3),
     lambda o: tls.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=3), 0.5, 600),
]

# sequential.py
SEQUENTIAL_CASES = [
    ("sequential_two", *_seq2(), 0.5, 500),
    ("sequential_three", *_seq3(), 0.5, 500),
]

# warmup.py
WARMUP_CASES = [
    # beyond torch, expressed through torch: a linear warmup is LinearLR then the schedule
    ("warmup_linear", S.warmup(S.cosine_annealing(0.5, T_max=150), 20, init_value=0.05 * 0.5),
     lambda o: tls.SequentialLR(o, [tls.LinearLR(o, start_factor=0.05, total_iters=20),
                                    tls.CosineAnnealingLR(o, T_max=150)], milestones=[20]),
     0.5, 500),
    ("inverse_sqrt_noam", S.inverse_sqrt(512 ** -0.5 * 40 ** -0.5, warmup_steps=40),
     lambda o: tls.LambdaLR(o, lambda t: 512 ** -0.5 * min((t + 1) ** -0.5,
                                                         (t + 1) * 40 ** -1.5)), 1.0, 500),
]

LR_CASES = DECAY_CASES + COSINE_CASES + SEQUENTIAL_CASES + WARMUP_CASES

# cyclic.py
# (id, lr schedule, momentum schedule, torch factory, K)
_CYC = dict(base_momentum=0.75, max_momentum=0.95)
CYCLE_CASES = [
    ("triangular", S.cyclic(0.01, 0.3, step_size_up=20, step_size_down=50),
     S.cyclic_momentum(0.75, 0.95, step_size_up=20, step_size_down=50),
     lambda o: tls.CyclicLR(o, 0.01, 0.3, step_size_up=20, step_size_down=50, **_CYC), 500),
    ("triangular2", S.cyclic(0.01, 0.3, 30, 10, mode="triangular2"),
     S.cyclic_momentum(0.75, 0.95, 30, 10, mode="triangular2"),
     lambda o: tls.CyclicLR(o, 0.01, 0.3, 30, 10, mode="triangular2", **_CYC), 500),
    ("exp_range", S.cyclic(0.01, 0.3, 25, 15, mode="exp_range", gamma=0.998),
     S.cyclic_momentum(0.75, 0.95, 25, 15, mode="exp_range", gamma=0.998),
     lambda o: tls.CyclicLR(o, 0.01, 0.3, 25, 15, mode="exp_range", gamma=0.998, **_CYC),
     500),
    ("scale_fn_cycle", S.cyclic(0.01, 0.3, 13, scale_fn=lambda c: 1 / c),
     S.cyclic_momentum(0.75, 0.95, 13, scale_fn=lambda c: 1 / c),
     lambda o: tls.CyclicLR(o, 0.01, 0.3, 13, scale_fn=lambda c: 1 / c, **_CYC), 500),
    ("scale_fn_iterations",
     S.cyclic(0.01, 0.3, 13, 29, scale_fn=lambda t: 1 / (1 + 0.01 * t), scale_mode="iterations"),
     S.cyclic_momentum(0.75, 0.95, 13, 29, scale_fn=lambda t: 1 / (1 + 0.01 * t),
                       scale_mode="iterations"),
     lambda o: tls.CyclicLR(o, 0.01, 0.3, 13, 29, scale_fn=lambda t: 1 / (1 + 0.01 * t),
                            scale_mode="iterations", **_CYC), 500),
    ("defaults", S.cyclic(0.01, 0.3), S.cyclic_momentum(),
     lambda o: tls.CyclicLR(o, 0.01, 0.3), 500),
]
_OC = dict(pct_start=0.25, div_factor=10.0, final_div_factor=100.0)
_OCM = dict(base_momentum=0.8, max_momentum=0.97)
for _three in (False, True):
    for _strategy in ("cos", "linear"):
        CYCLE_CASES.append((
            f"one_cycle_{'three' if _three else 'two'}_phase_{_strategy}",
            S.one_cycle(0.5, 500, anneal_strategy=_strategy, three_phase=_three, **_OC),
            S.one_cycle_momentum(500, 0.25, _strategy, three_phase=_three, **_OCM),
            lambda o, s=_strategy, t=_three: tls.OneCycleLR(
                o, 0.5, 500, anneal_strategy=s, three_phase=t, **_OC, **_OCM),
            501))  # torch allows one value past the last step: k = total_steps
CYCLE_CASES.append(("one_cycle_defaults", S.one_cycle(0.5, 503), S.one_cycle_momentum(503),
                    lambda o: tls.OneCycleLR(o, 0.5, 503), 504))

ALL_CASES = ([(c[0], c[1], c[3]) for c in LR_CASES]
             + [(c[0], c[1], c[4]) for c in CYCLE_CASES]
             + [(c[0] + "_momentum", c[2], c[4]) for c in CYCLE_CASES])
