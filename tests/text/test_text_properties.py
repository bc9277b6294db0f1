"""Property tests of ``nf.text``: every bad argument raises a ValueError naming it, valid
arguments give finite results (the kit is ``tests/_property_kit.py``)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from hypothesis import strategies as st

import nnfunc as nf
from _property_kit import (Arg, Entry, bad_kinds, choice, integer, property_tests, real)

SENTS = [["a", "b", "a", "c"], ["b", "a", "d", "a"], ["c", "a", "b", "e"]]
VOCAB = nf.text.Vocab.build(SENTS, min_count=1)


def _w2v_ok(model):
    params = model.init(model.key)
    for leaf in jax.tree_util.tree_leaves(params):
        assert leaf.shape[0] in (len(VOCAB), len(VOCAB) - 1) and bool(jnp.all(jnp.isfinite(leaf)))


TEXT = {
    "Vocab.build": Entry(nf.text.Vocab.build, dict(
        min_count=integer(1, cap=2), max_size=integer(1, cap=4, none_ok=True),
        sentences=Arg(st.just(SENTS), {"str-sentence": st.just(["a b c"]),
                                       "empty": st.just([])}, name="sentence")),
        lambda v: None, dict(sentences=SENTS, min_count=1)),
    "word2vec": Entry(nf.text.word2vec, dict(
        vocab=Arg(st.just(VOCAB), {"None": st.none()}),
        dim=integer(1, cap=8), window=integer(1, cap=4),
        architecture=choice("skipgram", "cbow"),
        output=choice("negative", "hierarchical", "softmax"), negatives=integer(1, cap=5),
        sample=real(0.0, span=1e-2, skip=("list",)), sample_formula=choice("notes", "word2vec")),
        _w2v_ok, dict(vocab=VOCAB, dim=4), examples=6),
}

ENTRIES = {f"text.{k}": v for k, v in TEXT.items()}
BAD_KINDS = bad_kinds(ENTRIES)


test_bad_argument_raises_naming_it, test_valid_arguments_give_finite_results = \
    property_tests(ENTRIES)
