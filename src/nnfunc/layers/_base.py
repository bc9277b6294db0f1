"""The ``Layer`` type, shape inference, and the internal API that layers and models share.

A ``Layer`` is a 2-tuple of pure functions, as the contract pins::

    params, state = layer.init(key, input_shape)      # input_shape excludes the batch axis
    y, state = layer.apply(params, state, x, *, train=False, key=None)

Output shapes are not a third field: they are worked out by abstract evaluation
(``jax.eval_shape``) of ``init`` and ``apply``, so any pair of functions that follows the
contract (including one a user writes by hand) takes part in shape inference for free.
A layer's display name and, for containers, its children are keyword-only metadata of
the ``Layer`` (see :class:`Layer`).

Public (``__all__``, re-exported by ``nnfunc.layers``): ``Layer``, ``output_shape`` and
the three helpers for writing a container of your own (as ``serial`` and the models are
written): ``split_key`` (one key per child), ``infer_out_shape`` (a child's output shape
from its abstract params) and ``apply_child`` (run a child so that errors name it and
``activation_stats`` sees inside it).

Internal API of ``nnfunc.layers``: the other names without an underscore
(``no_params_init``, ``require_key``, ``kernel_params``, ``symmetric_uniform``,
``as_padding``, ``window_out``, ``check_fits``, ``layer_outputs``, ``layer_shapes``) are
what the layer modules share; they are not part of the public contract.
"""
from __future__ import annotations

import contextvars
import functools
import math
import numbers
import operator
import weakref
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from nnfunc import init as _init
from nnfunc._checks import as_shape, is_traced

Shape = tuple[int, ...]

__all__ = ["Layer", "output_shape", "infer_out_shape", "apply_child", "split_key"]

class _Fields(NamedTuple):
    init: Callable[..., tuple[Any, Any]]
    apply: Callable[..., tuple[Any, Any]]


# Metadata of every layer built with a name or children, keyed weakly by its functions:
# ``Layer(init, jax.jit(apply))`` (a user re-wrapping a layer's functions) finds it again
# through ``init`` (or through ``apply.__wrapped__``), so wrapping never loses it.
_META: "weakref.WeakKeyDictionary[Callable, tuple[str, tuple]]" = weakref.WeakKeyDictionary()


def _remember(fn: Callable, meta: tuple[str, tuple]) -> None:
    try:
        _META.setdefault(fn, meta)      # the first layer built on a function names it
    except TypeError:                   # not weakly referenceable: nothing to remember
        pass


def _recall(fn: Any) -> tuple[str, tuple] | None:
    while fn is not None:
        try:
            meta = _META.get(fn)
        except TypeError:
            meta = None
        if meta is not None:
            return meta
        fn = getattr(fn, "__wrapped__", None)
    return None


def _as_key(layer_name: str, key: Any) -> Any:
    """A random key from what a user passes to ``init``/``apply``: an int seed becomes
    ``jax.random.key(seed)``; keys (new or legacy), tracers and ``None`` pass unchanged."""
    if key is None or isinstance(key, (jax.Array, np.ndarray)) or is_traced(key):
        return key
    if isinstance(key, numbers.Integral) and not isinstance(key, (bool, np.bool_)):
        return jax.random.key(operator.index(key))
    raise TypeError(f"{layer_name}: key must be a jax.random.key(...) or an int seed, "
                    f"got {key!r}")


def _as_input(layer_name: str, x: Any) -> Any:
    """A Python list or number given as ``x`` becomes a JAX array (arrays, tracers and
    other pytrees pass unchanged)."""
    if not isinstance(x, (list, numbers.Number)) or isinstance(x, (bool, np.bool_)):
        return x
    try:
        return jnp.asarray(x)
    except (TypeError, ValueError):
        raise TypeError(f"{layer_name}: x must be an array (batch, ...) of numbers, got "
                        f"{type(x).__name__} {x!r:.80}") from None


def _entry(fn: Callable, layer_name: str, kind: str) -> Callable:
    """``fn`` (a layer's ``init`` or ``apply``) accepting an int seed as ``key`` and, for
    ``apply``, a nested list as ``x``. Built once per layer (the wrapper is marked and
    never wrapped again), so ``layer.init``/``layer.apply`` keep one identity, which the
    compiled-program caches of ``nnfunc.train`` key on."""
    if getattr(fn, "_nnfunc_entry", False):
        return fn
    if kind == "init":
        def wrapper(key, input_shape, *args, **kwargs):
            return fn(_as_key(layer_name, key), input_shape, *args, **kwargs)
    else:
        def wrapper(params, state, x, *args, **kwargs):
            if "key" in kwargs:
                kwargs["key"] = _as_key(layer_name, kwargs["key"])
            return fn(params, state, _as_input(layer_name, x), *args, **kwargs)
    try:
        wrapper = functools.wraps(fn)(wrapper)
    except (AttributeError, TypeError):     # a callable object without function metadata
        wrapper.__wrapped__ = fn
    wrapper._nnfunc_entry = True
    return wrapper


class Layer(_Fields):
    """A layer: the pair ``(init, apply)`` of pure functions, with a name and children.

    ``init(key, input_shape) -> (params, state)`` builds the parameters (a dict of named
    arrays, e.g. ``{'w': ..., 'b': ...}``) and the non-trained state (e.g. batch-norm
    running statistics; ``{}`` for stateless layers) for inputs whose shape, without
    the batch axis, is ``input_shape``.

    ``apply(params, state, x, *, train=False, key=None) -> (y, state)`` runs the layer on
    a batch ``x`` of shape ``(batch, *input_shape)``; ``train`` (a Python bool: it picks
    the code path while tracing) selects training behaviour (dropout, batch statistics)
    and ``key`` feeds the layers that draw random numbers. Shapes are checked when
    ``apply`` is traced, so a wrong input raises ``ValueError`` before any arithmetic.

    A ``Layer`` is a 2-tuple, so ``init, apply = layer`` works as in stax. Its display
    ``name`` and, for containers, ``children`` (the sub-layers, in the order of the
    params tuple) are keyword-only metadata: ``Layer(init, apply, name='block',
    children=(a, b))``. Rebuilding a layer from its functions keeps them:
    ``Layer(layer.init, jax.jit(layer.apply))`` has the same name and children.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from nnfunc import layers
      >>> layer = layers.dense(3)
      >>> init, apply = layer
      >>> params, state = init(jax.random.key(0), (2,))
      >>> y, state = apply(params, state, jnp.ones((5, 2)))
      >>> y.shape, layer.name
      ((5, 3), 'dense')
      >>> net = layers.serial(layer, layers.activation(jnp.tanh))
      >>> [c.name for c in Layer(net.init, jax.jit(net.apply)).children]
      ['dense', 'tanh']
    """

    def __new__(cls, init: Callable, apply: Callable, *, name: str | None = None,
                children: Sequence["Layer"] | None = None) -> "Layer":
        if name is None and children is None:
            self = super().__new__(cls, init, apply)
            meta = _recall(init) or _recall(apply)
        else:
            meta = (name or getattr(apply, "__name__", "layer"),
                    tuple(c if isinstance(c, Layer) else Layer(*c) for c in children or ()))
            # a named layer (every nnfunc constructor's) takes int seeds and nested lists
            init, apply = _entry(init, meta[0], "init"), _entry(apply, meta[0], "apply")
            self = super().__new__(cls, init, apply)
            for fn in (init, apply, getattr(init, "__wrapped__", None),
                       getattr(apply, "__wrapped__", None)):
                if fn is not None:
                    _remember(fn, meta)
        self.__dict__["_meta"] = meta
        return self

    @classmethod
    def _make(cls, iterable: Any) -> "Layer":
        return cls(*iterable)

    def _replace(self, **fields: Any) -> "Layer":
        """A copy with ``init`` and/or ``apply`` replaced; name and children are kept."""
        new = super()._replace(**fields)
        return Layer(new.init, new.apply, name=self.name, children=self.children)

    @property
    def name(self) -> str:
        """A short display name (``'dense'``, ``'conv2d'``, ``'serial'``, ...)."""
        meta = self.__dict__.get("_meta")
        return meta[0] if meta else getattr(self.apply, "__name__", "layer")

    @property
    def children(self) -> tuple["Layer", ...]:
        """The sub-layers of a container (``serial``, ``parallel``, ``residual``, models
        built on them), one per entry of its params tuple; ``()`` for other layers."""
        meta = self.__dict__.get("_meta")
        return meta[1] if meta else ()

    def __repr__(self) -> str:
        inner = ", ".join(repr(c) for c in self.children)
        return f"{self.name}({inner})" if self.children else f"{self.name}()"


def output_shape(layer: Layer, input_shape: Sequence[int], *,
                 dtype: Any = jnp.float32) -> Shape:
    """The shape (without the batch axis) of ``layer``'s output for ``input_shape`` inputs.

    Computed abstractly with ``jax.eval_shape``: no parameters are materialised and no
    arithmetic runs. Invalid shapes raise the layer's own ``ValueError``.

    Args:
      layer: any ``Layer``.
      input_shape: the input shape without the batch axis.
      dtype: the input dtype to assume.

    Returns:
      The output shape, without the batch axis, as a tuple.

    Example:
      >>> from nnfunc import layers
      >>> layers.output_shape(layers.conv2d(8, 3, stride=2), (28, 28, 1))
      (14, 14, 8)
    """
    shape = as_shape(input_shape, layer.name)
    params, state = jax.eval_shape(lambda: layer.init(jax.random.key(0), shape))
    return infer_out_shape(layer, params, state, shape, dtype)


def infer_out_shape(layer: Layer, params: Any, state: Any, shape: Shape,
                    dtype: Any = jnp.float32) -> Shape:
    """The output shape (without the batch axis) of ``layer`` run with ``params`` and
    ``state`` on ``shape`` inputs, by abstract evaluation (no arithmetic runs).

    A container's ``init`` calls it after initialising one child, to learn the input
    shape of the next; unlike :func:`output_shape` it reuses the params already built.

    Args:
      layer: the child ``Layer``.
      params: its params (arrays or ``jax.ShapeDtypeStruct`` leaves).
      state: its state, likewise.
      shape: the input shape without the batch axis.
      dtype: the input dtype to assume.

    Returns:
      The output shape, without the batch axis, as a tuple.

    Example:
      >>> import jax
      >>> from nnfunc import layers
      >>> child = layers.dense(4)
      >>> params, state = child.init(jax.random.key(0), (3,))
      >>> layers.infer_out_shape(child, params, state, (3,))
      (4,)
    """
    # A batch of 2 keeps any layer that needs more than one example per batch happy.
    x = jax.ShapeDtypeStruct((2,) + tuple(shape), dtype)
    y, _ = jax.eval_shape(lambda p, s, v: layer.apply(p, s, v), params, state, x)
    return tuple(int(d) for d in y.shape[1:])


def no_params_init(layer_name: str) -> Callable[..., tuple[dict, dict]]:
    """``init`` of a layer without parameters or state that takes any input shape."""
    def init(key: jax.Array, input_shape: tuple[int, ...]) -> tuple[dict, dict]:
        as_shape(input_shape, layer_name)
        return {}, {}
    return init


def require_key(layer: str, key: Any) -> None:
    """Raise unless a layer that draws random numbers in training was given a ``key``."""
    if key is None:
        raise ValueError(f"{layer} in train mode needs a random key: call "
                         f"apply(..., train=True, key=jax.random.key(...))")


def as_padding(value: Any) -> str | tuple[tuple[int, int], tuple[int, int]]:
    """'SAME' / 'VALID' / int / (ph, pw) / ((top, bottom), (left, right)) -> lax padding."""
    if isinstance(value, str):
        if value.upper() not in ("SAME", "VALID"):
            raise ValueError(f"padding must be 'SAME', 'VALID', an int or pairs of ints, "
                             f"got {value!r}")
        return value.upper()
    def nonneg(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0
    if nonneg(value):
        return ((value, value), (value, value))
    try:
        items = tuple(value)
    except TypeError:
        items = ()
    if len(items) == 2 and all(nonneg(v) for v in items):
        return ((items[0], items[0]), (items[1], items[1]))
    if len(items) == 2 and all(isinstance(p, (tuple, list)) and len(p) == 2
                               and all(nonneg(v) for v in p) for p in items):
        return (tuple(items[0]), tuple(items[1]))
    raise ValueError(f"padding must be 'SAME', 'VALID', a non-negative int, a pair of "
                     f"ints or ((top, bottom), (left, right)), got {value!r}")


def window_out(size: int, window: int, stride: int, pad: Any, axis: int,
                dilation: int = 1) -> int:
    """Output length of one spatial axis; 0 or less means the window does not fit."""
    eff = (window - 1) * dilation + 1
    if pad == "SAME":
        return -(-size // stride)
    if pad == "VALID":
        lo = hi = 0
    else:
        lo, hi = pad[axis]
    return (size + lo + hi - eff) // stride + 1


def split_key(key: Any, n: int) -> list[Any]:
    """``n`` keys for a container's children: ``jax.random.split(key, n)`` as a list, or
    ``n`` times ``None`` when ``key`` is ``None`` (``apply`` outside training).

    Args:
      key: a random key or ``None``.
      n: the number of children.

    Returns:
      A list of ``n`` keys (or ``None`` entries).

    Example:
      >>> import jax
      >>> from nnfunc import layers
      >>> len(layers.split_key(jax.random.key(0), 3)), layers.split_key(None, 2)
      (3, [None, None])
    """
    if key is None:
        return [None] * n
    return list(jax.random.split(key, n))


def symmetric_uniform(fan_in: int) -> Callable[..., jax.Array]:
    """``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` for any shape: torch's bias rule of
    ``Linear``/``Conv2d``, and its weight and bias rule of ``ConvTranspose2d``."""
    bound = 1.0 / math.sqrt(fan_in)

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        return jax.random.uniform(key, tuple(shape), dtype, minval=-bound, maxval=bound)

    return init


def kernel_params(key: jax.Array, w_shape: tuple[int, ...], fan_in: int, w_init: Any,
                  b_init: Any, use_bias: bool) -> dict:
    """``{'w', 'b'}`` of a dense or conv layer, torch's defaults unless inits are given."""
    k_w, k_b = jax.random.split(key)
    params = {"w": (w_init or _init.fan_in_uniform)(k_w, w_shape)}
    if use_bias:
        params["b"] = (b_init or symmetric_uniform(fan_in))(k_b, (w_shape[-1],))
    return params


def _pad_desc(pad: Any) -> str:
    return repr(pad) if isinstance(pad, str) else str(tuple(tuple(p) for p in pad))


def check_fits(name: str, spatial: tuple[int, ...], window: tuple[int, int],
               strides: tuple[int, int], pad: Any, dilation: tuple[int, int] = (1, 1)) -> None:
    for axis, (size, k, s, d) in enumerate(zip(spatial, window, strides, dilation)):
        if window_out(int(size), k, s, pad, axis, d) < 1:
            eff = (k - 1) * d + 1
            raise ValueError(
                f"{name}: window {window} (dilation {dilation}, effective size {eff} on axis "
                f"{'hw'[axis]}) does not fit the input of spatial shape {tuple(spatial)} "
                f"with padding {_pad_desc(pad)}; use a smaller kernel, padding='SAME' or "
                f"larger inputs")


# ---------------------------------------------------------------------------------------
# children of containers, and recording every layer's output (activation statistics)

_TAPE: contextvars.ContextVar[list | None] = contextvars.ContextVar("nnfunc_tape", default=None)
_PATH: contextvars.ContextVar[tuple] = contextvars.ContextVar("nnfunc_path", default=())
# Record outputs under abstract evaluation too (as shapes): layer_shapes runs in eval_shape.
_ABSTRACT: contextvars.ContextVar[bool] = contextvars.ContextVar("nnfunc_abstract",
                                                                 default=False)


def apply_child(where: str, index: int | str, layer: Layer, params: Any, state: Any, x: Any,
                *, train: bool, key: Any) -> tuple[Any, Any]:
    """Run a container's child: ``layer.apply(params, state, x, train=train, key=key)``.

    A ``ValueError`` from the child is raised again prefixed with ``where`` and the
    child's name, so the user sees which child failed; and while ``activation_stats``,
    ``summary`` or :func:`layer_outputs` look inside a model, the child's output is
    recorded under its path. A container of your own that runs its children through
    this function is opened by those tools like ``serial`` is (give the ``Layer`` its
    ``children`` too).

    Args:
      where: how errors name the child, e.g. ``'serial: layer 2'``.
      index: the child's position in the params tuple, or its key in a params dict.
      layer: the child ``Layer``.
      params: the child's params.
      state: the child's state.
      x: the input batch.
      train: training mode, passed on.
      key: the child's random key (or ``None``), passed on.

    Returns:
      ``(y, state)``, the child's output and new state.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from nnfunc import layers
      >>> child = layers.dense(2)
      >>> params, state = child.init(jax.random.key(0), (3,))
      >>> y, _ = layers.apply_child("mine: child 0", 0, child, params, state,
      ...                           jnp.ones((4, 3)), train=False, key=None)
      >>> y.shape
      (4, 2)
      >>> layers.apply_child("mine: child 0", 0, child, params, state, jnp.ones((4, 5)),
      ...                    train=False, key=None)
      Traceback (most recent call last):
      ValueError: mine: child 0 (dense): ...
    """
    tape = _TAPE.get()
    token = None if tape is None else _PATH.set(_PATH.get() + (index,))
    try:
        y, state = layer.apply(params, state, x, train=train, key=key)
    except ValueError as err:
        raise ValueError(f"{where} ({layer.name}): {err}") from err
    finally:
        if token is not None:
            _PATH.reset(token)
    if tape is not None and _ABSTRACT.get():
        tape.append((_PATH.get() + (index,), layer, _shapes(y), _shapes(params),
                     _shapes(state)))
    elif tape is not None and not is_traced(y):
        tape.append((_PATH.get() + (index,), layer, y, params, state))
    return y, state


def _shapes(tree: Any) -> Any:
    """Every leaf as a ``ShapeDtypeStruct`` (safe to keep outside a trace)."""

    def shape(a):
        a = a if hasattr(a, "shape") else jnp.asarray(a)
        return jax.ShapeDtypeStruct(a.shape, a.dtype)
    return jax.tree_util.tree_map(shape, tree)


def _leaf_records(layer: Layer, params: Any, state: Any, x: Any, *, train: bool,
                  key: Any) -> list[tuple]:
    """``(path, leaf layer, output, params, state)`` of every innermost layer, in order."""
    tape: list = []
    token = _TAPE.set(tape)
    try:
        y, new_state = layer.apply(params, state, x, train=train, key=key)
    finally:
        _TAPE.reset(token)
    if not tape:
        return [((), layer, y, params, state)]
    paths = {entry[0] for entry in tape}
    return [entry for entry in tape
            if not any(p[:len(entry[0])] == entry[0] and len(p) > len(entry[0])
                       for p in paths)]


def _record_name(path: tuple, layer: Layer) -> str:
    return "/".join(map(str, path)) + "/" + layer.name if path else layer.name


def layer_outputs(layer: Layer, params: Any, state: Any, x: Any, *, train: bool = False,
                  key: Any = None) -> list[tuple[str, Layer, Any]]:
    """Run ``layer`` once and return ``(path, leaf layer, output)`` for every innermost
    layer, in execution order; ``path`` is ``'2/0/dense'`` for child 0 of child 2.

    Containers are opened through :func:`apply_child`, so the real ``apply`` runs (keys
    split exactly as in training). A container compiled with ``jax.jit`` cannot be
    opened (its children run inside the compiled program) and counts as one layer.
    """
    return [(_record_name(path, child), child, out)
            for path, child, out, _, _ in _leaf_records(layer, params, state, x,
                                                        train=train, key=key)]


def layer_shapes(layer: Layer, input_shape: Sequence[int], *, batch: int = 2,
                 dtype: Any = jnp.float32) -> list[tuple[str, Layer, Any, Any, Any]]:
    """``(path, leaf layer, output, params, state)`` of every innermost layer, as
    ``jax.ShapeDtypeStruct`` trees, by abstract evaluation of ``init`` and ``apply`` (no
    computation); the input is ``(batch, *input_shape)`` of ``dtype``."""
    shape = as_shape(input_shape, layer.name)

    def run():
        params, state = layer.init(jax.random.key(0), shape)
        x = jnp.zeros((batch,) + shape, dtype)
        token = _ABSTRACT.set(True)
        try:
            return _leaf_records(layer, params, state, x, train=False, key=None)
        finally:
            _ABSTRACT.reset(token)

    out: list = []
    # eval_shape returns only arrays: the records leave through a list the trace fills
    jax.eval_shape(lambda: out.extend(run()))
    return [(_record_name(path, child), child, _shapes(y), _shapes(p), _shapes(st))
            for path, child, y, p, st in out]
