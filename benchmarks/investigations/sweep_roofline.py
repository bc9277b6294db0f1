"""Sweeps against their bound: R runs in one program vs one run.

Each row times one fused epoch of a single run (``nf.train.make_epoch``) and one epoch of
the same program ``vmap``-ped over R runs that differ in their learning rate (the
program of ``nf.train.sweep``, from ``common.nnfunc_bench``), round-robin, and reports
the sweep's samples/s (all runs' samples) over the single run's.

The bound is a roofline with a shared overhead. Per training step a run moves at least
``bytes`` through memory (Adam reads and writes parameters and both moments and reads
the gradient: 32 bytes per parameter; the batch's activations: 16 bytes per example and
unit, written forward and read backward, twice for ReLU's mask) and computes ``flops``
(forward, weight and input gradients). With the machine's measured memory bandwidth
``BW`` (a large elementwise pass) and matmul rate ``F`` (a large float32 matmul):

    t_run  = max(bytes / BW, flops / F)            one run's unavoidable time per step
    t_over = t_one - t_run                         the rest of one run's step: launches,
                                                   loop and kernel overheads, shared by
                                                   all runs of a sweep
    T(R)   = t_over + R * t_run                    the sweep's best time per step

so the best speed-up of a sweep over one run is ``R * t_one / T(R)``, and the sweep's
fraction of its bound is ``T(R) / measured time per step``. On a GPU the small MLP's
step is mostly ``t_over`` (launch-bound), so many runs fit into it; on a CPU the step
is compute-bound already and sweeps gain little.

    python benchmarks/investigations/sweep_roofline.py     # CPU rows, in results/investigations
    python benchmarks/investigations/sweep_roofline.py --device gpu \
        --out benchmarks/results/investigations/sweep-roofline-gpu
    python benchmarks/investigations/sweep_roofline.py --quick --out /tmp/sweep  # seconds
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent.parent / "src"), str(HERE.parent)]   # nnfunc, common

import nnfunc as nf                                        # noqa: E402
from common.nnfunc_bench import build_epoch, build_sweep  # noqa: E402
from common.pages import run_meta                          # noqa: E402
from common.timing import interleaved, jax_sync, matmul_ceiling  # noqa: E402

BATCH = 128
ROWS = (  # name, layer sizes, runs, the target set for the GPU
    ("MLP 784-100-10", (784, 100, 10), 64, ">= 20x one run (GPU)"),
    ("MLP 784-100-10", (784, 100, 10), 8, "(reference)"),
    ("MLP 784-1024-1024-10", (784, 1024, 1024, 10), 8, ">= 0.85 of the bound (GPU)"),
)


def step_cost(sizes, batch: int = BATCH) -> dict:
    """Lower bounds on one training step of an MLP with Adam: bytes moved and FLOPs."""
    params = sum(m * n + n for m, n in zip(sizes[:-1], sizes[1:]))
    units = sum(sizes[1:])
    macs = sum(m * n for m, n in zip(sizes[:-1], sizes[1:]))
    macs_dx = sum(m * n for m, n in zip(sizes[1:-1], sizes[2:]))   # no input gradient
    return {"params": params, "bytes": 32 * params + 16 * batch * units,
            "flops": 2 * batch * (2 * macs + macs_dx)}


EXTRA_PASSES = 8


def passes(k: int):
    """``x -> x * 2 + 1`` applied ``k`` times, each pass its own kernel: the iterations
    of a loop are not fused with each other (a chain of ``k`` passes in one function
    would be fused into a single pass)."""
    return jax.jit(lambda x: jax.lax.fori_loop(0, k, lambda i, x: x * 2 + 1, x))


def bandwidth(device, n_bytes: int, reps: int, *, timer=interleaved) -> float:
    """Bytes/s of ``x * 2 + 1`` over ``n_bytes`` of float32 (one read, one write per pass),
    as rows of 1024 (XLA:CPU splits a 2-D loop across its threads, a 1-D one not always).

    Taken from the difference between a loop of ``2 + EXTRA_PASSES`` passes and one of 2,
    so that a call's fixed cost cancels: dispatch, the sync and the output allocation cost
    0.1-0.4 ms on an H200, more than a 78 MiB pass (~40 µs). Timing one pass per call
    (this probe's first version) gave 374 GB/s at 78 MiB there, which made the bound
    slower than the sweeps it bounds. ``timer``: how the two loops are timed
    (``common.timing.interleaved``'s signature and result)."""
    rows = max(1, n_bytes // 4096)
    with jax.default_device(device):
        x = jax.device_put(jnp.ones((rows, 1024), jnp.float32), device)
        few, many = passes(2), passes(2 + EXTRA_PASSES).lower(x).compile()
        if "while" not in many.as_text():
            raise RuntimeError("XLA unrolled the bandwidth probe's loop: its passes fuse")
        med = timer({"few": lambda: jax_sync(few(x)),
                           "many": lambda: jax_sync(many(x))}, reps)
    return EXTRA_PASSES * 2 * 4096 * rows / max(med["many"] - med["few"], 1e-9)


def measure_row(name, sizes, runs, target, X, Y, device, machine, reps,
                runs_inside=False) -> dict:
    lrs = list(np.geomspace(1e-4, 3e-3, runs))
    runners = {"one": build_epoch("mlp", tuple(sizes), BATCH, X, Y, device),
               "sweep": build_sweep("mlp", tuple(sizes), BATCH, X, Y, device,
                                    learning_rates=lrs)}
    if runs_inside:
        runners["inside"] = build_sweep("mlp", tuple(sizes), BATCH, X, Y, device,
                                        learning_rates=lrs, runs_inside=True)
    one, sweep = runners["one"], runners["sweep"]
    # one warm-up epoch each (their EpochRunner.warmup), then epochs round-robin
    med = interleaved({k: lambda r=r: r.sync(r.run_epoch()) for k, r in runners.items()},
                      reps)
    steps = X.shape[0] // BATCH
    cost = step_cost(sizes)
    t_one, t_sweep = med["one"] / steps, med["sweep"] / steps
    # The sweep streams all runs' parameters, gradients and moments every step: their
    # bandwidth is measured at that working-set size (on a CPU a small sweep stays in
    # cache, where a DRAM-sized probe would understate it and the "bound" would not be one).
    working_set = max(runs * 16 * cost["params"], 2**20)
    bw = bandwidth(device, working_set, reps=machine["bandwidth_reps"])
    t_run = max(cost["bytes"] / bw, cost["flops"] / machine["flops"])
    t_over = max(t_one - t_run, 0.0)
    t_bound = t_over + runs * t_run
    inside = {}
    if runs_inside:
        t_in = med["inside"] / steps
        inside = {"inside_step_us": 1e6 * t_in, "inside_speedup": runs * t_one / t_in,
                  "inside_fraction_of_bound": t_bound / t_in}
    return {"model": name, "sizes": list(sizes), "runs": runs, "target": target, **inside,
            "steps_per_epoch": steps, **cost,
            "one_step_us": 1e6 * t_one, "sweep_step_us": 1e6 * t_sweep,
            "one_samples_per_s": one.samples / med["one"],
            "sweep_samples_per_s": sweep.samples / med["sweep"],
            "speedup": runs * t_one / t_sweep,
            "run_floor_us": 1e6 * t_run, "overhead_us": 1e6 * t_over,
            "bound_step_us": 1e6 * t_bound, "bound_speedup": runs * t_one / t_bound,
            "fraction_of_bound": t_bound / t_sweep,
            "working_set_bytes": working_set, "bandwidth": bw,
            "bound_by": "memory" if cost["bytes"] / bw >= cost["flops"] / machine["flops"]
            else "compute"}


def render(res: dict) -> str:
    m = res["machine"]
    lines = [f"# Sweeps against their bound ({res['backend']})", "",
             f"Command: `{res['command']}`", "",
             f"{res['device']}; JAX {res['jax']}, Python {res['python']}; {res['date']}.", "",
             f"Data: {res['samples']} synthetic MNIST-shaped samples on the device, batch "
             f"{BATCH}, Adam; medians of {res['reps']} epochs timed round-robin after a "
             f"warm-up epoch (compilation excluded).", "",
             f"Machine, measured here: memory bandwidth {m['bandwidth'] / 1e9:.1f} GB/s "
             f"(`x * 2 + 1` over {m['bandwidth_bytes'] / 2**20:.0f} MiB; each row also "
             f"measures it at its sweep's working set), float32 matmul "
             f"{m['flops'] / 1e9:.0f} GFLOP/s ({m['matmul_n']}^3).", "",
             "| model | runs | one run µs/step | sweep µs/step | sweep / one run, samples/s "
             "| bound | fraction of bound | run floor µs (by) | GB/s at the working set "
             "| shared overhead µs | target |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in res["rows"]:
        lines.append(
            f"| {r['model']} | {r['runs']} | {r['one_step_us']:.0f} | {r['sweep_step_us']:.0f} "
            f"| **{r['speedup']:.2f}x** | {r['bound_speedup']:.2f}x | "
            f"{r['fraction_of_bound']:.2f} | {r['run_floor_us']:.1f} ({r['bound_by']}) | "
            f"{r['bandwidth'] / 1e9:.1f} ({r['working_set_bytes'] / 2**20:.0f} MiB) | "
            f"{r['overhead_us']:.0f} | {r['target']} |")
    inside = [r for r in res["rows"] if "inside_step_us" in r]
    if inside:
        lines += ["", "The same sweeps with `nf.train.sweep`'s runs-inside layout "
                  "(`layout='runs_inside'`: weights whose input the runs share carried "
                  "as (in, runs, out), a scan of the vmapped step), timed in the same "
                  "round-robin:", "",
                  "| model | runs | runs first µs/step | runs inside µs/step | runs inside "
                  "/ one run, samples/s | fraction of bound |", "|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['model']} | {r['runs']} | {r['sweep_step_us']:.0f} | "
                  f"{r['inside_step_us']:.0f} | **{r['inside_speedup']:.2f}x** | "
                  f"{r['inside_fraction_of_bound']:.2f} |" for r in inside]
    lines += ["", "How to read it: `run floor` is one run's unavoidable time per step "
              "(its bytes over the bandwidth or its FLOPs over the matmul rate, whichever "
              "is larger); `shared overhead` is the rest of one run's measured step, which "
              "a sweep pays once for all runs. The bound on the sweep's time per step is "
              "overhead + runs x floor; `bound` is the speed-up over one run that time "
              "would give, and `fraction of bound` the bound's time over the measured one "
              "(1.0: at the roofline).", ""]
    return "\n".join(lines)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(prog="benchmarks/investigations/sweep_roofline.py")
    ap.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    ap.add_argument("--samples", type=int, default=None,
                    help="training samples (default 8192 on CPU, 60000 on GPU)")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true",
                    help="1024 samples, 2 repeats, small bandwidth/matmul probes")
    ap.add_argument("--out", default=str(HERE.parent / "results" / "investigations"
                                          / "sweep-roofline-cpu"))
    ap.add_argument("--runs-inside", action="store_true",
                    help="also time the sweeps in nf.train.sweep's runs-inside layout")
    args = ap.parse_args(argv)
    device = jax.devices(args.device)[0]
    samples = args.samples or (1024 if args.quick else 8192 if args.device == "cpu" else 60000)
    reps = 2 if args.quick else args.reps
    X, Y = nf.data.synthetic_mnist(samples, seed=0, normalize=True, flatten=True)
    X, Y = jax.device_put(jnp.asarray(X), device), jax.device_put(jnp.asarray(Y), device)
    n_mm = 256 if args.quick else 2048 if args.device == "cpu" else 8192
    n_bw = (16 if args.quick else 256 if args.device == "cpu" else 2048) * 2**20
    machine = {"bandwidth": bandwidth(device, n_bw, max(reps, 5)), "bandwidth_bytes": n_bw,
               "bandwidth_reps": max(reps, 5),
               "flops": 1e9 * matmul_ceiling(device, n_mm, max(reps, 3))["gflops"],
               "matmul_n": n_mm}
    rows = []
    for name, sizes, runs, target in ROWS:
        row = measure_row(name, sizes, runs, target, X, Y, device, machine, reps,
                          args.runs_inside)
        print(f"{name}, {runs} runs: sweep/one {row['speedup']:.2f}x, bound "
              f"{row['bound_speedup']:.2f}x, fraction {row['fraction_of_bound']:.2f}",
              flush=True)
        rows.append(row)
    res = {"backend": args.device, "device": device.device_kind,
           **run_meta("investigations/sweep_roofline.py", argv), "samples": samples, "reps": reps,
           "cpu_count": os.cpu_count(), "machine": machine, "rows": rows}
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    out.with_suffix(".md").write_text(render(res))
    print(f"wrote {out.with_suffix('.md')} and {out.with_suffix('.json')}")
    return res


if __name__ == "__main__":
    main()
