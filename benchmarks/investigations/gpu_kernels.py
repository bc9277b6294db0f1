#!/usr/bin/env python3
"""What one training step costs on an H100 or H200, read off XLA's compiled program: no GPU.

    pip install "jax[cuda13]==$(python -c 'import jax; print(jax.__version__)')"
    python benchmarks/investigations/gpu_kernels.py [--target h100|h200]
        [--batch-sizes 128,1024] [--mlp-sizes 784,100,10 --runs 64] [--out DIR] [--show]
    python benchmarks/investigations/gpu_kernels.py --target h200 --word2vec CORPUS

XLA compiles for a GPU without one when it is given the device's description (JAX's
deviceless ahead-of-time compilation: ``topologies.get_topology_desc(platform='cuda',
target_config=...)``). This script compiles the benchmark suite's programs that way for an
NVIDIA H100 80GB HBM3 or an H200 (the same chip with 4.8 TB/s HBM3e): nnfunc's fused epoch
(``nf.train.make_epoch``), the R-run sweep epoch and the raw JAX + optax epoch. In each,
one training step is one iteration of the ``while`` loop of the ``lax.scan``; the script
lists the kernels of that loop body (every fusion, library GEMM and copy: each is one
launch) with the bytes they move and the FLOPs of their dots, and estimates a step as
``Σ max(launch, bytes / bandwidth, FLOPs / peak)``.

Without autotuning XLA picks its GEMM tilings by heuristics, so kernel choices may differ
a little from a real GPU's; the kernel count and the bytes moved are what the program
structure decides. The estimate's constants (``--launch-us``, ``--bandwidth``,
``--tflops``) are round numbers for an H100 that the suite's H100 run agrees with (see
``benchmarks/results/investigations/gpu-kernels-h100.md``); the H200's bandwidth default
is scaled to its HBM3e. Writes DIR/gpu-kernels-<target>[-mlp<sizes>].{json,table.md}
(default DIR: benchmarks/results/investigations).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import pathlib
import re
import sys
from collections import Counter

_HERE = pathlib.Path(__file__).resolve().parent
_BENCH = _HERE.parent
for p in (_BENCH, _BENCH.parent / "src"):    # common, and nnfunc from a checkout
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax.experimental import topologies  # noqa: E402

import nnfunc as nf  # noqa: E402
from common import jax_peer, nnfunc_bench  # noqa: E402
from common.config import MLP_SIZES  # noqa: E402
import word2vec as w2v_bench  # noqa: E402  (benchmarks/word2vec.py: settings, models)

LOSS = nf.losses.softmax_cross_entropy_with_integer_labels   # the suite's loss

# The H100 SXM 80GB as XLA:GPU describes it (GpuTargetConfigProto).
H100 = """
gpu_device_info {
  threads_per_block_limit: 1024 threads_per_warp: 32 shared_memory_per_block: 49152
  shared_memory_per_core: 233472 threads_per_core_limit: 2048 core_count: 132
  fpus_per_core: 128 block_dim_limit_x: 2147483647 block_dim_limit_y: 65535
  block_dim_limit_z: 65535 memory_bandwidth: 3352320000000 l2_cache_size: 52428800
  clock_rate_ghz: 1.98 device_memory_size: 84929347584
  shared_memory_per_block_optin: 232448 cuda_compute_capability { major: 9 }
  registers_per_core_limit: 65536 registers_per_block_limit: 65536
}
platform_name: "CUDA"
dnn_version_info { major: 9 minor: 8 }
runtime_version { major: 13 minor: 0 patch: 0 }
device_description_str: "NVIDIA H100 80GB HBM3"
"""

# The H200 SXM 141GB: the H100's chip (same SMs, clocks and caches) with HBM3e: 4.8 TB/s
# and 141 GB. XLA:GPU reads the bandwidth and memory size from here.
H200 = (H100.replace("memory_bandwidth: 3352320000000", "memory_bandwidth: 4800000000000")
        .replace("device_memory_size: 84929347584", "device_memory_size: 150754820096")
        .replace('"NVIDIA H100 80GB HBM3"', '"NVIDIA H200"'))
# name: (target description, device, default bandwidth for the estimate: ~90 % of peak)
TARGETS = {"h100": (H100, "NVIDIA H100 80GB HBM3", 3.0e12),
           "h200": (H200, "NVIDIA H200", 4.3e12)}

_BYTES = {"f32": 4, "s32": 4, "u32": 4, "pred": 1, "bf16": 2, "f16": 2, "s8": 1, "u8": 1,
          "f64": 8, "s64": 8, "u64": 8}
_SHAPE = re.compile(r"\b(" + "|".join(_BYTES) + r")\[([0-9,]*)\]")
_INSTR = re.compile(r"^(?:ROOT )?%([\w.\-]+) = (.*?) ([a-z\-]+)\((.*?)\)(.*)$")
_FREE = {"parameter", "get-tuple-element", "tuple", "bitcast", "constant", "after-all",
         "opt-barrier", "partition-id", "replica-id"}


def _dims(text: str) -> list[int]:
    return [int(d) for d in text.split(",") if d]


def _nbytes(shape_text: str) -> int:
    return sum(math.prod(_dims(d)) * _BYTES[t] for t, d in _SHAPE.findall(shape_text))


def _computations(text: str) -> dict[str, list[dict]]:
    """``{name: [instruction, ...]}`` of an HLO module's text."""
    comps, cur = {}, None
    for line in text.splitlines():
        head = re.match(r"^(?:ENTRY )?%?([\w.\-]+) .*\{\s*$", line)
        if head and not line.startswith(" "):
            cur = comps.setdefault(head.group(1), [])
        elif line.startswith("}"):
            cur = None
        elif cur is not None and (m := _INSTR.match(line.strip())):
            name, shape, op, operands, rest = m.groups()
            cur.append(dict(name=name, shape=shape, op=op, rest=rest,
                            operands=re.findall(r"%([\w.\-]+)", operands)))
    return comps


def _is_cublas(i: dict) -> bool:
    return i["op"] == "custom-call" and "__cublas$" in i["rest"]


def _contracting(i: dict) -> list[int]:
    """The lhs contracting dimensions of a ``dot`` or of a cuBLAS GEMM custom call (whose
    backend config spells them as JSON)."""
    if m := re.search(r"lhs_contracting_dims=\{([0-9,]*)\}", i["rest"]):
        return _dims(m.group(1))
    if m := re.search(r'"lhs_contracting_dimensions":\[([0-9",]*)\]', i["rest"]):
        return _dims(m.group(1).replace('"', ""))
    return []


def _dot_flops(instrs: list[dict], outer: dict[str, str]) -> int:
    shapes = {**outer, **{i["name"]: i["shape"] for i in instrs}}
    flops = 0
    for i in instrs:
        if i["op"] == "dot" or _is_cublas(i):
            lhs = _dims(_SHAPE.findall(shapes[i["operands"][0]])[0][1])
            k = math.prod(lhs[c] for c in _contracting(i))
            # a cuBLAS call's result is (product, workspace): the product comes first
            flops += 2 * k * math.prod(_dims(_SHAPE.findall(i["shape"])[0][1]))
    return flops


def _kernels(body: list[dict], comps: dict) -> list[dict]:
    """One row per kernel launch of a computation."""
    shapes = {i["name"]: i["shape"] for i in body}
    rows = []
    for i in body:
        if i["op"] in _FREE:
            continue
        called = re.search(r"calls=%([\w.\-]+)", i["rest"])
        inner = comps.get(called.group(1), []) if called else [i]
        # a cuBLAS call's scratch workspace (its result's s8 tail) is not moved data
        out_b = _nbytes(_SHAPE.search(i["shape"]).group(0) if _is_cublas(i) else i["shape"])
        in_b = sum(_nbytes(shapes.get(o, "")) for o in i["operands"])
        kind = re.search(r"kind=k(\w+)", i["rest"])
        ops = Counter(j["op"] for j in inner if j["op"] not in _FREE)
        if ops.keys() & {"gather", "dynamic-slice"} or re.search(
                r"gather|dynamic.slice", i["name"]):
            in_b = min(in_b, 2 * out_b)       # reads the rows it picks, not its whole source
        rows.append(dict(name=i["name"], kind=kind.group(1) if kind else i["op"],
                         bytes=in_b + out_b, flops=_dot_flops(inner, shapes), shape=i["shape"][:48],
                         ops=",".join(op for op, _ in ops.most_common(5))))
    return rows


def step_kernels(hlo_text: str) -> list[dict]:
    """The kernels of the training loop: the ``while`` body with the most dot FLOPs."""
    comps = _computations(hlo_text)
    bodies = [m.group(1) for instrs in comps.values() for i in instrs if i["op"] == "while"
              for m in [re.search(r"body=%([\w.\-]+)", i["rest"])] if m]
    return max((_kernels(comps[b], comps) for b in bodies),
               key=lambda ks: sum(k["flops"] for k in ks))


def estimate_us(kernels: list[dict], launch_us: float, bandwidth: float, tflops: float) -> float:
    """``Σ max(launch, bytes / bandwidth, FLOPs / peak)`` in microseconds."""
    return sum(max(launch_us * 1e-6, k["bytes"] / bandwidth, k["flops"] / (tflops * 1e12))
               for k in kernels) * 1e6


# ---------------------------------------------------------------------------------------
# the programs, compiled for the H100

def target_sharding(target: str = "h100"):
    """One deviceless device of ``target`` (a 1x1x1 topology) as a replicated sharding."""
    topo = topologies.get_topology_desc(platform="cuda", target_config=TARGETS[target][0],
                                        topology="1x1x1")
    mesh = topologies.make_mesh(topo=topo, mesh_shape=(1,), axis_names=("x",))
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())


def _spec(tree, sharding, lead=()):
    return jax.tree_util.tree_map(
        lambda a: jax.ShapeDtypeStruct(lead + a.shape, a.dtype, sharding=sharding), tree)


@contextlib.contextmanager
def _traced_as_gpu():
    """nnfunc picks some lowerings by ``jax.default_backend()`` at trace time (the
    one-channel convolution by taps, unpadded weight gradients by matmuls: XLA:CPU paths).
    Compiling deviceless, the default backend is the CPU, so the programs would hold the
    CPU's choices; they are traced as a GPU session traces them instead. JAX itself reads
    its backend through ``xla_bridge``, not this attribute, and is unaffected."""
    default_backend = jax.default_backend
    jax.default_backend = lambda: "gpu"
    try:
        yield
    finally:
        jax.default_backend = default_backend


def programs(model_name: str, batch_size: int, n_samples: int, runs: int,
             target: str = "h100", mlp_sizes=MLP_SIZES) -> dict[str, str]:
    """``{variant: optimized HLO text}`` of the suite's epochs of ``model_name``."""
    with _traced_as_gpu():
        return _programs(model_name, batch_size, n_samples, runs, target, mlp_sizes)


def _programs(model_name, batch_size, n_samples, runs, target, mlp_sizes) -> dict[str, str]:
    sh = target_sharding(target)
    mlp_sizes = tuple(mlp_sizes)
    model, shape = nnfunc_bench.model_and_shape(model_name, mlp_sizes)

    def data(n):
        return (jax.ShapeDtypeStruct((n,) + shape, jnp.float32, sharding=sh),
                jax.ShapeDtypeStruct((n,), jnp.int32, sharding=sh))
    opt, sweep_epoch = nnfunc_bench.sweep_epoch_program(model_name, mlp_sizes, batch_size)
    ts = jax.eval_shape(lambda: nf.train.init_state(model, opt, jax.random.key(0), shape))
    epoch = nf.train.make_epoch(model, opt, LOSS, batch_size, donate=True)
    out = {"nnfunc fused epoch": epoch.lower(_spec(ts, sh), *data(n_samples))}
    stacked = _spec(ts, sh, (runs,))._replace(key=_spec(ts.key, sh))
    out[f"nnfunc sweep of {runs} runs"] = sweep_epoch.lower(stacked, *data(n_samples // runs))
    inside = nnfunc_bench.sweep_epoch_program(model_name, mlp_sizes, batch_size,
                                              runs_inside=True)[1]
    out[f"nnfunc sweep of {runs} runs, runs inside"] = inside.lower(
        stacked, *data(n_samples // runs))
    init, tx, raw = jax_peer.epoch_program(model_name, mlp_sizes, batch_size, n_samples)
    params = jax.eval_shape(init, jax.random.key(0))
    out["raw JAX + optax scan epoch"] = raw.lower(
        _spec(params, sh), _spec(jax.eval_shape(tx.init, params), sh),
        _spec(jax.eval_shape(lambda: jax.random.key(0)), sh), *data(n_samples))
    return {k: v.compile().as_text() for k, v in out.items()}


def word2vec_program(corpus: str, target: str = "h100", architecture: str = "skipgram",
                     output: str = "negative", sharding=None) -> dict:
    """The optimized HLO of ``train_word2vec``'s epoch loop for ``corpus`` (benchmarks/
    word2vec.py's settings, the accelerators' default batch), its compile seconds on this
    machine, and the steps an epoch takes at the expected share of kept tokens
    (``sharding``: where to compile; default the ``target``'s, deviceless)."""
    import time

    import numpy as np
    from nnfunc.text._word2vec import batch as w2v_batch, epoch as w2v_epoch  # internals
    from nnfunc.text._word2vec import program as w2v_program, train as w2v_train
    sents = list(nf.text.read_corpus(corpus))
    vocab = nf.text.Vocab.build(sents, min_count=w2v_bench.SETTINGS["min_count"])
    sh = target_sharding(target) if sharding is None else sharding
    with _traced_as_gpu():
        model = w2v_bench.make_model(vocab, architecture, output)
        tokens, _ = w2v_train.encode_corpus(vocab, sents)
        n, batch, window = int(tokens.size), w2v_batch.capped_batch_size(model), model.window
        progs, tables, _ = w2v_program.programs_for(model, n, batch, 5, 0.025, 1e-4)
        tok = jax.ShapeDtypeStruct(tokens.shape, jnp.int32, sharding=sh)
        layout = jax.eval_shape(progs.layout, tables, tok, tok, w2v_program.epoch_key(0, 0))
        lowered = progs.loop.lower(_spec(jax.eval_shape(lambda: model.init(0)), sh),
                                   _spec(tables, sh), *_spec(layout, sh),
                                   jax.ShapeDtypeStruct((), jnp.int32, sharding=sh))
        t0 = time.perf_counter()
        text = lowered.compile().as_text()
    counts = np.asarray(vocab.counts, np.float64)
    kept = float(np.sum(counts * np.minimum(1.0, np.asarray(model.keep_prob))))
    return dict(text=text, compile_s=time.perf_counter() - t0, words=n, batch=batch,
                steps=int(w2v_epoch.lane_steps(int(round(kept)), batch, window)),
                table_mb=len(vocab) * model.dim * 4 / 1e6)


def _word2vec_rows(corpus: str, target: str, consts: tuple, show: bool) -> list[dict]:
    rows = []
    for arch, output in w2v_bench.CONFIGS:
        prog = word2vec_program(corpus, target, arch, output)
        ks = step_kernels(prog.pop("text"))
        step_us = estimate_us(ks, *consts)
        epoch_ms = prog["steps"] * step_us / 1e3
        rows.append(dict(model=f"{arch} + {output}", kernels=len(ks), **prog,
                         table_copies=sum(k["kind"] == "copy" and
                                          k["bytes"] >= prog["table_mb"] * 2e6 for k in ks),
                         mbytes=sum(k["bytes"] for k in ks) / 1e6, estimate_us=step_us,
                         epoch_ms=epoch_ms, words_per_s=prog["words"] / epoch_ms * 1e3,
                         kernel_list=ks))
        r = rows[-1]
        print(f"word2vec {r['model']:26s} B {r['batch']:5d} kernels {r['kernels']:3d} "
              f"table copies {r['table_copies']}  ~{step_us:6.1f} us/step x {r['steps']} "
              f"steps = {epoch_ms:6.2f} ms/epoch ({r['words_per_s'] / 1e6:.0f} M words/s); "
              f"compile {r['compile_s']:.1f} s")
        if show:
            for k in ks:
                print(f"    {k['kind']:8s} {k['bytes'] / 1e6:8.2f} MB  {k['shape']:48s} {k['ops']}")
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="mlp,cnn")
    ap.add_argument("--batch-sizes", default="128,1024")
    ap.add_argument("--samples", type=int, default=60_000)
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--target", choices=sorted(TARGETS), default="h100")
    ap.add_argument("--mlp-sizes", default=",".join(map(str, MLP_SIZES)),
                    help="the MLP's layer sizes (default the suite's)")
    ap.add_argument("--launch-us", type=float, default=2.0)
    ap.add_argument("--bandwidth", type=float, default=None,
                    help="bytes/s (default ~90 %% of the target's peak)")
    ap.add_argument("--tflops", type=float, default=300.0, help="TF32 GEMM TFLOP/s")
    ap.add_argument("--out", default=str(_BENCH / "results" / "investigations"))
    ap.add_argument("--show", action="store_true", help="print every kernel")
    ap.add_argument("--word2vec", default=None, metavar="CORPUS",
                    help="instead: train_word2vec's epoch loop on this corpus, 4 models")
    args = ap.parse_args(argv)
    # Compile only: no GPU backend is started, even on a machine that has one.
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
    jax.config.update("jax_platforms", "cpu")
    _, device, bandwidth = TARGETS[args.target]
    args.bandwidth = args.bandwidth or bandwidth
    sizes = tuple(int(v) for v in args.mlp_sizes.split(","))
    consts = (args.launch_us, args.bandwidth, args.tflops)
    if args.word2vec:
        return _write_word2vec(args, device, _word2vec_rows(args.word2vec, args.target,
                                                            consts, args.show))
    rows = []
    for model, b in ((m, int(s)) for m in args.models.split(",")
                     for s in args.batch_sizes.split(",")):
        for variant, text in programs(model, b, args.samples, args.runs, args.target,
                                      sizes).items():
            ks = step_kernels(text)
            name = model if model != "mlp" or sizes == tuple(MLP_SIZES) else (
                "mlp " + "-".join(map(str, sizes)))
            rows.append(dict(model=name, variant=variant, batch_size=b, kernels=len(ks),
                             mbytes=sum(k["bytes"] for k in ks) / 1e6,
                             gflop=sum(k["flops"] for k in ks) / 1e9,
                             estimate_us=estimate_us(ks, *consts), kernel_list=ks))
            r = rows[-1]
            print(f"{model} b{b:<5} {variant:28s} kernels {r['kernels']:3d}  {r['mbytes']:8.1f} MB  "
                  f"{r['gflop']:6.2f} GFLOP  ~{r['estimate_us']:6.1f} us/step")
            if args.show:
                for k in ks:
                    print(f"    {k['kind']:8s} {k['bytes'] / 1e6:8.2f} MB {k['flops'] / 1e9:6.3f} "
                          f"GF  {k['shape']:48s} {k['ops']}")
    meta = dict(jax=jax.__version__, device=f"{device} (deviceless compile)",
                launch_us=args.launch_us, bandwidth=args.bandwidth, tflops=args.tflops,
                samples=args.samples, runs=args.runs, mlp_sizes=list(sizes))
    suffix = "" if sizes == tuple(MLP_SIZES) else "-mlp" + "-".join(map(str, sizes))
    lines = ["| model | batch | variant | kernels / step | MB moved / step | GFLOP / step | "
             "estimate µs / step |", "|---|---:|---|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['batch_size']} | {r['variant']} | {r['kernels']} | "
              f"{r['mbytes']:.1f} | "
              f"{r['gflop']:.2f} | {r['estimate_us']:.1f} |" for r in rows]
    return _write(args.out, f"gpu-kernels-{args.target}{suffix}", meta, rows, lines)


def _write(folder: str, stem: str, meta: dict, rows: list[dict], lines: list[str]) -> int:
    """``stem``.json (meta and rows) and ``stem``.table.md (``lines``) in ``folder``."""
    out = pathlib.Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(dict(meta=meta, rows=rows), indent=1))
    (out / f"{stem}.table.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / (stem + '.json')} and the table beside it")
    return 0


def _write_word2vec(args, device: str, rows: list[dict]) -> int:
    meta = dict(jax=jax.__version__, device=f"{device} (deviceless compile)",
                corpus=pathlib.Path(args.word2vec).name, launch_us=args.launch_us,
                bandwidth=args.bandwidth, tflops=args.tflops)
    lines = [f"word2vec's epoch loop compiled for the {device} without one (jax "
             f"{jax.__version__}), corpus `{meta['corpus']}`, benchmarks/word2vec.py's "
             "settings at the accelerators' default batch. Command: `python benchmarks/"
             f"investigations/gpu_kernels.py --target {args.target} --word2vec CORPUS`. A step is estimated "
             f"as Σ max({args.launch_us:g} µs, bytes / {args.bandwidth / 1e12:.1f} TB/s) over "
             "its kernels (the while loop's own per-iteration cost is not modelled); steps "
             "per epoch at the expected share of kept tokens.", "",
             "| model | batch | kernels / step | whole-table copies / step | estimate µs / "
             "step | steps / epoch | estimate ms / epoch | words / s (training) | "
             "compile s (this CPU) |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['batch']} | {r['kernels']} | {r['table_copies']} | "
              f"{r['estimate_us']:.1f} | {r['steps']} | {r['epoch_ms']:.2f} | "
              f"{r['words_per_s']:,.0f} | {r['compile_s']:.1f} |" for r in rows]
    return _write(args.out, f"gpu-kernels-{args.target}-word2vec", meta, rows, lines)


if __name__ == "__main__":
    sys.exit(main())
