"""The optimizer protocol, hyperparameters-as-state, ``apply_updates``, and the helpers
that several optimizer files share.

An optimizer is a pair of pure functions (optax's convention, torch's semantics)::

    state = opt.init(params)
    updates, state = opt.update(grads, state, params)
    params = apply_updates(params, updates)        # params + updates

Every optimizer state is a NamedTuple whose first two fields are ``count`` (the number of
updates applied so far; optimizer step ``k`` is the call made with ``count == k``) and
``hparams`` (a dict of every numeric hyperparameter as an array), then its slots (torch's
state names: ``exp_avg``, ``momentum_buffer``, ...). A wrapper or combinator holds its
inner state(s) as one field, ``inner`` (a state, a tuple or a dict of states), next to
its own slots. Because
hyperparameters are arrays *in the state*, a jitted ``update`` can be given new values
(``set_hparams``) without recompiling, they can be logged (``get_hparams``), and a whole
training run can be ``vmap``-ped over them.

A hyperparameter built as 0/off is compiled out: stored as None, read as 0 by
``get_hparams``; ``set_hparams`` gives it a value and the update then compiles once more
(with the term). These are ``weight_decay`` (all optimizers but ``lamb`` and ``lars``,
which always keep the term) and ``momentum`` (``sgd``, ``rmsprop``). A slot that only such
a hyperparameter needs (a momentum buffer) is made of :class:`LazySlot` leaves meanwhile:
no array, only its shape and dtype, so it costs nothing, and ``set_hparams`` turns it into
zeros at once. The state's structure thus changes in ``set_hparams``, never inside an
update, so a ``lax.scan`` over steps (``fit``, ``make_epoch``, ``sweep``) carries one
structure throughout. (``sgd`` also keeps ``momentum_fresh``, True until its new buffer is
first written, because torch makes that buffer from the first gradient: ``b = g``.)

Slots have the parameters' dtype (``accumulate``'s sum: at least float32); scalar factors
(bias corrections, schedules) are computed in the hyperparameters' float dtype (float32,
or float64 under x64), so bfloat16 parameters get float32 bias corrections.

``learning_rate`` may be a number, an array, a tracer, or a schedule (any ``step ->
value`` callable). With a schedule, ``hparams['learning_rate']`` holds the value the
last step used (``schedule(count) * lr_scale``; before the first step, ``schedule(0)``),
and ``hparams['lr_scale']`` (1.0) is a multiplier that a reduce-on-plateau controller
may set with ``set_hparams(state, lr_scale=...)``.

Only the names in ``__all__`` are public: the protocol (``Optimizer``, ``apply_updates``,
``get_hparams``, ``set_hparams``) and the extension API, what a user needs to write an
optimizer that behaves like the built-in ones (``make_hparams``, ``current_lr``,
``zeros_slots``, ``make_optimizer``; see the package docstring of ``nnfunc.optim`` for the
state convention). The other names without an underscore are the helpers the files of
this package share; they may change.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nnfunc import tree as _tree
from nnfunc._checks import check_float_dtype, check_pair, check_value, is_traced

PyTree = Any
Betas = tuple[Any, Any]

__all__ = ["Optimizer", "apply_updates", "get_hparams", "set_hparams",
           # the extension API: writing an optimizer that behaves like the built-in ones
           "make_hparams", "current_lr", "zeros_slots", "make_optimizer"]


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

    Raises:
      ValueError: ``updates`` differs from ``params`` in structure or in a leaf's shape
        (which would otherwise broadcast, e.g. ``(3, 1) + (3,) -> (3, 3)``).

    Example:
      >>> import jax.numpy as jnp
      >>> apply_updates({'w': jnp.array([1., 2.])}, {'w': jnp.array([0.5, -1.])})['w']
      Array([1.5, 1. ], dtype=float32)
    """
    _tree.check_same_shapes(params, updates, names=("params", "updates"))
    return jax.tree_util.tree_map(lambda p, u: (p + u).astype(p.dtype), params, updates)


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


def torch_step(count: jax.Array, like: jax.Array) -> jax.Array:
    """torch's 1-based step number as a float of the hyperparameters' dtype (>= float32)."""
    return (count + 1).astype(like.dtype)


# Whether ``bias_corrections`` computes its powers as one vector. Off until a GPU measures
# it: compiled for an H200 without one, the stacked form saves two kernels per Adam step
# of an MLP 784-1024-1024-10 (29 -> 27) and one of the CNN, but costs one for an MLP
# 784-100-10 and for vmapped sweeps, where XLA fuses the scalar powers into the updates;
# ``benchmarks/gpu_profile.py`` has the A/B (variant ``adam bias corrections stacked``).
# Read when an optimizer's (jitted) update is first traced: set it before building one.
_STACKED_BIAS_CORRECTIONS = False


def bias_corrections(t: jax.Array, *betas: Any) -> tuple[jax.Array, ...]:
    """``1 − βᵢᵗ`` for each ``βᵢ`` (Adam's, RAdam's and LAMB's bias corrections).

    XLA does not fuse a scalar ``power`` into large consumers, so on a GPU each scalar
    correction can be a kernel of its own every step; computed as one vector power they
    are one kernel, whose slices fuse into the updates. Both forms give the same bits.
    """
    if not _STACKED_BIAS_CORRECTIONS:
        return tuple(1 - b ** t for b in betas)
    dtype = jnp.result_type(t, *betas)
    bc = 1 - jnp.stack([jnp.asarray(b, dtype) for b in betas]) ** t.astype(dtype)
    return tuple(bc[i] for i in range(len(betas)))


# ---------------------------------------------------------------------------------------
# slots

def zero_count() -> jax.Array:
    """A fresh ``count`` (or any int32 counter) at 0."""
    return jnp.zeros((), jnp.int32)


def zeros_slots(params: PyTree) -> PyTree:
    """Fresh zero buffers shaped like ``params``: an optimizer's slot (``m₀ = 0``).

    Each leaf keeps its parameter's shape and dtype with the weak type dropped, so the
    state's type is stable across steps (no recompilation at step 1); every call makes new
    buffers, so no two slots share one (a training step donates the state's buffers).

    Args:
      params: the parameter pytree (or any pytree of arrays).

    Returns:
      A pytree of the same structure, all zeros.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> nf.optim.zeros_slots({'w': jnp.ones((2, 3)), 'b': jnp.ones(3, jnp.bfloat16)})
      {'b': Array([0, 0, 0], dtype=bfloat16), 'w': Array([[0., 0., 0.],
             [0., 0., 0.]], dtype=float32)}
    """
    return jax.tree_util.tree_map(lambda p: jnp.zeros(jnp.shape(p), jnp.result_type(p)), params)


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class LazySlot:
    """A slot leaf that does not exist yet, because hyperparameter ``hparam`` is compiled
    out: the shape and dtype its array will have, and the value it starts from.

    A pytree node without leaves (static under ``jit``): it costs no memory and is part of
    the state's structure. ``set_hparams`` makes it ``full(shape, fill, dtype)`` as soon as
    ``hparam`` gets a value.
    """
    shape: tuple
    dtype: Any
    hparam: str
    fill: Any = 0

    def make(self) -> jax.Array:
        return jnp.full(self.shape, self.fill, self.dtype)


def lazy_slots(params: PyTree, hparam: str) -> PyTree:
    """A zero slot shaped like ``params`` that is compiled out with ``hparam``: one
    :class:`LazySlot` per leaf, with the dtype ``zeros_slots`` would give."""
    return jax.tree_util.tree_map(
        lambda p: LazySlot(tuple(jnp.shape(p)), np.dtype(jnp.result_type(p)), hparam), params)


def _make_lazy_slots(tree: Any, hparams: dict) -> Any:
    """``tree`` (fields of one state) with the LazySlots whose hyperparameter now has a
    value made into arrays; nested optimizer states are left alone (their own hparams
    decide)."""
    def make(x):
        if isinstance(x, LazySlot) and hparams.get(x.hparam) is not None:
            return x.make()
        return x
    return jax.tree_util.tree_map(
        make, tree, is_leaf=lambda x: isinstance(x, LazySlot) or _is_opt_state(x))


def leafwise(fn: Callable, n_out: int, tree: PyTree, *slots: PyTree | None) -> tuple:
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


def leaf_norm(x: jax.Array) -> jax.Array:
    """‖x‖₂ of one leaf, accumulated in at least float32."""
    acc = jnp.promote_types(x.dtype, jnp.float32)
    return jnp.sqrt(jnp.sum(jnp.square(x.astype(acc))))


def _select_leaf(pred: jax.Array, a: Any, b: Any) -> Any:
    """``a if pred else b`` for one leaf, without a branch (vmap-friendly); PRNG keys too."""
    a, b = jnp.asarray(a), jnp.asarray(b)
    if jnp.issubdtype(a.dtype, jax.dtypes.prng_key):
        data = jnp.where(pred, jax.random.key_data(a), jax.random.key_data(b))
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(a))
    return jnp.where(pred, a, b).astype(a.dtype)


def select(pred: jax.Array, a: PyTree, b: PyTree) -> PyTree:
    """Leafwise select between two pytrees of one structure (e.g. two optimizer states)."""
    return jax.tree_util.tree_map(lambda x, y: _select_leaf(pred, x, y), a, b)


# ---------------------------------------------------------------------------------------
# weight decay

def check_trees(grads: PyTree, params: PyTree | None) -> None:
    """Clear error when grads and params do not share a tree structure and leaf shapes."""
    if params is not None:
        _tree.check_same_shapes(grads, params, names=("grads", "params"))


def check_param_dtypes(params: PyTree) -> None:
    """Clear error for a parameter leaf that is not floating point (an integer or bool
    parameter would silently get zero or truncated updates; torch refuses them too)."""
    for path, p in jax.tree_util.tree_flatten_with_path(params)[0]:
        check_float_dtype(f"parameter {jax.tree_util.keystr(path)}", jnp.result_type(p),
                          " to be optimized (exclude it with masked or partition, or "
                          "keep it in the model state)")


def require_params(params: PyTree | None, who: str) -> None:
    """Clear error when an optimizer that needs ``params`` did not get them."""
    if params is None:
        raise ValueError(f"{who} needs the current params: call update(grads, state, params)")


def coupled_decay(grads, params, hp, who):
    """``g + λθ`` (torch's default L2 penalty; Lion adds it to its direction), or
    ``grads`` when λ is compiled out (``None``, see :func:`decay_hparams`)."""
    wd = hp.get("weight_decay")
    if wd is None:
        return grads
    require_params(params, who)
    # in float32 or wider, rounded once to the gradient's dtype (as torch's add(alpha=))
    return jax.tree_util.tree_map(lambda g, p: (g + wd * p).astype(jnp.result_type(g)),
                                  grads, params)


def decay_split(grads, params, hp, lr, decoupled: bool, who: str):
    """Weight decay either way: ``(g + λθ, None)`` (coupled, torch's L2 penalty) or
    ``(g, ηλ)`` for the leaf update to subtract ``ηλθ`` (decoupled, as AdamW); ``(g, None)``
    when λ is compiled out (see :func:`decay_hparams`)."""
    if decoupled and hp.get("weight_decay") is not None:
        require_params(params, who)
        return grads, lr * hp["weight_decay"]
    return coupled_decay(grads, params, hp, who), None


# ---------------------------------------------------------------------------------------
# building optimizers and wrappers

def make_optimizer(init: Callable, update: Callable, *, selects_leaves: bool = False
                   ) -> Optimizer:
    """Build an ``Optimizer`` from ``init`` and ``update`` as the built-in optimizers are.

    ``update`` is ``jax.jit``-compiled (inlined when the caller jits too, as ``fit`` does);
    ``params`` defaults to ``None`` for optimizers that do not use it. ``init`` rejects
    non-float parameter leaves and gives each state fresh copies of its ``hparams`` arrays
    (a builder closes over one dict, and a training step that donates one state's buffers
    must not delete another's); ``update`` rejects grads whose structure or leaf shapes
    differ from ``params``. The state must follow the convention (see ``nnfunc.optim``):
    a NamedTuple with fields ``count``, ``hparams``, then the slots.

    Args:
      init: ``init(params) -> state``.
      update: ``update(grads, state, params) -> (updates, state)``, pure and jit-able;
        hyperparameters are read from ``state.hparams`` (through :func:`current_lr` for
        the learning rate), so ``set_hparams`` does not recompile it.
      selects_leaves: for a wrapper that hands only some leaves to inner optimizers
        (``masked``, ``partition``): the dtype check is left to them.

    Returns:
      An ``Optimizer``. Its ``init`` raises ``TypeError`` for a parameter leaf that is not
      floating point; its ``update`` raises ``ValueError`` for grads that do not fit
      ``params``.

    Example:
      >>> import jax, jax.numpy as jnp, nnfunc as nf
      >>> from typing import NamedTuple
      >>> class SignState(NamedTuple):
      ...     count: jax.Array
      ...     hparams: dict
      >>> def sign_sgd(learning_rate=1e-3):
      ...     hparams0 = nf.optim.make_hparams(learning_rate=learning_rate)
      ...     def init(params):
      ...         return SignState(jnp.zeros((), jnp.int32), hparams0)
      ...     def update(grads, state, params=None):
      ...         lr, hp = nf.optim.current_lr(learning_rate, state.hparams, state.count)
      ...         updates = jax.tree_util.tree_map(lambda g: -lr * jnp.sign(g), grads)
      ...         return updates, SignState(state.count + 1, hp)
      ...     return nf.optim.make_optimizer(init, update)
      >>> opt = sign_sgd(learning_rate=0.1)
      >>> params = {'w': jnp.array([1.0, -2.0])}
      >>> updates, state = opt.update({'w': jnp.array([3.0, -0.5])}, opt.init(params), params)
      >>> updates['w'], int(state.count)
      (Array([-0.1,  0.1], dtype=float32), 1)
    """
    jitted = jax.jit(update)

    def init_fn(params):
        if not selects_leaves:
            check_param_dtypes(params)
        # fresh hyperparameter buffers per state: builders close over one dict of arrays,
        # and a training step that donates one state must not delete another's
        state = init(params)
        return state._replace(hparams=jax.tree_util.tree_map(
            lambda x: jnp.array(x, copy=True), state.hparams))

    def update_fn(grads, state, params=None):
        check_trees(grads, params)
        return jitted(grads, state, params)
    return Optimizer(init_fn, update_fn)


def check_optimizer(opt: Any, name: str) -> None:
    """Clear error when a wrapper's argument ``name`` is not an ``Optimizer``."""
    if not (hasattr(opt, "init") and hasattr(opt, "update")):
        raise TypeError(f"{name} must be an Optimizer (with init and update), got {opt!r}")


class _Label:
    """Opaque leaf wrapper, so label values (strings, None, bools) stay leaves."""
    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


def broadcast_prefix(prefix: Any, tree: PyTree, what: str) -> list:
    """The leaves of ``prefix`` (labels or booleans) repeated over the subtrees of ``tree``
    they cover; one entry per leaf of ``tree``. ``prefix`` may be a callable ``tree ->
    prefix``."""
    if callable(prefix):
        prefix = prefix(tree)
    try:
        full = jax.tree_util.tree_map(
            lambda lab, sub: jax.tree_util.tree_map(lambda _: _Label(lab), sub), prefix, tree)
    except ValueError as err:
        raise ValueError(f"{what} must be a pytree with the structure of the params (or a "
                         f"prefix of it), or a callable params -> such a pytree: {err}") from None
    return [lab.value for lab in jax.tree_util.tree_leaves(full)]


def split_by_labels(tree: PyTree, labels: list, keep: Callable[[Any], bool]) -> PyTree:
    """``tree`` with the leaves whose label fails ``keep`` replaced by ``None`` holes."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return jax.tree_util.tree_unflatten(
        treedef, [x if keep(lab) else None for x, lab in zip(leaves, labels)])


def holes(tree: PyTree) -> list:
    """The leaves of a tree with ``None`` holes, one entry per original leaf."""
    return jax.tree_util.tree_leaves(tree, is_leaf=lambda x: x is None)


# ---------------------------------------------------------------------------------------
# reading and writing hyperparameters of any (possibly wrapped) optimizer state

def _hp_field(x: Any) -> str | None:
    """The field holding a state's hyperparameters: nnfunc's ``hparams``, or optax's
    ``hyperparams`` (``optax.inject_hyperparams``: its states read and set alike)."""
    if not (isinstance(x, tuple) and hasattr(x, "_fields")):
        return None
    for name in ("hparams", "hyperparams"):
        if name in x._fields and isinstance(getattr(x, name), dict):
            return name
    return None


def _is_opt_state(x: Any) -> bool:
    return _hp_field(x) is not None


def hparams_of(x: Any) -> dict:
    """One optimizer state's own hyperparameter dict (``hparams``, or an optax
    ``inject_hyperparams`` state's ``hyperparams``)."""
    return getattr(x, _hp_field(x))


def _children(x: Any):
    """Containers inside a state that may hold further optimizer states."""
    if _is_opt_state(x):
        return [getattr(x, f) for f in x._fields if f != _hp_field(x)]
    if isinstance(x, (tuple, list)):
        return list(x)
    if isinstance(x, dict):
        return list(x.values())
    return []


def iter_states(state: Any):
    """Every optimizer state inside ``state`` (itself first), depth first."""
    if _is_opt_state(state):
        yield state
    for child in _children(state):
        yield from iter_states(child)


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
    if _is_opt_state(state):
        field = _hp_field(state)
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
