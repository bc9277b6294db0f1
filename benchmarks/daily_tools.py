"""A researcher's daily tools, measured: round-robin medians in one process.

* ``predict``: ``nf.train.predict`` against calling the model unjitted (the CNN on the
  10,000 MNIST test images). Target: >= 5x the unjitted ``model.apply`` (both warm: the
  unjitted call's per-operation compilation is done before the clock starts).
* ``metrics``: ``nf.train.fit`` of the MLP 784-1024-1024-10 (Adam, batch 128) with
  on-device metrics (``'f1'``, a top-3 accuracy, both, both with ``eval_data``) against
  the same fit without. Target: metrics cost <= 5 % of the epoch time.
* ``stream``: the same fit on an iterable of numpy ``(x, y)`` batches (a re-iterable whose
  ``__iter__`` shuffles with numpy and drops the remainder; a torch ``DataLoader`` when
  torch imports) against the in-memory arrays. Target: >= 0.8x the arrays' samples/s.

Two profiles that need nnfunc's internals (the epoch programs with and without metrics;
the streaming path's parts) live in ``investigations/daily_tools_internals.py`` and add
their sections to the same page.

Epoch times are ``history['seconds']`` / ``history['samples_per_s']`` of every epoch but
the first (compilation); each repetition runs every variant once (in a rotated order) and
ratios are taken within a repetition, then the median over repetitions is reported.

    NNFUNC_DATA=/work/shared/data python benchmarks/run.py daily_tools   # all; results/
    python benchmarks/run.py daily_tools --only stream --reps 3 --out /tmp/daily
    python benchmarks/run.py daily_tools --quick --out /tmp/daily    # minutes, smaller
    python benchmarks/run.py daily_tools --smoke --out /tmp/daily    # seconds (CI)

With ``--only``, the sections not run are kept from the existing ``--out`` JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import sys
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
if str(HERE.parent / "src") not in sys.path:    # run from a checkout without installing
    sys.path.insert(0, str(HERE.parent / "src"))
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import nnfunc as nf  # noqa: E402
from common import pages  # noqa: E402


def _test_images() -> np.ndarray:
    """The 10,000 MNIST test images as (N, 28, 28, 1) floats in [0, 1]; random ones of
    the same shape when MNIST is not at hand (the timing does not depend on the pixels)."""
    try:
        return nf.data.mnist("test", normalize=True, download=False)[0][..., None]
    except Exception:       # noqa: BLE001 (no data here: time on noise instead)
        return np.random.default_rng(0).random((10000, 28, 28, 1), np.float32)


def round_robin(fns: dict, reps: int) -> dict:
    """Median seconds of each function, timed in turns (the machine's load falls on all
    alike); each runs once untimed first."""
    for fn in fns.values():
        jax.block_until_ready(fn())
    times = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def bench_predict(reps: int, batch_size: int = 1024, examples: int = None) -> dict:
    """``predict`` vs the unjitted ``model.apply`` on the whole test set at once (its
    first ``examples`` images)."""
    X = _test_images()[:examples]
    model = nf.models.cnn(10)
    params, state = model.init(jax.random.key(0), X.shape[1:])
    Xd = jnp.asarray(X)
    med = round_robin({
        "predict": lambda: nf.train.predict(model, (params, state), X, batch_size=batch_size),
        "apply": lambda: model.apply(params, state, Xd)[0],
    }, reps)
    return {"examples": int(X.shape[0]), "batch_size": batch_size,
            "predict_s": med["predict"], "apply_s": med["apply"],
            "speedup": med["apply"] / med["predict"]}


# --------------------------------------------------------------------- training benches

MLP_SIZES = (784, 1024, 1024, 10)     # the suite's MNIST MLP (benchmarks/common/config.py)
BATCH = 128
LR = 1e-3
CE = nf.losses.softmax_cross_entropy_with_integer_labels
FULL = {"samples": 60000, "epochs": 3, "reps": 5}
QUICK = {"samples": 8192, "epochs": 3, "reps": 3}
SMOKE = {"samples": 512, "epochs": 2, "reps": 1, "sizes": "784-16-10", "examples": 512}
DEFAULT_OUT = HERE / "results" / "daily_tools" / "daily-tools-cpu"


def train_data(n: int, split: str = "train") -> tuple:
    """The first ``n`` MNIST images of ``split``, flattened floats in [0, 1], and their
    labels, from ``$NNFUNC_DATA`` (no download); synthetic MNIST-shaped digits otherwise.
    Returns ``(X, Y, source)``."""
    try:
        X, Y = nf.data.mnist(split, normalize=True, flatten=True, download=False,
                             progress=False)
        if n <= X.shape[0]:
            return X[:n], Y[:n], f"MNIST {split}"
    except Exception:       # noqa: BLE001 (no data here: synthetic digits instead)
        pass
    X, Y = nf.data.synthetic_mnist(n, seed=0 if split == "train" else 1, normalize=True,
                                   flatten=True)
    return X, Y, f"synthetic_mnist {split}"


class NumpyBatches:
    """A re-iterable of numpy ``(x, y)`` batches: each ``iter`` is a new epoch, shuffled
    with numpy, the remainder dropped (as ``fit`` on arrays does)."""

    def __init__(self, X: np.ndarray, Y: np.ndarray, batch_size: int, seed: int = 0):
        self.X, self.Y, self.batch_size = X, Y, batch_size
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.X.shape[0] // self.batch_size

    def __iter__(self):
        order = self.rng.permutation(self.X.shape[0])
        for i in range(len(self)):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            yield self.X[idx], self.Y[idx]


def _torch_loader(X: np.ndarray, Y: np.ndarray, batch_size: int):
    """A torch ``DataLoader`` (TensorDataset, shuffle, num_workers=0, drop_last so the
    step count equals the arrays'), or None when torch does not import."""
    try:
        import torch
    except Exception:       # noqa: BLE001
        return None
    ds = torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(Y).long())
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True,
                                       num_workers=0, drop_last=True)


class _EpochClock(nf.train.Callback):
    """Wall time between epoch ends (training + evaluation + history), per epoch."""

    def __init__(self):
        self.stamps = []

    def on_train_begin(self, run):
        self.stamps = [time.perf_counter()]

    def on_epoch_end(self, run):
        self.stamps.append(time.perf_counter())

    def walls(self) -> list:
        return [b - a for a, b in zip(self.stamps, self.stamps[1:])]


def _fit_times(model, opt, data, epochs: int, **kw) -> dict:
    """One fit: the medians over epochs 1.. of the training seconds, the samples/s and
    the wall time per epoch including evaluation."""
    clock = _EpochClock()
    h = nf.train.fit(model, opt, CE, data, epochs=epochs, batch_size=BATCH, progress=False,
                     callbacks=[clock], **kw).history
    timed = slice(1, None) if epochs > 1 else slice(None)
    return {"seconds": statistics.median(h["seconds"][timed]),
            "samples_per_s": statistics.median(h["samples_per_s"][timed]),
            "wall": statistics.median(clock.walls()[timed])}


def _interleave(variants: dict, reps: int) -> list:
    """``reps`` rounds of every variant (a thunk returning a dict of times), the order
    rotated each round; a list of ``{name: times}`` per round."""
    names = list(variants)
    rounds = []
    for r in range(reps):
        order = names[r % len(names):] + names[:r % len(names)]
        rounds.append({name: variants[name]() for name in order})
    return rounds


def ratio_stats(rounds: list, name: str, base: str, key: str, invert: bool = False) -> dict:
    """Median and spread (min, max) over rounds of ``rounds[name][key] / rounds[base][key]``
    (``invert``: base / name)."""
    rs = [(r[base][key] / r[name][key]) if invert else (r[name][key] / r[base][key])
          for r in rounds]
    return {"median": statistics.median(rs), "min": min(rs), "max": max(rs), "ratios": rs}


def bench_metrics(reps: int, samples: int, epochs: int, sizes=MLP_SIZES,
                  eval_samples: int = 10000) -> dict:
    """Per-epoch time of ``fit`` with on-device metrics over the same fit without."""
    X, Y, source = train_data(samples)
    Xe, Ye, _ = train_data(eval_samples, "test")
    model, opt = nf.models.mlp(list(sizes)), nf.optim.adam(learning_rate=LR)
    top3 = partial(nf.metrics.top_k_accuracy, k=3)
    both = {"f1": nf.metrics.f1, "top3": top3}
    configs = {
        "none": {},
        "f1": {"metrics": ["f1"]},
        "top3": {"metrics": {"top3": top3}},
        "f1+top3": {"metrics": both},
        "eval, none": {"eval_data": (Xe, Ye)},
        "eval, f1+top3": {"metrics": both, "eval_data": (Xe, Ye)},
    }
    rounds = _interleave({name: partial(_fit_times, model, opt, (X, Y), epochs, **kw)
                          for name, kw in configs.items()}, reps)
    out = {"data": source, "samples": int(X.shape[0]), "eval_samples": int(Xe.shape[0]),
           "sizes": list(sizes), "batch_size": BATCH, "epochs": epochs, "reps": reps,
           "median_seconds": {n: statistics.median(r[n]["seconds"] for r in rounds)
                              for n in configs},
           "median_wall": {n: statistics.median(r[n]["wall"] for r in rounds)
                           for n in configs},
           "train_ratio": {n: ratio_stats(rounds, n, "none", "seconds")
                           for n in configs if n != "none"},
           "wall_ratio_eval": ratio_stats(rounds, "eval, f1+top3", "eval, none", "wall")}
    worst = max(v["median"] for v in out["train_ratio"].values())
    out["worst_train_ratio"] = worst
    out["target_met"] = worst <= 1.05 and out["wall_ratio_eval"]["median"] <= 1.05
    return out



def bench_stream(reps: int, samples: int, epochs: int, sizes=MLP_SIZES) -> dict:
    """samples/s of ``fit`` on an iterable of numpy batches over ``fit`` on the arrays."""
    X, Y, source = train_data(samples)
    model, opt = nf.models.mlp(list(sizes)), nf.optim.adam(learning_rate=LR)
    variants = {"arrays": lambda: _fit_times(model, opt, (X, Y), epochs),
                "numpy generator": lambda: _fit_times(model, opt,
                                                      NumpyBatches(X, Y, BATCH), epochs)}
    loader = _torch_loader(X, Y, BATCH)
    if loader is not None:
        variants["torch DataLoader"] = lambda: _fit_times(model, opt, loader, epochs)
    rounds = _interleave(variants, reps)
    out = {"data": source, "samples": int(X.shape[0]), "sizes": list(sizes),
           "batch_size": BATCH, "epochs": epochs, "reps": reps,
           "torch": "measured" if loader is not None else "skipped: torch does not import",
           "median_samples_per_s": {n: statistics.median(r[n]["samples_per_s"]
                                                         for r in rounds) for n in variants},
           "ratio": {n: ratio_stats(rounds, n, "arrays", "samples_per_s")
                     for n in variants if n != "arrays"}}
    out["target_met"] = all(v["median"] >= 0.8 for v in out["ratio"].values())
    return out


def _cmd(section: dict) -> str:
    return f"`{section.get('command', '')}`"


def render_predict(p: dict, reps: int) -> list:
    """The predict section of the page."""
    return [
        f"## predict: the CNN (`nf.models.cnn(10)`) on {p['examples']:,} MNIST test images",
        "", f"Medians of {reps} round-robin repetitions. Command: "
        + (_cmd(p) if "command" in p else f"`python benchmarks/run.py daily_tools --reps {reps}`")
        + ".", "", "| | seconds | examples/s |", "|---|---:|---:|",
        f"| `nf.train.predict(batch_size={p['batch_size']})` | {p['predict_s']:.3f} | "
        f"{p['examples'] / p['predict_s']:,.0f} |",
        f"| `model.apply` unjitted, all at once | {p['apply_s']:.3f} | "
        f"{p['examples'] / p['apply_s']:,.0f} |", "",
        f"predict is **{p['speedup']:.1f}x** the unjitted call (target >= 5x).", "",
        "What bounds the ratio: both paths run the same XLA:CPU kernel for the second "
        "convolution (6 -> 16 channels, 5x5), about half of predict's time (31 of 60 ms per "
        "1024 images, timed layer by layer); jit saves only the dispatch and the unfused "
        "elementwise passes around it. The first convolution (one input channel) runs as "
        "fused shifted multiply-adds on CPU in both paths, which made the unjitted call "
        "itself 2x faster than before (3.8 -> 1.6-2.1 s).", ""]


def _spread(r: dict) -> str:
    return f"{r['min']:.3f}-{r['max']:.3f}"


def render_metrics(m: dict) -> list:
    """The metrics section of the page (with the epoch programs' profile when present)."""
    sizes = "-".join(map(str, m["sizes"]))
    lines = [
        f"## Metrics on the device: `fit` of the MLP {sizes}, Adam, batch {m['batch_size']}",
        "", f"{m['samples']:,} {m['data']} images ({m['samples'] // m['batch_size']} steps "
        f"per epoch), {m['epochs']} epochs per fit, the first (compilation) not timed; "
        f"{m['reps']} repetitions, each running every variant once in a rotated order. "
        f"Ratio = the variant's median training seconds per epoch (`history['seconds']`) / "
        f"those of the same repetition's fit without metrics; median over repetitions, "
        f"spread = min-max. `eval_data` = {m['eval_samples']:,} test images.", "",
        "| variant | median ratio | spread | s/epoch (median) | command |",
        "|---|---:|---:|---:|---|",
        f"| no metrics (baseline) | 1.000 | - | {m['median_seconds']['none']:.3f} | "
        f"{_cmd(m)} |"]
    labels = {"f1": "`metrics=['f1']` (confusion-matrix `Metric`)",
              "top3": "`metrics={'top3': partial(top_k_accuracy, k=3)}`",
              "f1+top3": "f1 + top3",
              "eval, none": "no metrics, `eval_data` (training time only)",
              "eval, f1+top3": "f1 + top3, `eval_data` (training time only)"}
    for name, r in m["train_ratio"].items():
        lines.append(f"| {labels.get(name, name)} | {r['median']:.3f} | {_spread(r)} | "
                     f"{m['median_seconds'][name]:.3f} | {_cmd(m)} |")
    w = m["wall_ratio_eval"]
    lines += [f"| f1 + top3 with `eval_data`, wall per epoch incl. evaluation / same without "
              f"metrics | {w['median']:.3f} | {_spread(w)} | "
              f"{m['median_wall']['eval, f1+top3']:.3f} | {_cmd(m)} |", ""]
    verdict = "met" if m["target_met"] else "**missed**"
    lines += [f"Whole fits: worst median training-time ratio {m['worst_train_ratio']:.3f}: "
              f"target (<= 1.05) {verdict} (see the A/A rows and the reading below).", ""]
    pm = m.get("programs")
    if pm:
        lines += [
            f"### The same, epoch programs timed in turns ({pm['samples']:,} images, "
            f"{pm['reps']} rounds)", "",
            "`fit`'s compiled array epoch (`nnfunc.train._program.jitted_epoch`, metrics as "
            "`fit` passes them) called epoch after epoch, every variant once per round in a "
            "rotated order; `none (A/A)` times the baseline twice per round (noise floor). "
            f"Command: {_cmd(pm)}.", "",
            "| variant | median ratio | spread | s/epoch (median) |", "|---|---:|---:|---:|",
            f"| no metrics (baseline) | 1.000 | - | {pm['median_seconds']['none']:.3f} |"]
        for name, r in pm["ratio"].items():
            lines.append(f"| {name} | {r['median']:.3f} | {_spread(r)} | "
                         f"{pm['median_seconds'][name]:.3f} |")
        aa = pm["ratio"]["none (A/A)"]["median"]
        worst = max(r["median"] for n, r in pm["ratio"].items() if n != "none (A/A)")
        lines += ["", f"Epoch programs: worst metrics ratio {worst:.3f}, noise floor (A/A) "
                  f"{aa:.3f}: target (<= 1.05) "
                  + ("met" if worst <= max(1.05, aa + 0.05) else "**missed**")
                  + (" within the A/A resolution" if worst > 1.05 else "") + "."]
        lines.append("")
    if m.get("note"):
        lines += [m["note"], ""]
    return lines


def render_stream(st: dict, prof: dict = None) -> list:
    """The iterable-data section of the page (with the stream profile when present)."""
    sizes = "-".join(map(str, st["sizes"]))
    lines = [
        f"## Iterable data: `fit` of the MLP {sizes} on numpy batches vs in-memory arrays",
        "", f"{st['samples']:,} {st['data']} images, batch {st['batch_size']} "
        f"({st['samples'] // st['batch_size']} steps per epoch either way: the generator "
        f"shuffles with numpy and drops the remainder), Adam, {st['epochs']} epochs per fit, "
        f"the first not timed; {st['reps']} interleaved repetitions. Ratio = the variant's "
        f"median `history['samples_per_s']` / the same repetition's arrays fit; median over "
        f"repetitions, spread = min-max. torch DataLoader: {st['torch']}.", "",
        "| variant | median ratio | spread | samples/s (median) | command |",
        "|---|---:|---:|---:|---|",
        f"| in-memory arrays `(X, Y)` (baseline) | 1.000 | - | "
        f"{st['median_samples_per_s']['arrays']:,.0f} | {_cmd(st)} |"]
    for name, r in st["ratio"].items():
        lines.append(f"| {name} | {r['median']:.3f} | {_spread(r)} | "
                     f"{st['median_samples_per_s'][name]:,.0f} | {_cmd(st)} |")
    verdict = "met" if st["target_met"] else "**missed**"
    lines += ["", f"Target (>= 0.8x the arrays' samples/s) {verdict}.", ""]
    if prof:
        lines += [
            f"### Profile of the streamed epoch ({prof['samples']:,} images, "
            f"{prof['steps']} steps; medians of {prof['reps']} round-robin repetitions; "
            f"the library's chunk is {prof['default_chunk_batches']} batches)", "",
            "Each row runs that part alone for one epoch; the chunk sizes other than the "
            "default are the library's chunk-size argument"
            + (f" ({prof['note']})" if prof.get("note") else "")
            + f". Command: {_cmd(prof)}.", "",
            "| part | s/epoch | / array epoch |", "|---|---:|---:|"]
        for k, v in prof["seconds"].items():
            lines.append(f"| {k} | {v:.3f} | {prof['over_array_epoch'][k]:.3f} |")
        lines.append("")
    if st.get("note"):
        lines += [st["note"], ""]
    return lines


def render(res: dict) -> str:
    """The results as a Markdown page."""
    lines = [f"# Daily tools ({res.get('backend', 'cpu').upper()})", "",
             f"Machine: {res['machine']}, jax {res['jax']}. Every "
             f"number is a median or a ratio measured within one process, the variants "
             f"interleaved (the machine is shared; absolute times move with its load).", ""]
    if "predict" in res:
        lines += render_predict(res["predict"], res["predict"].get("reps", res.get("reps")))
    if "metrics" in res:
        lines += render_metrics(dict(res["metrics"], programs=res.get("metrics_programs")))
    if "stream" in res:
        lines += render_stream(res["stream"], res.get("stream_profile"))
    return "\n".join(lines)


SECTIONS = ("predict", "metrics", "stream")


def command_line(script: str, argv) -> str:
    """The command as a page records it (with ``NNFUNC_DATA`` when it is set)."""
    command = " ".join(["python", f"benchmarks/{script}"] + list(
        sys.argv[1:] if argv is None else argv))
    if os.environ.get("NNFUNC_DATA"):
        command = f"NNFUNC_DATA={os.environ['NNFUNC_DATA']} " + command
    return command


def load_results(prefix) -> dict:
    """The page's results so far (``PREFIX.json``; empty when absent or unreadable), with
    this machine's record: a run of some sections keeps the others."""
    path = pathlib.Path(f"{prefix}.json")
    res = {}
    if path.exists():
        try:
            res = json.loads(path.read_text())
        except ValueError:
            res = {}
    rec = pages.machine()
    res.update({"machine": rec["machine"], "backend": rec["backend"],
                "device": rec["device"], "jax": jax.__version__})
    return res


def main(argv=None) -> None:
    """Run the chosen sections and write PREFIX.json and PREFIX.md (``--out``)."""
    ap = argparse.ArgumentParser(prog="benchmarks/run.py daily_tools",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=None,
                    help="interleaved repetitions (default 5; --quick 3)")
    ap.add_argument("--samples", type=int, default=None,
                    help="training images for the fit benchmarks (default 60000; --quick 8192)")
    ap.add_argument("--epochs", type=int, default=None,
                    help="epochs per fit, the first untimed (default 3)")
    ap.add_argument("--sizes", default=None,
                    help="MLP layer sizes, e.g. 784-32-10 (default 784-1024-1024-10)")
    ap.add_argument("--only", default=",".join(SECTIONS),
                    help=f"comma-separated subset of {','.join(SECTIONS)}")
    ap.add_argument("--quick", action="store_true",
                    help=f"smaller: {QUICK}, unless given explicitly")
    ap.add_argument("--smoke", action="store_true",
                    help=f"seconds, for CI (numbers are not measurements): {SMOKE}")
    ap.add_argument("--out", default=str(DEFAULT_OUT),
                    help="result prefix: writes PREFIX.json and PREFIX.md")
    args = ap.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = set(only) - set(SECTIONS)
    if bad:
        ap.error(f"--only: unknown {sorted(bad)}; choose from {SECTIONS}")
    defaults = SMOKE if args.smoke else QUICK if args.quick else FULL
    reps = args.reps or defaults["reps"]
    samples = args.samples or defaults["samples"]
    epochs = args.epochs or defaults["epochs"]
    sizes = args.sizes or defaults.get("sizes")
    sizes = tuple(int(v) for v in sizes.split("-")) if sizes else MLP_SIZES
    command = command_line("run.py daily_tools", argv)
    res = load_results(args.out)
    if "predict" in only:
        res["predict"] = dict(bench_predict(reps, examples=defaults.get("examples")),
                              reps=reps, command=command)
    if "metrics" in only:
        res["metrics"] = dict(bench_metrics(reps, samples, epochs, sizes), command=command)
    if "stream" in only:
        res["stream"] = dict(bench_stream(reps, samples, epochs, sizes), command=command)
    pages.write_page(args.out, res, render(res))
    print(render(res))


if __name__ == "__main__":
    sys.exit(main())
