"""Property tests of ``nf.train``: every bad argument raises a ValueError naming it, valid
arguments give finite results (the kit is ``tests/_property_kit.py``).

"Before any compilation": every bad call of ``fit``/``sweep``/``evaluate``/``predict`` runs
under :func:`no_programs`, which makes building any compiled training, evaluation or
inference program (the cached builders, and ``jax.jit`` itself) fail the test: the error
must come from validation, before a program is built.
"""
from __future__ import annotations

import contextlib
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import strategies as st

import nnfunc as nf
from _property_kit import (Arg, Entry, INF, NAN, assert_finite, bad_kinds, boolean, integer,
                           property_tests, shape_is)

MODEL = nf.models.mlp([4, 3])
OPT = nf.optim.sgd(0.1)
LOSS = nf.losses.softmax_cross_entropy_with_integer_labels
X = jnp.asarray(np.random.default_rng(0).normal(size=(16, 4)), jnp.float32)
Y = jnp.arange(16) % 3
TS = nf.train.init_state(MODEL, OPT, 0, (4,))
OTHER_ARCH = nf.train.init_state(nf.models.mlp([4, 5, 3]), OPT, 0, (4,))
OTHER_OPT = nf.train.init_state(MODEL, nf.optim.adam(0.01), 0, (4,))


@contextlib.contextmanager
def no_programs():
    """Building a compiled program (training epoch, sweep, evaluation, inference) fails."""
    def boom(*args, **kwargs):
        raise AssertionError("a program was compiled before the bad argument was rejected")
    targets = ["nnfunc.train._setup.jitted_epoch", "nnfunc.train._setup.progress_parts",
               "nnfunc.train._setup.jitted_eval", "nnfunc.train.sweep._sweep_program",
               "nnfunc.train.sweep._scan_runs", "nnfunc.train.epoch.jitted_eval",
               "nnfunc.train.inference._batch_program", "jax.jit"]
    with contextlib.ExitStack() as stack:
        for t in targets:
            stack.enter_context(mock.patch(t, boom))
        yield


def _data_arg(name: str, *, optional: bool = False) -> Arg:
    bad = {"mismatched-length": st.just((X, Y[:10])), "nan-X": st.just((X.at[0, 0].set(NAN), Y)),
           "inf-X": st.just((X.at[3, 1].set(INF), Y)),
           "label-too-large": st.just((X, Y + 1)), "negative-label": st.just((X, Y - 1)),
           "triple": st.just((X, Y, Y)), "str": st.just("mnist"),
           "wrong-features": st.just((X[:, :3], Y)), "scalar": st.just((1.0, 2.0)),
           "complex": st.just((X.astype(jnp.complex64), Y)),
           "one-hot-labels-wrong-width": st.just((X, jax.nn.one_hot(Y, 5)))}
    if optional:
        del bad["triple"]   # keep the count honest: one kind per distinct check
    valid = st.sampled_from([(X, Y), (np.asarray(X), np.asarray(Y)), [X, Y]])
    if optional:
        valid = st.one_of(st.none(), st.just((X[:8], Y[:8])))
    return Arg(valid, bad, name=name)


def _ts_ok(result):
    ts = result.state
    assert_finite(ts.params)
    for values in result.history.values():
        assert np.all(np.isfinite(values))


def _fit(**kw):
    kw.setdefault("progress", False)
    return nf.train.fit(MODEL, OPT, LOSS, **kw)


FALSE_ONLY = Arg(st.just(False), boolean().bad)      # True would compile another program
BATCH = integer(1, 16)._replace(valid=st.sampled_from([8, 16]))   # > 16: more than the data
TRAIN = {
    "fit": Entry(_fit, dict(
        data=_data_arg("data"), eval_data=_data_arg("eval_data", optional=True),
        epochs=integer(0, cap=2), batch_size=BATCH,
        eval_batch_size=integer(1)._replace(valid=st.sampled_from([1000, 5])),
        key=Arg(st.sampled_from([0, 3, np.int64(1), jax.random.key(2)]),
                {"str": st.just("seed"), "float": st.just(1.5)}),
        state=Arg(st.sampled_from([None, TS]),
                  {"other-architecture": st.just(OTHER_ARCH), "dict": st.just({}),
                   "other-optimizer": st.just(OTHER_OPT)}),
        mixed_precision=FALSE_ONLY, diagnostics=FALSE_ONLY,
        callbacks=Arg(st.just(()), {"not-callback": st.just([object()]),
                                    "eval-monitor-without-eval-data": st.just(
                                        [nf.train.EarlyStopping()])}),
        regularizer=Arg(st.sampled_from([None, nf.regularizers.l2]),
                        {"str": st.just("l2"), "number": st.just(0.1)})),
        _ts_ok, dict(data=(X, Y), batch_size=8), examples=6),
    "sweep": Entry(lambda **kw: nf.train.sweep(MODEL, OPT, LOSS, **kw), dict(
        data=_data_arg("data"),
        hparams=Arg(st.sampled_from([{"learning_rate": [0.1, 0.01]},
                                     {"learning_rate": np.array([0.05, 0.2])}]),
                    {"negative": st.just({"learning_rate": [0.1, -0.1]}),
                     "nan": st.just({"learning_rate": [0.1, NAN]}),
                     "unknown-name": st.just({"lr": [0.1, 0.2]}),
                     "empty": st.just({"learning_rate": []}),
                     "scalar": st.just({"learning_rate": 0.1})}),
        seeds=Arg(st.just(None), {"negative": st.just([-1, 2]), "str": st.just("01"),
                                  "wrong-count": st.just([0, 1, 2])}),
        epochs=integer(1, cap=1), batch_size=BATCH),
        lambda r: assert_finite(r.state.params),
        dict(data=(X, Y), hparams={"learning_rate": [0.1, 0.01]}, batch_size=8),
        examples=3),
    "evaluate": Entry(lambda **kw: nf.train.evaluate(MODEL, LOSS, **kw), dict(
        data=_data_arg("data"), batch_size=integer(1)._replace(valid=st.just(1000)),
        ts=Arg(st.just(TS), {"other-architecture": st.just(OTHER_ARCH), "dict": st.just({}),
                             "None": st.none()}, name="ts")),
        lambda m: assert_finite(m), dict(data=(X, Y), ts=TS)),
    "predict": Entry(lambda **kw: nf.train.predict(MODEL, **kw), dict(
        X=Arg(st.sampled_from([X, np.asarray(X), X.tolist()]),
              {"wrong-features": st.just(X[:, :3]), "scalar": st.just(1.0),
               "str": st.just("x")}),
        state=Arg(st.sampled_from([TS, (TS.params, TS.model_state)]),
                  {"other-architecture": st.just(OTHER_ARCH), "triple": st.just((1, 2, 3)),
                   "None": st.none()}),
        batch_size=integer(1)._replace(valid=st.just(1024))),
        shape_is((16, 3)), dict(X=X, state=TS)),
}

ENTRIES = {f"train.{k}": v for k, v in TRAIN.items()}
BAD_KINDS = bad_kinds(ENTRIES)


test_bad_argument_raises_naming_it, test_valid_arguments_give_finite_results = \
    property_tests(ENTRIES, guard=no_programs)


def test_the_guard_catches_a_compilation():
    """no_programs really fails a call that builds a program (so a passing bad-input
    property means the error came first)."""
    with no_programs(), pytest.raises(AssertionError, match="compiled"):
        _fit(data=(X, Y), batch_size=8, epochs=1)
