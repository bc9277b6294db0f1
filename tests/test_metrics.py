"""nf.metrics: every metric against a brute-force NumPy reference (and scikit-learn where it
is installed), under jit and vmap, and the batch-decomposition contract fit relies on:
statistics summed over uneven batches, then finalized, give the whole-data value."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnfunc import metrics as M

SEEDS = [0, 1, 2]
LABEL_KINDS = ["int", "onehot", "probs"]


# --------------------------------------------------------------------------- data

def make_data(seed, n=60, c=5, kind="int", ties=False, extra=()):
    """Random ``(logits (n, *extra, c) float32, labels)``; ``ties`` draws integer-valued logits
    in a small range so that equal logits are common. Labels are integer, one-hot or class
    probabilities (``kind``); the integer classes are also returned."""
    rng = np.random.default_rng(seed)
    shape = (n, *extra, c)
    if ties:
        logits = rng.integers(-2, 3, shape).astype(np.float32)
    else:
        logits = rng.normal(size=shape).astype(np.float32)
    # Skewed classes, so that the classes differ in size; with seed 2 the last class is
    # neither a label nor a prediction (left out of the macro averages).
    p = rng.dirichlet(np.ones(c) * 0.7)
    if seed == 2:
        p[-1] = 0.0
        p /= p.sum()
        logits[..., -1] -= 10.0
    y = rng.choice(c, size=(n, *extra), p=p).astype(np.int32)
    if kind == "int":
        labels = y
    elif kind == "onehot":
        labels = np.eye(c, dtype=np.float32)[y]
    else:                       # class probabilities whose arg-max is y
        probs = rng.dirichlet(np.ones(c), size=(n, *extra)).astype(np.float32) * 0.5
        probs[np.eye(c, dtype=bool)[y]] += 0.5 + 1e-3
        labels = probs / probs.sum(-1, keepdims=True)
        assert np.array_equal(labels.argmax(-1), y)
    return logits, labels, y


# --------------------------------------------------------------------------- references

def ref_pred(logits):
    """First arg-max, one example at a time."""
    flat = logits.reshape(-1, logits.shape[-1])
    out = []
    for row in flat:
        best = 0
        for j in range(len(row)):
            if row[j] > row[best]:
                best = j
        out.append(best)
    return np.array(out)


def ref_accuracy(logits, y):
    return np.mean(ref_pred(logits) == y.ravel())


def ref_top_k(logits, y, k):
    """Stable descending sort: ties go to the lower class index."""
    flat = logits.reshape(-1, logits.shape[-1])
    hits = [label in list(np.argsort(-row, kind="stable")[:k])
            for row, label in zip(flat, y.ravel())]
    return np.mean(hits)


def ref_confusion(logits, y, num_classes=None):
    c = num_classes or logits.shape[-1]
    cm = np.zeros((c, c), np.int64)
    for t, p in zip(y.ravel(), ref_pred(logits)):
        cm[t, p] += 1
    return cm


def ref_macro(logits, y, which):
    """Macro average over the classes present in y or the predictions; 0 for 0/0."""
    pred, true = ref_pred(logits), y.ravel()
    values = []
    for c in sorted(set(pred.tolist()) | set(true.tolist())):
        tp = np.sum((pred == c) & (true == c))
        fp = np.sum((pred == c) & (true != c))
        fn = np.sum((pred != c) & (true == c))
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        values.append({"precision": prec, "recall": rec, "f1": f}[which])
    return np.mean(values)


# name -> (metric, reference(logits, integer classes))
CLASSIFICATION = {
    "accuracy": (M.accuracy, ref_accuracy),
    "top1": (functools.partial(M.top_k_accuracy, k=1), functools.partial(ref_top_k, k=1)),
    "top2": (functools.partial(M.top_k_accuracy, k=2), functools.partial(ref_top_k, k=2)),
    "top3": (functools.partial(M.top_k_accuracy, k=3), functools.partial(ref_top_k, k=3)),
    "precision": (M.precision, functools.partial(ref_macro, which="precision")),
    "recall": (M.recall, functools.partial(ref_macro, which="recall")),
    "f1": (M.f1, functools.partial(ref_macro, which="f1")),
}
NAMES = sorted(CLASSIFICATION)


def regression_data(seed, n=40, d=3):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, d)).astype(np.float32),
            rng.normal(size=(n, d)).astype(np.float32))


REGRESSION = {
    "mae": (M.mean_absolute_error, lambda p, t: np.mean(np.abs(p.astype(np.float64) - t))),
    "mse": (M.mean_squared_error, lambda p, t: np.mean((p.astype(np.float64) - t) ** 2)),
}


# --------------------------------------------------------------------------- (a) values

@pytest.mark.parametrize("kind", LABEL_KINDS)
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", NAMES)
def test_matches_reference(name, seed, ties, kind):
    fn, ref = CLASSIFICATION[name]
    logits, labels, y = make_data(seed, ties=ties, kind=kind)
    got = fn(jnp.asarray(logits), jnp.asarray(labels))
    assert got.shape == () and got.dtype == jnp.float32
    np.testing.assert_allclose(float(got), ref(logits, y), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["accuracy", "top2", "f1"])
def test_sequence_axis(name):
    """(N, T, C) logits: every (n, t) position is an example."""
    fn, ref = CLASSIFICATION[name]
    logits, labels, y = make_data(3, n=20, c=4, extra=(6,))
    np.testing.assert_allclose(float(fn(logits, labels)), ref(logits, y), rtol=1e-6)


@pytest.mark.parametrize("kind", LABEL_KINDS)
@pytest.mark.parametrize("seed", SEEDS)
def test_confusion_matrix_matches_reference(seed, kind):
    logits, labels, y = make_data(seed, ties=seed == 1, kind=kind)
    cm = M.confusion_matrix(logits, labels)
    assert cm.dtype == jnp.int32 and cm.shape == (5, 5)
    np.testing.assert_array_equal(np.asarray(cm), ref_confusion(logits, y))
    assert int(cm.sum()) == len(y)


def test_confusion_matrix_num_classes_pads():
    logits, labels, y = make_data(4, c=3)
    cm = M.confusion_matrix(logits, labels, num_classes=5)
    assert cm.shape == (5, 5)
    np.testing.assert_array_equal(np.asarray(cm)[:3, :3], ref_confusion(logits, y))
    assert int(np.asarray(cm)[3:].sum() + np.asarray(cm)[:, 3:].sum()) == 0


def test_confusion_matrix_layout():
    """Rows are the true classes, columns the predicted ones."""
    cm = M.confusion_matrix(jnp.array([[0., 1., 0.]]), jnp.array([2]))
    np.testing.assert_array_equal(np.asarray(cm), [[0, 0, 0], [0, 0, 0], [0, 1, 0]])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", sorted(REGRESSION))
def test_regression_matches_reference(name, seed):
    fn, ref = REGRESSION[name]
    p, t = regression_data(seed)
    np.testing.assert_allclose(float(fn(p, t)), ref(p, t), rtol=1e-6)


# --------------------------------------------------------------------------- scikit-learn

@pytest.mark.parametrize("kind", ["int", "onehot"])
@pytest.mark.parametrize("seed", SEEDS)
def test_against_sklearn(seed, kind):
    skm = pytest.importorskip("sklearn.metrics")
    logits, labels, y = make_data(seed, n=80, c=6, kind=kind, ties=seed == 2)
    pred = logits.argmax(-1)
    assert float(M.accuracy(logits, labels)) == pytest.approx(skm.accuracy_score(y, pred))
    for name, score in [("precision", skm.precision_score), ("recall", skm.recall_score),
                        ("f1", skm.f1_score)]:
        expected = score(y, pred, average="macro", zero_division=0)
        got = float(CLASSIFICATION[name][0](logits, labels))
        assert got == pytest.approx(expected, rel=1e-6, abs=1e-7), name
    np.testing.assert_array_equal(np.asarray(M.confusion_matrix(logits, labels)),
                                  skm.confusion_matrix(y, pred, labels=range(6)))


@pytest.mark.parametrize("k", [1, 2, 4])
@pytest.mark.parametrize("seed", SEEDS)
def test_top_k_against_sklearn(seed, k):
    """Continuous logits (no ties, where every tie rule agrees)."""
    skm = pytest.importorskip("sklearn.metrics")
    logits, labels, y = make_data(seed, n=80, c=6)
    expected = skm.top_k_accuracy_score(y, logits, k=k, labels=range(6))
    assert float(M.top_k_accuracy(logits, labels, k=k)) == pytest.approx(expected)


def test_macro_with_missing_class_against_sklearn():
    """A class never true nor predicted is left out of the macro average; a class predicted
    but never true scores precision 0 (zero_division=0) and is kept."""
    skm = pytest.importorskip("sklearn.metrics")
    y = np.array([0, 0, 1, 1, 1, 3])
    pred = np.array([0, 1, 1, 1, 2, 3])
    logits = np.eye(5, dtype=np.float32)[pred]
    for name, score in [("precision", skm.precision_score), ("recall", skm.recall_score),
                        ("f1", skm.f1_score)]:
        expected = score(y, pred, average="macro", zero_division=0)
        assert float(CLASSIFICATION[name][0](logits, y)) == pytest.approx(expected), name


def test_macro_hand_computed():
    """Without any oracle: classes 0, 1, 3 present (2 predicted but never true, 4 absent)."""
    y = np.array([0, 0, 1, 1, 1, 3])
    pred = np.array([0, 1, 1, 1, 2, 3])
    logits = np.eye(5, dtype=np.float32)[pred]
    # per class 0, 1, 2, 3: precision 1, 2/3, 0, 1; recall 1/2, 2/3, 0, 1
    assert float(M.precision(logits, y)) == pytest.approx((1 + 2 / 3 + 0 + 1) / 4)
    assert float(M.recall(logits, y)) == pytest.approx((1 / 2 + 2 / 3 + 0 + 1) / 4)
    assert float(M.f1(logits, y)) == pytest.approx((2 / 3 + 2 / 3 + 0 + 1) / 4)


# --------------------------------------------------------------------------- ties

def test_top_k_tie_rule():
    """Ties go to the lower class index (a stable descending sort)."""
    logits = jnp.array([[1., 1., 1., 0.]] * 3)
    labels = jnp.array([0, 1, 2])
    assert float(M.top_k_accuracy(logits, labels, k=1)) == pytest.approx(1 / 3)
    assert float(M.top_k_accuracy(logits, labels, k=2)) == pytest.approx(2 / 3)
    assert float(M.top_k_accuracy(logits, labels, k=3)) == 1.0
    assert float(M.top_k_accuracy(logits, jnp.array([3, 3, 3]), k=3)) == 0.0


@pytest.mark.parametrize("seed", SEEDS)
def test_top_1_is_accuracy_under_ties(seed):
    logits, labels, _ = make_data(seed, ties=True)
    assert float(M.top_k_accuracy(logits, labels, k=1)) == float(M.accuracy(logits, labels))


def test_top_k_all_classes_is_one():
    logits, labels, _ = make_data(0, ties=True)
    assert float(M.top_k_accuracy(logits, labels, k=5)) == 1.0


@pytest.mark.parametrize("seed", SEEDS)
def test_top_k_increases_with_k(seed):
    logits, labels, _ = make_data(seed, ties=True)
    values = [float(M.top_k_accuracy(logits, labels, k=k)) for k in range(1, 6)]
    assert values == sorted(values) and values[0] < values[-1]


# --------------------------------------------------------------------------- (b) jit, vmap

@pytest.mark.parametrize("name", NAMES)
def test_jit(name):
    fn, ref = CLASSIFICATION[name]
    logits, labels, y = make_data(5, kind="onehot" if name == "f1" else "int", ties=True)
    got = jax.jit(fn)(jnp.asarray(logits), jnp.asarray(labels))
    np.testing.assert_allclose(float(got), ref(logits, y), rtol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_vmap_over_runs(name):
    fn, ref = CLASSIFICATION[name]
    runs = [make_data(s, n=30, ties=s % 2 == 0) for s in range(4)]
    logits = jnp.stack([r[0] for r in runs])
    labels = jnp.stack([r[1] for r in runs])
    got = jax.jit(jax.vmap(fn))(logits, labels)
    assert got.shape == (4,)
    np.testing.assert_allclose(np.asarray(got), [ref(r[0], r[2]) for r in runs], rtol=1e-6)


def test_vmap_confusion_matrix():
    runs = [make_data(s, n=30) for s in range(3)]
    got = jax.vmap(M.confusion_matrix)(jnp.stack([r[0] for r in runs]),
                                       jnp.stack([r[1] for r in runs]))
    np.testing.assert_array_equal(np.asarray(got), [ref_confusion(r[0], r[2]) for r in runs])


@pytest.mark.parametrize("name", sorted(REGRESSION))
def test_regression_jit_vmap(name):
    fn, ref = REGRESSION[name]
    data = [regression_data(s) for s in range(3)]
    got = jax.jit(jax.vmap(fn))(jnp.stack([d[0] for d in data]), jnp.stack([d[1] for d in data]))
    np.testing.assert_allclose(np.asarray(got), [ref(*d) for d in data], rtol=1e-6)


def test_top_k_traced_k():
    logits, labels, y = make_data(6, ties=True)
    got = jax.vmap(lambda k: M.top_k_accuracy(logits, labels, k=k))(jnp.arange(1, 6))
    np.testing.assert_allclose(np.asarray(got), [ref_top_k(logits, y, k) for k in range(1, 6)])


def test_traced_out_of_range_labels():
    """Under jit, out-of-range labels are misses and are left out of the confusion matrix."""
    logits = jnp.array([[1., 0., 0.], [1., 0., 0.], [0., 1., 0.]])
    labels = jnp.array([0, 3, -1])
    assert float(jax.jit(M.accuracy)(logits, labels)) == pytest.approx(1 / 3)
    assert float(jax.jit(functools.partial(M.top_k_accuracy, k=3))(logits, labels)) == \
        pytest.approx(1 / 3)
    cm = jax.jit(M.confusion_matrix)(logits, labels)
    np.testing.assert_array_equal(np.asarray(cm), [[1, 0, 0], [0, 0, 0], [0, 0, 0]])


# --------------------------------------------------------------------------- (c) batches

SPLITS = [[1, 7, 13, 29, 50], [64, 2, 34], [3] * 33 + [1]]


def _split(a, sizes):
    return np.split(a, np.cumsum(sizes)[:-1])


def _aggregate(metric, logits, labels, sizes, jit=False):
    m = M.as_metric(metric)
    update = jax.jit(m.update) if jit else m.update
    stats = [update(lo, la) for lo, la in zip(_split(logits, sizes), _split(labels, sizes))]
    return m.finalize(functools.reduce(lambda a, b: jax.tree_util.tree_map(jnp.add, a, b),
                                       stats))


@pytest.mark.parametrize("split", range(len(SPLITS)))
@pytest.mark.parametrize("kind", ["int", "onehot"])
@pytest.mark.parametrize("name", NAMES)
def test_batch_decomposition(name, kind, split):
    fn, ref = CLASSIFICATION[name]
    sizes = SPLITS[split]
    logits, labels, y = make_data(split, n=sum(sizes), kind=kind, ties=split == 1)
    got = _aggregate(fn, logits, labels, sizes, jit=split == 0)
    np.testing.assert_allclose(float(got), ref(logits, y), rtol=1e-5)
    np.testing.assert_allclose(float(got), float(fn(logits, labels)), rtol=1e-5)


@pytest.mark.parametrize("name", sorted(REGRESSION))
def test_regression_batch_decomposition(name):
    fn, ref = REGRESSION[name]
    p, t = regression_data(7, n=100)
    got = _aggregate(fn, p, t, SPLITS[0])
    np.testing.assert_allclose(float(got), ref(p, t), rtol=1e-5)


@pytest.mark.parametrize("name", ["accuracy", "precision", "recall", "f1"])
def test_naive_batch_average_would_be_wrong(name):
    """The data of the decomposition tests are such that averaging per-batch values does not
    give the whole-data value, so those tests would catch a wrong aggregation."""
    fn, ref = CLASSIFICATION[name]
    sizes = SPLITS[0]
    logits, labels, y = make_data(0, n=sum(sizes))
    naive = np.mean([float(fn(lo, la)) for lo, la in zip(_split(logits, sizes),
                                                         _split(labels, sizes))])
    assert abs(naive - ref(logits, y)) > 1e-3


def test_decomposition_in_a_scan():
    """As fit uses them: per-batch statistics from a lax.scan, summed over the steps."""
    logits, labels, y = make_data(8, n=96)
    for metric in [M.accuracy, M.f1, functools.partial(M.top_k_accuracy, k=2)]:
        m = M.as_metric(metric)
        _, stats = jax.lax.scan(lambda c, b: (c, m.update(*b)), None,
                                (jnp.asarray(logits).reshape(8, 12, 5),
                                 jnp.asarray(labels).reshape(8, 12)))
        total = jax.tree_util.tree_map(lambda s: s.sum(0), stats)
        np.testing.assert_allclose(float(m.finalize(total)), float(metric(logits, labels)),
                                   rtol=1e-6)


def test_mean_statistics_are_value_times_n():
    m = M.as_metric(M.accuracy)
    total, count = m.update(jnp.array([[0., 1.], [0., 1.], [1., 0.]]), jnp.array([1, 1, 1]))
    assert float(total) == pytest.approx(2.0) and int(count) == 3


def test_empty_batch_adds_nothing():
    m = M.as_metric(M.accuracy)
    a = m.update(jnp.array([[0., 1.], [1., 0.]]), jnp.array([1, 1]))
    empty = m.update(jnp.zeros((0, 2)), jnp.zeros((0,), jnp.int32))
    assert float(m.finalize(jax.tree_util.tree_map(jnp.add, a, empty))) == 0.5


def test_confusion_statistics_are_confusion_matrix():
    logits, labels, y = make_data(9)
    np.testing.assert_array_equal(np.asarray(M.f1.update(logits, labels)),
                                  ref_confusion(logits, y))


def test_macro_no_example_is_zero():
    assert float(M.f1.finalize(jnp.zeros((4, 4), jnp.int32))) == 0.0


# --------------------------------------------------------------------------- Metric objects

def test_metric_repr_and_call():
    assert repr(M.f1) == "Metric(f1)"
    assert repr(M.as_metric(M.accuracy)) == "Metric(accuracy)"
    m = M.Metric(lambda lo, la: jnp.sum(la), lambda s: s * 2, name="twice")
    assert repr(m) == "Metric(twice)" and m.name == "twice"
    assert int(m(jnp.zeros((3, 2)), jnp.array([1, 1, 0]))) == 4


def test_as_metric_passes_metric_through():
    assert M.as_metric(M.precision) is M.precision


def test_metric_hash_and_equality():
    a, b = M.as_metric(M.accuracy), M.as_metric(M.accuracy)
    assert a == b and hash(a) == hash(b)
    assert M.as_metric(M.mean_squared_error) != a
    assert M.precision != M.recall
    assert len({M.precision, M.recall, M.f1, M.precision}) == 3

    class Unhashable:
        __hash__ = None

        def __call__(self, logits, labels):
            return M.accuracy(logits, labels)

    u = M.as_metric(Unhashable())
    assert hash(u) == hash(u) and u == u and u != M.as_metric(Unhashable())
    assert repr(u) == "Metric(Unhashable)"


def test_metric_as_static_jit_argument():
    traces = []

    @functools.partial(jax.jit, static_argnums=2)
    def evaluate(logits, labels, metric):
        traces.append(metric)
        return metric(logits, labels)

    logits, labels, y = make_data(10)
    for _ in range(2):
        v = evaluate(logits, labels, M.as_metric(M.accuracy))
    assert float(v) == pytest.approx(ref_accuracy(logits, y)) and len(traces) == 1
    evaluate(logits, labels, M.f1)
    assert len(traces) == 2


# --------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("fn", [M.accuracy, M.top_k_accuracy, M.confusion_matrix, M.f1])
def test_shape_mismatch_names_both_shapes(fn):
    with pytest.raises(ValueError, match=r"\(6, 3\).*\(5,\)"):
        fn(jnp.zeros((6, 3)), jnp.zeros((5,), jnp.int32))
    with pytest.raises(ValueError, match=r"\(6, 3\).*\(6, 4\)"):
        fn(jnp.zeros((6, 3)), jnp.zeros((6, 4)))


def test_shape_mismatch_regression():
    with pytest.raises(ValueError, match=r"\(4, 1\).*\(4,\)"):
        M.mean_squared_error(jnp.zeros((4, 1)), jnp.zeros((4,)))


def test_float_class_indices_refused():
    with pytest.raises(ValueError, match="integer class indices.*float32"):
        M.accuracy(jnp.zeros((4, 3)), jnp.zeros((4,)))


def test_logits_without_class_axis():
    with pytest.raises(ValueError, match="class axis"):
        M.accuracy(jnp.array(1.0), jnp.array(0))


@pytest.mark.parametrize("fn", [M.accuracy, M.top_k_accuracy, M.confusion_matrix, M.recall])
def test_concrete_labels_out_of_range(fn):
    with pytest.raises(ValueError, match=r"\[0, 5\).*\[5, -1\]"):
        fn(jnp.zeros((4, 5)), jnp.array([0, 5, -1, 2]))


@pytest.mark.parametrize("k", [0, -1, 2.0, True, "3", None])
def test_bad_k(k):
    with pytest.raises(ValueError, match=f"k must be an integer >= 1, got {k!r}"):
        M.top_k_accuracy(jnp.zeros((4, 5)), jnp.zeros(4, jnp.int32), k=k)


def test_k_larger_than_classes():
    with pytest.raises(ValueError, match=r"k=6 exceeds the 5 classes"):
        M.top_k_accuracy(jnp.zeros((4, 5)), jnp.zeros(4, jnp.int32), k=6)


def test_numpy_k_accepted():
    logits, labels, y = make_data(11)
    assert float(M.top_k_accuracy(logits, labels, k=np.int64(2))) == \
        pytest.approx(ref_top_k(logits, y, 2))


@pytest.mark.parametrize("num_classes", [0, 2.0, "5", True])
def test_bad_num_classes(num_classes):
    with pytest.raises(ValueError, match=f"num_classes must be .*got {num_classes!r}"):
        M.confusion_matrix(jnp.zeros((4, 3)), jnp.zeros(4, jnp.int32), num_classes=num_classes)


def test_num_classes_smaller_than_logits():
    with pytest.raises(ValueError, match=r"num_classes=2 .* 3 classes"):
        M.confusion_matrix(jnp.zeros((4, 3)), jnp.zeros(4, jnp.int32), num_classes=2)


@pytest.mark.parametrize("bad", [3, "f1", None])
def test_as_metric_not_callable(bad):
    with pytest.raises(ValueError, match=f"got {bad!r}"):
        M.as_metric(bad)


def test_metric_constructor_checks():
    with pytest.raises(ValueError, match="update must be a callable.*got 1"):
        M.Metric(1, lambda s: s)
    with pytest.raises(ValueError, match="finalize must be a callable.*got 'x'"):
        M.Metric(lambda lo, la: 0, "x")
    with pytest.raises(ValueError, match="name must be"):
        M.Metric(lambda lo, la: 0, lambda s: s, name=3)


def test_mean_metric_must_return_scalar():
    m = M.as_metric(lambda logits, labels: logits.sum(-1))
    with pytest.raises(ValueError, match=r"must return a scalar.*\(4,\)"):
        m.update(jnp.zeros((4, 3)), jnp.zeros(4, jnp.int32))


def test_float32_under_x64(x64):
    logits, labels, y = make_data(12)
    logits = np.asarray(logits, np.float64)
    for name in NAMES:
        fn, ref = CLASSIFICATION[name]
        v = fn(logits, labels)
        assert v.dtype == jnp.float32, name
        assert float(v) == pytest.approx(ref(logits, y), rel=1e-6), name
