"""Word vectors: look-up, cosine neighbours, analogies, the standard evaluations, and the
word2vec.c file formats (text and binary), compatible with word2vec.c and gensim.

:class:`KeyedVectors` follows gensim's ``KeyedVectors`` where both have a method: the same
arithmetic for ``most_similar`` (3CosAdd), ``most_similar_cosmul`` (3CosMul),
``evaluate_word_pairs`` and ``evaluate_analogies`` (gensim's ``evaluate_word_analogies``),
so their numbers agree. Ties between equal scores are broken by the lower word index
(gensim leaves their order to ``numpy.argpartition``). Malformed input files raise
``ValueError`` with the line number where gensim skips the line.

The word2vec format: a header line ``"{v} {dim}\\n"``, then one row per word, either text
``"word x1 x2 ... xdim\\n"`` (each float32 written as its shortest round-trip decimal,
``str(numpy.float32(x))``, exactly as gensim writes it) or binary ``"word "`` followed by
``dim`` little-endian float32 values and ``"\\n"`` (word2vec.c's layout; gensim omits the
``"\\n"``, and both readers accept both).
"""
from __future__ import annotations

import os
from typing import Optional, Sequence, Union

import numpy as np
from numpy.typing import ArrayLike

from nnfunc._checks import check_int
from nnfunc.text._stats import pearson, rankdata

__all__ = ["KeyedVectors"]

PathLike = Union[str, "os.PathLike[str]"]
Words = Union[str, Sequence[str], None]

# Number of analogy questions scored with one matrix product.
_ANALOGY_BATCH = 512


def _as_list(words: Words) -> list[str]:
    if words is None:
        return []
    return [words] if isinstance(words, str) else list(words)


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest scores, best first; equal scores by lower index."""
    n = scores.shape[0]
    if k < n:
        # Every index scoring at least the k-th best is a candidate, so ties at the cut
        # are all kept before the final, deterministic sort.
        kth = scores[np.argpartition(-scores, k - 1)[k - 1]]
        cand = np.flatnonzero(scores >= kth)
    else:
        cand = np.arange(n)
    return cand[np.lexsort((cand, -scores[cand]))][:k]


class KeyedVectors:
    """Word vectors indexed by word: rows of a ``(v, dim)`` float32 matrix.

    Args:
      words: the ``v`` distinct words; row ``i`` of ``vectors`` belongs to ``words[i]``.
        Evaluations with ``restrict_vocab`` assume the most frequent words come first.
      vectors: ``(v, dim)`` array, stored as a read-only float32 copy.

    Raises:
      ValueError: if ``vectors`` is not 2-D with one row per word, or a word repeats or is
        not a non-empty string.

    Example:
      >>> kv = KeyedVectors(['a', 'b', 'c'], [[1, 0], [1, 1], [0, 2]])
      >>> len(kv), kv.dim, kv.index('c'), kv['b'].tolist()
      (3, 2, 2, [1.0, 1.0])
      >>> round(kv.similarity('a', 'b'), 6)
      0.707107
    """

    def __init__(self, words: Sequence[str], vectors: ArrayLike) -> None:
        words = list(words)
        vec = np.array(vectors, dtype=np.float32)
        if vec.ndim != 2 or vec.shape[0] != len(words):
            raise ValueError(f"vectors must have shape (len(words), dim) = ({len(words)}, dim), "
                             f"got {vec.shape}")
        index: dict[str, int] = {}
        for i, w in enumerate(words):
            if not isinstance(w, str) or not w:
                raise ValueError(f"words must be non-empty strings, got {w!r} at position {i}")
            if w in index:
                raise ValueError(f"words must be distinct: {w!r} appears at positions "
                                 f"{index[w]} and {i}")
            index[w] = i
        vec.setflags(write=False)  # the cached norms stay valid
        self.words: list[str] = words
        self.vectors: np.ndarray = vec
        self._index = index
        self._norms: Optional[np.ndarray] = None
        self._normed: Optional[np.ndarray] = None

    # ------------------------------------------------------------------ look-up

    @property
    def dim(self) -> int:
        """The vector dimension.

        Example:
          >>> KeyedVectors(['a'], [[1, 2, 3]]).dim
          3
        """
        return self.vectors.shape[1]

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self._index

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self.index(word)]

    def __repr__(self) -> str:
        return f"KeyedVectors({len(self)} words, dim={self.dim})"

    def index(self, word: str) -> int:
        """The row of ``word``.

        Args:
          word: a word of the vocabulary.

        Returns:
          Its row index in :attr:`vectors`.

        Raises:
          KeyError: if ``word`` is not in the vocabulary (the message names it).

        Example:
          >>> KeyedVectors(['a', 'b'], [[1, 0], [0, 1]]).index('b')
          1
        """
        try:
            return self._index[word]
        except KeyError:
            raise KeyError(f"word {word!r} is not in the vocabulary ({len(self)} words)") from None

    @property
    def norms(self) -> np.ndarray:
        """The Euclidean norm ``‖x‖`` of every row (float32, computed once).

        Example:
          >>> KeyedVectors(['a', 'b'], [[3, 4], [0, 1]]).norms.tolist()
          [5.0, 1.0]
        """
        if self._norms is None:
            self._norms = np.linalg.norm(self.vectors, axis=1)
            self._norms.setflags(write=False)
        return self._norms

    @property
    def normed(self) -> np.ndarray:
        """The vectors scaled to unit length, ``x / ‖x‖`` (float32; zero rows stay zero; cached).

        Scaled in float64 and rounded once, as gensim's ``unitvec`` does, so cosines (and
        :meth:`evaluate_word_pairs`) agree with gensim's to the last bit.

        Example:
          >>> KeyedVectors(['a', 'b'], [[3, 4], [0, 0]]).normed.tolist()
          [[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]
        """
        if self._normed is None:
            x = self.vectors.astype(np.float64)
            n = np.linalg.norm(x, axis=1)
            self._normed = (x * (1.0 / np.where(n > 0, n, 1.0))[:, None]).astype(np.float32)
            self._normed.setflags(write=False)
        return self._normed

    def _safe_norms(self) -> np.ndarray:
        # A zero vector has no direction: dividing by 1 keeps it zero (cosine 0) instead of NaN.
        n = self.norms
        return np.where(n > 0, n, np.float32(1))

    def similarity(self, w1: str, w2: str) -> float:
        """Cosine similarity of two words: ``x₁·x₂ / (‖x₁‖ ‖x₂‖)``.

        Args:
          w1: a word.
          w2: a word.

        Returns:
          The cosine, in ``[-1, 1]`` (0 if either vector is zero).

        Raises:
          KeyError: if a word is not in the vocabulary.

        Example:
          >>> kv = KeyedVectors(['a', 'b'], [[1, 0], [-2, 0]])
          >>> kv.similarity('a', 'b')
          -1.0
        """
        return float(np.dot(self.normed[self.index(w1)], self.normed[self.index(w2)]))

    # ------------------------------------------------------------------ neighbours

    def _mean_direction(self, pos: Sequence[int], neg: Sequence[int]) -> np.ndarray:
        """Unit vector of ``Σ unit(pos) − Σ unit(neg)`` (float32), as gensim computes it."""
        unit = self.normed
        mean = np.zeros(self.dim, np.float32)
        for i in pos:
            mean += unit[i]
        for i in neg:
            mean -= unit[i]
        # gensim divides by the number of words and normalises in float64, then rounds.
        mean = mean / np.float64(len(pos) + len(neg))
        norm = np.linalg.norm(mean)
        return (mean * (1.0 / norm) if norm > 0 else mean).astype(np.float32)

    def _cosines(self, directions: np.ndarray, limit: int) -> np.ndarray:
        """Cosine of the first ``limit`` vectors with unit ``directions``: ``(limit,)`` for
        one direction, ``(n, limit)`` for ``n``."""
        # Matrix times direction(s), as gensim computes it, so near-ties rank the same way.
        dots = self.vectors[:limit] @ directions.T
        return dots.T / self._safe_norms()[:limit]

    def most_similar(self, word: Words = None, topn: int = 10, *, positive: Words = None,
                     negative: Words = None,
                     restrict_vocab: Optional[int] = None) -> list[tuple[str, float]]:
        """The words closest to a word, or to ``Σ positive − Σ negative`` (3CosAdd).

        With unit vectors ``x̂``, the query is ``q = unit(Σ_{p} x̂_p − Σ_{n} x̂_n)`` and each
        candidate ``w`` scores ``cos(x_w, q)``; the query words themselves are left out.
        ``most_similar(positive=['king', 'woman'], negative=['man'])`` answers
        "man is to king as woman is to ?".

        Args:
          word: a word (or list of words), added to ``positive``.
          topn: how many neighbours to return, ``>= 1``.
          positive: words that pull the query towards them.
          negative: words that push it away.
          restrict_vocab: search only the first ``restrict_vocab`` words, ``>= 1``, or
            ``None`` for all.

        Returns:
          ``[(word, cosine), ...]``, best first (equal scores: lower index first).

        Raises:
          KeyError: if a query word is not in the vocabulary (the message names it).
          ValueError: if there is no query word, or ``topn``/``restrict_vocab`` is not a
            positive integer.

        Example:
          >>> kv = KeyedVectors(['a', 'b', 'c', 'd'], [[1, 0], [1, .1], [0, 1], [-1, 0]])
          >>> [w for w, _ in kv.most_similar('a', topn=2)]
          ['b', 'c']
          >>> [(w, round(s, 4)) for w, s in kv.most_similar(positive=['c'], negative=['a'], topn=2)]
          [('d', 0.7071), ('b', -0.6332)]
        """
        topn = check_int("topn", topn, minimum=1)
        limit = len(self)
        if restrict_vocab is not None:
            limit = min(check_int("restrict_vocab", restrict_vocab, minimum=1,
                                  allowed="an integer >= 1 or None"), len(self))
        pos = [self.index(w) for w in _as_list(word) + _as_list(positive)]
        neg = [self.index(w) for w in _as_list(negative)]
        if not pos and not neg:
            raise ValueError("most_similar needs at least one word (word, positive or negative)")
        scores = self._cosines(self._mean_direction(pos, neg), limit)
        exclude = set(pos + neg)
        best = _top(scores, min(topn + len(exclude), limit))
        return [(self.words[i], float(scores[i])) for i in best if i not in exclude][:topn]

    def most_similar_cosmul(self, positive: Words, negative: Words = None,
                            topn: int = 10) -> list[tuple[str, float]]:
        """The words that best fit an analogy by 3CosMul (Levy & Goldberg, 2014).

        With cosines shifted to ``[0, 1]``, ``c(w, x) = (1 + cos(w, x)) / 2``, each candidate
        scores ``Π_{p} c(w, p) / (Π_{n} c(w, n) + 1e-6)`` (gensim's formula); the query words
        are left out.

        Args:
          positive: one or more words (a word or a list).
          negative: words in the denominator (a word, a list or ``None``).
          topn: how many results, ``>= 1``.

        Returns:
          ``[(word, score), ...]``, best first.

        Raises:
          KeyError: if a query word is not in the vocabulary.
          ValueError: if ``positive`` is empty or ``topn < 1``.

        Example:
          >>> kv = KeyedVectors(['a', 'b', 'c', 'd'], [[1, 0], [1, .1], [0, 1], [-1, 0]])
          >>> kv.most_similar_cosmul('a', topn=1)[0][0]
          'b'
        """
        topn = check_int("topn", topn, minimum=1)
        pos = [self.index(w) for w in _as_list(positive)]
        neg = [self.index(w) for w in _as_list(negative)]
        if not pos:
            raise ValueError(f"positive must name at least one word, got {positive!r}")
        shifted = (1 + self._cosines(self.normed[pos + neg], len(self))) / 2
        num = np.prod(shifted[:len(pos)], axis=0)
        den = np.prod(shifted[len(pos):], axis=0) if neg else np.float32(1)
        scores = num / (den + 1e-6)
        exclude = set(pos + neg)
        best = _top(scores, min(topn + len(exclude), len(self)))
        return [(self.words[i], float(scores[i])) for i in best if i not in exclude][:topn]

    # ------------------------------------------------------------------ evaluation

    def _eval_vocab(self, restrict_vocab: int, case_insensitive: bool) -> dict[str, int]:
        """Word → row over the first ``restrict_vocab`` words; with ``case_insensitive`` the
        key is upper-cased and the first (most frequent) case variant wins, as in gensim."""
        restrict_vocab = check_int("restrict_vocab", restrict_vocab, minimum=1)
        vocab: dict[str, int] = {}
        for i, w in enumerate(self.words[:restrict_vocab]):
            vocab.setdefault(w.upper() if case_insensitive else w, i)
        return vocab

    def evaluate_word_pairs(self, path: PathLike, *, restrict_vocab: int = 300000,
                            case_insensitive: bool = True,
                            delimiter: str = "\t") -> tuple[float, float, float]:
        """Correlation of cosine similarities with human judgements (WordSim-353, SimLex-999).

        Each line is ``word1<delimiter>word2<delimiter>score``; lines starting with ``#`` and
        blank lines are skipped. Pairs with a word outside the first ``restrict_vocab``
        words are left out and counted as out-of-vocabulary. Pearson's ``r`` and Spearman's
        ``ρ`` (Pearson's ``r`` of the ranks, ties given their average rank) compare the human
        scores with ``cos(word1, word2)``, as gensim's ``evaluate_word_pairs`` does.

        Args:
          path: the word-pair file (UTF-8).
          restrict_vocab: only the first this many words are looked up, ``>= 1``.
          case_insensitive: compare words upper-cased (the first, most frequent, case
            variant of a word in the vocabulary is used).
          delimiter: the field separator.

        Returns:
          ``(pearson, spearman, oov_percent)``: the two correlations and the percentage of
          pairs left out.

        Raises:
          ValueError: for a malformed line (with its line number), or if no pair is in the
            vocabulary.

        Example:
          >>> import os, tempfile
          >>> path = os.path.join(tempfile.mkdtemp(), 'pairs.tsv')
          >>> lines = ['# w1 w2 score', 'a b 9', 'a c 5', 'a d 1', 'a zzz 3']
          >>> _ = open(path, 'w').write(''.join(l.replace(' ', '\\t') + '\\n' for l in lines))
          >>> kv = KeyedVectors(['a', 'b', 'c', 'd'], [[1, 0], [1, .1], [0, 1], [-1, 0]])
          >>> pearson, spearman, oov = kv.evaluate_word_pairs(path)
          >>> round(pearson, 4), round(spearman, 4), oov
          (1.0, 1.0, 25.0)
        """
        if not isinstance(delimiter, str) or not delimiter:
            raise ValueError(f"delimiter must be a non-empty string, got {delimiter!r}")
        vocab = self._eval_vocab(restrict_vocab, case_insensitive)
        gold, model = [], []
        oov = 0
        unit = self.normed
        with open(path, encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip() or line.startswith("#"):
                    continue
                parts = line.rstrip("\r\n").split(delimiter)
                try:
                    if len(parts) != 3:
                        raise ValueError
                    score = float(parts[2])
                except ValueError:
                    raise ValueError(f"{str(path)!r} line {line_no}: expected 3 fields word1, "
                                     f"word2, score separated by {delimiter!r}, got "
                                     f"{line.rstrip()!r}") from None
                a, b = (p.strip().upper() if case_insensitive else p.strip() for p in parts[:2])
                if a not in vocab or b not in vocab:
                    oov += 1
                    continue
                gold.append(score)
                model.append(float(np.dot(unit[vocab[a]], unit[vocab[b]])))
        if not gold:
            raise ValueError(f"no word pair of {str(path)!r} is in the first {restrict_vocab} "
                             f"words of the vocabulary ({oov} pairs out of vocabulary)")
        gold_arr, model_arr = np.array(gold), np.array(model)
        linear = pearson(gold_arr, model_arr)
        spearman = pearson(rankdata(gold_arr), rankdata(model_arr))
        return linear, spearman, 100.0 * oov / (len(gold) + oov)

    def evaluate_analogies(self, path: PathLike, restrict_vocab: int = 30000,
                           case_insensitive: bool = True) -> tuple[float, list[dict]]:
        """Accuracy on analogy questions ``a : b :: c : ?`` (Google ``questions-words.txt``).

        The file has ``: section`` header lines and question lines ``a b c d``. Questions
        with a word outside the first ``restrict_vocab`` words are skipped; the answer to
        the others is the best 3CosAdd word, ``argmax_w cos(x_w, unit(x̂_b + x̂_c − x̂_a))``
        among the first ``restrict_vocab`` words other than ``a``, ``b`` and ``c`` (gensim's
        ``evaluate_word_analogies`` and word2vec.c's ``compute-accuracy``).

        Args:
          path: the analogy file (UTF-8).
          restrict_vocab: the size of the searched vocabulary, ``>= 1``.
          case_insensitive: compare words upper-cased.

        Returns:
          ``(accuracy, sections)``: the overall fraction correct (0.0 if no question was
          evaluated), and a list of ``{'section', 'correct', 'incorrect'}`` dicts (counts)
          per section, ending with ``{'section': 'Total accuracy', ...}``.

        Raises:
          ValueError: for a question line before the first header or without exactly four
            words (with its line number).

        Example:
          >>> import os, tempfile
          >>> path = os.path.join(tempfile.mkdtemp(), 'questions.txt')
          >>> _ = open(path, 'w').write(': toy\\nman king woman queen\\nman king woman apple\\n')
          >>> kv = KeyedVectors(['man', 'king', 'woman', 'queen', 'apple'],
          ...                   [[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 1], [1, -1, 3]])
          >>> accuracy, sections = kv.evaluate_analogies(path)
          >>> accuracy, sections[-1]
          (0.5, {'section': 'Total accuracy', 'correct': 1, 'incorrect': 1})
        """
        vocab = self._eval_vocab(restrict_vocab, case_insensitive)
        limit = min(restrict_vocab, len(self))
        sections: list[dict] = []
        questions: list[tuple[int, tuple[str, ...]]] = []  # (section number, upper words)
        with open(path, encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                if line.startswith(": "):
                    sections.append({"section": line.lstrip(": ").strip(),
                                     "correct": 0, "incorrect": 0})
                    continue
                words = line.split()
                if not words:
                    continue
                if not sections:
                    raise ValueError(f"{str(path)!r} line {line_no}: a question before the "
                                     f"first ': section' header")
                if len(words) != 4:
                    raise ValueError(f"{str(path)!r} line {line_no}: expected 4 words "
                                     f"'a b c d', got {line.rstrip()!r}")
                if case_insensitive:
                    words = [w.upper() for w in words]
                if all(w in vocab for w in words):
                    questions.append((len(sections) - 1, tuple(words)))
        for start in range(0, len(questions), _ANALOGY_BATCH):
            batch = questions[start:start + _ANALOGY_BATCH]
            for (sec, words), ok in zip(batch, self._answer(batch, vocab, limit,
                                                            case_insensitive)):
                sections[sec]["correct" if ok else "incorrect"] += 1
        correct = sum(s["correct"] for s in sections)
        incorrect = sum(s["incorrect"] for s in sections)
        sections.append({"section": "Total accuracy", "correct": correct, "incorrect": incorrect})
        return (correct / (correct + incorrect) if correct + incorrect else 0.0), sections

    def _answer(self, batch: list, vocab: dict[str, int], limit: int,
                case_insensitive: bool) -> list[bool]:
        """Whether each question ``(section, (a, b, c, d))`` is answered correctly."""
        idx = np.array([[vocab[w] for w in words[:3]] for _, words in batch])
        unit = self.normed
        # Same float32 sum order and float64 normalisation as most_similar / gensim.
        mean = (unit[idx[:, 1]] + unit[idx[:, 2]] - unit[idx[:, 0]]) / np.float64(3)
        norm = np.linalg.norm(mean, axis=1, keepdims=True)
        mean = (mean * (1.0 / np.where(norm > 0, norm, 1))).astype(np.float32)
        scores = self._cosines(mean, limit)
        out = []
        for (_, (a, b, c, expected)), row, q in zip(batch, idx, scores):
            exclude = set(row.tolist())
            ranked = [i for i in _top(q, min(5 + len(exclude), limit)) if i not in exclude][:5]
            # gensim takes the first of the top 5 that is not a case variant of a, b or c;
            # if all five are, its loop leaves the last one as the prediction.
            predicted = None
            for i in ranked:
                predicted = self.words[i].upper() if case_insensitive else self.words[i]
                if predicted not in (a, b, c):
                    break
            out.append(predicted == expected)
        return out

    # ------------------------------------------------------------------ files

    def save_word2vec_format(self, path: PathLike, binary: bool = False) -> None:
        """Write the vectors in word2vec.c's format (readable by word2vec.c and gensim).

        Header ``"{v} {dim}\\n"``, then per word either the text row
        ``"word x1 ... xdim\\n"`` (floats as ``str(numpy.float32(x))``: the shortest decimal
        that reads back to the same float32, byte for byte gensim's text output) or, with
        ``binary=True``, ``"word "`` + ``dim`` little-endian float32 values + ``"\\n"``.

        Args:
          path: the file to write.
          binary: write the binary format.

        Raises:
          ValueError: if a word contains whitespace (it could not be read back).

        Example:
          >>> import os, tempfile
          >>> path = os.path.join(tempfile.mkdtemp(), 'vectors.txt')
          >>> KeyedVectors(['a', 'b'], [[0.1, -2], [3e-8, 1]]).save_word2vec_format(path)
          >>> print(open(path).read(), end='')
          2 2
          a 0.1 -2.0
          b 3e-08 1.0
        """
        for w in self.words:
            if len(w.split()) != 1 or w.split()[0] != w:
                raise ValueError(f"cannot save the word {w!r}: words must not contain whitespace")
        vec = self.vectors
        with open(path, "wb") as f:
            f.write(f"{len(self)} {self.dim}\n".encode("utf-8"))
            if binary:
                data = vec.astype("<f4")
                for w, row in zip(self.words, data):
                    f.write(w.encode("utf-8") + b" " + row.tobytes() + b"\n")
            else:
                for w, row in zip(self.words, vec):
                    f.write(f"{w} {' '.join(str(x) for x in row)}\n".encode("utf-8"))

    @classmethod
    def load_word2vec_format(cls, path: PathLike, binary: bool = False, *,
                             chunk_bytes: int = 1 << 20) -> "KeyedVectors":
        """Read vectors in word2vec.c's text or binary format (word2vec.c's, gensim's, ours).

        Text rows may end with spaces (word2vec.c writes ``"%lf "``); binary rows may or may
        not end with ``"\\n"`` (word2vec.c writes one, gensim does not).

        Args:
          path: the file.
          binary: the file is in the binary format.
          chunk_bytes: the bytes read at a time from a binary file, >= 1 (a row may span
            several reads).

        Returns:
          The :class:`KeyedVectors`, in file order.

        Raises:
          FileNotFoundError: if ``path`` does not exist.
          ValueError: for a malformed header or text line (with its line number), a binary
            file that ends inside a row (naming the row and word), rows beyond the count in
            the header, or a repeated word.

        Example:
          >>> import os, tempfile
          >>> path = os.path.join(tempfile.mkdtemp(), 'vectors.bin')
          >>> kv = KeyedVectors(['a', 'b'], [[0.1, -2], [3e-8, 1]])
          >>> kv.save_word2vec_format(path, binary=True)
          >>> back = KeyedVectors.load_word2vec_format(path, binary=True)
          >>> back.words, bool((back.vectors == kv.vectors).all())
          (['a', 'b'], True)
        """
        chunk_bytes = check_int("chunk_bytes", chunk_bytes, minimum=1)
        with open(path, "rb") as f:
            v, dim = _read_header(f, path)
            if binary:
                words, vectors = _read_binary_rows(f, path, v, dim, chunk_bytes)
            else:
                words, vectors = _read_text_rows(f, path, v, dim)
        try:
            return cls(words, vectors)
        except ValueError as err:
            raise ValueError(f"{str(path)!r}: {err}") from None


def _read_header(f, path: PathLike) -> tuple[int, int]:
    line = f.readline()
    parts = line.split()
    try:
        v, dim = (int(p) for p in parts) if len(parts) == 2 else (-1, -1)
    except ValueError:
        v = dim = -1
    if v < 0 or dim < 1:
        raise ValueError(f"{str(path)!r} line 1: expected the header 'vocab_size dim' "
                         f"(integers, dim >= 1), got {line[:80]!r}")
    return v, dim


def _read_text_rows(f, path: PathLike, v: int, dim: int) -> tuple[list[str], np.ndarray]:
    words: list[str] = []
    vectors = np.empty((v, dim), np.float32)
    for line_no, raw in enumerate(f, 2):
        if len(words) == v:
            if raw.strip():
                raise ValueError(f"{str(path)!r} line {line_no}: more rows than the {v} "
                                 f"announced in the header")
            continue
        try:
            parts = raw.decode("utf-8").rstrip().split(" ")
            if len(parts) != dim + 1:
                raise ValueError(f"expected a word and {dim} numbers, got {len(parts) - 1} "
                                 f"numbers")
            vectors[len(words)] = np.array(parts[1:], dtype=np.float32)
        except ValueError as err:  # UnicodeDecodeError is a ValueError too
            raise ValueError(f"{str(path)!r} line {line_no}: {err}: {raw[:80]!r}") from None
        words.append(parts[0])
    if len(words) < v:
        raise ValueError(f"{str(path)!r}: the header announces {v} rows but the file ends "
                         f"after {len(words)}")
    return words, vectors


def _read_binary_rows(f, path: PathLike, v: int, dim: int,
                      chunk_bytes: int) -> tuple[list[str], np.ndarray]:
    nbytes = 4 * dim
    words: list[str] = []
    vectors = np.empty((v, dim), np.float32)
    buf, pos = b"", 0
    for row in range(v):
        while True:
            space = buf.find(b" ", pos)
            if space >= 0 and len(buf) - space - 1 >= nbytes:
                break
            more = f.read(chunk_bytes)
            if not more:
                raise ValueError(_truncated(path, row, v, buf[pos:], nbytes))
            buf, pos = buf[pos:] + more, 0
        # word2vec.c ends each row with "\n", which the next word's read skips.
        try:
            words.append(buf[pos:space].lstrip(b"\n").decode("utf-8"))
        except UnicodeDecodeError as err:
            raise ValueError(f"{str(path)!r}: row {row + 1} of {v}: the word is not UTF-8 "
                             f"({err})") from None
        vectors[row] = np.frombuffer(buf, "<f4", dim, space + 1)
        pos = space + 1 + nbytes
    if buf[pos:].strip() or f.read(chunk_bytes).strip():
        raise ValueError(f"{str(path)!r}: more data after the {v} rows announced in the header")
    return words, vectors


def _truncated(path: PathLike, row: int, v: int, rest: bytes, nbytes: int) -> str:
    """The message for a binary file whose data ``rest`` ends inside row ``row`` (0-based)."""
    if not rest.strip():
        return f"{str(path)!r}: the header announces {v} rows but the file ends after {row}"
    where = f"{str(path)!r}: the file ends inside row {row + 1} of {v}"
    rest = rest.lstrip(b"\n")
    space = rest.find(b" ")
    if space < 0:
        return f"{where}, in its word {rest[:80]!r}"
    name = rest[:space].decode("utf-8", errors="replace")
    return (f"{where} (word {name!r}): its vector has {len(rest) - space - 1} of {nbytes} "
            f"bytes")
