"""Tests of dense against torch's Linear and its default initialisation."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnfunc import layers as L
from _layers_setup import KEY, float_input


def test_dense_matches_torch_linear_and_its_default_init():
    torch = pytest.importorskip("torch")
    layer = L.dense(200)
    params, state = layer.init(KEY, (50,))
    x = float_input((4, 50)).astype(np.float32)
    with jax.default_matmul_precision("float32"):      # no TF32 on GPUs: compare semantics
        y, _ = layer.apply(params, state, jnp.asarray(x))
    ref = torch.nn.functional.linear(torch.from_numpy(x),
                                     torch.from_numpy(np.asarray(params["w"]).T.copy()),
                                     torch.from_numpy(np.array(params["b"])))
    np.testing.assert_allclose(y, ref.numpy(), rtol=1e-5, atol=1e-5)
    # torch.nn.Linear(50, 200) draws weight and bias from U(-1/sqrt(50), 1/sqrt(50)).
    bound = 1 / math.sqrt(50)
    tl = torch.nn.Linear(50, 200)
    for ours, theirs in ((params["w"], tl.weight), (params["b"], tl.bias)):
        ours, theirs = np.asarray(ours), theirs.detach().numpy()
        assert np.abs(ours).max() <= bound and np.abs(theirs).max() <= bound
        assert abs(ours.std() - theirs.std()) < 0.15 * bound
        assert np.abs(ours).max() > 0.9 * bound
