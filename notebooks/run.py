"""Execute notebooks top to bottom, in place, and leave them clean for committing.

Each notebook runs in a fresh kernel with ``notebooks/`` as its working directory (so the
committed outputs are exactly what a top-to-bottom run produces, execution counts in
order), then its metadata is stripped to the kernel and language names: no timestamps,
paths or machine names. Outputs that mention this machine's paths fail the run.

    python notebooks/run.py                      # every notebooks/[0-9]*.ipynb
    python notebooks/run.py notebooks/08_cnn.ipynb --timeout 120

``NNFUNC_DATA`` defaults to ``$NNFUNC_SHARED/data`` (``NNFUNC_SHARED``: ``../shared``
beside the repository) when that exists.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import re
import sys
import time

import nbformat
from nbclient import NotebookClient

HERE = pathlib.Path(__file__).resolve().parent
SHARED_DATA = pathlib.Path(os.environ.get("NNFUNC_SHARED", HERE.parents[1] / "shared")) / "data"
_KEEP = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
         "language_info": {"name": "python"}}


def clean(nb: nbformat.NotebookNode) -> None:
    """Metadata down to the kernel and language names; no per-cell execution records."""
    nb.metadata = nbformat.from_dict(_KEEP)
    for cell in nb.cells:
        cell.metadata = nbformat.from_dict({k: v for k, v in cell.metadata.items()
                                            if k in ("tags",)})
        cell.pop("id", None)
    nb.nbformat, nb.nbformat_minor = 4, 4


def leaked_paths(nb: nbformat.NotebookNode) -> list[str]:
    """Text outputs that mention an absolute path of this machine."""
    roots = {str(HERE.parents[1]), str(pathlib.Path.home()), "/tmp/"}
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            text = out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))
            text += "".join(out.get("traceback", []))
            if any(r in text for r in roots):
                found.append(f"cell {i}: " + re.sub(r"\s+", " ", text)[:120])
    return found


def run(path: pathlib.Path, timeout: int) -> float:
    """Execute ``path`` in place; returns the wall time in seconds."""
    nb = nbformat.read(path, as_version=4)
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - t0
    clean(nb)
    leaks = leaked_paths(nb)
    if leaks:
        raise SystemExit(f"{path.name}: outputs show local paths:\n  " + "\n  ".join(leaks))
    nbformat.write(nb, path)
    return seconds


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("paths", nargs="*", type=pathlib.Path)
    p.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = p.parse_args(argv)
    if "NNFUNC_DATA" not in os.environ and SHARED_DATA.is_dir():
        os.environ["NNFUNC_DATA"] = str(SHARED_DATA)
    paths = args.paths or sorted(HERE.glob("[0-9]*.ipynb"))
    for path in paths:
        print(f"{path.name}: {run(path, args.timeout):.1f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
