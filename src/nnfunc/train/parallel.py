"""Data parallelism with ``jax.sharding``: a one-axis ``Mesh`` named ``'data'``.

Parameters, optimizer state and the dataset are **replicated** on every device
(``NamedSharding(mesh, P())``); inside each step the batch is **sharded** along its
first axis (``NamedSharding(mesh, P('data'))``), so each device runs forward and backward
on ``batch_size / len(devices)`` examples and XLA all-reduces the gradients. The result
is the single-device computation up to float32 summation order.

Multi-host: call ``jax.distributed.initialize()`` at the start of the program on every
host (with ``coordinator_address``, ``num_processes`` and ``process_id``, or from the
cluster environment), then pass ``devices=jax.devices()`` (all devices of all hosts),
and run the same script on every host; every host must hold the whole dataset, since it
is replicated. Metrics and the state come back replicated, so any host may log or save
them (save from ``jax.process_index() == 0`` only).
"""
from __future__ import annotations

from typing import Any, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["make_mesh", "replicate"]


def make_mesh(devices: Sequence[Any], *, batch_size: int | None = None) -> Mesh:
    """A one-dimensional device mesh with the axis ``'data'``.

    Args:
      devices: a non-empty list of distinct ``jax.Device`` objects.
      batch_size: if given, checked to be divisible by ``len(devices)``.

    Returns:
      ``Mesh(devices, ('data',))``.

    Example:
      >>> import jax
      >>> make_mesh(jax.devices()[:1]).axis_names
      ('data',)
    """
    try:
        devs = list(devices)
    except TypeError:
        raise ValueError(f"devices must be a list of jax devices, got {devices!r}") from None
    if not devs or not all(isinstance(d, jax.Device) for d in devs):
        raise ValueError(f"devices must be a non-empty list of jax devices "
                         f"(e.g. jax.devices()), got {devices!r}")
    if len(set(devs)) != len(devs):
        raise ValueError(f"devices must be distinct, got {devs!r}")
    if batch_size is not None and batch_size % len(devs):
        raise ValueError(f"batch_size must be divisible by the number of devices "
                         f"({len(devs)}), got {batch_size}")
    return Mesh(np.array(devs), ("data",))


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Place every leaf of ``tree`` on all devices of ``mesh`` (a no-op if already there).

    Args:
      tree: a pytree of arrays.
      mesh: the mesh from :func:`make_mesh`.

    Returns:
      The same tree, each leaf with sharding ``NamedSharding(mesh, P())``. With a mesh
      spanning several processes (``jax.distributed``), each process supplies its own
      copy to its local devices: every process must pass the same values.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> x = replicate(jnp.ones(3), make_mesh(jax.devices()[:1]))
      >>> x.sharding.is_fully_replicated
      True
    """
    sharding = NamedSharding(mesh, PartitionSpec())
    if sharding.is_fully_addressable:
        return jax.device_put(tree, sharding)
    # multi-process: device_put cannot target other processes' devices; each process
    # supplies its own copy (the same values everywhere) to its local devices
    return jax.tree_util.tree_map(lambda leaf: _global_replica(leaf, sharding), tree)


def _global_replica(leaf: Any, sharding: NamedSharding) -> jax.Array:
    if isinstance(leaf, jax.Array) and leaf.sharding == sharding:
        return leaf
    if hasattr(leaf, "dtype") and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        data = _global_replica(jax.random.key_data(leaf), sharding)
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(leaf))
    host = np.asarray(leaf)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])
