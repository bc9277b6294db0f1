#!/usr/bin/env python3
"""nnfunc's benchmark suites, one entry point.

    python benchmarks/run.py [NAME] [--quick] [--device cpu|gpu] [--out ...] [suite flags]
    python -m benchmarks NAME ...                     # the same, from the repository root

NAME (default ``throughput``):
  throughput    training samples/s of nnfunc's step loop, fused epoch and sweep against
                raw JAX + optax, PyTorch eager and torch.compile (``--part fit``: the cost
                of ``fit`` and ``sweep`` over the fused epoch)
  speedrun      MNIST to 99 %, nnfunc against the same recipe in PyTorch
  optimizers    one jitted optimizer step, every nnfunc optimizer against optax
  word2vec      word2vec training speed and vector quality against gensim
  autoencoders  autoencoders on MNIST: quality against PCA, denoising, sparsity, speed
  daily_tools   predict, on-device metrics and streamed batches against their baselines

Every suite takes ``--quick`` (a reduced run) and ``--out``; ``python benchmarks/run.py
NAME --help`` lists its own flags. ``--device cpu|gpu`` picks the JAX platform for the
suites that have no device flag of their own. benchmarks/README.md says what each
suite answers, how long it takes and what it writes.
"""
from __future__ import annotations

import importlib
import os
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
# Runs from a checkout without installing: the repo's src/ gives `import nnfunc`, this
# folder gives `import common` and the suites.
for path in (str(HERE.parent / "src"), str(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)

# JAX must not grab most of the GPU memory up front: torch runs in the same process.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

SUITES = {"throughput": "throughput", "speedrun": "speedrun", "optimizers": "optimizers",
          "word2vec": "word2vec", "autoencoders": "autoencoders",
          "daily_tools": "daily_tools"}
DEFAULT = "throughput"
# suites whose own flags choose the device; the others get --device from here
OWN_DEVICE_FLAG = {"throughput", "speedrun"}
PLATFORMS = {"cpu": "cpu", "gpu": "cuda"}


def split_argv(argv):
    """``(suite name, the suite's own arguments)``: NAME is the first argument when it
    names a suite (``daily-tools`` is accepted for ``daily_tools``), else ``throughput``."""
    argv = list(argv)
    if argv and argv[0].replace("-", "_") in SUITES:
        return argv[0].replace("-", "_"), argv[1:]
    if argv and not argv[0].startswith("-"):
        raise SystemExit(f"unknown benchmark {argv[0]!r}: choose one of "
                         f"{', '.join(SUITES)}")
    return DEFAULT, argv


def take_device(argv):
    """``(platform or None, argv without --device)`` for suites with no device flag."""
    out, device, i = [], None, 0
    while i < len(argv):
        a = argv[i]
        if a == "--device" and i + 1 < len(argv):
            device, i = argv[i + 1], i + 2
            continue
        if a.startswith("--device="):
            device = a.split("=", 1)[1]
        else:
            out.append(a)
        i += 1
    if device is not None and device not in PLATFORMS:
        raise SystemExit(f"--device must be one of {', '.join(PLATFORMS)}, got {device!r}")
    return device, out


def main(argv=None) -> int:
    """Run the named suite with its arguments; its exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv in (["-h"], ["--help"]):   # the suites, then the default suite's own flags
        print(__doc__)
        print(f"The flags of {DEFAULT}, the default NAME:\n", flush=True)
    name, rest = split_argv(argv)
    if name not in OWN_DEVICE_FLAG:
        device, rest = take_device(rest)
        if device is not None:
            os.environ["JAX_PLATFORMS"] = PLATFORMS[device]
    result = importlib.import_module(SUITES[name]).main(rest)
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
