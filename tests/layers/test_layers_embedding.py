"""Tests of embedding: out-of-range ids under jit, float ids."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnfunc import layers as L
from _layers_setup import KEY


# issue 16: no silent wrong results

def test_embedding_clamps_out_of_range_ids_under_jit_as_documented():
    """Under jit the ids cannot be checked: they used to give a NaN row (fill gather)."""
    emb = L.embedding(5, 3)
    params, state = emb.init(KEY, (2,))
    y = jax.jit(lambda x: emb.apply(params, state, x)[0])(jnp.array([[7, -1]]))
    np.testing.assert_array_equal(y[0], params["w"][jnp.array([4, 0])])


def test_embedding_rejects_float_ids_with_a_fractional_part():
    emb = L.embedding(5, 3)
    params, state = emb.init(KEY, (2,))
    with pytest.raises(TypeError, match=r"fractional part, e.g. \[1.5\]"):
        emb.apply(params, state, jnp.array([[1.5, 2.0]]))
    y, _ = emb.apply(params, state, jnp.array([[1.0, 2.0]]))     # whole numbers: converted
    np.testing.assert_array_equal(y[0], params["w"][jnp.array([1, 2])])
