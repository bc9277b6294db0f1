"""nnfunc.text's word2vec epoch (``_word2vec/epoch.py``, ``program.py``): the epoch layout
against a plain-Python enumeration of word2vec.c's pairs on the subsampled corpus, and
word2vec.c's learning rate, in the schedule and in training."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnfunc.text import Vocab, train_word2vec, word2vec
from nnfunc.text._word2vec.epoch import batch_contexts, batch_slots, epoch_layout, lane_steps
from nnfunc.text._word2vec.layout import pair_layout
from nnfunc.text._word2vec.program import learning_rate_schedule
from nnfunc.text.sampling import subsample


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
