"""Packaging: the src layout keeps a checkout in the working directory from shadowing the
installed package (issue 17)."""
import os
import pathlib
import subprocess
import sys

import nnfunc


def _import_in(cwd: pathlib.Path) -> subprocess.CompletedProcess:
    code = "import nnfunc as nf; print(nf.__file__); print(nf.train.fit.__name__)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True,
                          text=True, env=env, timeout=120)


def test_a_checkout_named_nnfunc_in_the_working_directory_does_not_shadow_the_package(
        tmp_path):
    # A clone of the repository is a folder named nnfunc without __init__.py: with a flat
    # layout and an editable install it became an empty namespace package here.
    (tmp_path / "nnfunc" / "tests").mkdir(parents=True)
    (tmp_path / "nnfunc" / "README.md").write_text("a checkout")
    out = _import_in(tmp_path)
    assert out.returncode == 0, out.stderr
    file, name = out.stdout.split()
    assert pathlib.Path(file) == pathlib.Path(nnfunc.__file__) and name == "fit"

