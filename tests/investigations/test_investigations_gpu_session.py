"""benchmarks/gpu_session.sh (the prepared device call that runs the suites and the
investigations): its dry run on this machine finds the checkout's nnfunc and common."""
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_gpu_session_imports_nnfunc_from_the_checkout(tmp_path):
    """The device's python has no nnfunc installed: gpu_session.sh must find the checkout's
    src/nnfunc (after the move to a src layout, its old path gave every step 'No module
    named nnfunc'). A python without this environment's .pth files (-S) stands in for it."""
    import sysconfig
    site = ":".join(dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib")))
    bare = tmp_path / "python"
    bare.write_text(f'#!/bin/sh\nPYTHONPATH="${{PYTHONPATH:+$PYTHONPATH:}}{site}" '
                    f'exec "{sys.executable}" -S "$@"\n')
    bare.chmod(0o755)
    alone = subprocess.run([str(bare), "-c", "import nnfunc"], capture_output=True, text=True,
                           cwd=tmp_path)
    assert "No module named 'nnfunc'" in alone.stderr          # the stand-in is bare
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_session.sh"), "--dry-run"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          env={**os.environ, "PYTHON": str(bare)})
    assert f"import nnfunc: 0.1.0 from {ROOT / 'src' / 'nnfunc'}" in proc.stdout, (
        proc.stdout + proc.stderr)
    assert "import common: ok" in proc.stdout, proc.stdout        # the benchmarks' helpers
