"""The layout rules, read from the source with ``ast`` (no imports, fast).

1. No import cycle between nnfunc's modules; an import inside a function counts.
2. No private name crosses a module boundary: no ``from x import _name`` and no
   ``module._name`` on an imported module, in the library and the benchmarks; a private
   module (``pkg/_impl.py``) is imported only from inside its own package ``pkg``.
3. No code switch flipped from outside: nothing assigns to an attribute of an nnfunc
   module (``module.NAME = ...``, ``setattr(module, ...)``, ``monkeypatch.setattr`` on a
   module), in the library, the benchmarks or the tests. Experimental paths are arguments.
4. No Python file over 700 lines in ``src/``, ``benchmarks/`` or ``tests/``.
5. No dates and no measurement citations in library docstrings or comments: what was
   measured, where and when belongs to ``benchmarks/`` and its results.
"""
import ast
import io
import pathlib
import re
import tokenize

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PKG = "nnfunc"
MAX_LINES = 700


def _py_files(*folders):
    return sorted(p for f in folders for p in (ROOT / f).rglob("*.py")
                  if ".ci-venv" not in p.parts and "venv" not in p.parts)


def _module_name(path):
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


LIB = {_module_name(p): p for p in _py_files("src")}


def _is_package(name):
    return LIB[name].name == "__init__.py"


def _resolve(module, node):
    """The absolute module an ImportFrom names (relative imports resolved)."""
    if node.level == 0:
        return node.module
    base = module if _is_package(module) else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        base = base.rpartition(".")[0]
    return f"{base}.{node.module}" if node.module else base


def _imports(module, tree):
    """(imported module, name or None, line) for every import in the tree, at any depth."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node) if module else node.module
            if node.level and not module:
                continue
            for alias in node.names:
                yield target, alias.name, node.lineno


def _edges(module, tree):
    """The nnfunc modules that ``module`` imports (a ``from pkg import sub`` names sub).

    Importing ``a.b.c`` runs ``a/b/__init__.py`` first, so each package above the
    imported module is an edge too, except the ones that hold ``module`` itself (Python is
    already running those) and the root package, whose ``__init__`` only lists the
    namespaces.
    """
    out = set()
    for target, name, _ in _imports(module, tree):
        if not target or not (target == PKG or target.startswith(PKG + ".")):
            continue
        sub = f"{target}.{name}" if name else None
        found = sub if sub in LIB else (target if target in LIB else None)
        if found is None:
            continue
        parts = found.split(".")
        for i in range(2, len(parts) + 1):
            up = ".".join(parts[:i])
            if not (module == up or module.startswith(up + ".")):
                out.add(up)
    out.discard(module)
    return out


def _parse(path):
    return ast.parse(path.read_text(), filename=str(path))


def _cycles():
    graph = {m: _edges(m, _parse(p)) for m, p in LIB.items()}
    # a package's __init__ importing its own submodules is how Python loads it; a
    # submodule importing its package's __init__ back is the cycle worth finding
    index, low, stack, on, found = {}, {}, [], set(), []

    def strong(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return found


def test_no_import_cycles():
    assert _cycles() == []


def _package_of(module):
    return module if _is_package(module) else module.rpartition(".")[0]


def _private_module(name):
    """The innermost private package or module in a dotted name, or None."""
    parts = name.split(".")
    for i in range(len(parts) - 1, -1, -1):
        if parts[i].startswith("_") and not parts[i].startswith("__"):
            return ".".join(parts[:i + 1])
    return None


# the modules whose private names the rule guards: the library's, and the benchmarks'
# own (their folders and scripts import each other by these names)
_OURS = {PKG} | {p.stem for p in (ROOT / "benchmarks").rglob("*.py")} | {
    p.name for p in (ROOT / "benchmarks").rglob("*") if p.is_dir()}


def _private_reach(path, module):
    tree = _parse(path)
    bad = []
    aliases = {}
    for target, name, line in _imports(module, tree):
        if not target:
            continue
        full = f"{target}.{name}" if name else target
        if name and name.startswith("_") and not name.startswith("__") \
                and f"{target}.{name}" not in LIB:
            bad.append(f"{path.relative_to(ROOT)}:{line}: from {target} import {name}")
        owner = _private_module(full if full in LIB else target)
        if owner and target.startswith(PKG):
            home = owner.rpartition(".")[0]
            inside = module is not None and (module == home or module.startswith(home + "."))
            if not inside:
                bad.append(f"{path.relative_to(ROOT)}:{line}: imports {full} "
                           f"(private to {home})")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in _OURS:
                    aliases[alias.asname or alias.name.split(".")[0]] = True
        elif isinstance(node, ast.ImportFrom) and (
                node.level or (node.module or "").split(".")[0] in _OURS):
            for alias in node.names:
                aliases[alias.asname or alias.name] = True
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                and not node.attr.startswith("__") and isinstance(node.value, ast.Name)
                and node.value.id in aliases):
            bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: "
                       f"{node.value.id}.{node.attr}")
    return bad


def test_no_private_names_cross_modules():
    bad = []
    for module, path in LIB.items():
        bad += _private_reach(path, module)
    for path in _py_files("benchmarks"):
        if "investigations" in path.parts:
            continue
        bad += _private_reach(path, None)
    assert bad == []


def _nnfunc_aliases(tree):
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PKG:
                    names.add(alias.asname or PKG)
        elif isinstance(node, ast.ImportFrom) and node.module and (
                node.module.split(".")[0] == PKG or node.level):
            for alias in node.names:
                names.add(alias.asname or alias.name)
    return names


def _root(node):
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _flips(path):
    tree = _parse(path)
    mods = _nnfunc_aliases(tree)
    bad = []
    where = f"{path.relative_to(ROOT)}"
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for t in targets:
            if isinstance(t, ast.Attribute) and _root(t) in mods and t.attr.isupper() \
                    or (isinstance(t, ast.Attribute) and t.attr.startswith("_")
                        and t.attr.lstrip("_").isupper() and _root(t) in mods):
                bad.append(f"{where}:{node.lineno}: assigns {ast.unparse(t)}")
        if isinstance(node, ast.Call):
            fn = ast.unparse(node.func)
            if (fn == "setattr" or fn.endswith("monkeypatch.setattr")
                    or fn.endswith("mp.setattr")) and node.args:
                first = node.args[0]
                if (isinstance(first, ast.Constant) and isinstance(first.value, str)
                        and first.value.startswith(PKG)) or _root(first) in mods:
                    bad.append(f"{where}:{node.lineno}: {ast.unparse(node)[:80]}")
    return bad


def test_no_module_switches_flipped_from_outside():
    bad = []
    for path in _py_files("src", "benchmarks", "tests"):
        if path.name == "test_layout.py":
            continue
        bad += _flips(path)
    assert bad == []


def test_no_file_over_700_lines():
    long = {str(p.relative_to(ROOT)): n for p in _py_files("src", "benchmarks", "tests")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


_DATE = re.compile(r"\b20\d\d-\d\d-\d\d\b|\b(19|20)\d\d-\d\d\b|"
                   r"\b(January|February|March|April|May|June|July|August|September|"
                   r"October|November|December) (\d{1,2}, )?20\d\d\b")
_MEASURED = re.compile(
    r"\b[HA]\d00\b|\bH100\b|\bH200\b|\bmeasured\b|benchmarks/results|\bissue \d+|"
    r"\b\d+(\.\d+)?\s?x (faster|slower|of|raw|torch|pytorch|jax)\b|"
    r"\b\d+(\.\d+)?\s?(ms|µs|us) (per|an?|each)\b|\bon (a|the) 2-core\b|"
    r"\b\d+(\.\d+)?\s?%\s(longer|shorter|faster|slower|more|less)\b|"
    r"\b\d+(\.\d+)?\s?x\s?->|\b\d+(\.\d+)?\s?x \w+'s\b|"
    r"\bMB (less |more )?(a|per) step\b",
    re.IGNORECASE)


def _prose(path):
    """(line, text) of every docstring and comment in a file."""
    src = path.read_text()
    out = []
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef,
                             ast.ClassDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                first = node.body[0].lineno
                out += [(first + i, s) for i, s in enumerate(doc.splitlines())]
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT:
            out.append((tok.start[0], tok.string))
    return out


def test_no_dates_or_measurements_in_library_docs():
    bad = [f"{p.relative_to(ROOT)}:{line}: {text.strip()[:90]}"
           for p in _py_files("src") for line, text in _prose(p)
           if _DATE.search(text) or _MEASURED.search(text)]
    assert bad == []


def test_the_rules_catch_what_they_name(tmp_path):
    """Each rule fails on a small example of what it forbids."""
    flip = tmp_path / "flip.py"
    flip.write_text("import nnfunc.train.sweep as s\ns._RUNS_INSIDE = True\n"
                    "def t(monkeypatch):\n    monkeypatch.setattr(s, '_X', 1)\n")
    global ROOT
    old, ROOT = ROOT, tmp_path
    try:
        assert len(_flips(flip)) == 2
        reach = tmp_path / "reach.py"
        reach.write_text("from nnfunc.layers._base import _window_out\n"
                         "from nnfunc.optim import _base\nx = _base._helper\n")
        found = _private_reach(reach, None)
    finally:
        ROOT = old
    assert len(found) == 4, found
    assert _DATE.search("measured on 2026-11-29") and _MEASURED.search("1.185x raw JAX")
    assert _MEASURED.search("1.5x -> 1.0x optax's step time") and _MEASURED.search(
        "took 3-4 % longer") and _MEASURED.search("~6 MB less per step")
    assert not _MEASURED.search("the learning rate of step k")
