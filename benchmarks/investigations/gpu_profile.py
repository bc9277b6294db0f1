"""Where nnfunc's fused epoch loses to raw JAX + optax on a GPU (issue 15, target 1).

The quick suite on the H200 (``results/nvidia-h200-2026-11-29.md``) put nnfunc's fused
epoch at 0.88x raw JAX for the MLP at batch 128 and 0.74x for the CNN at batch 1024,
although XLA's deviceless compile gives both programs the same kernel count (MLP) or
fewer for nnfunc (CNN). This script answers why, on the device, in one call:

1. **A/B on the full 60k epoch.** Each case's nnfunc fused epoch (``nf.train.make_epoch``,
   as the suite builds it) and raw JAX + optax scan epoch (the suite's peer), timed
   round-robin, medians.
2. **Kernel tables.** One traced epoch of each (``jax.profiler``), summed per HLO op on the
   device (names with their ``.N`` suffixes dropped, so the two programs line up): GPU
   time per step, launches per step, and the trace's busy time against wall time
   (the difference is time the GPU waits for launches). The sweeps of
   ``sweep_roofline.py`` are traced too.
3. **Variants.** The A/B again in fresh processes with XLA's command buffers off, with
   the whole scan loop captured (``WHILE``), with ``lax.scan(unroll=k)``, with nnfunc's
   max-pool forms, with Adam's bias corrections as one vector power, and with cuBLAS
   instead of Triton GEMMs.

    python benchmarks/gpu_profile.py --device gpu --out DIR     # on the device
    python benchmarks/gpu_profile.py --device cpu --quick --out /tmp/p   # a CPU check

Writes ``DIR/gpu-profile.{md,json}`` and ``DIR/hlo/*.txt`` (each compiled program).
"""
from __future__ import annotations

import argparse
import collections
import functools
import glob
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple

HERE = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "src"), str(HERE)]

import jax                                                 # noqa: E402
import jax.numpy as jnp                                    # noqa: E402
import numpy as np                                         # noqa: E402

from common.pages import header, run_meta                  # noqa: E402

CASES = {"mlp128": ("mlp", 128), "cnn1024": ("cnn", 1024), "mlp1024": ("mlp", 1024),
         "cnn128": ("cnn", 128)}
SWEEPS = {"sweep64-small": ((784, 100, 10), 64), "sweep8-big": ((784, 1024, 1024, 10), 8)}
MLP = (784, 1024, 1024, 10)
_CMDBUF_ALL = "FUSION,CUBLAS,CUBLASLT,CUSTOM_CALL,CUDNN,WHILE,CONDITIONAL"
_CUBLAS = "--xla_gpu_enable_triton_gemm=false"


class Variant(NamedTuple):
    """One A/B variant, run in a fresh process."""
    flags: str = ""              # added to XLA_FLAGS
    unroll: int = 1              # lax.scan's unroll
    pool: str = "default"        # the max-pool form (_set_pool)
    bias: str = "scalar"         # Adam's bias corrections (_set_bias_corrections)


VARIANTS = {
    "default": Variant(),
    "max-pool tiles": Variant(pool="tiles"),
    "max-pool tiles + unrolled mask": Variant(pool="tiles-unrolled"),
    "max-pool reduce_window": Variant(pool="reduce-window"),
    "command buffers off": Variant(flags="--xla_gpu_enable_command_buffer="),
    "command buffers + WHILE": Variant(flags=f"--xla_gpu_enable_command_buffer={_CMDBUF_ALL}"),
    "scan unroll 2": Variant(unroll=2),
    "scan unroll 4": Variant(unroll=4),
    "adam bias corrections stacked": Variant(bias="stacked"),
    # cuBLAS instead of Triton GEMMs (no split-K reduction kernels): on an H200 compiled
    # without a GPU, the MLP at b=128 is 27 kernels per step instead of 29, and 25 with
    # the stacked bias corrections (gpu_kernels.py with XLA_FLAGS set the same way)
    "cublas gemms": Variant(flags=_CUBLAS),
    "cublas gemms + adam bias corrections stacked": Variant(flags=_CUBLAS, bias="stacked"),
}
POOLS = ("default", "tiles", "tiles-unrolled", "reduce-window")


def _set_pool(form: str) -> None:
    """nnfunc's max-pool for this process: the library's choice (``default``), the max
    over reshaped tiles with the cumsum first-max mask (``tiles``, the CPU's form) or the
    walked mask (``tiles-unrolled``, the GPU's form since 2026-11-29), or XLA's
    ``reduce_window`` (``reduce-window``, as the raw JAX peer)."""
    from jax import lax
    from nnfunc.layers import pooling
    if form in ("tiles", "tiles-unrolled"):
        pooling._mask_by_walk = lambda kh, kw: form == "tiles-unrolled"
    elif form == "reduce-window":
        pooling._max_pool_tiles = lambda x, kh, kw: lax.reduce_window(
            x, -jnp.inf, lax.max, (1, kh, kw, 1), (1, kh, kw, 1), "VALID")


def _set_bias_corrections(form: str) -> None:
    """Adam's bias corrections for this process: two scalar powers (``scalar``, the
    library's default) or one vector power (``stacked``, ``optim._base.bias_corrections``);
    nnfunc's program only (optax computes its own)."""
    from nnfunc.optim import _base
    _base._STACKED_BIAS_CORRECTIONS = form == "stacked"


def _unroll_scan(k: int) -> None:
    """Every ``lax.scan`` traced from now on unrolls ``k`` steps per loop iteration (both
    programs alike: nnfunc and the raw peer call ``jax.lax.scan``)."""
    if k > 1:
        jax.lax.scan = functools.partial(jax.lax.scan, unroll=k)


def _data(model: str, n: int, device):
    import nnfunc as nf
    x, y = nf.data.synthetic_mnist(n, seed=0, normalize=True)
    x = np.asarray(x).reshape((-1, 784) if model == "mlp" else (-1, 28, 28, 1))
    return jax.device_put(jnp.asarray(x), device), jax.device_put(jnp.asarray(y), device)


@functools.lru_cache(maxsize=None)
def _case(case: str, n: int, device) -> tuple:
    """``(X, Y, {'nnfunc': runner, 'raw': runner})`` of ``case``, built once: the A/B and
    the traces share the data and the compiled epochs."""
    from common import jax_peer
    from common.nnfunc_bench import build_epoch
    model, batch = CASES[case]
    X, Y = _data(model, n, device)
    return X, Y, {"nnfunc": build_epoch(model, MLP, batch, X, Y, device),
                  "raw": jax_peer.build(model, MLP, batch, X, Y, device)}


def ab(cases, n: int, reps: int, device) -> dict:
    """``{case: {'nnfunc': s, 'raw': s, 'steps': k}}``: median epoch seconds, round-robin."""
    from common.timing import interleaved
    out = {}
    for case in cases:
        _, _, rs = _case(case, n, device)
        # interleaved's first call of each runner compiles it and runs an untimed epoch
        med = interleaved({k: lambda r=r: r.sync(r.run_epoch()) for k, r in rs.items()},
                          reps)
        out[case] = {**med, "steps": n // CASES[case][1], "ratio": med["raw"] / med["nnfunc"]}
        print(f"[ab] {case}: nnfunc {1e3 * med['nnfunc']:.2f} ms, raw "
              f"{1e3 * med['raw']:.2f} ms, nnfunc/raw speed {out[case]['ratio']:.3f}",
              flush=True)
    return out


# ------------------------------------------------------------------------------- traces
_SUFFIX = re.compile(r"([._]\d+)+$")


def _op_name(name: str) -> str:
    return _SUFFIX.sub("", name)


def trace_epoch(run, sync) -> dict:
    """One epoch under ``jax.profiler.trace``: per normalised HLO op, device time (ns)
    and launches; the span and the union of busy intervals of the device's events."""
    from jax.profiler import ProfileData
    d = tempfile.mkdtemp(prefix="nnfunc-trace-")
    sync(run())                              # nothing of a previous call left in flight
    with jax.profiler.trace(d):
        t0 = time.perf_counter()
        sync(run())
        wall = time.perf_counter() - t0
    files = glob.glob(f"{d}/**/*.xplane.pb", recursive=True)
    pd = ProfileData.from_file(files[0])
    gpu = [p for p in pd.planes if p.name.startswith("/device:GPU")]
    planes = gpu or [p for p in pd.planes if p.name == "/host:CPU"]
    ops = collections.defaultdict(lambda: [0.0, 0])
    intervals, lines = [], set()
    for plane in planes:
        for line in plane.lines:
            if line.name.startswith(("XLA Modules", "XLA Ops", "Steps", "Source", "TensorFlow")):
                continue
            for ev in line.events:
                stats = dict(ev.stats)
                if not gpu and "hlo_op" not in stats:
                    continue                       # CPU: only the executed thunks
                name = _op_name(str(stats.get("hlo_op") or ev.name))
                ops[name][0] += ev.duration_ns
                ops[name][1] += 1
                lines.add(line.name)
                intervals.append((ev.start_ns, ev.start_ns + ev.duration_ns))
    busy, span = 0.0, 0.0
    if intervals:
        intervals.sort()
        cur_s, cur_e = intervals[0]
        for s, e in intervals[1:]:
            if s > cur_e:
                busy += cur_e - cur_s
                cur_s, cur_e = s, e
            else:
                cur_e = max(cur_e, e)
        busy += cur_e - cur_s
        span = max(e for _, e in intervals) - intervals[0][0]
    return {"wall_s": wall, "busy_ns": busy, "span_ns": span, "lines": sorted(lines),
            "ops": {k: {"ns": v[0], "n": v[1]} for k, v in ops.items()}}


def _hlo_text(case: str, X, Y, device) -> dict:
    """The compiled (optimized) HLO of both programs of ``case``."""
    import nnfunc as nf
    from common import jax_peer
    from common.nnfunc_bench import _adam, _init, _loss, model_and_shape
    model_name, batch = CASES[case]
    model, shape = model_and_shape(model_name, MLP)
    opt = _adam(1e-3)
    epoch = nf.train.make_epoch(model, opt, _loss(), batch, donate=True)
    ts = _init(model, opt, 0, shape, device)
    init, tx, raw = jax_peer.epoch_program(model_name, MLP, batch, X.shape[0])
    with jax.default_device(device):
        p = init(jax.random.key(0))
        args = (p, tx.init(p), jax.random.key(1), X, Y)
    return {"nnfunc": epoch.lower(ts, X, Y).compile().as_text(),
            "raw": raw.lower(*args).compile().as_text()}


def traces(cases, sweeps, n: int, device, hlo_dir) -> dict:
    from common.nnfunc_bench import build_epoch, build_sweep
    out = {}
    for case in cases:
        try:
            X, Y, rs = _case(case, n, device)
            for name, r in rs.items():       # trace_epoch runs (and compiles) it once first
                out[f"{case}/{name}"] = {**trace_epoch(r.run_epoch, r.sync),
                                         "steps": n // CASES[case][1]}
            if hlo_dir is not None:
                for name, text in _hlo_text(case, X, Y, device).items():
                    (hlo_dir / f"{case}-{name}.txt").write_text(text)
        except Exception as e:                      # noqa: BLE001 - keep the other cases
            out[f"{case}/error"] = f"{type(e).__name__}: {e}"
            print(f"[trace] {case} FAILED: {out[f'{case}/error']}", flush=True)
        print(f"[trace] {case} done", flush=True)
    for name, (sizes, runs) in sweeps.items():
        X, Y = _data("mlp", n, device)
        one = build_epoch("mlp", sizes, 128, X, Y, device)
        sw = build_sweep("mlp", sizes, 128, X, Y, device,
                         learning_rates=list(np.geomspace(1e-4, 3e-3, runs)))
        for tag, r in (("one run", one), (f"{runs} runs", sw)):
            try:
                out[f"{name}/{tag}"] = {**trace_epoch(r.run_epoch, r.sync),
                                        "steps": n // 128}
            except Exception as e:                  # noqa: BLE001
                out[f"{name}/{tag}/error"] = f"{type(e).__name__}: {e}"
        print(f"[trace] {name} done", flush=True)
    return out


# ------------------------------------------------------------------------------- variants
def variants(cases, n: int, reps: int, device_name: str, names, timeout: float,
             out: dict, save=lambda: None) -> dict:
    """The A/B in a fresh process per variant (XLA flags are read at start-up), each
    result added to ``out`` and saved as soon as it is in."""
    for name in names:
        v = VARIANTS[name]
        env = dict(os.environ)
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + v.flags).strip()
        cmd = [sys.executable, __file__, "--device", device_name, "--ab-only",
               "--cases", ",".join(cases), "--samples", str(n), "--reps", str(reps),
               "--unroll", str(v.unroll), "--pool", v.pool, "--bias-corrections", v.bias]
        t0 = time.perf_counter()
        try:
            p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
            found = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
            res = json.loads(found[-1]) if p.returncode == 0 and found else {
                "error": f"exit {p.returncode}: {p.stderr.strip()[-400:]}"}
        except subprocess.TimeoutExpired:
            res = {"error": f"timed out after {timeout:.0f} s"}
        res["seconds"] = time.perf_counter() - t0
        out[name] = res
        save()
        print(f"[variant] {name}: {json.dumps(res)[:300]}", flush=True)
    return out


# ------------------------------------------------------------------------------- report
def _per_step_us(t: dict, op: str) -> float:
    return t["ops"].get(op, {}).get("ns", 0) / t["steps"] / 1e3


def _totals(t: dict) -> dict:
    """µs per step: the ops' summed time, the union of busy intervals, the span, the wall."""
    per_step = t["steps"] * 1e3
    return {"sum of op time": sum(o["ns"] for o in t["ops"].values()) / per_step,
            "busy (union)": t["busy_ns"] / per_step, "trace span": t["span_ns"] / per_step,
            "wall": t["wall_s"] * 1e9 / per_step}


def _kernel_table(a: dict, b: dict, names=("nnfunc", "raw"), top: int = 25) -> list:
    keys = sorted(set(a["ops"]) | set(b["ops"]),
                  key=lambda k: -(_per_step_us(a, k) + _per_step_us(b, k)))
    rows = [f"| op | {names[0]} µs/step | launches/step | {names[1]} µs/step | launches/step |",
            "|---|---:|---:|---:|---:|"]
    launches = lambda t, k: t["ops"].get(k, {}).get("n", 0) / t["steps"]   # noqa: E731
    for k in keys[:top]:
        rows.append(f"| `{k[:60]}` | {_per_step_us(a, k):.2f} | {launches(a, k):.2f} | "
                    f"{_per_step_us(b, k):.2f} | {launches(b, k):.2f} |")
    rest = keys[top:]
    if rest:
        ra, rb = (sum(_per_step_us(t, k) for k in rest) for t in (a, b))
        rows.append(f"| ({len(rest)} more) | {ra:.2f} | | {rb:.2f} | |")
    ta, tb = _totals(a), _totals(b)
    all_launches = [f"{sum(o['n'] for o in t['ops'].values()) / t['steps']:.1f}" for t in (a, b)]
    for tag in ta:
        la, lb = all_launches if tag == "sum of op time" else ("", "")
        rows.append(f"| **{tag}** | **{ta[tag]:.1f}** | {la} | **{tb[tag]:.1f}** | {lb} |")
    return rows


def render(res: dict) -> str:
    L = header(f"nnfunc vs raw JAX + optax on {res['device']}: where the time goes", res,
               f"; {res['samples']} synthetic MNIST-like samples per epoch, Adam, medians of "
               f"{res['reps']} epochs timed round-robin after a warm-up epoch.")
    L += ["## Full-epoch A/B", "", "| case | nnfunc ms | raw JAX ms | nnfunc / raw speed |",
          "|---|---:|---:|---:|"]
    for case, r in res["ab"].items():
        L.append(f"| {case} | {1e3 * r['nnfunc']:.2f} | {1e3 * r['raw']:.2f} | "
                 f"**{r['ratio']:.3f}x** |")
    if res.get("variants"):
        L += ["", "## Variants (each in a fresh process)", "",
              "| variant | " + " | ".join(f"{c} nnfunc ms | raw ms | ratio"
                                         for c in res["variant_cases"]) + " |",
              "|---|" + "---:|---:|---:|" * len(res["variant_cases"])]
        for name, v in res["variants"].items():
            if "error" in v:
                L.append(f"| {name} | {v['error'][:200]} |")
                continue
            cells = [f"{1e3 * v[c]['nnfunc']:.2f} | {1e3 * v[c]['raw']:.2f} | "
                     f"{v[c]['ratio']:.3f}x" for c in res["variant_cases"]]
            L.append(f"| {name} | " + " | ".join(cells) + " |")
    tr = res.get("traces", {})
    for case in res["ab"]:
        if f"{case}/error" in tr:
            L += ["", f"## Kernels of one epoch: {case}", "", f"Failed: {tr[f'{case}/error']}"]
        if f"{case}/nnfunc" in tr and f"{case}/raw" in tr:
            L += ["", f"## Kernels of one epoch: {case}", "",
                  f"Device event lines: {', '.join(tr[f'{case}/nnfunc']['lines'][:6])}", ""]
            L += _kernel_table(tr[f"{case}/nnfunc"], tr[f"{case}/raw"])
    for name, (sizes, runs) in SWEEPS.items():
        if f"{name}/one run" in tr and f"{name}/{runs} runs" in tr:
            L += ["", f"## Kernels of one epoch: {name} (MLP {sizes}, batch 128)", ""]
            L += _kernel_table(tr[f"{name}/{runs} runs"], tr[f"{name}/one run"],
                               names=(f"{runs} runs", "one run"))
    return "\n".join(L) + "\n"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(prog="benchmarks/gpu_profile.py")
    ap.add_argument("--device", choices=("cpu", "gpu"), default="gpu")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--samples", type=int, default=None)
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--unroll", type=int, default=1)
    ap.add_argument("--pool", choices=POOLS, default="default")
    ap.add_argument("--bias-corrections", choices=("scalar", "stacked"), default="scalar")
    ap.add_argument("--no-traces", action="store_true")
    ap.add_argument("--ab-only", action="store_true", help="print the A/B as JSON (variants)")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--variant-cases", default="mlp128,cnn1024")
    ap.add_argument("--quick", action="store_true", help="small CPU check")
    ap.add_argument("--out", default="/tmp/gpu-profile")
    args = ap.parse_args(argv)
    _unroll_scan(args.unroll)
    _set_pool(args.pool)
    _set_bias_corrections(args.bias_corrections)
    device = jax.devices(args.device)[0]
    n = args.samples or (2048 if args.quick else 60000)
    reps = args.reps or (2 if args.quick else 7)
    cases = [c for c in args.cases.split(",") if c]
    if args.ab_only:
        print(json.dumps(ab(cases, n, reps, device)))
        return {}
    out = pathlib.Path(args.out)
    (out / "hlo").mkdir(parents=True, exist_ok=True)
    res = {"device": device.device_kind, **run_meta("gpu_profile.py", argv),
           "samples": n, "reps": reps, "cases": cases}

    def save():
        (out / "gpu-profile.json").write_text(json.dumps(res, indent=1))
        (out / "gpu-profile.md").write_text(render(res))

    res["ab"] = ab(cases, n, reps, device)
    save()
    if not args.no_traces:
        res["traces"] = traces(cases, {} if args.quick else SWEEPS, n, device, out / "hlo")
        save()
    vcases = [c for c in args.variant_cases.split(",") if c]
    res["variant_cases"] = vcases
    res["variants"] = {}
    variants(vcases, n, reps, args.device, [v for v in args.variants.split(",") if v],
             timeout=90, out=res["variants"], save=save)
    print(render(res))
    return res


if __name__ == "__main__":
    main()
