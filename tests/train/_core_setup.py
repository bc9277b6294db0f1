"""What the tests of ``init_state``, ``make_step``, ``make_epoch``, ``evaluate`` and the
checkpoints share: the loss, the model, the blobs data, two optimizers, a bit-for-bit
comparison of trees and NumPy references of the MLP's forward pass and loss."""
import jax
import jax.numpy as jnp
import numpy as np

import nnfunc as nf
from conftest import blobs

CE = nf.losses.softmax_cross_entropy_with_integer_labels
MODEL = nf.models.mlp([8, 16, 3])


X, Y = blobs(100)
SGD = nf.optim.sgd(learning_rate=0.1)
ADAM = nf.optim.adam(learning_rate=0.01)


def leaves_equal(a, b):
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(la) == len(lb)
    for u, v in zip(la, lb):
        if jnp.issubdtype(u.dtype, jax.dtypes.prng_key):
            u, v = jax.random.key_data(u), jax.random.key_data(v)
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


def forward_ref(params, x):
    """Independent MLP forward from the raw parameter arrays (dense-relu-dense)."""
    h = np.maximum(x @ np.asarray(params[0]["w"]) + np.asarray(params[0]["b"]), 0)
    return h @ np.asarray(params[2]["w"]) + np.asarray(params[2]["b"])


def ce_ref(logits, y):
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return -logp[np.arange(len(y)), y]
