"""nnfunc.plot.inspection: image grids (pixels, shapes, titles, scales), activation
statistics from a model and from records, and PCA embeddings against numpy."""
import jax
import numpy as np
import pytest

import nnfunc as nf
from nnfunc import plot as P

from _plot_setup import close_figures  # noqa: F401  (autouse)
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


# ------------------------------------------------------------------------------ images

def _pixels(fig, n):
    return [np.asarray(a.images[0].get_array()) for a in fig.axes[:n]]


@pytest.mark.parametrize("shape,image_shape", [
    ((5, 6, 7), (6, 7)), ((5, 6, 7, 1), (6, 7)), ((5, 16), (4, 4)), ((5, 6, 7, 3), (6, 7, 3)),
])
def test_images_grid_shape_and_pixels(shape, image_shape):
    x = np.random.default_rng(0).random(shape).astype(np.float32)
    fig = P.images(x, ncols=3)
    assert len(fig.axes) == 6                                       # 2 rows x 3 columns
    assert fig.axes[0].get_subplotspec().get_gridspec().get_geometry() == (2, 3)
    assert [len(a.images) for a in fig.axes] == [1] * 5 + [0]
    assert not fig.axes[5].axison
    for i, px in enumerate(_pixels(fig, 5)):
        np.testing.assert_array_equal(px, x[i].reshape(image_shape))
    if len(image_shape) == 2:                                        # one shared grey scale
        assert fig.axes[0].images[0].get_clim() == (x.min(), x.max())


def test_single_image_labels_titles_and_normalize():
    img = np.arange(28 * 28, dtype=np.float32).reshape(28, 28)
    fig = P.images(img)
    assert len(fig.axes) == 1
    np.testing.assert_array_equal(_pixels(fig, 1)[0], img)
    x = np.stack([np.full((3, 3), 5.0), np.arange(9.0).reshape(3, 3) * 2 - 4])
    fig = P.images(x, labels=np.array([3, 7]), normalize=True)
    assert [a.get_title() for a in fig.axes] == ["3", "7"]
    px = _pixels(fig, 2)
    np.testing.assert_array_equal(px[0], np.zeros((3, 3)))           # constant image -> 0
    np.testing.assert_allclose(px[1], np.arange(9.0).reshape(3, 3) / 8)
    fig = P.images(x, titles=["a", "b"], ax=plt.subplots(1, 3)[1])
    assert [a.get_title() for a in fig.axes[:2]] == ["a", "b"] and not fig.axes[2].axison


@pytest.mark.parametrize("shape", [(4,), (2, 3, 4, 2), (2, 3, 4, 5, 1), (0, 4, 4)])
def test_images_bad_shapes(shape):
    with pytest.raises(ValueError, match=rf"x must be images of shape .*got shape "
                                         rf"\({shape[0]},"):
        P.images(np.zeros(shape))


def test_images_other_errors():
    with pytest.raises(ValueError, match="labels must have one entry per image"):
        P.images(np.zeros((3, 4, 4)), labels=[1, 2])
    with pytest.raises(ValueError, match="not both"):
        P.images(np.zeros((2, 4, 4)), labels=[1, 2], titles=["a", "b"])
    with pytest.raises(ValueError, match="ncols"):
        P.images(np.zeros((2, 4, 4)), ncols=0)
    with pytest.raises(ValueError, match="ax must be"):
        P.images(np.zeros((3, 4, 4)), ax=Figure().add_subplot())

def test_images_vmin_vmax():
    fig = nf.plot.images(np.linspace(-1, 1, 32).reshape(2, 4, 4), vmin=-2.0, vmax=2.0,
                         cmap="RdBu")
    assert fig.axes[0].images[0].get_clim() == (-2.0, 2.0)


# -------------------------------------------------------------------- activation stats

def test_activation_stats_panels_from_model_and_records():
    model = nf.layers.serial(nf.layers.dense(4, b_init=nf.init.constant(-100.0)),
                             nf.layers.activation(jax.nn.relu), nf.layers.dense(3))
    params, state = model.init(jax.random.key(0), (3,))
    x = jax.random.normal(jax.random.key(1), (16, 3))
    recs = nf.layers.activation_stats(model, params, state, x)
    fig = P.activation_stats(model, params, state, x)
    top, bottom = fig.axes
    bars = top.containers[0]
    np.testing.assert_allclose(bars[0].get_ydata(), [r["mean"] for r in recs], rtol=1e-6)
    seg = bars[2][0].get_segments()                                    # mean ± std bars
    np.testing.assert_allclose([s[1, 1] - s[0, 1] for s in seg],
                               [2 * r["std"] for r in recs], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose([b.get_height() for b in bottom.patches],
                               [r["dead_fraction"] for r in recs])
    assert [r["dead_fraction"] for r in recs][1] == 1.0
    assert [t.get_text() for t in bottom.get_xticklabels()] == [r["layer"] for r in recs]
    two = P.activation_stats({"a": recs, "b": recs[::1]})
    assert len(two.axes[1].patches) == 2 * len(recs)
    assert [t.get_text() for t in two.axes[0].get_legend().get_texts()] == ["a", "b"]
    assert len(P.activation_stats(recs).axes[1].patches) == len(recs)


def test_activation_stats_errors():
    with pytest.raises(ValueError, match="records from nf.layers.activation_stats"):
        P.activation_stats([{"layer": "x"}])
    with pytest.raises(ValueError, match="batch x"):
        P.activation_stats(nf.layers.dense(2), {}, {})
    r = [{"layer": "a", "mean": 0.0, "std": 1.0, "dead_fraction": 0.0}]
    with pytest.raises(ValueError, match="same layers"):
        P.activation_stats({"a": r, "b": [{**r[0], "layer": "b"}]})


# --------------------------------------------------------------------------- embedding

def test_embedding_2d_pca_coordinates_against_eigh():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(30, 6)) * np.array([5, 3, 1, 0.5, 0.2, 0.1])
    words = [f"w{i}" for i in range(30)]
    ax = P.embedding_2d(m, words).axes[0]
    coords = np.asarray(ax.collections[0].get_offsets())
    c = m - m.mean(axis=0)
    vals, vecs = np.linalg.eigh(np.cov(c, rowvar=False))
    ref = c @ vecs[:, ::-1][:, :2]
    np.testing.assert_allclose(np.abs(coords), np.abs(ref), rtol=1e-8, atol=1e-10)
    for k in range(2):                                       # one sign per whole axis
        assert np.allclose(coords[:, k], ref[:, k]) or np.allclose(coords[:, k], -ref[:, k])
    assert [t.get_text() for t in ax.texts] == words
    np.testing.assert_allclose([t.xy for t in ax.texts], coords)
    share = vals[::-1][:2] / vals.sum()
    assert ax.get_xlabel() == f"PC1 ({share[0]:.0%} of variance)"


def test_embedding_2d_keyed_vectors():
    rng = np.random.default_rng(1)
    words = [f"w{i}" for i in range(60)]
    kv = nf.text.KeyedVectors(words, rng.normal(size=(60, 5)))
    ax = P.embedding_2d(kv).axes[0]
    assert [t.get_text() for t in ax.texts] == words[:50]
    ax = P.embedding_2d(kv, ["w3", "w7", "w1"]).axes[0]
    sub = kv.vectors[[3, 7, 1]].astype(np.float64)
    c = sub - sub.mean(axis=0)
    np.testing.assert_allclose(np.abs(ax.collections[0].get_offsets()[:, 0]),
                               np.abs(c @ np.linalg.svd(c)[2][0]), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"not found: \['nope'\]"):
        P.embedding_2d(kv, ["w1", "nope"])
    with pytest.raises(ValueError, match="shape"):
        P.embedding_2d(np.zeros(5))
    with pytest.raises(ValueError, match="label every row"):
        P.embedding_2d(np.zeros((3, 2)), ["a"])
    with pytest.raises(ValueError, match="at least 2 vectors"):
        P.embedding_2d(np.zeros((1, 4)))
