"""The Huffman tree of hierarchical softmax, built exactly as word2vec.c's ``CreateBinaryTree``.

Hierarchical softmax replaces the ``v``-way softmax over the vocabulary by a binary tree
whose ``v`` leaves are the words and whose ``v − 1`` inner nodes each own an output
vector ``u_k``. The probability of word ``w`` given a hidden vector ``h`` is the product of
the binary decisions on the path from the root to its leaf::

    P(w | h) = Π_{d < L_w} σ((1 − 2·code_d) · u_{point_d} · h)

where ``point_d`` is the ``d``-th inner node on the path (``point_0`` is the root) and
``code_d`` the branch taken there (word2vec.c trains ``σ(u·h)`` towards the label
``1 − code_d``). The two children of a node get probabilities ``σ(x)`` and ``σ(−x)``, so the
leaf probabilities sum to 1 for any ``h``. A Huffman tree makes frequent words' paths short:
the expected path length ``Σ_w p_w L_w`` is the smallest possible.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["HuffmanTree", "huffman_tree"]


class HuffmanTree(NamedTuple):
    """Root-to-leaf paths of a Huffman tree, one row per word (rows padded with 0).

    Attributes:
      codes: int8 ``(v, max_depth)``: ``codes[w, d]`` (0 or 1) is the branch taken at
        ``points[w, d]``; the path's binary code.
      points: int32 ``(v, max_depth)``: inner nodes on the path, in ``[0, v − 2]``;
        ``points[w, 0]`` is the root ``v − 2``.
      lengths: int32 ``(v,)``: the code length ``L_w`` (entries ``>= L_w`` are padding).

    Example:
      >>> tree = huffman_tree([4, 2, 1])
      >>> w = 2   # the rarest word: two decisions, at the root (1) and then at node 0
      >>> tree.points[w, :tree.lengths[w]].tolist(), tree.codes[w, :tree.lengths[w]].tolist()
      ([1, 0], [0, 0])
    """

    codes: np.ndarray
    points: np.ndarray
    lengths: np.ndarray


def _check_counts(counts: ArrayLike) -> np.ndarray:
    arr = np.asarray(counts)
    if arr.ndim != 1 or arr.size < 2:
        raise ValueError(f"counts must be a 1-D array of at least 2 word counts (a tree needs "
                         f">= 2 words), got shape {arr.shape}")
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or
                                 (np.issubdtype(arr.dtype, np.floating)
                                  and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)))):
        raise ValueError(f"counts must be positive integers, got {counts!r}")
    arr = arr.astype(np.int64)
    if (arr < 1).any():
        raise ValueError(f"counts must be positive integers, got {counts!r}")
    return arr


def _merge(count: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """word2vec.c's merge loop on counts sorted descending: ``(parent, binary)`` of each of
    the ``2v − 1`` nodes (leaves ``0..v−1``, inner node ``k`` at ``v + k``, root ``2v − 2``)."""
    v = len(count)
    # Leaves are consumed from pos1 downwards (smallest first); inner nodes are created in
    # increasing order of count, so they form a second sorted queue read from pos2 upwards.
    # Unbuilt inner nodes count as +inf (word2vec.c: 1e15).
    count = count + [float("inf")] * v
    parent = [0] * (2 * v)
    binary = [0] * (2 * v)
    pos1, pos2 = v - 1, v
    for a in range(v - 1):
        mins = []
        for _ in range(2):
            # Strict '<': on a tie the inner node wins, as in word2vec.c.
            if pos1 >= 0 and count[pos1] < count[pos2]:
                mins.append(pos1)
                pos1 -= 1
            else:
                mins.append(pos2)
                pos2 += 1
        count[v + a] = count[mins[0]] + count[mins[1]]
        parent[mins[0]] = parent[mins[1]] = v + a
        binary[mins[1]] = 1
    return np.array(parent[:2 * v - 1], np.int64), np.array(binary[:2 * v - 1], np.int8)


def huffman_tree(counts: ArrayLike) -> HuffmanTree:
    """Build the Huffman tree of hierarchical softmax from word counts, as word2vec.c does.

    Words are taken in descending count order (a stable sort, so a vocabulary already
    sorted most-frequent-first is used as is); the two smallest nodes are merged
    repeatedly, the smaller becoming branch 0 and the second-smallest branch 1
    (``binary[min2i] = 1``), and on equal counts an inner node is merged before a leaf.
    Inner node ``k`` (``0 ≤ k ≤ v − 2``) is the ``k``-th one created, so the root is
    ``v − 2``. Under the tree, ``P(w | h) = Π_d σ((1 − 2·codes[w, d]) · u_{points[w, d]} · h)``
    for ``d < lengths[w]``.

    Args:
      counts: ``(v,)`` positive integer word counts, ``v >= 2``, in vocabulary order.

    Returns:
      A :class:`HuffmanTree` with rows in the order of ``counts``.

    Raises:
      ValueError: if there are fewer than 2 words or a count is not a positive integer.

    Example:
      >>> tree = huffman_tree([5, 3, 1, 1])
      >>> tree.lengths.tolist()
      [1, 2, 3, 3]
      >>> tree.codes.tolist()
      [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]]
      >>> tree.points.tolist()
      [[2, 0, 0], [2, 1, 0], [2, 1, 0], [2, 1, 0]]
    """
    counts = _check_counts(counts)
    v = len(counts)
    order = np.argsort(-counts, kind="stable")
    parent, binary = _merge(counts[order].tolist())

    # Depths top-down: every node is created after its children, so its parent has a
    # larger index and is visited first when going from the root downwards.
    depth = np.zeros(2 * v - 1, np.int64)
    par = parent.tolist()
    dep = depth.tolist()
    for n in range(2 * v - 3, -1, -1):
        dep[n] = dep[par[n]] + 1
    lengths = np.array(dep[:v], np.int64)
    max_depth = int(lengths.max())

    # Walk all leaves up to the root at once, filling each path from its end.
    codes = np.zeros((v, max_depth), np.int8)
    points = np.zeros((v, max_depth), np.int32)
    rows = np.arange(v)
    node = np.arange(v)
    pos = lengths - 1
    while rows.size:
        codes[rows, pos] = binary[node]
        points[rows, pos] = parent[node] - v
        node, pos = parent[node], pos - 1
        keep = pos >= 0
        rows, node, pos = rows[keep], node[keep], pos[keep]

    # Back to the caller's word order.
    inverse = np.empty(v, np.int64)
    inverse[order] = np.arange(v)
    return HuffmanTree(codes[inverse], points[inverse], lengths[inverse].astype(np.int32))
