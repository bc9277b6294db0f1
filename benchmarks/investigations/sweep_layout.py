"""Where a sweep's runs axis goes in its first-layer weight.

``nf.train.sweep`` vmaps the whole scanned epoch over a leading runs axis. The runs share
their data, so XLA computes the first layer of ``R`` runs as one matmul
``x[B, in] @ W[in, R·out]``: every step it transposes the stacked ``(R, in, out)``
weight for it, and the weight's gradient comes back as ``(R·out, in)``, which splits
Adam's update of it into transposing kernels. On an H200 (compiled without a GPU) that is
314 MB per step for 64 runs of an MLP 784-100-10, where the updates themselves need 177 MB.

This script trains the same sweep in two layouts, written in plain JAX (Adam, batch 128,
data shared by the runs, one permutation per epoch) so that only the layout differs:

* ``runs first``: ``vmap`` of the scanned epoch, every leaf ``(R, ...)``, as ``nf.train.sweep``;
* ``runs inside``: ``scan`` of a ``vmap``-ped step, the first layer's weight and its two
  Adam moments carried as ``(in, R, out)``.

It checks that both train alike (same parameters after an epoch, up to float rounding)
and times them round-robin, or, with ``--compile-only``, reads the kernels and bytes of
one step off XLA's H200 program (needs a CUDA jaxlib; no GPU). On the 2-core CPU the runs
inside are slower (``benchmarks/results/investigations/sweep-layout-cpu.md``). The
library's version of the layout, for any model, is ``nf.train.sweep(...,
layout='runs_inside')`` (``sweep_roofline.py --runs-inside`` times it)::

    python benchmarks/investigations/sweep_layout.py --device gpu --out DIR/sweep-layout-gpu
    python benchmarks/investigations/sweep_layout.py --compile-only --target h200
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
from jax import lax

HERE = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent.parent / "src"), str(HERE.parent), str(HERE)]

from common.jax_peer import apply_mlp, init_mlp           # noqa: E402
from common.pages import header, run_meta                  # noqa: E402

BATCH = 128
ROWS = (((784, 100, 10), 64), ((784, 1024, 1024, 10), 8))   # the sweeps of sweep_roofline.py
LAYOUTS = ("runs first", "runs inside")


def _loss(params, x, y):
    z = apply_mlp(params, x)
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(z), y[:, None], 1))


def _step(state, x, y):
    """One Adam step (torch's defaults, bias-corrected) of one run."""
    p, m, v, t, lr = state
    g = jax.grad(_loss)(p, x, y)
    t = t + 1
    m = jax.tree.map(lambda m, g: 0.9 * m + 0.1 * g, m, g)
    v = jax.tree.map(lambda v, g: 0.999 * v + 0.001 * g * g, v, g)
    c1, c2 = 1 - 0.9 ** t, 1 - 0.999 ** t
    p = jax.tree.map(lambda p, m, v: p - lr * (m / c1) / (jnp.sqrt(v / c2) + 1e-8), p, m, v)
    return p, m, v, t, lr


def _axes(n_layers: int):
    """The runs axis of each state leaf in the ``runs inside`` layout."""
    params = [{"w": 1 if i == 0 else 0, "b": 0} for i in range(n_layers)]
    return (params, params, params, 0, 0)


def epoch_program(layout: str, n_layers: int):
    """``(state, X, Y, idx) -> state``: one epoch over the batches ``idx`` (steps, B)."""
    if layout == "runs first":
        def one_run(state, X, Y, idx):
            return lax.scan(lambda s, i: (_step(s, X[i], Y[i]), None), state, idx)[0]
        return jax.jit(jax.vmap(one_run, in_axes=(0, None, None, None)), donate_argnums=0)
    axes = _axes(n_layers)
    step = jax.vmap(_step, in_axes=(axes, None, None), out_axes=axes)

    def epoch(state, X, Y, idx):
        return lax.scan(lambda s, i: (step(s, X[i], Y[i]), None), state, idx)[0]
    return jax.jit(epoch, donate_argnums=0)


def init_state(sizes, runs: int, key):
    """The ``runs first`` state: the same initial parameters for every run (the suite's
    raw JAX MLP, torch's initialisation), learning rates
    spread over ``[1e-4, 3e-3]``, zero moments."""
    stack = lambda a: jnp.broadcast_to(a, (runs,) + a.shape)          # noqa: E731
    p = jax.tree.map(stack, init_mlp(key, sizes))
    zeros = lambda: jax.tree.map(jnp.zeros_like, p)     # noqa: E731 - two buffers (donated)
    lrs = jnp.asarray(np.geomspace(1e-4, 3e-3, runs), jnp.float32)
    return p, zeros(), zeros(), jnp.zeros(runs, jnp.float32), lrs


def _move_first_weight(state, src: int, dst: int):
    """``state`` with the runs axis of the first weight and its two moments moved."""
    def move(tree):
        tree = [dict(layer) for layer in tree]
        tree[0]["w"] = jnp.moveaxis(tree[0]["w"], src, dst)
        return tree
    p, m, v, t, lr = state
    return move(p), move(m), move(v), t, lr


def to_inside(state):
    """The ``runs first`` state in the ``runs inside`` layout (first weight ``(in, R, out)``)."""
    return _move_first_weight(state, 0, 1)


def to_first(state):
    """The ``runs inside`` state back in the ``runs first`` layout."""
    return _move_first_weight(state, 1, 0)


def max_rel_diff(a, b) -> float:
    """Largest ``|a - b| / max|b|`` over the leaves of two states."""
    return max(float(jnp.max(jnp.abs(x - y)) / jnp.maximum(jnp.max(jnp.abs(y)), 1e-30))
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def measure(sizes, runs: int, n: int, reps: int, device) -> dict:
    """Both layouts on ``device``: agreement after one epoch, then median epoch times."""
    from common.timing import interleaved
    import nnfunc as nf
    X, Y = nf.data.synthetic_mnist(n, seed=0, normalize=True, flatten=True)
    X, Y = (jax.device_put(jnp.asarray(a), device) for a in (X, Y))
    steps = n // BATCH
    idx = jax.device_put(jax.random.permutation(jax.random.key(1), n)[: steps * BATCH]
                         .reshape(steps, BATCH).astype(jnp.int32), device)
    progs = {name: epoch_program(name, len(sizes) - 1) for name in LAYOUTS}
    with jax.default_device(device):
        s0 = init_state(sizes, runs, jax.random.key(0))
    first = progs["runs first"](jax.tree.map(jnp.copy, s0), X, Y, idx)
    inside = to_first(progs["runs inside"](to_inside(s0), X, Y, idx))
    agree = max_rel_diff(inside[0], first[0])
    states = {"runs first": first, "runs inside": to_inside(inside)}

    def runner(name):
        def run():
            states[name] = progs[name](states[name], X, Y, idx)
            jax.block_until_ready(states[name])
        return run
    med = interleaved({name: runner(name) for name in LAYOUTS}, reps)
    row = {"sizes": list(sizes), "runs": runs, "steps": steps, "params_max_rel_diff": agree}
    for name in LAYOUTS:
        row[name] = {"epoch_s": med[name], "step_us": 1e6 * med[name] / steps}
    row["speedup"] = med["runs first"] / med["runs inside"]
    return row


def compile_only(sizes, runs: int, n: int, target: str) -> dict:
    """Kernels, bytes and estimated µs per step of both layouts, deviceless."""
    import gpu_kernels as G
    sh = G.target_sharding(target)
    spec = lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sh)   # noqa: E731
    s0 = jax.eval_shape(lambda: init_state(sizes, runs, jax.random.key(0)))
    data = (jax.ShapeDtypeStruct((n, sizes[0]), jnp.float32, sharding=sh),
            jax.ShapeDtypeStruct((n,), jnp.int32, sharding=sh),
            jax.ShapeDtypeStruct((n // BATCH, BATCH), jnp.int32, sharding=sh))
    row = {"sizes": list(sizes), "runs": runs}
    _, _, bandwidth = G.TARGETS[target]
    for name in LAYOUTS:
        state = s0 if name == "runs first" else jax.eval_shape(to_inside, s0)
        text = epoch_program(name, len(sizes) - 1).lower(
            jax.tree.map(spec, state), *data).compile().as_text()
        ks = G.step_kernels(text)
        row[name] = {"kernels": len(ks), "mb_per_step": sum(k["bytes"] for k in ks) / 1e6,
                     "estimate_us": G.estimate_us(ks, 2.0, bandwidth, 300.0)}
    return row


def render(res: dict) -> str:
    L = header(f"Sweep layouts: the runs axis of the first-layer weight ({res['device']})", res,
               f". Adam, batch {BATCH}, data shared by the runs; `runs first` is "
               "`nf.train.sweep`'s layout, `runs inside` carries the first-layer weight as "
               "(in, runs, out) and vmaps inside the step.")
    if res["mode"] == "compile-only":
        L += ["| MLP | runs | layout | kernels / step | MB / step | estimate µs / step |",
              "|---|---:|---|---:|---:|---:|"]
        for r in res["rows"]:
            for name in LAYOUTS:
                c = r[name]
                L.append(f"| {'-'.join(map(str, r['sizes']))} | {r['runs']} | {name} | "
                         f"{c['kernels']} | {c['mb_per_step']:.1f} | {c['estimate_us']:.1f} |")
    else:
        L += [f"{res['samples']} samples per epoch, medians of {res['reps']} epochs timed "
              "round-robin after a warm-up epoch.", "",
              "| MLP | runs | runs first µs / step | runs inside µs / step | inside / first speed "
              "| params max rel. diff after one epoch |", "|---|---:|---:|---:|---:|---:|"]
        for r in res["rows"]:
            L.append(f"| {'-'.join(map(str, r['sizes']))} | {r['runs']} | "
                     f"{r['runs first']['step_us']:.1f} | {r['runs inside']['step_us']:.1f} | "
                     f"**{r['speedup']:.2f}x** | {r['params_max_rel_diff']:.1e} |")
    return "\n".join(L) + "\n"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(prog="benchmarks/investigations/sweep_layout.py")
    ap.add_argument("--device", choices=("cpu", "gpu"), default="gpu")
    ap.add_argument("--compile-only", action="store_true")
    ap.add_argument("--target", choices=("h100", "h200"), default="h200")
    ap.add_argument("--samples", type=int, default=60000)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--runs", type=int, default=None, help="one runs count for every row")
    ap.add_argument("--out", default=str(HERE.parent / "results" / "investigations"
                                          / "sweep-layout-gpu"))
    args = ap.parse_args(argv)
    rows_cfg = [(s, args.runs or r) for s, r in ROWS]
    if args.compile_only:
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
        jax.config.update("jax_platforms", "cpu")
        rows = [compile_only(s, r, args.samples, args.target) for s, r in rows_cfg]
        device = f"{args.target.upper()}, compiled without a GPU"
    else:
        dev = jax.devices(args.device)[0]
        rows = []
        for s, r in rows_cfg:
            rows.append(measure(s, r, args.samples, args.reps, dev))
            print(f"MLP {s}, {r} runs: inside / first {rows[-1]['speedup']:.2f}x, params "
                  f"differ by {rows[-1]['params_max_rel_diff']:.1e}", flush=True)
        device = dev.device_kind
    res = {"mode": "compile-only" if args.compile_only else "timed", "device": device,
           **run_meta("investigations/sweep_layout.py", argv), "samples": args.samples,
           "reps": args.reps, "rows": rows}
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    out.with_suffix(".md").write_text(render(res))
    print(render(res))
    return res


if __name__ == "__main__":
    main()
