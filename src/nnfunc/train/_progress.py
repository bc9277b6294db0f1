"""``fit``'s progress display: tqdm bars for epochs and batches in a terminal or a
notebook (the epoch then runs as a few compiled scans, so the batch bar moves), one line
per epoch in a non-interactive log.

Internal API of ``nnfunc.train`` (names without an underscore, not exported by the package).
"""
from __future__ import annotations

import math
import sys

import jax
import jax.numpy as jnp

from nnfunc.train._program import ProgramSpec, cached, epoch_parts
from nnfunc.train._stream import summarizer

# Batch-progress granularity: an epoch runs as this many compiled scans when the
# progress bar is on (one scan otherwise).
PROGRESS_CHUNKS = 10


def interactive() -> bool:
    """A terminal or a Jupyter kernel, where progress bars redraw in place."""
    return sys.stderr.isatty() or "ipykernel" in sys.modules


class Bars:
    """The epoch and batch progress bars (tqdm) in a terminal or a notebook; in a
    non-interactive log (a file, CI) one line per epoch instead; nothing with
    ``progress=False``."""

    def __init__(self, progress: bool, epochs: int, steps: int, *, done: int = 0):
        self.epoch = self.batch = None
        self.lines = progress and not interactive()
        if progress and not self.lines:
            from tqdm.auto import tqdm
            self.epoch = tqdm(total=epochs, initial=done, desc="epoch", unit="epoch")
            self.batch = tqdm(total=steps, desc="batch", unit="batch", leave=False)
        self.steps, self.epochs, self.done = steps, epochs, done

    def __enter__(self) -> "Bars":
        return self

    def __exit__(self, *exc) -> None:
        if self.epoch is not None:
            self.batch.close()
            self.epoch.close()

    def start_epoch(self):
        """The batch bar, reset for a new epoch (``None`` without bars)."""
        if self.batch is not None:
            self.batch.reset(total=self.steps)
        return self.batch

    def end_epoch(self, logs: dict) -> None:
        shown = {k: f"{logs[k]:.4f}" for k in ("loss", "accuracy", "eval_loss",
                                               "eval_accuracy") if k in logs}
        self.done += 1
        if self.lines:
            print(f"epoch {self.done}/{self.epochs}: "
                  + ", ".join(f"{k} {v}" for k, v in shown.items())
                  + (f" ({logs['seconds']:.2f} s)" if "seconds" in logs else ""),
                  file=sys.stderr, flush=True)
        elif self.epoch is not None:
            self.epoch.set_postfix(shown, refresh=False)
            self.epoch.update(1)


@cached
def progress_parts(spec: ProgramSpec, batch_size: int):
    start, run, _ = epoch_parts(spec, batch_size)
    return (jax.jit(start, donate_argnums=(0,)), jax.jit(run, donate_argnums=(0,)),
            summarizer(spec.metrics))


def chunked_epoch(parts, ts, x, y, bar):
    """One epoch as several scans, updating the batch bar between them. The next chunk
    is dispatched before the previous one's metrics are read, so the device never waits
    for the host."""
    start, run, summarize_chunks = parts
    ts, idx = start(ts, x, y)
    steps = idx.shape[0]
    size = max(1, math.ceil(steps / PROGRESS_CHUNKS))
    chunks, pending = [], None
    for j in range(0, steps, size):
        ts, per_step = run(ts, x, y, idx[j:j + size])
        if pending is not None:
            show_chunk(bar, pending)
        pending = per_step
        chunks.append(per_step)
    show_chunk(bar, pending)
    return ts, summarize_chunks(chunks, ts.opt_state)


def show_chunk(bar, per_step) -> None:
    post = {"loss": f"{float(jnp.mean(per_step['loss'])):.4f}"}
    if "accuracy" in per_step:
        post["acc"] = f"{float(jnp.mean(per_step['accuracy'])):.4f}"
    bar.set_postfix(post, refresh=False)
    bar.update(int(per_step["loss"].shape[0]))
