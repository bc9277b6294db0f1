"""nnfunc.plot.training: history curves (dicts, FitResult, SweepResult, several runs),
schedules, and the LivePlot callback that redraws the history in a real fit."""
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from nnfunc import plot as P

from _plot_setup import close_figures, ydata  # noqa: F401  (close_figures: autouse)
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


# ---------------------------------------------------------------------------- history

def test_history_dict_train_solid_eval_dashed_against_1_based_epochs():
    h = {"loss": [1.0, 0.5, 0.25], "eval_loss": [1.2, 0.8, 0.7], "accuracy": [0.5, 0.7, 0.9],
         "lr": [0.1, 0.1, 0.1]}
    fig = P.history(h)
    loss, acc = fig.axes
    assert [a.get_title() for a in fig.axes] == ["loss", "accuracy"]
    assert ydata(loss) == [h["loss"], h["eval_loss"]]
    assert [ln.get_linestyle() for ln in loss.lines] == ["-", "--"]
    assert loss.lines[0].get_color() == loss.lines[1].get_color()
    assert list(loss.lines[0].get_xdata()) == [1, 2, 3]
    assert ydata(acc) == [h["accuracy"]]
    assert P.history(h, ["lr"]).axes[0].lines[0].get_ydata().tolist() == h["lr"]


def test_history_of_fit_result_and_of_several_runs():
    a = nf.train.FitResult(None, {"loss": [3.0, 2.0]})
    b = {"loss": [4.0, 3.0, 1.0], "accuracy": [0.1, 0.2, 0.3]}
    fig = P.history({"sgd": a, "adam": b})
    loss, acc = fig.axes
    assert [ln.get_label() for ln in loss.lines] == ["sgd", "adam"]
    assert ydata(loss) == [[3.0, 2.0], [4.0, 3.0, 1.0]]
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
    assert ydata(ax) == [[3.0, 2.0], [3.5, 2.5], [5.0, 4.0], [5.5, 4.5]]


def test_history_reads_results_by_their_fields():
    """nnfunc.plot imports nothing from nnfunc.train: any object with a ``history``
    mapping is a fit result, one that also has ``hparams``, ``seeds`` and ``diverged`` a
    sweep."""
    class Fit:
        history = {"loss": [2.0, 1.0]}

    class Sweep:
        history = {"loss": np.array([[3.0, 2.0], [5.0, 4.0]])}
        hparams = {"lr": np.array([0.1, 0.2])}
        seeds = None
        diverged = np.array([False, False])

    ax = P.history({"fit": Fit(), "sweep": Sweep()}, "loss").axes[0]
    assert [ln.get_label() for ln in ax.lines] == ["fit", "sweep: lr=0.1", "sweep: lr=0.2"]
    assert ydata(ax) == [[2.0, 1.0], [3.0, 2.0], [5.0, 4.0]]


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

def test_schedule_one_and_several():
    s = nf.schedules.warmup_cosine(1.0, 5, 40)
    ax = P.schedule(s, 40, color="r").axes[0]
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), np.arange(40))
    np.testing.assert_allclose(ax.lines[0].get_ydata(), jax.vmap(s)(jnp.arange(40)),
                               rtol=1e-6)
    assert ax.lines[0].get_color() == "r"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("step", "value")
    two = {"a": nf.schedules.constant(0.5), "b": nf.schedules.step_decay(1.0, 2)}
    ax = P.schedule(two, [0, 2, 4]).axes[0]
    assert [ln.get_label() for ln in ax.lines] == ["a", "b"]
    np.testing.assert_allclose(ydata(ax), [[0.5] * 3, [1.0, 0.1, 0.01]], rtol=1e-6)
    assert ax.get_legend() is not None
    for bad in ({}, 3):
        with pytest.raises(ValueError, match="schedule"):
            P.schedule(bad, 10)
    with pytest.raises(ValueError, match="steps"):
        P.schedule(two, 0)
    with pytest.raises(ValueError, match=r"\bsteps\b"):
        P.schedule(nf.schedules.constant(0.1), 0)


# (formerly nf.schedules.plot, which returned the Axes: the one drawing is nf.plot.schedule)

def test_schedule_draws_the_schedule_on_the_given_axes():
    sched = nf.schedules.warmup_cosine(1.0, 5, 40)
    ax = Figure().add_subplot()
    assert P.schedule(sched, 40, ax=ax, label="lr") is ax.figure
    x, y = ax.lines[0].get_data()
    np.testing.assert_array_equal(x, np.arange(40))
    np.testing.assert_allclose(y, np.asarray(jax.vmap(sched)(jnp.arange(40))), rtol=1e-6)
    assert ax.lines[0].get_label() == "lr"
    ax = P.schedule(sched, [0, 10, 20], ax=Figure().add_subplot()).axes[0]
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [0, 10, 20])


def test_schedule_makes_its_own_axes():
    fig = P.schedule(nf.schedules.constant(0.5), 3)
    assert fig.number in plt.get_fignums()
    assert list(fig.axes[0].lines[0].get_ydata()) == [0.5, 0.5, 0.5]


def test_schedule_without_matplotlib_raises_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="needs matplotlib"):
        P.schedule(nf.schedules.constant(0.1), 10)


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
    assert ydata(loss) == [result.history["loss"], result.history["eval_loss"]]
    assert ydata(acc) == [result.history["accuracy"], result.history["eval_accuracy"]]


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
