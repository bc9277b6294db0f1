"""Outputs of a suite run: results.json, report.md and throughput.png."""
from __future__ import annotations

import json
import math
import pathlib
from typing import Any, Dict, List, Optional

ROW_FIELDS = ("framework", "variant", "model", "batch_size", "backend", "device_name",
              "jax_version", "samples_per_s", "achieved_gflops", "pct_of_matmul_ceiling")

# Display order and labels of (framework, variant).
VARIANTS = (("nnfunc", "step"), ("nnfunc", "epoch"), ("nnfunc", "sweep8"),
            ("jax+optax", "scan_epoch"), ("torch", "eager"), ("torch", "compiled"))
LABELS = {("nnfunc", "step"): "nnfunc per-step jit loop",
          ("nnfunc", "epoch"): "nnfunc fused epoch",
          ("nnfunc", "sweep8"): "nnfunc sweep of 8 runs*",
          ("jax+optax", "scan_epoch"): "raw JAX + optax scan epoch",
          ("torch", "eager"): "PyTorch eager",
          ("torch", "compiled"): "PyTorch torch.compile†"}


def _order(row: Dict[str, Any]) -> tuple:
    key = (row["framework"], row["variant"])
    return (row["backend"] != "cpu", row["model"], row["batch_size"],
            VARIANTS.index(key) if key in VARIANTS else len(VARIANTS))


def _fmt(x: Optional[float], digits: int = 0) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if digits == 0:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def write_json(path: pathlib.Path, results: Dict[str, Any]) -> None:
    """Write ``results`` (``meta``, ``ceilings``, ``rows``, ``notes``, ``errors``) as JSON."""
    path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")


def _lookup(rows, **match) -> Optional[Dict[str, Any]]:
    for r in rows:
        if all(r.get(k) == v for k, v in match.items()):
            return r
    return None


def _speedups(rows: List[Dict[str, Any]]) -> List[str]:
    """GPU/CPU speedup lines for every measurement present on both backends."""
    out = []
    for r in sorted((r for r in rows if r["backend"] == "gpu"), key=_order):
        cpu = _lookup(rows, backend="cpu", framework=r["framework"], variant=r["variant"],
                      model=r["model"], batch_size=r["batch_size"])
        if cpu:
            label = LABELS.get((r["framework"], r["variant"]), r["variant"])
            out.append(f"| {r['model']} | {r['batch_size']} | {label} | "
                       f"{_fmt(cpu['samples_per_s'])} | {_fmt(r['samples_per_s'])} | "
                       f"{r['samples_per_s'] / cpu['samples_per_s']:.1f}x |")
    return out


def _relative(rows: List[Dict[str, Any]]) -> List[str]:
    """nnfunc fused epoch relative to the peers, per backend/model/batch size."""
    out = []
    for r in sorted((r for r in rows if (r["framework"], r["variant"]) == ("nnfunc", "epoch")),
                    key=_order):
        cells = []
        for fw, var in (("nnfunc", "step"), ("jax+optax", "scan_epoch"), ("torch", "eager"),
                        ("torch", "compiled")):
            peer = _lookup(rows, backend=r["backend"], framework=fw, variant=var,
                           model=r["model"], batch_size=r["batch_size"])
            cells.append(f"{r['samples_per_s'] / peer['samples_per_s']:.2f}x" if peer else "–")
        one = r["samples_per_s"]
        sweep = _lookup(rows, backend=r["backend"], framework="nnfunc", variant="sweep8",
                        model=r["model"], batch_size=r["batch_size"])
        cells.append(f"{sweep['samples_per_s'] / one:.2f}x" if sweep else "–")
        out.append(f"| {r['backend']} | {r['model']} | {r['batch_size']} | " +
                   " | ".join(cells) + " |")
    return out


def _targets(rows: List[Dict[str, Any]]) -> List[str]:
    """The suite's targets on the GPU, checked where the numbers exist: the MLP's
    fused epoch time, and nnfunc's fused epoch against raw JAX + optax and torch.compile."""
    gpu = _lookup(rows, backend="gpu", framework="nnfunc", variant="epoch", model="mlp",
                  batch_size=128)
    if gpu is None:
        return ["GPU targets not checked: no GPU measurement in this run."]
    ms60k = 60_000 / gpu["samples_per_s"] * 1e3
    lines = [f"- MLP fused epoch, batch 128, time for 60k samples: {ms60k:.1f} ms "
             f"(target <= 30 ms: {'met' if ms60k <= 30 else 'NOT met'}"
             f"{'' if gpu['samples_per_epoch'] >= 59_000 else ', extrapolated from a smaller epoch'})"]
    for r in sorted((r for r in rows if r["backend"] == "gpu"
                     and (r["framework"], r["variant"]) == ("nnfunc", "epoch")), key=_order):
        for fw, var in (("jax+optax", "scan_epoch"), ("torch", "compiled")):
            peer = _lookup(rows, backend="gpu", framework=fw, variant=var,
                           model=r["model"], batch_size=r["batch_size"])
            ratio = r["samples_per_s"] / peer["samples_per_s"] if peer else None
            lines.append(f"- {r['model'].upper()} b={r['batch_size']}: nnfunc fused epoch / "
                         f"{LABELS[(fw, var)].rstrip('†')}: " + (
                             f"{ratio:.2f}x (target >= 1.0x: "
                             f"{'met' if ratio >= 1.0 else 'NOT met'})" if peer
                             else "not measured"))
    return lines


def render_markdown(results: Dict[str, Any]) -> str:
    """The readable report: set-up, ceilings, the results table, speedups, targets, notes."""
    meta, rows = results["meta"], sorted(results["rows"], key=_order)
    md = [f"# nnfunc throughput suite — {meta['config']} run, {meta['date']}", ""]
    if meta.get("command"):
        exe, *args = meta["command"].split(" ")
        md += [f"Command: `{' '.join(['python'] + args) if 'python' in exe else meta['command']}`",
               ""]
    md += [f"- JAX {meta['jax_version']}, jaxlib {meta.get('jaxlib_version', '?')}; "
           f"torch {meta.get('torch_version') or 'not installed'}; "
           f"optax {meta.get('optax_version') or 'not installed'}; "
           f"Python {meta['python_version']}",
           f"- Data: {meta['data']}, {meta['n_samples']} training samples per epoch "
           f"(full batches only: the remainder of N / batch size is dropped)",
           "- Devices: " + "; ".join(f"{b}: {d}" for b, d in meta["devices"].items()),
           f"- Each number is the median of {meta['min_reps']} to {meta['max_reps']} timed "
           f"epochs (at least {meta['min_reps']}; more until {meta['min_time_s']:g} s of "
           f"timed epochs) after warm-up (compilation and one untimed epoch, or "
           f"{meta.get('warmup_steps', 3)} untimed steps for the per-step loops), with a "
           f"device sync (block_until_ready / torch.cuda.synchronize) before every clock "
           f"read.", ""]
    if results["ceilings"]:
        md += ["## Float32 matmul ceiling", "",
               "| backend | n | default precision GFLOP/s | 'highest' precision GFLOP/s |",
               "|---|---:|---:|---:|"]
        for b, c in results["ceilings"].items():
            md.append(f"| {b} | {c['default']['n']} | {_fmt(c['default']['gflops'])} | "
                      f"{_fmt(c['highest']['gflops'])} |")
        md += ["", "`pct_of_matmul_ceiling` is relative to the default-precision ceiling "
               "(the precision the JAX training runs use; on recent NVIDIA GPUs XLA may run "
               "float32 dots as TF32, PyTorch by default does not for matmuls).", ""]
    md += ["## Results", "",
           "| backend | model | batch | framework / variant | samples/s | epoch ms | "
           "GFLOP/s | % of matmul ceiling | final loss |",
           "|---|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        label = LABELS.get((r["framework"], r["variant"]), f"{r['framework']} {r['variant']}")
        md.append(f"| {r['backend']} | {r['model']} | {r['batch_size']} | {label} | "
                  f"{_fmt(r['samples_per_s'])} | {_fmt(r['epoch_ms'], 1)} | "
                  f"{_fmt(r['achieved_gflops'], 1)} | {_fmt(r['pct_of_matmul_ceiling'], 1)} | "
                  f"{_fmt(r.get('final_loss'), 3)} |")
    md += ["", f"\\* The sweep trains {meta['sweep_runs']} runs (same initialisation and "
           f"data order, learning rates {meta['sweep_learning_rates']}) in one program "
           f"(nf.train.sweep's vmap of the fused epoch), each on the first "
           f"{meta['sweep_samples_per_run']} samples; its samples/s, GFLOP/s and % count the "
           f"samples of all {meta['sweep_runs']} runs (runs × samples per run / epoch time), "
           f"i.e. models·samples/s, and its epoch ms is one epoch of all runs together.", ""]
    compiled = [r for r in rows if (r["framework"], r["variant"]) == ("torch", "compiled")]
    if compiled:
        md += ["† The same PyTorch step with the forward pass and loss compiled by "
               f"`torch.compile(mode='{compiled[0].get('compile_mode')}')` and the optimizer "
               "step by `torch.compile(opt.step)`; compilation and CUDA-graph recording take "
               "place in its warm-up, not in its epoch times: " + "; ".join(
                   f"{r['backend']} {r['model']} b={r['batch_size']} "
                   f"{r.get('compile_s', float('nan')):.1f} s" for r in compiled) + ".", ""]
    rel = _relative(rows)
    if rel:
        md += ["## nnfunc fused epoch relative to the other variants (samples/s ratio)", "",
               "| backend | model | batch | vs per-step loop | vs raw JAX + optax | "
               "vs PyTorch eager | vs torch.compile | sweep8 / one run |",
               "|---|---|---:|---:|---:|---:|---:|---:|"] + rel + [""]
    sp = _speedups(rows)
    if sp:
        md += ["## GPU / CPU speedup", "",
               "| model | batch | framework / variant | CPU samples/s | GPU samples/s | speedup |",
               "|---|---:|---|---:|---:|---:|"] + sp + [""]
    md += ["## Targets (the GPU)", ""] + _targets(rows) + [""]
    if results["notes"]:
        md += ["## Notes", ""] + [f"- {n}" for n in results["notes"]] + [""]
    if results["errors"]:
        md += ["## Errors", ""] + [f"- {e}" for e in results["errors"]] + [""]
    return "\n".join(md)


def write_markdown(path: pathlib.Path, results: Dict[str, Any]) -> None:
    """Write :func:`render_markdown` to ``path``."""
    path.write_text(render_markdown(results))


def write_plot(path: pathlib.Path, results: Dict[str, Any]) -> None:
    """Grouped horizontal bars of samples/s (log scale): one panel per backend and model."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["rows"]
    backends = [b for b in ("cpu", "gpu") if any(r["backend"] == b for r in rows)] or ["cpu"]
    models = [m for m in ("mlp", "cnn") if any(r["model"] == m for r in rows)] or ["mlp"]
    batches = sorted({r["batch_size"] for r in rows}) or [0]
    fig, axes = plt.subplots(len(backends), len(models), squeeze=False,
                             figsize=(6.5 * len(models), 3.2 * len(backends) + 0.6))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    height = 0.8 / len(batches)
    for i, b in enumerate(backends):
        for j, m in enumerate(models):
            ax = axes[i][j]
            for k, bs in enumerate(batches):
                vals = []
                for key in VARIANTS:
                    r = _lookup(rows, backend=b, model=m, batch_size=bs, framework=key[0],
                                variant=key[1])
                    vals.append(r["samples_per_s"] if r else 0.0)
                ys = [y + k * height for y in range(len(VARIANTS))]
                ax.barh(ys, vals, height=height, color=colors[k % len(colors)],
                        label=f"batch {bs}")
            ax.set_yticks([y + height * (len(batches) - 1) / 2 for y in range(len(VARIANTS))])
            ax.set_yticklabels([LABELS[v] for v in VARIANTS], fontsize=8)
            ax.invert_yaxis()
            if any(r["backend"] == b and r["model"] == m for r in rows):
                ax.set_xscale("log")
            device = results["meta"]["devices"].get(b, b)
            ax.set_title(f"{m.upper()} on {b.upper()} ({device})", fontsize=9)
            ax.set_xlabel("training samples / s (log)", fontsize=8)
            ax.grid(axis="x", which="both", alpha=0.3)
            ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"nnfunc throughput suite ({results['meta']['config']}, "
                 f"JAX {results['meta']['jax_version']}); * sweep counts all 8 runs", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
