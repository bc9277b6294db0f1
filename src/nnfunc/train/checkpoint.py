"""Portable, atomic checkpoints of any pytree as ``.npz`` files (no pickle).

File layout: one array per leaf, named by its tree path (``jax.tree_util.keystr``, e.g.
``.params[0]['w']``), plus ``__nnfunc_checkpoint__``, a JSON string (a numpy unicode
array) with the format version and each leaf's original dtype. Leaves numpy cannot hold
portably are stored as raw bits: ``bfloat16`` as ``uint16``, typed PRNG keys as their
``uint32`` key data (``jax.random.key_data``). The file loads with
``numpy.load(path, allow_pickle=False)``.

Writing goes to a temporary file in the same folder, flushed to disk, then renamed over
``path`` (``os.replace``, atomic on POSIX and Windows), so a crash mid-write never leaves
a damaged file under the checkpoint's name.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint"]

_META = "__nnfunc_checkpoint__"
_VERSION = 1
# A checkpoint written by fit's Checkpoint callback also holds the run (history, epochs
# done, callbacks' state) in the header's "run" entry, and callbacks' state trees (e.g.
# EarlyStopping's best state) as arrays named with this prefix; loading the state alone
# (load_checkpoint, load_model) skips them.
_RUN = "__nnfunc_run__"


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, truncated, or does not match the template."""


def _is_key(x: Any) -> bool:
    return hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _encode(leaf: Any) -> tuple[np.ndarray, str]:
    """(portable numpy array, original dtype name) for one leaf."""
    if _is_key(leaf):
        return np.asarray(jax.random.key_data(leaf)), "key:" + str(jax.random.key_impl(leaf))
    arr = np.asarray(leaf)
    if arr.dtype == jnp.bfloat16:
        return arr.view(np.uint16), "bfloat16"
    if arr.dtype.kind not in "biufc":      # object, str, bytes, datetime...: not loadable
        raise ValueError(f"checkpoint leaves must be numeric arrays or scalars, got {leaf!r}")
    return arr, arr.dtype.name


def save_checkpoint(path: str | os.PathLike, tree: Any) -> None:
    """Save a pytree (e.g. a ``TrainState``) to ``path`` as an ``.npz``, atomically.

    ``file[keystr(p)] = leaf`` for every leaf at tree path ``p``, plus a JSON header; see the
    module notes for the format. ``path`` is used as given (no extension added).

    Args:
      path: the file to write; its folder must exist.
      tree: a pytree of arrays / numeric scalars (typed PRNG keys and bfloat16 included).

    Returns:
      None.

    Raises:
      ValueError: a leaf that is not numeric (a string, an object), named by its path:
        rejected at save time, since it could not be loaded.
      FileNotFoundError: the directory of ``path`` does not exist.

    Example:
      >>> import os, tempfile, numpy as np, jax.numpy as jnp
      >>> path = os.path.join(tempfile.mkdtemp(), 'ckpt.npz')
      >>> save_checkpoint(path, {'w': jnp.arange(3.0)})
      >>> np.load(path, allow_pickle=False)["['w']"].tolist()
      [0.0, 1.0, 2.0]
    """
    write_checkpoint(path, tree)


def _entries(tree: Any, prefix: str = "") -> tuple[dict, dict]:
    arrays, dtypes = {}, {}
    for p, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        name = prefix + jax.tree_util.keystr(p)
        try:
            arrays[name], dtypes[name] = _encode(leaf)
        except ValueError as err:
            raise ValueError(f"leaf {name}: {err}") from None
    return arrays, dtypes


def write_checkpoint(path: str | os.PathLike, tree: Any, *, run: Any = None,
                     run_trees: Optional[dict] = None) -> None:
    """:func:`save_checkpoint`, plus optionally a fit run: ``run`` (JSON-able, stored in
    the header) and ``run_trees`` (``{name: pytree}``, stored under ``__nnfunc_run__``
    names), read back by :func:`load_run` (and the record alone by :func:`read_run`)."""
    path = os.fspath(path)
    arrays, dtypes = _entries(tree)
    if any(n.startswith((_META, _RUN)) for n in arrays):
        raise ValueError(f"a tree path may not be named {_META!r} or start with {_RUN!r}")
    for name, sub in (run_trees or {}).items():
        more, more_dtypes = _entries(sub, f"{_RUN}{name}")
        arrays.update(more)
        dtypes.update(more_dtypes)
    meta = {"format": "nnfunc-checkpoint", "version": _VERSION, "dtypes": dtypes,
            "structure": describe_structure(tree)}
    if run is not None:
        meta["run"] = run
    arrays[_META] = np.array(json.dumps(meta))
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot save {path!r}: its directory {folder!r} does not "
                                f"exist (create it first, e.g. os.makedirs)")
    fd, tmp = tempfile.mkstemp(prefix=".tmp-" + os.path.basename(path) + "-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def read_run(path: str | os.PathLike) -> Any:
    """The fit run a :class:`~nnfunc.train.Checkpoint` file holds (history, epochs done,
    callbacks' state), or ``None`` for a file written by :func:`save_checkpoint`."""
    return _read(os.fspath(path))[2].get("run")


def load_run(path: str | os.PathLike, like: Any) -> tuple[Any, Any, Callable[[str, Any], Any]]:
    """A :class:`~nnfunc.train.Checkpoint` file, read once: ``(state, run, tree)`` with
    the state in ``like``'s structure (as :func:`load_checkpoint`), the run record
    (:func:`read_run`) and ``tree(name, like)``, the ``run_trees[name]`` that
    :func:`write_checkpoint` stored, in ``like``'s structure."""
    path = os.fspath(path)
    arrays, dtypes, meta = _read(path)

    def tree(name: str, like: Any) -> Any:
        prefix = _RUN + name
        sub = {n[len(prefix):]: a for n, a in arrays.items() if n.startswith(prefix)}
        return _match(path, sub, {n[len(prefix):]: d for n, d in dtypes.items()
                                  if n.startswith(prefix)}, like)
    return _match(path, _saved(arrays), dtypes, like), meta.get("run"), tree


def describe_structure(tree: Any) -> Any:
    """The tree's containers as JSON, so that a file can be read back without a template:
    ``{"dict": [[key, sub], ...]}``, ``{"tuple": [...]}``, ``{"list": [...]}``,
    ``{"namedtuple": name, "fields": [...], "items": [...]}``, ``{"none": 0}`` or
    ``"leaf"``; ``None`` when some node is of another kind (a custom pytree node, a
    dict with non-string keys)."""
    if isinstance(tree, dict):
        if not all(isinstance(k, str) for k in tree):
            return None
        subs = [[k, describe_structure(v)] for k, v in sorted(tree.items())]
        return None if any(v is None for _, v in subs) else {"dict": subs}
    if isinstance(tree, (tuple, list)):
        subs = [describe_structure(v) for v in tree]
        if any(v is None for v in subs):
            return None
        if isinstance(tree, tuple) and hasattr(tree, "_fields"):
            return {"namedtuple": type(tree).__name__, "fields": list(tree._fields),
                    "items": subs}
        return {"tuple" if isinstance(tree, tuple) else "list": subs}
    if tree is None:
        return {"none": 0}
    return "leaf" if jax.tree_util.treedef_is_leaf(jax.tree_util.tree_structure(tree)) \
        else None


def read_entries(path: str | os.PathLike) -> tuple[dict, dict, Any]:
    """``(arrays, dtypes, structure)`` of a checkpoint file: its arrays by tree path, their
    original dtypes and :func:`describe_structure` of the saved tree (``None`` if the
    file has none); :class:`CheckpointError` for a missing or damaged file."""
    arrays, dtypes, meta = _read(os.fspath(path))
    return _saved(arrays), dtypes, meta.get("structure")


def decode_entry(name: str, arr: np.ndarray, dtype: str, like: Any, path: str) -> Any:
    """One stored leaf as the value ``like`` describes (checked: shape, dtype, PRNG key
    implementation); ``like=None`` takes the stored shape and dtype as they are."""
    if like is None:
        if dtype.startswith("key:"):
            return jax.random.wrap_key_data(jnp.asarray(arr), impl=dtype[4:])
        return jnp.asarray(arr.view(jnp.bfloat16) if dtype == "bfloat16" else arr)
    return _decode(name, arr, dtype, like, path)


def _read(path: str) -> tuple[dict, dict, dict]:
    """All arrays, the dtype table and the header of a checkpoint file (one read), or
    CheckpointError."""
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}    # reading each member checks its CRC
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as err:
        raise CheckpointError(f"checkpoint {path!r} is corrupt or truncated "
                              f"({type(err).__name__}: {err})") from None
    if _META not in arrays:
        raise CheckpointError(f"{path!r} is not an nnfunc checkpoint (no {_META} entry)")
    try:
        meta = json.loads(str(arrays.pop(_META)))
        dtypes = dict(meta["dtypes"])
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"checkpoint {path!r} has a damaged header ({err})") from None
    if meta.get("version") != _VERSION:
        raise CheckpointError(f"checkpoint {path!r} has format version {meta.get('version')},"
                              f" this nnfunc reads version {_VERSION}")
    return arrays, dtypes, meta


def _saved(arrays: dict) -> dict:
    """The arrays of the saved tree, without a fit run's trees."""
    return {n: a for n, a in arrays.items() if not n.startswith(_RUN)}


def _decode(name: str, arr: np.ndarray, dtype: str, like: Any, path: str) -> Any:
    if _is_key(like):
        impl = str(jax.random.key_impl(like))
        if dtype != "key:" + impl:
            raise CheckpointError(f"checkpoint {path!r}: leaf {name} is {dtype!r}, the "
                                  f"template expects a PRNG key of impl {impl!r}")
        expected = jax.random.key_data(like).shape
        if arr.shape != expected:
            raise CheckpointError(f"checkpoint {path!r}: key {name} has data shape "
                                  f"{arr.shape}, the template expects {expected}")
        return jax.random.wrap_key_data(jnp.asarray(arr), impl=jax.random.key_impl(like))
    like_dtype = like.dtype if hasattr(like, "dtype") else np.asarray(like).dtype
    if dtype != np.dtype(like_dtype).name:
        raise CheckpointError(f"checkpoint {path!r}: leaf {name} has dtype {dtype}, the "
                              f"template expects {np.dtype(like_dtype).name}")
    if dtype == "bfloat16":
        arr = arr.view(jnp.bfloat16)
    like_shape = tuple(like.shape) if hasattr(like, "shape") else np.shape(like)
    if arr.shape != like_shape:
        raise CheckpointError(f"checkpoint {path!r}: leaf {name} has shape {arr.shape}, the "
                              f"template expects {like_shape}")
    if isinstance(like, (bool, int, float, complex)):
        return type(like)(arr.item())
    if isinstance(like, np.ndarray):
        return arr
    return jnp.asarray(arr)


def load_checkpoint(path: str | os.PathLike, like: Any) -> Any:
    """Load a checkpoint into the structure of ``like``, checking paths, shapes and dtypes.

    ``out[p] = file[keystr(p)]`` for every tree path ``p`` of ``like``; the file must hold
    exactly these paths, each with ``like``'s shape and dtype.

    Args:
      path: a file written by :func:`save_checkpoint`.
      like: a template pytree with the expected structure (e.g. a fresh ``init_state``;
        abstract ``jax.ShapeDtypeStruct`` leaves work too, except for PRNG keys).

    Returns:
      A pytree like ``like`` holding the saved values (jax arrays; numpy arrays and
      Python scalars where ``like`` has them).

    Raises:
      CheckpointError: (a ``ValueError``) missing, corrupt or truncated file, or a
        structure / shape / dtype mismatch, naming the offending leaf.

    Example:
      >>> import os, tempfile, jax.numpy as jnp
      >>> path = os.path.join(tempfile.mkdtemp(), 'ckpt.npz')
      >>> save_checkpoint(path, {'w': jnp.arange(3.0)})
      >>> load_checkpoint(path, {'w': jnp.zeros(3)})['w']
      Array([0., 1., 2.], dtype=float32)
    """
    path = os.fspath(path)
    arrays, dtypes, _ = _read(path)
    return _match(path, _saved(arrays), dtypes, like)


def _match(path: str, arrays: dict, dtypes: dict, like: Any) -> Any:
    leaves, treedef = jax.tree_util.tree_flatten_with_path(like)
    names = [jax.tree_util.keystr(p) for p, _ in leaves]
    missing = [n for n in names if n not in arrays]
    extra = [n for n in arrays if n not in set(names)]
    if missing or extra:
        raise CheckpointError(f"checkpoint {path!r} does not match the template's structure: "
                              f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                              f"unexpected {extra[:5]}{'...' if len(extra) > 5 else ''}")
    out = [_decode(n, arrays[n], dtypes.get(n, arrays[n].dtype.name), leaf, path)
           for n, (_, leaf) in zip(names, leaves)]
    return jax.tree_util.tree_unflatten(treedef, out)
