"""Metrics: ``metric(logits, labels) -> scalar``, and how they aggregate over batches.

A metric is computed batch by batch (inside the compiled training epoch and the
evaluation scan) and must give the value over the **whole** data. Two kinds exist:

* **Mean metrics**: any plain callable ``(logits, labels) -> scalar`` that is a mean over
  the examples (:func:`accuracy`, :func:`top_k_accuracy`, :func:`mean_absolute_error`,
  ``mean_squared_error``, or a function of your own). :func:`as_metric` turns one into a
  :class:`Metric` whose statistics are ``(value · n, n)`` with ``n = logits.shape[0]``
  (the batch size), so batches of different sizes aggregate exactly: the sum of
  ``value · n`` over batches divided by the sum of ``n``.
* :class:`Metric` instances, for metrics that are not means over examples
  (:data:`precision`, :data:`recall`, :data:`f1`, macro-averaged): ``update`` maps a batch
  to sufficient statistics (here its confusion matrix), those are **summed** over batches,
  and ``finalize`` maps the sum to the value. Calling a ``Metric`` on one batch treats
  that batch as the whole data.

Conventions shared by the classification metrics:

* ``logits`` has the classes on its **last** axis, shape ``(N, ..., C)``; the predicted
  class is ``argmax(logits, -1)`` (the first maximum on ties). Logits only: integer
  predictions are not accepted in their place (an ``(N,)`` prediction array would be read
  as one example with ``N`` classes).
* ``labels`` are either integer class indices of shape ``logits.shape[:-1]``, or one-hot
  vectors / class probabilities of shape ``logits.shape`` (any real dtype), whose class is
  ``argmax(labels, -1)``. Any other shape raises a ``ValueError`` naming both shapes;
  float labels of shape ``logits.shape[:-1]`` raise too.
* Concrete integer labels outside ``[0, C)`` raise ``ValueError``. Under ``jit``/``vmap``
  (traced labels) they cannot be checked: such an example counts as a miss for the
  accuracies and is left out of the confusion matrix.
* Every function works on tracers (``jit``, ``vmap``, ``lax.scan``); shapes and the
  keyword arguments are read statically, except ``top_k_accuracy``'s ``k``, which may be
  traced.

Example:
  >>> logits = jnp.array([[2., 1., 0.], [0., 2., 1.], [0., 1., 2.], [2., 0., 1.]])
  >>> labels = jnp.array([0, 1, 1, 2])
  >>> print(float(accuracy(logits, labels)))
  0.5
  >>> confusion_matrix(logits, labels)
  Array([[1, 0, 0],
         [0, 1, 1],
         [1, 0, 0]], dtype=int32)
  >>> print(round(float(f1(logits, labels)), 4))
  0.4444
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from nnfunc._checks import check_int, is_traced

__all__ = ["Metric", "as_metric", "accuracy", "top_k_accuracy", "confusion_matrix",
           "precision", "recall", "f1", "mean_absolute_error", "mean_squared_error"]

ArrayLike = Any
PyTree = Any


# --------------------------------------------------------------------------- Metric

class Metric:
    """A metric that is not a mean over examples: per-batch sufficient statistics are
    summed over batches, then finalized.

    ``value = finalize(Σ_batches update(logits_b, labels_b))``

    Args:
      update: ``(logits, labels) -> statistics``, a pytree of arrays describing one batch
        (e.g. its confusion matrix). Statistics of several batches are combined by summing
        them leaf by leaf, so they must be additive (counts, sums).
      finalize: ``statistics -> scalar``, the value of the metric on the data the summed
        statistics describe.
      name: shown by ``repr``; defaults to ``update.__name__``.

    Returns:
      A callable ``metric(logits, labels)`` equal to ``finalize(update(logits, labels))``
      (one batch taken as the whole data). Instances are immutable and hashable; two
      metrics are equal when their ``update``, ``finalize`` and ``name`` are.

    Raises:
      ValueError: if ``update`` or ``finalize`` is not callable, or ``name`` is not a
        string.

    Example:
      >>> def errors(logits, labels):
      ...     return jnp.sum(jnp.argmax(logits, -1) != labels)
      >>> total_errors = Metric(errors, lambda s: s, name="errors")
      >>> total_errors
      Metric(errors)
      >>> print(int(total_errors(jnp.array([[0., 1.], [1., 0.]]), jnp.array([1, 1]))))
      1
    """

    def __init__(self, update: Callable[[ArrayLike, ArrayLike], PyTree],
                 finalize: Callable[[PyTree], ArrayLike], *, name: str | None = None):
        if not callable(update):
            raise ValueError(f"update must be a callable (logits, labels) -> statistics, "
                             f"got {update!r}")
        if not callable(finalize):
            raise ValueError(f"finalize must be a callable statistics -> scalar, got "
                             f"{finalize!r}")
        if name is None:
            name = getattr(update, "__name__", None) or type(update).__name__
        if not isinstance(name, str):
            raise ValueError(f"name must be a string or None, got {name!r}")
        self._update = update
        self._finalize = finalize
        self._name = name

    @property
    def update(self) -> Callable[[ArrayLike, ArrayLike], PyTree]:
        """``(logits, labels) -> statistics`` of one batch (summed over batches)."""
        return self._update

    @property
    def finalize(self) -> Callable[[PyTree], ArrayLike]:
        """``summed statistics -> scalar`` value."""
        return self._finalize

    @property
    def name(self) -> str:
        """The metric's name (``repr`` shows it)."""
        return self._name

    def __call__(self, logits: ArrayLike, labels: ArrayLike) -> jax.Array:
        return self._finalize(self._update(logits, labels))

    def __repr__(self) -> str:
        return f"Metric({self._name})"

    def _key(self) -> tuple:
        # By identity (never by the callables' own ==/hash, which may be missing or
        # inconsistent): the same functions give equal metrics; as_metric's wrapper
        # compares by the wrapped function.
        update = self._update
        ident = update.ident() if isinstance(update, _MeanUpdate) else id(update)
        return (ident, id(self._finalize), self._name)

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, Metric):
            return NotImplemented
        return self is other or self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


class _MeanUpdate:
    """Statistics ``(fn(logits, labels) · n, n)`` of a mean metric, ``n = logits.shape[0]``.

    Equal (and hashing equal) for the same ``fn`` object, so ``as_metric(fn)`` called twice
    gives equal metrics (a cache keyed by the metric compiles once).
    """

    def __init__(self, fn: Callable):
        self.fn = fn
        self.__name__ = getattr(fn, "__name__", None) or type(fn).__name__

    def __call__(self, logits: ArrayLike, labels: ArrayLike) -> tuple[jax.Array, jax.Array]:
        value = jnp.asarray(self.fn(logits, labels))
        if value.ndim != 0:
            raise ValueError(f"metric {self.__name__} must return a scalar (a mean over the "
                             f"examples), got shape {value.shape}")
        shape = jnp.shape(logits)
        n = shape[0] if shape else 1
        if not jnp.issubdtype(value.dtype, jnp.inexact):
            value = value.astype(jnp.float32)
        # An empty batch adds nothing (its mean is nan, which would poison the sum).
        total = value * n if n else jnp.zeros_like(value)
        return total, jnp.asarray(n, jnp.int32)

    def ident(self) -> tuple:
        return (_MeanUpdate, id(self.fn))

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, _MeanUpdate) and self.fn is other.fn

    def __hash__(self) -> int:
        return hash(self.ident())


def _mean_finalize(statistics: tuple[ArrayLike, ArrayLike]) -> jax.Array:
    """``Σ value·n / Σ n`` (0/0 is nan: no example was seen)."""
    total, count = statistics
    total = jnp.asarray(total)
    return total / jnp.asarray(count).astype(total.dtype)


def as_metric(fn: Any) -> Metric:
    """``fn`` as a :class:`Metric`: a ``Metric`` passes through; any other callable is a
    per-example **mean**.

    For a plain callable ``fn(logits, labels) -> scalar`` the statistics of a batch are
    ``(fn(logits, labels) · n, n)`` with ``n = logits.shape[0]`` (1 for a scalar), and
    ``finalize`` returns ``Σ fn·n / Σ n``: batches of different sizes aggregate exactly
    (for ``(N, T, C)`` logits, every example must have the same ``T``). An empty batch
    contributes nothing.

    Args:
      fn: a :class:`Metric`, or a callable ``(logits, labels) -> scalar`` that is a mean
        over the examples.

    Returns:
      A :class:`Metric` named after ``fn``. Calling ``as_metric`` twice on the same ``fn``
      gives equal (and equally hashing) metrics.

    Raises:
      ValueError: if ``fn`` is not callable.

    Example:
      >>> m = as_metric(accuracy)
      >>> m
      Metric(accuracy)
      >>> a = m.update(jnp.array([[0., 1.]]), jnp.array([1]))             # 1 of 1 right
      >>> b = m.update(jnp.array([[0., 1.], [0., 1.], [0., 1.]]), jnp.array([0, 0, 1]))
      >>> print(float(m.finalize(jax.tree_util.tree_map(jnp.add, a, b))))   # 2 of 4
      0.5
    """
    if isinstance(fn, Metric):
        return fn
    if not callable(fn):
        raise ValueError(f"a metric must be a Metric or a callable (logits, labels) -> "
                         f"scalar, got {fn!r}")
    update = _MeanUpdate(fn)
    return Metric(update, _mean_finalize, name=update.__name__)


# --------------------------------------------------------------------------- helpers

def _check_logits(logits: ArrayLike) -> jax.Array:
    logits = jnp.asarray(logits)
    if logits.ndim < 1 or logits.shape[-1] < 1:
        raise ValueError(f"logits must have a class axis (the last) of size >= 1, got shape "
                         f"{logits.shape}")
    if jnp.issubdtype(logits.dtype, jnp.complexfloating):
        raise TypeError(f"logits must be real, got dtype {logits.dtype}")
    return logits


def _class_labels(logits: jax.Array, labels: ArrayLike, num_classes: int) -> jax.Array:
    """Integer class indices of shape ``logits.shape[:-1]`` from integer or one-hot labels;
    concrete integer labels are checked to be in ``[0, num_classes)``."""
    ls, ys = tuple(logits.shape), tuple(jnp.shape(labels))
    arr = jnp.asarray(labels)
    if ys == ls:
        if jnp.issubdtype(arr.dtype, jnp.complexfloating):
            raise TypeError(f"labels must be real, got dtype {arr.dtype}")
        return jnp.argmax(arr, axis=-1)
    if ys != ls[:-1]:
        raise ValueError(f"logits shape {ls} and labels shape {ys} do not match: labels must "
                         f"be integer class indices of shape logits.shape[:-1] = {ls[:-1]}, "
                         f"or one-hot vectors / class probabilities of shape {ls}")
    if not jnp.issubdtype(arr.dtype, jnp.integer):
        raise ValueError(f"labels of shape {ys} (logits.shape[:-1]) must be integer class "
                         f"indices, got dtype {arr.dtype}")
    if not is_traced(labels):
        bad = (arr < 0) | (arr >= num_classes)
        if bool(jnp.any(bad)):
            raise ValueError(f"labels must be in [0, {num_classes}) for {num_classes} "
                             f"classes, got {arr[bad].ravel()[:5].tolist()}")
    return arr


def _check_num_classes(num_classes: Any, logits: jax.Array) -> int:
    c = logits.shape[-1]
    if num_classes is None:
        return c
    if is_traced(num_classes):
        raise ValueError(f"num_classes must be a static Python int (it sets the shape of the "
                         f"result), got a traced value {num_classes!r}")
    num_classes = check_int("num_classes", num_classes, minimum=1)
    if num_classes < c:
        raise ValueError(f"num_classes={num_classes} is smaller than the {c} classes of logits "
                         f"shape {logits.shape}")
    return num_classes


# --------------------------------------------------------------------------- accuracies

def accuracy(logits: ArrayLike, labels: ArrayLike) -> jax.Array:
    """Fraction of examples whose arg-max class is the label: ``mean_n [argmax_c x_{n,c} = y_n]``.

    Ties in the logits go to the first maximal class (``jnp.argmax``), so this equals
    ``top_k_accuracy(..., k=1)``.

    Args:
      logits: ``(N, ..., C)`` class scores.
      labels: ``(N, ...)`` integer class indices, or ``(N, ..., C)`` one-hot vectors /
        class probabilities (their arg-max is the class).

    Returns:
      A float32 scalar in [0, 1] (the mean over every position of ``logits.shape[:-1]``).

    Raises:
      ValueError: if the shapes do not match, or for concrete labels out of range.

    Example:
      >>> print(float(accuracy(jnp.array([[0., 1.], [1., 0.]]), jnp.array([1, 1]))))
      0.5
      >>> print(float(accuracy(jnp.array([[0., 1.], [1., 0.]]), jnp.array([[0, 1], [0, 1]]))))
      0.5
    """
    logits = _check_logits(logits)
    y = _class_labels(logits, labels, logits.shape[-1])
    return jnp.mean((jnp.argmax(logits, axis=-1) == y).astype(jnp.float32))


def top_k_accuracy(logits: ArrayLike, labels: ArrayLike, *, k: int = 5) -> jax.Array:
    """Fraction of examples whose label is among the ``k`` best-ranked classes:
    ``mean_n [rank_n(y_n) < k]``.

    The rank of class ``c`` is its position in a **stable** descending sort of the logits:
    ``rank(c) = #{j : x_j > x_c} + #{j < c : x_j = x_c}``, i.e. ties go to the lower class
    index, as in ``jnp.argmax`` and ``jax.lax.top_k``. So ``k=1`` equals :func:`accuracy`
    and every example hits exactly ``k`` classes (``k = C`` gives 1.0). Logits must not
    contain ``nan``.

    Args:
      logits: ``(N, ..., C)`` class scores.
      labels: ``(N, ...)`` integer class indices, or ``(N, ..., C)`` one-hot vectors /
        class probabilities.
      k: how many of the best classes count as a hit, an integer in ``[1, C]`` (may be
        traced, e.g. under ``vmap``; then it is not checked).

    Returns:
      A float32 scalar in [0, 1].

    Raises:
      ValueError: if ``k`` is not an integer ``>= 1`` or exceeds ``C``, if the shapes do
        not match, or for concrete labels out of range.

    Example:
      >>> logits = jnp.array([[3., 2., 1., 0.], [0., 1., 1., 2.]])
      >>> print(float(top_k_accuracy(logits, jnp.array([2, 2]), k=2)))   # ranks 2 and 2
      0.0
      >>> print(float(top_k_accuracy(logits, jnp.array([1, 1]), k=2)))   # ranks 1 and 1
      1.0
    """
    logits = _check_logits(logits)
    c = logits.shape[-1]
    k = check_int("k", k, minimum=1)
    y = _class_labels(logits, labels, c)[..., None]
    if not is_traced(k) and k > c:
        raise ValueError(f"k={k} exceeds the {c} classes of logits shape {logits.shape}")
    valid = (y >= 0) & (y < c)
    own = jnp.take_along_axis(logits, jnp.clip(y, 0, c - 1), axis=-1)
    index = jax.lax.broadcasted_iota(jnp.int32, logits.shape, logits.ndim - 1)
    ahead = (logits > own) | ((logits == own) & (index < y))
    rank = jnp.sum(ahead, axis=-1, keepdims=True, dtype=jnp.int32)
    hit = valid & (rank < k)
    return jnp.mean(hit.astype(jnp.float32))


# --------------------------------------------------------------------------- confusion

def confusion_matrix(logits: ArrayLike, labels: ArrayLike, *,
                     num_classes: int | None = None) -> jax.Array:
    """Counts of (true class, predicted class) pairs: ``M_{ij} = #{n : y_n = i, argmax x_n = j}``.

    Rows are the true classes, columns the predicted ones (scikit-learn's layout); every
    position of ``logits.shape[:-1]`` is one example.

    Args:
      logits: ``(N, ..., C)`` class scores (not predicted classes).
      labels: ``(N, ...)`` integer class indices, or ``(N, ..., C)`` one-hot vectors /
        class probabilities.
      num_classes: the size of the matrix, a static int ``>= C``; ``None`` (default): ``C``.

    Returns:
      A ``(num_classes, num_classes)`` int32 array. Under ``jit``, examples whose label is
      out of range are left out.

    Raises:
      ValueError: if the shapes do not match, for concrete labels out of range, or if
        ``num_classes`` is not an integer ``>= C``.

    Example:
      >>> confusion_matrix(jnp.array([[1., 0.], [1., 0.], [0., 1.]]), jnp.array([0, 1, 1]))
      Array([[1, 0],
             [1, 1]], dtype=int32)
    """
    logits = _check_logits(logits)
    num = _check_num_classes(num_classes, logits)
    y = _class_labels(logits, labels, num).astype(jnp.int32).ravel()
    p = jnp.argmax(logits, axis=-1).astype(jnp.int32).ravel()
    valid = (y >= 0) & (y < num)
    # Out-of-range labels go to index num², past the end, which mode="drop" discards
    # (a negative index would wrap around instead).
    flat = jnp.where(valid, y * num + p, num * num)
    counts = jnp.zeros(num * num, jnp.int32).at[flat].add(1, mode="drop")
    return counts.reshape(num, num)


def _confusion(logits: ArrayLike, labels: ArrayLike) -> jax.Array:
    return confusion_matrix(logits, labels)


def _macro(values: jax.Array, present: jax.Array) -> jax.Array:
    n = jnp.sum(present.astype(jnp.float32))
    total = jnp.sum(jnp.where(present, values, 0.0))
    return jnp.where(n > 0, total / jnp.maximum(n, 1.0), 0.0).astype(jnp.float32)


def _ratio(num: jax.Array, den: jax.Array) -> jax.Array:
    """``num / den``, 0 where ``den == 0`` (scikit-learn's ``zero_division=0``)."""
    return jnp.where(den > 0, num / jnp.maximum(den, 1.0), 0.0)


def _counts(cm: ArrayLike) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    cm = jnp.asarray(cm).astype(jnp.float32)
    tp = jnp.diagonal(cm)
    predicted = jnp.sum(cm, axis=0)      # tp + fp
    true = jnp.sum(cm, axis=1)           # tp + fn
    return tp, predicted, true, (predicted + true) > 0


def _precision_finalize(cm: ArrayLike) -> jax.Array:
    tp, predicted, _, present = _counts(cm)
    return _macro(_ratio(tp, predicted), present)


def _recall_finalize(cm: ArrayLike) -> jax.Array:
    tp, _, true, present = _counts(cm)
    return _macro(_ratio(tp, true), present)


def _f1_finalize(cm: ArrayLike) -> jax.Array:
    tp, predicted, true, present = _counts(cm)
    return _macro(_ratio(2.0 * tp, predicted + true), present)


_MACRO_DOC = """Macro-averaged {what}, a :class:`Metric`: ``mean_{{c ∈ K}} {formula}``.

    ``K`` is the set of classes present in the labels or the predictions (of the whole
    data: statistics are summed before finalizing), and a class whose denominator is 0
    scores 0: scikit-learn's ``{sk}(y, argmax(logits, -1), average='macro',
    zero_division=0)``. With no example at all the value is 0.

    Call it like a function, ``{name}(logits, labels)``. Its statistics
    (``{name}.update``) are the ``(C, C)`` int32 confusion matrix of the batch
    (:func:`confusion_matrix`); ``{name}.finalize`` maps a summed matrix to the value.

    Example:
      >>> logits = jnp.array([[2., 1., 0.], [0., 2., 1.], [0., 1., 2.], [2., 0., 1.]])
      >>> print(round(float({name}(logits, jnp.array([0, 1, 1, 2]))), 4))
      {value}
    """

precision = Metric(_confusion, _precision_finalize, name="precision")
precision.__doc__ = _MACRO_DOC.format(
    what="precision", formula="TP_c / (TP_c + FP_c)", sk="precision_score", name="precision",
    value="0.5")

recall = Metric(_confusion, _recall_finalize, name="recall")
recall.__doc__ = _MACRO_DOC.format(
    what="recall", formula="TP_c / (TP_c + FN_c)", sk="recall_score", name="recall",
    value="0.5")

f1 = Metric(_confusion, _f1_finalize, name="f1")
f1.__doc__ = _MACRO_DOC.format(
    what="F1 score", formula="2 TP_c / (2 TP_c + FP_c + FN_c)", sk="f1_score", name="f1",
    value="0.4444")


# --------------------------------------------------------------------------- regression

def _regression_pair(predictions: ArrayLike, targets: ArrayLike) -> tuple[jax.Array, jax.Array]:
    ps, ts = jnp.shape(predictions), jnp.shape(targets)
    if ps != ts:
        raise ValueError(f"predictions shape {ps} and targets shape {ts} must be equal "
                         f"(metrics do not broadcast)")
    p, t = jnp.asarray(predictions), jnp.asarray(targets)
    if jnp.issubdtype(p.dtype, jnp.complexfloating) or jnp.issubdtype(t.dtype,
                                                                       jnp.complexfloating):
        raise TypeError(f"regression metrics take real inputs, got dtypes {p.dtype} and "
                        f"{t.dtype}")
    dtype = jnp.promote_types(jnp.result_type(p, t), jnp.float32)
    return p.astype(dtype), t.astype(dtype)


def mean_absolute_error(predictions: ArrayLike, targets: ArrayLike) -> jax.Array:
    """Mean absolute error over every entry: ``mean_{n,i} |p_{n,i} − t_{n,i}|``.

    Args:
      predictions: array of shape ``(N, ...)``.
      targets: array of the same shape (no broadcasting).

    Returns:
      A scalar in at least float32.

    Raises:
      ValueError: if the shapes differ.

    Example:
      >>> print(float(mean_absolute_error(jnp.array([[1., 2.], [0., 0.]]),
      ...                                 jnp.array([[1., 4.], [1., -1.]]))))
      1.0
    """
    p, t = _regression_pair(predictions, targets)
    return jnp.mean(jnp.abs(p - t))


def mean_squared_error(predictions: ArrayLike, targets: ArrayLike) -> jax.Array:
    """Mean squared error over every entry: ``mean_{n,i} (p_{n,i} − t_{n,i})²``.

    Args:
      predictions: array of shape ``(N, ...)``.
      targets: array of the same shape (no broadcasting).

    Returns:
      A scalar in at least float32.

    Raises:
      ValueError: if the shapes differ.

    Example:
      >>> print(float(mean_squared_error(jnp.array([[1., 2.], [0., 0.]]),
      ...                                jnp.array([[1., 4.], [1., 1.]]))))
      1.5
    """
    p, t = _regression_pair(predictions, targets)
    return jnp.mean(jnp.square(p - t))


# The docstrings of the Metric instances, run as doctests (doctest skips instances).
__test__ = {"precision": precision.__doc__, "recall": recall.__doc__, "f1": f1.__doc__}
