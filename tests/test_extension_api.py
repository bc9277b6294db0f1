"""The extension API with fit and summary: a layer, an optimizer and a schedule written by
a user with the public names only (``nf.layers.Layer``, ``nf.optim.make_hparams``,
``current_lr``, ``zeros_slots``, ``make_optimizer``, a plain ``step -> value`` function)
train in ``fit`` with the real ``lr`` in its history, and ``summary`` shows the layer's
name. (The optimizer's own checks are in tests/optim/test_optim_extension.py.)"""
import math

import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from _extension_kit import halving, my_momentum, scale
from conftest import blobs


# ---------------------------------------------------------------------------------------
# (d) fit, with a user's layer, optimizer and schedule

@pytest.mark.parametrize("lr", [0.05, halving], ids=["number", "schedule"])
def test_fit_records_the_real_lr(lr):
    X, Y = blobs(256)
    model = nf.layers.serial(nf.layers.dense(16), scale("my_scale"),
                             nf.layers.activation(nf.activations.relu), nf.layers.dense(3))
    result = nf.train.fit(model, my_momentum(learning_rate=lr, momentum=0.9),
                          nf.losses.softmax_cross_entropy_with_integer_labels, (X, Y),
                          epochs=2, batch_size=64, key=0, progress=False)
    lrs = result.history["lr"]
    assert len(lrs) == 2 and not any(math.isnan(v) for v in lrs)
    # steps 0-3 in epoch 1 and 4-7 in epoch 2; 'lr' is the last step's
    expected = [0.05, 0.05] if lr == 0.05 else [float(halving(3)), float(halving(7))]
    np.testing.assert_allclose(lrs, expected, rtol=1e-6)
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert int(result.state.opt_state.count) == 8
    # the user's layer was trained
    assert not np.allclose(result.state.params[1]["s"], 1.0)


def test_user_layer_name_and_shapes():
    layer = scale("my_scale")
    assert layer.name == "my_scale" and repr(layer) == "my_scale()"
    params, state = layer.init(0, (4,))                         # an int seed, as built-ins
    y, _ = layer.apply(params, state, jnp.ones((2, 4)))
    assert y.shape == (2, 4)
    model = nf.layers.serial(nf.layers.dense(4), layer)
    assert [c.name for c in model.children] == ["dense", "my_scale"]
    assert nf.layers.output_shape(model, (3,)) == (4,)
    table = str(nf.layers.summary(model, (3,)))
    assert "1/my_scale" in table and "total params: 20" in table
