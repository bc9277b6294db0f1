"""Embedding lookup table."""
from __future__ import annotations

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp

from nnfunc import init as _init
from nnfunc._checks import POSITIVE_INT, as_shape, check_int, is_traced
from nnfunc.layers._base import Layer

__all__ = ["embedding"]


def _check_whole(x: jax.Array) -> None:
    """Concrete non-integer ids hold whole numbers (traced ones, as shape inference's
    float probes, cannot be checked)."""
    if jnp.issubdtype(x.dtype, jnp.complexfloating) or jnp.issubdtype(x.dtype, jnp.bool_):
        raise TypeError(f"embedding ids must be integers, got dtype {x.dtype}")
    if not is_traced(x) and x.size and not bool(jnp.all(x == jnp.round(x))):
        bad = x[x != jnp.round(x)].ravel()[:5].tolist()
        raise TypeError(f"embedding ids must be integers, got {x.dtype} values with a "
                        f"fractional part, e.g. {bad}")


def embedding(num_embeddings: int, features: int, *,
              init: Optional[Callable[..., jax.Array]] = None) -> Layer:
    """Look up rows of a table: ``y[..., :] = W[ids[...], :]``.

    ``W`` has shape ``(num_embeddings, features)`` and is initialised ``N(0, 1)`` like
    ``torch.nn.Embedding`` (``nf.init.normal(1.0)``). Parameters: ``{'w': W}``. Inputs are
    integer ids of any shape ``(batch, ...)``; floating inputs holding whole numbers are
    converted (this is what lets shape inference, which probes with floats, pass through).
    Ids must lie in ``[0, num_embeddings)``; under ``jit`` out-of-range ids cannot be
    checked and are clamped to that range (``mode='clip'`` gather: a negative id reads
    row 0, a too large one the last row). Concrete float ids with a fractional part
    raise a ``TypeError`` (they would be truncated).

    Args:
      num_embeddings: table size (> 0).
      features: embedding width (> 0).
      init: initializer for ``W``; default ``nf.init.normal(1.0)``.

    Returns:
      A ``Layer`` mapping ``(batch, ...)`` ids to ``(batch, ..., features)``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> layer = embedding(10, 4)
      >>> params, state = layer.init(jax.random.key(0), (3,))
      >>> y, _ = layer.apply(params, state, jnp.array([[1, 2, 1]]))
      >>> y.shape, bool(jnp.all(y[0, 0] == params['w'][1]))
      ((1, 3, 4), True)
    """
    check_int("num_embeddings", num_embeddings, minimum=1, allowed=POSITIVE_INT)
    check_int("features", features, minimum=1, allowed=POSITIVE_INT)

    def init_fn(key: jax.Array, input_shape: tuple[int, ...]) -> tuple[dict, dict]:
        as_shape(input_shape, "embedding")
        table_init = init or _init.normal(1.0)
        return {"w": table_init(key, (num_embeddings, features))}, {}

    def apply(params: dict, state: dict, x: jax.Array, *, train: bool = False,
              key: Any = None) -> tuple[jax.Array, dict]:
        x = jnp.asarray(x)
        if x.ndim < 1:
            raise ValueError(f"embedding expects ids with a batch axis, got shape "
                             f"{tuple(x.shape)}")
        if not jnp.issubdtype(x.dtype, jnp.integer):
            _check_whole(x)
            x = x.astype(jnp.int32)
        if not is_traced(x) and x.size and (
                int(x.min()) < 0 or int(x.max()) >= num_embeddings):
            raise ValueError(f"embedding ids must be in [0, {num_embeddings}), got values in "
                             f"[{int(x.min())}, {int(x.max())}]")
        return jnp.take(params["w"], x, axis=0, mode="clip"), state

    return Layer(init_fn, apply, name="embedding")
