"""Where nnfunc's fused epoch loses to raw JAX + optax on a GPU.

The throughput suite's first H200 run put nnfunc's fused epoch at 0.88x raw JAX for the
MLP at batch 128 and 0.74x for the CNN at batch 1024, although XLA's deviceless compile
gives both programs the same kernel count (MLP) or fewer for nnfunc (CNN). This script
answers why, on the device, in one call:

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
   max-pool forms (:func:`pool_layer`), with Adam's bias corrections as one vector power
   (:func:`adam_stacked_bias_corrections`), and with cuBLAS instead of Triton GEMMs.

    python benchmarks/investigations/gpu_profile.py --device gpu --out DIR   # the device
    python benchmarks/investigations/gpu_profile.py --device cpu --quick --out /tmp/p

Writes ``DIR/gpu-profile.{md,json}`` and ``DIR/hlo/*.txt`` (each compiled program;
default DIR: benchmarks/results/investigations/gpu-profile).
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
sys.path[:0] = [str(HERE.parent.parent / "src"), str(HERE.parent)]    # nnfunc, common

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
    pool: str = "default"        # nnfunc's max-pool form (pool_layer)
    bias: str = "scalar"         # Adam's bias corrections (optimizer)


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
BIAS_CORRECTIONS = ("scalar", "stacked")


def pool_layer(form: str):
    """A 2x2 max-pool layer (stride 2, no padding) of ``form``: the max over reshaped tiles
    with the cumsum first-max mask (``tiles``, the library's CPU form) or the walked mask
    (``tiles-unrolled``, its GPU form), or XLA's ``reduce_window`` (``reduce-window``, as
    the raw JAX peer). The tile forms are ``nnfunc.layers.pooling``'s own tiled maxima
    (internals), chosen here by name instead of by the backend."""
    import nnfunc as nf
    from jax import lax
    from nnfunc.layers import pooling
    if form not in POOLS[1:]:
        raise ValueError(f"pool_layer: form must be one of {POOLS[1:]}, got {form!r}")
    tiled_max = pooling._tiled_max_walk if form == "tiles-unrolled" else pooling._tiled_max

    def apply(params, state, x, *, train=False, key=None):
        if form == "reduce-window":
            win = (1, 2, 2, 1)
            return lax.reduce_window(x, -jnp.inf, lax.max, win, win, "VALID"), state
        n, h, w, c = x.shape
        tiles = x[:, :h // 2 * 2, :w // 2 * 2, :].reshape(n, h // 2, 2, w // 2, 2, c)
        return tiled_max(tiles).reshape(n, h // 2, w // 2, c), state

    return nf.layers.Layer(nf.layers.max_pool(2).init, apply, name="max_pool")


@functools.lru_cache(maxsize=None)
def model(name: str, pool: str = "default"):
    """The suite's model ``name`` (``common.nnfunc_bench.model_and_shape``); for the CNN
    with another ``pool`` form, the same layers (``nf.models.cnn(10)``'s, in its order, so
    the same initial parameters) around :func:`pool_layer` ``(pool)``."""
    import nnfunc as nf
    from common.nnfunc_bench import model_and_shape
    if name != "cnn" or pool == "default":
        return model_and_shape(name, MLP)[0]
    L, act, p = nf.layers, nf.layers.activation(nf.activations.relu), pool_layer(pool)
    return L.serial(L.conv2d(6, 5, padding=2), act, p, L.conv2d(16, 5, padding="VALID"),
                    act, p, L.flatten(), L.dense(120), act, L.dense(84), act, L.dense(10))


def adam_stacked_bias_corrections(learning_rate: float = 1e-3, betas=(0.9, 0.999),
                                  eps: float = 1e-8):
    """``nf.optim.adam(learning_rate, betas, eps)`` (no weight decay, no amsgrad) with its
    two bias corrections ``1 − βᵢᵗ`` computed as one vector power ``1 − [β₁, β₂]ᵗ``
    instead of two scalar ones (``nnfunc.optim``'s ``bias_corrections`` math), built with
    nf.optim's extension API: the same state (``nf.optim.AdamState``), the same bits.
    XLA does not fuse a scalar ``power`` into large consumers, so on a GPU each scalar
    correction can be a kernel of its own every step; the vector is one kernel."""
    import nnfunc as nf
    hparams0 = {**nf.optim.make_hparams(learning_rate=learning_rate, betas=betas, eps=eps),
                "weight_decay": None}          # compiled out, as adam's zero weight decay

    def init(params):
        return nf.optim.AdamState(jnp.zeros((), jnp.int32), dict(hparams0),
                                  nf.optim.zeros_slots(params),
                                  nf.optim.zeros_slots(params), None)

    def update(grads, state, params=None):
        lr, hp = nf.optim.current_lr(learning_rate, state.hparams, state.count)
        b1, b2 = hp["betas"]
        t = (state.count + 1).astype(lr.dtype)          # torch's 1-based step
        dtype = jnp.result_type(t, b1, b2)
        bc = 1 - jnp.stack([jnp.asarray(b1, dtype), jnp.asarray(b2, dtype)]) ** t.astype(dtype)
        step_size, inv_sqrt_bc2 = lr / bc[0], 1 / jnp.sqrt(bc[1])

        def leaf(g, m, v):
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            u = -step_size * m / (jnp.sqrt(v) * inv_sqrt_bc2 + hp["eps"])
            return u.astype(g.dtype), m.astype(g.dtype), v.astype(g.dtype)
        leaves, treedef = jax.tree_util.tree_flatten(grads)
        outs = [leaf(*a) for a in zip(leaves, treedef.flatten_up_to(state.exp_avg),
                                      treedef.flatten_up_to(state.exp_avg_sq))]
        u, m, v = (treedef.unflatten([o[i] for o in outs]) for i in range(3))
        return u, nf.optim.AdamState(state.count + 1, hp, m, v, None)

    return nf.optim.make_optimizer(init, update)


@functools.lru_cache(maxsize=None)
def optimizer(bias: str = "scalar"):
    """Adam at the suite's 1e-3 with ``bias`` corrections: ``scalar`` (``nf.optim.adam``)
    or ``stacked`` (:func:`adam_stacked_bias_corrections`); nnfunc's program only (optax
    computes its own)."""
    import nnfunc as nf
    if bias not in BIAS_CORRECTIONS:
        raise ValueError(f"optimizer: bias must be one of {BIAS_CORRECTIONS}, got {bias!r}")
    return (nf.optim.adam(learning_rate=1e-3) if bias == "scalar"
            else adam_stacked_bias_corrections(1e-3))


def _unroll_scan(k: int) -> None:
    """Every ``lax.scan`` traced from now on unrolls ``k`` steps per loop iteration (both
    programs alike: nnfunc and the raw peer call ``jax.lax.scan``). JAX's function, not
    nnfunc's, replaced in this variant's own process only."""
    if k > 1:
        jax.lax.scan = functools.partial(jax.lax.scan, unroll=k)


def nnfunc_epoch(model_name: str, batch: int, X, Y, device, pool: str = "default",
                 bias: str = "scalar"):
    """``(runner, epoch, fresh)``: the suite's fused-epoch runner (as
    ``common.nnfunc_bench.build_epoch``: ``nf.train.make_epoch``, donated, seed 0) of
    :func:`model` ``(model_name, pool)`` with :func:`optimizer` ``(bias)``, its epoch
    program, and ``fresh()``, a new initial state on ``device`` (to lower the program)."""
    import nnfunc as nf
    from common.nnfunc_bench import model_and_shape
    from common.runner import EpochRunner, repeat_epochs
    from common.timing import jax_sync
    net, opt = model(model_name, pool), optimizer(bias)
    shape = model_and_shape(model_name, MLP)[1]
    epoch = nf.train.make_epoch(net, opt, nf.losses.softmax_cross_entropy_with_integer_labels,
                                batch, donate=True)
    init = jax.jit(lambda key: nf.train.init_state(net, opt, key, shape))

    def fresh():
        with jax.default_device(device):
            return jax.device_put(init(jax.random.key(0)), device)
    state = {"ts": fresh(), "m": None}

    def run_epoch():
        state["ts"], state["m"] = epoch(state["ts"], X, Y)
        return state["ts"]

    runner = EpochRunner(warmup=repeat_epochs(run_epoch, 1), run_epoch=run_epoch,
                         sync=jax_sync, samples=(X.shape[0] // batch) * batch,
                         last_loss=lambda: float(state["m"]["loss"]))
    return runner, epoch, fresh


def _data(model: str, n: int, device):
    import nnfunc as nf
    x, y = nf.data.synthetic_mnist(n, seed=0, normalize=True)
    x = np.asarray(x).reshape((-1, 784) if model == "mlp" else (-1, 28, 28, 1))
    return jax.device_put(jnp.asarray(x), device), jax.device_put(jnp.asarray(y), device)


@functools.lru_cache(maxsize=None)
def _case(case: str, n: int, device, pool: str = "default", bias: str = "scalar") -> tuple:
    """``(X, Y, {'nnfunc': runner, 'raw': runner}, nnfunc's (epoch, fresh))`` of ``case``
    (nnfunc's with the ``pool`` and ``bias`` variants), built once: the A/B and the traces
    share the data and the compiled epochs."""
    from common import jax_peer
    model_name, batch = CASES[case]
    X, Y = _data(model_name, n, device)
    runner, epoch, fresh = nnfunc_epoch(model_name, batch, X, Y, device, pool, bias)
    return X, Y, {"nnfunc": runner,
                  "raw": jax_peer.build(model_name, MLP, batch, X, Y, device)}, (epoch, fresh)


def ab(cases, n: int, reps: int, device, pool: str = "default", bias: str = "scalar") -> dict:
    """``{case: {'nnfunc': s, 'raw': s, 'steps': k}}``: median epoch seconds, round-robin."""
    from common.timing import interleaved
    out = {}
    for case in cases:
        _, _, rs, _ = _case(case, n, device, pool, bias)
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


def _hlo_text(case: str, X, Y, device, nnfunc_program) -> dict:
    """The compiled (optimized) HLO of both programs of ``case`` (``nnfunc_program``:
    ``(epoch, fresh)`` from :func:`nnfunc_epoch`)."""
    from common import jax_peer
    model_name, batch = CASES[case]
    epoch, fresh = nnfunc_program
    ts = fresh()
    init, tx, raw = jax_peer.epoch_program(model_name, MLP, batch, X.shape[0])
    with jax.default_device(device):
        p = init(jax.random.key(0))
        args = (p, tx.init(p), jax.random.key(1), X, Y)
    return {"nnfunc": epoch.lower(ts, X, Y).compile().as_text(),
            "raw": raw.lower(*args).compile().as_text()}


def traces(cases, sweeps, n: int, device, hlo_dir, pool: str = "default",
           bias: str = "scalar") -> dict:
    """Per case, one traced epoch of each program (:func:`trace_epoch`) and their HLO in
    ``hlo_dir``; then one run against a sweep of ``runs`` for each of ``sweeps``."""
    from common.nnfunc_bench import build_epoch, build_sweep
    out = {}
    for case in cases:
        try:
            X, Y, rs, program = _case(case, n, device, pool, bias)
            for name, r in rs.items():       # trace_epoch runs (and compiles) it once first
                out[f"{case}/{name}"] = {**trace_epoch(r.run_epoch, r.sync),
                                         "steps": n // CASES[case][1]}
            if hlo_dir is not None:
                for name, text in _hlo_text(case, X, Y, device, program).items():
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
    ap = argparse.ArgumentParser(prog="benchmarks/investigations/gpu_profile.py")
    ap.add_argument("--device", choices=("cpu", "gpu"), default="gpu")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--samples", type=int, default=None)
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--unroll", type=int, default=1)
    ap.add_argument("--pool", choices=POOLS, default="default",
                    help="nnfunc's max-pool form (pool_layer)")
    ap.add_argument("--bias-corrections", choices=BIAS_CORRECTIONS, default="scalar",
                    help="Adam's bias corrections in nnfunc's program (optimizer)")
    ap.add_argument("--no-traces", action="store_true")
    ap.add_argument("--ab-only", action="store_true", help="print the A/B as JSON (variants)")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--variant-cases", default="mlp128,cnn1024")
    ap.add_argument("--quick", action="store_true", help="small CPU check")
    ap.add_argument("--out", default=str(HERE.parent / "results" / "investigations"
                                          / "gpu-profile"))
    args = ap.parse_args(argv)
    _unroll_scan(args.unroll)
    forms = {"pool": args.pool, "bias": args.bias_corrections}
    device = jax.devices(args.device)[0]
    n = args.samples or (2048 if args.quick else 60000)
    reps = args.reps or (2 if args.quick else 7)
    cases = [c for c in args.cases.split(",") if c]
    if args.ab_only:
        print(json.dumps(ab(cases, n, reps, device, **forms)))
        return {}
    out = pathlib.Path(args.out)
    (out / "hlo").mkdir(parents=True, exist_ok=True)
    res = {"device": device.device_kind, **run_meta("investigations/gpu_profile.py", argv),
           "samples": n, "reps": reps, "cases": cases}

    def save():
        (out / "gpu-profile.json").write_text(json.dumps(res, indent=1))
        (out / "gpu-profile.md").write_text(render(res))

    res["ab"] = ab(cases, n, reps, device, **forms)
    save()
    if not args.no_traces:
        res["traces"] = traces(cases, {} if args.quick else SWEEPS, n, device, out / "hlo",
                               **forms)
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
