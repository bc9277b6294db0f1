"""Where the daily tools' time goes inside nnfunc: the two profiles of
``benchmarks/daily_tools.py`` that need the library's internals.

* ``metrics_programs``: the compiled epoch programs ``fit`` runs on arrays, without and
  with on-device metrics, timed epoch by epoch in turns (finer interleaving than whole
  fits, so less load noise); ``none (A/A)`` is the baseline program timed a second time
  in every round, its ratio the noise floor.
* ``profile``: a streamed epoch's parts, each alone: the generator; + ``Stream``
  conversion and ``np.stack`` into chunks; + ``device_put``; the compiled chunk scans on
  chunks already on the device; the whole-array epoch; and full streamed epochs, for
  several chunk sizes where the library takes the chunk size as an argument (the default
  size only where it does not: nothing here overwrites a module's globals).

Both sections are merged into the daily tools' result page (``--out``, by default
``benchmarks/results/daily_tools/daily-tools-cpu``):

    python benchmarks/investigations/daily_tools_internals.py [--quick] [--out PREFIX]
        [--only metrics_programs,profile] [--reps N] [--samples N] [--sizes 784-32-10]
"""
from __future__ import annotations

import argparse
import inspect
import pathlib
import statistics
import sys
import time
from functools import partial

HERE = pathlib.Path(__file__).resolve().parent
for path in (str(HERE.parent.parent / "src"), str(HERE.parent)):
    if path not in sys.path:        # nnfunc from a checkout; daily_tools and common
        sys.path.insert(0, path)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import nnfunc as nf  # noqa: E402
import daily_tools as D  # noqa: E402
from common import pages  # noqa: E402

SECTIONS = ("metrics_programs", "profile")


def profile_metrics(reps: int, samples: int, sizes=D.MLP_SIZES) -> dict:
    """The compiled epoch programs ``fit`` runs on arrays (``_program.jitted_epoch``, the
    metrics as ``fit`` passes them), without and with metrics, timed epoch by epoch in
    turns."""
    from nnfunc.train import _program, _validate
    X, Y, source = D.train_data(samples)
    model, opt = nf.models.mlp(list(sizes)), nf.optim.adam(learning_rate=D.LR)
    top3 = partial(nf.metrics.top_k_accuracy, k=3)
    sets = {"none": None, "none (A/A)": None, "f1": ["f1"], "top3": {"top3": top3},
            "f1+top3": {"f1": nf.metrics.f1, "top3": top3}}
    Xd, Yd = jnp.asarray(X), jnp.asarray(Y)
    box = {"ts": nf.train.init_state(model, opt, 0, X.shape[1:])}

    def runner(metrics):
        # the one internal call: fit's epoch program with metrics (make_epoch has none)
        spec = _program.ProgramSpec(model, opt, D.CE, metrics=_validate.as_metrics(metrics))
        fn = _program.jitted_epoch(spec, D.BATCH, True)

        def run():
            box["ts"], m = fn(box["ts"], Xd, Yd)
            jax.block_until_ready(m)
        return run
    fns = {name: runner(m) for name, m in sets.items()}
    for fn in fns.values():
        fn()
    rounds = []
    for r in range(reps):
        names = list(fns)[r % len(fns):] + list(fns)[:r % len(fns)]
        times = {}
        for name in names:
            t0 = time.perf_counter()
            fns[name]()
            times[name] = {"seconds": time.perf_counter() - t0}
        rounds.append(times)
    return {"data": source, "samples": int(X.shape[0]), "sizes": list(sizes), "reps": reps,
            "median_seconds": {n: statistics.median(r[n]["seconds"] for r in rounds)
                               for n in fns},
            "ratio": {n: D.ratio_stats(rounds, n, "none", "seconds") for n in fns
                      if n != "none"}}


def profile_stream(reps: int, samples: int, sizes=D.MLP_SIZES,
                   chunk_batches=(8, 32, 128)) -> dict:
    """Where a streamed epoch's time goes, each part alone (seconds per epoch, medians of
    round-robin repetitions)."""
    from nnfunc.train import _program, _stream
    X, Y, _ = D.train_data(samples)
    model, opt = nf.models.mlp(list(sizes)), nf.optim.adam(learning_rate=D.LR)
    gen = D.NumpyBatches(X, Y, D.BATCH)
    stream = _stream.Stream(gen, "data")
    steps = len(gen)
    run_chunk = _program.jitted_stacked(_program.ProgramSpec(model, opt, D.CE))
    summarize = _stream.summarizer(())
    epoch = nf.train.make_epoch(model, opt, D.CE, D.BATCH, donate=True)
    Xd, Yd = jnp.asarray(X), jnp.asarray(Y)
    box = {"ts": nf.train.init_state(model, opt, 0, X.shape[1:])}
    default = inspect.signature(_stream.chunks).parameters["chunk_batches"].default

    def drain(it):
        last = None
        for last in it:
            pass
        return last

    def device_chunks(cb):
        return [_stream.to_device(xs, ys) + (size,)
                for xs, ys, size in _stream.chunks(stream.batches(0), chunk_batches=cb)]

    def chunk_scans(chunks):
        def run():
            ts = box["ts"]
            for xs, ys, _ in chunks:
                ts, per = run_chunk(ts, xs, ys)
            box["ts"] = jax.block_until_ready(ts)
        return run

    def stream_epoch(cb):
        def run():
            ts, m, _ = _stream.train_epoch(run_chunk, summarize, box["ts"], stream, 0, None,
                                           chunk_batches=cb)
            box["ts"] = ts
            return jax.block_until_ready(m)
        return run

    def array_epoch():
        box["ts"], m = epoch(box["ts"], Xd, Yd)
        return jax.block_until_ready(m)

    fns = {"generator (numpy shuffle + fancy index)": lambda: drain(iter(gen)),
           "+ Stream conversion": lambda: drain(stream.batches(0)),
           "+ np.stack into chunks": lambda: drain(_stream.chunks(stream.batches(0))),
           "+ device_put (jnp.asarray)": lambda: jax.block_until_ready(
               device_chunks(default)),
           "array epoch program (make_epoch)": array_epoch}
    for cb in chunk_batches:
        fns[f"chunk scans on device-resident chunks, {cb} batches"] = chunk_scans(
            device_chunks(cb))
        fns[f"streamed epoch (train_epoch), {cb} batches/chunk"] = stream_epoch(cb)
    med = D.round_robin(fns, reps)
    base = med["array epoch program (make_epoch)"]
    out = {"samples": int(X.shape[0]), "steps": steps, "sizes": list(sizes),
           "default_chunk_batches": default, "reps": reps,
           "seconds": med, "over_array_epoch": {k: v / base for k, v in med.items()}}
    return out


def main(argv=None) -> None:
    """Run the chosen profiles and merge them into the daily tools' result page."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=None,
                    help="round-robin repetitions (default 5; --quick 3)")
    ap.add_argument("--samples", type=int, default=None,
                    help="training images (default 60000; --quick 8192)")
    ap.add_argument("--sizes", default=None,
                    help="MLP layer sizes, e.g. 784-32-10 (default 784-1024-1024-10)")
    ap.add_argument("--only", default=",".join(SECTIONS),
                    help=f"comma-separated subset of {','.join(SECTIONS)}")
    ap.add_argument("--quick", action="store_true", help=f"smaller: {D.QUICK}")
    ap.add_argument("--out", default=str(D.DEFAULT_OUT),
                    help="result prefix shared with daily_tools.py (default %(default)s)")
    args = ap.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    if set(only) - set(SECTIONS):
        ap.error(f"--only: unknown {sorted(set(only) - set(SECTIONS))}; choose from "
                 f"{SECTIONS}")
    defaults = D.QUICK if args.quick else D.FULL
    reps, samples = args.reps or defaults["reps"], args.samples or defaults["samples"]
    sizes = tuple(int(v) for v in args.sizes.split("-")) if args.sizes else D.MLP_SIZES
    command = D.command_line("investigations/daily_tools_internals.py", argv)
    res = D.load_results(args.out)
    if "metrics_programs" in only:
        res["metrics_programs"] = dict(profile_metrics(reps * 3, samples, sizes),
                                       command=command)
    if "profile" in only:
        res["stream_profile"] = dict(profile_stream(reps, samples, sizes), command=command)
    pages.write_page(args.out, res, D.render(res))
    print(D.render(res))


if __name__ == "__main__":
    main()
