"""nf.models autoencoders, and unsupervised training (the inputs as their own targets)."""
import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf

L = nf.layers
KEY = jax.random.key(0)
X = jax.random.uniform(jax.random.key(1), (96, 12))


def test_autoencoder_params_state_and_codes():
    enc = L.serial(L.dense(4), L.batch_norm())
    dec = L.serial(L.dense(12), L.activation(nf.activations.sigmoid))
    ae = nf.models.autoencoder(enc, dec)
    params, state = ae.init(KEY, (12,))
    assert sorted(params) == sorted(state) == ["decoder", "encoder"]
    assert ae.children == (enc, dec) and ae.name == "autoencoder"
    codes, _ = enc.apply(params["encoder"], state["encoder"], X)
    assert codes.shape == (96, 4)
    x_hat, new_state = ae.apply(params, state, X)
    ref, _ = dec.apply(params["decoder"], state["decoder"], codes)
    np.testing.assert_array_equal(x_hat, ref)
    # training mode threads both states (batch-norm statistics move)
    _, trained = ae.apply(params, state, X, train=True, key=KEY)
    assert not np.allclose(trained["encoder"][1]["mean"], state["encoder"][1]["mean"])
    stats = L.activation_stats(ae, params, state, X)
    assert [s["layer"] for s in stats] == ["encoder/0/dense", "encoder/1/batch_norm",
                                           "decoder/0/dense", "decoder/1/sigmoid"]


def test_autoencoder_shapes_that_do_not_compose_name_both_layers():
    with pytest.raises(ValueError, match=r"decoder \(conv2d\) cannot take the encoder "
                                         r"\(dense\)'s output of shape \(4,\)"):
        nf.models.autoencoder(L.dense(4), L.conv2d(3, 3)).init(KEY, (12,))
    with pytest.raises(ValueError, match=r"decoder \(dense\) maps the encoder \(dense\)'s "
                                         r"code of shape \(4,\) to shape \(11,\), but it "
                                         r"must rebuild the input shape \(12,\)"):
        nf.models.autoencoder(L.dense(4), L.dense(11)).init(KEY, (12,))
    with pytest.raises(ValueError, match="encoder must be an nf.layers.Layer"):
        nf.models.autoencoder("dense", L.dense(3))


def test_dense_and_conv_autoencoders():
    lin = nf.models.dense_autoencoder([12, 5], activation=None)
    params, _ = lin.init(KEY, (12,))
    assert [c.name for c in lin.children[0].children] == ["dense"]       # linear: no act
    assert params["decoder"][0]["w"].shape == (5, 12)
    deep = nf.models.dense_autoencoder([12, 8, 3], code_activation=nf.activations.sigmoid,
                                       output_activation=nf.activations.sigmoid)
    assert [c.name for c in deep.children[0].children] == ["dense", "relu", "dense", "sigmoid"]
    assert [c.name for c in deep.children[1].children] == ["dense", "relu", "dense", "sigmoid"]
    conv = nf.models.conv_autoencoder((16, 12, 2), channels=(4, 8), code=6)
    params, state = conv.init(KEY, (16, 12, 2))
    y, _ = conv.apply(params, state, jnp.ones((3, 16, 12, 2)))
    assert y.shape == (3, 16, 12, 2) and float(y.min()) >= 0 and float(y.max()) <= 1
    codes, _ = conv.children[0].apply(params["encoder"], state["encoder"],
                                      jnp.ones((3, 16, 12, 2)))
    assert codes.shape == (3, 6)
    with pytest.raises(ValueError, match="divisible by 2 \\*\\* len\\(channels\\) = 4"):
        nf.models.conv_autoencoder((14, 14, 1), channels=(4, 8))
    with pytest.raises(ValueError, match="sizes must be at least two positive ints"):
        nf.models.dense_autoencoder([784])


# ------------------------------------------------------------------- unsupervised training

def test_inputs_alone_equal_inputs_as_targets():
    model = nf.models.dense_autoencoder([12, 6, 3])
    opt = nf.optim.adam(learning_rate=1e-2)
    alone = nf.train.fit(model, opt, nf.losses.mse, X, epochs=3, batch_size=16, key=0,
                         progress=False, eval_data=X[:40])
    pair = nf.train.fit(model, opt, nf.losses.mse, (X, X), epochs=3, batch_size=16, key=0,
                        progress=False, eval_data=(X[:40], X[:40]))
    for a, b in zip(jax.tree_util.tree_leaves(alone.state.params),
                    jax.tree_util.tree_leaves(pair.state.params)):
        np.testing.assert_array_equal(a, b)
    assert alone.history["loss"] == pair.history["loss"]
    assert alone.history["eval_loss"] == pair.history["eval_loss"]
    assert "accuracy" not in alone.history and "eval_accuracy" not in alone.history
    ev = nf.train.evaluate(model, nf.losses.mse, alone.state, X[:40], batch_size=7)
    assert float(ev["loss"]) == pytest.approx(alone.history["eval_loss"][-1], rel=1e-6)
    runs = nf.train.sweep(model, opt, nf.losses.mse, X, hparams={"learning_rate": [1e-2]},
                          epochs=3, batch_size=16, key=0, eval_data=X[:40])
    np.testing.assert_allclose(runs.history["loss"][0], alone.history["loss"], rtol=1e-5)


def _gathers(jaxpr) -> int:
    """The number of gather operations in a jaxpr, inner jaxprs (the scan body) included."""
    count = 0
    for eqn in jaxpr.eqns:
        count += eqn.primitive.name == "gather"
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            count += _gathers(sub)
    return count


def test_an_unsupervised_epoch_gathers_each_batch_once():
    """The inputs are the targets: one copy of X, one gather per step, not two."""
    model = nf.models.dense_autoencoder([12, 4])
    opt = nf.optim.sgd(learning_rate=0.1)
    epoch = nf.train.make_epoch(model, opt, nf.losses.mse, 16, donate=False)
    ts = nf.train.init_state(model, opt, 0, (12,))
    alone = jax.make_jaxpr(epoch)(ts, X).jaxpr
    pair = jax.make_jaxpr(epoch)(ts, X, X).jaxpr
    assert _gathers(pair) == _gathers(alone) + 1
    a, _ = epoch(ts, X)
    b, _ = epoch(ts, X, X)
    np.testing.assert_array_equal(a.params["encoder"][0]["w"], b.params["encoder"][0]["w"])


def test_unsupervised_data_errors():
    model = nf.models.dense_autoencoder([12, 4])
    with pytest.raises(ValueError, match="pair \\(X, Y\\) of arrays or the inputs X alone"):
        nf.train.fit(model, nf.optim.sgd(0.1), nf.losses.mse, (X, X, X), progress=False)
    with pytest.raises(ValueError, match="pair \\(X, Y\\) of arrays or the inputs X alone"):
        nf.train.fit(model, nf.optim.sgd(0.1), nf.losses.mse, "X", progress=False)
    with pytest.raises(ValueError, match="NaN or infinite"):
        nf.train.fit(model, nf.optim.sgd(0.1), nf.losses.mse, X.at[0, 0].set(jnp.nan),
                     progress=False)
    with pytest.raises(ValueError, match="cannot be applied to data X"):
        nf.train.fit(model, nf.optim.sgd(0.1), nf.losses.mse, X[:, :5], progress=False,
                     state=nf.train.init_state(model, nf.optim.sgd(0.1), 0, (12,)))


def test_conv_autoencoder_without_channel_axis_says_how_to_add_it():
    with pytest.raises(ValueError, match=r"conv_autoencoder: input_shape must be \(height, "
                                         r"width, channels\), got \(28, 28\): add the channel "
                                         r"axis to grayscale images, x\[\.\.\., None\] "
                                         r"\(input_shape \(28, 28, 1\)\)"):
        nf.models.conv_autoencoder((28, 28))
