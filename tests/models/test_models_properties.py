"""Property tests of the models (issue 16 §2): the machinery is ``_property_kit``."""
from __future__ import annotations

import jax.numpy as jnp
from hypothesis import strategies as st

import nnfunc as nf
from _property_kit import (Arg, Entry, bad_kinds, boolean, function_arg, integer,
                           property_tests, real, run_layer)


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


ENTRIES = {f"models.{k}": v for k, v in MODELS.items()}
BAD_KINDS = bad_kinds(ENTRIES)


test_bad_argument_raises_naming_it, test_valid_arguments_give_finite_results = \
    property_tests(ENTRIES)
