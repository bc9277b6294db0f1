"""What the ``fit`` tests share (``test_train_fit``, ``test_train_fit_metrics``,
``test_train_resume``): the loss, the model, one Adam instance (``fit`` compiles once per
model, optimizer, metrics, ..., so the tests share compiled epochs), the blobs data and
a bit-for-bit comparison of states."""
import jax
import jax.numpy as jnp
import numpy as np

import nnfunc as nf

CE = nf.losses.softmax_cross_entropy_with_integer_labels
MODEL = nf.models.mlp([8, 16, 3])
ADAM = nf.optim.adam(learning_rate=0.01)


def blobs(n, seed=0):
    """``n`` examples of three Gaussian classes in 8 dimensions (the class centres fixed,
    the examples drawn with ``seed``): ``(X float32, Y int32)``."""
    centers = np.random.default_rng(42).normal(size=(3, 8)) * 2
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n).astype(np.int32)
    x = (centers[y] + rng.normal(size=(n, 8))).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(y)


X, Y = blobs(100)
XV, YV = blobs(40, seed=1)


def assert_same(a, b):
    """``a`` and ``b`` have the same tree structure and equal leaves, bit for bit (keys
    compared by their data)."""
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    assert len(la) == len(lb)
    for u, v in zip(la, lb):
        if jnp.issubdtype(u.dtype, jax.dtypes.prng_key):
            u, v = jax.random.key_data(u), jax.random.key_data(v)
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
