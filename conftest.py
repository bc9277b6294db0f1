"""pytest set-up for the whole repository: tests, the package's doctests, README.md and
the notebooks (``--nbmake``).

- matplotlib draws with Agg in tests and doctests (``matplotlib.use``, not the
  ``MPLBACKEND`` variable: that would leak into the notebooks' kernels and replace their
  inline backend).
- ``NNFUNC_DATA`` defaults to ``../shared/data`` beside the repository when that exists
  (as in ``.ci/run`` and ``notebooks/run.py``), so the notebooks find MNIST there; the
  notebooks' kernels inherit it.
- ``notebooks/run.py`` is a script, not a test module: it is not collected.
"""
import os
import pathlib

SHARED_DATA = pathlib.Path(__file__).resolve().parent.parent / "shared" / "data"

collect_ignore = ["notebooks/run.py"]


def pytest_configure(config):
    try:
        import matplotlib
    except ImportError:
        pass
    else:
        matplotlib.use("Agg")
    if "NNFUNC_DATA" not in os.environ and SHARED_DATA.is_dir():
        os.environ["NNFUNC_DATA"] = str(SHARED_DATA)
