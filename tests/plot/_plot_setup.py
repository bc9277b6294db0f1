"""Setup shared by the tests of nnfunc.plot: the Agg backend (set before pyplot is
imported), every figure closed after each test, and a panel's drawn y values."""
import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def ydata(ax):
    return [list(map(float, line.get_ydata())) for line in ax.lines]
