"""nnfunc.plot.surfaces: the test functions, optimizer trajectories against hand-written
loops, and the contours and paths optimizer_paths draws."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from nnfunc import plot as P

from _plot_setup import close_figures  # noqa: F401  (autouse)


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


def test_optimizer_paths_contour_bands():
    fig = nf.plot.optimizer_paths(nf.plot.rosenbrock, {"sgd": nf.optim.sgd(1e-3)},
                                  (-1.0, 1.0), 5, levels=10)
    filled = [c for c in fig.axes[0].collections if hasattr(c, "norm")][0]
    # one colour per band: the norm maps the 10 quantile levels, not a linear range
    assert type(filled.norm).__name__ == "BoundaryNorm"
    assert len(filled.norm.boundaries) == 10
