"""nnfunc.text.word2vec: the sparse SGD step against jax.grad of objectives written out
over the full tables (float64), the epoch layout against a plain-Python enumeration of
word2vec.c's pairs, word2vec.c's learning rate, planted topics recovered by all six
architecture x output combinations, determinism and argument errors."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnfunc.text.corpus import Vocab
from nnfunc.text.sampling import subsample
from nnfunc.text.vectors import KeyedVectors
from nnfunc.text.word2vec import (
    Word2Vec, batch_contexts, batch_rows, batch_slots, epoch_layout, lane_steps,
    learning_rate_schedule, make_batch, pair_layout, sparse_sgd_step, train_word2vec,
    word2vec)

COMBOS = list(itertools.product(["skipgram", "cbow"], ["negative", "hierarchical", "softmax"]))


def small_vocab(v=12, seed=0):
    counts = np.sort(np.random.default_rng(seed).integers(1, 200, v))[::-1]
    return Vocab([f"w{i}" for i in range(v)], counts)


# --------------------------------------------------------------------------- the step

def written_out_loss(model, tin, tout, batch, window):
    """The batch objective over the full tables, one example at a time (no gathers, no
    pair layout helpers): what the sparse step must differentiate."""
    lay = pair_layout(len(batch.focus), window)
    focus, ctx = np.asarray(batch.focus), np.asarray(batch.contexts)
    valid = np.asarray(batch.valid)
    negs = None if batch.negatives is None else np.asarray(batch.negatives)

    def logsig(x):
        return -jnp.logaddexp(0.0, -x)

    def example(h, target, noise):
        if model.output == "softmax":
            return -jax.nn.log_softmax(tout @ h)[target]
        if model.output == "hierarchical":
            t = model.tree
            return -sum(logsig((1 - 2 * int(t.codes[target, d]))
                               * (tout[int(t.points[target, d])] @ h))
                        for d in range(int(t.lengths[target])))
        loss = -logsig(tout[target] @ h)
        for n in noise:
            if n != target:                      # word2vec.c skips a noise word = target
                loss = loss - logsig(-(tout[n] @ h))
        return loss

    total = 0.0
    if model.architecture == "skipgram":
        for p in range(len(ctx)):
            if valid[p] and model.output == "hierarchical":    # word2vec.c's direction:
                total = total + example(tin[ctx[p]], focus[lay.focus[p]], ())  # context
            elif valid[p]:                                     # on the focus's path
                total = total + example(tin[focus[lay.focus[p]]], ctx[p],
                                        () if negs is None else negs[p])
        return total
    for b in range(len(focus)):
        mine = [ctx[p] for p in range(len(ctx)) if lay.focus[p] == b and valid[p]]
        if mine:
            h = sum(tin[c] for c in mine)
            if model.cbow_mean:     # the mean, but word2vec.c's full gradient per context
                h = h + jax.lax.stop_gradient(h / len(mine) - h)
            total = total + example(h, focus[b], () if negs is None else negs[b])
    return total


def random_batch(model, batch_size, window, seed):
    rng = np.random.default_rng(seed)
    v = len(model.vocab)
    p = batch_size * (window + 1)
    focus = jnp.asarray(rng.integers(0, v, batch_size), jnp.int32)
    contexts = jnp.asarray(rng.integers(0, v, p), jnp.int32)
    valid = jnp.asarray(rng.random(p) < 0.7)
    return make_batch(model, focus, contexts, valid, jax.random.key(seed))


def random_params(model, seed):
    params = model.init(seed)
    out = 0.5 * jax.random.normal(jax.random.key(seed + 1), params["out"].shape)
    return {"in": jnp.asarray(params["in"] * 20, jnp.float64), "out": out.astype(jnp.float64)}


@pytest.mark.parametrize("arch, output", COMBOS + [("cbow", "negative-sum")])
def test_sparse_step_equals_dense_sgd_on_the_written_out_objective(x64, arch, output):
    cbow_mean = output != "negative-sum"
    output = output.replace("-sum", "")
    window, batch_size, lr = 2, 4, 0.3
    model = word2vec(small_vocab(), dim=5, window=window, architecture=arch, output=output,
                     negatives=3, cbow_mean=cbow_mean)
    params = random_params(model, 0)
    batch = random_batch(model, batch_size, window, seed=1)
    if output == "negative":       # the batch exercises the "noise word = target" rule
        targets = batch.contexts if arch == "skipgram" else batch.focus
        batch = batch._replace(negatives=batch.negatives.at[0, 0].set(targets[0]))

    new, loss = sparse_sgd_step(model, params, batch, lr)
    ref_loss, (g_in, g_out) = jax.value_and_grad(
        lambda a, b: written_out_loss(model, a, b, batch, window), argnums=(0, 1))(
        params["in"], params["out"])
    assert new["in"].dtype == jnp.float64
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-12)
    np.testing.assert_allclose(new["in"], params["in"] - lr * g_in, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(new["out"], params["out"] - lr * g_out, rtol=1e-12, atol=1e-14)
    assert float(jnp.abs(g_out).sum()) > 0 and float(jnp.abs(g_in).sum()) > 0


def word2vec_c_update(tout, h, targets, lr):
    """word2vec.c's negative-sampling update of one example, by hand: for each (row,
    label), g = (label - sigma(u . h)) * lr, neu1e += g * u, u += g * h. Returns neu1e
    (what the input vectors get) and the updated output table."""
    out, neu1e = tout.copy(), np.zeros_like(h)
    for target, label in targets:
        g = (label - 1 / (1 + np.exp(-tout[target] @ h))) * lr
        neu1e += g * tout[target]
        out[target] += g * h
    return neu1e, out


def test_negative_sampling_gradient_is_word2vec_cs_update(x64):
    """One skip-gram pair, by hand as in word2vec.c: g = (label - sigma(u . h)) * lr,
    neu1e += g * u, u += g * h (all from the old values)."""
    model = word2vec(small_vocab(), dim=6, window=1, negatives=2)
    params = random_params(model, 3)
    batch = make_batch(model, jnp.array([4]), jnp.array([7, 2]), jnp.array([True, False]),
                       jax.random.key(5))
    batch = batch._replace(negatives=jnp.array([[1, 9], [3, 3]], jnp.int32))
    new, _ = sparse_sgd_step(model, params, batch, 0.1)
    tin, tout = np.asarray(params["in"]), np.asarray(params["out"])
    h = tin[4].copy()
    exp_in = tin.copy()
    neu1e, exp_out = word2vec_c_update(tout, h, [(7, 1), (1, 0), (9, 0)], 0.1)
    exp_in[4] += neu1e
    np.testing.assert_allclose(new["in"], exp_in, rtol=1e-12)
    np.testing.assert_allclose(new["out"], exp_out, rtol=1e-12)


@pytest.mark.parametrize("focus, context", [(4, 7), (0, 11), (11, 0), (3, 3)])
def test_hierarchical_skipgram_update_is_word2vec_cs(x64, focus, context):
    """One skip-gram pair with hierarchical softmax, by hand as in word2vec.c (and
    gensim's fast_sentence_sg_hs(points[focus], codes[focus], ..., context)): the
    context's input vector h walks the focus word's path, g = (1 - code - sigma(u . h))
    * lr per node, neu1e += g * u, u += g * h, then the context vector += neu1e."""
    model = word2vec(small_vocab(), dim=6, window=1, output="hierarchical")
    params = random_params(model, 6)
    batch = make_batch(model, jnp.array([focus]), jnp.array([context, 5]),
                       jnp.array([True, False]), jax.random.key(0))
    new, _ = sparse_sgd_step(model, params, batch, 0.1, max_row_hits=64)
    tin, tout = np.asarray(params["in"]), np.asarray(params["out"])
    tree = model.tree
    path = [(int(tree.points[focus, d]), 1 - int(tree.codes[focus, d]))
            for d in range(int(tree.lengths[focus]))]
    exp_in = tin.copy()
    neu1e, exp_out = word2vec_c_update(tout, tin[context].copy(), path, 0.1)
    exp_in[context] += neu1e
    np.testing.assert_allclose(new["in"], exp_in, rtol=1e-12)
    np.testing.assert_allclose(new["out"], exp_out, rtol=1e-12)


@pytest.mark.parametrize("cbow_mean", [True, False])
def test_cbow_update_is_word2vec_cs(x64, cbow_mean):
    """One CBOW example, by hand as in word2vec.c: h = mean (or sum) of the contexts,
    g = (label - sigma(u . h)) * lr for the focus and each negative, neu1e += g * u,
    u += g * h, and every context vector += neu1e (the mean's 1 / n not applied)."""
    model = word2vec(small_vocab(), dim=6, window=1, negatives=2, architecture="cbow",
                     cbow_mean=cbow_mean)
    params = random_params(model, 4)
    batch = make_batch(model, jnp.array([4]), jnp.array([7, 2]), jnp.array([True, True]),
                       jax.random.key(5))
    batch = batch._replace(negatives=jnp.array([[1, 9]], jnp.int32))
    new, _ = sparse_sgd_step(model, params, batch, 0.1)
    tin, tout = np.asarray(params["in"]), np.asarray(params["out"])
    h = tin[7] + tin[2]
    h = h / 2 if cbow_mean else h
    exp_in = tin.copy()
    neu1e, exp_out = word2vec_c_update(tout, h, [(4, 1), (1, 0), (9, 0)], 0.1)
    exp_in[7] += neu1e
    exp_in[2] += neu1e
    np.testing.assert_allclose(new["in"], exp_in, rtol=1e-12)
    np.testing.assert_allclose(new["out"], exp_out, rtol=1e-12)


def test_step_touches_only_the_rows_the_batch_uses():
    model = word2vec(small_vocab(40), dim=4, window=2, negatives=2)
    params = model.init(0)
    params = {"in": params["in"], "out": params["in"][::-1] + 0.1}   # non-zero rows
    batch = random_batch(model, 2, 2, seed=4)
    new, _ = sparse_sgd_step(model, params, batch, 0.1)
    in_ids, out_ids = batch_rows(model, batch)
    changed_in = set(np.flatnonzero(np.any(new["in"] != params["in"], 1)).tolist())
    changed_out = set(np.flatnonzero(np.any(new["out"] != params["out"], 1)).tolist())
    assert changed_in <= set(np.asarray(in_ids).tolist())
    assert changed_out <= set(np.asarray(out_ids).ravel().tolist())
    assert len(changed_out) > 0 and len(changed_out) < 40


# --------------------------------------------------------------------------- the epoch

def test_epoch_layout_pairs_are_word2vecs_pairs_on_the_subsampled_corpus():
    """Every batch's valid pairs, together, are exactly word2vec.c's: for each kept token,
    the kept tokens within its dynamic window in the same sentence; every kept token is
    a focus exactly once."""
    rng = np.random.default_rng(0)
    lengths = [1, 7, 3, 12, 2, 9, 5]
    tokens = rng.integers(0, 6, sum(lengths)).astype(np.int32)
    sentences = np.repeat(np.arange(len(lengths)), lengths).astype(np.int32)
    keep_prob = jnp.array([0.3, 0.6, 1.0, 1.0, 0.8, 1.0])
    window, batch_size = 2, 12                       # 3 lanes of 2W = 4 positions
    steps = lane_steps(len(tokens), batch_size, window)
    key = jax.random.key(7)
    lay = epoch_layout(key, jnp.asarray(tokens), jnp.asarray(sentences), keep_prob, window,
                       batch_size, steps)

    # the kept tokens, compacted in order: the same draw as epoch_layout's
    keep = np.asarray(subsample(jax.random.split(key)[0], jnp.asarray(tokens), keep_prob))
    kept_tok, kept_sent = tokens[keep], sentences[keep]
    k = len(kept_tok)
    assert int(lay.kept) == k and 0 < k < len(tokens)
    np.testing.assert_array_equal(lay.tokens[window: window + k], kept_tok)
    np.testing.assert_array_equal(lay.sentences[window: window + k], kept_sent)
    assert np.all(np.asarray(lay.sentences)[window + k:] == -1)

    # lanes: lane l holds slots [l L, (l + 1) L), batch s its slots [l L + 4 s, + 4)
    used = lane_steps(k, batch_size, window)
    length = 4 * used
    assert 3 * length >= k and 3 * (length - 4) < k
    order = np.asarray(lay.order).reshape(steps, batch_size)
    win, focus_of = {}, []
    for s in range(used):                            # the epoch skips the later steps
        slots = np.array([l * length + 4 * s + j for l in range(3) for j in range(4)])
        np.testing.assert_array_equal(batch_slots(k, s, batch_size, window), slots)
        # the j-th position by window has window W - j // (B / W)
        for j, i in enumerate(order[s]):
            win[slots[i]] = window - j // (batch_size // window)
        focus_of.append(slots[order[s]])

    expected = sorted((i, j) for i in range(k) for j in range(k)
                      if 0 < abs(j - i) <= win[i] and kept_sent[i] == kept_sent[j])
    got, focused = [], []
    pl = pair_layout(batch_size, window)
    for s in range(used):
        focus, contexts, valid = batch_contexts(lay, s, batch_size, window)
        slots = focus_of[s]
        real = slots < k
        focused += slots[real].tolist()
        np.testing.assert_array_equal(np.asarray(focus)[real], kept_tok[slots[real]])
        for p in np.flatnonzero(np.asarray(valid)):
            i = slots[pl.focus[p]]
            j = i + pl.offsets[p]
            assert contexts[p] == kept_tok[j]
            got.append((int(i), int(j)))
    assert sorted(focused) == list(range(k))
    assert sorted(got) == expected


def test_learning_rate_schedule_is_word2vec_cs_formula():
    lr0, lr_min, n, epochs = 0.025, 1e-4, 1000, 3
    sched = learning_rate_schedule(lr0, lr_min, n, epochs)
    for p in [0, 1, 999, 1500, 2999, 2980, 3000, 10**6]:
        expected = max(lr_min, lr0 * (1 - p / (epochs * n + 1)))
        assert float(sched(jnp.int32(p))) == pytest.approx(expected, rel=1e-6)
    assert float(jax.jit(sched)(jnp.int32(1500))) == pytest.approx(0.025 * (1 - 1500 / 3001))


def test_training_reports_the_last_batchs_learning_rate():
    sents = [["a", "b", "c", "d", "e"][i % 3: i % 3 + 3] for i in range(200)]
    vocab = Vocab.build(sents, min_count=1)
    model = word2vec(vocab, dim=4, window=2, sample=0)         # every token kept
    res = train_word2vec(model, sents, epochs=2, batch_size=50, progress=False)
    n = sum(map(len, sents))                                   # 600 words
    # batch_size 50 -> 52: 13 lanes of 4 positions; 600 words -> 12 steps, each
    # 1/12 of the epoch's words; the last starts after 11/12 of them
    steps = lane_steps(n, 52, 2)
    assert steps == 12
    expected = max(1e-4, 0.025 * (1 - (n + n * 11 // 12) / (2 * n + 1)))
    assert res.history["lr"][-1] == pytest.approx(expected, rel=1e-6)


# --------------------------------------------------------------------------- training

def topic_corpus(topics=6, size=10, sentences=300, length=12, seed=0):
    """Sentences drawn from one topic at a time: word t*size + i belongs to topic t."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(sentences):
        t = rng.integers(topics)
        out.append([f"t{t}w{i}" for i in rng.integers(0, size, length)])
    return out


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
    from nnfunc.text.word2vec import _default_batch, default_batch_size
    sents = topic_corpus(topics=3, sentences=120)      # 1,440 positions: several batches
    model = word2vec(Vocab.build(sents, min_count=1), dim=8, window=3, architecture=arch,
                     output=output, sample=0)
    for mib in (4, 64):                       # the CPU's and the accelerators' budgets
        cache = default_batch_size(model, mib * 2**20)
        assert cache > 2 * 3 * 82             # so that every cap bites
        assert _default_batch(model, mib * 2**20) == (2 * 3 * lanes if lanes else cache)
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


def test_model_holds_its_configuration_and_initialises_as_word2vec_c():
    vocab = small_vocab(20)
    model = word2vec(vocab, dim=8, output="hierarchical", key=5)
    assert isinstance(model, Word2Vec) and model.tree is not None
    assert model.negative_table is None and model.dim == 8
    params = model.init(model.key)
    assert params["in"].shape == (20, 8) and params["out"].shape == (19, 8)
    assert float(jnp.abs(params["in"]).max()) <= 0.5 / 8 and float(params["in"].std()) > 0
    assert float(jnp.abs(params["out"]).max()) == 0.0
    neg = word2vec(vocab, dim=8)
    assert neg.init(0)["out"].shape == (20, 8) and neg.tree is None


# --------------------------------------------------------------------------- errors

@pytest.mark.parametrize("kwargs, match", [
    (dict(window=0), "window"),
    (dict(negatives=0), "negatives"),
    (dict(sample=-1e-3), "sample"),
    (dict(dim=0), "dim"),
    (dict(architecture="glove"), "architecture"),
    (dict(output="nce"), "output"),
    (dict(sample_formula="gensim"), "sample_formula"),
])
def test_word2vec_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        word2vec(small_vocab(), **kwargs)


def test_word2vec_needs_two_words_and_negatives_only_with_negative_sampling():
    with pytest.raises(ValueError, match="at least 2 words"):
        word2vec(Vocab(["a"], [3]))
    word2vec(small_vocab(), output="hierarchical", negatives=0)    # unused: allowed


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


# --------------------------------------------------------------------------- collisions

def test_cap_row_hits_scales_only_rows_hit_more_than_the_cap():
    w2v = __import__("importlib").import_module("nnfunc.text.word2vec")
    ids = jnp.array([0, 0, 0, 0, 1, 2, 2])
    hits = jnp.array([True] * 6 + [False])           # the last entry is no update
    capped = w2v._cap_row_hits(jnp.ones((7, 3)), ids, hits, 4, 2)
    # row 0: 4 hits -> each 2/4; row 1: 1 hit; row 2: one real hit
    np.testing.assert_allclose(capped[:, 0], [0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0])
    total = jnp.zeros((4, 3)).at[ids[:6]].add(capped[:6])
    np.testing.assert_allclose(total[:, 0], [2.0, 1.0, 1.0, 0.0])   # at most cap x mean


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


def test_word2vec_rejects_a_word_list_and_a_non_bool_cbow_mean():
    vocab = small_vocab()
    with pytest.raises(TypeError, match="vocab must be an nf.text.Vocab"):
        word2vec(["a", "b"])
    for bad in ("no", 0, None):
        with pytest.raises(TypeError, match="cbow_mean"):
            word2vec(vocab, architecture="cbow", cbow_mean=bad)
