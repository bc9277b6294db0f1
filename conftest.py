"""pytest set-up for the whole repository: tests, the package's doctests, README.md and
the notebooks (``--nbmake``).

- matplotlib draws with Agg in tests and doctests (``matplotlib.use``, not the
  ``MPLBACKEND`` variable: that would leak into the notebooks' kernels and replace their
  inline backend).
- The shared folder is ``$NNFUNC_SHARED`` when that variable is set, else ``../shared``
  beside the repository (``tests/conftest.py`` and ``benchmarks/autoencoders.py`` read
  MNIST from ``<shared>/data/mnist`` the same way).
- ``NNFUNC_DATA`` (where ``nf.data`` looks for and downloads datasets), when it is not
  set, defaults to ``<shared>/data`` if that folder exists (as in ``.ci/run`` and
  ``notebooks/run.py``), so the doctests and notebooks find MNIST there; the notebooks'
  kernels inherit it. A ``NNFUNC_DATA`` that is set always wins.
- ``notebooks/run.py`` is a script, not a test module: it is not collected.
"""
import os
import pathlib

SHARED = pathlib.Path(os.environ.get("NNFUNC_SHARED")
                      or pathlib.Path(__file__).resolve().parent.parent / "shared")
SHARED_DATA = SHARED / "data"

collect_ignore = ["notebooks/run.py"]


def pytest_configure(config):
    try:
        import matplotlib
    except ImportError:
        pass
    else:
        matplotlib.use("Agg")
    if "NNFUNC_DATA" not in os.environ and SHARED_DATA.is_dir():
        os.environ["NNFUNC_DATA"] = str(SHARED_DATA.resolve())
