"""word2vec: the quality of nnfunc's vectors against the batch size, beside gensim's.

A batch of ``B`` focus positions updates its rows together, from their values before the
step (word2vec.c and gensim step one example at a time). How far that moves the vectors
depends on the model; this measures it at the batch sizes that matter: the CPU's and the
accelerators' cache-sized defaults (``default_batch_size`` with 4 and 64 MiB) and the
sizes ``train_word2vec`` caps them to. The batch semantics do not depend on the backend
(a GPU only sums a step's duplicate rows in another order), so the accelerators' batch
sizes are measured here on the CPU. Same corpus and settings as benchmarks/word2vec.py.

    python benchmarks/investigations/word2vec_batches.py
        # writes benchmarks/results/investigations/word2vec-batches-cpu.*
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent.parent / "src"), str(HERE.parent)]   # nnfunc, the suites

import nnfunc as nf  # noqa: E402
import word2vec as bench  # noqa: E402  (benchmarks/word2vec.py: settings, runs, quality)

from nnfunc.text._word2vec import batch as w2v  # noqa: E402  (its batch sizing, internal)

# Batch sizes per model, in focus positions, beside the defaults (measured on 331k words).
EXTRA = {("skipgram", "negative"): [2270], ("skipgram", "hierarchical"): [400, 820]}


def batch_sizes(model) -> dict:
    """``{batch: label}``: the cache-sized batches of the CPU (4 MiB) and of accelerators
    (64 MiB), ``train_word2vec``'s defaults there (capped for quality) and :data:`EXTRA`."""
    sizes: dict = {}
    for name, mib in (("CPU", 4), ("accelerator", 64)):
        for b, label in ((w2v.default_batch_size(model, mib * 2**20), f"{name} cache size"),
                         (w2v.capped_batch_size(model, mib * 2**20), f"{name} default")):
            sizes.setdefault(b, []).append(label)
    for b in EXTRA.get((model.architecture, model.output), []):
        sizes.setdefault(b, [])
    return {b: ", ".join(sizes[b]) for b in sorted(sizes)}


def run(corpus: str, epochs: int, seeds: list, workers: int, out: pathlib.Path) -> dict:
    sentences = list(nf.text.read_corpus(bench.corpus_path(corpus)))
    files = bench.evaluation_files()
    vocab = nf.text.Vocab.build(sentences, min_count=bench.SETTINGS["min_count"])
    rows = []
    for arch, output in bench.CONFIGS:
        model = bench.make_model(vocab, arch, output)
        g = [bench.quality(bench.run_gensim(sentences, arch, output, epochs, s, workers)
                           ["vectors"], files) for s in seeds]
        ref = {k: float(np.mean([q[k] for q in g])) for k in bench.QUALITY}
        for b, label in batch_sizes(model).items():
            qs = [bench.quality(nf.text.train_word2vec(
                model, sentences, epochs=epochs, learning_rate=0.025, min_learning_rate=1e-4,
                batch_size=b, key=s, progress=False).vectors, files) for s in seeds]
            mean = {k: float(np.mean([q[k] for q in qs])) for k in bench.QUALITY}
            rows.append({"architecture": arch, "output": output, "batch": b, "label": label,
                         "nnfunc": mean, "gensim": ref, "runs": qs})
            print(f"{arch}/{output} B={b}: " + ", ".join(
                f"{k} {mean[k]:.3f} ({mean[k] - ref[k]:+.3f})" for k in bench.QUALITY),
                flush=True)
    res = {"corpus": corpus, "epochs": epochs, "seeds": list(seeds), "workers": workers,
           "settings": bench.SETTINGS, "rows": rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    out.with_suffix(".md").write_text(render(res))
    return res


def render(res: dict) -> str:
    seeds = " ".join(map(str, res["seeds"]))
    lines = [
        "# word2vec: vector quality against the batch size (nnfunc on CPU, gensim beside)", "",
        f"Corpus `{res['corpus']}`, {res['epochs']} epochs, the settings of word2vec-cpu.md; "
        f"means over seeds {seeds} for both libraries (gensim with workers="
        f"{res['workers']}). The accelerators' batch sizes are measured here: a batch means "
        "the same on every backend.", "",
        f"Command: `python benchmarks/investigations/word2vec_batches.py --seeds {seeds}`.",
        "",
        "Spearman ρ on word pairs, accuracy on analogies; nnfunc's mean minus gensim's in "
        "brackets.", "",
        "| model | batch (positions) | which | WordSim-353 ρ | SimLex-999 ρ | analogies |",
        "|---|---:|---|---:|---:|---:|"]
    seen = set()
    for r in res["rows"]:
        n, g = r["nnfunc"], r["gensim"]
        if (r["architecture"], r["output"]) not in seen:
            seen.add((r["architecture"], r["output"]))
            lines.append(f"| {r['architecture']} + {r['output']} | gensim | | " +
                         " | ".join(f"{g[k]:.3f}" for k in bench.QUALITY) + " |")
        cells = [f"{n[k]:.3f} ({n[k] - g[k]:+.3f})" for k in bench.QUALITY]
        lines.append(f"| {r['architecture']} + {r['output']} | {r['batch']:,} | "
                     f"{r['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="head500.noblanks.cor")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(HERE.parent / "results" / "investigations"
                                          / "word2vec-batches-cpu"))
    args = ap.parse_args(argv)
    print(render(run(args.corpus, args.epochs, args.seeds, args.workers,
                     pathlib.Path(args.out))))


if __name__ == "__main__":
    sys.exit(main())
