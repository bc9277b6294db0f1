"""Property tests of ``nf.data``: every bad argument raises a ValueError naming it, valid
arguments give finite results (the kit is ``tests/_property_kit.py``)."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st

import nnfunc as nf
from _property_kit import (Arg, Entry, INF, NAN, assert_finite, bad_kinds, boolean, integer,
                           property_tests, real, shape_is)

D = nf.data

XD = np.arange(24, dtype=np.float32).reshape(6, 4) % 5
STD = D.fit_standardize(XD)
MM = D.fit_min_max(XD)
ONE_FEATURE_STD = D.fit_standardize(XD[:, :1])
ONE_FEATURE_MM = D.fit_min_max(XD[:, :1])



RANGE = Arg(st.tuples(st.floats(-5, 0), st.floats(0.5, 5)),
            {"reversed": st.just((1.0, -1.0)), "equal": st.just((1.0, 1.0)),
             "wrong-length": st.just((0.0, 1.0, 2.0)), "str": st.just("ab"),
             "nan": st.just((NAN, 1.0)), "scalar": st.just(1.0)})
DATA = {
    "one_hot": Entry(D.one_hot, dict(
        labels=Arg(st.lists(st.integers(0, 2), min_size=1, max_size=5).map(np.array),
                   {"negative": st.just(np.array([0, -1])), "float": st.just(np.array([0.5])),
                    "too-large": st.just(np.array([0, 3]))}),
        num_classes=integer(3, cap=5, none_ok=True, skip=("nan",))),
        lambda out: assert_finite(out),
        dict(labels=np.array([0, 2]), num_classes=3)),
    "standardize": Entry(D.standardize, dict(
        x=Arg(st.just(XD), {"other-features": st.just(np.ones((3, 5), np.float32))}),
        stats=Arg(st.just(STD), {"one-feature": st.just(ONE_FEATURE_STD)})),
        shape_is(XD.shape), dict(x=XD, stats=STD)),
    "min_max_scale": Entry(D.min_max_scale, dict(
        x=Arg(st.just(XD), {"other-features": st.just(np.ones((3, 5), np.float32))}),
        stats=Arg(st.just(MM), {"one-feature": st.just(ONE_FEATURE_MM)}),
        feature_range=RANGE, clip=boolean()), shape_is(XD.shape), dict(x=XD, stats=MM)),
    "linear_scale": Entry(D.linear_scale, dict(in_range=RANGE, out_range=RANGE),
                          shape_is(XD.shape), dict(x=XD)),
    "log_scale": Entry(D.log_scale, dict(offset=real(0.0, lo_open=True, span=5.0,
                                                     skip=("list",))),
                       shape_is(XD.shape), dict(x=XD)),
    "clip": Entry(D.clip, dict(low=real(-5.0, 0.0, none_ok=True, skip=("below", "above")),
                               high=real(1.0, 5.0, none_ok=True, skip=("below", "above"))),
                  shape_is(XD.shape), dict(x=XD, low=0.0),
                  ok=lambda kw: kw.get("low") is not None or kw.get("high") is not None),
    "fit_standardize": Entry(D.fit_standardize, dict(
        x=Arg(st.just(XD), {"nan": st.just(np.array([[1.0], [NAN]])),
                            "inf": st.just(np.array([[1.0], [INF]]))}),
        eps=real(0.0, span=1e-3, skip=("list",))),
        lambda s: assert_finite(s.mean, (1, 4)), dict(x=XD)),
    "fit_min_max": Entry(D.fit_min_max, dict(
        x=Arg(st.just(XD), {"nan": st.just(np.array([[1.0], [NAN]]))})),
        lambda s: assert_finite(s.min, (1, 4)), dict(x=XD)),
    "batches": Entry(lambda **kw: list(D.batches(XD, **kw)), dict(
        batch_size=integer(1, cap=8), shuffle=boolean(), drop_last=boolean()),
        lambda out: assert_finite([b[0] for b in out]), dict(batch_size=2)),
    "num_batches": Entry(D.num_batches, dict(n=integer(0, cap=50), batch_size=integer(1, cap=8)),
                         lambda k: None, dict(n=10, batch_size=3)),
    "train_val_split": Entry(lambda **kw: D.train_val_split(XD, np.arange(6), **kw), dict(
        val_fraction=real(0.0, 1.0, hi_open=True)._replace(
            valid=st.floats(0.2, 0.8)),
        shuffle=boolean()), lambda parts: assert_finite(parts[0][0])),
    "synthetic_mnist": Entry(D.synthetic_mnist, dict(
        n=integer(0, cap=4), seed=integer(0, cap=5), noise=real(0.0, span=0.5, skip=("list",)),
        normalize=boolean(), flatten=boolean()),
        lambda xy: assert_finite(jnp.asarray(xy[0], jnp.float32)), dict(n=2), examples=4),
}

ENTRIES = {f"data.{k}": v for k, v in DATA.items()}
BAD_KINDS = bad_kinds(ENTRIES)


test_bad_argument_raises_naming_it, test_valid_arguments_give_finite_results = \
    property_tests(ENTRIES)
