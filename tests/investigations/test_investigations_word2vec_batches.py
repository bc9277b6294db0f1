"""benchmarks/investigations/word2vec_batches.py (the quality of nnfunc's vectors
against the batch size): the batch sizes it measures are both budgets' cache sizes and
defaults, and the extra sizes (the numbers are in
benchmarks/results/investigations/word2vec-batches-cpu.md)."""
import pathlib
import sys

import pytest

from conftest import SHARED

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "benchmarks" / "investigations"), str(ROOT / "benchmarks")]
LEE = SHARED / "data" / "text" / "lee_background.cor"

pytestmark = [pytest.mark.skipif(not LEE.exists(), reason=f"no corpus at {LEE}")]


@pytest.fixture(autouse=True)
def _shared(monkeypatch):
    pytest.importorskip("gensim", reason="gensim is the peer and holds the evaluation files")
    monkeypatch.setenv("NNFUNC_SHARED", str(SHARED))


def test_batch_study_measures_both_budgets_defaults_and_caps():
    import nnfunc as nf
    import word2vec_batches as B
    from nnfunc.text.word2vec import _default_batch, default_batch_size
    sents = list(nf.text.read_corpus(LEE))
    vocab = nf.text.Vocab.build(sents, min_count=5)
    for arch, output in B.bench.CONFIGS:
        model = nf.text.word2vec(vocab, dim=100, window=5, architecture=arch, output=output)
        sizes = B.batch_sizes(model)
        assert list(sizes) == sorted(sizes) and all(b % 10 == 0 for b in sizes)
        for name, mib in (("CPU", 4), ("accelerator", 64)):
            assert f"{name} cache size" in sizes[default_batch_size(model, mib * 2**20)]
            assert f"{name} default" in sizes[_default_batch(model, mib * 2**20)]
        for b in B.EXTRA.get((arch, output), []):
            assert b in sizes
