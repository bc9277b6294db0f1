"""``summary``: a model's layers, output shapes and parameter counts (Keras's
``model.summary()``), found by abstract evaluation."""
from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from nnfunc.layers._base import Layer, layer_shapes

__all__ = ["Summary", "summary"]


def _count(tree: Any) -> int:
    return sum(int(np.prod(a.shape)) for a in jax.tree_util.tree_leaves(tree))


def _bytes(tree: Any) -> int:
    return sum(int(np.prod(a.shape)) * jnp.dtype(a.dtype).itemsize
               for a in jax.tree_util.tree_leaves(tree))


class Summary(str):
    """The table :func:`summary` prints (a ``str``), with its numbers as attributes.

    Attributes:
      rows: one dict per innermost layer, in execution order: ``{'layer', 'output_shape',
        'params', 'state'}`` (``output_shape`` without the batch axis, a tuple, or a tree
        of tuples for layers with several outputs; ``params``/``state`` element counts).
      total_params: elements in the model's whole parameter tree.
      total_state: elements in its non-trained state (e.g. batch-norm statistics).
      param_bytes: the parameters' size in bytes.
      input_shape, output_shape: the model's, without the batch axis.
    """
    rows: list
    total_params: int
    total_state: int
    param_bytes: int
    input_shape: tuple
    output_shape: Any


def _shape_text(shape: Any) -> str:
    return str(shape) if isinstance(shape, tuple) and all(
        isinstance(d, int) for d in shape) else str(shape).replace("'", "")


def _render(rows: list, totals: dict) -> str:
    header = ("layer", "output shape", "params", "state")
    table = [header] + [(r["layer"], _shape_text(r["output_shape"]), f"{r['params']:,}",
                         f"{r['state']:,}") for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    fmt = "{:<%d}  {:<%d}  {:>%d}  {:>%d}" % tuple(widths)
    rule = "-" * (sum(widths) + 6)
    lines = [fmt.format(*header), rule] + [fmt.format(*row) for row in table[1:]] + [rule]
    lines += [f"total params: {totals['total_params']:,} "
              f"({totals['param_bytes'] / 2**20:.2f} MiB)",
              f"total state: {totals['total_state']:,}",
              f"input {totals['input_shape']} -> output "
              f"{_shape_text(totals['output_shape'])} (without the batch axis)"]
    return "\n".join(lines)


def summary(model: Layer, input_shape: Sequence[int], *, dtype: Any = jnp.float32) -> Summary:
    """One row per layer (its path and name, output shape and parameter count) and the
    totals: Keras's ``model.summary()``, computed by abstract evaluation (nothing is
    allocated or run).

    Containers (``serial``, ``parallel``, ``residual`` and the models built on them) are
    opened and each innermost layer listed under its path (``'2/0/dense'`` is child 0 of
    child 2); a container compiled with ``jax.jit`` is opened when its trace is not
    cached yet, else it counts as one layer. A container's own
    parameters, if any, appear in a ``(container)`` row, so the rows always add up to
    the totals:

    .. math:: \\text{total params} = \\sum_{\\text{rows}} \\text{params}

    Args:
      model: any ``Layer``.
      input_shape: the input shape without the batch axis.
      dtype: the input dtype to assume.

    Returns:
      A :class:`Summary`: the table as a ``str`` (``print`` it), with ``rows``,
      ``total_params``, ``total_state``, ``param_bytes``, ``input_shape`` and
      ``output_shape`` attributes.

    Example:
      >>> import nnfunc as nf
      >>> s = nf.layers.summary(nf.models.mlp([784, 100, 10]), (784,))
      >>> print(s)
      layer    output shape  params  state
      ------------------------------------
      0/dense  (100,)        78,500      0
      1/relu   (100,)             0      0
      2/dense  (10,)          1,010      0
      ------------------------------------
      total params: 79,510 (0.30 MiB)
      total state: 0
      input (784,) -> output (10,) (without the batch axis)
      >>> s.total_params, s.rows[0]['output_shape']
      (79510, (100,))
    """
    if not isinstance(model, Layer):
        raise TypeError(f"model must be a Layer, got {type(model).__name__}")
    records = layer_shapes(model, input_shape, dtype=dtype)
    params, state = jax.eval_shape(lambda: model.init(jax.random.key(0),
                                                      tuple(input_shape)))
    rows = [{"layer": name,
             "output_shape": jax.tree_util.tree_map(lambda a: tuple(a.shape[1:]), y),
             "params": _count(p), "state": _count(st)}
            for name, _, y, p, st in records]
    rest_p = _count(params) - sum(r["params"] for r in rows)
    rest_s = _count(state) - sum(r["state"] for r in rows)
    if rest_p or rest_s:
        rows.append({"layer": "(container)", "output_shape": (), "params": rest_p,
                     "state": rest_s})
    totals = {"total_params": _count(params), "total_state": _count(state),
              "param_bytes": _bytes(params), "input_shape": tuple(input_shape),
              "output_shape": rows[-1 - bool(rest_p or rest_s)]["output_shape"]}
    out = Summary(_render(rows, totals))
    out.rows = rows
    for k, v in totals.items():
        setattr(out, k, v)
    return out
