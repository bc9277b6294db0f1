#!/usr/bin/env python3
"""nnfunc's CPU/GPU training-throughput suite on MNIST-like data.

    python benchmarks/run.py [--quick] [--out DIR] [--backends cpu,gpu]
                             [--data synthetic|mnist] [--tag NAME]

Measures, in one process, training samples per second of
  * models: MLP 784-1024-1024-10 and the LeNet-style CNN (``nf.models.cnn``),
  * batch sizes 128 and 1024,
  * nnfunc: per-step jitted loop (``make_step`` from Python), fused epoch
    (``make_epoch``), sweep of 8 runs (``vmap`` of the fused epoch),
  * peers, when installed: PyTorch eager (same model, ``torch.optim.Adam``) and a
    hand-written raw JAX + optax ``lax.scan`` epoch,
on every requested backend, and each backend's float32 matmul ceiling, so every row
shows its achieved GFLOP/s (analytic forward + backward FLOPs) as a share of it. Writes
DIR/results.json, DIR/report.md and DIR/throughput.png (and NAME.{json,md,png} with
``--tag``). Exits 1 if any measurement failed (the files are still written).
"""
from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import platform
import re
import statistics
import sys
import time
import traceback

_HERE = pathlib.Path(__file__).resolve().parent
# Runs from a checkout without installing: the repo root gives `import nnfunc`, this folder
# gives `import _suite`.
for _p in (str(_HERE.parent), str(_HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

# JAX must not grab most of the GPU memory up front: torch runs in the same process.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

from _suite.config import (CONFIGS, FULL_DOES, MLP_SIZES, MODELS, QUICK_REDUCES,  # noqa: E402
                           SWEEP_LRS)

_TINY_ENV = "NNFUNC_BENCH_TINY"   # test-only reduced configuration (also --tiny)


def _parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="benchmarks/run.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=FULL_DOES + "\n\n" + QUICK_REDUCES)
    p.add_argument("--quick", action="store_true",
                   help="reduced run that finishes in < 5 min on a 2-core CPU (see below)")
    p.add_argument("--out", default="benchmarks/results/latest",
                   help="output folder (default: %(default)s)")
    p.add_argument("--backends", default="cpu,gpu",
                   help="comma-separated JAX platforms to measure; absent ones are skipped "
                        "with a note (default: %(default)s)")
    p.add_argument("--data", choices=("synthetic", "mnist"), default="synthetic",
                   help="nf.data.synthetic_mnist (default, no download) or the real MNIST "
                        "training set via nf.data.mnist (downloads when missing)")
    p.add_argument("--data-root", default=None,
                   help="folder holding the MNIST files for --data mnist "
                        "(default: $NNFUNC_DATA or ~/.cache/nnfunc)")
    p.add_argument("--models", default=",".join(MODELS),
                   help="comma-separated subset of mlp,cnn (default: both)")
    p.add_argument("--batch-sizes", default=None,
                   help="comma-separated batch sizes (default: 128,1024)")
    p.add_argument("--no-peers", action="store_true",
                   help="skip the PyTorch and raw JAX + optax peers")
    p.add_argument("--tag", default=None,
                   help="also write TAG.json, TAG.md and TAG.png next to results.json; "
                        "'auto' gives <device>-<date>")
    p.add_argument("--torch-threads", type=int, default=None,
                   help="torch.set_num_threads for the PyTorch CPU peer (default: torch's "
                        "own choice, one per core)")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="time budget: once exceeded, the remaining measurements are skipped "
                        "(listed in the report); results.json and report.md are rewritten "
                        "after every measurement, so an interrupted run leaves them too")
    p.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.tiny = args.tiny or os.environ.get(_TINY_ENV, "") not in ("", "0")
    return args


def _cpu_name() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} logical cores)"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()} ({os.cpu_count()} logical cores)"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _load_data(args, n: int):
    import numpy as np
    import nnfunc as nf
    if args.data == "mnist":
        x, y = nf.data.mnist("train", root=args.data_root, normalize=True)
        if len(x) < n:
            raise SystemExit(f"MNIST train has {len(x)} samples, {n} requested")
        x, y = x[:n], y[:n]
        source = "MNIST train (nf.data.mnist)"
    else:
        x, y = nf.data.synthetic_mnist(n, seed=0, normalize=True)
        source = "synthetic MNIST-like digits (nf.data.synthetic_mnist, seed 0)"
    return np.asarray(x, np.float32), np.asarray(y, np.int32), source


def _variants(peers: dict):
    """(framework, variant, kind) triples, in measurement order."""
    out = [("nnfunc", "step", "jax"), ("nnfunc", "epoch", "jax"), ("nnfunc", "sweep8", "jax")]
    if peers.get("optax"):
        out.append(("jax+optax", "scan_epoch", "jax"))
    if peers.get("torch"):
        out.append(("torch", "eager", "torch"))
    return out


def main(argv=None) -> int:
    args = _parse_args(argv)
    cfg = CONFIGS["tiny" if args.tiny else "quick" if args.quick else "full"]
    if args.batch_sizes:
        import dataclasses
        cfg = dataclasses.replace(cfg, batch_sizes=tuple(int(b) for b in
                                                         args.batch_sizes.split(",")))
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    bad = [m for m in models if m not in MODELS]
    if bad:
        raise SystemExit(f"--models must be a subset of {','.join(MODELS)}, got {bad}")
    out_dir = pathlib.Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.name == "tiny":
        # Test-only smoke run: compile fast (its timings are not measurements anyway), and
        # keep torch to one thread so that an oversubscribed test machine cannot stall it.
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   " --xla_llvm_disable_expensive_passes=true").strip()
        if args.torch_threads is None:
            args.torch_threads = 1

    import jax
    import jaxlib
    import numpy as np

    import nnfunc as nf  # noqa: F401  (fail early when the checkout is broken)
    from _suite import jax_peer, nnfunc_bench, report, torch_peer
    from _suite.flops import train_flops_per_sample
    from _suite.timing import matmul_ceiling, time_epochs

    t_start = time.perf_counter()
    notes, errors, rows, skipped = [], [], [], []
    torch_version = None if args.no_peers else torch_peer.available()
    try:
        import optax
        optax_version = None if args.no_peers else optax.__version__
    except ImportError:
        optax_version = None
    if args.no_peers:
        notes.append("Peers (PyTorch, raw JAX + optax) skipped: --no-peers.")
    else:
        if torch_version is None:
            notes.append("PyTorch not installed: no PyTorch eager rows.")
        if optax_version is None:
            notes.append("optax not installed: no raw JAX + optax rows.")
    if cfg.name == "quick":
        notes.append(QUICK_REDUCES)
    if cfg.name == "tiny":
        notes.append("TINY test configuration (hidden --tiny): a smoke run of every code "
                     "path; its numbers are not measurements.")
    if torch_version:
        import torch
        if args.torch_threads:
            torch.set_num_threads(args.torch_threads)
        notes.append(f"PyTorch CPU threads: {torch.get_num_threads()}.")

    x_all, y_all, source = _load_data(args, cfg.n_samples)
    devices, ceilings = {}, {}
    date = datetime.datetime.now(datetime.timezone.utc)
    meta = {
        "date": date.strftime("%Y-%m-%d %H:%M UTC"), "config": cfg.name,
        "jax_version": jax.__version__, "jaxlib_version": jaxlib.__version__,
        "torch_version": torch_version, "optax_version": optax_version,
        "numpy_version": np.__version__, "python_version": platform.python_version(),
        "jax_default_matmul_precision": str(jax.config.jax_default_matmul_precision),
        "devices": devices, "data": source, "n_samples": cfg.n_samples,
        "batch_sizes": list(cfg.batch_sizes), "models": models, "min_reps": cfg.min_reps,
        "max_reps": cfg.max_reps, "min_time_s": cfg.min_time_s, "sweep_runs": cfg.sweep_runs,
        "sweep_samples_per_run": cfg.sweep_samples, "warmup_steps": cfg.warmup_steps,
        "warmup_epochs": cfg.warmup_epochs,
        "sweep_learning_rates": list(SWEEP_LRS[:cfg.sweep_runs]), "learning_rate": 1e-3,
        "optimizer": "Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8)",
        "mlp_sizes": list(MLP_SIZES), "command": " ".join([sys.executable] + sys.argv),
        "wall_s": None,
    }
    results = {"meta": meta, "ceilings": ceilings, "rows": rows, "notes": notes,
               "errors": errors}
    try:
        import matplotlib  # noqa: F401
        have_mpl = True
    except ImportError:
        have_mpl = False
        notes.append("matplotlib not installed: no throughput.png (pip install matplotlib).")

    def write(plot: bool) -> list:
        """(Re)write every output file; the plot only when asked (it takes a second)."""
        meta["wall_s"] = round(time.perf_counter() - t_start, 1)
        names = ["results"]
        if args.tag:
            tag = args.tag
            if tag == "auto":
                dev_name = devices.get("gpu") or devices.get("cpu") or "nodevice"
                dev_name = re.sub(r"[(](R|TM|\d+ logical cores)[)]", "", dev_name)
                tag = f"{_slug(dev_name)}-{date:%Y-%m-%d}"
            names.append(_slug(tag) or "results")
        written = []
        for name in names:
            stem = ({"json": name, "md": name, "png": name} if name != "results" else
                    {"json": "results", "md": "report", "png": "throughput"})
            report.write_json(out_dir / f"{stem['json']}.json", results)
            report.write_markdown(out_dir / f"{stem['md']}.md", results)
            written += [f"{stem['json']}.json", f"{stem['md']}.md"]
            if plot and have_mpl:
                report.write_plot(out_dir / f"{stem['png']}.png", results)
                written.append(f"{stem['png']}.png")
        return written

    requested = [b.strip() for b in args.backends.split(",") if b.strip()]
    # The GPU first: it is quick, and with a time budget it is the measurement that matters.
    requested.sort(key=lambda b: b == "cpu")
    for backend in requested:
        try:
            dev = jax.devices(backend)[0]
        except RuntimeError as e:
            notes.append(f"Backend '{backend}' skipped: not present in this JAX "
                         f"installation ({str(e).splitlines()[0]}).")
            continue
        devices[backend] = _cpu_name() if backend == "cpu" else dev.device_kind
        print(f"== backend {backend}: {devices[backend]}", flush=True)
        ceilings[backend] = {p: matmul_ceiling(dev, cfg.ceiling_size(backend), cfg.ceiling_reps,
                                               precision=None if p == "default" else p)
                             for p in ("default", "highest")}
        ceiling = ceilings[backend]["default"]["gflops"]
        print(f"   matmul ceiling: {ceiling:,.0f} GFLOP/s (default precision), "
              f"{ceilings[backend]['highest']['gflops']:,.0f} (highest)", flush=True)

        torch_device = None
        if torch_version:
            if backend == "cpu":
                torch_device = "cpu"
            elif torch_peer.cuda_device_name():
                torch_device = "cuda"
            else:
                notes.append(f"PyTorch has no CUDA here: no PyTorch rows on '{backend}'.")

        for model in models:
            shape = (-1, 784) if model == "mlp" else (-1, 28, 28, 1)
            x_np = x_all.reshape(shape)
            with jax.default_device(dev):
                X, Y = jax.device_put(x_np, dev), jax.device_put(y_all, dev)
                X_sweep, Y_sweep = X[:cfg.sweep_samples], Y[:cfg.sweep_samples]
            flops = train_flops_per_sample(model, MLP_SIZES)
            for bs in [b for b in cfg.batch_sizes if (model, b) not in cfg.skip]:
                for framework, variant, kind in _variants({"torch": torch_device,
                                                           "optax": optax_version}):
                    what = f"{backend} {model} b={bs} {framework} {variant}"
                    if variant == "sweep8" and cfg.sweep_samples < bs:
                        notes.append(f"{what} skipped: {cfg.sweep_samples} samples per sweep "
                                     f"run is less than one batch.")
                        continue
                    if (args.max_minutes is not None
                            and time.perf_counter() - t_start > 60 * args.max_minutes):
                        skipped.append(what)
                        continue
                    t_setup = time.perf_counter()
                    try:
                        with jax.default_device(dev):
                            if (framework, variant) == ("nnfunc", "step"):
                                r = nnfunc_bench.build_step(model, MLP_SIZES, bs, X, Y, dev,
                                                            warmup_steps=cfg.warmup_steps)
                            elif (framework, variant) == ("nnfunc", "epoch"):
                                r = nnfunc_bench.build_epoch(model, MLP_SIZES, bs, X, Y, dev,
                                                             warmup_epochs=cfg.warmup_epochs)
                            elif (framework, variant) == ("nnfunc", "sweep8"):
                                r = nnfunc_bench.build_sweep(
                                    model, MLP_SIZES, bs, X_sweep, Y_sweep, dev,
                                    learning_rates=SWEEP_LRS[:cfg.sweep_runs],
                                    warmup_epochs=cfg.warmup_epochs)
                            elif framework == "jax+optax":
                                r = jax_peer.build(model, MLP_SIZES, bs, X, Y, dev,
                                                   warmup_epochs=cfg.warmup_epochs)
                            else:
                                r = torch_peer.build(model, MLP_SIZES, bs, x_np, y_all,
                                                     torch_device,
                                                     warmup_steps=cfg.warmup_steps)
                            times = time_epochs(r.run_epoch, r.sync, warmup=r.warmup,
                                                min_reps=cfg.min_reps, max_reps=cfg.max_reps,
                                                min_time_s=cfg.min_time_s)
                            # build + warm-up (compilation) + the timed epochs
                            wall = time.perf_counter() - t_setup
                            loss = r.last_loss()
                    except Exception as e:  # one failing variant must not sink the run
                        traceback.print_exc()
                        errors.append(f"{what}: {type(e).__name__}: {e}")
                        continue
                    med = statistics.median(times)
                    sps = r.samples / med
                    gflops = sps * flops / 1e9
                    row = {
                        "framework": framework, "variant": variant, "model": model,
                        "batch_size": bs, "backend": backend,
                        "device_name": (torch_peer.cuda_device_name()
                                        if kind == "torch" and torch_device == "cuda"
                                        else devices[backend]),
                        "jax_version": jax.__version__,
                        "samples_per_s": sps, "achieved_gflops": gflops,
                        "pct_of_matmul_ceiling": 100.0 * gflops / ceiling,
                        "epoch_ms": med * 1e3, "epoch_ms_min": min(times) * 1e3,
                        "epoch_times_s": times, "reps": len(times), "runs": r.runs,
                        "samples_per_epoch": r.samples,
                        "n_samples": cfg.sweep_samples if variant == "sweep8" else cfg.n_samples,
                        "train_flops_per_sample": flops, "final_loss": loss,
                        "setup_s": wall - sum(times),
                        "torch_version": torch_version if kind == "torch" else None,
                        "torch_device": torch_device if kind == "torch" else None,
                        "optax_version": optax_version if framework == "jax+optax" else None,
                        "config": cfg.name, "data": args.data,
                    }
                    row.update(r.extra)
                    rows.append(row)
                    write(plot=False)
                    print(f"   {what:40s} {sps:14,.0f} samples/s  {med * 1e3:9.1f} ms/epoch"
                          f"  {gflops:9.1f} GFLOP/s  {row['pct_of_matmul_ceiling']:5.1f}%"
                          f"  loss {loss:.3f}  (setup {wall - sum(times):.1f} s)", flush=True)
            del X, Y, X_sweep, Y_sweep

    if not devices:
        errors.append(f"none of the requested backends ({args.backends}) is present")
    if skipped:
        notes.append(f"Time budget (--max-minutes {args.max_minutes:g}) exceeded; skipped: "
                     + "; ".join(skipped) + ".")
    names = write(plot=True)
    print(f"wrote {', '.join(str(out_dir / n) for n in names)} in "
          f"{time.perf_counter() - t_start:.1f} s", flush=True)
    for e in errors:
        print(f"ERROR {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
