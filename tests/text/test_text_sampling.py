"""nnfunc.text.sampling: subsampling, dynamic windows and negative sampling follow their
distributions (chi-square goodness of fit over >= 1e5 draws with fixed keys, p > 1e-3),
and the tables equal their closed forms."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import chisquare

from nnfunc.text.sampling import (
    draw_negatives, dynamic_windows, keep_probabilities, negative_table, subsample)

COUNTS = np.array([50000, 20000, 9000, 4000, 2000, 900, 400, 150, 60, 20, 7, 1])


# --------------------------------------------------------------------------- tables

@pytest.mark.parametrize("formula", ["notes", "word2vec"])
def test_keep_probabilities_equal_the_closed_forms(formula):
    t = 1e-2
    f = COUNTS / COUNTS.sum()
    if formula == "notes":       # discard with probability 1 - sqrt(t / f)
        expected = np.minimum(1.0, np.sqrt(t / f))
    else:                        # word2vec.c: (sqrt(f / t) + 1) * t / f
        expected = np.minimum(1.0, (np.sqrt(f / t) + 1) * t / f)
    got = np.asarray(keep_probabilities(COUNTS, t, formula=formula))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert got[0] < 0.5 and got[-1] == 1.0       # frequent words are thinned, rare kept


def test_keep_probabilities_sample_zero_keeps_everything():
    np.testing.assert_array_equal(keep_probabilities(COUNTS, 0.0), np.ones(len(COUNTS)))
    # a word of count 0 is always kept (no division by zero)
    assert float(keep_probabilities([10, 0], 1e-3)[1]) == 1.0


@pytest.mark.parametrize("kwargs, match", [
    (dict(sample=-1e-3), "sample"),
    (dict(sample=1e-3, formula="gensim"), "formula"),
])
def test_keep_probabilities_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        keep_probabilities(COUNTS, **kwargs)


@pytest.mark.parametrize("counts", [[], [[1, 2]], [1, -1], [0, 0]])
def test_tables_reject_bad_counts(counts):
    with pytest.raises(ValueError, match="counts"):
        keep_probabilities(counts, 1e-3)
    with pytest.raises(ValueError, match="counts"):
        negative_table(counts)


@pytest.mark.parametrize("v", [2, 3, 12, 1000, 1025])
def test_alias_table_encodes_the_unigram_power_distribution_exactly(v):
    counts = np.random.default_rng(v).integers(0, 10**6, v)
    counts[0] = 1
    table = negative_table(counts, power=0.75)
    expected = counts.astype(float) ** 0.75
    expected /= expected.sum()
    np.testing.assert_allclose(np.asarray(table.probs), expected, rtol=1e-6)
    # the probability each word gets from the table: its own columns' accepted mass plus
    # the rejected mass of the columns that alias to it (in float64 from the integers)
    thr = np.asarray(table.threshold, np.float64) / 2.0**32
    alias = np.asarray(table.alias)
    columns = len(thr)
    assert columns >= v and columns & (columns - 1) == 0 and alias.max() < v
    implied = np.zeros(v)
    np.add.at(implied, np.arange(min(columns, v)), thr[:v] / columns)
    np.add.at(implied, alias, (1 - thr) / columns)
    np.testing.assert_allclose(implied, expected, rtol=0, atol=2.0**-31)
    # the draw compares only the low 32 - log2(G) bits: thresholds truncated to them
    bits = columns.bit_length() - 1
    used = (np.asarray(table.threshold) >> bits).astype(np.float64) / 2.0**(32 - bits)
    drawn = np.zeros(v)
    np.add.at(drawn, np.arange(v), used[:v] / columns)
    np.add.at(drawn, alias, (1 - used) / columns)
    aliased = np.bincount(alias, minlength=v)
    assert np.all(np.abs(drawn - expected) <= (1 + aliased) * 2.0**-32 + 1e-15)


# --------------------------------------------------------------------------- draws

@pytest.mark.parametrize("formula", ["notes", "word2vec"])
def test_subsampling_keeps_each_word_at_its_rate(formula):
    """Per word, kept ~ Binomial(n_w, k_w): chi-square over the (kept, dropped) cells."""
    ids = np.repeat(np.arange(len(COUNTS)), 20000)            # 240,000 tokens
    keep_prob = keep_probabilities(COUNTS, 1e-2, formula=formula)
    mask = np.asarray(jax.jit(subsample)(jax.random.key(1), jnp.asarray(ids), keep_prob))
    k = np.asarray(keep_prob, np.float64)
    n = np.bincount(ids)
    kept = np.bincount(ids, weights=mask)
    thinned = k < 1
    assert np.all(kept[~thinned] == n[~thinned])              # probability 1: all kept
    obs = np.concatenate([kept[thinned], (n - kept)[thinned]])
    exp = np.concatenate([(n * k)[thinned], (n * (1 - k))[thinned]])
    # 2m cells with m constraints (kept + dropped = n_w): m degrees of freedom
    m = int(thinned.sum())
    assert m >= 4
    assert chisquare(obs, exp, ddof=m - 1).pvalue > 1e-3


def test_subsample_is_deterministic_and_jittable():
    ids = jnp.arange(12) % 3
    keep = jnp.array([0.5, 0.5, 0.5])
    a = subsample(jax.random.key(3), ids, keep)
    b = jax.jit(subsample)(jax.random.key(3), ids, keep)
    assert a.dtype == jnp.bool_ and a.shape == (12,)
    np.testing.assert_array_equal(a, b)


def test_negatives_follow_the_unigram_to_the_three_quarters():
    table = negative_table(COUNTS)
    draws = np.asarray(jax.jit(draw_negatives, static_argnums=2)(
        jax.random.key(2), table, (400, 500)))                # 200,000 draws
    assert draws.dtype == np.int32 and draws.min() >= 0 and draws.max() < len(COUNTS)
    p = COUNTS ** 0.75 / np.sum(COUNTS ** 0.75)
    observed = np.bincount(draws.ravel(), minlength=len(COUNTS))
    assert chisquare(observed, p * draws.size).pvalue > 1e-3


def test_negatives_work_with_any_key_implementation():
    table = negative_table(COUNTS)
    for key in (jax.random.key(0), jax.random.key(0, impl="rbg"), jax.random.PRNGKey(0)):
        draws = np.asarray(draw_negatives(key, table, (100000,)))
        p = COUNTS ** 0.75 / np.sum(COUNTS ** 0.75)
        observed = np.bincount(draws, minlength=len(COUNTS))
        assert chisquare(observed, p * draws.size).pvalue > 1e-3


def test_words_of_count_zero_are_never_drawn():
    draws = np.asarray(draw_negatives(jax.random.key(0), negative_table([5, 0, 5, 0]),
                                      (100000,)))
    assert set(np.unique(draws)) == {0, 2}


def test_windows_are_uniform_on_one_to_window():
    w = np.asarray(dynamic_windows(jax.random.key(4), 100000, 5))
    assert w.dtype == np.int32 and w.min() == 1 and w.max() == 5
    assert chisquare(np.bincount(w, minlength=6)[1:]).pvalue > 1e-3


def test_stratified_windows_balance_each_block_and_stay_uniform_per_position():
    block, window = 10, 5
    w = np.asarray(dynamic_windows(jax.random.key(5), 10 * 100000, window, block=block))
    blocks = w.reshape(-1, block)
    # every block holds each size exactly block / window times ...
    counts = np.stack([np.sum(blocks == k, axis=1) for k in range(1, window + 1)], 1)
    assert np.all(counts == block // window)
    # ... and each position of a block is still uniform on 1..window
    for pos in (0, 7):
        assert chisquare(np.bincount(blocks[:, pos], minlength=6)[1:]).pvalue > 1e-3


@pytest.mark.parametrize("kwargs, match", [
    (dict(n=10, window=0), "window"),
    (dict(n=-1, window=5), "n"),
    (dict(n=10, window=5, block=4), "block"),     # not a multiple of window
    (dict(n=12, window=5, block=10), "block"),    # does not divide n
])
def test_dynamic_windows_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        dynamic_windows(jax.random.key(0), **kwargs)
