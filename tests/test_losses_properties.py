"""Property tests of the losses (issue 16 §2): the machinery is ``_property_kit``."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from hypothesis import strategies as st

import nnfunc as nf
from _property_kit import (Arg, Entry, assert_finite, bad_kinds, choice, property_tests,
                           real)


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

ENTRIES = {f"losses.{k}": v for k, v in LOSSES.items()}
BAD_KINDS = bad_kinds(ENTRIES)


test_bad_argument_raises_naming_it, test_valid_arguments_give_finite_results = \
    property_tests(ENTRIES)
