"""Tests of the nnfunc.data package as a whole: what it imports, and its public names'
docstrings."""
import ast
import pathlib

from nnfunc import data


DATA_PKG = pathlib.Path(data.__file__).parent


def test_data_package_imports_only_numpy_stdlib_and_itself():
    """nnfunc.data imports itself and nnfunc._checks (the library's argument checks), and
    _checks imports only NumPy and the standard library when it loads (JAX inside the
    checks that need it)."""
    import sys

    allowed = set(sys.stdlib_module_names) | {"numpy", "tqdm", "nnfunc", "__future__"}
    checks = DATA_PKG.parent / "_checks.py"
    for path in [*DATA_PKG.glob("*.py"), checks]:
        tree = ast.parse(path.read_text())
        for node in (tree.body if path == checks else ast.walk(tree)):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in allowed, f"{path.name} imports {name}"
                if top == "nnfunc":
                    assert name.startswith("nnfunc.data") or name == "nnfunc._checks", \
                        f"{path.name} imports {name}"


def test_public_names_have_docstrings():
    for name in data.__all__:
        obj = getattr(data, name)
        if callable(obj) and not isinstance(obj, dict):
            assert obj.__doc__ and ">>>" in obj.__doc__ or isinstance(obj, type), name
