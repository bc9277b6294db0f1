"""nf.train.sweep's runs-inside layout (nnfunc.train._runs_inside): which weights move,
where their optimizer slots go, the layout round trip, and sweeps that train exactly as
the runs-first program (vmapped and jitted) with ``layout='runs_inside'``."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from nnfunc.train import _runs_inside as RI
from nnfunc.train._program import ProgramSpec, step_body

CE = nf.losses.softmax_cross_entropy_with_integer_labels
L = nf.layers


def _axes(model, shape, *, opt=None, loss=CE, labels=True, key_axis=None, **kw):
    opt = opt or nf.optim.adam(1e-3)
    body = step_body(ProgramSpec(model, opt, loss, **kw))
    ts = nf.train.init_state(model, opt, jax.random.key(0), shape)
    x = jax.ShapeDtypeStruct((4,) + shape, jnp.float32)
    y = jax.ShapeDtypeStruct((4,), jnp.int32) if labels else None
    return ts, RI.weight_axes(body, ts, x, y, key_axis)


def _moved(ts, axes):
    """``{path: axis}`` of the params leaves whose runs axis is not first."""
    flat = jax.tree_util.tree_flatten_with_path(axes)[0]
    return {jax.tree_util.keystr(p): a for p, a in flat if a}


def test_the_first_dense_weight_moves_next_to_its_output_axis():
    ts, axes = _axes(nf.models.mlp([6, 5, 4, 3]), (6,))
    assert _moved(ts, axes) == {"[0]['w']": 1}


def test_an_autoencoder_moves_its_encoders_first_weight():
    model = nf.models.mlp([6, 3, 6])
    ts, axes = _axes(model, (6,), loss=nf.losses.mse, labels=False)
    assert _moved(ts, axes) == {"[0]['w']": 1}


def test_nothing_moves_when_every_run_has_its_own_data_order():
    ts, axes = _axes(nf.models.mlp([6, 5, 3]), (6,), key_axis=0)
    assert _moved(ts, axes) == {}


def test_a_per_run_augmentation_is_run_specific_input_but_a_shared_one_is_not():
    aug = nf.data.gaussian_noise(0.1)
    assert _moved(*_axes(nf.models.mlp([6, 5, 3]), (6,), augment=aug)) == {"[0]['w']": 1}
    assert _moved(*_axes(nf.models.mlp([6, 5, 3]), (6,), augment=aug, key_axis=0)) == {}


def test_an_embedding_table_is_gathered_not_multiplied_and_stays():
    model = L.serial(L.embedding(10, 4), L.flatten(), L.dense(3))
    opt = nf.optim.sgd(0.1)
    body = step_body(ProgramSpec(model, opt, CE))
    ts = nf.train.init_state(model, opt, jax.random.key(0), (2,))
    axes = RI.weight_axes(body, ts, jax.ShapeDtypeStruct((4, 2), jnp.int32),
                          jax.ShapeDtypeStruct((4,), jnp.int32), None)
    assert _moved(ts, axes) == {}           # the dense layer's input depends on the table


def test_a_convolution_kernel_on_the_data_moves_before_its_output_channels(monkeypatch):
    """Traced as a GPU traces it (the CPU lowers this convolution by taps, not one conv):
    an HWIO kernel carries the runs between I and O."""
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    model = L.serial(L.conv2d(4, 3), L.flatten(), L.dense(3))
    ts, axes = _axes(model, (6, 6, 2))
    assert _moved(ts, axes) == {"[0]['w']": 3}


def test_mixed_precision_casts_keep_the_weight_recognised():
    model = nf.models.mlp([6, 5, 3])
    opt = nf.optim.adam(1e-3)
    body = step_body(ProgramSpec(model, opt, CE, mixed_precision=True))
    ts = nf.train.init_state(model, opt, jax.random.key(0), (6,))
    axes = RI.weight_axes(body, ts, jax.ShapeDtypeStruct((4, 6), jnp.float32),
                          jax.ShapeDtypeStruct((4,), jnp.int32), None)
    assert _moved(ts, axes) == {"[0]['w']": 1}


def test_state_axes_give_the_slots_their_weights_axes_and_share_step_and_key():
    ts, axes = _axes(nf.models.mlp([6, 5, 3]), (6,), opt=nf.optim.adam(1e-3, amsgrad=True))
    st = RI.state_axes(ts, axes, None)
    o = st.opt_state
    for slot in (o.exp_avg, o.exp_avg_sq, o.max_exp_avg_sq):
        assert slot == axes
    assert o.count == 0 and set(jax.tree_util.tree_leaves(o.hparams)) == {0}
    assert (st.step, st.key) == (-1, -1)
    assert RI.state_axes(ts, axes, 0).key == 0
    v = RI.vmap_axes(st)
    assert v.step is None and v.key is None and v.params[0]["w"] == 1


def test_to_inside_and_back_is_the_identity():
    ts, axes = _axes(nf.models.mlp([6, 5, 3]), (6,))
    st = RI.state_axes(ts, axes, None)
    runs = 3
    stacked = jax.vmap(lambda k: nf.train.init_state(
        nf.models.mlp([6, 5, 3]), nf.optim.adam(1e-3), k, (6,)), axis_size=runs,
        in_axes=None)(jax.random.key(0))
    stacked = stacked._replace(params=jax.tree_util.tree_map(
        lambda a: a + jnp.arange(runs, dtype=a.dtype).reshape((runs,) + (1,) * (a.ndim - 1)),
        stacked.params))
    inside = RI.to_inside(stacked, st)
    assert inside.params[0]["w"].shape == (6, runs, 5)
    np.testing.assert_array_equal(inside.params[0]["w"][:, 2], stacked.params[0]["w"][2])
    assert inside.step.shape == () and inside.key.shape == ()
    back = RI.to_first(inside, st, runs)
    for a, b in zip(jax.tree_util.tree_leaves(back._replace(key=None)),
                    jax.tree_util.tree_leaves(stacked._replace(key=None))):
        np.testing.assert_array_equal(a, b)
    assert back.key.shape == (runs,)


X = jax.random.normal(jax.random.key(1), (160, 6))
Y = (X[:, 0] + X[:, 1] > 0).astype(jnp.int32)
DROPOUT_BN = L.serial(L.dense(8), L.batch_norm(), L.activation(nf.activations.relu),
                      L.dropout(0.3), L.dense(2))

CASES = {   # name -> sweep keyword arguments
    "adam, lrs, eval": dict(model=nf.models.mlp([6, 8, 2]), opt=nf.optim.adam(1e-2),
                            loss_fn=CE, data=(X, Y), eval_data=(X[:50], Y[:50]),
                            hparams={"learning_rate": [1e-3, 1e-2, 1e-1]}),
    "dropout, batch norm, momentum": dict(
        model=DROPOUT_BN, opt=nf.optim.sgd(0.1, momentum=0.9), loss_fn=CE, data=(X, Y),
        hparams={"momentum": [0.0, 0.5, 0.9]}),
    "autoencoder": dict(model=nf.models.mlp([6, 3, 6]), opt=nf.optim.adamw(1e-2),
                        loss_fn=nf.losses.mse, data=X,
                        hparams={"weight_decay": [0.0, 0.1]}),
    "mixed precision, metrics, augment": dict(
        model=nf.models.mlp([6, 8, 2]), opt=nf.optim.adam(1e-2), loss_fn=CE, data=(X, Y),
        mixed_precision=True, metrics=["f1"], augment=nf.data.gaussian_noise(0.05),
        hparams={"learning_rate": [1e-3, 1e-2]}),
    "seeds (nothing moves)": dict(model=nf.models.mlp([6, 8, 2]), opt=nf.optim.sgd(0.1),
                                  loss_fn=CE, data=(X, Y), seeds=[0, 1, 2]),
}


def _weights_move(kw):
    """Whether ``sweep(layout='runs_inside')`` runs the runs-inside program for these
    arguments: ``_runs_inside.layout`` (what the sweep asks) finds a weight to move."""
    data = kw["data"]
    x, y = data if isinstance(data, tuple) else (data, None)
    body = step_body(ProgramSpec(kw["model"], kw["opt"], kw["loss_fn"],
                                 mixed_precision=kw.get("mixed_precision", False),
                                 augment=kw.get("augment")))
    runs = len(next(iter(kw.get("hparams", {}).values()), kw.get("seeds")))
    one = jax.eval_shape(lambda: nf.train.init_state(kw["model"], kw["opt"], 0,
                                                     x.shape[1:]))
    stacked = jax.tree_util.tree_map(
        lambda a: jax.ShapeDtypeStruct((runs,) + a.shape, a.dtype), one)
    key_axis = 0 if "seeds" in kw else None
    return RI.layout(body, stacked, x, y, kw["batch_size"], key_axis) is not None


@pytest.mark.parametrize("name", list(CASES))
def test_the_runs_inside_sweep_trains_as_the_runs_first_one(name):
    kw = dict(CASES[name], epochs=2, batch_size=32, key=3)
    first = nf.train.sweep(**kw, layout="runs_first")
    inside = nf.train.sweep(**kw, layout="runs_inside")
    assert _weights_move(kw) == ("seeds" not in name)     # the layout is used
    for a, b in zip(jax.tree_util.tree_leaves(inside.state._replace(key=None)),
                    jax.tree_util.tree_leaves(first.state._replace(key=None))):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(jax.random.key_data(inside.state.key),
                                  jax.random.key_data(first.state.key))
    assert sorted(inside.history) == sorted(first.history)
    for k in first.history:
        assert inside.history[k].shape == first.history[k].shape, k
        np.testing.assert_allclose(inside.history[k], first.history[k], rtol=1e-5,
                                   atol=1e-6, err_msg=k)
    np.testing.assert_array_equal(inside.diverged, first.diverged)


def test_a_diverging_run_is_flagged_in_the_runs_inside_layout_too():
    res = nf.train.sweep(nf.models.mlp([6, 8, 2]), nf.optim.sgd(0.1), CE, (X * 1e3, Y),
                         hparams={"learning_rate": [1e-4, 1e30]}, epochs=1, batch_size=32,
                         layout="runs_inside")
    assert res.diverged.tolist() == [False, True]
