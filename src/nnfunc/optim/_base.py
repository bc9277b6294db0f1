"""The optimizer protocol: ``Optimizer``, ``apply_updates``, ``make_optimizer``, the state
convention (``iter_states``, ``hparams_of``: the optimizer states inside a state and their
hyperparameters), and the checks of the protocol's inputs.

An optimizer is a pair of pure functions (optax's convention, torch's semantics)::

    state = opt.init(params)
    updates, state = opt.update(grads, state, params)
    params = apply_updates(params, updates)        # params + updates

Every optimizer state is a NamedTuple whose first two fields are ``count`` (the number of
updates applied so far; optimizer step ``k`` is the call made with ``count == k``) and
``hparams`` (a dict of every numeric hyperparameter as an array), then its slots (torch's
state names: ``exp_avg``, ``momentum_buffer``, ...). A wrapper or combinator holds its
inner state(s) as one field, ``inner`` (a state, a tuple or a dict of states), next to
its own slots. ``iter_states`` finds every such state inside a wrapped or chained one,
and ``hparams_of`` gives one state's own ``hparams`` dict (or the ``hyperparams`` of an
optax ``inject_hyperparams`` state, which reads and sets alike).

The rest of the package's internals live beside this module: ``_hparams`` (making,
validating, reading and writing hyperparameters), ``_slots`` (zero and lazy slots),
``_update`` (the pieces an update is made of: torch's step number, bias corrections,
weight decay, one fused pass over the leaves) and ``_labels`` (the label prefixes of
``masked`` and ``partition``). Their names without an underscore are the package's
internal API; the public ones are re-exported by ``nnfunc.optim``.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from nnfunc import tree as _tree
from nnfunc._checks import check_float_dtype

PyTree = Any
Betas = tuple[Any, Any]


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


# ---------------------------------------------------------------------------------------
# the state convention: finding the optimizer states inside a (wrapped, chained) state

def hp_field(x: Any) -> str | None:
    """The field holding a state's hyperparameters: nnfunc's ``hparams``, or optax's
    ``hyperparams`` (``optax.inject_hyperparams``: its states read and set alike)."""
    if not (isinstance(x, tuple) and hasattr(x, "_fields")):
        return None
    for name in ("hparams", "hyperparams"):
        if name in x._fields and isinstance(getattr(x, name), dict):
            return name
    return None


def is_opt_state(x: Any) -> bool:
    """Whether ``x`` is an optimizer state: a NamedTuple with a hyperparameter dict."""
    return hp_field(x) is not None


def hparams_of(x: Any) -> dict:
    """One optimizer state's own hyperparameter dict, as stored (its inner states' apart).

    The state's ``hparams`` field, or the ``hyperparams`` of an optax
    ``inject_hyperparams`` state (read and set alike). Unlike :func:`get_hparams`, which
    merges every inner state's dict and reads a compiled-out hyperparameter as 0, this is
    the one dict itself, ``None`` values included: with :func:`iter_states`, the way to
    tell which state of a chain or wrapper holds which hyperparameter.

    Args:
      x: one optimizer state: a NamedTuple with an ``hparams`` (or ``hyperparams``) dict
        field, such as each state :func:`iter_states` yields.

    Returns:
      That dict, ``{name: array}``; a hyperparameter built as 0 and so compiled out (a
      weight decay, a momentum) is ``None``.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> hp = nf.optim.hparams_of(nf.optim.sgd(learning_rate=0.1).init({'w': jnp.zeros(2)}))
      >>> sorted(hp), hp['momentum']
      (['dampening', 'learning_rate', 'momentum', 'weight_decay'], None)
    """
    return getattr(x, hp_field(x))


def _children(x: Any):
    """Containers inside a state that may hold further optimizer states."""
    if is_opt_state(x):
        return [getattr(x, f) for f in x._fields if f != hp_field(x)]
    if isinstance(x, (tuple, list)):
        return list(x)
    if isinstance(x, dict):
        return list(x.values())
    return []


def iter_states(state: Any):
    """Every optimizer state inside ``state`` (itself first), depth first.

    An optimizer state is a NamedTuple with an ``hparams`` dict field (or optax's
    ``hyperparams``); the walk goes through its other fields (a wrapper's ``inner``, a
    chain's tuple, a partition's dict) and through plain tuples, lists and dicts, so
    ``state`` may also be a container of states. A state that does not follow the
    convention is not yielded (its inner states still are).

    Args:
      state: an optimizer state, or a tuple, list or dict holding some.

    Returns:
      A generator of the states, outermost first: a wrapper before the states it wraps,
      a chain's in order.

    Example:
      >>> import jax.numpy as jnp, nnfunc as nf
      >>> opt = nf.optim.chain(nf.optim.clip_by_global_norm(1.0), nf.optim.adam())
      >>> [type(s).__name__ for s in nf.optim.iter_states(opt.init({'w': jnp.zeros(2)}))]
      ['ChainState', 'ClipState', 'AdamState']
    """
    if is_opt_state(state):
        yield state
    for child in _children(state):
        yield from iter_states(child)


# ---------------------------------------------------------------------------------------
# the checks of the protocol's inputs

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
