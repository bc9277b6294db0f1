"""Losses: ``loss(predictions, targets, *, ..., reduction='none')`` -> one value per example.

Conventions shared by every loss here:

* **Axis 0 is the batch axis.** The per-example value reduces every other axis:
  the elementwise losses (``mse``, ``mae``, ``huber``, ``binary_cross_entropy``,
  ``sigmoid_binary_cross_entropy``, ``hinge``) take the **mean** over the non-batch axes,
  so predictions of shape ``(N, D)`` give shape ``(N,)`` and predictions of shape ``(N,)``
  give the elementwise values, shape ``(N,)``. The classification losses
  (``softmax_cross_entropy*``, ``multiclass_hinge``) read the classes on the **last** axis,
  reduce it as their formula says, then take the mean over any axes between the batch and
  the class axis (e.g. the time axis of ``(N, T, C)`` logits).
  A prediction with no batch axis (a scalar, or a single ``(C,)`` logit vector) gives a
  scalar. The mean of the per-example values is therefore torch's ``reduction='mean'``.
* ``reduction='none'`` (default) returns the per-example values; ``'mean'`` and ``'sum'``
  return their mean or sum over the examples.
* Shapes are checked, never broadcast: mismatched prediction/target shapes raise
  ``ValueError`` naming both shapes. Concrete integer labels out of range raise
  ``ValueError``; under ``jit`` (traced labels) an out-of-range label yields ``nan``.
  Likewise concrete values outside a loss's domain raise (``binary_cross_entropy``'s
  probabilities and targets outside [0, 1], ``softmax_cross_entropy``'s targets that are
  not distributions); complex inputs raise ``TypeError``.
* Computation happens in at least float32 (bfloat16/float16 inputs give float32 losses).
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nnfunc._checks import check_array_range, check_real, is_traced

__all__ = ["mse", "mae", "huber", "binary_cross_entropy", "sigmoid_binary_cross_entropy",
           "softmax_cross_entropy", "softmax_cross_entropy_with_integer_labels", "hinge",
           "multiclass_hinge"]

ArrayLike = Any
_REDUCTIONS = ("none", "mean", "sum")


# --------------------------------------------------------------------------- helpers

def _to_compute(x: ArrayLike) -> jax.Array:
    """``x`` in at least float32: low precision loses the small differences training needs.
    Complex input is refused (its loss would be complex, or silently lose a part)."""
    x = jnp.asarray(x)
    _check_real_dtype(x)
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def _check_real_dtype(x: jax.Array) -> None:
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
        raise TypeError(f"losses take real inputs, got dtype {x.dtype}; compare "
                        f"jnp.real and jnp.imag (or jnp.abs) separately")


def _as_float(predictions: ArrayLike, targets: ArrayLike) -> tuple[jax.Array, jax.Array]:
    p = _to_compute(predictions)
    t = jnp.asarray(targets)
    _check_real_dtype(t)
    return p, t.astype(p.dtype)


def _check_distributions(targets: ArrayLike) -> None:
    """Concrete soft targets: entries >= 0 and every class-axis slice summing to 1."""
    if is_traced(targets):
        return
    t = np.asarray(jax.device_get(targets), dtype=np.float64)
    check_array_range("targets", t, 0.0, 1.0, " (each slice along the class axis must be "
                      "a distribution)")
    sums = t.sum(axis=-1) if t.ndim else t
    bad = np.abs(sums - 1.0) > 1e-3
    if np.any(bad):
        raise ValueError(f"targets must sum to 1 along the class axis (distributions), got "
                         f"{int(bad.sum())} slice(s) that do not, e.g. sums "
                         f"{sums[bad].ravel()[:5].tolist()}; for class indices use "
                         f"softmax_cross_entropy_with_integer_labels")


def _check_same_shape(predictions: ArrayLike, targets: ArrayLike, pname: str = "predictions",
                      tname: str = "targets") -> None:
    ps, ts = jnp.shape(predictions), jnp.shape(targets)
    if ps != ts:
        raise ValueError(f"{pname} shape {ps} and {tname} shape {ts} must be equal "
                         f"(losses do not broadcast)")


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _per_example(values: jax.Array) -> jax.Array:
    """Mean over every axis but the first (the batch axis)."""
    return values if values.ndim <= 1 else jnp.mean(values, axis=tuple(range(1, values.ndim)))


def _reduce(per_example: jax.Array, reduction: str) -> jax.Array:
    if reduction == "mean":
        return jnp.mean(per_example)
    if reduction == "sum":
        return jnp.sum(per_example)
    return per_example


def _check_integer_labels(logits: jax.Array, labels: ArrayLike) -> jax.Array:
    """Validate shape, dtype and (when concrete) range of integer class labels."""
    labels_arr = jnp.asarray(labels) if not is_traced(labels) else labels
    if logits.ndim < 1:
        raise ValueError(f"logits must have a class axis (last), got shape {logits.shape}")
    if jnp.shape(labels_arr) != logits.shape[:-1]:
        raise ValueError(f"logits shape {logits.shape} and labels shape {jnp.shape(labels_arr)} "
                         f"do not match: labels must have shape logits.shape[:-1] = "
                         f"{logits.shape[:-1]}")
    if not jnp.issubdtype(labels_arr.dtype, jnp.integer):
        raise ValueError(f"labels must have an integer dtype, got {labels_arr.dtype}")
    num_classes = logits.shape[-1]
    if num_classes < 2:
        raise ValueError(f"logits shape {logits.shape} has {num_classes} class(es) on the "
                         f"last axis: class labels need >= 2 (softmax over one class is 1 "
                         f"whatever the input); give the model 2 outputs, or use "
                         f"sigmoid_binary_cross_entropy with float targets of shape "
                         f"{logits.shape}")
    if not is_traced(labels):
        # From the caller's value: inside jit even a constant becomes a tracer once wrapped.
        concrete = np.asarray(labels)
        if concrete.size and (concrete.min() < 0 or concrete.max() >= num_classes):
            bad = concrete[(concrete < 0) | (concrete >= num_classes)]
            raise ValueError(f"labels must be in [0, {num_classes}) for logits with "
                             f"{num_classes} classes, got {bad.ravel()[:5].tolist()}")
    return labels_arr


def _pick(values: jax.Array, labels: jax.Array) -> jax.Array:
    """``values[..., labels]``; ``nan`` where a (traced) label is out of range."""
    num_classes = values.shape[-1]
    valid = (labels >= 0) & (labels < num_classes)
    # A masked sum rather than a gather: its gradient is elementwise and fuses with the
    # softmax's, where a gather's is a zero-fill plus a scatter-add (two more GPU kernels).
    hit = jax.lax.broadcasted_iota(jnp.int32, values.shape, values.ndim - 1) == labels[..., None]
    picked = jnp.sum(jnp.where(hit, values, jnp.zeros_like(values)), axis=-1)
    return jnp.where(valid, picked, jnp.nan)


def _relu(x: jax.Array) -> jax.Array:
    # Subgradient 0 at the kink, as torch's losses use.
    return jnp.where(x > 0, x, jnp.zeros_like(x))


def _abs(x: jax.Array) -> jax.Array:
    # sign(x)·x has derivative sign(x), i.e. 0 at 0 like torch's l1_loss (jnp.abs gives 1).
    return jnp.sign(x) * x


def _log_softmax(logits: jax.Array) -> jax.Array:
    shifted = logits - jax.lax.stop_gradient(jnp.max(logits, axis=-1, keepdims=True))
    return shifted - jnp.log(jnp.sum(jnp.exp(shifted), axis=-1, keepdims=True))


# --------------------------------------------------------------------------- regression

def mse(predictions: ArrayLike, targets: ArrayLike, *, reduction: str = "none") -> jax.Array:
    """Mean squared error per example: ``ℓ_n = mean_i (p_{n,i} − t_{n,i})²``.

    The mean is over the non-batch axes (see the module docstring).

    Args:
      predictions: array of shape ``(N, ...)``.
      targets: array of the same shape.
      reduction: ``'none'`` (per-example, shape ``(N,)``), ``'mean'`` or ``'sum'``.

    Returns:
      The per-example losses, or their mean/sum.

    Raises:
      ValueError: if the shapes differ, or for an unknown ``reduction``.

    Example:
      >>> mse(jnp.array([[1., 2.], [0., 0.]]), jnp.array([[1., 4.], [1., 1.]]))
      Array([2., 1.], dtype=float32)
    """
    _check_reduction(reduction)
    _check_same_shape(predictions, targets)
    p, t = _as_float(predictions, targets)
    return _reduce(_per_example(jnp.square(p - t)), reduction)


def mae(predictions: ArrayLike, targets: ArrayLike, *, reduction: str = "none") -> jax.Array:
    """Mean absolute (L1) error per example: ``ℓ_n = mean_i |p_{n,i} − t_{n,i}|``.

    The derivative at ``p = t`` is 0 (torch's ``l1_loss`` convention).

    Args:
      predictions: array of shape ``(N, ...)``.
      targets: array of the same shape.
      reduction: ``'none'`` (per-example, shape ``(N,)``), ``'mean'`` or ``'sum'``.

    Returns:
      The per-example losses, or their mean/sum.

    Raises:
      ValueError: if the shapes differ, or for an unknown ``reduction``.

    Example:
      >>> mae(jnp.array([[1., 2.], [0., 0.]]), jnp.array([[1., 4.], [1., -1.]]))
      Array([1., 1.], dtype=float32)
    """
    _check_reduction(reduction)
    _check_same_shape(predictions, targets)
    p, t = _as_float(predictions, targets)
    return _reduce(_per_example(_abs(p - t)), reduction)


def huber(predictions: ArrayLike, targets: ArrayLike, *, delta: float = 1.0,
          reduction: str = "none") -> jax.Array:
    """Huber loss per example (torch ``HuberLoss``), mean over the non-batch axes.

    With ``d = p − t``::

        h(d) = 0.5 d²                   if |d| < delta
               delta · (|d| − 0.5 delta)  otherwise

    Args:
      predictions: array of shape ``(N, ...)``.
      targets: array of the same shape.
      delta: the switch point between quadratic and linear, ``> 0``.
      reduction: ``'none'`` (per-example, shape ``(N,)``), ``'mean'`` or ``'sum'``.

    Returns:
      The per-example losses, or their mean/sum.

    Raises:
      ValueError: if the shapes differ, ``delta <= 0`` or for an unknown ``reduction``.

    Example:
      >>> huber(jnp.array([0.5, 3.0]), jnp.array([0., 0.]))
      Array([0.125, 2.5  ], dtype=float32)
    """
    _check_reduction(reduction)
    _check_same_shape(predictions, targets)
    check_real("delta", delta, low=0.0, low_open=True)
    p, t = _as_float(predictions, targets)
    d = _abs(p - t)
    values = jnp.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))
    return _reduce(_per_example(values), reduction)


# --------------------------------------------------------------------------- binary

def binary_cross_entropy(probabilities: ArrayLike, targets: ArrayLike, *, eps: float = 1e-7,
                         label_smoothing: float = 0.0, reduction: str = "none") -> jax.Array:
    """Binary cross-entropy on probabilities, clipped: mean over the non-batch axes of::

        −[t · log(p̂) + (1 − t) · log(1 − p̂)],   p̂ = clip(p, eps, 1 − eps)

    Clipping keeps the loss finite for ``p ∈ {0, 1}`` (torch instead clamps each log at −100);
    the gradient is 0 where ``p`` was clipped. Prefer :func:`sigmoid_binary_cross_entropy`
    on logits, which needs no clipping. With label smoothing ``ε`` the targets become
    ``t · (1 − ε) + ε / 2``.

    Args:
      probabilities: array of shape ``(N, ...)`` with values in ``[0, 1]``.
      targets: array of the same shape, values in ``[0, 1]`` (hard or soft labels).
      eps: clipping margin, in ``[0, 0.5)``.
      label_smoothing: ``ε`` in ``[0, 1]``.
      reduction: ``'none'`` (per-example, shape ``(N,)``), ``'mean'`` or ``'sum'``.

    Returns:
      The per-example losses, or their mean/sum.

    Raises:
      ValueError: if the shapes differ, concrete probabilities or targets lie outside
        ``[0, 1]`` (logits, or a negative loss), or for a bad
        ``eps``/``label_smoothing``/``reduction``.
      TypeError: complex input.

    Example:
      >>> l = binary_cross_entropy(jnp.array([0.9, 0.0]), jnp.array([1., 1.]))
      >>> print(round(float(l[0]), 4), round(float(l[1]), 2))
      0.1054 16.12
    """
    _check_reduction(reduction)
    _check_same_shape(probabilities, targets, "probabilities", "targets")
    check_real("eps", eps, low=0.0, high=0.5, high_open=True)
    check_real("label_smoothing", label_smoothing, low=0.0, high=1.0)
    check_array_range("probabilities", probabilities, 0.0, 1.0,
                      "; for logits use sigmoid_binary_cross_entropy")
    check_array_range("targets", targets, 0.0, 1.0)
    p, t = _as_float(probabilities, targets)
    t = t * (1.0 - label_smoothing) + 0.5 * label_smoothing
    p = jnp.clip(p, eps, 1.0 - eps)
    values = -(t * jnp.log(p) + (1.0 - t) * jnp.log1p(-p))
    return _reduce(_per_example(values), reduction)


def sigmoid_binary_cross_entropy(logits: ArrayLike, targets: ArrayLike, *,
                                 label_smoothing: float = 0.0,
                                 reduction: str = "none") -> jax.Array:
    """Binary cross-entropy on logits (torch ``binary_cross_entropy_with_logits``).

    Mean over the non-batch axes of the stable form of ``−[t log σ(x) + (1 − t) log(1 − σ(x))]``::

        softplus(x) − t · x  =  log(1 + exp(x)) − t · x

    whose gradient is ``σ(x) − t``; exact for ``|x| = 1e3``. With label smoothing ``ε`` the
    targets become ``t · (1 − ε) + ε / 2``.

    Args:
      logits: array of shape ``(N, ...)``.
      targets: array of the same shape, values in ``[0, 1]``.
      label_smoothing: ``ε`` in ``[0, 1]``.
      reduction: ``'none'`` (per-example, shape ``(N,)``), ``'mean'`` or ``'sum'``.

    Returns:
      The per-example losses, or their mean/sum.

    Raises:
      ValueError: if the shapes differ, or for a bad ``label_smoothing``/``reduction``.

    Example:
      >>> sigmoid_binary_cross_entropy(jnp.array([1e3, -1e3]), jnp.array([1., 1.]))
      Array([   0., 1000.], dtype=float32)
    """
    _check_reduction(reduction)
    _check_same_shape(logits, targets, "logits", "targets")
    check_real("label_smoothing", label_smoothing, low=0.0, high=1.0)
    check_array_range("targets", targets, 0.0, 1.0)
    x, t = _as_float(logits, targets)
    t = t * (1.0 - label_smoothing) + 0.5 * label_smoothing
    # logaddexp(x, 0) = max(x, 0) + log1p(exp(−|x|)), with derivative σ(x) everywhere.
    values = jnp.logaddexp(x, jnp.zeros_like(x)) - t * x
    return _reduce(_per_example(values), reduction)


def hinge(predictions: ArrayLike, targets: ArrayLike, *, reduction: str = "none") -> jax.Array:
    """Binary hinge loss: mean over the non-batch axes of ``max(0, 1 − y · f)``.

    Labels may be given as ``{−1, 1}`` or as ``{0, 1}``: a label ``> 0`` is the positive
    class ``y = +1`` and a label ``<= 0`` (``0`` or ``−1``) the negative class ``y = −1``.
    The subgradient at the hinge (``y · f = 1``) is 0.

    Args:
      predictions: real-valued scores ``f``, shape ``(N, ...)``.
      targets: labels of the same shape, values in ``{−1, 0, 1}``.
      reduction: ``'none'`` (per-example, shape ``(N,)``), ``'mean'`` or ``'sum'``.

    Returns:
      The per-example losses, or their mean/sum.

    Raises:
      ValueError: if the shapes differ, concrete labels are not in ``{−1, 0, 1}``, or for an
        unknown ``reduction``.

    Example:
      >>> hinge(jnp.array([2., 0.5, 0.5]), jnp.array([1, 1, 0]))
      Array([0. , 0.5, 1.5], dtype=float32)
    """
    _check_reduction(reduction)
    _check_same_shape(predictions, targets)
    if not is_traced(targets):
        values = np.unique(np.asarray(targets))
        if not set(values.tolist()) <= {-1, 0, 1}:
            raise ValueError(f"hinge targets must be in {{-1, 1}} or {{0, 1}}, got values "
                             f"{values[:5].tolist()}")
    f, t = _as_float(predictions, targets)
    y = jnp.where(t > 0, 1.0, -1.0).astype(f.dtype)
    return _reduce(_per_example(_relu(1.0 - y * f)), reduction)


# --------------------------------------------------------------------------- multiclass

def softmax_cross_entropy(logits: ArrayLike, targets: ArrayLike, *,
                          label_smoothing: float = 0.0, reduction: str = "none") -> jax.Array:
    """Cross-entropy between a target distribution and softmax(logits), classes on the last axis.

    ``ℓ = −Σ_c t'_c · log_softmax(x)_c`` with ``t' = (1 − ε) · t + ε / C`` (torch
    ``cross_entropy`` with probability targets and ``label_smoothing=ε``). Targets may be
    one-hot or soft; ``−inf`` logits are allowed where the target is 0.

    Args:
      logits: array of shape ``(N, ..., C)``.
      targets: array of the same shape; each ``(..., :)`` slice a distribution.
      label_smoothing: ``ε`` in ``[0, 1]``.
      reduction: ``'none'`` (per-example, shape ``(N,)``), ``'mean'`` or ``'sum'``.

    Returns:
      The per-example losses, or their mean/sum.

    Raises:
      ValueError: if the shapes differ, concrete targets are not distributions (an entry
        outside ``[0, 1]``, or a slice not summing to 1 within 1e-3), or for a bad
        ``label_smoothing``/``reduction``.
      TypeError: complex input.

    Example:
      >>> l = softmax_cross_entropy(jnp.array([[0., 0.], [1e3, 0.]]), jnp.array([[1., 0.], [0., 1.]]))
      >>> print(round(float(l[0]), 4), float(l[1]))
      0.6931 1000.0
    """
    _check_reduction(reduction)
    _check_same_shape(logits, targets, "logits", "targets")
    check_real("label_smoothing", label_smoothing, low=0.0, high=1.0)
    x, t = _as_float(logits, targets)
    _check_distributions(targets)
    if x.ndim < 1:
        raise ValueError(f"logits must have a class axis (last), got shape {x.shape}")
    t = (1.0 - label_smoothing) * t + label_smoothing / x.shape[-1]
    logp = _log_softmax(x)
    values = -jnp.sum(jnp.where(t == 0, 0.0, t * logp), axis=-1)
    return _reduce(_per_example(values), reduction)


def softmax_cross_entropy_with_integer_labels(logits: ArrayLike, labels: ArrayLike, *,
                                              label_smoothing: float = 0.0,
                                              reduction: str = "none") -> jax.Array:
    """Cross-entropy of softmax(logits) against integer class labels (torch ``cross_entropy``).

    ``ℓ = −(1 − ε) · log_softmax(x)_y − ε · mean_c log_softmax(x)_c``, the same as
    :func:`softmax_cross_entropy` with one-hot targets; ``ε = 0`` gives ``−log softmax(x)_y``.

    Args:
      logits: array of shape ``(N, ..., C)``, classes on the last axis.
      labels: integer array of shape ``(N, ...)`` (``logits.shape[:-1]``), values in ``[0, C)``.
      label_smoothing: ``ε`` in ``[0, 1]``.
      reduction: ``'none'`` (per-example, shape ``(N,)``), ``'mean'`` or ``'sum'``.

    Returns:
      The per-example losses, or their mean/sum. Under ``jit``, an out-of-range label gives
      ``nan`` for its example.

    Raises:
      ValueError: if ``labels.shape != logits.shape[:-1]``, labels are not integers, concrete
        labels are out of range, the logits have fewer than 2 classes, or for a bad
        ``label_smoothing``/``reduction``.

    Example:
      >>> l = softmax_cross_entropy_with_integer_labels(jnp.array([[0., 0.], [1e3, 0.]]), jnp.array([0, 1]))
      >>> print(round(float(l[0]), 4), float(l[1]))
      0.6931 1000.0
    """
    _check_reduction(reduction)
    check_real("label_smoothing", label_smoothing, low=0.0, high=1.0)
    x = _to_compute(logits)
    labels = _check_integer_labels(x, labels)
    logp = _log_softmax(x)
    values = -_pick(logp, labels)
    if not (isinstance(label_smoothing, (int, float)) and label_smoothing == 0):
        values = (1.0 - label_smoothing) * values - label_smoothing * jnp.mean(logp, axis=-1)
    return _reduce(_per_example(values), reduction)


def multiclass_hinge(predictions: ArrayLike, labels: ArrayLike, *, p: int = 1,
                     margin: float = 1.0, mode: str = "weston_watkins",
                     reduction: str = "none") -> jax.Array:
    """Multiclass hinge loss on scores ``x`` (classes on the last axis) and integer labels ``y``.

    With ``h_j = max(0, margin − x_y + x_j)^p`` for the wrong classes ``j ≠ y``:

    * ``mode='weston_watkins'``: ``ℓ = Σ_{j≠y} h_j / C`` — exactly torch's
      ``multi_margin_loss`` (which divides the Weston–Watkins sum by the number of classes C);
    * ``mode='crammer_singer'``: ``ℓ = max_{j≠y} h_j`` — only the most violating class counts,
      not divided by C.

    Args:
      predictions: scores of shape ``(N, ..., C)``.
      labels: integer array of shape ``(N, ...)`` (``predictions.shape[:-1]``), in ``[0, C)``.
      p: 1 (hinge) or 2 (squared hinge), as in torch.
      margin: the required gap between the true score and each wrong one.
      mode: ``'weston_watkins'`` or ``'crammer_singer'``.
      reduction: ``'none'`` (per-example, shape ``(N,)``), ``'mean'`` or ``'sum'``.

    Returns:
      The per-example losses, or their mean/sum. Under ``jit``, an out-of-range label gives
      ``nan`` for its example.

    Raises:
      ValueError: for shape/dtype/range problems with ``labels``, ``p`` not in {1, 2}, an
        unknown ``mode`` or ``reduction``.

    Example:
      >>> x, y = jnp.array([[3., 2.5, 0.]]), jnp.array([0])
      >>> multiclass_hinge(x, y), multiclass_hinge(x, y, mode='crammer_singer')
      (Array([0.16666667], dtype=float32), Array([0.5], dtype=float32))
    """
    _check_reduction(reduction)
    if p not in (1, 2) or isinstance(p, bool):
        raise ValueError(f"p must be 1 or 2, got {p!r}")
    if mode not in ("weston_watkins", "crammer_singer"):
        raise ValueError(f"mode must be 'weston_watkins' or 'crammer_singer', got {mode!r}")
    check_real("margin", margin)
    x = _to_compute(predictions)
    labels = _check_integer_labels(x, labels)
    num_classes = x.shape[-1]
    true_score = _pick(x, labels)
    h = _relu(margin - true_score[..., None] + x)
    if p == 2:
        h = h * h
    is_true = jnp.arange(num_classes) == labels[..., None]
    # h >= 0, so zeroing the true class keeps it out of the max; a nan from an
    # out-of-range label stays in every other entry.
    h = jnp.where(is_true, 0.0, h)
    if mode == "weston_watkins":
        values = jnp.sum(h, axis=-1) / num_classes
    else:
        values = jnp.max(h, axis=-1)
    # The hinge's max(0, ·) would turn an out-of-range label's nan into 0.
    values = jnp.where(jnp.isnan(true_score), jnp.nan, values)
    return _reduce(_per_example(values), reduction)
