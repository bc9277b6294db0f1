"""The one run record and the one page writer every suite's results go through.

``machine`` describes where a run happened (host CPU, JAX device, versions); ``run_meta``
adds the date and the command; ``header`` opens a Markdown page with them; ``write_page``
writes ``PREFIX.json`` and ``PREFIX.md`` side by side.
"""
from __future__ import annotations

import json
import os
import pathlib
import platform
import sys
import time
from typing import Any, Optional, Sequence

import jax


def cpu_name() -> str:
    """The host CPU's model name and its logical core count."""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} logical cores)"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()} ({os.cpu_count()} logical cores)"


def device_name(device: Optional[Any] = None) -> str:
    """The host CPU's name for a CPU device, the device kind (e.g. the GPU model) otherwise;
    ``device``: a ``jax.Device`` or a platform name (default: JAX's first device)."""
    if device is None or isinstance(device, str):
        device = jax.devices(device)[0]
    return cpu_name() if device.platform == "cpu" else str(device.device_kind)


def machine(device: Optional[Any] = None) -> dict:
    """Where a run happens: architecture and cores, the CPU, the JAX backend and device."""
    if device is None or isinstance(device, str):
        device = jax.devices(device)[0]
    return {"machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "cpu": cpu_name(), "backend": device.platform, "device": device_name(device)}


def machine_line(rec: dict) -> str:
    """One sentence for a page: the device (and the host, when they differ) and versions."""
    where = rec["device"] if rec.get("backend", "cpu") == "cpu" else \
        f"{rec['device']} (host: {rec.get('cpu', rec.get('machine', '?'))})"
    return (f"Machine: {where}; {rec.get('machine', '')}; JAX {rec.get('jax', jax.__version__)}"
            f", Python {rec.get('python', platform.python_version())}.")


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


def write_page(prefix: Any, res: dict, markdown: str) -> list[pathlib.Path]:
    """Write ``res`` to ``PREFIX.json`` and ``markdown`` to ``PREFIX.md`` (folders made);
    returns the two paths."""
    prefix = pathlib.Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    js, md = pathlib.Path(f"{prefix}.json"), pathlib.Path(f"{prefix}.md")
    js.write_text(json.dumps(res, indent=1, default=str) + "\n")
    md.write_text(markdown if markdown.endswith("\n") else markdown + "\n")
    return [js, md]
