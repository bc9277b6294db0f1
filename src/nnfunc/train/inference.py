"""Inference and export: ``predict`` (jitted, batched, ``train=False``), and
``save_model`` / ``load_model`` for the parameters and model state alone.

A model file is a checkpoint (:mod:`nnfunc.train.checkpoint`) of the pair ``(params,
model_state)`` stored under the same tree paths as a ``TrainState``'s (``.params...``,
``.model_state...``), so ``load_model`` reads the files that the ``Checkpoint`` callback
writes as well, skipping their optimizer state.
"""
from __future__ import annotations

import functools
import os
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from nnfunc._checks import check_int
from nnfunc.layers import Layer
from nnfunc.train.checkpoint import (CheckpointError, decode_entry, read_entries,
                                     save_checkpoint)
from nnfunc.train.state import TrainState

__all__ = ["predict", "save_model", "load_model"]

_PARTS = ("params", "model_state")


class _Model(NamedTuple):
    """What a model file holds; the field names give the ``TrainState`` tree paths."""
    params: Any
    model_state: Any


def _as_pair(state: Any, name: str) -> tuple[Any, Any]:
    if isinstance(state, TrainState):
        return state.params, state.model_state
    if isinstance(state, tuple) and len(state) == 2:
        return state[0], state[1]
    raise TypeError(f"{name} must be a TrainState or a (params, model_state) pair, "
                    f"got {type(state).__name__}")


@functools.lru_cache(maxsize=64)
def _batch_program(model: Layer):
    return jax.jit(lambda p, s, x: model.apply(p, s, x, train=False)[0])


def _check_input(model: Layer, params: Any, state: Any, x: Any) -> None:
    """The model must take ``x``'s per-example shape; the error names it."""
    spec = jax.ShapeDtypeStruct((2,) + tuple(x.shape[1:]), x.dtype)
    try:
        jax.eval_shape(lambda p, s, v: model.apply(p, s, v, train=False), params, state,
                       spec)
    except (ValueError, TypeError) as err:
        raise ValueError(f"predict: {model.name} does not take inputs of shape "
                         f"{tuple(x.shape[1:])} (per example; X is {tuple(x.shape)}): "
                         f"{err}") from None


def predict(model: Layer, state: Any, X: Any, *, batch_size: int = 1024) -> Any:
    r"""The model's outputs on every example of ``X``, in inference mode, one compiled
    program per batch shape.

    .. math:: \hat y_i = f_\theta(x_i)\ \ (\text{train=False}), \qquad i = 1..N

    ``X`` is cut into batches of ``batch_size``; a short last batch is padded to the full
    size (and the padding's outputs dropped), so all batches run the same compiled
    program. Batches are dispatched asynchronously: the host slices the next batch while
    the device works.

    Args:
      model: the ``Layer``.
      state: a ``TrainState`` or a ``(params, model_state)`` pair.
      X: the inputs, ``(N, ...)`` (numpy or jax; ``N >= 0``).
      batch_size: examples per batch, >= 1 (memory, not results, depends on it).

    Returns:
      The outputs stacked over the ``N`` examples (a jax array, or a pytree of them for
      a model with several outputs).

    Raises:
      ValueError: if the model does not take ``X``'s per-example shape, or a bad
        ``batch_size``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import nnfunc as nf
      >>> model = nf.models.mlp([3, 4, 2])
      >>> params, state = model.init(jax.random.key(0), (3,))
      >>> X = jnp.ones((5, 3))
      >>> y = nf.train.predict(model, (params, state), X, batch_size=2)
      >>> y.shape, bool(jnp.allclose(y, model.apply(params, state, X)[0], atol=1e-6))
      ((5, 2), True)
    """
    if not isinstance(model, Layer):
        raise TypeError(f"model must be a Layer, got {type(model).__name__}")
    batch_size = check_int("batch_size", batch_size, minimum=1, allowed="an int >= 1")
    params, model_state = _as_pair(state, "state")
    X = X if isinstance(X, (np.ndarray, jax.Array)) else np.asarray(X)
    if X.ndim < 1:
        raise ValueError(f"X must have a leading example axis, got a scalar {X!r}")
    _check_input(model, params, model_state, X)
    n = X.shape[0]
    run = _batch_program(model)
    size = min(batch_size, n) or 1
    outs = []
    for start in range(0, max(n, 1), size):
        x = X[start:start + size]
        short = size - x.shape[0]
        if short:
            pad = np.zeros((short,) + tuple(X.shape[1:]), X.dtype)
            x = jnp.concatenate([jnp.asarray(x), jnp.asarray(pad)])
        outs.append(run(params, model_state, jnp.asarray(x)))
    if n == 0:
        return jax.tree_util.tree_map(lambda o: o[:0], outs[0])
    return jax.tree_util.tree_map(lambda *o: jnp.concatenate(o)[:n], *outs)


def save_model(path: str | os.PathLike, params: Any, model_state: Any = ()) -> None:
    """Save a model's parameters and state (no optimizer) for inference, atomically.

    The file is a checkpoint of ``(params, model_state)`` under a ``TrainState``'s tree
    paths (see the module notes), with the tree's structure in its header so that
    :func:`load_model` needs no template.

    Args:
      path: the file to write (``.npz`` format; no extension added); its folder must exist.
      params: the parameters.
      model_state: the non-trained state (batch-norm statistics; ``()`` if none).

    Returns:
      None.

    Example:
      >>> import os, tempfile, jax
      >>> import nnfunc as nf
      >>> model = nf.models.mlp([3, 4, 2])
      >>> params, state = model.init(jax.random.key(0), (3,))
      >>> path = os.path.join(tempfile.mkdtemp(), 'model.npz')
      >>> nf.train.save_model(path, params, state)
      >>> p, s = nf.train.load_model(path)
      >>> bool((p[0]['w'] == params[0]['w']).all())
      True
    """
    save_checkpoint(path, _Model(params, model_state))


def _template(like: Any) -> _Model:
    params, state = _as_pair(like, "like")
    return _Model(params, state)


def _first_mismatch(names: list[str], stored: list[str]) -> Optional[str]:
    wanted, have = set(names), set(stored)
    for name in sorted(wanted ^ have):
        where = "missing from the file" if name in wanted else "not in the template"
        return f"{name} ({where})"
    return None


def _rebuild(structure: Any, prefix: str, arrays: dict, dtypes: dict, path: str) -> Any:
    if structure == "leaf":
        return decode_entry(prefix, arrays[prefix], dtypes[prefix], None, path)
    kind = next(iter(structure))
    if kind == "none":
        return None
    if kind == "dict":
        return {k: _rebuild(sub, f"{prefix}[{k!r}]", arrays, dtypes, path)
                for k, sub in structure["dict"]}
    items = structure["items"] if kind == "namedtuple" else structure[kind]
    out = [_rebuild(sub, f"{prefix}[{i}]" if kind != "namedtuple"
                    else f"{prefix}.{structure['fields'][i]}", arrays, dtypes, path)
           for i, sub in enumerate(items)]
    return out if kind == "list" else tuple(out)


def load_model(path: str | os.PathLike, like: Any = None) -> tuple[Any, Any]:
    """Read ``(params, model_state)`` from a :func:`save_model` file or from a training
    checkpoint (``Checkpoint`` callback, ``save_checkpoint`` of a ``TrainState``).

    Without ``like`` the trees are rebuilt from the structure stored in the file (dicts,
    tuples and lists as saved; a named tuple inside the parameters comes back as a plain
    tuple). With ``like`` (a ``TrainState`` or a ``(params, model_state)`` pair, e.g.
    ``model.init(key, input_shape)``) every path, shape and dtype is checked against it
    and the values take its containers.

    Args:
      path: the file.
      like: optional template.

    Returns:
      ``(params, model_state)``.

    Raises:
      CheckpointError: (a ``ValueError``) a missing or damaged file, a file without
        parameters, or one that does not match ``like`` (naming the first mismatching
        path and the shapes/dtypes).

    Example:
      >>> import os, tempfile, jax
      >>> import nnfunc as nf
      >>> model = nf.models.mlp([3, 4, 2])
      >>> ts = nf.train.init_state(model, nf.optim.sgd(0.1), 0, (3,))
      >>> path = os.path.join(tempfile.mkdtemp(), 'ckpt.npz')
      >>> nf.train.save_checkpoint(path, ts)       # a training checkpoint
      >>> params, state = nf.train.load_model(path, like=model.init(jax.random.key(1), (3,)))
      >>> bool((params[2]['b'] == ts.params[2]['b']).all())
      True
    """
    path = os.fspath(path)
    arrays, dtypes, structure = read_entries(path)
    stored = sorted(n for n in arrays if n.split("[", 1)[0] in (".params", ".model_state")
                    or n.startswith((".params.", ".model_state.")))
    if like is not None:
        leaves, treedef = jax.tree_util.tree_flatten_with_path(_template(like))
        names = [jax.tree_util.keystr(p) for p, _ in leaves]
        bad = _first_mismatch(names, stored)
        if bad:
            raise CheckpointError(f"{path!r} does not hold this model: first mismatching "
                                  f"path {bad}")
        out = [decode_entry(n, arrays[n], dtypes[n], leaf, path)
               for n, (_, leaf) in zip(names, leaves)]
        model = jax.tree_util.tree_unflatten(treedef, out)
        return model.params, model.model_state
    fields = structure.get("fields", []) if isinstance(structure, dict) else []
    if not all(f in fields for f in _PARTS):
        raise CheckpointError(f"{path!r} holds no model: expected a file of save_model or "
                              f"a TrainState checkpoint with a stored tree structure "
                              f"(written by this nnfunc); pass like=(params, model_state) "
                              f"for other checkpoints")
    parts = {f: sub for f, sub in zip(fields, structure["items"]) if f in _PARTS}
    return tuple(_rebuild(parts[f], "." + f, arrays, dtypes, path) for f in _PARTS)
