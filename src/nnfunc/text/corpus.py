"""Text corpora and vocabularies for word2vec: a streamed, re-iterable corpus of sentences
and a frequency-sorted :class:`Vocab` with word2vec.c's ``-save-vocab`` file format.

A corpus file holds one sentence per line, tokens separated by whitespace (Python's
``str.split()``). :func:`read_corpus` never loads the whole file: each ``iter()`` re-opens
it and yields one ``list[str]`` per non-empty line, so a multi-gigabyte corpus can be
passed over once to count words and again for every training epoch.

Unlike word2vec.c, line ends are not turned into a ``</s>`` token: a sentence is a line.
"""
from __future__ import annotations

import collections
import os
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence, Union

import numpy as np

from nnfunc._checks import check_int

__all__ = ["Corpus", "read_corpus", "Vocab"]

PathLike = Union[str, "os.PathLike[str]"]


class Corpus:
    """A re-iterable, lazily read corpus: one ``list[str]`` of tokens per non-empty line.

    Each ``iter()`` re-opens the file and reads it line by line (UTF-8), so memory use
    does not grow with the file. Build one with :func:`read_corpus`.

    Args:
      path: the corpus file.
      lowercase: lowercase every line before splitting it.

    Example:
      >>> import os, tempfile
      >>> path = os.path.join(tempfile.mkdtemp(), 'corpus.txt')
      >>> _ = open(path, 'w').write('the cat sat\\n\\nthe dog\\n')
      >>> corpus = Corpus(path)
      >>> list(corpus)
      [['the', 'cat', 'sat'], ['the', 'dog']]
      >>> list(corpus) == list(corpus)   # re-iterable: each pass re-reads the file
      True
    """

    def __init__(self, path: PathLike, *, lowercase: bool = False) -> None:
        self.path = Path(path)
        self.lowercase = bool(lowercase)
        if not self.path.is_file():
            raise FileNotFoundError(f"corpus file not found: {str(self.path)!r}")

    def __iter__(self) -> Iterator[list[str]]:
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                tokens = (line.lower() if self.lowercase else line).split()
                if tokens:
                    yield tokens

    def __repr__(self) -> str:
        return f"Corpus({str(self.path)!r}, lowercase={self.lowercase})"


def read_corpus(path: PathLike, *, lowercase: bool = False) -> Corpus:
    """Open a text corpus with one sentence per line and whitespace-separated tokens.

    Nothing is read yet: the returned :class:`Corpus` streams the file on each iteration
    (empty lines are skipped).

    Args:
      path: the corpus file (UTF-8).
      lowercase: lowercase the text before splitting.

    Returns:
      A re-iterable :class:`Corpus` yielding ``list[str]`` sentences.

    Raises:
      FileNotFoundError: if ``path`` is not a file (the message names it).

    Example:
      >>> import os, tempfile
      >>> path = os.path.join(tempfile.mkdtemp(), 'corpus.txt')
      >>> _ = open(path, 'w').write('The cat\\nthe  DOG   barks\\n')
      >>> [s for s in read_corpus(path, lowercase=True)]
      [['the', 'cat'], ['the', 'dog', 'barks']]
    """
    return Corpus(path, lowercase=lowercase)


def _check_sentence(sentence: object) -> None:
    # A plain string would be counted character by character: a silent, common mistake.
    if isinstance(sentence, str):
        raise ValueError("sentences must be lists of tokens, got the string "
                         f"{sentence[:40]!r}; split it (str.split) or use read_corpus")


class Vocab:
    """A vocabulary: words with their corpus counts, most frequent first.

    Order rule (:meth:`build`): descending count; equal counts keep the order in which the
    words first occur in the corpus (a stable sort of the first-occurrence order). A word's
    id is its position in :attr:`words`.

    Attributes:
      words: the words, ``list[str]``.
      counts: int64 array of their counts, aligned with ``words``.
      total: sum of ``counts`` (the number of corpus tokens that are in the vocabulary).

    Args:
      words: distinct words (any order; :meth:`build` gives them most frequent first).
      counts: a non-negative integer count per word.

    Raises:
      ValueError: if lengths differ, a word repeats or is not a non-empty string, or a
        count is negative or not an integer.

    Example:
      >>> vocab = Vocab(['the', 'cat'], [3, 1])
      >>> len(vocab), vocab.index('cat'), 'dog' in vocab, vocab.total
      (2, 1, False, 4)
    """

    def __init__(self, words: Sequence[str], counts: Sequence[int]) -> None:
        words = list(words)
        counts_arr = np.asarray(counts)
        if counts_arr.ndim != 1 or len(counts_arr) != len(words):
            raise ValueError(f"counts must be a 1-D sequence with one count per word "
                             f"({len(words)}), got shape {counts_arr.shape}")
        if len(words) and (not np.issubdtype(counts_arr.dtype, np.integer)
                           or counts_arr.dtype == bool or (counts_arr < 0).any()):
            raise ValueError(f"counts must be non-negative integers, got {counts!r}")
        index: dict[str, int] = {}
        for i, w in enumerate(words):
            if not isinstance(w, str) or not w:
                raise ValueError(f"words must be non-empty strings, got {w!r} at position {i}")
            if w in index:
                raise ValueError(f"words must be distinct: {w!r} appears at positions "
                                 f"{index[w]} and {i}")
            index[w] = i
        self.words: list[str] = words
        self.counts: np.ndarray = counts_arr.astype(np.int64)
        self.total: int = int(self.counts.sum())
        self._index = index

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], min_count: int = 5,
              max_size: Optional[int] = None) -> "Vocab":
        """Count the tokens of a corpus and keep the frequent words, most frequent first.

        Words seen fewer than ``min_count`` times are dropped; then at most ``max_size``
        words are kept (the most frequent, in the order rule of :class:`Vocab`).

        Args:
          sentences: an iterable of token lists (e.g. a :class:`Corpus`); read once.
          min_count: smallest count a word needs to be kept, ``>= 1``.
          max_size: largest vocabulary size, ``>= 1``, or ``None`` for no limit.

        Returns:
          The :class:`Vocab`.

        Raises:
          ValueError: for ``min_count < 1`` or ``max_size < 1``, a sentence given as a
            string, a corpus with no tokens, or a ``min_count`` that drops every word (the
            message says how many words and tokens were dropped).

        Example:
          >>> vocab = Vocab.build([['a', 'b', 'a'], ['c', 'b', 'a']], min_count=2)
          >>> vocab.words, vocab.counts.tolist(), vocab.total
          (['a', 'b'], [3, 2], 5)
        """
        min_count = check_int("min_count", min_count, minimum=1)
        if max_size is not None:
            max_size = check_int("max_size", max_size, minimum=1,
                                 allowed="an integer >= 1 or None")
        counter: collections.Counter[str] = collections.Counter()
        for sentence in sentences:
            _check_sentence(sentence)
            counter.update(sentence)
        if not counter:
            raise ValueError("the corpus has no tokens: every sentence is empty")
        # Counter keeps first-occurrence order and sorted() is stable: ties stay in that order.
        items = sorted(counter.items(), key=lambda wc: -wc[1])
        kept = [(w, c) for w, c in items if c >= min_count]
        if not kept:
            raise ValueError(
                f"min_count={min_count} drops every word: all {len(counter)} distinct words "
                f"({sum(counter.values())} tokens) occur fewer than {min_count} times (the most "
                f"frequent occurs {items[0][1]} times); use a lower min_count")
        kept = kept[:max_size]
        return cls([w for w, _ in kept], np.array([c for _, c in kept], np.int64))

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self._index

    def __repr__(self) -> str:
        return f"Vocab({len(self)} words, {self.total} tokens)"

    def index(self, word: str) -> int:
        """The id of ``word`` (its position in :attr:`words`).

        Args:
          word: a word of the vocabulary.

        Returns:
          The integer id.

        Raises:
          KeyError: if ``word`` is not in the vocabulary (the message names it).

        Example:
          >>> Vocab(['the', 'cat'], [3, 1]).index('cat')
          1
        """
        try:
            return self._index[word]
        except KeyError:
            raise KeyError(f"word {word!r} is not in the vocabulary ({len(self)} words)") from None

    def encode(self, sentences: Iterable[Sequence[str]]) -> list[np.ndarray]:
        """Turn sentences into arrays of word ids, dropping out-of-vocabulary tokens.

        Dropping (not replacing) unknown words is what word2vec.c does, so the words on
        either side of a dropped word become neighbours. Every input sentence gives one
        array, possibly empty.

        Args:
          sentences: an iterable of token lists.

        Returns:
          A list of int32 arrays of ids, one per sentence.

        Example:
          >>> vocab = Vocab(['the', 'cat'], [3, 1])
          >>> [ids.tolist() for ids in vocab.encode([['the', 'big', 'cat'], ['dog']])]
          [[0, 1], []]
        """
        index = self._index
        out = []
        for sentence in sentences:
            _check_sentence(sentence)
            ids = [index[t] for t in sentence if t in index]
            out.append(np.array(ids, dtype=np.int32))
        return out

    def decode(self, ids: Iterable[int]) -> list[str]:
        """The words of a sequence of ids.

        Args:
          ids: integer ids in ``[0, len(self))``.

        Returns:
          The list of words.

        Raises:
          ValueError: if an id is outside ``[0, len(self))``.

        Example:
          >>> Vocab(['the', 'cat'], [3, 1]).decode([1, 0, 1])
          ['cat', 'the', 'cat']
        """
        arr = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids)
        if arr.size and (not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0
                         or arr.max() >= len(self)):
            raise ValueError(f"ids must be integers in [0, {len(self)}), got {ids!r}")
        return [self.words[i] for i in arr.ravel().tolist()]

    def save(self, path: PathLike) -> None:
        """Write the vocabulary in word2vec.c's ``-save-vocab`` format: ``word count`` lines.

        Each line is ``f"{word} {count}\\n"`` (UTF-8), in vocabulary order, so
        :meth:`load` restores the same words, counts and order.

        Args:
          path: the file to write.

        Raises:
          ValueError: if a word contains whitespace (it could not be read back).

        Example:
          >>> import os, tempfile
          >>> path = os.path.join(tempfile.mkdtemp(), 'vocab.txt')
          >>> Vocab(['the', 'cat'], [3, 1]).save(path)
          >>> open(path).read()
          'the 3\\ncat 1\\n'
        """
        for w in self.words:
            if len(w.split()) != 1 or w.split()[0] != w:
                raise ValueError(f"cannot save the word {w!r}: words must not contain whitespace")
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.writelines(f"{w} {c}\n" for w, c in zip(self.words, self.counts.tolist()))

    @classmethod
    def load(cls, path: PathLike) -> "Vocab":
        """Read a vocabulary written by :meth:`save` or by word2vec.c's ``-save-vocab``.

        Each non-empty line must be ``word count`` with a non-negative integer count; words
        keep the file's order.

        Args:
          path: the vocabulary file (UTF-8).

        Returns:
          The :class:`Vocab`.

        Raises:
          FileNotFoundError: if ``path`` does not exist.
          ValueError: for a malformed line or a repeated word (the message gives the line
            number).

        Example:
          >>> import os, tempfile
          >>> path = os.path.join(tempfile.mkdtemp(), 'vocab.txt')
          >>> _ = open(path, 'w').write('the 3\\ncat 1\\n')
          >>> Vocab.load(path)
          Vocab(2 words, 4 tokens)
        """
        words: list[str] = []
        counts: list[int] = []
        seen: dict[str, int] = {}
        with open(path, encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) != 2 or not (parts[1].isascii() and parts[1].isdigit()):
                    raise ValueError(f"{str(path)!r} line {line_no}: expected 'word count' with a "
                                     f"non-negative integer count, got {line.rstrip()!r}")
                if parts[0] in seen:
                    raise ValueError(f"{str(path)!r} line {line_no}: the word {parts[0]!r} "
                                     f"already appeared on line {seen[parts[0]]}")
                seen[parts[0]] = line_no
                words.append(parts[0])
                counts.append(int(parts[1]))
        return cls(words, np.array(counts, dtype=np.int64))
