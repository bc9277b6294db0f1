"""word2vec: nnfunc's on-device training beside gensim's ``Word2Vec`` on the same corpus.

Same settings for both (dim 100, window 5, min_count 5, sample 1e-3, 5 epochs, 5 negatives,
linear learning-rate decay from 0.025 to 1e-4), for skip-gram and CBOW with negative
sampling and with hierarchical softmax. Reports corpus words per second of wall time
(nnfunc with and without its compilation), and the quality of the vectors: WordSim-353 and
SimLex-999 Spearman, Google analogy accuracy (the evaluation files that ship in gensim's
test data).

    python benchmarks/word2vec.py                 # writes benchmarks/results/word2vec-cpu.*
    python benchmarks/word2vec.py --corpus lee_background.cor --epochs 1 --out /tmp/w2v
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import sys
import time

import jax
import numpy as np

import nnfunc as nf

HERE = pathlib.Path(__file__).resolve().parent
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


def run_nnfunc(sentences, arch: str, output: str, epochs: int, seed: int) -> dict:
    """Train nnfunc's word2vec; wall time includes the vocabulary and the compilation."""
    t0 = time.perf_counter()
    vocab = nf.text.Vocab.build(sentences, min_count=SETTINGS["min_count"])
    model = nf.text.word2vec(vocab, dim=SETTINGS["dim"], window=SETTINGS["window"],
                             architecture=arch, output=output,
                             negatives=SETTINGS["negatives"], sample=SETTINGS["sample"],
                             sample_formula="word2vec")    # gensim subsamples by word2vec.c's rule
    res = nf.text.train_word2vec(model, sentences, epochs=epochs, learning_rate=0.025,
                                 min_learning_rate=1e-4, key=seed, progress=False)
    jax.block_until_ready(res.params)
    wall = time.perf_counter() - t0
    train_seconds = float(np.sum(res.history["seconds"]))
    return {"wall": wall, "train_seconds": train_seconds, "vectors": res.vectors,
            "history": {k: [float(v) for v in vs] for k, vs in res.history.items()}}


def run_gensim(sentences, arch: str, output: str, epochs: int, seed: int,
               workers: int) -> dict:
    """Train gensim's Word2Vec (Cython, ``workers`` threads, Hogwild SGD)."""
    from gensim.models import Word2Vec
    t0 = time.perf_counter()
    m = Word2Vec(sentences, vector_size=SETTINGS["dim"], window=SETTINGS["window"],
                 min_count=SETTINGS["min_count"], sample=SETTINGS["sample"],
                 sg=int(arch == "skipgram"), hs=int(output == "hierarchical"),
                 negative=SETTINGS["negatives"] if output == "negative" else 0,
                 alpha=0.025, min_alpha=1e-4, epochs=epochs, workers=workers, seed=seed)
    wall = time.perf_counter() - t0
    vectors = nf.text.KeyedVectors(list(m.wv.index_to_key), np.asarray(m.wv.vectors))
    return {"wall": wall, "vectors": vectors}


def run(corpus: str, epochs: int, seed: int, workers: int, out: pathlib.Path) -> dict:
    """Every configuration with both libraries; writes ``out``.md/.json."""
    path = corpus_path(corpus)
    sentences = list(nf.text.read_corpus(path))
    words = sum(len(s) for s in sentences)
    files = evaluation_files()
    rows = []
    for arch, output in CONFIGS:
        n = run_nnfunc(sentences, arch, output, epochs, seed)
        g = run_gensim(sentences, arch, output, epochs, seed, workers)
        rows.append({"architecture": arch, "output": output,
                     "nnfunc_words_per_s": words * epochs / n["wall"],
                     "nnfunc_train_words_per_s": words * epochs / n["train_seconds"],
                     "gensim_words_per_s": words * epochs / g["wall"],
                     "nnfunc_wall": n["wall"], "gensim_wall": g["wall"],
                     "nnfunc": quality(n["vectors"], files),
                     "gensim": quality(g["vectors"], files),
                     "nnfunc_loss": n["history"].get("loss")})
        print(f"{arch}/{output}: nnfunc {rows[-1]['nnfunc_words_per_s']:,.0f} words/s, "
              f"gensim {rows[-1]['gensim_words_per_s']:,.0f}", flush=True)
    res = {"corpus": corpus, "tokens": words, "sentences": len(sentences), "epochs": epochs,
           "workers": workers, "settings": SETTINGS, "rows": rows,
           "machine": f"{platform.machine()}, {os.cpu_count()} cores",
           "jax": jax.__version__}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    out.with_suffix(".md").write_text(render(res))
    return res


def render(res: dict) -> str:
    """The results as a Markdown page."""
    lines = [
        "# word2vec: nnfunc vs gensim (CPU)", "",
        f"Corpus `{res['corpus']}`: {res['tokens']:,} tokens in {res['sentences']:,} "
        f"sentences; {res['epochs']} epochs; dim {res['settings']['dim']}, window "
        f"{res['settings']['window']}, min_count {res['settings']['min_count']}, sample "
        f"{res['settings']['sample']}, {res['settings']['negatives']} negatives; gensim with "
        f"workers={res['workers']}. Machine: {res['machine']}, jax {res['jax']}.", "",
        f"Command: `python benchmarks/word2vec.py --corpus {res['corpus']} --epochs "
        f"{res['epochs']}`.", "",
        "Corpus words per second of wall time (nnfunc: vocabulary, compilation and training; "
        "in brackets training alone):", "",
        "| model | nnfunc words/s | gensim words/s | nnfunc / gensim |", "|---|---:|---:|---:|",
    ]
    for r in res["rows"]:
        lines.append(f"| {r['architecture']} + {r['output']} | {r['nnfunc_words_per_s']:,.0f} "
                     f"({r['nnfunc_train_words_per_s']:,.0f}) | {r['gensim_words_per_s']:,.0f} "
                     f"| {r['nnfunc_words_per_s'] / r['gensim_words_per_s']:.2f}x |")
    lines += ["", "Quality (Spearman ρ on word pairs, accuracy on analogies; OOV % of the "
              "pairs in brackets):", "",
              "| model | library | WordSim-353 ρ | SimLex-999 ρ | analogies |",
              "|---|---|---:|---:|---:|"]
    for r in res["rows"]:
        for lib in ("nnfunc", "gensim"):
            q = r[lib]
            lines.append(f"| {r['architecture']} + {r['output']} | {lib} | "
                         f"{q['wordsim353']:.3f} ({q['wordsim353_oov']:.0f} %) | "
                         f"{q['simlex999']:.3f} ({q['simlex999_oov']:.0f} %) | "
                         f"{q['analogies']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="head500.noblanks.cor",
                    help="a file of the shared data/text folder")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=os.cpu_count(),
                    help="gensim's threads (default: all cores)")
    ap.add_argument("--out", default=str(HERE / "results" / "word2vec-cpu"),
                    help="output path without suffix (.md and .json are written)")
    args = ap.parse_args(argv)
    res = run(args.corpus, args.epochs, args.seed, args.workers, pathlib.Path(args.out))
    print(render(res))


if __name__ == "__main__":
    sys.exit(main())
