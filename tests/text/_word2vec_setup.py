"""Shared set-up of the word2vec tests: a small vocabulary, a corpus of planted topics and
the architecture x output combinations."""
import itertools

import numpy as np

from nnfunc.text import Vocab

COMBOS = list(itertools.product(["skipgram", "cbow"], ["negative", "hierarchical", "softmax"]))


def small_vocab(v=12, seed=0):
    counts = np.sort(np.random.default_rng(seed).integers(1, 200, v))[::-1]
    return Vocab([f"w{i}" for i in range(v)], counts)


def topic_corpus(topics=6, size=10, sentences=300, length=12, seed=0):
    """Sentences drawn from one topic at a time: word t*size + i belongs to topic t."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(sentences):
        t = rng.integers(topics)
        out.append([f"t{t}w{i}" for i in rng.integers(0, size, length)])
    return out
