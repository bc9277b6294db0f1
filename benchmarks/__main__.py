"""``python -m benchmarks NAME ...``: the same as ``python benchmarks/run.py NAME ...``."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from run import main  # noqa: E402

sys.exit(main())
