"""The machinery of the property tests (issue 16 §2): every public constructor and
``fit``/``sweep``/``evaluate``/``predict`` over generated arguments, valid and invalid.

The property: a call either raises ``ValueError``/``TypeError`` naming the argument (for a
drawn invalid value: always; a silent accept fails), or succeeds and a small forward pass,
update or evaluation gives finite values of the right shape (for valid draws: always).

Each area keeps a registry (``ENTRIES``) beside its module's tests: per callable, per
argument, one hypothesis strategy of valid values and a dict ``{class of bad value:
strategy}``. A *kind of bad input* is one ``(callable, argument, class)`` triple of a
registry; ``test_property_kit.py`` adds the areas up (goal of the issue: >= 150). The
areas: ``optim/test_optim_properties.py``, ``schedules/test_schedules_properties.py``,
``layers/test_layers_properties.py``, ``models/test_models_properties.py``,
``test_losses_properties.py`` and ``test_properties_train.py`` (data, train, text).

Hypothesis runs derandomized (the same examples on every run) with few examples each,
on tiny arrays, so the areas run in well under 90 s on a loaded 2-core CPU.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings, strategies as st

import nnfunc as nf

NAN, INF = float("nan"), float("inf")

# derandomize: CI sees the same examples every run; no database of past failures
# no shrinking: a failure is reported as drawn (each draw is labelled), and fast
_COMMON = dict(deadline=None, derandomize=True, database=None,
               suppress_health_check=list(HealthCheck),
               phases=(Phase.explicit, Phase.reuse, Phase.generate))
BAD_SETTINGS = settings(max_examples=4, **_COMMON)
VALID_SETTINGS = settings(max_examples=6, **_COMMON)


# ------------------------------------------------------------------------ argument kinds

class Arg(NamedTuple):
    """One argument: a strategy of valid values and ``{class name: strategy}`` of bad ones.
    ``name``: the text the error must contain (the argument's name by default)."""
    valid: st.SearchStrategy
    bad: dict
    name: Optional[str] = None


def _with_numpy(s: st.SearchStrategy, cast: Callable) -> st.SearchStrategy:
    """Python numbers and NumPy scalars of them (NumPy scalars are valid everywhere)."""
    return st.one_of(s, s.map(cast))


def real(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
         hi_open: bool = False, none_ok: bool = False, span: float = 10.0,
         extra: dict | None = None, skip: tuple = ()) -> Arg:
    """A finite real number in the given interval; bad: outside it, NaN, +-inf, a string,
    a list of valid numbers, None (unless allowed)."""
    vlo = lo if lo is not None else -span
    vhi = hi if hi is not None else vlo + span
    valid = _with_numpy(st.floats(vlo, vhi, exclude_min=lo_open and lo is not None,
                                  exclude_max=hi_open and hi is not None), np.float64)
    bad = {"nan": st.just(NAN), "inf": st.sampled_from([INF, -INF]),
           "str": st.sampled_from(["0.1", "fast"]),
           "list": st.lists(st.floats(vlo, vhi, exclude_min=True, exclude_max=True),
                            min_size=2, max_size=3)}
    if not none_ok:
        bad["None"] = st.none()
    if lo is not None:
        bad["below"] = st.floats(lo - 1e3, lo, exclude_max=not lo_open)
    if hi is not None:
        bad["above"] = st.floats(hi, hi + 1e3, exclude_min=not hi_open)
    bad.update(extra or {})
    for k in skip:
        bad.pop(k)
    return Arg(valid, bad)


def integer(lo: int = 0, hi: int | None = None, *, cap: int | None = None,
            none_ok: bool = False, skip: tuple = ()) -> Arg:
    """An int in ``[lo, hi]`` (NumPy ints valid; valid draws stop at ``cap``, to keep
    shapes small); bad: out of range, a non-integral float, a bool, a string, NaN, None
    (unless allowed)."""
    vhi = hi if hi is not None else cap if cap is not None else lo + 6
    valid = _with_numpy(st.integers(lo, vhi), np.int64)
    bad = {"below": st.integers(lo - 50, lo - 1), "float": st.floats(0.5, 20.0).filter(
               lambda v: not float(v).is_integer()),
           "bool": st.booleans(), "str": st.sampled_from(["3", "many"]), "nan": st.just(NAN)}
    if not none_ok:
        bad["None"] = st.none()
    if hi is not None:
        bad["above"] = st.integers(hi + 1, hi + 50)
    for k in skip:
        bad.pop(k)
    return Arg(valid, bad)


def boolean() -> Arg:
    """True/False (NumPy bools valid); bad: a string ('no' reads as True), an int, None."""
    return Arg(_with_numpy(st.booleans(), np.bool_),
               {"str": st.sampled_from(["no", "yes"]), "int": st.sampled_from([0, 1]),
                "None": st.none()})


def choice(*options: Any, none_ok: bool = False) -> Arg:
    bad = {"unknown": st.sampled_from(["bogus", "other"]), "int": st.just(1)}
    if not none_ok:
        bad["None"] = st.none()
    return Arg(st.sampled_from(options), bad)


def pair(elem: Arg, ok: Callable[[tuple], bool] = lambda p: True, *,
         elem_kinds: tuple = ("below", "above", "nan"), scalar_bad: bool = True) -> Arg:
    """A 2-tuple (or list) of ``elem`` values with ``ok(pair)``; bad: a wrong length, a
    string, a bare scalar, and the first or second entry of a bad class of ``elem``."""
    valid = st.tuples(elem.valid, elem.valid).filter(ok)
    valid = st.one_of(valid, valid.map(list))
    bad = {"wrong-length": st.one_of(st.tuples(elem.valid),
                                     st.tuples(elem.valid, elem.valid, elem.valid)),
           "str": st.just("ab")}
    if scalar_bad:
        bad["scalar"] = elem.valid
    for k in elem_kinds:
        if k in elem.bad:
            bad[f"first-{k}"] = st.tuples(elem.bad[k], elem.valid)
            bad[f"second-{k}"] = st.tuples(elem.valid, elem.bad[k])
    return Arg(valid, bad)


def function_arg(*valid: Callable) -> Arg:
    return Arg(st.sampled_from(valid), {"not-callable": st.sampled_from([3, "relu"]),
                                        "None": st.none()})


class Entry(NamedTuple):
    """A public callable: ``build(**kwargs)`` with ``base`` kwargs and the ``args`` drawn;
    ``run(result)`` checks a valid result (finite values of the right shape); ``ok(kwargs)``
    is a joint constraint among valid values (hypothesis ``assume``s it)."""
    build: Callable
    args: dict
    run: Callable = lambda result: None
    base: dict = {}
    ok: Callable = lambda kwargs: True
    raises: tuple = (ValueError, TypeError)
    examples: Optional[int] = None      # max_examples of the valid property, if not 6


def bad_kinds(entries: dict) -> list[tuple[str, str, str]]:
    """Every ``(callable, argument, class of bad value)`` of a registry."""
    return [(e, a, k) for e, entry in entries.items() for a, arg in entry.args.items()
            for k in arg.bad]


def check_bad(entry: Entry, arg: str, kind: str, data: Any, *, guard: Callable = None) -> None:
    """Draw a bad value of ``kind`` for ``arg``: the call must raise, naming the argument."""
    spec = entry.args[arg]
    value = data.draw(spec.bad[kind], label=f"{arg} ({kind})")
    kwargs = {**entry.base, arg: value}
    try:
        if guard is None:
            entry.build(**kwargs)
        else:
            with guard():
                entry.build(**kwargs)
    except entry.raises as err:
        assert (spec.name or arg) in str(err), \
            f"the error for {arg}={value!r} does not name {spec.name or arg!r}: {err}"
    else:
        pytest.fail(f"{arg}={value!r} ({kind}) was accepted silently")


def check_valid(entry: Entry, data: Any) -> None:
    """Draw every argument from its valid strategy: the call succeeds and ``run`` passes."""
    kwargs = dict(entry.base)
    for arg, spec in entry.args.items():
        if data.draw(st.booleans(), label=f"draw {arg}"):
            kwargs[arg] = data.draw(spec.valid, label=arg)
    assume(entry.ok(kwargs))
    entry.run(entry.build(**kwargs))


def assert_finite_like(tree: Any, like: Any) -> None:
    """Same tree structure and leaf shapes as ``like``, every leaf finite."""
    assert jax.tree_util.tree_structure(tree) == jax.tree_util.tree_structure(like)
    for a, b in zip(jax.tree_util.tree_leaves(tree), jax.tree_util.tree_leaves(like)):
        assert jnp.shape(a) == jnp.shape(b)
        assert bool(jnp.all(jnp.isfinite(a))), a


def assert_finite(x: Any, shape: tuple | None = None) -> None:
    for leaf in jax.tree_util.tree_leaves(x):
        if jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.inexact):
            assert bool(jnp.all(jnp.isfinite(leaf))), leaf
    if shape is not None:
        assert tuple(jnp.shape(x)) == tuple(shape), (jnp.shape(x), shape)


def shape_is(shape: tuple) -> Callable[[Any], None]:
    """A result check: the output is finite and has ``shape``."""
    return lambda out: assert_finite(jnp.asarray(out), shape)


def valid_settings(entry: Entry) -> settings:
    return VALID_SETTINGS if entry.examples is None else settings(
        VALID_SETTINGS, max_examples=entry.examples)


def prop(check: Callable, settings_: settings, *args: Any, **kwargs: Any) -> None:
    """Run ``check(*args, data, **kwargs)`` as a hypothesis property.

    The ``@given`` function is built inside each parametrized test: decorating the
    parametrized test itself makes the hypothesis pytest plugin re-wrap one shared
    settings object per parameter, a chain that grows until it overflows the stack
    after a few hundred parameters (and slows every example down on the way)."""
    @settings_
    @given(data=st.data())
    def run(data):
        check(*args, data, **kwargs)
    run()


# ------------------------------------------------------------------------ shared kinds

NONNEG = real(0.0, span=5.0)
POSITIVE = real(0.0, lo_open=True, span=5.0)
UNIT = real(0.0, 1.0)
UNIT_OPEN = real(0.0, 1.0, hi_open=True)
KEY = jax.random.key(0)


def run_layer(shape: tuple, *, train: bool = False, ints: int = 0):
    """init on ``shape``, apply to a batch of 2: finite, of ``output_shape``'s shape."""
    def run(layer):
        params, state = layer.init(KEY, shape)
        n = 2 * int(np.prod(shape))
        x = (jnp.arange(n).reshape((2,) + shape) % ints if ints
             else jnp.sin(jnp.arange(n, dtype=jnp.float32)).reshape((2,) + shape))
        y, _ = layer.apply(params, state, x, train=train, key=KEY)
        assert_finite(y, (2,) + nf.layers.output_shape(layer, shape, dtype=x.dtype))
    return run


def property_tests(entries: dict, *, guard: Callable = None) -> tuple[Callable, Callable]:
    """An area's two property tests over its registry ``entries``, to bind to module names
    starting with ``test_``: every kind of bad argument raises naming it (under ``guard``,
    e.g. no compilation first), and valid arguments give finite results."""
    kinds = bad_kinds(entries)

    @pytest.mark.parametrize("entry,arg,kind", kinds, ids=["-".join(k) for k in kinds])
    def test_bad_argument_raises_naming_it(entry, arg, kind):
        prop(check_bad, BAD_SETTINGS, entries[entry], arg, kind, guard=guard)

    @pytest.mark.parametrize("entry", list(entries))
    def test_valid_arguments_give_finite_results(entry):
        prop(check_valid, valid_settings(entries[entry]), entries[entry])

    return test_bad_argument_raises_naming_it, test_valid_arguments_give_finite_results
