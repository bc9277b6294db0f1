#!/usr/bin/env python3
"""Time one jitted optimizer step (update + apply) for every nnfunc optimizer beside optax.

    python benchmarks/run.py optimizers [--quick | --smoke] [--device cpu|gpu] [--out DIR]
        [--reps N] [--params N] [--only a,b]

The pytree has ~10M float32 parameters in a few dozen leaves (matrices and biases of an
MLP-like stack). For each optimizer, the nnfunc step and optax's equivalent are compiled in
this process (same XLA), the state buffers are donated as in a real training loop, and the
two are timed alternately (``block_until_ready`` before every clock read) so that load on
the machine hits both alike; the table reports medians. Writes DIR/optimizers-<backend>.md
and .json (default DIR: benchmarks/results/optimizers). Optax is only a peer here: nnfunc itself never imports it.
"""
from __future__ import annotations

import argparse
import datetime
import pathlib
import statistics
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
for path in (str(HERE.parent / "src"), str(HERE)):   # nnfunc from a checkout; common
    if path not in sys.path:
        sys.path.insert(0, path)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

import nnfunc as nf  # noqa: E402
from common import pages  # noqa: E402

O = nf.optim


def _pairs():
    """(name, nnfunc optimizer, optax peer or None, note), same hyperparameters where
    the two formulations agree."""
    out = [
        ("sgd", O.sgd(1e-2), optax.sgd(1e-2), ""),
        ("momentum", O.momentum(1e-2), optax.sgd(1e-2, momentum=0.9), ""),
        ("nesterov", O.nesterov(1e-2), optax.sgd(1e-2, momentum=0.9, nesterov=True), ""),
        ("sgd (momentum, wd)", O.sgd(1e-2, 0.9, weight_decay=1e-4),
         optax.chain(optax.add_decayed_weights(1e-4), optax.sgd(1e-2, momentum=0.9)), ""),
        ("adagrad", O.adagrad(1e-2), optax.adagrad(1e-2, initial_accumulator_value=0.0,
                                                   eps=1e-10), ""),
        ("adadelta", O.adadelta(), optax.adadelta(1.0, rho=0.9, eps=1e-6), ""),
        ("rmsprop", O.rmsprop(1e-2), optax.rmsprop(1e-2, decay=0.99, eps=1e-8,
                                                   eps_in_sqrt=False), ""),
        ("rmsprop (centered, momentum)", O.rmsprop(1e-2, momentum=0.9, centered=True),
         optax.rmsprop(1e-2, decay=0.99, eps=1e-8, eps_in_sqrt=False, centered=True,
                       momentum=0.9), ""),
        ("adam", O.adam(1e-3), optax.adam(1e-3), ""),
        ("adam (amsgrad)", O.adam(1e-3, amsgrad=True), optax.amsgrad(1e-3), ""),
        ("adamw", O.adamw(1e-3), optax.adamw(1e-3, weight_decay=1e-2), ""),
        ("adamax", O.adamax(), optax.adamax(2e-3), ""),
        ("nadam", O.nadam(), optax.nadam(2e-3),
         "torch's NAdam (momentum schedule); optax's is plain Nesterov Adam"),
        ("radam", O.radam(), optax.radam(1e-3), ""),
        ("asgd", O.asgd(), None, "no optax peer"),
        ("rprop", O.rprop(), optax.rprop(1e-2), ""),
        ("adafactor", O.adafactor(), optax.adafactor(1e-2, multiply_by_parameter_scale=True,
                                                     clipping_threshold=1.0),
         "torch's Adafactor vs optax's (same factoring, different scalars)"),
    ]
    # the optimizers beyond torch, where present
    if hasattr(O, "lion"):
        out.append(("lion", O.lion(1e-4), optax.lion(1e-4, weight_decay=0.0), ""))
    if hasattr(O, "lamb"):
        out.append(("lamb", O.lamb(1e-3), optax.lamb(1e-3, eps=1e-6), ""))
    if hasattr(O, "lars"):
        out.append(("lars", O.lars(1.0), optax.lars(1.0, momentum=0.9), ""))
    if hasattr(O, "chain") and hasattr(O, "clip_by_global_norm"):
        out.append(("chain(clip_by_global_norm, adamw)",
                    O.chain(O.clip_by_global_norm(1.0), O.adamw(1e-3)),
                    optax.chain(optax.clip_by_global_norm(1.0),
                                optax.adamw(1e-3, weight_decay=1e-2)), ""))
    return out


def _params(n_params: int):
    """An MLP-like pytree: (width x width) matrices and biases, ~n_params in total."""
    n_layers = 24
    width = int((n_params / n_layers) ** 0.5)
    keys = jax.random.split(jax.random.key(0), n_layers)
    params = {}
    for i, k in enumerate(keys):
        params[f"layer{i:02d}"] = {"w": 0.05 * jax.random.normal(k, (width, width)),
                                   "b": jnp.zeros((width,))}
        if i % 2 == 0:
            params[f"layer{i:02d}"]["scale"] = jnp.ones((width,))
    return params


def _nf_step(opt):
    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return O.apply_updates(params, updates), state
    return jax.jit(step, donate_argnums=(0, 1))


def _optax_step(opt):
    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state
    return jax.jit(step, donate_argnums=(0, 1))


def _copy(tree):
    return jax.tree_util.tree_map(jnp.copy, tree)


def _bench(pairs, params, grads, reps: int, warmup: int = 3):
    rows = []
    for name, nf_opt, ox_opt, note in pairs:
        runners = [("nnfunc", _nf_step(nf_opt), nf_opt)]
        if ox_opt is not None:
            runners.append(("optax", _optax_step(ox_opt), ox_opt))
        # copies: a state whose leaves alias each other could not be donated
        carry = {k: [_copy(params), _copy(opt.init(params))] for k, _, opt in runners}
        times = {k: [] for k, _, _ in runners}
        for r in range(warmup + reps):
            for k, step, _ in runners:           # alternate: both see the same load
                p, s = carry[k]
                t0 = time.perf_counter()
                p, s = step(p, s, grads)
                jax.block_until_ready((p, s))
                t1 = time.perf_counter()
                carry[k] = [p, s]
                if r >= warmup:
                    times[k].append(t1 - t0)
        med = {k: statistics.median(v) for k, v in times.items()}
        row = {"optimizer": name, "nnfunc_ms": 1e3 * med["nnfunc"],
               "optax_ms": 1e3 * med["optax"] if "optax" in med else None, "note": note}
        row["ratio"] = (row["nnfunc_ms"] / row["optax_ms"]) if row["optax_ms"] else None
        rows.append(row)
        ratio = f"{row['ratio']:.2f}x" if row["ratio"] else "-"
        print(f"{name:36s} nnfunc {row['nnfunc_ms']:8.2f} ms   optax "
              f"{row['optax_ms'] or float('nan'):8.2f} ms   {ratio}", flush=True)
        del carry
    return rows


def _markdown(rows, meta) -> str:
    lines = [f"# Optimizer step time ({meta['backend']})", "",
             f"One jitted update + apply over {meta['n_params']:,} float32 parameters in "
             f"{meta['n_leaves']} leaves; median of {meta['reps']} reps, nnfunc and optax "
             f"alternating in one process; state donated. {meta['device']}; jax "
             f"{meta['jax']}, optax {meta['optax']}; {meta['date']}.", "",
             "| optimizer | nnfunc (ms) | optax (ms) | nnfunc / optax | note |",
             "|---|---:|---:|---:|---|"]
    for r in rows:
        ox = f"{r['optax_ms']:.2f}" if r["optax_ms"] else "-"
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] else "-"
        lines.append(f"| {r['optimizer']} | {r['nnfunc_ms']:.2f} | {ox} | {ratio} | "
                     f"{r['note']} |")
    lines.append("")
    lines.append("Reproduce: `python benchmarks/run.py optimizers` (options: `--reps`, "
                 "`--params`, `--only`).")
    return "\n".join(lines) + "\n"


# --quick and --smoke: fewer parameters and repetitions (every optimizer still runs)
QUICK = {"params": 1_000_000, "reps": 10}
SMOKE = {"params": 20_000, "reps": 1}


def main(argv=None) -> int:
    """Time every optimizer pair; write DIR/optimizers-<backend>.md and .json."""
    p = argparse.ArgumentParser(prog="benchmarks/run.py optimizers",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(HERE / "results" / "optimizers"),
                   help="output folder (default %(default)s)")
    p.add_argument("--reps", type=int, default=None,
                   help="timed steps per optimizer (default 30)")
    p.add_argument("--params", type=int, default=None,
                   help="parameter count (default 10,000,000)")
    p.add_argument("--only", default="", help="comma-separated optimizer names")
    p.add_argument("--quick", action="store_true", help=f"smaller: {QUICK}")
    p.add_argument("--smoke", action="store_true",
                   help=f"seconds, for CI (numbers are not measurements): {SMOKE}")
    args = p.parse_args(argv)
    size = SMOKE if args.smoke else QUICK if args.quick else {"params": 10_000_000,
                                                               "reps": 30}
    args.reps, args.params = args.reps or size["reps"], args.params or size["params"]

    params = _params(args.params)
    grads = jax.tree_util.tree_map(lambda x: 0.01 * jnp.cos(x + 1.0), params)
    pairs = _pairs()
    if args.only:
        keep = set(args.only.split(","))
        pairs = [t for t in pairs if t[0] in keep]
    dev = jax.devices()[0]
    rec = pages.machine(dev)
    meta = {**rec, "device": f"{dev.device_kind} ({rec['cpu']})",
            "n_params": sum(x.size for x in jax.tree_util.tree_leaves(params)),
            "n_leaves": len(jax.tree_util.tree_leaves(params)), "reps": args.reps,
            "jax": jax.__version__, "optax": optax.__version__,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command": pages.run_meta("run.py optimizers", argv)["command"]}
    print(f"{meta['n_params']:,} parameters in {meta['n_leaves']} leaves on {meta['device']}")
    rows = _bench(pairs, params, grads, args.reps)
    stem = pathlib.Path(args.out) / f"optimizers-{meta['backend']}"
    pages.write_page(stem, {"meta": meta, "rows": rows}, _markdown(rows, meta))
    print(f"wrote {stem}.md and {stem}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
