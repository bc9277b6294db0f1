"""What ``fit`` and ``sweep`` cost over the fused epoch they run: the throughput suite's
``--part fit``.

Same process, same data (synthetic MNIST-shaped digits), MLP 784-1024-1024-10, batch 128,
Adam: nnfunc's fused epoch (``make_epoch``) against raw JAX + optax and PyTorch eager;
one-epoch ``fit`` calls (with and without the progress bar) against ``make_epoch``; a
``sweep`` of 8 learning rates against 8 sequential fits (and the vmapped program as a
reference, and a small MLP where batching runs pays off); and the physical ceiling (the
epoch's matrix products at the machine's matmul rate). Every time is the median over
``--fit-repeats`` timed epochs after a warm-up (so compilation is excluded), the rows
timed round-robin; ratios are of samples/s (sweep: models·samples/s).

    python benchmarks/run.py throughput --part fit --device cpu --out DIR
    python benchmarks/run.py throughput --part fit --quick --out DIR      # about a minute

Writes DIR/training-<backend>.json and DIR/training-<backend>.md.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import nnfunc as nf
from common import pages
from common.timing import interleaved

SIZES = [784, 1024, 1024, 10]
SMALL = [784, 32, 10]
BATCH = 128
LR = 1e-3
CE = nf.losses.softmax_cross_entropy_with_integer_labels
MATMUL_SIZE = 2048
# (samples, repeats, sweep repeats) of the full, --quick and --smoke runs
SETTINGS = {"full": (8192, 5, 2), "quick": (2048, 2, 2), "tiny": (256, 1, 1)}


def bench_nnfunc_epoch(x, y):
    """``run()``: one ``nf.train.make_epoch`` epoch of the MLP, donated, blocking until done."""
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
    """PyTorch eager, the suite's one PyTorch peer (``common.torch_peer``) on the CPU."""
    from common import torch_peer
    r = torch_peer.build("mlp", SIZES, BATCH, np.asarray(x), np.asarray(y), "cpu",
                         learning_rate=LR)
    return r.run_epoch


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


def bench_sweep(x, y, runs=8, epochs=1, sizes=SIZES):
    """``nf.train.sweep`` of ``runs`` learning rates (its own choice of program) and the
    equivalent sequential fits."""
    model, opt = nf.models.mlp(sizes), nf.optim.adam(learning_rate=LR)
    lrs = list(np.geomspace(1e-4, 3e-3, runs))

    def one_program():
        res = nf.train.sweep(model, opt, CE, (x, y), hparams={"learning_rate": lrs},
                             epochs=epochs, batch_size=BATCH, key=0)
        jax.block_until_ready(res.state.params)

    def sequential():
        for lr in lrs:   # one compilation shared by all runs: the fastest sequential way
            ts = nf.train.init_state(model, opt, 0, (784,))
            ts = ts._replace(opt_state=nf.optim.set_hparams(ts.opt_state, learning_rate=lr))
            r = nf.train.fit(model, opt, CE, (x, y), epochs=epochs, batch_size=BATCH,
                             state=ts, progress=False)
            jax.block_until_ready(r.state.params)
    return one_program, sequential


def bench_vmapped_sweep(x, y, runs=8):
    """The fused epoch ``vmap``-ped over ``runs`` learning rates, one epoch per call
    (``common.nnfunc_bench.build_sweep``: the program ``nf.train.sweep`` runs when it
    vmaps the runs), as the reference for the sweep's own choice."""
    from common import nnfunc_bench
    lrs = [float(v) for v in np.geomspace(1e-4, 3e-3, runs)]
    r = nnfunc_bench.build_sweep("mlp", tuple(SIZES), BATCH, x, y, jax.devices()[0],
                                 learning_rates=lrs, base_learning_rate=LR)

    def run():
        r.sync(r.run_epoch())
    return run


def epoch_gemm_flops(n_used):
    """FLOPs of the matrix products of one epoch of the MLP: forward ``h W``, the weight
    gradients ``hᵀ δ`` (as many) and the input gradients ``δ Wᵀ`` (all layers but the
    first)."""
    macs = sum(m * n for m, n in zip(SIZES[:-1], SIZES[1:]))
    macs_dx = sum(m * n for m, n in zip(SIZES[1:-1], SIZES[2:]))
    return 2 * n_used * (2 * macs + macs_dx)


def bench_matmul(size=MATMUL_SIZE):
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


def settings(args):
    """``(samples, repeats, sweep repeats)``: the run's size (full, --quick or --smoke),
    each overridden by its ``--fit-*`` flag."""
    name = "tiny" if args.tiny else "quick" if args.quick else "full"
    samples, repeats, sweep_repeats = SETTINGS[name]
    return (args.fit_samples or samples, args.fit_repeats or repeats,
            args.fit_sweep_repeats or sweep_repeats)


def run(args, argv=None):
    """Time every comparison on one data set, write DIR/training-<backend>.json and .md
    (``args``: the throughput suite's arguments) and print the page; the result dict."""
    import pathlib
    samples, repeats, sweep_repeats = settings(args)
    device = jax.devices(args.device)[0] if args.device else jax.devices()[0]
    with jax.default_device(device):
        x, y, n_used = _load_data(samples)
        rows = []
        epoch_runner = _measure_epochs(rows, x, y, n_used, repeats, args.skip_torch)
        sweeps = _measure_sweeps(rows, x, y, n_used, sweep_repeats)
        size = 512 if args.tiny else MATMUL_SIZE
        ceiling = _measure_ceiling(x, n_used, epoch_runner, repeats, sweeps["seq"], size)
    ratios = _ratios(rows, sweeps, args.skip_torch)
    res = {**pages.run_meta("run.py throughput", argv), **pages.machine(device),
           "samples": samples, "samples_used": n_used, "repeats": repeats,
           "sweep_repeats": sweep_repeats, "sizes": SIZES, "batch_size": BATCH,
           "learning_rate": LR,
           "rows": [{"what": n, "seconds": t, "samples_per_s": v} for n, t, v in rows],
           "ratios": [{"ratio": n, "value": v, "target": t} for n, v, t in ratios],
           "ceiling": [{"quantity": n, "value": v} for n, v in ceiling]}
    text = render(res)
    pages.write_page(pathlib.Path(args.out) / f"training-{device.platform}", res, text)
    print(text)
    return res


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
    vmapped = bench_vmapped_sweep(x, y)
    sw = interleaved({"sweep": one_program, "seq": sequential, "vmap": vmapped}, repeats)
    _add_row(rows, n_used, "nnfunc sweep, 8 learning rates, 1 epoch, one program", sw["sweep"],
             models=8)
    _add_row(rows, n_used, "8 sequential fits, 1 epoch each", sw["seq"], models=8)
    _add_row(rows, n_used, "vmap of the fused epoch over the 8 runs, one epoch per call (reference)", sw["vmap"],
             models=8)
    # Where one run does not fill the machine (a small model), batching runs pays off.
    one_small, seq_small = bench_sweep(x, y, sizes=SMALL)
    small = interleaved({"sweep": one_small, "seq": seq_small}, repeats)
    _add_row(rows, n_used, f"nnfunc sweep, 8 learning rates, MLP {_SMALL_NAME}", small["sweep"],
             models=8)
    _add_row(rows, n_used, f"8 sequential fits, MLP {_SMALL_NAME}", small["seq"], models=8)
    return {**sw, "sweep_small": small["sweep"], "seq_small": small["seq"]}


def _measure_ceiling(x, n_used, epoch_runner, repeats, t_seq, size=MATMUL_SIZE):
    """The physical ceiling table: an epoch's GEMMs at the machine's matmul speed."""
    # The matmul, the epoch's GEMMs alone and one make_epoch epoch, timed round-robin.
    mm_run, mm_flops = bench_matmul(size)
    ceil = interleaved({"mm": mm_run, "gemms": bench_epoch_gemms(x),
                         "epoch": epoch_runner}, repeats)
    flops = epoch_gemm_flops(n_used)
    gemm_rate, epoch_rate = mm_flops / ceil["mm"], flops / ceil["epoch"]
    best_sweep = 8 * flops / gemm_rate          # 8 runs, nothing but GEMMs at full speed
    return [
        (f"float32 matmul {size}³ (XLA), GFLOP/s", f"{gemm_rate / 1e9:.0f}"),
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
    ratios.append(("vmapped fused epoch / 8 sequential fits", sweeps["seq"] / sweeps["vmap"],
                   "(reference)"))
    ratios.append((f"sweep of 8 / 8 sequential fits, MLP {_SMALL_NAME}",
                   sweeps["seq_small"] / sweeps["sweep_small"], "(extra)"))
    return ratios


def render(res):
    """The Markdown page: command, machine and settings, then the three tables."""
    lines = pages.header("What fit and sweep cost over the fused epoch", res, "") + [
        pages.machine_line(res), "",
        f"Model: MLP {'-'.join(map(str, res['sizes']))}, batch {res['batch_size']}, "
        f"Adam(lr={res['learning_rate']}); {res['samples']} synthetic MNIST-shaped samples "
        f"({res['samples_used']} used per epoch, the remainder dropped). Times are medians "
        f"of {res['repeats']} epochs after a warm-up epoch, the rows timed round-robin "
        f"(sweep rows: medians of {res['sweep_repeats']} calls, also after a warm-up).", "",
        "| what | seconds per epoch | samples/s (models·samples/s) |",
        "|---|---:|---:|"]
    lines += [f"| {r['what']} | {r['seconds']:.3f} | {r['samples_per_s']:,.0f} |"
              for r in res["rows"]]
    lines += ["", "| ratio | value | target |", "|---|---:|---|"]
    lines += [f"| {r['ratio']} | {r['value']:.2f}x | {r['target']} |" for r in res["ratios"]]
    lines += ["", "Physical ceiling (same process, round-robin, medians of "
              f"{res['repeats']}):", "", "| quantity | value |", "|---|---:|"]
    lines += [f"| {r['quantity']} | {r['value']} |" for r in res["ceiling"]]
    return "\n".join(lines) + "\n"
