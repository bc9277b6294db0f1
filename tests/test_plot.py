"""nnfunc.plot: every figure's content (lines, data, images, counts, coordinates), the
optimizer trajectories against hand-written loops, the argument errors, the lazy
matplotlib import, and the LivePlot callback in a real fit."""
import subprocess
import sys

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest

import nnfunc as nf
from nnfunc import plot as P

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _ydata(ax):
    return [list(map(float, line.get_ydata())) for line in ax.lines]


# ------------------------------------------------------------------------- import, axes

def test_import_nnfunc_does_not_import_matplotlib():
    subprocess.run([sys.executable, "-c",
                    "import nnfunc, sys; nnfunc.plot.history; "
                    "assert 'matplotlib' not in sys.modules"], check=True)


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install "nnfunc\[notebooks\]"'):
        P.history({"loss": [1.0]})
    with pytest.raises(ImportError, match="needs matplotlib"):
        nf.schedules.plot(nf.schedules.constant(0.1), 3)


def test_new_figures_are_pyplot_figures_one_per_call():
    before = set(plt.get_fignums())
    fig = P.history({"loss": [1.0, 0.5]})
    assert set(plt.get_fignums()) - before == {fig.number}
    plt.close(fig)
    assert set(plt.get_fignums()) == before


def test_ax_given_draws_there_and_makes_no_figure():
    ax = Figure().add_subplot()
    before = plt.get_fignums()
    assert P.history({"loss": [1.0, 0.5]}, ax=ax) is ax.figure
    assert plt.get_fignums() == before and len(ax.lines) == 1
    with pytest.raises(ValueError, match="ax must be a sequence of 2 Axes"):
        P.history({"loss": [1.0], "accuracy": [0.5]}, ax=ax)


# ---------------------------------------------------------------------------- history

def test_history_dict_train_solid_eval_dashed_against_1_based_epochs():
    h = {"loss": [1.0, 0.5, 0.25], "eval_loss": [1.2, 0.8, 0.7], "accuracy": [0.5, 0.7, 0.9],
         "lr": [0.1, 0.1, 0.1]}
    fig = P.history(h)
    loss, acc = fig.axes
    assert [a.get_title() for a in fig.axes] == ["loss", "accuracy"]
    assert _ydata(loss) == [h["loss"], h["eval_loss"]]
    assert [ln.get_linestyle() for ln in loss.lines] == ["-", "--"]
    assert loss.lines[0].get_color() == loss.lines[1].get_color()
    assert list(loss.lines[0].get_xdata()) == [1, 2, 3]
    assert _ydata(acc) == [h["accuracy"]]
    assert P.history(h, ["lr"]).axes[0].lines[0].get_ydata().tolist() == h["lr"]


def test_history_of_fit_result_and_of_several_runs():
    a = nf.train.FitResult(None, {"loss": [3.0, 2.0]})
    b = {"loss": [4.0, 3.0, 1.0], "accuracy": [0.1, 0.2, 0.3]}
    fig = P.history({"sgd": a, "adam": b})
    loss, acc = fig.axes
    assert [ln.get_label() for ln in loss.lines] == ["sgd", "adam"]
    assert _ydata(loss) == [[3.0, 2.0], [4.0, 3.0, 1.0]]
    assert [ln.get_label() for ln in acc.lines] == ["adam"]       # present in some runs only
    assert loss.lines[1].get_color() == acc.lines[0].get_color()   # one colour per run
    fig = P.history([a, b], "loss", labels=["A", "B"])
    assert [ln.get_label() for ln in fig.axes[0].lines] == ["A", "B"]
    assert [ln.get_label() for ln in P.history([a, b], "loss").axes[0].lines] == [
        "run 0", "run 1"]


def test_history_of_a_sweep_one_line_per_run():
    hist = {"loss": np.array([[3.0, 2.0], [5.0, 4.0]]),
            "eval_loss": np.array([[3.5, 2.5], [5.5, 4.5]])}
    sw = nf.train.SweepResult(None, hist, {"learning_rate": np.array([0.1, 0.01])},
                              np.array([0, 1]), np.array([False, False]))
    ax = P.history(sw, "loss").axes[0]
    assert [ln.get_label() for ln in ax.lines] == [
        "learning_rate=0.1, seed=0", "learning_rate=0.1, seed=0 (eval)",
        "learning_rate=0.01, seed=1", "learning_rate=0.01, seed=1 (eval)"]
    assert _ydata(ax) == [[3.0, 2.0], [3.5, 2.5], [5.0, 4.0], [5.5, 4.5]]


def test_history_errors():
    with pytest.raises(ValueError, match="empty"):
        P.history({})
    with pytest.raises(ValueError, match="empty"):
        P.history({"loss": []})
    with pytest.raises(ValueError, match=r"\['accuracy'\] are in no history; available: "
                                         r"\['loss', 'lr'\]"):
        P.history({"loss": [1.0], "eval_loss": [1.0], "lr": [0.1]}, ["loss", "accuracy"])
    with pytest.raises(ValueError, match=r"available: \['mse'\]"):
        P.history({"mse": [1.0]})                    # the default metrics: none present
    with pytest.raises(ValueError, match="labels"):
        P.history([{"loss": [1.0]}] * 2, labels=["a"])
    with pytest.raises(ValueError, match="history must be"):
        P.history(3.0)
    with pytest.raises(ValueError, match=r"history\['loss'\]"):
        P.history({"loss": np.zeros((2, 2, 2))})


# ---------------------------------------------------------------------------- schedule

def test_schedule_one_and_several_share_schedules_plot():
    s = nf.schedules.warmup_cosine(1.0, 5, 40)
    ax = P.schedule(s, 40, color="r").axes[0]
    ref = nf.schedules.plot(s, 40, ax=Figure().add_subplot())
    np.testing.assert_array_equal(ax.lines[0].get_xydata(), ref.lines[0].get_xydata())
    np.testing.assert_allclose(ax.lines[0].get_ydata(), jax.vmap(s)(jnp.arange(40)),
                               rtol=1e-6)
    assert ax.get_xlabel() == ref.get_xlabel() == "step"
    two = {"a": nf.schedules.constant(0.5), "b": nf.schedules.step_decay(1.0, 2)}
    ax = P.schedule(two, [0, 2, 4]).axes[0]
    assert [ln.get_label() for ln in ax.lines] == ["a", "b"]
    np.testing.assert_allclose(_ydata(ax), [[0.5] * 3, [1.0, 0.1, 0.01]], rtol=1e-6)
    assert ax.get_legend() is not None
    for bad in ({}, 3):
        with pytest.raises(ValueError, match="schedule"):
            P.schedule(bad, 10)
    with pytest.raises(ValueError, match="steps"):
        P.schedule(two, 0)


# --------------------------------------------------------------- optimizer trajectories

def _rosenbrock_grad(x, y, a=1.0, b=100.0):
    return np.array([-2 * (a - x) - 4 * b * x * (y - x * x), 2 * b * (y - x * x)])


def test_trajectories_match_hand_written_gradient_descent_and_momentum(x64):
    lr, steps, start = 1e-3, 50, np.array([-1.5, 2.0])
    paths = P.optimizer_trajectories(
        P.rosenbrock, {"gd": nf.optim.sgd(lr), "mom": nf.optim.sgd(lr, momentum=0.9)},
        start, steps)
    gd, mom = [start.copy()], [start.copy()]
    buf = None
    for _ in range(steps):
        gd.append(gd[-1] - lr * _rosenbrock_grad(*gd[-1]))
        g = _rosenbrock_grad(*mom[-1])
        buf = g if buf is None else 0.9 * buf + g
        mom.append(mom[-1] - lr * buf)
    assert paths["gd"].shape == (steps + 1, 2)
    np.testing.assert_allclose(paths["gd"], np.array(gd), rtol=1e-12)
    np.testing.assert_allclose(paths["mom"], np.array(mom), rtol=1e-12)


def test_optimizer_paths_draws_contours_paths_start_and_ends():
    opts = {"sgd": nf.optim.sgd(1e-3), "adam": nf.optim.adam(0.05)}
    paths = P.optimizer_trajectories(P.rosenbrock, opts, (-1.5, 2.0), 60)
    ax = P.optimizer_paths(P.rosenbrock, opts, (-1.5, 2.0), 60).axes[0]
    labels = [ln.get_label() for ln in ax.lines]
    assert labels == ["start", "sgd", "sgd end", "adam", "adam end"]
    for name in opts:
        line, end = ax.lines[labels.index(name)], ax.lines[labels.index(name + " end")]
        np.testing.assert_allclose(line.get_xydata(), paths[name], rtol=1e-6)
        np.testing.assert_allclose(end.get_xydata()[0], paths[name][-1], rtol=1e-6)
    assert ax.lines[0].get_xydata().tolist() == [[-1.5, 2.0]]
    assert len(ax.collections) >= 2                                # filled + line contours
    pts = np.concatenate(list(paths.values()))
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()               # default: around paths
    assert x0 < pts[:, 0].min() and x1 > pts[:, 0].max()
    assert y0 < pts[:, 1].min() and y1 > pts[:, 1].max()
    ax = P.optimizer_paths(P.beale, {"sgd": nf.optim.sgd(1e-3)}, (1.0, 1.0), 5,
                           bounds=((-4, 4), (-3, 3)), levels=[0, 1, 10, 100]).axes[0]
    assert ax.get_xlim() == (-4, 4) and ax.get_ylim() == (-3, 3)


def test_diverging_path_is_cut_at_its_first_non_finite_point():
    opts = {"big": nf.optim.sgd(0.6), "ok": nf.optim.sgd(0.01)}
    raw = P.optimizer_trajectories(P.monkey_saddle, opts, (1.0, 0.5), 40)["big"]
    bad = np.flatnonzero(~np.all(np.isfinite(raw), axis=1))
    assert bad.size and bad[0] > 1                       # it does diverge, after a while
    ax = P.optimizer_paths(P.monkey_saddle, opts, (1.0, 0.5), 40,
                           bounds=((-3, 3), (-3, 3))).axes[0]
    line = ax.lines[[ln.get_label() for ln in ax.lines].index("big")]
    np.testing.assert_array_equal(line.get_xydata(), raw[:bad[0]])
    # the default box is built from the finite points only
    fig = P.optimizer_paths(P.monkey_saddle, opts, (1.0, 0.5), 40)
    assert all(np.isfinite(fig.axes[0].get_xlim() + fig.axes[0].get_ylim()))


def test_test_functions_values_and_minima():
    assert float(P.rosenbrock(jnp.array([1.0, 1.0]))) == 0.0
    assert float(P.rosenbrock(jnp.array([2.0, 3.0]), a=2.0, b=1.0)) == 1.0
    assert float(P.beale(jnp.array([3.0, 0.5]))) == 0.0
    assert float(P.saddle(jnp.array([3.0, 2.0]))) == 5.0
    assert float(P.monkey_saddle(jnp.array([2.0, 1.0]))) == 2.0
    for fn, at in ((P.rosenbrock, [1.0, 1.0]), (P.beale, [3.0, 0.5]),
                   (P.saddle, [0.0, 0.0]), (P.monkey_saddle, [0.0, 0.0])):
        assert np.allclose(jax.grad(fn)(jnp.array(at)), 0.0)
    grid = jnp.ones((4, 5, 2))                                     # batched points
    assert P.rosenbrock(grid).shape == (4, 5)


@pytest.mark.parametrize("fn,start,match", [
    (P.rosenbrock, (1.0, 2.0, 3.0), "start must be 2 finite numbers"),
    (P.rosenbrock, "ab", "start must be 2 finite numbers"),
    (P.rosenbrock, (np.nan, 1.0), "start must be 2 finite numbers"),
    (lambda p: p * 2.0, (1.0, 1.0), "non-2-D function"),
    (lambda p: p @ jnp.ones(3), (1.0, 1.0), "2-D function"),
    (3, (1.0, 1.0), "fn must be a function"),
])
def test_optimizer_paths_errors(fn, start, match):
    with pytest.raises(ValueError, match=match):
        P.optimizer_paths(fn, {"sgd": nf.optim.sgd(0.1)}, start, 5)


def test_optimizer_paths_argument_errors():
    with pytest.raises(ValueError, match="optimizers"):
        P.optimizer_trajectories(P.saddle, {}, (1.0, 1.0), 5)
    with pytest.raises(ValueError, match="steps"):
        P.optimizer_trajectories(P.saddle, {"sgd": nf.optim.sgd(0.1)}, (1.0, 1.0), 0)
    with pytest.raises(ValueError, match="bounds"):
        P.optimizer_paths(P.saddle, {"sgd": nf.optim.sgd(0.1)}, (1.0, 1.0), 5,
                          bounds=((1, 0), (0, 1)))


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


# ---------------------------------------------------------------------------- LivePlot

def test_live_plot_redraws_during_fit():
    X = jax.random.normal(jax.random.key(0), (64, 3))
    Y = (X[:, 0] > 0).astype(jnp.int32)
    live = nf.train.LivePlot(every=1)
    seen = []
    spy = nf.train.LambdaCallback(on_epoch_end=lambda run: seen.append(
        [len(line.get_xdata()) for line in live.figure.axes[0].lines]))
    before = plt.get_fignums()
    result = nf.train.fit(nf.models.mlp([3, 8, 2]), nf.optim.adam(learning_rate=0.01),
                          nf.losses.softmax_cross_entropy_with_integer_labels, (X, Y),
                          epochs=2, batch_size=16, eval_data=(X, Y), callbacks=[live, spy],
                          progress=False)
    assert plt.get_fignums() == before                       # not a pyplot figure
    assert seen == [[1, 1], [2, 2]]                          # train and eval, one point more
    loss, acc = live.figure.axes
    assert [a.get_title() for a in live.figure.axes] == ["loss", "accuracy"]
    assert _ydata(loss) == [result.history["loss"], result.history["eval_loss"]]
    assert _ydata(acc) == [result.history["accuracy"], result.history["eval_accuracy"]]


def test_live_plot_every_and_regression_panels():
    X = jax.random.normal(jax.random.key(0), (32, 2))
    live = nf.train.LivePlot(every=2)
    drawn = []
    live._show = lambda: drawn.append(len(live.figure.axes[0].lines[0].get_xdata()))
    nf.train.fit(nf.models.mlp([2, 1]), nf.optim.sgd(0.1), nf.losses.mse, (X, X[:, :1]),
                 epochs=3, batch_size=16, callbacks=[live], progress=False)
    assert drawn == [2, 3]                                   # every 2nd epoch and the last
    assert [a.get_title() for a in live.figure.axes] == ["loss"]   # no accuracy recorded
    with pytest.raises(ValueError, match="every"):
        nf.train.LivePlot(every=0)
    with pytest.raises(ValueError, match="metrics"):
        nf.train.LivePlot(metrics=[])


def test_images_vmin_vmax_and_contour_bands():
    fig = nf.plot.images(np.linspace(-1, 1, 32).reshape(2, 4, 4), vmin=-2.0, vmax=2.0,
                         cmap="RdBu")
    assert fig.axes[0].images[0].get_clim() == (-2.0, 2.0)
    fig = nf.plot.optimizer_paths(nf.plot.rosenbrock, {"sgd": nf.optim.sgd(1e-3)},
                                  (-1.0, 1.0), 5, levels=10)
    filled = [c for c in fig.axes[0].collections if hasattr(c, "norm")][0]
    # one colour per band: the norm maps the 10 quantile levels, not a linear range
    assert type(filled.norm).__name__ == "BoundaryNorm"
    assert len(filled.norm.boundaries) == 10
