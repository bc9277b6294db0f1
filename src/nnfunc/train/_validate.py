"""Checks of what a user hands to ``make_step``, ``make_epoch``, ``evaluate``, ``fit`` and
``sweep``: the builders' arguments, batch sizes and datasets, all before any compilation.

Internal API of ``nnfunc.train`` (names without an underscore, not exported by the package).
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp

from nnfunc import metrics as _metrics
from nnfunc import tree as _tree
from nnfunc._checks import check_int
from nnfunc.layers import Layer
from nnfunc.optim import Optimizer, get_hparams, hparams_of, iter_states
from nnfunc.train._forward import output_spec
from nnfunc.train.metrics import is_classification


def check_builder_args(model: Any, opt: Any, loss_fn: Any, regularizer: Any) -> None:
    if not isinstance(model, Layer):
        raise ValueError(f"model must be an nf.layers.Layer (init, apply), got {type(model).__name__}")
    # any (init, update) pair works: nf.optim's, or optax's GradientTransformation
    if not (isinstance(opt, Optimizer) or (callable(getattr(opt, "init", None))
                                           and callable(getattr(opt, "update", None)))):
        raise ValueError(f"opt must be an nf.optim.Optimizer (init, update), got "
                         f"{type(opt).__name__}")
    if not callable(loss_fn):
        raise ValueError(f"loss_fn must be callable (logits, labels) -> per-example losses, "
                         f"got {loss_fn!r}")
    if regularizer is not None and not callable(regularizer):
        raise ValueError(f"regularizer must be None or a callable params -> scalar penalty, "
                         f"got {regularizer!r}")


def check_batch_size(batch_size: Any) -> int:
    return check_int("batch_size", batch_size, minimum=1, allowed="an int >= 1")


def check_data_shapes(x: Any, y: Any, batch_size: int, *, name: str = "data") -> None:
    """Static checks (shapes only), so they also run while tracing; ``y=None`` means the
    inputs are their own targets."""
    if y is None:
        y = x
    if jnp.ndim(x) < 1 or jnp.ndim(y) < 1:
        raise ValueError(f"{name}: X and Y need a leading example axis, got shapes "
                         f"{jnp.shape(x)} and {jnp.shape(y)}")
    if jnp.shape(x)[0] != jnp.shape(y)[0]:
        raise ValueError(f"{name}: X and Y must have the same number of examples, got "
                         f"{jnp.shape(x)[0]} and {jnp.shape(y)[0]}")
    if batch_size > jnp.shape(x)[0]:
        raise ValueError(f"batch_size must be <= the number of examples "
                         f"({jnp.shape(x)[0]}), got {batch_size}")


def check_finite(name: str, a: jax.Array) -> None:
    if jnp.issubdtype(a.dtype, jnp.complexfloating):
        raise TypeError(f"{name} is complex ({a.dtype}); training needs real data (it "
                        f"would be cast to real, dropping the imaginary part): pass "
                        f"jnp.real(...) and jnp.imag(...) as separate features")
    if jnp.issubdtype(a.dtype, jnp.inexact) and not bool(jnp.all(jnp.isfinite(a))):
        bad = int(jnp.sum(~jnp.isfinite(a)))
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); clean the data "
                         f"before training")


def as_data(data: Any, name: str) -> tuple[jax.Array, Optional[jax.Array]]:
    """``(X, Y)`` as arrays; ``data`` given as one array (inputs alone, the targets of an
    autoencoder) gives ``(X, None)``, so the device holds one copy of it."""
    x, y = split_data(data, name)
    check_data_shapes(x, y, 1, name=name)
    check_finite(f"{name} X", x)
    if y is not None:
        check_finite(f"{name} Y", y)
    return x, y


def split_data(data: Any, name: str) -> tuple[jax.Array, Optional[jax.Array]]:
    """``(X, Y)`` from a pair, or ``(X, None)`` from the inputs alone (unsupervised)."""
    if isinstance(data, (tuple, list)):
        if len(data) != 2:
            raise ValueError(f"{name} must be a pair (X, Y) of arrays or the inputs X alone "
                             f"(unsupervised), got a {type(data).__name__} of length "
                             f"{len(data)}")
        return _as_array(data[0]), _as_array(data[1])
    if hasattr(data, "shape") and hasattr(data, "dtype"):
        return _as_array(data), None
    raise ValueError(f"{name} must be a pair (X, Y) of arrays or the inputs X alone "
                     f"(unsupervised), got {type(data).__name__}")


def _as_array(d: Any) -> jax.Array:
    return d if isinstance(d, jax.Array) else jnp.asarray(d)


def as_train_data(data: Any, eval_data: Any, batch_size: int):
    """Validated ``(X, Y, eval)``: ``eval`` is ``None`` or the validated ``eval_data``."""
    x, y = as_data(data, "data")
    check_data_shapes(x, y, batch_size)
    return x, y, None if eval_data is None else as_data(eval_data, "eval_data")


def model_misfit(name: str, input_shape: tuple, err: Exception) -> ValueError:
    """The error for data the model cannot take: its own message says what it expects."""
    return ValueError(f"the model cannot be applied to {name} X of example shape "
                      f"{tuple(input_shape)}: {err}")


def check_model_fits(model: Layer, loss_fn: Callable, ts: Any, x: jax.Array,
                     y: Optional[jax.Array], name: str, mixed_precision: bool) -> None:
    """Shape-check model and loss abstractly; check label ranges for classification.
    ``y=None``: unsupervised, the inputs are the targets."""
    y = x if y is None else y
    xs, ys = x[:2], y[:2]
    try:
        logits = output_spec(model, ts, xs, mixed_precision)
    except Exception as err:  # the model's own message says what is wrong
        raise model_misfit(name, x.shape[1:], err) from err
    try:
        per_example = jax.eval_shape(loss_fn, logits, ys)
    except Exception as err:
        raise ValueError(f"the model's output shape {tuple(logits.shape[1:])} (per example) "
                         f"does not fit loss_fn with {name} Y of example shape "
                         f"{tuple(y.shape[1:])}: {err}") from err
    if tuple(per_example.shape) != (xs.shape[0],):
        raise ValueError(f"loss_fn must return one loss per example, shape ({xs.shape[0]},), "
                         f"got {tuple(per_example.shape)} for model output shape "
                         f"{tuple(logits.shape)}; use reduction='none'")
    if is_classification(logits, ys) and not isinstance(y, jax.core.Tracer):
        classes = logits.shape[-1]
        lo, hi = int(jnp.min(y)), int(jnp.max(y))
        if lo < 0 or hi >= classes:
            raise ValueError(f"{name} labels must be in [0, {classes}) for a model with "
                             f"{classes} outputs, got values in [{lo}, {hi}]")


def check_state_fits(model: Layer, ts: Any, input_shape: tuple, name: str, *,
                     opt: Any = None) -> None:
    """``ts.params`` and ``ts.model_state`` must have the tree structure and leaf shapes
    of ``model.init``'s for ``input_shape`` (checked abstractly): another architecture's
    state would fail deep inside the compiled program, or train silently. ``name`` is
    what the caller calls ``ts`` (``'state'``, ``'ts'``).

    With ``opt``, ``ts.opt_state`` must also come from an optimizer of ``opt``'s kind
    (same state types and hyperparameter names). Its hyperparameter values win over
    ``opt``'s (torch's ``load_state_dict`` rule, which also keeps a rate that
    ``ReduceLROnPlateau`` lowered or ``set_hparams`` set: no warning, since setting them
    in the state is the way to change them)."""
    try:
        want = jax.eval_shape(lambda: model.init(jax.random.key(0), input_shape))
    except (ValueError, TypeError) as err:   # the data, not the state, is the misfit
        raise model_misfit("data", input_shape, err) from None
    for field, like in zip(("params", "model_state"), want):
        try:
            _tree.check_same_shapes(like, getattr(ts, field),
                                    names=(f"the model's {field}", f"{name}.{field}"))
        except ValueError as err:
            raise ValueError(f"{name} was not built for this model (input shape "
                             f"{input_shape}): {err}") from None
    if opt is None:
        return
    fresh = opt.init(jax.tree_util.tree_map(lambda p: jnp.zeros((1,) * jnp.ndim(p), p.dtype),
                                            ts.params))
    kinds = lambda s: [(type(o).__name__, sorted(hparams_of(o))) for o in iter_states(s)]  # noqa
    if kinds(fresh) != kinds(ts.opt_state):
        raise ValueError(f"{name}.opt_state was made by another optimizer than opt "
                         f"({kinds(ts.opt_state)} vs {kinds(fresh)}); to switch optimizers, "
                         f"pass {name}={name}._replace(opt_state=opt.init({name}.params))")


def check_records_lr(opt_state: Any) -> bool:
    """Whether the history can record the learning rate: the state keeps it as a
    hyperparameter. A state without any convention-following optimizer state in it
    (a NamedTuple with an ``hparams`` dict) is an error, since ``lr`` would be NaN and
    ``set_hparams``/``ReduceLROnPlateau`` could not work; optax's own states are let
    through (optax keeps the rate in the state only with ``inject_hyperparams``)."""
    if any(True for _ in iter_states(opt_state)):
        return "learning_rate" in get_hparams(opt_state)
    kinds = {type(s).__module__.split(".")[0] for s in jax.tree_util.tree_leaves(
        opt_state, is_leaf=lambda s: isinstance(s, tuple) and hasattr(s, "_fields"))
        if isinstance(s, tuple) and hasattr(s, "_fields")}
    if "optax" in kinds:
        return False
    raise ValueError(
        f"opt's state ({type(opt_state).__name__}) does not follow nnfunc's optimizer state "
        f"convention: nf.optim.get_hparams finds no hyperparameters in it, so the history's "
        f"lr, set_hparams and ReduceLROnPlateau cannot work. Make the state a NamedTuple "
        f"with fields count, hparams (a dict from nf.optim.make_hparams, holding "
        f"learning_rate), then the slots; read the rate with nf.optim.current_lr (README: "
        f"'Write your own layer, optimizer or schedule')")


def warn_raw_pixels(x: jax.Array) -> None:
    """uint8 inputs are almost always raw 0..255 pixels, which train poorly unscaled
    (the warning points at ``fit``'s caller: two calls above this one)."""
    if x.dtype == jnp.uint8:
        warnings.warn(
            "fit: the inputs X are uint8 (raw pixel values 0..255?); networks train badly "
            "on unscaled pixels. Scale them to floats first, e.g. nf.data.mnist(normalize="
            "True), X / 255.0 or nf.data.min_max_scale / nf.data.standardize",
            UserWarning, stacklevel=4)


_HOOKS = ("on_train_begin", "on_epoch_end", "on_train_end")


def check_callbacks(callbacks: Any) -> None:
    """Every callback has at least one of the hooks ``fit`` calls."""
    for cb in callbacks:
        if not any(hasattr(cb, h) for h in _HOOKS):
            raise ValueError(f"callbacks must have on_train_begin/on_epoch_end/on_train_end "
                             f"hooks (subclass nf.train.Callback), got {cb!r}")


def check_monitors(callbacks: Any, ev: Any) -> None:
    """A callback watching an ``eval_*`` entry needs ``eval_data``: fail before anything
    is built or compiled (callbacks name what they watch in ``monitor``)."""
    if ev is not None:
        return
    for cb in callbacks:
        mon = getattr(cb, "monitor", None)
        if isinstance(mon, str) and mon.startswith("eval_"):
            raise ValueError(f"callbacks: {type(cb).__name__} monitors {mon!r}, which only "
                             f"exists with eval_data=(X, Y); pass eval_data or monitor a "
                             f"training entry such as 'loss'")


def check_monitor_names(callbacks: Any, history_names: Callable[[], set]) -> None:
    """Every callback's ``monitor`` must be a name the history will have
    (``history_names()``, found by tracing one epoch abstractly, no compilation): a typo
    fails before epoch 0."""
    monitors = [(cb, cb.monitor) for cb in callbacks
                if isinstance(getattr(cb, "monitor", None), str)]
    if not monitors:
        return
    names = history_names()
    for cb, mon in monitors:
        if mon not in names:
            raise ValueError(f"callbacks: {type(cb).__name__} monitors {mon!r}, which is not "
                             f"in the history; available: {sorted(names)}")


# The history names fit itself writes; a metric may replace only 'accuracy'.
_RESERVED = ("loss", "lr", "penalty", "grad_norm", "update_ratio", "dead_relu", "seconds",
             "samples_per_s", "nonfinite_step", "stats")


def as_metrics(metrics: Any) -> tuple:
    """``((name, Metric), ...)`` from ``{name: fn}``, a sequence of functions or
    ``Metric`` objects (named by their ``name`` or ``__name__``) or names of
    ``nf.metrics`` functions (``'f1'``); ``None`` gives ``()``."""
    if metrics is None:
        return ()
    if isinstance(metrics, dict):
        items = list(metrics.items())
    elif isinstance(metrics, (list, tuple)):
        items = [(None, m) for m in metrics]
    else:
        raise ValueError(f"metrics must be a dict {{name: fn}} or a list of functions or "
                         f"names, got {type(metrics).__name__}")
    out = []
    for name, fn in items:
        if isinstance(fn, str):
            known = [m for m in _metrics.__all__
                     if m not in ("Metric", "as_metric", "confusion_matrix")]
            if fn not in known:
                raise ValueError(f"metrics: {fn!r} is not a metric of nf.metrics; known: "
                                 f"{known}")
            name, fn = (name or fn), getattr(_metrics, fn)
        if name is None:
            name = getattr(fn, "name", None) or getattr(fn, "__name__", None)
        if not isinstance(name, str) or not name or name == "<lambda>":
            raise ValueError(f"metrics: give {fn!r} a name, e.g. metrics={{'top3': fn}}")
        if name in _RESERVED or name.startswith("eval_"):
            raise ValueError(f"metrics: the name {name!r} is taken by fit's own history "
                             f"entries ({', '.join(_RESERVED)}, eval_*); choose another")
        out.append((name, _metrics.as_metric(fn)))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise ValueError(f"metrics: names must be unique, got {names}")
    return tuple(out)


def check_metrics(metrics: tuple, logits: Any, y: Any, name: str) -> None:
    """Each metric must take ``(logits, labels)`` of these shapes and return a scalar
    (checked abstractly, before compiling)."""
    for mname, m in metrics:
        try:
            value = jax.eval_shape(m, logits, y)
        except Exception as err:
            raise ValueError(f"metrics[{mname!r}] failed on the model's outputs of shape "
                             f"{tuple(logits.shape)} and {name} labels of shape "
                             f"{tuple(jnp.shape(y))}: {err}") from err
        if getattr(value, "shape", None) != ():
            raise ValueError(f"metrics[{mname!r}] must return a scalar, got "
                             f"{jax.tree_util.tree_map(lambda v: v.shape, value)}; use "
                             f"nf.metrics.confusion_matrix(nf.train.predict(...), Y) for "
                             f"per-class results")


def check_augment(augment: Any, x: Any, batch_size: int) -> None:
    """``augment(key, x) -> x`` must keep the batch's shape and dtype (checked abstractly)."""
    if augment is None:
        return
    if not callable(augment):
        raise ValueError(f"augment must be None or a function (key, x) -> x, got {augment!r}")
    xb = jax.ShapeDtypeStruct((batch_size,) + tuple(x.shape[1:]), x.dtype)
    try:
        out = jax.eval_shape(augment, jax.random.key(0), xb)
    except Exception as err:
        raise ValueError(f"augment failed on a batch of shape {xb.shape} ({xb.dtype}): "
                         f"{err}") from err
    if getattr(out, "shape", None) != xb.shape or getattr(out, "dtype", None) != xb.dtype:
        raise ValueError(f"augment must return the batch with its shape and dtype "
                         f"{xb.shape} {xb.dtype}, got {getattr(out, 'shape', out)} "
                         f"{getattr(out, 'dtype', '')}")


def one_hot_labels(example_shape: tuple, y: Any) -> bool:
    """Whether concrete float targets ``y``, each shaped like one model output
    (``example_shape``), are one-hot rows (entries 0 or 1, each row summing to 1):
    classification, which gets an accuracy too."""
    if (y is None or isinstance(y, jax.core.Tracer) or tuple(y.shape[1:]) != tuple(example_shape)
            or y.ndim < 2 or y.shape[-1] < 2 or not jnp.issubdtype(y.dtype, jnp.floating)):
        return False
    return bool(jnp.all((y == 0) | (y == 1)) & jnp.all(jnp.sum(y, -1) == 1))


def with_accuracy(metrics: tuple, model: Layer, ts: Any, x: Any, y: Any, ev: Any,
                  mixed_precision: bool) -> tuple:
    """``metrics`` checked against the model's outputs and the labels of the data and
    the evaluation data, plus ``accuracy`` for one-hot float labels (integer labels get
    it from the step itself)."""
    logits = output_spec(model, ts, x, mixed_precision)
    for name, pair in (("data", (x, y)), ("eval_data", ev)):
        if pair is not None:
            xs, ys = pair
            check_metrics(metrics, logits, (xs if ys is None else ys)[:2], name)
    if "accuracy" not in dict(metrics) and one_hot_labels(logits.shape[1:], y):
        metrics += (("accuracy", _metrics.as_metric(_metrics.accuracy)),)
    return metrics
