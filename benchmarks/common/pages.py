"""What every result page records about its run, and the header it opens with."""
from __future__ import annotations

import platform
import sys
import time
from typing import Optional, Sequence

import jax


def run_meta(script: str, argv: Optional[Sequence[str]]) -> dict:
    """JAX and Python versions, the date, and the command (``argv``: as ``main`` got it)."""
    args = sys.argv[1:] if argv is None else argv
    return {"jax": jax.__version__, "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "command": f"python benchmarks/{script} " + " ".join(args)}


def header(title: str, res: dict, details: str) -> list[str]:
    """``# title``, the command, and a line of versions and date followed by ``details``."""
    return [f"# {title}", "", f"Command: `{res['command']}`", "",
            f"JAX {res['jax']}, Python {res['python']}; {res['date']}{details}", ""]
