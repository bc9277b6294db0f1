"""benchmarks/word2vec.py and word2vec_batches.py: the ``--quick`` run (the suite's CI
smoke run: one epoch on the small Lee corpus, one seed, 2 gensim threads; structure and
sanity of the results, never the speed), the partial results a run cut
short keeps, and the batch sizes the quality study measures (the full numbers are in
benchmarks/results/word2vec/word2vec-cpu.md and
benchmarks/results/investigations/word2vec-batches-cpu.md)."""
import json
import pathlib
import sys

import numpy as np
import pytest

from conftest import SHARED

ROOT = pathlib.Path(__file__).resolve().parents[2]
# the word2vec suite lives in benchmarks/, its batch-size study in benchmarks/investigations/
for folder in (ROOT / "benchmarks", ROOT / "benchmarks" / "investigations"):
    sys.path.insert(0, str(folder))
LEE = SHARED / "data" / "text" / "lee_background.cor"

pytestmark = [pytest.mark.skipif(not LEE.exists(), reason=f"no corpus at {LEE}")]


@pytest.fixture(autouse=True)
def _shared(monkeypatch):
    pytest.importorskip("gensim", reason="gensim is the peer and holds the evaluation files")
    monkeypatch.setenv("NNFUNC_SHARED", str(SHARED))


def test_one_epoch_run_writes_every_model_with_sane_numbers(tmp_path):
    import word2vec as W
    out = tmp_path / "w2v"
    W.main(["--quick", "--out", str(out)])     # lee_background.cor, 1 epoch, seed 0, 2 workers
    res = json.loads(out.with_suffix(".json").read_text())
    assert [(r["architecture"], r["output"]) for r in res["rows"]] == W.CONFIGS
    assert res["tokens"] == sum(len(line.split()) for line in LEE.read_text().splitlines())
    for r in res["rows"]:
        for lib in ("nnfunc", "gensim"):
            q = r[lib]
            assert q["words_per_s"] > 0 and np.isfinite(q["cpu_us_per_word"])
            assert -1 <= q["wordsim353"] <= 1 and 0 <= q["analogies"] <= 1
            assert 0 < q["wordsim353_oov"] < 100
        # the same evaluation pairs are in vocabulary for both (same min_count)
        assert r["nnfunc"]["wordsim353_oov"] == r["gensim"]["wordsim353_oov"]
        assert r["nnfunc_train_words_per_s"] >= r["nnfunc"]["words_per_s"]
    md = out.with_suffix(".md").read_text()
    assert md.count("| skipgram + negative |") == 4          # speed row + 3 quality rows


def test_a_run_cut_short_keeps_the_models_it_finished(tmp_path, monkeypatch):
    import word2vec as W
    calls = []

    def nnfunc_then_fail(sentences, arch, output, epochs, seed):
        calls.append((arch, output))
        if len(calls) > 1:
            raise KeyboardInterrupt              # what a timeout's signal looks like
        return real(sentences, arch, output, epochs, seed)

    real = W.run_nnfunc
    monkeypatch.setattr(W, "run_nnfunc", nnfunc_then_fail)
    out = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        W.run("lee_background.cor", 1, [0], 2, out)
    res = json.loads(out.with_suffix(".json").read_text())
    assert [(r["architecture"], r["output"]) for r in res["rows"]] == W.CONFIGS[:1]
    assert "| skipgram + negative |" in out.with_suffix(".md").read_text()


def test_batch_study_measures_both_budgets_defaults_and_caps():
    import nnfunc as nf
    import word2vec_batches as B
    from nnfunc.text._word2vec.batch import capped_batch_size, default_batch_size
    sents = list(nf.text.read_corpus(LEE))
    vocab = nf.text.Vocab.build(sents, min_count=5)
    for arch, output in B.bench.CONFIGS:
        model = nf.text.word2vec(vocab, dim=100, window=5, architecture=arch, output=output)
        sizes = B.batch_sizes(model)
        assert list(sizes) == sorted(sizes) and all(b % 10 == 0 for b in sizes)
        for name, mib in (("CPU", 4), ("accelerator", 64)):
            assert f"{name} cache size" in sizes[default_batch_size(model, mib * 2**20)]
            assert f"{name} default" in sizes[capped_batch_size(model, mib * 2**20)]
        for b in B.EXTRA.get((arch, output), []):
            assert b in sizes
