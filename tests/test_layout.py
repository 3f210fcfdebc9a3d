"""The house stands: jsdata's imports run one way (docs/layout.md).

Walks the ``ast`` of every module in the package - imports at module level, inside
functions and under ``if TYPE_CHECKING:`` alike - and fails on an import cycle or on an
arrow the layout forbids. Nothing is imported or run; the source is the evidence.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "jsdata"
FACE_MODULES = {"jsdata", "jsdata.aio"}  # hand names out lazily (module __getattr__)
MAX_LINES = 760  # "about 700": a room that grows past this wants splitting

# Which top-level parts a part may import (besides itself). A part is a subpackage
# (client, kv, ...) or a top-level module (errors, _util, ...).
GROUND = {"errors", "_util", "_repr", "_cparse"}
FACES = {"jsdata", "aio"}
# Plugins over the public face may use it (``import jsdata`` in a demo, the default connection).
PLUGINS = {"pandas_ext", "fs", "widgets", "demo", "__main__", "_default", "cli", "partitions",
           "partwrite", "dask", "ray", "spark"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "_cparse": set(),
    "_cmsgpack": set(),
    "_cjson": set(),
    "_util": {"errors"},
    "_repr": {"errors", "_util"},
    "server": {"errors"},
    "blocking": {"errors"},
    "client": GROUND,
    "kv": GROUND | {"client", "frames"},
    "objects": GROUND | {"client"},
    "frames": GROUND | {"client", "_cmsgpack", "_cjson"},  # the row readers' C halves
}
# A package's _blocking.py holds blocking-only extras: it may also use the blocking engine.
BLOCKING_EXTRAS_MAY_IMPORT = {"blocking"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}
# C extensions (setup.py): leaves that import nothing of jsdata, on the ground floor
EXTENSIONS = set(re.findall(r'Extension\("(jsdata\.[\w.]+)"',
                            (PKG.parent / "setup.py").read_text()))


def _targets(name: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every jsdata module ``name`` imports, with the line of the import."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "jsdata" or alias.name.startswith("jsdata."):
                    yield _existing(alias.name), node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod != "jsdata" and not mod.startswith("jsdata."):
                continue
            for alias in node.names:
                sub = f"{mod}.{alias.name}"
                if sub in MODULES:
                    yield sub, node.lineno
                    continue
                if mod in MODULES and MODULES[mod].name == "__init__.py" and \
                        alias.name not in _public_names(mod) and mod not in FACE_MODULES:
                    MISSING.append(sub)  # neither a submodule nor a name the package defines
                yield _existing(mod), node.lineno


def _public_names(module: str) -> set[str]:
    """Names a module defines or imports at top level (what ``from module import x`` finds)."""
    if module not in MODULES:
        return set()
    out: set[str] = set()
    for node in ast.parse(MODULES[module].read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            out |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Assign):
            out |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out.add(node.target.id)
    return out


MISSING: list[str] = []  # imports of jsdata modules that do not exist (a stale path)


def _existing(mod: str) -> str:
    if mod in EXTENSIONS:
        return mod
    if mod not in MODULES:
        MISSING.append(mod)
    while mod not in MODULES:
        mod = mod.rpartition(".")[0]
    return mod


GRAPH: dict[str, dict[str, int]] = {ext: {} for ext in EXTENSIONS}
for _name, _path in MODULES.items():
    GRAPH[_name] = {}
    for _target, _line in _targets(_name, _path):
        if _target != _name:
            GRAPH[_name].setdefault(_target, _line)


def _part(mod: str) -> str:
    """The top-level part a module belongs to: ``jsdata.client.pull`` -> ``client``."""
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else "jsdata"


def test_graph_is_read() -> None:
    """The walk sees the package (a broken walk would pass every other test)."""
    assert "jsdata.client.jetstream" in GRAPH
    assert "jsdata.client.context" in GRAPH["jsdata.client.stream"]
    assert any(t.startswith("jsdata.client.") for t in GRAPH["jsdata._api"])


def test_every_import_resolves() -> None:
    """Every jsdata module a module imports exists in the package (an installed copy of the
    old flat layout would otherwise answer a stale path silently)."""
    assert not MISSING, f"imports of missing jsdata modules: {sorted(set(MISSING))}"


def test_tests_import_existing_modules() -> None:
    """The tests name modules of this layout (a stale path would be served silently by an
    installed copy of the old layout, and test that copy instead)."""
    stale = []
    for path in sorted(PKG.parent.joinpath("tests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                stale += [f"{path.name}:{node.lineno}: {a.name}" for a in node.names
                          if a.name.startswith("jsdata") and a.name not in MODULES]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module and (
                    node.module.split(".")[0] == "jsdata"):
                if node.module not in MODULES:
                    stale.append(f"{path.name}:{node.lineno}: {node.module}")
                    continue
                defined = _public_names(node.module)
                stale += [f"{path.name}:{node.lineno}: {node.module}.{a.name}"
                          for a in node.names if f"{node.module}.{a.name}" not in MODULES
                          and a.name not in defined and not _lazy(node.module, a.name)]
    assert not stale, "tests import modules that do not exist:\n" + "\n".join(stale)


def _lazy(module: str, name: str) -> bool:
    """Whether a face hands ``name`` out lazily (``jsdata.__getattr__``)."""
    import importlib
    return module in ("jsdata", "jsdata.aio") and name in dir(importlib.import_module(module))


def test_no_import_cycle() -> None:
    """No jsdata module reaches itself through imports (any kind, anywhere in the file)."""
    color: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        color[m] = 1
        stack.append(m)
        for t in GRAPH[m]:
            if color.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in color:
                visit(t)
        stack.pop()
        color[m] = 2

    for m in GRAPH:
        if m not in color:
            visit(m)
    lines = [" -> ".join(c) for c in cycles]
    assert not cycles, "import cycles:\n" + "\n".join(lines)


def _forbidden() -> list[str]:
    bad = []
    for mod, targets in GRAPH.items():
        src = _part(mod)
        for t, line in targets.items():
            dst = _part(t)
            if dst == src:
                continue
            where = f"{MODULES[mod].relative_to(PKG.parent)}:{line}: {mod} -> {t}"
            if dst in FACES and src not in FACES | PLUGINS:
                bad.append(where + " (nothing below the faces imports a face)")
            elif src in ALLOWED:
                allowed = ALLOWED[src]
                if MODULES[mod].name == "_blocking.py":
                    allowed = allowed | BLOCKING_EXTRAS_MAY_IMPORT
                if dst not in allowed:
                    bad.append(where + f" ({src} may import only {sorted(allowed)})")
            if t.endswith("._blocking") and mod not in ("jsdata._twins",) and \
                    not MODULES[mod].name == "_blocking.py":
                bad.append(where + " (only _twins.py attaches the blocking extras)")
    return bad


def test_arrows_run_one_way() -> None:
    """The import rules of the layout: the core knows nothing of the data layer, ..."""
    bad = _forbidden()
    assert not bad, "forbidden imports:\n" + "\n".join(bad)


NATS_BOUNDARY = {"jsdata.client._conn", "jsdata.client._connect", "jsdata.client._parser"}


def test_only_the_boundary_imports_nats_py() -> None:
    """nats-py is wrapped in one place: the connection, connecting and the parser."""
    users = []
    for mod, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                     else [])
            if any(n == "nats" or n.startswith("nats.") for n in names) and \
                    mod not in NATS_BOUNDARY:
                users.append(f"{mod}:{node.lineno}")
    assert not users, f"modules importing nats-py outside the boundary: {users}"


def test_the_rules_catch_an_upward_arrow() -> None:
    """The rule check itself fails on a core module importing the data layer."""
    GRAPH["jsdata.client.pull"]["jsdata.frames.reader"] = 1
    try:
        assert any("client.pull -> jsdata.frames.reader" in b for b in _forbidden())
    finally:
        del GRAPH["jsdata.client.pull"]["jsdata.frames.reader"]


@pytest.mark.parametrize("mod", sorted(MODULES))
def test_small_rooms(mod: str) -> None:
    """No module much over 700 lines (split it by concept instead)."""
    n = MODULES[mod].read_text().count("\n")
    assert n <= MAX_LINES, f"{MODULES[mod]} has {n} lines"


def test_connecting_imports_no_dataframe_library() -> None:
    """pandas, pyarrow and numpy load at first use of a DataFrame path, not with the package
    or its classes (the blocking ones included): a script that only publishes stays small."""
    import os
    import subprocess
    import sys
    code = ("import sys, jsdata, jsdata.aio; jsdata.JetStream; jsdata.aio.JetStream; "
            "import jsdata._twins; "
            "print(sorted(m for m in ('pandas', 'pyarrow', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=PKG.parent, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(PKG.parent)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"imported at import time: {out.stdout.strip()}"
