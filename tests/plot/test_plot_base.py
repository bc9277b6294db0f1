"""nnfunc.plot as a whole: matplotlib imported lazily (and a clear ImportError without
it), new figures are pyplot figures, and ``ax=`` draws there (the shared Axes helper)."""
import subprocess
import sys

import pytest

import nnfunc as nf
from nnfunc import plot as P

from _plot_setup import close_figures  # noqa: F401  (autouse)
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


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
        P.schedule(nf.schedules.constant(0.1), 3)


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

