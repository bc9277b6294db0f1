"""Property tests of the layers (issue 16 §2): the machinery is ``_property_kit``."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st

import nnfunc as nf
from _property_kit import (Arg, Entry, KEY, UNIT_OPEN, assert_finite, bad_kinds, boolean,
                           choice, function_arg, integer, property_tests, real, run_layer)

L = nf.layers


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


ENTRIES = {f"layers.{k}": v for k, v in LAYERS.items()}
BAD_KINDS = bad_kinds(ENTRIES)


test_bad_argument_raises_naming_it, test_valid_arguments_give_finite_results = \
    property_tests(ENTRIES)
