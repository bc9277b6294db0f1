"""Property tests (issue 16 §2), layers, models and losses: see ``test_properties.py``."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import strategies as st

import nnfunc as nf
from test_properties import (BAD_SETTINGS, Arg, Entry, assert_finite, bad_kinds, boolean,
                             check_bad, check_valid, choice, function_arg, integer, prop, real,
                             valid_settings)

L = nf.layers
KEY = jax.random.key(0)


def run_layer(shape: tuple, *, train: bool = False, ints: int = 0):
    """init on ``shape``, apply to a batch of 2: finite, of ``output_shape``'s shape."""
    def run(layer):
        params, state = layer.init(KEY, shape)
        n = 2 * int(np.prod(shape))
        x = (jnp.arange(n).reshape((2,) + shape) % ints if ints
             else jnp.sin(jnp.arange(n, dtype=jnp.float32)).reshape((2,) + shape))
        y, _ = layer.apply(params, state, x, train=train, key=KEY)
        assert_finite(y, (2,) + L.output_shape(layer, shape, dtype=x.dtype))
    return run


def size(hi: int, *, lo: int = 1, none_ok: bool = False) -> Arg:
    """An int or a pair of ints in [lo, hi]; bad: below lo, a float, a bool, a string,
    a wrong-length tuple, a pair with a bad entry, None (unless allowed)."""
    one = st.integers(lo, hi)
    bad = {"below": st.integers(lo - 5, lo - 1), "float": st.just(1.5), "bool": st.just(True),
           "str": st.just("3"), "wrong-length": st.just((lo + 1,) * 3),
           "bad-entry": st.tuples(one, st.integers(lo - 5, lo - 1))}
    if not none_ok:
        bad["None"] = st.none()
    return Arg(st.one_of(one, st.tuples(one, one), one.map(np.int64)), bad)


POS = real(0.0, lo_open=True, span=1.0)
UNIT_OPEN = real(0.0, 1.0, hi_open=True)
IMG = (6, 6, 2)
# an int padding is valid up to half the window
POOL_PADDING = Arg(st.sampled_from(["VALID", "SAME", 0]),
                   {"unknown": st.just("FULL"), "negative": st.just(-1), "None": st.none(),
                    "too-wide": st.just(5)})

LAYERS = {
    "dense": Entry(L.dense, dict(features=integer(1, cap=6), use_bias=boolean()), run_layer((3,)),
                   dict(features=3)),
    "conv2d": Entry(L.conv2d, dict(
        features=integer(1, cap=3), kernel_size=size(3), stride=size(2),
        padding=Arg(st.sampled_from(["SAME", "VALID", "same", 0, 1, (1, 0)]),
                    {"unknown": st.just("FULL"), "negative": st.just(-1),
                     "None": st.none(), "wrong-length": st.just((1, 1, 1))}),
        dilation=size(2), use_bias=boolean()), run_layer(IMG),
        dict(features=2, kernel_size=3)),
    "max_pool": Entry(L.max_pool, dict(window=size(3), stride=size(2, none_ok=True),
                                       padding=POOL_PADDING),
                      run_layer(IMG), dict(window=2)),
    "avg_pool": Entry(L.avg_pool, dict(window=size(3), stride=size(2, none_ok=True),
                                       padding=POOL_PADDING,
                                       count_include_pad=boolean()),
                      run_layer(IMG), dict(window=2)),
    "dropout": Entry(L.dropout, dict(rate=UNIT_OPEN), run_layer((5,), train=True),
                     dict(rate=0.5)),
    "batch_norm": Entry(L.batch_norm, dict(momentum=real(0.0, 1.0), eps=POS),
                        run_layer((3,), train=True)),
    "layer_norm": Entry(L.layer_norm, dict(eps=POS), run_layer((3,))),
    "embedding": Entry(L.embedding, dict(num_embeddings=integer(1)._replace(valid=st.integers(4, 8)),
                                              features=integer(1, cap=4)),
                       run_layer((3,), ints=4), dict(num_embeddings=4, features=2)),
    "activation": Entry(L.activation, dict(fn=function_arg(jnp.tanh, nf.activations.relu)),
                        run_layer((3,)), dict(fn=jnp.tanh)),
    "gaussian_noise": Entry(L.gaussian_noise, dict(stddev=real(0.0, span=2.0)),
                            run_layer((3,), train=True), dict(stddev=0.1)),
    "masking_noise": Entry(L.masking_noise, dict(rate=UNIT_OPEN), run_layer((3,), train=True),
                           dict(rate=0.2)),
    "salt_and_pepper": Entry(L.salt_and_pepper, dict(rate=UNIT_OPEN, low=real(-1.0, 0.0, skip=("below", "above")),
                                                     high=real(0.5, 2.0, skip=("below", "above"))),
                             run_layer((3,), train=True), dict(rate=0.2)),
    "conv_transpose2d": Entry(L.conv_transpose2d, dict(
        features=integer(1, cap=3), kernel_size=size(3), stride=size(2),
        padding=size(1, lo=0), output_padding=size(1, lo=0), dilation=size(2)),
        run_layer(IMG), dict(features=2, kernel_size=3),
        ok=lambda kw: all(op < max(s, d) for op, s, d in zip(
            *(np.broadcast_to(kw.get(k, dflt), (2,)) for k, dflt in
              (("output_padding", 0), ("stride", 1), ("dilation", 1)))))),
    "upsample": Entry(L.upsample, dict(scale=size(3), method=choice("nearest", "bilinear")),
                      run_layer(IMG), dict(scale=2)),
    "reshape": Entry(L.reshape, dict(shape=Arg(
        st.sampled_from([(4,), (2, 2), (1, 4), (-1,), (2, -1), 4]),
        {"zero": st.just((0, 4)), "two-unknown": st.just((-1, -1)),
         "negative": st.just((-2, -2)), "str": st.just("2x2"), "float": st.just((2.5,)),
         "None": st.none()})), run_layer((4,)), dict(shape=(2, 2))),
    "serial": Entry(lambda layers: L.serial(*layers), dict(layers=Arg(
        st.just((L.dense(2), L.activation(jnp.tanh))),
        {"str": st.just((L.dense(2), "relu")), "empty": st.just(()),
         "function": st.just((jnp.tanh,))}, name="serial")), run_layer((3,)),
        dict(layers=(L.dense(2),))),
    "parallel": Entry(lambda layers, merge="concat": L.parallel(*layers, merge=merge), dict(
        layers=Arg(st.just((L.dense(2), L.dense(2))),
                   {"str": st.just((L.dense(2), "relu")), "empty": st.just(())},
                   name="parallel"),
        merge=choice("concat", "add")), run_layer((3,)),
        dict(layers=(L.dense(2), L.dense(2)))),
    "activity_regularizer": Entry(L.activity_regularizer, dict(penalty=function_arg(
        nf.regularizers.l1_activity(0.1), nf.regularizers.l1_activity(2.0))),
        run_layer((3,), train=True), dict(penalty=nf.regularizers.l1_activity(0.1))),
}

# issue 16 (a): layer.init with an int seed, layer.apply on Python lists
DENSE = L.dense(2)
DENSE_P, DENSE_S = DENSE.init(KEY, (3,))


def _dense_init(key):
    return DENSE.init(key, (3,))


def _dense_apply(x, key=None):
    return DENSE.apply(DENSE_P, DENSE_S, x, key=key)


LAYERS["Layer.init"] = Entry(_dense_init, dict(key=Arg(
    st.sampled_from([0, 7, np.int64(3), KEY, jax.random.PRNGKey(1)]),
    {"str": st.just("seed"), "float": st.just(1.5), "list": st.just([0, 1, 2])})),
    lambda r: assert_finite(r[0]["w"], (3, 2)), dict(key=0))
LAYERS["Layer.apply"] = Entry(_dense_apply, dict(
    x=Arg(st.lists(st.lists(st.floats(-5, 5), min_size=3, max_size=3), min_size=1,
                   max_size=3).map(lambda v: v if len(v) != 2 else np.asarray(v)),
          {"wrong-width": st.just([[1.0, 2.0]]), "strings": st.just([["a", "b", "c"]]),
           "ragged": st.just([[1.0, 2.0, 3.0], [1.0]])}),
    key=Arg(st.sampled_from([None, 0, KEY]), {"str": st.just("k")})),
    lambda r: assert_finite(r[0]), dict(x=[[1.0, 2.0, 3.0]]))
# the errors of apply name the layer (dense) or the input x
LAYERS["Layer.apply"].args["x"] = LAYERS["Layer.apply"].args["x"]._replace(name="dense")


# ------------------------------------------------------------------------ models

def run_model(shape_of):
    def run(built):
        model, kw = built
        run_layer(shape_of(kw))(model)
    return run


def _model(builder):
    return lambda **kw: (builder(**kw), kw)


SIZES = Arg(st.lists(st.integers(1, 5), min_size=2, max_size=4),
            {"too-short": st.just([3]), "zero": st.just([3, 0, 2]),
             "negative": st.just([3, -1]), "float": st.just([3, 2.5]), "str": st.just("3,2"),
             "bool": st.just([3, True])})
MODELS = {
    "mlp": Entry(_model(nf.models.mlp), dict(
        sizes=SIZES, activation=function_arg(nf.activations.relu, jnp.tanh),
        dropout=real(0.0, 1.0, hi_open=True, none_ok=True), batch_norm=boolean()),
        run_model(lambda kw: (kw["sizes"][0],)), dict(sizes=[3, 2])),
    "dense_autoencoder": Entry(_model(nf.models.dense_autoencoder), dict(sizes=SIZES),
                               run_model(lambda kw: (kw["sizes"][0],)), dict(sizes=[4, 2])),
    "softmax_regression": Entry(_model(nf.models.softmax_regression), dict(
        num_classes=integer(2, cap=5), logits=boolean()), run_model(lambda kw: (3,)),
        dict(num_classes=3)),
    "perceptron": Entry(_model(nf.models.perceptron), dict(features=integer(1, cap=4)),
                        run_model(lambda kw: (3,))),
    "linear_regression": Entry(_model(nf.models.linear_regression),
                               dict(features=integer(1, cap=4)), run_model(lambda kw: (3,))),
    "cnn": Entry(_model(nf.models.cnn), dict(num_classes=integer(1, cap=4)),
                 run_model(lambda kw: (28, 28, 1)), examples=2),
    "conv_autoencoder": Entry(_model(nf.models.conv_autoencoder), dict(
        input_shape=Arg(st.sampled_from([(8, 8, 1), (4, 4, 2)]),
                        {"zero": st.just((0, 8, 1)), "rank": st.just((8, 8)),
                         "indivisible": st.just((5, 5, 1)), "str": st.just("28x28")}),
        channels=Arg(st.sampled_from([(2,), (2, 3)]),
                     {"empty": st.just(()), "zero": st.just((0,)), "str": st.just("16")}),
        code=integer(1, cap=3)), run_model(lambda kw: tuple(kw["input_shape"])),
        dict(input_shape=(8, 8, 1), channels=(2,), code=2), examples=3),
}


# ------------------------------------------------------------------------ losses

LOGITS = jnp.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0], [2.0, 2.0, 2.0], [-1.0, 0.0, 1.0]])
LABELS = jnp.array([0, 1, 2, 1])


def _loss(fn):
    """Call the loss; the result with the shape it must have (per example, or a scalar)."""
    def build(**kw):
        out = fn(**kw)
        return out, (4,) if kw.get("reduction", "none") == "none" else ()
    return build


def run_loss(result):
    out, shape = result
    assert_finite(out, shape)


REDUCTION = choice("none", "mean", "sum")
SMOOTHING = real(0.0, 1.0)
PROBS = jax.nn.softmax(LOGITS)
INT_LABELS = Arg(st.lists(st.integers(0, 2), min_size=4, max_size=4).map(jnp.array),
                 {"out-of-range": st.just(jnp.array([0, 3, 1, 0])),
                  "negative": st.just(jnp.array([0, -1, 1, 0])),
                  "float": st.just(jnp.array([0.5, 1.0, 0.0, 2.0])),
                  "wrong-length": st.just(jnp.array([0, 1, 2])),
                  "one-hot": st.just(jax.nn.one_hot(LABELS, 3))})
BINARY = Arg(st.lists(st.sampled_from([0.0, 1.0, 0.3]), min_size=4, max_size=4).map(jnp.array),
             {"shape": st.just(jnp.ones((4, 2))), "above-one": st.just(jnp.full(4, 1.5)),
              "negative": st.just(jnp.full(4, -0.5))})
REAL4 = jnp.array([0.5, -1.0, 2.0, 0.0])
MISMATCH = {"shape": st.just(jnp.ones((4, 2))), "length": st.just(jnp.ones(3))}

LOSSES = {
    "softmax_cross_entropy_with_integer_labels": Entry(
        _loss(nf.losses.softmax_cross_entropy_with_integer_labels),
        dict(labels=INT_LABELS, label_smoothing=SMOOTHING, reduction=REDUCTION), run_loss,
        dict(logits=LOGITS, labels=LABELS)),
    "softmax_cross_entropy": Entry(_loss(nf.losses.softmax_cross_entropy), dict(
        targets=Arg(st.just(PROBS), {"shape": st.just(jnp.ones((4, 2)) / 2),
                                     "negative": st.just(-PROBS),
                                     "integer-labels": st.just(LABELS)}),
        label_smoothing=SMOOTHING, reduction=REDUCTION), run_loss,
        dict(logits=LOGITS, targets=PROBS)),
    "binary_cross_entropy": Entry(_loss(nf.losses.binary_cross_entropy), dict(
        probabilities=Arg(st.floats(0, 1).map(lambda p: jnp.full(4, p)),
                          {"above-one": st.just(jnp.full(4, 1.5)),
                           "negative": st.just(jnp.full(4, -0.1)),
                           "shape": st.just(jnp.full((4, 2), 0.5))}),
        targets=BINARY, eps=real(0.0, 0.5, lo_open=True, hi_open=True, skip=("below",),
                                                          extra={"below": st.floats(-1e3, -1e-9)}), label_smoothing=SMOOTHING,
        reduction=REDUCTION), run_loss,
        dict(probabilities=jnp.full(4, 0.3), targets=jnp.array([0.0, 1.0, 1.0, 0.0]))),
    "sigmoid_binary_cross_entropy": Entry(_loss(nf.losses.sigmoid_binary_cross_entropy), dict(
        targets=BINARY, label_smoothing=SMOOTHING, reduction=REDUCTION), run_loss,
        dict(logits=REAL4, targets=jnp.array([0.0, 1.0, 1.0, 0.0]))),
    "mse": Entry(_loss(nf.losses.mse), dict(
        targets=Arg(st.floats(-3, 3).map(lambda v: jnp.full(4, v)), MISMATCH),
        reduction=REDUCTION), run_loss, dict(predictions=REAL4, targets=REAL4 * 0)),
    "mae": Entry(_loss(nf.losses.mae), dict(
        targets=Arg(st.floats(-3, 3).map(lambda v: jnp.full(4, v)), MISMATCH),
        reduction=REDUCTION), run_loss, dict(predictions=REAL4, targets=REAL4 * 0)),
    "huber": Entry(_loss(nf.losses.huber), dict(
        targets=Arg(st.floats(-3, 3).map(lambda v: jnp.full(4, v)), MISMATCH),
        delta=real(0.0, lo_open=True, span=3.0), reduction=REDUCTION), run_loss,
        dict(predictions=REAL4, targets=REAL4 * 0)),
    "hinge": Entry(_loss(nf.losses.hinge), dict(
        targets=Arg(st.lists(st.sampled_from([-1.0, 1.0]), min_size=4, max_size=4)
                    .map(jnp.array), {**MISMATCH, "not-pm-one": st.just(jnp.full(4, 0.5))}),
        reduction=REDUCTION), run_loss, dict(predictions=REAL4, targets=jnp.ones(4))),
    "multiclass_hinge": Entry(_loss(nf.losses.multiclass_hinge), dict(
        labels=INT_LABELS, p=Arg(st.sampled_from([1, 2]), {"three": st.just(3),
                                                          "str": st.just("1")}),
        margin=real(0.0, span=2.0, skip=("below", "list")),
        mode=choice("weston_watkins", "crammer_singer"), reduction=REDUCTION), run_loss,
        dict(predictions=LOGITS, labels=LABELS)),
}
for _name in ("softmax_cross_entropy_with_integer_labels", "multiclass_hinge"):
    LOSSES[_name].args["labels"] = INT_LABELS._replace(name="labels")

ENTRIES = {**{f"layers.{k}": v for k, v in LAYERS.items()},
           **{f"models.{k}": v for k, v in MODELS.items()},
           **{f"losses.{k}": v for k, v in LOSSES.items()}}
BAD_KINDS = bad_kinds(ENTRIES)


@pytest.mark.parametrize("entry,arg,kind", BAD_KINDS, ids=["-".join(k) for k in BAD_KINDS])
def test_bad_argument_raises_naming_it(entry, arg, kind):
    prop(check_bad, BAD_SETTINGS, ENTRIES[entry], arg, kind)


@pytest.mark.parametrize("entry", list(ENTRIES))
def test_valid_arguments_give_finite_results(entry):
    prop(check_valid, valid_settings(ENTRIES[entry]), ENTRIES[entry])
