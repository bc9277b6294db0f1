"""nnfunc.plot.classification: decision-boundary regions against the model's argmax,
and confusion counts and their heat map."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from nnfunc import plot as P

from _plot_setup import close_figures  # noqa: F401  (autouse)


# ------------------------------------------------------------------- decision boundary

def _linear_model(w, b, out=None):
    layer = nf.layers.dense(len(b))
    model = layer if out is None else nf.layers.serial(layer, nf.layers.activation(out))
    params = {"w": jnp.asarray(w, jnp.float32), "b": jnp.asarray(b, jnp.float32)}
    if out is not None:
        params = (params, model.init(jax.random.key(0), (2,))[0][1])
    return model, params


def _grid(ax, res):
    x0, x1, y0, y1 = ax.images[0].get_extent()
    gx, gy = np.meshgrid(np.linspace(x0, x1, res), np.linspace(y0, y1, res))
    return gx, gy


X2 = np.array([[-1.0, -1.0], [1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [0.5, 0.0]])
Y2 = np.array([0, 1, 2, 1, 0])


def test_decision_boundary_argmax_regions_and_points():
    w = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, -1.0]])
    model, params = _linear_model(w, [0.0, 0.0, 0.0])
    ax = P.decision_boundary(model, params, {}, X2, Y2, resolution=30).axes[0]
    gx, gy = _grid(ax, 30)
    expected = (np.stack([gx, gy], -1) @ w).argmax(-1)
    np.testing.assert_array_equal(ax.images[0].get_array(), expected)
    assert set(np.unique(expected)) == {0, 1, 2}
    pts = ax.collections[0]
    np.testing.assert_array_equal(pts.get_offsets(), X2)
    np.testing.assert_array_equal(pts.get_array(), Y2)
    x0, x1, y0, y1 = ax.images[0].get_extent()
    assert x0 < -1 and x1 > 1 and y0 < -1 and y1 > 1


def test_decision_boundary_single_output_logit_and_probability():
    w, b = [[1.0], [1.0]], [0.25]
    model, params = _linear_model(w, b)
    ax = P.decision_boundary(model, params, {}, X2, Y2 % 2, resolution=20).axes[0]
    gx, gy = _grid(ax, 20)
    np.testing.assert_array_equal(ax.images[0].get_array(), (gx + gy + 0.25 > 0))
    model, params = _linear_model(w, b, out=jax.nn.sigmoid)           # probabilities
    state = model.init(jax.random.key(0), (2,))[1]
    ax = P.decision_boundary(model, params, state, X2, Y2 % 2, resolution=20).axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), (gx + gy + 0.25 > 0))


@pytest.mark.parametrize("X,y,match", [
    (np.zeros((5, 3)), np.zeros(5), r"X must be 2-D points of shape \(N, 2\), got shape "
                                    r"\(5, 3\)"),
    (np.zeros(10), np.zeros(5), r"got shape \(10,\)"),
    (np.zeros((5, 2)), np.zeros(4), "one label per row"),
    (np.zeros((5, 2)), np.full(5, 0.5), "integer class labels"),
])
def test_decision_boundary_errors(X, y, match):
    model, params = _linear_model([[1.0], [1.0]], [0.0])
    with pytest.raises(ValueError, match=match):
        P.decision_boundary(model, params, {}, X, y)


# -------------------------------------------------------------------- confusion matrix

def test_confusion_counts_against_brute_force():
    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 4, 300), rng.integers(0, 4, 300)
    brute = np.zeros((5, 5), int)
    for i, j in zip(t, p):
        brute[i, j] += 1
    np.testing.assert_array_equal(P.confusion_counts(t, p, 5), brute)
    np.testing.assert_array_equal(P.confusion_counts(t, p), brute[:4, :4])
    logits = np.eye(4)[p] * 3 + rng.normal(size=(300, 4)) * 0.1
    np.testing.assert_array_equal(P.confusion_counts(jnp.asarray(t), logits), brute[:4, :4])


def test_confusion_counts_errors():
    with pytest.raises(ValueError, match="same number of examples"):
        P.confusion_counts([0, 1], [0])
    with pytest.raises(ValueError, match="num_classes"):
        P.confusion_counts([0, 3], [0, 1], num_classes=3)
    with pytest.raises(ValueError, match="integer class labels"):
        P.confusion_counts([0, -1], [0, 1])
    with pytest.raises(ValueError, match="y_true must be a 1-D"):
        P.confusion_counts([[0, 1]], [0, 1])


def test_confusion_matrix_heat_map_counts_annotations_and_normalize():
    t, p = [0, 0, 1, 1, 1, 2], [0, 1, 1, 1, 2, 2]
    fig = P.confusion_matrix(t, p)
    ax = fig.axes[0]
    counts = np.array([[1, 1, 0], [0, 2, 1], [0, 0, 1]])
    np.testing.assert_array_equal(ax.images[0].get_array(), counts)
    assert [tx.get_text() for tx in ax.texts] == [str(v) for v in counts.ravel()]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted", "true")
    assert len(fig.axes) == 2                                          # with a colour bar
    ax = P.confusion_matrix(t, p, normalize=True, num_classes=4).axes[0]
    data = np.asarray(ax.images[0].get_array())
    np.testing.assert_allclose(data.sum(axis=1), [1, 1, 1, 0])
    assert ax.texts[1].get_text() == "0.50"
