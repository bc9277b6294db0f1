"""Host-side splitting and mini-batching of numpy arrays.

Randomness is explicit: every shuffle takes a ``seed`` (an int, a sequence of ints, a raw
uint32 JAX key such as ``jax.random.PRNGKey(0)``, or a ``numpy.random.Generator``), and
the same seed always gives the same order.
"""
from __future__ import annotations

from typing import Iterator, Optional, Sequence, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike

from nnfunc._checks import check_bool, check_int, is_real

# An int, a sequence of ints (e.g. a raw uint32 JAX key) or a numpy Generator.
SeedLike = Union[int, Sequence[int], np.ndarray, np.random.Generator]

__all__ = ["train_val_split", "batches", "num_batches"]


def _rng(seed: SeedLike) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    arr = np.asarray(seed)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer) or (arr < 0).any():
        raise ValueError("seed must be a non-negative int, a sequence of them, a uint32 JAX "
                         f"key or a numpy Generator, got {seed!r}")
    return np.random.default_rng([int(v) for v in arr.ravel()] if arr.ndim else int(arr))


def _check_arrays(arrays) -> int:
    if not arrays:
        raise ValueError("need at least one array, got none")
    lengths = [np.shape(a)[0] if np.ndim(a) else None for a in arrays]
    if None in lengths:
        raise ValueError("every array needs a leading (sample) axis; got a scalar")
    if len(set(lengths)) != 1:
        raise ValueError(f"arrays must share their leading dimension, got lengths {lengths}")
    return lengths[0]


def train_val_split(*arrays: ArrayLike, val_fraction: float = 0.1, seed: SeedLike = 0,
                    shuffle: bool = True,
                    stratify: Optional[ArrayLike] = None) -> Tuple[tuple, tuple]:
    """Split arrays along their first axis into training and validation parts.

    ``n_val = round(val_fraction * N)`` samples (per class when stratified) go to
    validation, the rest to training, after a seeded permutation.

    Args:
      *arrays: arrays sharing their leading dimension ``N`` (e.g. images, labels).
      val_fraction: fraction of samples for validation, in ``[0, 1)``.
      seed: seed for the permutation (int, ints, uint32 JAX key or numpy Generator).
      shuffle: permute before splitting; if False the last ``n_val`` samples are the
        validation set.
      stratify: optional class labels of length ``N``; each class is split in the same
        proportion (requires ``shuffle=True``).

    Returns:
      ``(train, val)``: two tuples holding the parts of each array, in argument order.

    Example:
      >>> import numpy as np
      >>> from nnfunc.data import train_val_split
      >>> x, y = np.arange(10).reshape(10, 1), np.arange(10)
      >>> (xt, yt), (xv, yv) = train_val_split(x, y, val_fraction=0.2, seed=0)
      >>> xt.shape, xv.shape, sorted(yt.tolist() + yv.tolist()) == list(range(10))
      ((8, 1), (2, 1), True)
    """
    n = _check_arrays(arrays)
    if not (is_real(val_fraction) and 0 <= val_fraction < 1):
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    shuffle = check_bool("shuffle", shuffle)
    if stratify is not None:
        if not shuffle:
            raise ValueError("stratify requires shuffle=True, got shuffle=False")
        stratify = np.asarray(stratify)
        if stratify.shape != (n,):
            raise ValueError(f"stratify must have shape ({n},), got {stratify.shape}")
        rng = _rng(seed)
        val_parts, train_parts = [], []
        for cls in np.unique(stratify):
            members = rng.permutation(np.flatnonzero(stratify == cls))
            k = int(round(val_fraction * members.size))
            val_parts.append(members[:k])
            train_parts.append(members[k:])
        # Mix the classes so neither part comes out sorted by class.
        val_idx = rng.permutation(np.concatenate(val_parts))
        train_idx = rng.permutation(np.concatenate(train_parts))
    else:
        order = _rng(seed).permutation(n) if shuffle else np.arange(n)
        n_val = int(round(val_fraction * n))
        train_idx, val_idx = order[:n - n_val], order[n - n_val:]
    train = tuple(np.asarray(a)[train_idx] for a in arrays)
    val = tuple(np.asarray(a)[val_idx] for a in arrays)
    return train, val


def num_batches(n: int, batch_size: int, *, drop_last: bool = False) -> int:
    """Number of batches :func:`batches` yields for ``n`` samples.

    ``floor(n / batch_size)`` with ``drop_last``, else ``ceil(n / batch_size)``.

    Args:
      n: number of samples (>= 0).
      batch_size: samples per batch (>= 1).
      drop_last: drop a final incomplete batch.

    Returns:
      The batch count.

    Example:
      >>> from nnfunc.data import num_batches
      >>> num_batches(10, 4), num_batches(10, 4, drop_last=True)
      (3, 2)
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    n = check_int("n", n, minimum=0, allowed="an int >= 0")
    return n // batch_size if drop_last else -(-n // batch_size)


def batches(*arrays: ArrayLike, batch_size: int, shuffle: bool = False,
            seed: Optional[SeedLike] = None,
            drop_last: bool = False) -> Iterator[tuple]:
    """Iterate over mini-batches of arrays that share their first axis.

    Batch ``j`` holds samples ``order[j * B : (j + 1) * B]``, where ``order`` is a seeded
    permutation when ``shuffle`` is set and ``0..N-1`` otherwise.

    Args:
      *arrays: arrays sharing their leading dimension ``N``.
      batch_size: samples per batch ``B`` (>= 1).
      shuffle: visit samples in a random order given by ``seed``.
      seed: required when ``shuffle`` is set (int, ints, uint32 JAX key or numpy
        Generator); use a different seed per epoch for a new order each epoch.
      drop_last: skip a final batch smaller than ``batch_size``.

    Returns:
      An iterator of tuples, one slice per input array (a 1-tuple for one array).

    Example:
      >>> import numpy as np
      >>> from nnfunc.data import batches
      >>> [xb.tolist() for (xb,) in batches(np.arange(5), batch_size=2)]
      [[0, 1], [2, 3], [4]]
      >>> [len(yb) for _, yb in batches(np.zeros((5, 3)), np.arange(5), batch_size=2,
      ...                               shuffle=True, seed=0, drop_last=True)]
      [2, 2]
    """
    n = _check_arrays(arrays)
    shuffle = check_bool("shuffle", shuffle)
    drop_last = check_bool("drop_last", drop_last)
    count = num_batches(n, batch_size, drop_last=drop_last)
    if shuffle and seed is None:
        raise ValueError("seed is required when shuffle=True, got seed=None")
    arrays = tuple(np.asarray(a) for a in arrays)
    order = _rng(seed).permutation(n) if shuffle else None
    return _iterate(arrays, order, batch_size, count)


def _iterate(arrays, order, batch_size, count) -> Iterator[tuple]:
    # A separate generator so argument errors in `batches` raise at call time.
    for j in range(count):
        lo, hi = j * batch_size, (j + 1) * batch_size
        if order is None:
            yield tuple(a[lo:hi] for a in arrays)
        else:
            idx = order[lo:hi]
            yield tuple(a[idx] for a in arrays)
