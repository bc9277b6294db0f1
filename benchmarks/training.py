"""Training throughput: nnfunc's fused epoch vs raw JAX + optax vs PyTorch eager; fit vs
make_epoch; a sweep of 8 learning rates vs 8 sequential fits.

Same process, same data (synthetic MNIST-shaped digits), MLP 784-1024-1024-10, batch 128,
Adam. Every time is the median over ``--repeats`` timed epochs after a warm-up epoch (so
compilation is excluded); ratios are of samples/s (sweep: models·samples/s).

    python benchmarks/training.py                      # writes benchmarks/results/training-cpu.md
    python benchmarks/training.py --samples 2048 --repeats 2 --out /tmp/t.md   # quick
"""
from __future__ import annotations

import argparse
import os
import platform
import sys

import jax
import jax.numpy as jnp
import numpy as np

import nnfunc as nf
from common.timing import interleaved

SIZES = [784, 1024, 1024, 10]
SMALL = [784, 32, 10]
BATCH = 128
LR = 1e-3
CE = nf.losses.softmax_cross_entropy_with_integer_labels


def bench_nnfunc_epoch(x, y):
    model, opt = nf.models.mlp(SIZES), nf.optim.adam(learning_rate=LR)
    epoch = nf.train.make_epoch(model, opt, CE, BATCH, donate=True)
    box = [nf.train.init_state(model, opt, 0, (784,))]

    def run():
        box[0], m = epoch(box[0], x, y)
        jax.block_until_ready(m)
    return run


def bench_raw_jax_epoch(x, y):
    """The floor: a hand-written JAX MLP with optax Adam and the same scan epoch."""
    import optax
    from common import jax_peer

    def loss(params, xb, yb):
        logits = jax_peer.apply_mlp(params, xb)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()
    return jax_peer.scan_epoch_runner(loss, jax_peer.init_mlp(jax.random.key(0), SIZES),
                                      optax.adam(LR), BATCH, x, y)


def bench_torch_epoch(x, y):
    import torch
    torch.manual_seed(0)
    layers = []
    for m, n in zip(SIZES[:-1], SIZES[1:]):
        layers += [torch.nn.Linear(m, n), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    xt = torch.from_numpy(np.array(x))
    yt = torch.from_numpy(np.array(y)).long()
    steps = xt.shape[0] // BATCH

    def run():
        perm = torch.randperm(xt.shape[0])
        for j in range(steps):
            idx = perm[j * BATCH:(j + 1) * BATCH]
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    return run


def bench_fit_epoch(x, y, progress):
    """One-epoch ``fit`` calls continuing one state; the time is the epoch's
    ``history['seconds']`` (training only, as make_epoch's row)."""
    model, opt = nf.models.mlp(SIZES), nf.optim.adam(learning_rate=LR)
    box = [nf.train.init_state(model, opt, 0, (784,))]

    def run():
        r = nf.train.fit(model, opt, CE, (x, y), epochs=1, batch_size=BATCH, state=box[0],
                         progress=progress)
        box[0] = r.state
        return r.history["seconds"][0]
    return run


def bench_sweep(x, y, runs=8, epochs=1, sizes=SIZES, force_vmap=False):
    """``sweep`` (its own choice of vmap or scan over runs, or with ``force_vmap`` always
    vmap, through the private threshold) and the equivalent sequential fits."""
    model, opt = nf.models.mlp(sizes), nf.optim.adam(learning_rate=LR)
    lrs = list(np.geomspace(1e-4, 3e-3, runs))
    sweep_mod = sys.modules["nnfunc.train.sweep"]

    def one_program():
        threshold = sweep_mod._SCAN_FLOPS
        if force_vmap:
            sweep_mod._SCAN_FLOPS = float("inf")
        try:
            res = nf.train.sweep(model, opt, CE, (x, y), hparams={"learning_rate": lrs},
                                 epochs=epochs, batch_size=BATCH, key=0)
        finally:
            sweep_mod._SCAN_FLOPS = threshold
        jax.block_until_ready(res.state.params)

    def sequential():
        for lr in lrs:   # one compilation shared by all runs: the fastest sequential way
            ts = nf.train.init_state(model, opt, 0, (784,))
            ts = ts._replace(opt_state=nf.optim.set_hparams(ts.opt_state, learning_rate=lr))
            r = nf.train.fit(model, opt, CE, (x, y), epochs=epochs, batch_size=BATCH,
                             state=ts, progress=False)
            jax.block_until_ready(r.state.params)
    return one_program, sequential


def epoch_gemm_flops(n_used):
    """FLOPs of the matrix products of one epoch of the MLP: forward ``h W``, the weight
    gradients ``hᵀ δ`` (as many) and the input gradients ``δ Wᵀ`` (all layers but the
    first)."""
    macs = sum(m * n for m, n in zip(SIZES[:-1], SIZES[1:]))
    macs_dx = sum(m * n for m, n in zip(SIZES[1:-1], SIZES[2:]))
    return 2 * n_used * (2 * macs + macs_dx)


def bench_matmul(size=2048):
    """A large float32 matmul in XLA: the machine's practical GEMM ceiling."""
    a = jax.random.normal(jax.random.key(0), (size, size))
    mm = jax.jit(lambda a, b: a @ b)

    def run():
        jax.block_until_ready(mm(a, a))
    return run, 2 * size ** 3


def bench_epoch_gemms(x):
    """Only the epoch's matrix products (same shapes, 64 steps in one scan), no optimizer,
    no elementwise work: what an epoch would cost at the GEMM speed."""
    dims = list(zip(SIZES[:-1], SIZES[1:]))
    ws = [jax.random.normal(jax.random.key(i), d) * 0.01 for i, d in enumerate(dims)]
    steps = x.shape[0] // BATCH

    @jax.jit
    def gemms(x, ws):
        def body(c, i):
            h = [jax.lax.dynamic_slice_in_dim(x, i * BATCH, BATCH)]
            for w in ws:
                h.append(h[-1] @ w)
            d = h[-1]
            for j in range(len(ws) - 1, -1, -1):
                c = c + (h[j].T @ d)[0, 0]          # weight gradient
                if j:
                    d = d @ ws[j].T                 # input gradient
            return c, None
        return jax.lax.scan(body, jnp.zeros(()), jnp.arange(steps))[0]

    def run():
        jax.block_until_ready(gemms(x, ws))
    return run


_SMALL_NAME = "-".join(map(str, SMALL))


def main(argv=None):
    """Time every comparison on one data set, then write the markdown report and print it."""
    args = _parse_args(argv)
    x, y, n_used = _load_data(args.samples)
    rows = []
    epoch_runner = _measure_epochs(rows, x, y, n_used, args.repeats, args.skip_torch)
    sweeps = _measure_sweeps(rows, x, y, n_used, args.sweep_repeats)
    ceiling = _measure_ceiling(x, n_used, epoch_runner, args.repeats, sweeps["seq"])
    ratios = _ratios(rows, sweeps, args.skip_torch)
    text = _report(args, argv, n_used, rows, ratios, ceiling)
    _write(args.out, text)
    print(text)


def _parse_args(argv=None):
    """The command-line arguments (sizes of the run, output file, whether to time PyTorch)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=8192)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sweep-repeats", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                  "training-cpu.md"))
    ap.add_argument("--skip-torch", action="store_true")
    return ap.parse_args(argv)


def _load_data(samples):
    """The synthetic digits on the device, and how many of them an epoch uses (whole batches)."""
    xs, ys = nf.data.synthetic_mnist(samples, seed=0, normalize=True, flatten=True)
    x, y = jax.device_put(jnp.asarray(xs)), jax.device_put(jnp.asarray(ys))
    return x, y, (samples // BATCH) * BATCH


def _add_row(rows, n_used, name, seconds, models=1):
    """Append a (name, seconds, samples/s) row and print it as its progress line."""
    rows.append((name, seconds, models * n_used / seconds))
    print(f"{name:55s} {seconds * 1e3:9.1f} ms  {models * n_used / seconds:12.0f}",
          flush=True)


def _measure_epochs(rows, x, y, n_used, repeats, skip_torch):
    """Time the epochs of make_epoch and its peers round-robin, add their rows; make_epoch's."""
    names = {"epoch": "nnfunc make_epoch (one compiled scan)",
             "raw": "raw JAX + optax lax.scan epoch",
             "fit": "nnfunc fit, progress=False (per epoch)",
             "fit_bar": "nnfunc fit, progress=True (per epoch)"}
    runners = {"epoch": bench_nnfunc_epoch(x, y), "raw": bench_raw_jax_epoch(x, y),
               "fit": bench_fit_epoch(x, y, False), "fit_bar": bench_fit_epoch(x, y, True)}
    if not skip_torch:
        names["torch"] = "PyTorch eager (torch %s)" % __import__("torch").__version__
        runners["torch"] = bench_torch_epoch(x, y)
    med = interleaved(runners, repeats)
    for k in ("epoch", "raw", "torch", "fit", "fit_bar"):
        if k in med:
            _add_row(rows, n_used, names[k], med[k])
    return runners["epoch"]


def _measure_sweeps(rows, x, y, n_used, repeats):
    """Time sweeps of 8 learning rates against 8 sequential fits; add their rows; the times."""
    one_program, sequential = bench_sweep(x, y)
    vmapped, _ = bench_sweep(x, y, force_vmap=True)
    sw = interleaved({"sweep": one_program, "seq": sequential, "vmap": vmapped}, repeats)
    _add_row(rows, n_used, "nnfunc sweep, 8 learning rates, 1 epoch, one program", sw["sweep"],
             models=8)
    _add_row(rows, n_used, "8 sequential fits, 1 epoch each", sw["seq"], models=8)
    _add_row(rows, n_used, "nnfunc sweep forced to vmap the runs (reference)", sw["vmap"],
             models=8)
    # Where one run does not fill the machine (a small model), batching runs pays off.
    one_small, seq_small = bench_sweep(x, y, sizes=SMALL)
    small = interleaved({"sweep": one_small, "seq": seq_small}, repeats)
    _add_row(rows, n_used, f"nnfunc sweep, 8 learning rates, MLP {_SMALL_NAME}", small["sweep"],
             models=8)
    _add_row(rows, n_used, f"8 sequential fits, MLP {_SMALL_NAME}", small["seq"], models=8)
    return {**sw, "sweep_small": small["sweep"], "seq_small": small["seq"]}


def _measure_ceiling(x, n_used, epoch_runner, repeats, t_seq):
    """The physical ceiling table: an epoch's GEMMs at the machine's matmul speed."""
    # The matmul, the epoch's GEMMs alone and one make_epoch epoch, timed round-robin.
    mm_run, mm_flops = bench_matmul()
    ceil = interleaved({"mm": mm_run, "gemms": bench_epoch_gemms(x),
                         "epoch": epoch_runner}, repeats)
    flops = epoch_gemm_flops(n_used)
    gemm_rate, epoch_rate = mm_flops / ceil["mm"], flops / ceil["epoch"]
    best_sweep = 8 * flops / gemm_rate          # 8 runs, nothing but GEMMs at full speed
    return [
        ("float32 matmul 2048³ (XLA), GFLOP/s", f"{gemm_rate / 1e9:.0f}"),
        ("GEMM FLOPs of one epoch (fwd + weight grads + input grads)", f"{flops / 1e9:.1f} G"),
        ("the epoch's GEMMs alone, s (GFLOP/s)",
         f"{ceil['gemms']:.3f} ({flops / ceil['gemms'] / 1e9:.0f})"),
        ("make_epoch, s (GFLOP/s, share of the matmul rate)",
         f"{ceil['epoch']:.3f} ({epoch_rate / 1e9:.0f}, {epoch_rate / gemm_rate:.0%})"),
        ("8 runs at the matmul rate with zero optimizer/elementwise cost, s",
         f"{best_sweep:.2f}"),
        ("=> bound on sweep / 8 sequential fits", f"{t_seq / best_sweep:.2f}x"),
        # The rest of an epoch (optimizer, activations: memory-bound) scales with the runs.
        ("8 runs: GEMMs at the matmul rate + 8 x make_epoch's non-GEMM time, s",
         f"{best_sweep + 8 * max(ceil['epoch'] - ceil['gemms'], 0.0):.2f}"),
        ("=> realistic bound on sweep / 8 sequential fits",
         f"{t_seq / (best_sweep + 8 * max(ceil['epoch'] - ceil['gemms'], 0.0)):.2f}x"),
    ]


def _ratios(rows, sweeps, skip_torch):
    """The (ratio, value, target) rows: make_epoch against its peers and fit, sweeps."""
    by = {name: sps for name, _, sps in rows}
    ne, raw = by[rows[0][0]], by[rows[1][0]]
    ratios = [("make_epoch / raw JAX+optax", ne / raw, ">= 0.95")]
    if not skip_torch:
        ratios.append(("make_epoch / PyTorch eager", ne / by[rows[2][0]], ">= 2.5"))
    ratios.append(("fit (progress=False) / make_epoch",
                   by["nnfunc fit, progress=False (per epoch)"] / ne, ">= 0.95"))
    ratios.append(("fit (progress=True) / make_epoch",
                   by["nnfunc fit, progress=True (per epoch)"] / ne, ">= 0.95"))
    ratios.append(("sweep of 8 / 8 sequential fits", sweeps["seq"] / sweeps["sweep"], ">= 2"))
    ratios.append(("sweep forced to vmap / 8 sequential fits", sweeps["seq"] / sweeps["vmap"],
                   "(reference)"))
    ratios.append((f"sweep of 8 / 8 sequential fits, MLP {_SMALL_NAME}",
                   sweeps["seq_small"] / sweeps["sweep_small"], "(extra)"))
    return ratios


def _report(args, argv, n_used, rows, ratios, ceiling):
    """The markdown report: command, machine and settings, then the three tables."""
    cmd = "python benchmarks/training.py " + " ".join(sys.argv[1:] if argv is None else argv)
    lines = [
        "# Training throughput (CPU)", "",
        f"Command: `{cmd.strip()}`", "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores visible, "
        f"{platform.python_implementation()} {platform.python_version()}, jax {jax.__version__}"
        f" ({jax.default_backend()}).",
        f"Model: MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, Adam(lr={LR}); "
        f"{args.samples} synthetic MNIST-shaped samples ({n_used} used per epoch, the "
        f"remainder dropped). Times are medians of {args.repeats} epochs after a warm-up "
        f"epoch, the rows timed round-robin (sweep rows: medians of {args.sweep_repeats} "
        f"calls, also after a warm-up).", "",
        "| what | seconds per epoch | samples/s (models·samples/s) |",
        "|---|---:|---:|",
    ]
    lines += [f"| {name} | {sec:.3f} | {sps:,.0f} |" for name, sec, sps in rows]
    lines += ["", "| ratio | value | target |", "|---|---:|---|"]
    lines += [f"| {name} | {v:.2f}x | {target} |" for name, v, target in ratios]
    lines += ["", "Physical ceiling (same process, round-robin, medians of "
              f"{args.repeats}):", "", "| quantity | value |", "|---|---:|"]
    lines += [f"| {name} | {v} |" for name, v in ceiling]
    return "\n".join(lines) + "\n"


def _write(path, text):
    """Write the report to ``path``, creating its folder."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
