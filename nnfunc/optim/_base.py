"""The optimizer protocol, hyperparameters-as-state, and ``apply_updates``.

An optimizer is a pair of pure functions (optax's convention, torch's semantics)::

    state = opt.init(params)
    updates, state = opt.update(grads, state, params)
    params = apply_updates(params, updates)        # params + updates

Every optimizer state is a flat NamedTuple whose first two fields are ``count`` (the
number of updates applied so far; optimizer step ``k`` is the call made with
``count == k``) and ``hparams`` (a dict of every numeric hyperparameter as an array).
Because hyperparameters are arrays *in the state*, a jitted ``update`` can be given new
values (``set_hparams``) without recompiling, they can be logged (``get_hparams``), and a
whole training run can be ``vmap``-ped over them.

``learning_rate`` may be a number, an array, a tracer, or a schedule (any ``step ->
value`` callable). With a schedule, ``hparams['learning_rate']`` holds the value the
last step used (``schedule(count) * lr_scale``; before the first step, ``schedule(0)``),
and ``hparams['lr_scale']`` (1.0) is a multiplier that a reduce-on-plateau controller
may set with ``set_hparams(state, lr_scale=...)``.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from nnfunc import tree as _tree

PyTree = Any
Schedule = Callable[[Any], Any]

__all__ = ["Optimizer", "apply_updates", "get_hparams", "set_hparams"]


class Optimizer(NamedTuple):
    """A pair of pure functions: ``init(params) -> state`` and
    ``update(grads, state, params=None) -> (updates, state)``."""
    init: Callable[[PyTree], Any]
    update: Callable[..., tuple[PyTree, Any]]


def apply_updates(params: PyTree, updates: PyTree) -> PyTree:
    """Apply updates to parameters: ``θ ← θ + u``, each leaf keeping its dtype.

    Args:
      params: the parameter pytree.
      updates: a pytree of the same structure (as returned by ``opt.update``).

    Returns:
      The new parameters.

    Example:
      >>> import jax.numpy as jnp
      >>> apply_updates({'w': jnp.array([1., 2.])}, {'w': jnp.array([0.5, -1.])})['w']
      Array([1.5, 1. ], dtype=float32)
    """
    _tree.check_same_structure(params, updates, names=("params", "updates"))
    return jax.tree_util.tree_map(lambda p, u: (p + u).astype(p.dtype), params, updates)


# ---------------------------------------------------------------------------------------
# validation of hyperparameters: one table, used at construction and by set_hparams

def _is_concrete(x: Any) -> bool:
    return not isinstance(x, jax.core.Tracer)


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


def _check_value(name: str, value: Any, pred: Callable[[float], bool], allowed: str) -> None:
    """Raise ``ValueError`` if a concrete (scalar or array) value breaks ``pred``."""
    if value is None or not _is_concrete(value) or callable(value):
        return
    arr = jax.device_get(value)
    import numpy as np  # local: numpy only for the concrete check
    flat = np.asarray(arr, dtype=float).ravel()
    if flat.size and not all(pred(float(v)) for v in flat):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


def check_hparam(name: str, value: Any, pred: Callable[[float], bool] | None = None,
                 allowed: str = "") -> None:
    """Validate one concrete hyperparameter (tracers pass through untouched).

    Uses the shared rule for ``name`` unless ``pred``/``allowed`` are given. ``betas`` is
    checked elementwise against ``0 <= beta < 1``.
    """
    if name == "betas" and isinstance(value, (tuple, list)):
        for i, b in enumerate(value):
            _check_value(f"betas[{i}]", b, _unit_open, "in [0, 1)")
        return
    if pred is None:
        if name not in _RULES:
            return
        pred, allowed = _RULES[name]
    _check_value(name, value, pred, allowed)


def _as_hparam(value: Any, like: Any = None) -> Any:
    """A hyperparameter as an array of the default float dtype (or ``like``'s dtype)."""
    if isinstance(value, (tuple, list)):
        likes = like if isinstance(like, (tuple, list)) else [None] * len(value)
        return tuple(_as_hparam(v, l) for v, l in zip(value, likes))
    dtype = like.dtype if like is not None else jnp.result_type(float)
    return jnp.asarray(value, dtype=dtype)


def make_hparams(**values: Any) -> dict[str, Any]:
    """Validate concrete hyperparameters and store them as arrays.

    ``learning_rate`` given as a schedule stores ``schedule(0)`` and adds ``lr_scale=1``.
    """
    out = {}
    for name, value in values.items():
        if name == "learning_rate" and callable(value):
            out["learning_rate"] = _as_hparam(value(0))
            out["lr_scale"] = _as_hparam(1.0)
            continue
        check_hparam(name, value)
        out[name] = _as_hparam(value)
    return out


def current_lr(learning_rate: Any, hparams: dict, count: jax.Array) -> tuple[Any, dict]:
    """The learning rate for optimizer step ``count``, and hparams recording it.

    ``lr = schedule(count) · lr_scale`` when ``learning_rate`` is a schedule, else
    ``hparams['learning_rate']`` (which ``set_hparams`` may have changed).
    """
    if not callable(learning_rate):
        return hparams["learning_rate"], hparams
    lr = (jnp.asarray(learning_rate(count)) * hparams["lr_scale"]).astype(
        hparams["learning_rate"].dtype)
    return lr, {**hparams, "learning_rate": lr}


def is_zero(x: Any) -> bool:
    """A concrete zero: lets the traced program skip a term entirely (tracers never are).
    Checked with numpy, so it also works while an outer ``jit`` is tracing."""
    if isinstance(x, jax.core.Tracer) or callable(x):
        return False
    import numpy as np
    return bool(np.all(np.asarray(x) == 0))


def zeros_slots(params: PyTree) -> PyTree:
    """Fresh zero buffers shaped like ``params`` (dtype kept, weak type dropped, so the
    state's type is stable across steps, and no two slots share a buffer for donation)."""
    return jax.tree_util.tree_map(lambda p: jnp.zeros(jnp.shape(p), jnp.result_type(p)), params)


def check_trees(grads: PyTree, params: PyTree | None) -> None:
    """Clear error when grads and params do not share a tree structure."""
    if params is not None:
        _tree.check_same_structure(grads, params, names=("grads", "params"))


def require_params(params: PyTree | None, who: str) -> None:
    """Clear error when an optimizer that needs ``params`` did not get them."""
    if params is None:
        raise ValueError(f"{who} needs the current params: call update(grads, state, params)")


def _leafwise(fn: Callable, n_out: int, tree: PyTree, *slots: PyTree | None) -> tuple:
    """Run ``fn(leaf, *slot_leaves) -> n_out values`` once per leaf: one fused pass.

    A slot given as ``None`` (absent) passes ``None`` to ``fn``; leaf positions where ``fn``
    returns ``None`` are stored as ``None``. Returns ``n_out`` trees (``None`` when a whole
    output is absent).
    """
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    cols = [[None] * len(leaves) if s is None else treedef.flatten_up_to(s) for s in slots]
    outs = [fn(*args) for args in zip(leaves, *cols)]
    result = []
    for i in range(n_out):
        col = [o[i] for o in outs]
        absent = bool(col) and all(c is None for c in col)
        result.append(None if absent else treedef.unflatten(col))
    return tuple(result)


def _step(count: jax.Array, like: jax.Array) -> jax.Array:
    """torch's 1-based step number as a float of the hyperparameters' dtype (>= float32)."""
    return (count + 1).astype(like.dtype)


def _hparams(learning_rate, weight_decay, **others) -> dict:
    """hparams of an optimizer with a weight decay. A concrete 0 is stored as ``None``:
    the update then has no decay term at all (no extra pass over the parameters, no
    ``params`` needed), yet the name is there: ``get_hparams`` reads 0, and
    ``set_hparams`` gives it a value (the update then compiles once more, with the term)."""
    out = make_hparams(learning_rate=learning_rate, **others)
    if is_zero(weight_decay):
        out["weight_decay"] = None
    else:
        out.update(make_hparams(weight_decay=weight_decay))
    return out


def _coupled_decay(grads, params, hp, who):
    """``g + λθ`` (torch's default L2 penalty; Lion adds it to its direction), or
    ``grads`` when λ is compiled out (``None``, see :func:`_hparams`)."""
    wd = hp.get("weight_decay")
    if wd is None:
        return grads
    require_params(params, who)
    # in float32 or wider, rounded once to the gradient's dtype (as torch's add(alpha=))
    return jax.tree_util.tree_map(lambda g, p: (g + wd * p).astype(jnp.result_type(g)),
                                  grads, params)


def make_optimizer(init: Callable, update: Callable) -> Optimizer:
    """Build an ``Optimizer`` whose ``update`` is ``jax.jit``-compiled (inlined if the
    caller jits too); ``params`` defaults to ``None`` for optimizers that do not use it."""
    jitted = jax.jit(update)

    def _init(params):
        # fresh hyperparameter buffers per state: builders close over one dict of arrays,
        # and a training step that donates one state must not delete another's
        state = init(params)
        return state._replace(hparams=jax.tree_util.tree_map(
            lambda x: jnp.array(x, copy=True), state.hparams))
    _init.__doc__ = init.__doc__

    def _update(grads, state, params=None):
        check_trees(grads, params)
        return jitted(grads, state, params)
    _update.__doc__ = update.__doc__
    return Optimizer(_init, _update)


# ---------------------------------------------------------------------------------------
# reading and writing hyperparameters of any (possibly wrapped) optimizer state

def _is_opt_state(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields") and "hparams" in x._fields


def _children(x: Any):
    """Containers inside a state that may hold further optimizer states."""
    if _is_opt_state(x):
        return [getattr(x, f) for f in x._fields if f != "hparams"]
    if isinstance(x, (tuple, list)):
        return list(x)
    if isinstance(x, dict):
        return list(x.values())
    return []


def _iter_states(state: Any):
    if _is_opt_state(state):
        yield state
    for child in _children(state):
        yield from _iter_states(child)


def get_hparams(state: Any) -> dict[str, Any]:
    """Read the hyperparameters of an optimizer state, wrappers and chains included.

    For a chain or wrapper, the dicts of all inner states are merged; where two inner
    optimizers share a name, the outermost/first one wins (use the inner state directly
    to read the other).

    Args:
      state: an optimizer state (or a state of ``chain``/wrappers).

    Returns:
      ``{name: array}``; ``betas`` is a tuple of two arrays; a weight decay built as 0
      (compiled out) reads as 0.

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
    for s in _iter_states(state):
        for k, v in s.hparams.items():
            out.setdefault(k, jnp.zeros((), jnp.result_type(float)) if v is None else v)
    return out


def _set(state: Any, values: dict, found: set) -> Any:
    if _is_opt_state(state):
        hp = dict(state.hparams)
        for k, v in values.items():
            if k in hp:
                hp[k] = _as_hparam(v, hp[k])
                found.add(k)
        fields = {f: _set(getattr(state, f), values, found)
                  for f in state._fields if f != "hparams"}
        return state._replace(hparams=hp, **fields)
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
    setting ``learning_rate`` itself there is overwritten at the next step. Giving a value
    to a weight decay that was built as 0 (and so compiled out) adds a term to the update:
    that update compiles once more, then the value is as adjustable as any other.

    Args:
      state: an optimizer state.
      **values: new values, e.g. ``learning_rate=3e-4`` or ``betas=(0.9, 0.99)``.

    Returns:
      The new state.

    Raises:
      ValueError: an unknown name, or an invalid concrete value.

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
