"""Shared fixtures: float64 mode for oracle comparisons, and the shared data folder."""
import os
import pathlib

import jax
import pytest

SHARED = pathlib.Path(os.environ.get("NNFUNC_SHARED", pathlib.Path(__file__).resolve().parents[2] / "shared"))
MNIST_DIR = SHARED / "data" / "mnist"


@pytest.fixture
def x64():
    """Run the test body with ``jax_enable_x64`` on, and restore the previous mode after."""
    with jax.enable_x64(True):
        yield
