#!/usr/bin/env python3
"""nnfunc's CPU/GPU training-throughput suite on MNIST-like data.

    python benchmarks/run.py [throughput] [--quick | --smoke] [--out DIR]
        [--backends cpu,gpu | --device cpu|gpu] [--data synthetic|mnist] [--tag NAME]
        [--part epochs|fit|all]

Measures, in one process, training samples per second of
  * models: MLP 784-1024-1024-10 and the LeNet-style CNN (``nf.models.cnn``),
  * batch sizes 128 and 1024,
  * nnfunc: per-step jitted loop (``make_step`` from Python), fused epoch
    (``make_epoch``), sweep of 8 runs (``vmap`` of the fused epoch),
  * peers, when installed: PyTorch eager (same model, ``torch.optim.Adam``), the same
    PyTorch step through ``torch.compile`` (``--torch-compile``, compilation reported
    apart; measured after every other row of a backend, so a time budget drops it first)
    and a hand-written raw JAX + optax ``lax.scan`` epoch,
on every requested backend, and each backend's float32 matmul ceiling, so every row
shows its achieved GFLOP/s (analytic forward + backward FLOPs) as a share of it. Writes
DIR/results.json, DIR/report.md and DIR/throughput.png (and NAME.{json,md,png} with
``--tag``). Exits 1 if any measurement failed (the files are still written).

``--part fit`` (or ``all``) measures what ``fit`` and ``sweep`` cost over the fused epoch
they run (``throughput_fit.py``: one process, round-robin medians) and writes
DIR/training-<backend>.json and .md.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import pathlib
import platform
import re
import statistics
import sys
import time
import traceback
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Tuple

HERE = pathlib.Path(__file__).resolve().parent
# Runs from a checkout without installing: the repo's src/ gives `import nnfunc`, this
# folder gives `import common`.
for path in (str(HERE.parent / "src"), str(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)

# JAX must not grab most of the GPU memory up front: torch runs in the same process.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

from common.config import (CONFIGS, FULL_DOES, MLP_SIZES, MODELS, QUICK_REDUCES,  # noqa: E402
                           SWEEP_LRS, Config)

TINY_ENV = "NNFUNC_BENCH_TINY"   # the smoke configuration (also --smoke)


def parse_args(argv=None) -> argparse.Namespace:
    """The suite's command-line arguments (``--smoke``, the hidden ``--tiny`` or ``NNFUNC_BENCH_TINY`` pick the smoke configuration)."""
    p = argparse.ArgumentParser(
        prog="benchmarks/run.py throughput", description=__doc__.split("\n\n")[0],
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
    p.add_argument("--torch-compile", default=None, metavar="MODE",
                   help="torch.compile mode of the compiled PyTorch peer, or 'none' "
                        "(default: 'reduce-overhead', CUDA graphs on a GPU; 'none' for the "
                        "test-only tiny run)")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="time budget: once exceeded, the remaining measurements are skipped "
                        "(listed in the report); results.json and report.md are rewritten "
                        "after every measurement, so an interrupted run leaves them too")
    p.add_argument("--device", choices=("cpu", "gpu"), default=None,
                   help="measure this backend only (the same as --backends DEVICE)")
    p.add_argument("--smoke", action="store_true",
                   help="CI smoke run: every code path on a few hundred samples in seconds; "
                        "its numbers are not measurements")
    p.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # = --smoke
    p.add_argument("--part", choices=("epochs", "fit", "all"), default="epochs",
                   help="epochs: the table above (default); fit: what fit and sweep cost "
                        "over the fused epoch (DIR/training-<backend>.md); all: both")
    p.add_argument("--fit-samples", type=int, default=None,
                   help="--part fit: samples per epoch (default 8192; --smoke 256)")
    p.add_argument("--fit-repeats", type=int, default=None,
                   help="--part fit: timed epochs per row (default 5; --quick 2; --smoke 1)")
    p.add_argument("--fit-sweep-repeats", type=int, default=None,
                   help="--part fit: timed sweep calls per row (default 2; --smoke 1)")
    p.add_argument("--skip-torch", action="store_true",
                   help="--part fit: no PyTorch row")
    args = p.parse_args(argv)
    args.tiny = (args.tiny or args.smoke or
                 os.environ.get(TINY_ENV, "") not in ("", "0"))
    if args.device:
        args.backends = args.device
    if args.torch_compile is None:
        args.torch_compile = "none" if args.tiny else "reduce-overhead"
    return args


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


def variants(peers: dict, compiled: bool = False):
    """(framework, variant, kind) triples, in measurement order; ``compiled``: the
    torch.compile peer alone (a backend's last pass)."""
    if compiled:
        return [("torch", "compiled", "torch")] if peers.get("torch") else []
    out = [("nnfunc", "step", "jax"), ("nnfunc", "epoch", "jax"), ("nnfunc", "sweep8", "jax")]
    if peers.get("optax"):
        out.append(("jax+optax", "scan_epoch", "jax"))
    if peers.get("torch"):
        out.append(("torch", "eager", "torch"))
    return out


@dataclasses.dataclass
class _Run:
    """One run of the suite: its settings, the host data and what it has measured so far."""
    args: argparse.Namespace
    cfg: Config
    models: List[str]
    out_dir: pathlib.Path
    t_start: float
    torch_version: Optional[str] = None
    optax_version: Optional[str] = None
    x_all: Any = None
    y_all: Any = None
    date: Optional[datetime.datetime] = None
    have_mpl: bool = False
    meta: Dict[str, Any] = dataclasses.field(default_factory=dict)
    devices: Dict[str, str] = dataclasses.field(default_factory=dict)
    ceilings: Dict[str, Any] = dataclasses.field(default_factory=dict)
    rows: List[Dict[str, Any]] = dataclasses.field(default_factory=list)
    notes: List[str] = dataclasses.field(default_factory=list)
    errors: List[str] = dataclasses.field(default_factory=list)
    skipped: List[str] = dataclasses.field(default_factory=list)

    def results(self) -> Dict[str, Any]:
        """What results.json holds: the same dicts and lists that the run keeps filling."""
        return {"meta": self.meta, "ceilings": self.ceilings, "rows": self.rows,
                "notes": self.notes, "errors": self.errors}

    def elapsed(self) -> float:
        """Seconds since the run started (after the imports)."""
        return time.perf_counter() - self.t_start


@dataclasses.dataclass(frozen=True)
class _Case:
    """One measurement: a framework's variant, for a model and batch size on a backend."""
    backend: str
    dev: Any
    torch_device: Optional[str]
    model: str
    flops: int
    data: Dict[str, Any]
    batch_size: int
    framework: str
    variant: str
    kind: str

    @property
    def what(self) -> str:
        """The case as the progress lines, notes and errors name it."""
        return f"{self.backend} {self.model} b={self.batch_size} {self.framework} {self.variant}"


class _Timing(NamedTuple):
    """A measured case: its runner, the timed epochs, the wall time in all and the loss."""
    runner: Any
    times: List[float]
    wall_s: float
    loss: float


def main(argv=None) -> int:
    """Run the suite: set up, then measure, save and print each configuration in turn
    (``--part fit``/``all``: then the fit and sweep costs of ``throughput_fit``)."""
    args = parse_args(argv)
    status = 0
    if args.part in ("epochs", "all"):
        status = _run_epochs(args)
    if args.part in ("fit", "all"):
        import throughput_fit
        throughput_fit.run(args, argv)
    return status


def _run_epochs(args: argparse.Namespace) -> int:
    """The epochs table: every case measured, saved and printed in turn; the exit status."""
    run = _set_up(args)
    for case in _configurations(run):
        timing = _measure(run, case)
        if timing is None:  # the error is recorded; the other cases still run
            continue
        row = _row(run, case, timing)
        run.rows.append(row)
        _write_outputs(run, plot=False)  # an interrupted run still leaves its results
        _print_row(case, row)
    _note_gaps(run)
    return _finish(run)


# ---------------------------------------------------------------------------- set-up

def _set_up(args: argparse.Namespace) -> _Run:
    """Check the arguments, prepare the output folder and process, find peers, load data."""
    cfg, models = _configuration(args)
    out_dir = pathlib.Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.name == "tiny":
        _tune_for_tiny(args)
    _import_suite()
    run = _Run(args=args, cfg=cfg, models=models, out_dir=out_dir, t_start=time.perf_counter())
    _find_peers(run)
    _note_configuration(run)
    _set_torch_threads(run)
    run.x_all, run.y_all, source = _load_data(args, cfg.n_samples)
    run.date = datetime.datetime.now(datetime.timezone.utc)
    run.meta = _metadata(run, source)
    run.have_mpl = _have_matplotlib(run)
    return run


def _configuration(args: argparse.Namespace) -> Tuple[Config, List[str]]:
    """The configuration (full, quick or tiny; --batch-sizes applied) and the models."""
    cfg = CONFIGS["tiny" if args.tiny else "quick" if args.quick else "full"]
    if args.batch_sizes:
        cfg = dataclasses.replace(cfg, batch_sizes=tuple(int(b) for b in
                                                         args.batch_sizes.split(",")))
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    bad = [m for m in models if m not in MODELS]
    if bad:
        raise SystemExit(f"--models must be a subset of {','.join(MODELS)}, got {bad}")
    return cfg, models


def _tune_for_tiny(args: argparse.Namespace) -> None:
    """Set the test-only smoke run up to compile fast and keep torch to one thread."""
    # Its timings are not measurements anyway, and one torch thread means that an
    # oversubscribed test machine cannot stall it.
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               " --xla_llvm_disable_expensive_passes=true").strip()
    if args.torch_threads is None:
        args.torch_threads = 1


def _import_suite() -> None:
    """Import JAX, nnfunc and the suite once XLA_FLAGS is final (fails early when broken)."""
    import jax  # noqa: F401
    import jaxlib  # noqa: F401
    import numpy  # noqa: F401

    import nnfunc  # noqa: F401
    from common import jax_peer, nnfunc_bench, report, torch_peer  # noqa: F401
    from common import flops, timing  # noqa: F401


def _find_peers(run: _Run) -> None:
    """Record the PyTorch and optax versions (None: no rows for it), noting absent peers."""
    from common import torch_peer
    run.torch_version = None if run.args.no_peers else torch_peer.available()
    try:
        import optax
        run.optax_version = None if run.args.no_peers else optax.__version__
    except ImportError:
        run.optax_version = None
    if run.args.no_peers:
        run.notes.append("Peers (PyTorch, raw JAX + optax) skipped: --no-peers.")
    else:
        if run.torch_version is None:
            run.notes.append("PyTorch not installed: no PyTorch eager rows.")
        if run.optax_version is None:
            run.notes.append("optax not installed: no raw JAX + optax rows.")


def _note_configuration(run: _Run) -> None:
    """Note a reduced configuration (quick, or the test-only tiny one) in the report."""
    if run.cfg.name == "quick":
        run.notes.append(QUICK_REDUCES)
    if run.cfg.name == "tiny":
        run.notes.append("SMOKE configuration (--smoke): a run of every code "
                         "path; its numbers are not measurements.")


def _set_torch_threads(run: _Run) -> None:
    """Apply --torch-threads and note torch's CPU thread count (when torch is a peer)."""
    if run.torch_version:
        import torch
        if run.args.torch_threads:
            torch.set_num_threads(run.args.torch_threads)
        run.notes.append(f"PyTorch CPU threads: {torch.get_num_threads()}.")


def _metadata(run: _Run, source: str) -> Dict[str, Any]:
    """results.json's "meta": versions, data and settings (devices and wall_s fill in later)."""
    import jax
    import jaxlib
    import numpy as np
    cfg = run.cfg
    return {
        "date": run.date.strftime("%Y-%m-%d %H:%M UTC"), "config": cfg.name,
        "jax_version": jax.__version__, "jaxlib_version": jaxlib.__version__,
        "torch_version": run.torch_version, "optax_version": run.optax_version,
        "numpy_version": np.__version__, "python_version": platform.python_version(),
        "jax_default_matmul_precision": str(jax.config.jax_default_matmul_precision),
        "devices": run.devices, "data": source, "n_samples": cfg.n_samples,
        "batch_sizes": list(cfg.batch_sizes), "models": run.models, "min_reps": cfg.min_reps,
        "max_reps": cfg.max_reps, "min_time_s": cfg.min_time_s, "sweep_runs": cfg.sweep_runs,
        "sweep_samples_per_run": cfg.sweep_samples, "warmup_steps": cfg.warmup_steps,
        "warmup_epochs": cfg.warmup_epochs,
        "sweep_learning_rates": list(SWEEP_LRS[:cfg.sweep_runs]), "learning_rate": 1e-3,
        "optimizer": "Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8)",
        "mlp_sizes": list(MLP_SIZES), "command": " ".join([sys.executable] + sys.argv),
        "wall_s": None,
    }


def _have_matplotlib(run: _Run) -> bool:
    """Whether matplotlib can draw throughput.png; notes it when it cannot."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        run.notes.append("matplotlib not installed: no throughput.png (pip install matplotlib).")
        return False
    return True


# ---------------------------------------------------------------- what to measure

def _configurations(run: _Run) -> Iterator[_Case]:
    """Each case to measure, in order: backend, model, batch size, variant (skips noted)."""
    from common.flops import train_flops_per_sample
    for backend in _backend_order(run.args.backends):
        dev = _open_backend(run, backend)
        if dev is None:
            continue
        torch_device = _torch_device(run, backend)
        peers = {"torch": torch_device, "optax": run.optax_version}
        # torch.compile's rows last: its compilations are the slowest set-ups, and a time
        # budget should drop them before any other row
        for compiled in [False] + [True] * (run.args.torch_compile != "none"):
            chosen = variants(peers, compiled=compiled)
            for model in (run.models if chosen else []):
                data = _device_data(run, model, dev)
                flops = train_flops_per_sample(model, MLP_SIZES)
                for bs in [b for b in run.cfg.batch_sizes if (model, b) not in run.cfg.skip]:
                    for framework, variant, kind in chosen:
                        case = _Case(backend, dev, torch_device, model, flops, data, bs,
                                     framework, variant, kind)
                        if _should_measure(run, case):
                            yield case
                data.clear()  # frees this model's device arrays before the next model's


def _backend_order(backends: str) -> List[str]:
    """The requested backends, the GPU first (quick, and what matters within a budget)."""
    requested = [b.strip() for b in backends.split(",") if b.strip()]
    requested.sort(key=lambda b: b == "cpu")
    return requested


def _open_backend(run: _Run, backend: str) -> Any:
    """The backend's device, its name and matmul ceilings recorded; None (noted) if absent."""
    import jax
    from common import pages
    from common.timing import matmul_ceiling
    try:
        dev = jax.devices(backend)[0]
    except RuntimeError as e:
        run.notes.append(f"Backend '{backend}' skipped: not present in this JAX "
                         f"installation ({str(e).splitlines()[0]}).")
        return None
    run.devices[backend] = pages.cpu_name() if backend == "cpu" else dev.device_kind
    print(f"== backend {backend}: {run.devices[backend]}", flush=True)
    run.ceilings[backend] = {
        p: matmul_ceiling(dev, run.cfg.ceiling_size(backend), run.cfg.ceiling_reps,
                          precision=None if p == "default" else p)
        for p in ("default", "highest")}
    print(f"   matmul ceiling: {run.ceilings[backend]['default']['gflops']:,.0f} GFLOP/s "
          f"(default precision), {run.ceilings[backend]['highest']['gflops']:,.0f} (highest)",
          flush=True)
    return dev


def _torch_device(run: _Run, backend: str) -> Optional[str]:
    """Where the PyTorch peer runs for this backend: "cpu", "cuda" or None (noted)."""
    from common import torch_peer
    if not run.torch_version:
        return None
    if backend == "cpu":
        return "cpu"
    if torch_peer.cuda_device_name():
        return "cuda"
    run.notes.append(f"PyTorch has no CUDA here: no PyTorch rows on '{backend}'.")
    return None


def _device_data(run: _Run, model: str, dev: Any) -> Dict[str, Any]:
    """The training data shaped for the model, on the host (torch) and the device (JAX)."""
    import jax
    x_np = run.x_all.reshape((-1, 784) if model == "mlp" else (-1, 28, 28, 1))
    with jax.default_device(dev):
        X, Y = jax.device_put(x_np, dev), jax.device_put(run.y_all, dev)
        X_sweep, Y_sweep = X[:run.cfg.sweep_samples], Y[:run.cfg.sweep_samples]
    return {"x_np": x_np, "y_np": run.y_all, "X": X, "Y": Y,
            "X_sweep": X_sweep, "Y_sweep": Y_sweep}


def _should_measure(run: _Run, case: _Case) -> bool:
    """False, noting why, for a sweep with less than a batch per run or past --max-minutes."""
    if case.variant == "sweep8" and run.cfg.sweep_samples < case.batch_size:
        run.notes.append(f"{case.what} skipped: {run.cfg.sweep_samples} samples per sweep "
                         f"run is less than one batch.")
        return False
    if run.args.max_minutes is not None and run.elapsed() > 60 * run.args.max_minutes:
        run.skipped.append(case.what)
        return False
    return True


# ------------------------------------------------------------------------ measuring

def _measure(run: _Run, case: _Case) -> Optional[_Timing]:
    """Build and time the case; None, with the error printed and recorded, if it fails."""
    import jax
    from common.timing import time_epochs
    cfg = run.cfg
    t_setup = time.perf_counter()
    try:
        with jax.default_device(case.dev):
            r = _build(run, case)
            times = time_epochs(r.run_epoch, r.sync, warmup=r.warmup,
                                min_reps=cfg.min_reps, max_reps=cfg.max_reps,
                                min_time_s=cfg.min_time_s)
            # build + warm-up (compilation) + the timed epochs
            wall = time.perf_counter() - t_setup
            loss = r.last_loss()
    except Exception as e:  # one failing variant must not sink the run
        traceback.print_exc()
        run.errors.append(f"{case.what}: {type(e).__name__}: {e}")
        return None
    return _Timing(r, times, wall, loss)


def _build(run: _Run, case: _Case) -> Any:
    """The case's epoch runner (an common.runner.EpochRunner), ready to warm up and time."""
    from common import jax_peer, nnfunc_bench, torch_peer
    cfg, d, dev = run.cfg, case.data, case.dev
    model, bs = case.model, case.batch_size
    if (case.framework, case.variant) == ("nnfunc", "step"):
        return nnfunc_bench.build_step(model, MLP_SIZES, bs, d["X"], d["Y"], dev,
                                       warmup_steps=cfg.warmup_steps)
    if (case.framework, case.variant) == ("nnfunc", "epoch"):
        return nnfunc_bench.build_epoch(model, MLP_SIZES, bs, d["X"], d["Y"], dev,
                                        warmup_epochs=cfg.warmup_epochs)
    if (case.framework, case.variant) == ("nnfunc", "sweep8"):
        return nnfunc_bench.build_sweep(model, MLP_SIZES, bs, d["X_sweep"], d["Y_sweep"], dev,
                                        learning_rates=SWEEP_LRS[:cfg.sweep_runs],
                                        warmup_epochs=cfg.warmup_epochs)
    if case.framework == "jax+optax":
        return jax_peer.build(model, MLP_SIZES, bs, d["X"], d["Y"], dev,
                              warmup_epochs=cfg.warmup_epochs)
    mode = run.args.torch_compile if case.variant == "compiled" else None
    return torch_peer.build(model, MLP_SIZES, bs, d["x_np"], d["y_np"], case.torch_device,
                            warmup_steps=cfg.warmup_steps, compile_mode=mode)


# ------------------------------------------------------------------------ reporting

def _row(run: _Run, case: _Case, timing: _Timing) -> Dict[str, Any]:
    """The case's results.json row: throughput, GFLOP/s, share of the ceiling, versions."""
    import jax
    from common import torch_peer
    r, times = timing.runner, timing.times
    med = statistics.median(times)
    sps = r.samples / med
    gflops = sps * case.flops / 1e9
    is_torch = case.kind == "torch"
    row = {
        "framework": case.framework, "variant": case.variant, "model": case.model,
        "batch_size": case.batch_size, "backend": case.backend,
        "device_name": (torch_peer.cuda_device_name()
                        if is_torch and case.torch_device == "cuda"
                        else run.devices[case.backend]),
        "jax_version": jax.__version__,
        "samples_per_s": sps, "achieved_gflops": gflops,
        "pct_of_matmul_ceiling": 100.0 * gflops / run.ceilings[case.backend]["default"]["gflops"],
        "epoch_ms": med * 1e3, "epoch_ms_min": min(times) * 1e3,
        "epoch_times_s": times, "reps": len(times), "runs": r.runs,
        "samples_per_epoch": r.samples,
        "n_samples": run.cfg.sweep_samples if case.variant == "sweep8" else run.cfg.n_samples,
        "train_flops_per_sample": case.flops, "final_loss": timing.loss,
        "setup_s": timing.wall_s - sum(times),
        "torch_version": run.torch_version if is_torch else None,
        "torch_device": case.torch_device if is_torch else None,
        "optax_version": run.optax_version if case.framework == "jax+optax" else None,
        "config": run.cfg.name, "data": run.args.data,
    }
    row.update(r.extra)
    return row


def _print_row(case: _Case, row: Dict[str, Any]) -> None:
    """Print the case's progress line: throughput, epoch time, GFLOP/s, loss, set-up time."""
    print(f"   {case.what:40s} {row['samples_per_s']:14,.0f} samples/s"
          f"  {row['epoch_ms']:9.1f} ms/epoch  {row['achieved_gflops']:9.1f} GFLOP/s"
          f"  {row['pct_of_matmul_ceiling']:5.1f}%  loss {row['final_loss']:.3f}"
          f"  (setup {row['setup_s']:.1f} s)", flush=True)


def _note_gaps(run: _Run) -> None:
    """Record what went unmeasured: no requested backend present, the time budget's skips."""
    if not run.devices:
        run.errors.append(f"none of the requested backends ({run.args.backends}) is present")
    if run.skipped:
        run.notes.append(f"Time budget (--max-minutes {run.args.max_minutes:g}) exceeded; "
                         "skipped: " + "; ".join(run.skipped) + ".")


def _output_names(run: _Run) -> List[str]:
    """The stems to write: "results", and the --tag (or its "auto" device-date form)."""
    names = ["results"]
    if run.args.tag:
        tag = run.args.tag
        if tag == "auto":
            dev_name = run.devices.get("gpu") or run.devices.get("cpu") or "nodevice"
            dev_name = re.sub(r"[(](R|TM|\d+ logical cores)[)]", "", dev_name)
            tag = f"{_slug(dev_name)}-{run.date:%Y-%m-%d}"
        names.append(_slug(tag) or "results")
    return names


def _write_outputs(run: _Run, plot: bool) -> List[str]:
    """(Re)write every output file; the plot only when asked (it takes a second)."""
    from common import report
    run.meta["wall_s"] = round(run.elapsed(), 1)
    results = run.results()
    written = []
    for name in _output_names(run):
        stem = ({"json": name, "md": name, "png": name} if name != "results" else
                {"json": "results", "md": "report", "png": "throughput"})
        report.write_json(run.out_dir / f"{stem['json']}.json", results)
        report.write_markdown(run.out_dir / f"{stem['md']}.md", results)
        written += [f"{stem['json']}.json", f"{stem['md']}.md"]
        if plot and run.have_mpl:
            report.write_plot(run.out_dir / f"{stem['png']}.png", results)
            written.append(f"{stem['png']}.png")
    return written


def _finish(run: _Run) -> int:
    """Write the final files with the plot, say where, list the errors; the exit status."""
    names = _write_outputs(run, plot=True)
    print(f"wrote {', '.join(str(run.out_dir / n) for n in names)} in "
          f"{run.elapsed():.1f} s", flush=True)
    for e in run.errors:
        print(f"ERROR {e}", file=sys.stderr)
    return 1 if run.errors else 0


if __name__ == "__main__":
    sys.exit(main())
