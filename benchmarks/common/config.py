"""What one run of the throughput suite measures: full, ``--quick`` and ``--smoke``."""
from __future__ import annotations

import dataclasses
from typing import Tuple

MODELS = ("mlp", "cnn")
MLP_SIZES = (784, 1024, 1024, 10)
SWEEP_LRS = (1e-4, 2e-4, 3e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3)   # the 8 sweep runs


@dataclasses.dataclass(frozen=True)
class Config:
    """One suite configuration.

    Attributes:
      name: ``"full"``, ``"quick"`` or ``"tiny"`` (``--smoke``).
      n_samples: training samples per epoch (the data set size) of one run.
      batch_sizes: batch sizes measured for every model.
      min_reps, max_reps, min_time_s: timed epochs per measurement: at least ``min_reps``,
        then more until ``min_time_s`` seconds of timed epochs or ``max_reps`` (the median
        is reported).
      warmup_epochs: untimed epochs before timing fused (whole-epoch) variants; the first
        one compiles.
      warmup_steps: untimed batches before timing per-step variants (compiles/warms).
      ceiling_n: side of the square float32 matrices for the matmul ceiling, per platform.
      ceiling_reps: timed matmuls for the ceiling (median).
      sweep_runs: number of runs in the sweep; each trains on the first
        ``n_samples // sweep_runs`` samples, so one sweep epoch processes as many samples
        in total as one run's epoch.
      skip: ``(model, batch_size)`` pairs not measured.
    """
    name: str
    n_samples: int
    batch_sizes: Tuple[int, ...]
    min_reps: int
    max_reps: int
    min_time_s: float
    warmup_epochs: int = 1
    warmup_steps: int = 3
    ceiling_n: Tuple[Tuple[str, int], ...] = (("cpu", 2048), ("gpu", 8192))
    ceiling_reps: int = 10
    sweep_runs: int = 8
    skip: Tuple[Tuple[str, int], ...] = ()

    def ceiling_size(self, platform: str) -> int:
        """Matrix side for the matmul ceiling on ``platform`` (``'cpu'`` or ``'gpu'``)."""
        return dict(self.ceiling_n)[platform]

    @property
    def sweep_samples(self) -> int:
        """Samples per epoch of each sweep run."""
        return self.n_samples // self.sweep_runs


FULL = Config(name="full", n_samples=60_000, batch_sizes=(128, 1024), min_reps=3,
              max_reps=10, min_time_s=2.0)

# --quick: a 2-core CPU finishes in well under 5 minutes (see QUICK_REDUCES).
# Every model and batch size of the full run. The slowest row is the raw JAX + optax
# CNN at batch 1024 (12 s per epoch on 2 cores: JAX's own convolution derivatives inside
# a scan, which XLA:CPU runs slowly, jax #12868; nnfunc's fused epoch takes 1.4 s).
QUICK = Config(name="quick", n_samples=8192, batch_sizes=(128, 1024), min_reps=3,
               max_reps=3, min_time_s=0.0, ceiling_n=(("cpu", 2048), ("gpu", 4096)),
               ceiling_reps=5)

# --smoke (CI; also the hidden --tiny): every code path, seconds of work. One timed epoch
# of a batch or two, so its numbers are smoke, not measurements.
TINY = Config(name="tiny", n_samples=512, batch_sizes=(64,), min_reps=1, max_reps=1,
              min_time_s=0.0, warmup_steps=1, ceiling_n=(("cpu", 128), ("gpu", 1024)),
              ceiling_reps=2)

FULL_DOES = (
    f"Full run: {FULL.n_samples} samples per epoch (the 8-run sweep: "
    f"{FULL.sweep_samples} per run, {FULL.n_samples} in total), median of "
    f"{FULL.min_reps}-{FULL.max_reps} timed epochs (at least {FULL.min_reps}, more up to "
    f"{FULL.max_reps} until {FULL.min_time_s:g} s of timed epochs), matmul ceiling on "
    f"{dict(FULL.ceiling_n)['cpu']}^2 (CPU) / {dict(FULL.ceiling_n)['gpu']}^2 (GPU) "
    f"matrices, median of {FULL.ceiling_reps}.")

QUICK_REDUCES = (
    f"--quick reduces the full run to {QUICK.n_samples} samples per epoch instead of "
    f"{FULL.n_samples} (the sweep: {QUICK.sweep_samples} per run instead of "
    f"{FULL.sweep_samples}), exactly {QUICK.min_reps} timed epochs per measurement, and a "
    f"matmul ceiling on {dict(QUICK.ceiling_n)['cpu']}^2 (CPU) / "
    f"{dict(QUICK.ceiling_n)['gpu']}^2 (GPU) matrices with {QUICK.ceiling_reps} reps; the "
    f"models, batch sizes, variants and peers are those of the full run.")

CONFIGS = {"full": FULL, "quick": QUICK, "tiny": TINY}
