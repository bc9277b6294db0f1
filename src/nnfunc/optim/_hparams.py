"""Hyperparameters as state: making and validating them (one table of rules, used at
construction and by ``set_hparams``), the learning rate of a step, and reading and
writing them in any (possibly wrapped) optimizer state.

Because hyperparameters are arrays *in the state*, a jitted ``update`` can be given new
values (``set_hparams``) without recompiling, they can be logged (``get_hparams``), and a
whole training run can be ``vmap``-ped over them.

A hyperparameter built as 0/off is compiled out: stored as None, read as 0 by
``get_hparams``; ``set_hparams`` gives it a value and the update then compiles once more
(with the term). These are ``weight_decay`` (all optimizers but ``lamb`` and ``lars``,
which always keep the term) and ``momentum`` (``sgd``, ``rmsprop``). A slot that only such
a hyperparameter needs (a momentum buffer) is made of ``LazySlot`` leaves meanwhile (see
``_slots``), and ``set_hparams`` turns it into zeros at once. The state's structure thus
changes in ``set_hparams``, never inside an update, so a ``lax.scan`` over steps (``fit``,
``make_epoch``, ``sweep``) carries one structure throughout. (``sgd`` also keeps
``momentum_fresh``, True until its new buffer is first written, because torch makes that
buffer from the first gradient: ``b = g``.)

``learning_rate`` may be a number, an array, a tracer, or a schedule (any ``step ->
value`` callable). With a schedule, ``hparams['learning_rate']`` holds the value the
last step used (``schedule(count) * lr_scale``; before the first step, ``schedule(0)``),
and ``hparams['lr_scale']`` (1.0) is a multiplier that a reduce-on-plateau controller
may set with ``set_hparams(state, lr_scale=...)``.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from nnfunc._checks import check_pair, check_value, is_traced
from nnfunc.optim._base import hp_field, hparams_of, is_opt_state, iter_states
from nnfunc.optim._slots import LazySlot


# ---------------------------------------------------------------------------------------
# validation of hyperparameters: one table, used at construction and by set_hparams

def _nonneg(x):
    return x >= 0


def _unit_open(x):      # [0, 1)
    return 0 <= x < 1


def _unit_closed(x):    # [0, 1]
    return 0 <= x <= 1


def _integer(minimum: int) -> tuple[Callable[[float], bool], str]:
    return (lambda x: x >= minimum and float(x).is_integer()), f"an integer >= {minimum}"


# name -> (predicate on a concrete float, description of what is allowed)
_RULES: dict[str, tuple[Callable[[float], bool], str]] = {
    "learning_rate": (_nonneg, ">= 0"),
    "eps": (_nonneg, ">= 0"),
    "weight_decay": (_nonneg, ">= 0"),
    "momentum": (_nonneg, ">= 0"),
    "dampening": (_unit_closed, "in [0, 1]"),
    "alpha": (_nonneg, ">= 0"),
    "rho": (_unit_closed, "in [0, 1]"),
    "lr_decay": (_nonneg, ">= 0"),
    "initial_accumulator_value": (_nonneg, ">= 0"),
    "momentum_decay": (_nonneg, ">= 0"),
    "lr_scale": (_nonneg, ">= 0"),
    "lambd": (_nonneg, ">= 0"),
    "t0": (_nonneg, ">= 0"),
    "beta2_decay": (lambda x: x <= 0, "<= 0"),
    "d": (lambda x: x >= 1, ">= 1"),
    # beyond torch: optimizers, gradient transformations and wrappers
    "trust_coefficient": (_nonneg, ">= 0"),
    "eta": (_nonneg, ">= 0"),
    "gamma": (_nonneg, ">= 0"),
    "max_norm": (_nonneg, ">= 0"),
    "lookahead_alpha": (_unit_closed, "in [0, 1]"),
    "decay": (_unit_closed, "in [0, 1]"),
    "every_k": _integer(1),
    "lookahead_k": _integer(1),
    "every": _integer(1),
    "start": _integer(0),
}


def check_hparam(name: str, value: Any, pred: Callable[[float], bool] | None = None,
                 allowed: str = "") -> None:
    """Validate one concrete hyperparameter (tracers pass through untouched).

    Uses the shared rule for ``name`` unless ``pred``/``allowed`` are given. ``betas`` is
    checked to be a pair, each ``0 <= beta < 1``. Every value must be finite.
    """
    if name == "betas":
        for i, b in enumerate(check_pair("betas", value, "a pair (beta1, beta2), each in [0, 1)")):
            check_value(f"betas[{i}]", b, _unit_open, "in [0, 1)")
            if not is_traced(b) and np.ndim(b) == 0 and b is not None and \
                    float(np.asarray(b, jnp.result_type(float))) >= 1:
                raise ValueError(f"betas[{i}] must be in [0, 1), got {b!r}, which is 1.0 "
                                 f"in {jnp.result_type(float)} (the division by "
                                 f"1 - beta would give NaN)")
        return
    if pred is None:
        if name not in _RULES:
            return
        pred, allowed = _RULES[name]
    if value is None or isinstance(value, (bool, np.bool_)):    # True would read as 1
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    check_value(name, value, pred, allowed)


def int_hparam(name: str, value: Any) -> jax.Array:
    """An integer hyperparameter (a period or a step) as an int32 array, validated by its
    shared rule (the one ``set_hparams`` applies)."""
    check_hparam(name, value)
    return jnp.asarray(value, jnp.int32)


def _as_hparam(value: Any, like: Any = None) -> Any:
    """A hyperparameter as an array of the default float dtype (or ``like``'s dtype)."""
    if isinstance(value, (tuple, list)):
        likes = like if isinstance(like, (tuple, list)) else [None] * len(value)
        return tuple(_as_hparam(v, l) for v, l in zip(value, likes))
    dtype = like.dtype if like is not None else jnp.result_type(float)
    return jnp.asarray(value, dtype=dtype)


def make_hparams(**values: Any) -> dict[str, Any]:
    """Validate concrete hyperparameters and store them as arrays: an optimizer's ``hparams``.

    Each value becomes an array of the default float dtype (float32, or float64 under
    ``jax_enable_x64``); ``betas`` becomes a tuple of two. Names with a shared rule are
    checked as the built-in optimizers check them (``learning_rate``, ``eps``,
    ``weight_decay``, ``momentum`` >= 0; ``dampening``, ``rho`` in [0, 1]; ``betas`` a pair
    in [0, 1); ...): the value must be one finite number (tracers pass through). Other
    names are stored as given, unchecked: validate them in your builder.

    ``learning_rate`` given as a schedule (any callable ``step -> value``) stores
    ``schedule(0)`` and adds ``lr_scale = 1``, the multiplier that :func:`current_lr`
    applies and ``set_hparams(state, lr_scale=...)`` (e.g. a reduce-on-plateau) changes;
    a concrete ``schedule(0)`` that is negative or not finite is rejected.

    Keep the schedule (or number) itself too, to hand to :func:`current_lr` at each step.

    Args:
      **values: ``name=value`` for every numeric hyperparameter, ``learning_rate`` first
        by convention (``fit`` records ``hparams['learning_rate']`` as its ``lr``).

    Returns:
      ``{name: array}``, to store as the state's ``hparams`` field.

    Raises:
      ValueError: a checked hyperparameter that is out of range, not finite, not a single
        number, or ``None``.

    Example:
      >>> import nnfunc as nf
      >>> hp = nf.optim.make_hparams(learning_rate=0.1, momentum=0.9)
      >>> sorted(hp), hp['momentum'].dtype
      (['learning_rate', 'momentum'], dtype('float32'))
      >>> sorted(nf.optim.make_hparams(learning_rate=lambda step: 0.1 / (1 + step)))
      ['learning_rate', 'lr_scale']
      >>> nf.optim.make_hparams(learning_rate=-1.0)
      Traceback (most recent call last):
      ValueError: learning_rate must be >= 0, got -1.0
    """
    out = {}
    for name, value in values.items():
        if name == "learning_rate" and callable(value):
            first = value(0)
            check_hparam("learning_rate schedule(0)", first, _nonneg, ">= 0 (a learning rate)")
            out["learning_rate"] = _as_hparam(first)
            out["lr_scale"] = _as_hparam(1.0)
            continue
        check_hparam(name, value)
        if name in _RULES or name == "betas":
            for i, v in enumerate(value if name == "betas" else (value,)):
                _check_scalar(f"betas[{i}]" if name == "betas" else name, v)
        out[name] = _as_hparam(tuple(value) if name == "betas" else value)
    return out


def _check_scalar(name: str, value: Any) -> None:
    """A constructor's hyperparameter is one number (``set_hparams`` alone takes arrays,
    for ``sweep``): ``None`` or a list would otherwise fail deep inside ``jnp.asarray`` or
    broadcast the updates to another shape."""
    if value is None or (not callable(value) and not is_traced(value)
                         and np.ndim(value) != 0):
        raise ValueError(f"{name} must be a number, got {value!r}")


def is_zero(x: Any) -> bool:
    """A concrete zero: lets the traced program skip a term entirely (tracers never are).
    Checked with numpy, so it also works while an outer ``jit`` is tracing."""
    if is_traced(x) or callable(x):
        return False
    return bool(np.all(np.asarray(x) == 0))


def decay_hparams(learning_rate: Any, weight_decay: Any, *, compiled_out: tuple = (),
                  **others: Any) -> dict:
    """hparams of an optimizer with a weight decay: ``learning_rate``, ``others`` then
    ``weight_decay``, validated. ``weight_decay`` and the names in ``compiled_out`` are
    compiled out when they are a concrete 0: stored as ``None``, so the update has no term
    for them at all (no extra pass over the parameters, no ``params`` needed for a decay,
    no momentum buffer), yet the name is there: ``get_hparams`` reads 0, and
    ``set_hparams`` gives it a value (the update then compiles once more, with the term)."""
    out = make_hparams(learning_rate=learning_rate)
    for name, value in {**others, "weight_decay": weight_decay}.items():
        if (name == "weight_decay" or name in compiled_out) and is_zero(value):
            out[name] = None
        else:
            out.update(make_hparams(**{name: value}))
    return out


def current_lr(learning_rate: Any, hparams: dict, count: jax.Array) -> tuple[Any, dict]:
    """The learning rate for optimizer step ``count``, and hparams recording it.

    ``η = schedule(count) · lr_scale`` when ``learning_rate`` is a schedule, else
    ``η = hparams['learning_rate']`` (the value in the state, which ``set_hparams`` may
    have changed: read it here, never close over the number given to the builder, or
    ``set_hparams`` would have no effect). Call it first in ``update`` and return the
    hparams it gives in the new state, so that ``get_hparams`` (and ``fit``'s history
    ``'lr'``) read the rate this step used.

    Args:
      learning_rate: what the builder was given: a number, an array, or a schedule.
      hparams: the state's ``hparams`` (made by :func:`make_hparams`).
      count: the state's ``count`` (step ``k`` is the update made with ``count == k``).

    Returns:
      ``(lr, hparams)``: the scalar rate, and ``hparams`` with ``learning_rate`` set to it
      (unchanged when ``learning_rate`` is not a schedule).

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> sched = lambda step: 0.1 * 0.5 ** step
      >>> hp = nf.optim.make_hparams(learning_rate=sched)
      >>> lr, hp = nf.optim.current_lr(sched, hp, jnp.asarray(2))
      >>> float(lr), float(hp['learning_rate'])
      (0.025, 0.025)
    """
    if not callable(learning_rate):
        return hparams["learning_rate"], hparams
    lr = (jnp.asarray(learning_rate(count)) * hparams["lr_scale"]).astype(
        hparams["learning_rate"].dtype)
    return lr, {**hparams, "learning_rate": lr}


# ---------------------------------------------------------------------------------------
# reading and writing hyperparameters of any (possibly wrapped) optimizer state (found
# with the protocol's iter_states and hparams_of)

def get_hparams(state: Any) -> dict[str, Any]:
    """Read the hyperparameters of an optimizer state, wrappers and chains included.

    For a chain or wrapper, the dicts of all inner states are merged; where two inner
    optimizers share a name, the outermost/first one wins (use the inner state directly
    to read the other).

    Args:
      state: an optimizer state (or a state of ``chain``/wrappers).

    Returns:
      ``{name: array}``; ``betas`` is a tuple of two arrays; a hyperparameter built as 0
      and so compiled out (a weight decay, a momentum) reads as 0.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.sgd(learning_rate=0.1, momentum=0.9)
      >>> s = opt.init({'w': jnp.zeros(2)})
      >>> round(float(nf.optim.get_hparams(s)['learning_rate']), 4)
      0.1
      >>> float(nf.optim.get_hparams(s)['weight_decay'])
      0.0
    """
    out: dict[str, Any] = {}
    for s in iter_states(state):
        for k, v in hparams_of(s).items():
            out.setdefault(k, jnp.zeros((), jnp.result_type(float)) if v is None else v)
    return out


def _make_lazy_slots(tree: Any, hparams: dict) -> Any:
    """``tree`` (fields of one state) with the LazySlots whose hyperparameter now has a
    value made into arrays; nested optimizer states are left alone (their own hparams
    decide)."""
    def make(x):
        if isinstance(x, LazySlot) and hparams.get(x.hparam) is not None:
            return x.make()
        return x
    return jax.tree_util.tree_map(
        make, tree, is_leaf=lambda x: isinstance(x, LazySlot) or is_opt_state(x))


def _check_for_state(state: Any, name: str, value: Any) -> None:
    """The checks of one state's own: its class's ``hparam_rules`` (a rule stricter than
    the shared one, e.g. rmsprop's ``alpha``), and no ``learning_rate`` where a schedule
    would overwrite it at the next step."""
    rule = getattr(type(state), "hparam_rules", {}).get(name)
    if rule is not None:
        check_hparam(name, value, *rule)
    if name == "learning_rate" and "lr_scale" in hparams_of(state):
        raise ValueError("this optimizer's learning_rate is a schedule, which would overwrite "
                         "a learning_rate set here at the next step: set lr_scale (a "
                         "multiplier of the schedule's value) instead, e.g. "
                         "set_hparams(state, lr_scale=...) or sweep(..., "
                         "hparams={'lr_scale': [...]})")


def _set(state: Any, values: dict, found: set) -> Any:
    if is_opt_state(state):
        field = hp_field(state)
        hp = dict(hparams_of(state))
        for k, v in values.items():
            if k in hp:
                _check_for_state(state, k, v)
                hp[k] = _as_hparam(v, hp[k])
                found.add(k)
        fields = {f: _make_lazy_slots(_set(getattr(state, f), values, found), hp)
                  for f in state._fields if f != field}
        return state._replace(**{field: hp}, **fields)
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        return type(state)(*(_set(c, values, found) for c in state))
    if isinstance(state, (tuple, list)):
        return type(state)(_set(c, values, found) for c in state)
    if isinstance(state, dict):
        return {k: _set(v, values, found) for k, v in state.items()}
    return state


def set_hparams(state: Any, **values: Any) -> Any:
    """Return a state with some hyperparameters replaced; a jitted update does not recompile.

    Values keep the stored dtype and shape, so the compiled step is reused. Concrete values
    are validated like at construction. Every inner state holding the name is updated (in a
    chain or wrapper). For an optimizer built with a schedule, set ``lr_scale`` (the
    multiplier applied to the schedule, e.g. from ``nf.schedules.reduce_on_plateau``);
    setting ``learning_rate`` itself there raises (the schedule would overwrite it at the
    next step). Giving a value
    to a hyperparameter that was built as 0 and so compiled out (a weight decay, a
    momentum) adds a term to the update, and makes the slot it needs (a momentum buffer,
    from zeros): that update compiles once more, then the value is as adjustable as any
    other.

    Args:
      state: an optimizer state.
      **values: new values, e.g. ``learning_rate=3e-4`` or ``betas=(0.9, 0.99)``.

    Returns:
      The new state.

    Raises:
      ValueError: an unknown name; an invalid concrete value (negative, not finite,
        ``betas`` not a pair, ...); ``learning_rate`` of an optimizer built with a
        schedule (set ``lr_scale``).

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> s = nf.optim.adam(learning_rate=1e-3).init({'w': jnp.zeros(2)})
      >>> s = nf.optim.set_hparams(s, learning_rate=3e-4)
      >>> round(float(s.hparams['learning_rate']), 6)
      0.0003
    """
    for name, v in values.items():
        check_hparam(name, v)
    found: set = set()
    new = _set(state, values, found)
    missing = set(values) - found
    if missing:
        raise ValueError(f"unknown hyperparameter(s) {sorted(missing)}; this state has "
                         f"{sorted(get_hparams(state))}")
    return new
