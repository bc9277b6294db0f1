"""word2vec: nnfunc's on-device training beside gensim's ``Word2Vec`` on the same corpus.

Same settings for both (dim 100, window 5, min_count 5, sample 1e-3, 5 epochs, 5 negatives,
linear learning-rate decay from 0.025 to 1e-4), for skip-gram and CBOW with negative
sampling and with hierarchical softmax. Reports corpus words per second of wall time
(nnfunc with and without its compilation), and the quality of the vectors: WordSim-353 and
SimLex-999 Spearman, Google analogy accuracy (the evaluation files that ship in gensim's
test data).

    python benchmarks/run.py word2vec       # writes benchmarks/results/word2vec/word2vec-cpu.*
    python benchmarks/run.py word2vec --quick --out /tmp/w2v   # Lee corpus, 1 epoch, 1 seed

The corpora are in the shared data folder (``NNFUNC_SHARED``/data/text); gensim is the
peer and ships the evaluation files.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import resource
import sys
import time

import jax
import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
if str(HERE) not in sys.path:       # common, when imported from elsewhere
    sys.path.insert(0, str(HERE))

import nnfunc as nf  # noqa: E402
from common import pages  # noqa: E402

CONFIGS = [("skipgram", "negative"), ("skipgram", "hierarchical"),
           ("cbow", "negative"), ("cbow", "hierarchical")]
SETTINGS = dict(dim=100, window=5, min_count=5, sample=1e-3, negatives=5)


def corpus_path(name: str) -> pathlib.Path:
    """A corpus of the shared data folder (``NNFUNC_SHARED``, else ``../shared``)."""
    shared = pathlib.Path(os.environ.get("NNFUNC_SHARED", HERE.parents[1] / "shared"))
    return shared / "data" / "text" / name


def evaluation_files() -> dict:
    """WordSim-353, SimLex-999 and the Google analogies, from gensim's test data."""
    from gensim.test.utils import datapath
    return {"wordsim353": datapath("wordsim353.tsv"), "simlex999": datapath("simlex999.txt"),
            "analogies": datapath("questions-words.txt")}


def quality(vectors: "nf.text.KeyedVectors", files: dict) -> dict:
    """Spearman on both similarity sets (and their OOV %), and analogy accuracy."""
    out = {}
    for name in ("wordsim353", "simlex999"):
        _, spearman, oov = vectors.evaluate_word_pairs(files[name])
        out[name], out[name + "_oov"] = float(spearman), float(oov)
    out["analogies"] = float(vectors.evaluate_analogies(files["analogies"])[0])
    return out


def _timed(fn):
    """``fn()``'s result, wall seconds and CPU seconds of this process (all threads)."""
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    out = fn()
    wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    return out, wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def make_model(vocab, arch: str, output: str):
    """nnfunc's model at :data:`SETTINGS`, subsampling by gensim's (word2vec.c's) rule."""
    return nf.text.word2vec(vocab, dim=SETTINGS["dim"], window=SETTINGS["window"],
                            architecture=arch, output=output,
                            negatives=SETTINGS["negatives"], sample=SETTINGS["sample"],
                            sample_formula="word2vec")


def run_nnfunc(sentences, arch: str, output: str, epochs: int, seed: int) -> dict:
    """Train nnfunc's word2vec from a cold start: the wall time includes the vocabulary
    and the compilation (the in-memory caches are cleared first)."""
    jax.clear_caches()      # every compiled program, word2vec's epoch loop included

    def train():
        vocab = nf.text.Vocab.build(sentences, min_count=SETTINGS["min_count"])
        model = make_model(vocab, arch, output)
        res = nf.text.train_word2vec(model, sentences, epochs=epochs, learning_rate=0.025,
                                     min_learning_rate=1e-4, key=seed, progress=False)
        jax.block_until_ready(res.params)
        return res

    res, wall, cpu = _timed(train)
    return {"wall": wall, "cpu": cpu, "train_seconds": float(np.sum(res.history["seconds"])),
            "compile_seconds": float(res.history["compile_seconds"][0]),
            "vectors": res.vectors, "loss": float(res.history["loss"][-1])}


def run_gensim(sentences, arch: str, output: str, epochs: int, seed: int,
               workers: int) -> dict:
    """Train gensim's Word2Vec (Cython, ``workers`` threads, Hogwild SGD)."""
    from gensim.models import Word2Vec
    m, wall, cpu = _timed(lambda: Word2Vec(
        sentences, vector_size=SETTINGS["dim"], window=SETTINGS["window"],
        min_count=SETTINGS["min_count"], sample=SETTINGS["sample"],
        sg=int(arch == "skipgram"), hs=int(output == "hierarchical"),
        negative=SETTINGS["negatives"] if output == "negative" else 0,
        alpha=0.025, min_alpha=1e-4, epochs=epochs, workers=workers, seed=seed))
    vectors = nf.text.KeyedVectors(list(m.wv.index_to_key), np.asarray(m.wv.vectors))
    return {"wall": wall, "cpu": cpu, "vectors": vectors}


QUALITY = ("wordsim353", "simlex999", "analogies")


def _summary(runs: list, words: int, epochs: int, files: dict) -> dict:
    """Medians of the speeds, means and standard deviations of the quality over seeds."""
    scores = [quality(r.pop("vectors"), files) for r in runs]
    out = {"runs": runs, "scores": scores,
           "words_per_s": float(np.median([words * epochs / r["wall"] for r in runs])),
           "cpu_us_per_word": float(np.median([1e6 * r["cpu"] / (words * epochs)
                                               for r in runs]))}
    for name in QUALITY:
        vals = np.array([q[name] for q in scores])
        out[name] = float(vals.mean())
        out[name + "_sd"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
    for name in ("wordsim353_oov", "simlex999_oov"):
        out[name] = scores[0][name]
    return out


def run(corpus: str, epochs: int, seeds: list, workers: int, out: pathlib.Path,
        note: str = "") -> dict:
    """Every configuration with both libraries, once per seed (alternating, so that the
    machine's load falls on both alike); writes ``out``.md/.json."""
    path = corpus_path(corpus)
    sentences = list(nf.text.read_corpus(path))
    words = sum(len(s) for s in sentences)
    files = evaluation_files()
    rows = []
    res = {"corpus": corpus, "tokens": words, "sentences": len(sentences), "epochs": epochs,
           "seeds": list(seeds), "workers": workers, "settings": SETTINGS, "rows": rows,
           **pages.machine(), "jax": jax.__version__, "note": note}
    # the device as this page always named it: the accelerator's kind, or the CPU's
    res["device"] = str(jax.devices()[0].device_kind)
    for arch, output in CONFIGS:
        n_runs, g_runs = [], []
        for seed in seeds:
            n_runs.append(run_nnfunc(sentences, arch, output, epochs, seed))
            g_runs.append(run_gensim(sentences, arch, output, epochs, seed, workers))
        n = _summary(n_runs, words, epochs, files)
        g = _summary(g_runs, words, epochs, files)
        rows.append({"architecture": arch, "output": output, "nnfunc": n, "gensim": g,
                     "nnfunc_train_words_per_s": float(np.median(
                         [words * epochs / r["train_seconds"] for r in n["runs"]])),
                     "ratio": float(np.median([gr["wall"] / nr["wall"] for nr, gr
                                               in zip(n["runs"], g["runs"])]))})
        print(f"{arch}/{output}: nnfunc {n['words_per_s']:,.0f} words/s, gensim "
              f"{g['words_per_s']:,.0f} ({rows[-1]['ratio']:.2f}x)", flush=True)
        # Written after every model, so that a run cut short (a device session's time
        # limit) keeps the models it finished.
        pages.write_page(out, res, render(res))
    return res


def _device_title(res: dict) -> str:
    """Where nnfunc ran: ``CPU``, or the accelerator's name (gensim is always the CPU)."""
    backend = res.get("backend", "cpu")
    return "CPU" if backend == "cpu" else f"{res.get('device', backend)} ({backend.upper()})"


def render(res: dict) -> str:
    """The results as a Markdown page."""
    st, seeds = res["settings"], res["seeds"]
    lines = [
        f"# word2vec: nnfunc on {_device_title(res)} vs gensim (CPU)", "",
        f"Corpus `{res['corpus']}`: {res['tokens']:,} tokens in {res['sentences']:,} "
        f"sentences; {res['epochs']} epochs; dim {st['dim']}, window {st['window']}, "
        f"min_count {st['min_count']}, sample {st['sample']}, {st['negatives']} negatives; "
        f"gensim with workers={res['workers']}; seeds {', '.join(map(str, seeds))}. "
        f"Machine: {res['machine']}, jax {res['jax']}."
        + (f" {res['note']}" if res.get("note") else ""), "",
        f"Command: `python benchmarks/run.py word2vec --corpus {res['corpus']} --epochs "
        f"{res['epochs']} --seeds {' '.join(map(str, seeds))}`.", "",
        "Corpus words per second of wall time, median over the seeds (nnfunc from a cold "
        "start: vocabulary, compilation and training; in brackets training alone), the "
        "median of the per-seed ratios, and the CPU time per word (all threads):", "",
        "| model | nnfunc words/s | gensim words/s | nnfunc / gensim | CPU µs/word nnfunc "
        "| gensim |", "|---|---:|---:|---:|---:|---:|",
    ]
    for r in res["rows"]:
        n, g = r["nnfunc"], r["gensim"]
        lines.append(f"| {r['architecture']} + {r['output']} | {n['words_per_s']:,.0f} "
                     f"({r['nnfunc_train_words_per_s']:,.0f}) | {g['words_per_s']:,.0f} | "
                     f"{r['ratio']:.2f}x | {n['cpu_us_per_word']:.2f} | "
                     f"{g['cpu_us_per_word']:.2f} |")
    lines += ["", f"Quality, mean ± standard deviation over the {len(seeds)} seeds "
              "(Spearman ρ on word pairs, accuracy on analogies; OOV % of the pairs in "
              "brackets), and nnfunc's mean minus gensim's:", "",
              "| model | library | WordSim-353 ρ | SimLex-999 ρ | analogies |",
              "|---|---|---:|---:|---:|"]
    for r in res["rows"]:
        for lib in ("nnfunc", "gensim"):
            q = r[lib]
            lines.append(f"| {r['architecture']} + {r['output']} | {lib} | "
                         f"{q['wordsim353']:.3f} ± {q['wordsim353_sd']:.3f} "
                         f"({q['wordsim353_oov']:.0f} %) | "
                         f"{q['simlex999']:.3f} ± {q['simlex999_sd']:.3f} "
                         f"({q['simlex999_oov']:.0f} %) | "
                         f"{q['analogies']:.3f} ± {q['analogies_sd']:.3f} |")
        d = {k: r["nnfunc"][k] - r["gensim"][k] for k in QUALITY}
        lines.append(f"| {r['architecture']} + {r['output']} | difference | "
                     f"{d['wordsim353']:+.3f} | {d['simlex999']:+.3f} | "
                     f"{d['analogies']:+.3f} |")
    return "\n".join(lines) + "\n"


QUICK = {"corpus": "lee_background.cor", "epochs": 1, "seeds": [0], "workers": 2}


def main(argv=None) -> None:
    """Run every configuration with both libraries; write OUT.json and OUT.md."""
    ap = argparse.ArgumentParser(prog="benchmarks/run.py word2vec",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=None,
                    help="a file of the shared data/text folder (default head500.noblanks.cor)")
    ap.add_argument("--epochs", type=int, default=None, help="epochs (default 5)")
    ap.add_argument("--seeds", type=int, nargs="+", default=None,
                    help="one run of each library per seed (speed: medians; quality: "
                         "means; default 0 1 2)")
    ap.add_argument("--workers", type=int, default=None,
                    help="gensim's threads (default: all cores)")
    ap.add_argument("--out", default=str(HERE / "results" / "word2vec" / "word2vec-cpu"),
                    help="output path without suffix (.md and .json are written)")
    ap.add_argument("--note", default="",
                    help="a sentence for the page's header (e.g. the machine's load)")
    ap.add_argument("--quick", action="store_true",
                    help=f"seconds, for CI (the numbers are not the benchmark's): {QUICK}")
    args = ap.parse_args(argv)
    size = QUICK if args.quick else {"corpus": "head500.noblanks.cor", "epochs": 5,
                                     "seeds": [0, 1, 2], "workers": os.cpu_count()}
    res = run(args.corpus or size["corpus"], args.epochs or size["epochs"],
              args.seeds or size["seeds"], args.workers or size["workers"],
              pathlib.Path(args.out), args.note)
    print(render(res))


if __name__ == "__main__":
    sys.exit(main())
