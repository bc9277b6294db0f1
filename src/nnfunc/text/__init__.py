"""Text: word2vec's corpus, vocabulary, Huffman tree, on-device sampling, training and
word vectors.

Corpora are streamed from disk one sentence (line) at a time; :class:`Vocab` counts and
sorts the words; :func:`huffman_tree` builds word2vec.c's tree for hierarchical softmax;
:class:`KeyedVectors` looks up, compares and evaluates the trained vectors and reads and
writes word2vec.c's file formats.

    >>> from nnfunc import text
    >>> vocab = text.Vocab.build([['a', 'b', 'a'], ['a', 'c', 'b']], min_count=1)
    >>> vocab.words, text.huffman_tree(vocab.counts).lengths.tolist()
    (['a', 'b', 'c'], [1, 2, 2])
"""
from nnfunc.text.corpus import Corpus, Vocab, read_corpus
from nnfunc.text.huffman import HuffmanTree, huffman_tree
from nnfunc.text.vectors import KeyedVectors
from nnfunc.text.sampling import (draw_negatives, dynamic_windows, keep_probabilities,
                                  negative_table, subsample)
from nnfunc.text._word2vec import Word2Vec, Word2VecResult, train_word2vec, word2vec

__all__ = [
    "Corpus", "Vocab", "read_corpus",
    "HuffmanTree", "huffman_tree",
    "KeyedVectors",
    "keep_probabilities", "subsample", "dynamic_windows", "negative_table", "draw_negatives",
    "Word2Vec", "Word2VecResult", "word2vec", "train_word2vec",
]
