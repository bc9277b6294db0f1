"""Shared fixtures: float64 mode for oracle comparisons, and the shared data folder."""
import os
import pathlib

import jax
import pytest

SHARED = pathlib.Path(os.environ.get("NNFUNC_SHARED", pathlib.Path(__file__).resolve().parents[2] / "shared"))
MNIST_DIR = SHARED / "data" / "mnist"


def blobs(n, seed=0):
    """``n`` examples of three Gaussian classes in 8 dimensions: ``(X float32, Y int32)``."""
    import jax.numpy as jnp
    import numpy as np
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n).astype(np.int32)
    centers = rng.normal(size=(3, 8)) * 2
    x = (centers[y] + rng.normal(size=(n, 8))).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(y)


@pytest.fixture
def x64():
    """Run the test body with ``jax_enable_x64`` on, and restore the previous mode after."""
    with jax.enable_x64(True):
        yield
