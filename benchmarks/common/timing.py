"""Clocks: timed epochs with a device sync before every clock read, and the matmul ceiling."""
from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Dict, List

import jax
import jax.numpy as jnp


def time_epochs(run_epoch: Callable[[], Any], sync: Callable[[Any], None], *,
                warmup: Callable[[], Any], min_reps: int, max_reps: int | None = None,
                min_time_s: float = 0.0) -> List[float]:
    """Seconds of each timed epoch after ``warmup``; every clock read follows ``sync``.

    ``run_epoch()`` runs one epoch and returns something ``sync`` can wait on (the new
    state); ``warmup()`` runs the untimed part (compilation, caches). At least
    ``min_reps`` epochs are timed, then more until their total reaches ``min_time_s`` or
    there are ``max_reps`` of them.
    """
    max_reps = max(min_reps, max_reps or min_reps)
    sync(warmup())
    times: List[float] = []
    while len(times) < min_reps or (len(times) < max_reps and sum(times) < min_time_s):
        t0 = time.perf_counter()
        out = run_epoch()
        sync(out)
        times.append(time.perf_counter() - t0)
    return times


def interleaved(runners: Dict[str, Callable[[], Any]], repeats: int) -> Dict[str, float]:
    """Median seconds of each runner, timed round-robin (after one warm-up call each) so
    that load changes on a shared machine hit every runner alike. A runner blocks until
    its work is done; if it returns a number, that is its time instead of the clock's."""
    for fn in runners.values():
        fn()
    times: Dict[str, List[float]] = {name: [] for name in runners}
    for _ in range(repeats):
        for name, fn in runners.items():
            t0 = time.perf_counter()
            reported = fn()
            times[name].append(reported if reported is not None
                               else time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def jax_sync(x: Any) -> None:
    """Wait until every array in the pytree ``x`` is computed."""
    jax.block_until_ready(x)


def matmul_ceiling(device: jax.Device, n: int, reps: int, *,
                   precision: str | None = None) -> Dict[str, Any]:
    """Float32 ``n x n @ n x n`` throughput on ``device`` in GFLOP/s (median of ``reps``).

    ``precision=None`` is JAX's default (what the training runs use; on recent NVIDIA
    GPUs XLA may run float32 dots as TF32), ``"highest"`` forces full float32.
    """
    with jax.default_device(device):
        ka, kb = jax.random.split(jax.random.key(0))
        a = jax.device_put(jax.random.normal(ka, (n, n), jnp.float32), device)
        b = jax.device_put(jax.random.normal(kb, (n, n), jnp.float32), device)
        matmul = jax.jit(lambda x, y: jnp.matmul(x, y, precision=precision))
        times = time_epochs(lambda: matmul(a, b), jax_sync, warmup=lambda: matmul(a, b),
                            min_reps=reps)
    seconds = statistics.median(times)
    return {"n": n, "reps": reps, "precision": precision or "default",
            "median_s": seconds, "gflops": 2.0 * n ** 3 / seconds / 1e9}
