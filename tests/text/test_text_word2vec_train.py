"""nnfunc.text.train_word2vec (``_word2vec/train.py``): planted topics recovered by all six
architecture x output combinations, the default batch's caps, determinism, hierarchical
softmax kept finite by the row cap, and argument errors."""
import numpy as np
import pytest

from _word2vec_setup import COMBOS, small_vocab, topic_corpus
from nnfunc.text import KeyedVectors, Vocab, train_word2vec, word2vec
from nnfunc.text._word2vec.batch import capped_batch_size, default_batch_size


@pytest.mark.parametrize("arch, output", COMBOS)
def test_trained_vectors_recover_planted_topics(arch, output):
    size = 10
    sents = topic_corpus(size=size)
    vocab = Vocab.build(sents, min_count=1)
    model = word2vec(vocab, dim=24, window=4, architecture=arch, output=output, sample=0)
    res = train_word2vec(model, sents, epochs=6, batch_size=64, progress=False,
                         learning_rate=0.05 if arch == "cbow" else 0.025)
    vecs = np.asarray(res.params["in"])
    unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    cos = unit @ unit.T
    np.fill_diagonal(cos, -np.inf)
    topic = np.array([w.split("w")[0] for w in vocab.words])
    top = np.argsort(-cos, axis=1)[:, : size - 1]
    same = (topic[top] == topic[:, None]).mean(axis=1)
    assert same.min() >= 0.9, (arch, output, same.min(), same.mean())
    assert res.history["loss"][-1] < res.history["loss"][0]
    assert isinstance(res.vectors, KeyedVectors)
    assert res.vectors.words == vocab.words
    np.testing.assert_array_equal(res.vectors.vectors, vecs)


@pytest.mark.parametrize("arch, output, lanes", [("cbow", "hierarchical", 1),
                                                 ("cbow", "negative", 5),
                                                 ("skipgram", "hierarchical", 82),
                                                 ("skipgram", "negative", None)])
def test_default_batch_is_capped_where_batches_change_the_vectors(arch, output, lanes):
    """The default batch takes at most 1 (CBOW, hierarchical), 5 (CBOW, negative) or 82
    (skip-gram, hierarchical) lanes of 2W positions on every backend, where the vectors
    match gensim's; skip-gram with negative sampling keeps the cache-sized batch."""
    sents = topic_corpus(topics=3, sentences=120)      # 1,440 positions: several batches
    model = word2vec(Vocab.build(sents, min_count=1), dim=8, window=3, architecture=arch,
                     output=output, sample=0)
    for mib in (4, 64):                       # the CPU's and the accelerators' budgets
        cache = default_batch_size(model, mib * 2**20)
        assert cache > 2 * 3 * 82             # so that every cap bites
        assert capped_batch_size(model, mib * 2**20) == (2 * 3 * lanes if lanes else cache)
    chosen = 2 * 3 * lanes if lanes else default_batch_size(model)
    kw = dict(epochs=1, progress=False, key=1)
    default = train_word2vec(model, sents, **kw)
    explicit = train_word2vec(model, sents, batch_size=chosen, **kw)
    np.testing.assert_array_equal(default.params["in"], explicit.params["in"])
    if lanes:
        other = train_word2vec(model, sents, batch_size=default_batch_size(model), **kw)
        assert not np.array_equal(default.params["in"], other.params["in"])


def test_training_is_deterministic_for_a_key_and_accepts_encoded_sentences():
    sents = topic_corpus(topics=3, sentences=60)
    vocab = Vocab.build(sents, min_count=1)
    model = word2vec(vocab, dim=8, window=3, sample=1e-2)
    kw = dict(epochs=2, batch_size=30, progress=False)
    a = train_word2vec(model, sents, key=3, **kw)
    b = train_word2vec(model, vocab.encode(sents), key=3, **kw)
    c = train_word2vec(model, sents, key=4, **kw)
    for name in ("in", "out"):
        np.testing.assert_array_equal(a.params[name], b.params[name])
    assert not np.array_equal(a.params["in"], c.params["in"])
    assert a.history["loss"] == b.history["loss"]
    assert set(a.history) >= {"loss", "words_per_s", "seconds", "lr"}
    assert all(len(a.history[k]) == 2 for k in ("loss", "words_per_s", "seconds", "lr"))


@pytest.mark.parametrize("corpus, match", [
    ([], "empty corpus"),
    ([["zz", "yy"], []], "no in-vocabulary words"),
    (["w1 w2 w3"], "str"),
    ([np.array([0, 99], np.int32)], r"ids must be in \[0, 12\)"),
])
def test_train_rejects_bad_corpora(corpus, match):
    with pytest.raises(ValueError, match=match):
        train_word2vec(word2vec(small_vocab()), corpus, progress=False)


@pytest.mark.parametrize("kwargs, match", [
    (dict(epochs=0), "epochs"),
    (dict(batch_size=0), "batch_size"),
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(min_learning_rate=-1.0), "min_learning_rate"),
])
def test_train_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        train_word2vec(word2vec(small_vocab()), [["w0", "w1"]], progress=False, **kwargs)


def test_hierarchical_softmax_at_word2vec_cs_cbow_rate_stays_finite():
    """Summed from the same values, the Huffman root's thousands of updates per step
    overshot to inf at learning rate 0.05 (a 60-word-type corpus of 20k tokens); capped
    they do not, and the capped step is exact batched SGD for rows hit <= cap times."""
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(60)]
    p = 1.0 / np.arange(1, 61)
    sents = [list(rng.choice(words, 40, p=p / p.sum())) for _ in range(500)]
    model = word2vec(Vocab.build(sents, min_count=1), dim=20, window=5,
                     architecture="skipgram", output="hierarchical")
    kw = dict(epochs=2, learning_rate=0.05, batch_size=400, key=0, progress=False)
    capped = train_word2vec(model, sents, **kw)
    assert np.isfinite(capped.history["loss"]).all()
    assert np.isfinite(np.asarray(capped.params["in"])).all()
    plain = train_word2vec(model, sents, max_row_hits=None, **kw)
    assert not np.isfinite(plain.history["loss"][-1]) or \
        plain.history["loss"][-1] > 2 * capped.history["loss"][-1]
    with pytest.raises(ValueError, match="max_row_hits"):
        train_word2vec(model, sents, max_row_hits=0, **kw)
