"""nnfunc.text.KeyedVectors against gensim's KeyedVectors (the oracle): look-up and cosines,
3CosAdd and 3CosMul neighbours, word-pair correlations (and a Spearman with tied ranks
checked against scipy), analogy accuracy, and the word2vec text/binary formats (written
by word2vec.c's layout, gensim and us), with every bad input."""
import logging
import struct

import numpy as np
import pytest

from conftest import SHARED
from nnfunc.text import KeyedVectors, read_corpus

gensim = pytest.importorskip("gensim")
from gensim.models import KeyedVectors as GensimKV  # noqa: E402
from gensim.test.utils import datapath  # noqa: E402

logging.getLogger("gensim").setLevel(logging.ERROR)

HEAD500 = SHARED / "data" / "text" / "head500.noblanks.cor"
WORDSIM = datapath("wordsim353.tsv")
SIMLEX = datapath("simlex999.txt")
QUESTIONS = datapath("questions-words.txt")


def _gensim_kv(words, vectors):
    g = GensimKV(vectors.shape[1])
    g.add_vectors(list(words), np.asarray(vectors, np.float32))
    return g


def _random_kv(v=400, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(v)]
    vectors = rng.normal(size=(v, dim)).astype(np.float32)
    return KeyedVectors(words, vectors), _gensim_kv(words, vectors)


def _eval_words():
    """Every word of the evaluation files, in file order, with a few case variants."""
    seen = {}
    for path, sep in ((WORDSIM, "\t"), (SIMLEX, "\t"), (QUESTIONS, None)):
        for line in open(path, encoding="utf-8"):
            if line.startswith(("#", ":")):
                continue
            fields = line.split(sep)[:2] if sep else line.split()
            for w in fields:
                seen.setdefault(w.strip(), None)
    return list(seen)


@pytest.fixture(scope="module")
def eval_vectors():
    """Random vectors over the evaluation words (some dropped, some in two cases)."""
    rng = np.random.default_rng(1)
    words = [w for w in _eval_words() if rng.random() > 0.15]
    variants = [w.upper() if w.islower() else w.lower() for w in words[::7]]
    words = words + [w for w in variants if w not in set(words)]
    order = rng.permutation(len(words))
    words = [words[i] for i in order]
    vectors = rng.normal(size=(len(words), 24)).astype(np.float32)
    return KeyedVectors(words, vectors), _gensim_kv(words, vectors)


@pytest.fixture(scope="module")
def trained_vectors():
    """Real (if small) word2vec vectors: gensim's skip-gram on 331k tokens of text."""
    if not HEAD500.is_file():
        pytest.skip(f"corpus not found: {HEAD500}")
    from gensim.models import Word2Vec
    model = Word2Vec(list(read_corpus(HEAD500)), min_count=5, vector_size=48, workers=1,
                     seed=0, epochs=4, sg=0)
    wv = model.wv
    return KeyedVectors(wv.index_to_key, wv.vectors), wv


# ----------------------------------------------------------------------------- basics

def test_lookup_and_properties():
    kv = KeyedVectors(["a", "b", "c"], np.array([[3, 4], [0, 0], [-1, 0]], np.float64))
    assert kv.vectors.dtype == np.float32 and kv.dim == 2 and len(kv) == 3
    assert kv.words == ["a", "b", "c"] and "b" in kv and "z" not in kv
    assert kv["a"].tolist() == [3.0, 4.0] and kv.index("c") == 2
    with pytest.raises(KeyError, match="'z'"):
        kv.index("z")
    with pytest.raises(KeyError, match="'z'"):
        kv["z"]
    np.testing.assert_allclose(kv.normed, [[0.6, 0.8], [0, 0], [-1, 0]], rtol=1e-7)
    assert kv.normed is kv.normed  # cached
    assert kv.similarity("a", "c") == pytest.approx(-0.6, rel=1e-6)
    assert kv.similarity("a", "b") == 0.0  # a zero vector has cosine 0, not NaN
    with pytest.raises(ValueError):
        kv.vectors[0, 0] = 1.0  # read-only, so the cached norms stay valid
    assert repr(kv) == "KeyedVectors(3 words, dim=2)"


def test_constructor_errors():
    with pytest.raises(ValueError, match=r"shape \(len\(words\), dim\) = \(2, dim\)"):
        KeyedVectors(["a", "b"], np.zeros((3, 2)))
    with pytest.raises(ValueError, match="shape"):
        KeyedVectors(["a", "b"], np.zeros(2))
    with pytest.raises(ValueError, match="distinct.*'a'"):
        KeyedVectors(["a", "b", "a"], np.zeros((3, 2)))
    with pytest.raises(ValueError, match="non-empty strings"):
        KeyedVectors(["a", 3], np.zeros((2, 2)))


def test_similarity_equals_gensim_bit_for_bit():
    kv, g = _random_kv(200, 30, seed=3)
    rng = np.random.default_rng(0)
    for i, j in rng.integers(0, 200, (300, 2)):
        a, b = f"w{i}", f"w{j}"
        assert kv.similarity(a, b) == float(g.similarity(a, b))
    x = kv.vectors.astype(np.float64)
    ref = x / np.linalg.norm(x, axis=1, keepdims=True)
    np.testing.assert_allclose(kv.normed, ref, rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------------------- neighbours

def _assert_same_neighbours(ours, theirs):
    assert [w for w, _ in ours] == [w for w, _ in theirs]
    np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], rtol=0, atol=1e-5)


@pytest.mark.parametrize("query", [
    dict(word="w0"), dict(word="w5", topn=1), dict(word="w7", topn=399),
    dict(positive=["w1", "w2"], negative=["w3"]), dict(positive=["w1", "w2", "w9"]),
    dict(positive=["w4"], negative=["w10", "w11"], topn=25), dict(negative=["w8"]),
    dict(word="w3", restrict_vocab=50), dict(positive=["w100", "w1"], negative=["w2"],
                                            restrict_vocab=40, topn=5),
    dict(word=["w1", "w2"], negative="w3"), dict(word="w12", topn=1000),
])
def test_most_similar_equals_gensim(query):
    kv, g = _random_kv()
    ours = kv.most_similar(**query)
    q = dict(query)
    positive = q.pop("word", None) or q.pop("positive", None)
    theirs = g.most_similar(positive=positive, **q)
    _assert_same_neighbours(ours, theirs)
    assert 0 < len(ours) <= query.get("topn", 10)


def test_most_similar_against_numpy_reference():
    kv, _ = _random_kv(300, 12, seed=4)
    x = kv.vectors.astype(np.float64)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    q = unit[1] + unit[2] - unit[3]
    cos = unit @ (q / np.linalg.norm(q))
    cos[[1, 2, 3]] = -np.inf
    best = np.argsort(-cos)[:10]
    ours = kv.most_similar(positive=["w1", "w2"], negative=["w3"])
    assert [w for w, _ in ours] == [f"w{i}" for i in best]
    np.testing.assert_allclose([s for _, s in ours], cos[best], atol=1e-6)


def test_most_similar_ties_by_lower_index():
    kv = KeyedVectors(["q", "a", "b", "c", "d"], [[1, 0], [0, 1], [1, 1], [1, 1], [1, 1]])
    assert [w for w, _ in kv.most_similar("q", topn=2)] == ["b", "c"]
    assert [w for w, _ in kv.most_similar("q", topn=4)] == ["b", "c", "d", "a"]


@pytest.mark.filterwarnings("ignore:Call to deprecated:DeprecationWarning")  # gensim's init_sims
@pytest.mark.parametrize("positive,negative,topn", [
    (["w1", "w2"], ["w3"], 10), (["w5"], None, 3), ("w6", "w7", 20),
    (["w1", "w2", "w3"], ["w4", "w5"], 7), (["w9"], ["w10"], 399),
])
def test_most_similar_cosmul_equals_gensim(positive, negative, topn):
    kv, g = _random_kv()
    _assert_same_neighbours(kv.most_similar_cosmul(positive, negative, topn=topn),
                            g.most_similar_cosmul(positive, negative, topn=topn))


def test_most_similar_cosmul_against_formula():
    kv, _ = _random_kv(100, 8, seed=5)
    x = kv.vectors.astype(np.float64)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    shifted = (1 + unit @ unit.T) / 2
    score = shifted[:, 1] * shifted[:, 2] / (shifted[:, 3] + 1e-6)
    score[[1, 2, 3]] = -np.inf
    best = np.argsort(-score)[:5]
    ours = kv.most_similar_cosmul(["w1", "w2"], ["w3"], topn=5)
    assert [w for w, _ in ours] == [f"w{i}" for i in best]
    np.testing.assert_allclose([s for _, s in ours], score[best], rtol=1e-5)


def test_neighbour_errors():
    kv, _ = _random_kv(20, 4)
    with pytest.raises(KeyError, match="'nope'"):
        kv.most_similar("nope")
    with pytest.raises(KeyError, match="'nope'"):
        kv.most_similar(positive=["w1"], negative=["nope"])
    with pytest.raises(KeyError, match="'nope'"):
        kv.most_similar_cosmul(["w1", "nope"])
    with pytest.raises(ValueError, match="at least one word"):
        kv.most_similar()
    for bad in (0, -1, 2.5, None):
        with pytest.raises(ValueError, match="topn"):
            kv.most_similar("w1", topn=bad)
        with pytest.raises(ValueError, match="topn"):
            kv.most_similar_cosmul("w1", topn=bad)
    for bad in (0, -3, "10"):
        with pytest.raises(ValueError, match="restrict_vocab"):
            kv.most_similar("w1", restrict_vocab=bad)
    with pytest.raises(ValueError, match="positive"):
        kv.most_similar_cosmul([], ["w1"])


# ----------------------------------------------------------------------------- word pairs

def test_rank_correlations_against_scipy():
    stats = pytest.importorskip("scipy.stats")
    from nnfunc.text._stats import pearson, rankdata
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = rng.integers(0, 6, 40).astype(float)  # many ties
        y = x + rng.integers(0, 4, 40)
        np.testing.assert_array_equal(rankdata(x), stats.rankdata(x))
        assert pearson(rankdata(x), rankdata(y)) == pytest.approx(
            stats.spearmanr(x, y)[0], abs=1e-12)
        assert pearson(x, y) == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-12)


def _assert_pairs_equal(ours, theirs):
    (gp, _), (gs, _), goov = theirs
    assert ours[0] == pytest.approx(gp, abs=1e-6)
    assert ours[1] == pytest.approx(gs, abs=1e-6)
    assert ours[2] == pytest.approx(goov, abs=1e-12)


@pytest.mark.parametrize("path", [WORDSIM, SIMLEX], ids=["wordsim353", "simlex999"])
@pytest.mark.parametrize("kwargs", [{}, dict(restrict_vocab=600), dict(case_insensitive=False),
                                    dict(restrict_vocab=300, case_insensitive=False)])
def test_evaluate_word_pairs_equals_gensim(eval_vectors, path, kwargs):
    kv, g = eval_vectors
    ours = kv.evaluate_word_pairs(path, **kwargs)
    _assert_pairs_equal(ours, g.evaluate_word_pairs(path, **kwargs))
    assert 0 < ours[2] < 100


@pytest.mark.parametrize("path", [WORDSIM, SIMLEX], ids=["wordsim353", "simlex999"])
def test_evaluate_word_pairs_trained_equals_gensim(trained_vectors, path):
    kv, wv = trained_vectors
    # These vectors are barely trained: many cosines are within a float32 step of each
    # other, so Spearman only matches because the cosines agree to the last bit.
    _assert_pairs_equal(kv.evaluate_word_pairs(path), wv.evaluate_word_pairs(path))


def test_evaluate_word_pairs_hand_example(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("# comment\na\tb\t3\n\nB\tc\t1\n#x\ny\tq\nA\tzz\t2\nc\td\t2\n",
                    encoding="utf-8")
    with pytest.raises(ValueError, match="line 6"):
        KeyedVectors(["a"], [[1.0]]).evaluate_word_pairs(path)
    path.write_text("# comment\na\tb\t3\n\nB\tc\t1\n#x\nA\tzz\t2\nc\td\t2\n", encoding="utf-8")
    kv = KeyedVectors(["a", "b", "c", "d"], [[1, 0], [1, 1], [0, 1], [-1, 0.2]])
    sims = np.array([kv.similarity("a", "b"), kv.similarity("b", "c"), kv.similarity("c", "d")])
    assert sims[0] == sims[1] > sims[2]  # a tie: ranks 2.5, 2.5, 1
    gold = np.array([3.0, 1.0, 2.0])
    pearson, spearman, oov = kv.evaluate_word_pairs(path)
    assert pearson == pytest.approx(np.corrcoef(gold, sims)[0, 1], abs=1e-7)
    assert spearman == pytest.approx(np.corrcoef([3, 1, 2], [2.5, 2.5, 1])[0, 1], abs=1e-12)
    assert oov == 25.0
    with pytest.raises(ValueError, match="no word pair"):
        kv.evaluate_word_pairs(path, case_insensitive=False, restrict_vocab=1)
    # Constant model scores have no correlation: NaN, as scipy (and gensim) give.
    flat = KeyedVectors(["a", "b", "c", "d"], np.ones((4, 2)))
    pearson, spearman, _ = flat.evaluate_word_pairs(path)
    assert np.isnan(pearson) and np.isnan(spearman)


@pytest.mark.parametrize("line", ["a\tb\n", "a\tb\tx\n", "a\tb\t1\t2\n", "a b 3\n"])
def test_evaluate_word_pairs_malformed(tmp_path, line):
    path = tmp_path / "pairs.tsv"
    path.write_text(f"# header\na\tb\t1\n{line}", encoding="utf-8")
    kv = KeyedVectors(["a", "b"], [[1, 0], [0, 1]])
    with pytest.raises(ValueError, match="line 3"):
        kv.evaluate_word_pairs(path)


def test_evaluate_word_pairs_argument_errors(tmp_path):
    kv = KeyedVectors(["a", "b"], [[1, 0], [0, 1]])
    with pytest.raises(ValueError, match="restrict_vocab"):
        kv.evaluate_word_pairs(WORDSIM, restrict_vocab=0)
    with pytest.raises(ValueError, match="delimiter"):
        kv.evaluate_word_pairs(WORDSIM, delimiter="")
    with pytest.raises(FileNotFoundError):
        kv.evaluate_word_pairs(tmp_path / "missing.tsv")


# ----------------------------------------------------------------------------- analogies

def _assert_analogies_equal(ours, theirs):
    assert ours[0] == theirs[0]
    assert [(s["section"], s["correct"], s["incorrect"]) for s in ours[1]] == \
        [(s["section"], len(s["correct"]), len(s["incorrect"])) for s in theirs[1]]


@pytest.mark.parametrize("restrict_vocab", [500, 3000, 30000])
@pytest.mark.parametrize("case_insensitive", [True, False])
def test_evaluate_analogies_trained_equals_gensim(trained_vectors, restrict_vocab,
                                                  case_insensitive):
    kv, wv = trained_vectors
    ours = kv.evaluate_analogies(QUESTIONS, restrict_vocab=restrict_vocab,
                                 case_insensitive=case_insensitive)
    theirs = wv.evaluate_word_analogies(QUESTIONS, restrict_vocab=restrict_vocab,
                                        case_insensitive=case_insensitive)
    _assert_analogies_equal(ours, theirs)
    assert ours[1][-1]["section"] == "Total accuracy"
    if restrict_vocab >= 3000:
        assert ours[1][-1]["correct"] > 0 and ours[1][-1]["incorrect"] > 0


@pytest.mark.parametrize("restrict_vocab", [200, 100000])
def test_evaluate_analogies_random_equals_gensim(eval_vectors, restrict_vocab):
    kv, g = eval_vectors
    _assert_analogies_equal(kv.evaluate_analogies(QUESTIONS, restrict_vocab=restrict_vocab),
                            g.evaluate_word_analogies(QUESTIONS, restrict_vocab=restrict_vocab))


def test_evaluate_analogies_planted_answers(tmp_path):
    # Each question's answer is planted at x_b + x_c − x_a; case variants and OOV lines.
    rng = np.random.default_rng(0)
    base = {w: rng.normal(size=8) for w in ["man", "king", "woman", "paris", "france",
                                           "rome", "noise1", "noise2"]}
    base["queen"] = base["king"] + base["woman"] - base["man"]
    base["italy"] = base["france"] + base["rome"] - base["paris"]
    base["King"] = base["king"] * 1.0001  # a case variant, after the original
    words = list(base)
    kv = KeyedVectors(words, np.array([base[w] for w in words]))
    path = tmp_path / "q.txt"
    path.write_text(": family\nman king woman queen\nMAN KING WOMAN noise1\n"
                    "man king woman unknown\n\n: capitals\nparis france rome italy\n"
                    ": empty\n", encoding="utf-8")
    accuracy, sections = kv.evaluate_analogies(path)
    assert accuracy == pytest.approx(2 / 3)
    assert sections == [
        {"section": "family", "correct": 1, "incorrect": 1},
        {"section": "capitals", "correct": 1, "incorrect": 0},
        {"section": "empty", "correct": 0, "incorrect": 0},
        {"section": "Total accuracy", "correct": 2, "incorrect": 1},
    ]
    _assert_analogies_equal((accuracy, sections), _gensim_kv(words, kv.vectors)
                            .evaluate_word_analogies(path))
    # Case-sensitive, the upper-case question is out of vocabulary.
    acc, secs = kv.evaluate_analogies(path, case_insensitive=False)
    assert acc == 1.0 and secs[-1] == {"section": "Total accuracy", "correct": 2,
                                       "incorrect": 0}
    # Nothing answerable: accuracy 0.0 (as gensim), every section empty.
    acc, secs = kv.evaluate_analogies(path, restrict_vocab=3)
    assert acc == 0.0 and all(s["correct"] == s["incorrect"] == 0 for s in secs)


@pytest.mark.parametrize("content,line,match", [
    ("a b c d\n", 1, "header"), (": s\na b c\n", 2, "4 words"),
    (": s\na b c d\na b c d e\n", 3, "4 words"), (":s\na b c d\n", 1, "header"),
])
def test_evaluate_analogies_malformed(tmp_path, content, line, match):
    path = tmp_path / "q.txt"
    path.write_text(content, encoding="utf-8")
    kv = KeyedVectors(["a", "b", "c", "d"], np.eye(4))
    with pytest.raises(ValueError, match=f"line {line}.*{match}"):
        kv.evaluate_analogies(path)


def test_evaluate_analogies_argument_errors():
    kv = KeyedVectors(["a", "b", "c", "d"], np.eye(4))
    with pytest.raises(ValueError, match="restrict_vocab"):
        kv.evaluate_analogies(QUESTIONS, restrict_vocab=0)


# ----------------------------------------------------------------------------- files

def _tricky_vectors(v=60, dim=7, seed=0):
    rng = np.random.default_rng(seed)
    vec = (rng.normal(size=(v, dim)) * 10.0 ** rng.integers(-8, 8, (v, 1))).astype(np.float32)
    vec[0, :4] = [0.0, -0.0, 1e-45, 3.4028235e38]  # zero, negative zero, subnormal, max
    vec[1, :3] = [0.1, 1 / 3, -2.5]
    words = ["the", "Été", "naïve", "日本", "a-b_c", "</s>"] + [f"w{i}" for i in range(v - 6)]
    return words, vec


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_save_load_round_trip_and_gensim_reads_ours(tmp_path, binary):
    words, vec = _tricky_vectors()
    kv = KeyedVectors(words, vec)
    path = tmp_path / "v.w2v"
    kv.save_word2vec_format(path, binary=binary)
    back = KeyedVectors.load_word2vec_format(path, binary=binary)
    assert back.words == words
    np.testing.assert_array_equal(back.vectors.view(np.int32), vec.view(np.int32))  # bit exact
    g = GensimKV.load_word2vec_format(str(path), binary=binary)
    assert list(g.index_to_key) == words
    np.testing.assert_array_equal(g.vectors.view(np.int32), vec.view(np.int32))


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_we_read_gensim_files_and_match_its_bytes(tmp_path, binary):
    words, vec = _tricky_vectors(seed=1)
    gpath, opath = tmp_path / "g.w2v", tmp_path / "o.w2v"
    _gensim_kv(words, vec).save_word2vec_format(str(gpath), binary=binary)
    KeyedVectors(words, vec).save_word2vec_format(opath, binary=binary)
    back = KeyedVectors.load_word2vec_format(gpath, binary=binary)
    assert back.words == words
    np.testing.assert_array_equal(back.vectors.view(np.int32), vec.view(np.int32))
    ours, theirs = opath.read_bytes(), gpath.read_bytes()
    if not binary:
        assert ours == theirs  # byte-identical text
    else:
        # word2vec.c ends each binary row with "\n"; gensim does not. Otherwise identical.
        rows = [w.encode() + b" " + v.astype("<f4").tobytes() for w, v in zip(words, vec)]
        header = f"{len(words)} {vec.shape[1]}\n".encode()
        assert theirs == header + b"".join(rows)
        assert ours == header + b"".join(r + b"\n" for r in rows)


def test_load_word2vec_c_style_files(tmp_path):
    # word2vec.c text rows: "%s " then "%lf " per value, then "\n" (a trailing space).
    vec = np.array([[0.25, -1.5, 3.0], [1e-3, 2.0, -0.125]], np.float32)
    text = "2 3\n" + "".join(f"{w} " + "".join(f"{x:f} " for x in row) + "\n"
                             for w, row in zip(["</s>", "the"], vec))
    (tmp_path / "c.txt").write_text(text, encoding="utf-8")
    kv = KeyedVectors.load_word2vec_format(tmp_path / "c.txt")
    assert kv.words == ["</s>", "the"]
    np.testing.assert_array_equal(kv.vectors, vec)
    # Windows line ends and a trailing blank line are fine.
    (tmp_path / "crlf.txt").write_bytes(b"1 2\r\nx 1.5 2\r\n\r\n")
    assert KeyedVectors.load_word2vec_format(tmp_path / "crlf.txt")["x"].tolist() == [1.5, 2.0]
    # Binary, with rows split across read chunks.
    words = [f"word{i}" for i in range(300)]
    big = np.random.default_rng(0).normal(size=(300, 50)).astype(np.float32)
    data = b"300 50\n" + b"".join(w.encode() + b" " + r.tobytes() + b"\n"
                                  for w, r in zip(words, big))
    (tmp_path / "c.bin").write_bytes(data)
    kv = KeyedVectors.load_word2vec_format(tmp_path / "c.bin", binary=True, chunk_bytes=1000)
    with pytest.raises(ValueError, match="chunk_bytes"):
        KeyedVectors.load_word2vec_format(tmp_path / "c.bin", binary=True, chunk_bytes=0)
    assert kv.words == words and np.array_equal(kv.vectors, big)
    empty = tmp_path / "empty.txt"
    KeyedVectors([], np.zeros((0, 4))).save_word2vec_format(empty)
    assert empty.read_text() == "0 4\n"
    assert len(KeyedVectors.load_word2vec_format(empty)) == 0


def _binary_file(tmp_path, words, vec, newline=True):
    path = tmp_path / "v.bin"
    path.write_bytes(f"{len(words)} {vec.shape[1]}\n".encode() + b"".join(
        w.encode() + b" " + np.asarray(r, "<f4").tobytes() + (b"\n" if newline else b"")
        for w, r in zip(words, vec)))
    return path


def test_binary_truncated_and_malformed(tmp_path):
    vec = np.arange(12, dtype=np.float32).reshape(3, 4)
    path = _binary_file(tmp_path, ["alpha", "beta", "gamma"], vec)
    data = path.read_bytes()
    # Cut inside gamma's vector.
    path.write_bytes(data[:-7])
    with pytest.raises(ValueError, match=r"row 3 of 3 \(word 'gamma'\).*10 of 16 bytes"):
        KeyedVectors.load_word2vec_format(path, binary=True)
    # Cut inside the word of row 2.
    cut = data.index(b"beta") + 2
    path.write_bytes(data[:cut])
    with pytest.raises(ValueError, match=r"row 2 of 3, in its word b'be'"):
        KeyedVectors.load_word2vec_format(path, binary=True)
    # Fewer rows than the header says.
    path.write_bytes(b"4" + data[1:])
    with pytest.raises(ValueError, match="announces 4 rows but the file ends after 3"):
        KeyedVectors.load_word2vec_format(path, binary=True)
    # More rows than the header says.
    path.write_bytes(b"2" + data[1:])
    with pytest.raises(ValueError, match="more data after the 2 rows"):
        KeyedVectors.load_word2vec_format(path, binary=True)
    path = _binary_file(tmp_path, ["a", "b", "a"], vec)
    with pytest.raises(ValueError, match="distinct.*'a'"):
        KeyedVectors.load_word2vec_format(path, binary=True)
    path.write_bytes(b"1 4\n\xff\xfe " + bytes(16))
    with pytest.raises(ValueError, match="row 1 of 1.*UTF-8"):
        KeyedVectors.load_word2vec_format(path, binary=True)


@pytest.mark.parametrize("content,match", [
    ("", "line 1.*header"), ("3\n", "line 1.*header"), ("x 3\n", "line 1.*header"),
    ("2 0\n", "line 1.*header"), ("-1 3\n", "line 1.*header"),
    ("2 3\na 1 2 3\nb 1 2\n", "line 3.*3 numbers, got 2"),
    ("2 3\na 1 2 3\nb 1 2 x\n", "line 3.*could not convert"),
    ("2 3\na 1 2 3\n", "announces 2 rows but the file ends after 1"),
    ("1 3\na 1 2 3\nb 1 2 3\n", "line 3.*more rows"),
    ("2 1\na 1\na 2\n", "distinct.*'a'"),
    ("1 1\n\n", "line 2"),
])
def test_text_malformed(tmp_path, content, match):
    path = tmp_path / "v.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=match):
        KeyedVectors.load_word2vec_format(path)


def test_text_bad_utf8_and_missing_file(tmp_path):
    path = tmp_path / "v.txt"
    path.write_bytes(b"1 1\n\xff 1.0\n")
    with pytest.raises(ValueError, match="line 2"):
        KeyedVectors.load_word2vec_format(path)
    with pytest.raises(FileNotFoundError):
        KeyedVectors.load_word2vec_format(tmp_path / "missing.txt")


def test_save_rejects_words_with_whitespace(tmp_path):
    with pytest.raises(ValueError, match="'a b'"):
        KeyedVectors(["a b"], [[1.0]]).save_word2vec_format(tmp_path / "v.txt")


def test_binary_header_parsing_matches_struct(tmp_path):
    # The vector bytes are little-endian float32, as word2vec.c writes on x86.
    path = tmp_path / "v.bin"
    KeyedVectors(["x"], [[1.0, -2.0]]).save_word2vec_format(path, binary=True)
    assert path.read_bytes() == b"1 2\nx " + struct.pack("<2f", 1.0, -2.0) + b"\n"
