#!/usr/bin/env python3
"""MNIST speedrun: train on the real 60k MNIST training set until the 10k test set reaches
99.0 %, with nnfunc and with the same recipe written in PyTorch, in one process.

    python benchmarks/run.py speedrun [--seeds 10] [--device auto|cpu|gpu]
        [--epochs 1] [--max-epochs E] [--out PREFIX] [--frameworks nnfunc,torch] [--quick]

Recipe (the default; flags change parts of it, and the result file records what ran):
tuomaso/train_mnist_fast's final network, the fastest published recipe (99 % in one
epoch, 0.76 s on a GTX 1660 Ti):

    conv 5x5, 24 ch (VALID) -> max-pool 2 -> ReLU -> conv 3x3, 32 ch (VALID) -> max-pool 2
    -> ReLU -> flatten (800) -> dense 256 -> ReLU -> dense 10

inputs standardised with MNIST's mean and std (0.1307, 0.3081), batch 256, Adam
(lr 0.01, betas (0.7, 0.9)), one-cycle learning rate over ``--epochs`` epochs (peak 0.01,
30 % warm-up, cosine; torch's ``OneCycleLR`` defaults, ``nf.schedules.one_cycle``),
plain cross-entropy; optional ``--bn`` (batch-norm after each convolution),
``--label-smoothing`` and ``--translate K`` (random shift of up to K pixels per example,
on the device: ``nf.data.random_translate`` / the same gather in torch).

Both libraries keep the whole data set on the device, shuffle every epoch on the device,
drop the last partial batch, and evaluate the test set after every epoch; a run stops at
the first epoch whose test accuracy is >= ``--target`` or after ``--max-epochs``.

Timing: training wall time only. Compilation is excluded and reported separately: nnfunc
trains one throwaway epoch first (same model, optimizer and shapes, so the timed runs
reuse the compiled programs) and the compile time is what ``jax.monitoring`` records for
tracing, lowering and XLA compilation during it; the timed runs must compile nothing
(checked, and reported as ``compiles_in_timed_runs``). PyTorch runs ``--torch-warmup``
steps on a throwaway model first. Evaluation is excluded from the times (for both).
nnfunc's epoch time is ``fit``'s ``history['seconds']`` (the compiled epoch plus reading
its metrics back); torch's is a host timer around the epoch loop, synchronised on a GPU.
Seeds run interleaved (nnfunc then torch for even seeds, torch then nnfunc for odd ones)
so that load changes on a shared machine hit both alike; the ratio is of medians.

Writes PREFIX.json and PREFIX.md (default PREFIX:
benchmarks/results/speedrun/mnist-speedrun-<device>).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import statistics
import sys
import time
from typing import Any, Dict, List, Optional

HERE = pathlib.Path(__file__).resolve().parent
for path in (str(HERE.parent / "src"), str(HERE)):   # nnfunc from a checkout; common
    if path not in sys.path:
        sys.path.insert(0, path)

# JAX must not grab most of the GPU memory up front: torch runs in the same process.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

MEAN, STD = 0.1307, 0.3081


def _parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="benchmarks/run.py speedrun",
                                description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=10, help="runs per framework (default 10)")
    p.add_argument("--seed0", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                   help="auto: the GPU when JAX sees one, else the CPU")
    p.add_argument("--epochs", type=int, default=1,
                   help="length of the one-cycle schedule in epochs (default 1)")
    p.add_argument("--max-epochs", type=int, default=None,
                   help="stop after this many epochs if the target is not reached "
                        "(default: --epochs; past the cycle the lr stays at its last value)")
    p.add_argument("--target", type=float, default=0.99, help="test accuracy to reach")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=0.01, help="one-cycle peak learning rate")
    p.add_argument("--bn", action="store_true", help="batch-norm after each convolution")
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--translate", type=int, default=0,
                   help="random translation of up to K pixels (0: no augmentation)")
    p.add_argument("--frameworks", default="nnfunc,torch",
                   help="comma-separated subset of nnfunc,torch (default both)")
    p.add_argument("--torch-threads", type=int, default=None,
                   help="torch.set_num_threads on the CPU (default: torch's choice)")
    p.add_argument("--torch-warmup", type=int, default=20,
                   help="untimed torch steps on a throwaway model (default 20)")
    p.add_argument("--data-root", default=None,
                   help="folder holding mnist/ (default: $NNFUNC_DATA or ~/.cache/nnfunc)")
    p.add_argument("--synthetic", action="store_true",
                   help="nf.data.synthetic_mnist instead of MNIST (no files needed; tests)")
    p.add_argument("--train-samples", type=int, default=None,
                   help="use the first N training examples (default: all 60000)")
    p.add_argument("--test-samples", type=int, default=None,
                   help="use the first N test examples (default: all 10000)")
    p.add_argument("--out", default=None,
                   help="results path prefix: writes PREFIX.json and PREFIX.md (default "
                        "benchmarks/results/speedrun/mnist-speedrun-<device>); 'none' writes "
                        "nothing")
    p.add_argument("--profile", action="store_true",
                   help="also time each layer's forward and forward+backward (batch "
                        "--batch-size) in nnfunc (jitted) and torch, interleaved; "
                        "goes into the results as 'profile'")
    p.add_argument("--profile-reps", type=int, default=15)
    p.add_argument("--profile-only", action="store_true",
                   help="only the layer profile (no training): prints it and writes it as "
                        "PREFIX.json")
    p.add_argument("--quick", action="store_true",
                   help="tiny run for the tests: 2 seeds, 512 train / 500 test examples, "
                        "batch 64, 2 epochs, 2 torch warm-up steps, 3 profile repeats")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds = min(args.seeds, 2)
        args.train_samples = args.train_samples or 512
        args.test_samples = args.test_samples or 500
        args.batch_size = 64
        args.epochs = 2
        args.torch_warmup = min(args.torch_warmup, 2)
        args.profile_reps = min(args.profile_reps, 3)
    if args.max_epochs is None:
        args.max_epochs = args.epochs
    if args.seeds < 1 or args.epochs < 1 or args.max_epochs < 1:
        p.error("--seeds, --epochs and --max-epochs must be >= 1")
    args.frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    bad = set(args.frameworks) - {"nnfunc", "torch"}
    if bad or not args.frameworks:
        p.error(f"--frameworks takes nnfunc and/or torch, got {sorted(bad)}")
    return args


# ---------------------------------------------------------------------------------------
# data

def load_data(args):
    """(x, y, xt, yt) as float32 NHWC standardised images and int32 labels (NumPy)."""
    import numpy as np
    import nnfunc as nf
    if args.synthetic:
        n = args.train_samples or 60000
        m = args.test_samples or 10000
        x, y = nf.data.synthetic_mnist(n, seed=0, normalize=True)
        xt, yt = nf.data.synthetic_mnist(m, seed=1, normalize=True)
        source = "synthetic MNIST-like digits (nf.data.synthetic_mnist, seeds 0 and 1)"
    else:
        x, y = nf.data.mnist("train", root=args.data_root, download=False, normalize=True)
        xt, yt = nf.data.mnist("test", root=args.data_root, download=False, normalize=True)
        source = "MNIST (nf.data.mnist): 60000 train, 10000 test"
    x, y = x[:args.train_samples], y[:args.train_samples]
    xt, yt = xt[:args.test_samples], yt[:args.test_samples]

    def prep(a):
        a = np.asarray(a, np.float32).reshape(len(a), 28, 28, 1)
        return (a - MEAN) / STD
    if args.train_samples or args.test_samples:
        source += f" (first {len(x)} train, {len(xt)} test)"
    return (prep(x), np.asarray(y, np.int32), prep(xt), np.asarray(yt, np.int32), source)


# ---------------------------------------------------------------------------------------
# nnfunc

class _CompileCounter:
    """Seconds and count of JAX tracing, lowering and XLA compilation (jax.monitoring)."""
    EVENTS = ("/jax/core/compile/jaxpr_trace_duration",
              "/jax/core/compile/jaxpr_to_mlir_module_duration",
              "/jax/core/compile/backend_compile_duration")

    def __init__(self):
        import jax.monitoring
        self.seconds = {e: 0.0 for e in self.EVENTS}
        self.backend_compiles = 0
        jax.monitoring.register_event_duration_secs_listener(self._on)

    def _on(self, event, duration, **kwargs):
        if event in self.seconds:
            self.seconds[event] += duration
            if event == self.EVENTS[2]:
                self.backend_compiles += 1

    def snapshot(self):
        return sum(self.seconds.values()), self.backend_compiles


def nnfunc_model(bn: bool):
    """The recipe's network in nnfunc (``bn``: batch-norm after each convolution)."""
    import nnfunc as nf
    L = nf.layers
    relu = L.activation(nf.activations.relu)

    def conv(features, k):
        if bn:       # the batch-norm's shift makes the convolution's bias redundant
            return [L.conv2d(features, k, padding="VALID", use_bias=False), L.batch_norm()]
        return [L.conv2d(features, k, padding="VALID")]
    return L.serial(*conv(24, 5), L.max_pool(2), relu, *conv(32, 3), L.max_pool(2), relu,
                    L.flatten(), L.dense(256), relu, L.dense(10))


def capped(schedule, total_steps: int):
    """``schedule`` whose value stays at its last step's after ``total_steps``."""
    import jax.numpy as jnp
    return lambda step: schedule(jnp.minimum(step, total_steps - 1))


class NnfuncRunner:
    """The recipe in nnfunc: a warm-up epoch that compiles, then timed runs that must not."""

    def __init__(self, args, data, device):
        import functools
        import jax
        import jax.numpy as jnp
        import nnfunc as nf
        x, y, xt, yt = data
        self.args, self.jax, self.nf = args, jax, nf
        self.counter = _CompileCounter()
        with jax.default_device(device):
            self.x, self.y, self.xt, self.yt = (jax.device_put(jnp.asarray(a), device)
                                                for a in (x, y, xt, yt))
        self.device = device
        steps = len(x) // args.batch_size
        total = steps * args.epochs
        self.model = nnfunc_model(args.bn)
        sched = capped(nf.schedules.one_cycle(args.lr, total), total)
        self.opt = nf.optim.adam(sched, betas=(0.7, 0.9))
        ce = nf.losses.softmax_cross_entropy_with_integer_labels
        self.loss = (functools.partial(ce, label_smoothing=args.label_smoothing)
                     if args.label_smoothing else ce)
        self.augment = nf.data.random_translate(args.translate) if args.translate else None

    def _fit(self, seed, epochs, callbacks=()):
        with self.jax.default_device(self.device):
            return self.nf.train.fit(
                self.model, self.opt, self.loss, (self.x, self.y), epochs=epochs,
                batch_size=self.args.batch_size, key=seed, eval_data=(self.xt, self.yt),
                eval_batch_size=2000, progress=False, augment=self.augment,
                callbacks=list(callbacks))

    def warmup(self) -> Dict[str, Any]:
        """Throwaway epochs: compile the epoch and the evaluation. Two when the runs may
        take two: ``fit`` compiles its epoch program a second time for the second epoch
        (the state coming out of an epoch is not typed like a fresh one)."""
        t0 = time.perf_counter()
        s0, c0 = self.counter.snapshot()
        res = self._fit(10_000, min(2, self.args.max_epochs))
        s1, c1 = self.counter.snapshot()
        return {"compile_s": s1 - s0, "xla_compiles": c1 - c0,
                "warmup_wall_s": time.perf_counter() - t0,
                "warmup_epoch_s": res.history["seconds"][0]}

    def run(self, seed) -> Dict[str, Any]:
        target = self.args.target

        def stop(run):
            if reached(run.logs.get("eval_accuracy", 0.0), target, len(self.yt)):
                run.stop = True
        _, c0 = self.counter.snapshot()
        res = self._fit(seed, self.args.max_epochs,
                        [self.nf.train.LambdaCallback(on_epoch_end=stop)])
        _, c1 = self.counter.snapshot()
        h = res.history
        return summary_of_run(h["seconds"], h["eval_accuracy"], target, len(self.yt),
                               compiles=c1 - c0, train_loss=h["loss"])


# ---------------------------------------------------------------------------------------
# PyTorch: the same recipe

class TorchRunner:
    """The recipe in PyTorch (``common.torch_peer.RecipeRunner``), warm-up and timed runs
    as the nnfunc runner has them."""

    def __init__(self, args, data, device: str):
        import torch
        from common import torch_peer
        if args.torch_threads and device == "cpu":
            torch.set_num_threads(args.torch_threads)
        self.args = args
        self.peer = torch_peer.RecipeRunner(
            data, device, batch_size=args.batch_size, epochs=args.epochs, lr=args.lr,
            bn=args.bn, label_smoothing=args.label_smoothing, translate=args.translate)

    def warmup(self) -> Dict[str, Any]:
        """Untimed steps on a throwaway model (``--torch-warmup``)."""
        t0 = time.perf_counter()
        steps = min(self.args.torch_warmup, self.peer.steps)
        if steps > 0:
            self.peer.train(10_000, 1, steps_limit=steps)
        return {"warmup_steps": steps, "warmup_wall_s": time.perf_counter() - t0}

    def run(self, seed) -> Dict[str, Any]:
        """One timed run from ``seed`` until the target or ``--max-epochs``."""
        a, n_test = self.args, self.peer.n_test
        seconds, accs, losses = self.peer.train(
            seed, a.max_epochs, lambda acc: reached(acc, a.target, n_test))
        return summary_of_run(seconds, accs, a.target, n_test, train_loss=losses)


# ---------------------------------------------------------------------------------------
# where the time goes: each layer of the recipe alone, nnfunc vs torch

def profile_layers(args, kind, jdev) -> List[Dict[str, Any]]:
    """Median ms of each layer's forward and forward+backward, nnfunc (``jax.jit`` of the
    layer's ``apply`` and of its VJP) against torch (the module, autograd), timed
    round-robin in this process. The backward pulls back a fixed random cotangent (a
    sum's cotangent of ones lets XLA fold the weight gradient away) to the parameters,
    and to the input except for the first convolution, as in training."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import nnfunc as nf
    import torch
    L, B = nf.layers, args.batch_size
    tdev = torch.device("cuda" if kind == "gpu" else "cpu")
    cases = [  # name, nnfunc layer, torch module, NHWC input shape, input gradient
        ("conv 5x5 1->24 (28x28)", L.conv2d(24, 5, padding="VALID"),
         torch.nn.Conv2d(1, 24, 5), (B, 28, 28, 1), False),
        ("max-pool 2 (24x24x24)", L.max_pool(2), torch.nn.MaxPool2d(2), (B, 24, 24, 24),
         True),
        ("conv 3x3 24->32 (12x12)", L.conv2d(32, 3, padding="VALID"),
         torch.nn.Conv2d(24, 32, 3), (B, 12, 12, 24), True),
        ("max-pool 2 (10x10x32)", L.max_pool(2), torch.nn.MaxPool2d(2), (B, 10, 10, 32),
         True),
        ("dense 800->256", L.dense(256), torch.nn.Linear(800, 256), (B, 800), True),
    ]
    rows = []
    rng = np.random.default_rng(0)
    to_torch = lambda a: torch.from_numpy(  # noqa: E731
        a if a.ndim == 2 else a.transpose(0, 3, 1, 2).copy()).to(tdev)
    for name, layer, mod, shape, input_grad in cases:
        x = rng.standard_normal(shape).astype(np.float32)
        with jax.default_device(jdev):
            xj = jax.device_put(jnp.asarray(x), jdev)
            params, state = layer.init(jax.random.key(0), shape[1:])
            out_shape = jax.eval_shape(lambda p, x: layer.apply(p, state, x)[0], params, xj)
            ct = rng.standard_normal(out_shape.shape).astype(np.float32)
            ctj = jax.device_put(jnp.asarray(ct), jdev)
        fwd = jax.jit(lambda p, x: layer.apply(p, state, x)[0])
        grad = jax.jit(jax.grad(lambda p, x, c: jnp.sum(layer.apply(p, state, x)[0] * c),
                                argnums=(0, 1) if input_grad else 0))
        xt, ctt = to_torch(x), to_torch(ct)
        mod = mod.to(tdev)
        sync = (torch.cuda.synchronize if tdev.type == "cuda" else (lambda: None))

        def t_fwd():
            with torch.no_grad():
                mod(xt)
            sync()

        def t_grad():
            xg = xt.detach().requires_grad_(input_grad)
            mod.zero_grad(set_to_none=True)
            mod(xg).backward(ctt)
            sync()
        runners = {
            "nnfunc_fwd": lambda: jax.block_until_ready(fwd(params, xj)),
            "torch_fwd": t_fwd,
            "nnfunc_fwd_bwd": lambda: jax.block_until_ready(grad(params, xj, ctj)),
            "torch_fwd_bwd": t_grad,
        }
        for fn in runners.values():        # compile / warm up
            fn()
            fn()
        times = {k: [] for k in runners}
        for _ in range(args.profile_reps):
            for k, fn in runners.items():
                t0 = time.perf_counter()
                fn()
                times[k].append(1e3 * (time.perf_counter() - t0))
        row = {"layer": name, "batch": B}
        row.update({k + "_ms": statistics.median(v) for k, v in times.items()})
        row["fwd_ratio"] = row["nnfunc_fwd_ms"] / row["torch_fwd_ms"]
        row["fwd_bwd_ratio"] = row["nnfunc_fwd_bwd_ms"] / row["torch_fwd_bwd_ms"]
        rows.append(row)
        print(f"[profile] {name}: fwd {row['nnfunc_fwd_ms']:.2f} vs {row['torch_fwd_ms']:.2f}"
              f" ms ({row['fwd_ratio']:.2f}x); fwd+bwd {row['nnfunc_fwd_bwd_ms']:.2f} vs "
              f"{row['torch_fwd_bwd_ms']:.2f} ms ({row['fwd_bwd_ratio']:.2f}x)", flush=True)
    return rows


# ---------------------------------------------------------------------------------------
# summaries

def reached(accuracy: float, target: float, n_test: int) -> bool:
    """``accuracy >= target`` counted in test examples: 9900/10000 read back as the float32
    0.98999995 still reaches 0.99."""
    return round(float(accuracy) * n_test) >= target * n_test - 1e-6


def summary_of_run(seconds, accs, target, n_test, *, compiles=None, train_loss=None):
    """One run's record: epoch times, accuracies, and the time and epochs to the target."""
    seconds = [float(s) for s in seconds]
    accs = [float(a) for a in accs]
    hit = next((i for i, a in enumerate(accs) if reached(a, target, n_test)), None)
    out = {"epoch_seconds": seconds, "test_accuracy": accs,
           "train_loss": [float(v) for v in (train_loss or [])],
           "epochs": len(seconds), "final_accuracy": accs[-1] if accs else None,
           "reached": hit is not None,
           "epochs_to_target": None if hit is None else hit + 1,
           "time_to_target_s": None if hit is None else sum(seconds[:hit + 1]),
           "train_time_s": sum(seconds)}
    if compiles is not None:
        out["compiles_in_timed_runs"] = compiles
    return out


def _stats(values: List[float]) -> Dict[str, Optional[float]]:
    if not values:
        return {"n": 0, "mean": None, "std": None, "median": None, "min": None, "max": None}
    return {"n": len(values), "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Across the seeds' runs: how many reached the target, and statistics of the times."""
    reached = [r for r in runs if r["reached"]]
    return {
        "seeds": len(runs),
        "reached": len(reached),
        "fraction_reached": len(reached) / len(runs) if runs else None,
        "time_to_target_s": _stats([r["time_to_target_s"] for r in reached]),
        "train_time_s": _stats([r["train_time_s"] for r in runs]),
        "epoch_s": _stats([s for r in runs for s in r["epoch_seconds"]]),
        "epochs": _stats([float(r["epochs"]) for r in runs]),
        "final_accuracy": _stats([r["final_accuracy"] for r in runs
                                  if r["final_accuracy"] is not None]),
    }


def _ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def _fmt(v, spec=".3f", none="–"):
    return none if v is None else format(v, spec)


def recipe_text(args) -> str:
    """The recipe that ran, in words, for the page."""
    parts = [("conv5x5x24-BN" if args.bn else "conv5x5x24") + "-maxpool2-relu",
             ("conv3x3x32-BN" if args.bn else "conv3x3x32") + "-maxpool2-relu",
             "dense256-relu-dense10"]
    extra = []
    if args.label_smoothing:
        extra.append(f"label smoothing {args.label_smoothing}")
    if args.translate:
        extra.append(f"random translate ±{args.translate} px on the device")
    return (" -> ".join(parts) + f"; batch {args.batch_size}; Adam(lr {args.lr}, betas "
            f"(0.7, 0.9)); one-cycle over {args.epochs} epoch(s) (30 % warm-up, cosine, "
            f"div 25, final div 1e4); cross-entropy"
            + ("; " + ", ".join(extra) if extra else "")
            + f"; stop at test accuracy >= {args.target} or after {args.max_epochs} "
              f"epoch(s)")


def render(res: Dict[str, Any]) -> str:
    """The results as a Markdown page."""
    m, s = res["meta"], res["summary"]
    lines = [f"# MNIST speedrun ({m['device_kind']}): nnfunc vs PyTorch, same recipe", "",
             f"Command: `{m['command']}`", "",
             f"{m['device']}; JAX {m['jax']}, torch {m.get('torch') or '–'}, "
             f"Python {m['python']}; {m['date']}.", "",
             f"Data: {m['data']}, on the device.", "",
             f"Recipe: {m['recipe']}.", "",
             "Times: training wall time only (evaluation after each epoch excluded; "
             "nnfunc's compilation excluded and listed separately; torch after a "
             "throwaway warm-up). Seeds interleaved between the frameworks.", "",
             "| framework | seeds at target | time to target: mean ± std (s) | median | "
             "min–max | epoch median (s) | epochs mean | final acc mean ± std | "
             "compile (s) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for fw, sm in s.items():
        t = sm["time_to_target_s"]
        acc = sm["final_accuracy"]
        comp = res["warmup"].get(fw, {}).get("compile_s")
        lines.append(
            f"| {fw} | {sm['reached']}/{sm['seeds']} | {_fmt(t['mean'])} ± {_fmt(t['std'])}"
            f" | {_fmt(t['median'])} | {_fmt(t['min'])}–{_fmt(t['max'])} | "
            f"{_fmt(sm['epoch_s']['median'])} | {_fmt(sm['epochs']['mean'], '.2f')} | "
            f"{_fmt(acc['mean'] and 100 * acc['mean'], '.2f')} % ± "
            f"{_fmt(acc['std'] is not None and 100 * acc['std'], '.2f')} | "
            f"{_fmt(comp, '.1f')} |")
    r = res.get("ratios", {})
    if r:
        lines += ["", "nnfunc / PyTorch (medians of the same interleaved run): "
                  f"time per epoch **{_fmt(r.get('epoch_s'), '.2f')}x**, time to target "
                  f"{_fmt(r.get('time_to_target_s'), '.2f')}x, training time per run "
                  f"{_fmt(r.get('train_time_s'), '.2f')}x."]
    lines += ["", "Per seed:", "", "| framework | seed | epochs | test accuracy per epoch | "
              "epoch s | time to target (s) |", "|---|---:|---:|---|---|---:|"]
    for fw, runs in res["runs"].items():
        for seed, run in runs.items():
            lines.append(
                f"| {fw} | {seed} | {run['epochs']} | "
                + ", ".join(f"{100 * a:.2f}" for a in run["test_accuracy"]) + " | "
                + ", ".join(f"{v:.2f}" for v in run["epoch_seconds"]) + " | "
                + _fmt(run["time_to_target_s"], ".2f") + " |")
    if res.get("profile"):
        lines += ["", "Where the time goes: each layer alone, batch "
                  f"{res['profile'][0]['batch']}, medians of interleaved repeats "
                  "(nnfunc: `jax.jit` of the layer's apply / of its VJP of a random "
                  "cotangent w.r.t. the params, and the input except for the first conv; "
                  "torch: the module, autograd backward of the same cotangent):", "",
                  "| layer | nnfunc fwd ms | torch fwd ms | ratio | nnfunc fwd+bwd ms | "
                  "torch fwd+bwd ms | ratio |", "|---|---:|---:|---:|---:|---:|---:|"]
        for row in res["profile"]:
            lines.append(f"| {row['layer']} | {row['nnfunc_fwd_ms']:.2f} | "
                         f"{row['torch_fwd_ms']:.2f} | {row['fwd_ratio']:.2f}x | "
                         f"{row['nnfunc_fwd_bwd_ms']:.2f} | {row['torch_fwd_bwd_ms']:.2f} | "
                         f"{row['fwd_bwd_ratio']:.2f}x |")
    if res.get("notes"):
        lines += ["", "Notes:", ""] + [f"- {n}" for n in res["notes"]]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------

def main(argv=None) -> Dict[str, Any]:
    """Warm up, run every seed of every framework interleaved, write and print the
    results; the results dict."""
    from common import pages
    args = _parse_args(argv)
    import jax
    try:
        gpus = jax.devices("gpu")
    except RuntimeError:
        gpus = []
    kind = args.device if args.device != "auto" else ("gpu" if gpus else "cpu")
    if kind == "gpu" and not gpus:
        raise SystemExit("--device gpu: JAX sees no GPU")
    jdev = gpus[0] if kind == "gpu" else jax.devices("cpu")[0]
    torch_version = None
    fws = list(args.frameworks)
    notes = []
    if "torch" in fws:
        try:
            import torch
            torch_version = torch.__version__
            if args.torch_threads and kind == "cpu":
                torch.set_num_threads(args.torch_threads)
            if kind == "gpu" and not torch.cuda.is_available():
                raise ImportError("torch sees no CUDA device")
        except ImportError as e:
            fws.remove("torch")
            notes.append(f"PyTorch peer skipped: {e}")
    if args.profile_only:
        rows = profile_layers(args, kind, jdev)
        if args.out and args.out != "none":
            pathlib.Path(args.out + ".json").write_text(json.dumps(
                {"command": pages.run_meta("run.py speedrun", argv)["command"],
                 "profile": rows}, indent=2))
        return {"profile": rows}
    x, y, xt, yt, source = load_data(args)
    data = (x, y, xt, yt)
    runners = {}
    warm = {}
    for fw in fws:
        runners[fw] = (NnfuncRunner(args, data, jdev) if fw == "nnfunc"
                       else TorchRunner(args, data, "cuda" if kind == "gpu" else "cpu"))
        warm[fw] = runners[fw].warmup()
        print(f"[warm-up] {fw}: {json.dumps(warm[fw])}", flush=True)
    seeds = list(range(args.seed0, args.seed0 + args.seeds))
    runs = {fw: {} for fw in fws}
    for i, seed in enumerate(seeds):
        order = fws if i % 2 == 0 else fws[::-1]
        for fw in order:
            r = runners[fw].run(seed)
            runs[fw][str(seed)] = r
            print(f"[{fw} seed {seed}] epochs {r['epochs']}, acc "
                  + ", ".join(f"{100 * a:.2f}" for a in r["test_accuracy"])
                  + " %, epoch s " + ", ".join(f"{v:.2f}" for v in r["epoch_seconds"])
                  + f", time to target {_fmt(r['time_to_target_s'], '.2f')} s", flush=True)
    summary = {fw: summarize(list(runs[fw].values())) for fw in fws}
    ratios = {}
    if "nnfunc" in summary and "torch" in summary:
        a, b = summary["nnfunc"], summary["torch"]
        ratios = {k: _ratio(a[k]["median"], b[k]["median"])
                  for k in ("epoch_s", "time_to_target_s", "train_time_s")}
    compiles = sum(r.get("compiles_in_timed_runs", 0) for r in runs.get("nnfunc", {}).values())
    if compiles:
        notes.append(f"nnfunc compiled {compiles} XLA program(s) during the timed runs "
                     f"(expected 0): their compile time is inside the epoch times")
    meta = {
        "command": pages.run_meta("run.py speedrun", argv)["command"],
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "device_kind": kind, "device": pages.device_name(jdev),
        "jax": jax.__version__, "torch": torch_version,
        "python": platform.python_version(), "data": source,
        "recipe": recipe_text(args),
        "args": {k: v for k, v in vars(args).items()},
    }
    res = {"meta": meta, "warmup": warm, "summary": summary, "ratios": ratios,
           "runs": runs, "notes": notes}
    if args.profile and "torch" in fws:
        res["profile"] = profile_layers(args, kind, jdev)
    out = args.out or str(HERE / "results" / "speedrun" / f"mnist-speedrun-{kind}")
    if out != "none":
        prefix = pathlib.Path(out)
        pages.write_page(prefix, res, render(res))
        print(f"wrote {prefix}.json and {prefix}.md")
    for fw, sm in summary.items():
        t = sm["time_to_target_s"]
        print(f"{fw}: {sm['reached']}/{sm['seeds']} seeds reached {args.target:.3f}; time to "
              f"target mean {_fmt(t['mean'])} s ± {_fmt(t['std'])}, median epoch "
              f"{_fmt(sm['epoch_s']['median'])} s")
    if ratios:
        print(f"nnfunc/torch: epoch {_fmt(ratios['epoch_s'], '.2f')}x, time to target "
              f"{_fmt(ratios['time_to_target_s'], '.2f')}x")
    return res


if __name__ == "__main__":
    main()
