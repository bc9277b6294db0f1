"""Crash trials: kill a training run at random moments, resume it from its newest
checkpoint, and check that it ends bit-identical to a run that was never interrupted.

The driver of ``test_integration_crash.py`` and, run with ``--worker``, the process it
kills.

Each trial starts a worker process (``fit`` of an MLP with ``Checkpoint(every=1)``, 24
short epochs), ``SIGKILL``s it at a random moment of its training, checks that every
checkpoint file in the folder loads, restarts it (the worker resumes from
``Checkpoint.latest()``), kills it once more, and lets the third run finish. The final ``TrainState`` (parameters, optimizer state, step, key)
must equal the uninterrupted run's exactly. Kills land anywhere: during start-up,
compilation, an epoch or a checkpoint write (a write interrupted mid-way leaves only its
hidden temporary file, counted below). The random moment is drawn from the reference
run's epoch time; a run that ends before its kill (this machine ran it faster) does not
count as a kill: the trial starts over, up to ``ATTEMPTS`` runs per kill.

    python tests/integration/_crash_trials.py --trials 50   # a longer soak: prints the table
    python tests/integration/_crash_trials.py --trials 5 --out /tmp/crash   # and writes it
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Optional

import numpy as np

EPOCHS, BATCH, N, SIZES = 24, 64, 4096, (64, 256, 256, 10)
ATTEMPTS = 3       # runs started for one kill, where a run can end before its kill


def _setup():
    """The model, optimizer, loss and data every worker uses (all deterministic)."""
    import jax
    import nnfunc as nf
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, SIZES[0])).astype(np.float32)
    y = (X[:, :SIZES[-1]].argmax(1)).astype(np.int32)
    model = nf.models.mlp(list(SIZES))
    opt = nf.optim.adam(1e-3)
    template = nf.train.init_state(model, opt, jax.random.key(0), (SIZES[0],))
    return nf, model, opt, (X, y), template


def worker(folder: str) -> None:
    """Train to EPOCHS epochs, resuming from the newest checkpoint in ``folder``; write
    the final state to ``folder/final.npz``."""
    nf, model, opt, data, template = _setup()
    ckpt = nf.train.Checkpoint(folder, every=1, keep=2)
    state, done = None, 0
    if ckpt.latest() is not None:
        state = nf.train.load_checkpoint(ckpt.latest(), template)
        done = int(state.step) // (N // BATCH)
    print("ready", done, flush=True)   # then one "epoch" line per epoch
    if done < EPOCHS:
        tick = nf.train.LambdaCallback(on_epoch_end=lambda run: print("epoch", flush=True))
        state = nf.train.fit(model, opt, nf.losses.softmax_cross_entropy_with_integer_labels,
                             data, epochs=EPOCHS - done, batch_size=BATCH, key=0,
                             state=state, callbacks=[ckpt, tick], progress=False).state
    nf.train.save_checkpoint(os.path.join(folder, "final.npz"), state)


def _start(folder: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, "--worker", folder],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _checkpoints_load(folder: str, template: Any, nf: Any) -> int:
    """Load every checkpoint file in ``folder`` (raises if one is damaged); their count."""
    files = sorted(glob.glob(os.path.join(folder, "checkpoint-*.npz")))
    for f in files:
        nf.train.load_checkpoint(f, template)
    return len(files)


def _leaves_equal(a, b) -> bool:
    import jax
    la = [np.asarray(jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
                     else x) for x in jax.tree_util.tree_leaves(a)]
    lb = [np.asarray(jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
                     else x) for x in jax.tree_util.tree_leaves(b)]
    return len(la) == len(lb) and all(x.dtype == y.dtype and np.array_equal(x, y)
                                      for x, y in zip(la, lb))


def _clear(folder: str) -> None:
    """Remove every file a worker left in ``folder`` (checkpoints and the final state)."""
    for f in glob.glob(os.path.join(folder, "*")) + glob.glob(os.path.join(folder, ".tmp-*")):
        os.remove(f)


def _run(folder: str, kill: Optional[Callable[[int], float]] = None) -> tuple[bool, list]:
    """Run a worker to its end, or, with ``kill``, SIGKILL it ``kill(epochs_left)``
    seconds after its first epoch (compilation done). Returns (killed, the seconds after
    the first epoch at which each later epoch ended)."""
    proc = _start(folder)
    try:
        head = proc.stdout.readline().split()
        if not head or head[0] != b"ready":
            raise RuntimeError("worker failed: " + proc.stderr.read().decode()[-2000:])
        left = EPOCHS - int(head[1])
        if left > 0:
            proc.stdout.readline()                  # the first epoch has ended
        t0 = time.perf_counter()
        if kill is not None and left > 1:
            try:
                proc.wait(timeout=kill(left - 1))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return True, []
        ends = [time.perf_counter() - t0 for _ in iter(proc.stdout.readline, b"")]
        if proc.wait() != 0:
            raise RuntimeError("worker failed: " + proc.stderr.read().decode()[-2000:])
        return False, ends
    finally:
        if proc.poll() is None:
            proc.kill()


def _trial(folder: str, kills: int, epoch_s: float, rng: random.Random, nf: Any,
           template: Any) -> dict:
    """``kills`` runs killed at a uniform random moment of their remaining epochs (after
    the first, so that compilation is behind them), each followed by a check that every
    checkpoint loads; then one run to the end."""
    landed = checked = 0
    for _ in range(kills):
        for _attempt in range(ATTEMPTS):
            killed, _ = _run(folder, lambda left: rng.uniform(0.0, left * epoch_s))
            if killed:
                break
            # The run ended before its kill: on a loaded machine the reference's epochs
            # can be slower than this run's. Start the trial over rather than count a miss.
            _clear(folder)
        landed += killed
        checked += _checkpoints_load(folder, template, nf)
    _run(folder, None)
    return {"kills": landed, "files_checked": checked,
            "torn_writes": len(glob.glob(os.path.join(folder, ".tmp-*")))}


def run_trials(trials: int, seed: int = 0, kills: int = 2) -> dict:
    """``trials`` interrupted runs (``kills`` SIGKILLs each) against one uninterrupted
    reference."""
    nf, _, _, _, template = _setup()
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as root:
        ref_dir = os.path.join(root, "reference")
        os.makedirs(ref_dir)
        _, ends = _run(ref_dir)
        epoch_s = ends[-1] / len(ends)      # an epoch, its checkpoint write included
        reference = nf.train.load_checkpoint(os.path.join(ref_dir, "final.npz"), template)
        rows = []
        for t in range(trials):
            folder = os.path.join(root, f"trial-{t}")
            os.makedirs(folder)
            row = _trial(folder, kills, epoch_s, rng, nf, template)
            final = nf.train.load_checkpoint(os.path.join(folder, "final.npz"), template)
            row["identical"] = _leaves_equal(final, reference)
            rows.append(row)
    return {"trials": trials, "seed": seed, "kills_per_trial": kills, "epoch_s": epoch_s,
            "rows": rows, "identical": sum(r["identical"] for r in rows),
            "kills": sum(r["kills"] for r in rows),
            "files_checked": sum(r["files_checked"] for r in rows),
            "torn_writes": sum(r["torn_writes"] for r in rows)}


def render(res: dict) -> str:
    return "\n".join([
        "# Crash trials", "",
        f"Command: `python tests/integration/_crash_trials.py --trials {res['trials']} --seed "
        f"{res['seed']}`. Worker: `fit` of an MLP {'-'.join(map(str, SIZES))} with adam, "
        f"{EPOCHS} epochs of {N // BATCH} steps, `Checkpoint(every=1, keep=2)`; an "
        f"epoch takes {1000 * res['epoch_s']:.0f} ms with its checkpoint write. Each trial "
        f"kills the worker {res['kills_per_trial']} times, each at a uniform random moment "
        f"of its remaining epochs after the first (compilation behind it: every kill finds "
        f"it training or writing a checkpoint), then lets it finish.", "",
        "| trials | SIGKILLs | checkpoint files loaded after a kill | writes torn by a kill "
        "| final state bit-identical |", "|---:|---:|---:|---:|---:|",
        f"| {res['trials']} | {res['kills']} | {res['files_checked']} (all loaded) | "
        f"{res['torn_writes']} | {res['identical']} / {res['trials']} |", "",
        "A torn write leaves only its hidden temporary file (`.tmp-checkpoint-...`): the "
        "checkpoint under its real name is always complete (`os.replace` after `fsync`).", ""])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kills", type=int, default=2, help="SIGKILLs per trial")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help="also write OUT.json and OUT.md")
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args.worker)
    res = run_trials(args.trials, args.seed, args.kills)
    if args.out:
        out = pathlib.Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".json").write_text(json.dumps(res, indent=1))
        out.with_suffix(".md").write_text(render(res))
    print(render(res))
    if res["identical"] != res["trials"]:
        sys.exit(1)


if __name__ == "__main__":
    sys.exit(main())
