"""Import boundaries, read from the source with ``ast`` (nothing is imported).

The built-in plugins (``sttune/strategies``, ``sttune/models``, ``sttune/datasets``) reach the
core only through their entry points, as a third party's would: no core module imports them,
at module level or inside a function. The packages are layers that point one way (``LAYERS``,
lowest first: a package imports only packages below it), and no module reaches itself through
its imports: no cycle, even through an import inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "sttune"
BUILTIN_PLUGINS = ("sttune.strategies", "sttune.models", "sttune.datasets")


def module_name(path: Path, src: Path = SRC) -> str:
    parts = path.relative_to(src.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path, src: Path = SRC) -> list[tuple[int, str]]:
    """(line, dotted name) of every import anywhere in the file, relative ones resolved;
    ``from a import b`` yields ``a.b`` (b may be a module) as well as ``a``."""
    name = module_name(path, src)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None))
              in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value))
    return found


def within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def offending(files: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [f"{path.relative_to(SRC.parent)}:{line} imports {name}"
            for path in files for line, name in imported_names(path) if within(name, forbidden)]


def core_files() -> list[Path]:
    builtin = [SRC / p.rpartition(".")[2] for p in BUILTIN_PLUGINS]
    return [p for p in sorted(SRC.rglob("*.py")) if not any(b in p.parents for b in builtin)]


def test_the_core_never_imports_the_built_in_plugins():
    files = core_files()
    assert SRC / "testing" / "core.py" in files and len(files) > 30
    assert offending(files, BUILTIN_PLUGINS) == []


# lowest first; a package may import its own modules and those of lower rows only; the root package
# (sttune/__init__.py, the lazy facade) sits above them all and nothing imports it
LAYERS: list[tuple[str, ...]] = [
    ("sttune.errors", "sttune.files"),
    ("sttune.api",),
    ("sttune.recipe",),
    ("sttune.data",),
    ("sttune.registry",),
    ("sttune.training",),
    ("sttune.interop",),
    ("sttune.tuning",),
    ("sttune.outcome",),
    ("sttune.testing",),
    ("sttune.python_api",),
    ("sttune.cli",),
    ("sttune.__main__",),
]


def layer_of(module: str) -> int | None:
    for index, row in enumerate(LAYERS):
        if within(module, row):
            return index
    return None


def test_every_core_module_has_a_layer():
    loose = [module_name(p) for p in core_files() if module_name(p) != "sttune" and layer_of(module_name(p)) is None]
    assert loose == []


def module_graph(src: Path = SRC) -> dict[str, set[str]]:
    """module -> the sttune modules it imports (a ``from package import module`` counts the module)."""
    modules = {module_name(p, src): p for p in src.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for _, imported in imported_names(path, src):
            while imported not in modules and "." in imported:
                imported = imported.rpartition(".")[0]
            if imported in modules and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def upward(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a module in a higher layer (or of the root package)."""
    found = []
    for source, targets in graph.items():
        for target in targets:
            if target == "sttune":
                found.append(f"{source} imports the root package")
            elif (layer_of(target) or 0) > (layer_of(source) or 0):
                found.append(f"{source} imports {target}")
    return sorted(found)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_package_imports_a_layer_above_it():
    core = {k: v for k, v in module_graph().items() if not within(k, BUILTIN_PLUGINS) and k != "sttune"}
    assert upward(core) == []


def test_no_module_imports_itself_through_others():
    assert cycles(module_graph()) == []


def test_the_checks_see_an_upward_arrow_and_a_cycle(tmp_path):
    fake = tmp_path / "sttune"
    for package in ("training", "tuning"):
        (fake / package).mkdir(parents=True)
        (fake / package / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "training" / "a.py").write_text("def f():\n    from sttune.tuning import b\n")
    (fake / "tuning" / "b.py").write_text("from sttune.training.a import f\n")
    graph = module_graph(fake)
    assert upward(graph) == ["sttune.training.a imports sttune.tuning", "sttune.training.a imports sttune.tuning.b"]
    assert cycles(graph) == [["sttune.training.a", "sttune.tuning.b"]]


def test_the_scan_sees_every_kind_of_import(tmp_path):
    fake = tmp_path / "sttune"
    (fake / "search").mkdir(parents=True)
    (fake / "search" / "x.py").write_text(
        "import sttune.models.stid\n"
        "from ..datasets import synthetic\n"
        "from sttune import strategies\n"
        "def f():\n    import importlib\n    return importlib.import_module('sttune.models.gwnet')\n")
    names = [n for _, n in imported_names(fake / "search" / "x.py", fake)]
    assert {"sttune.models.stid", "sttune.datasets.synthetic", "sttune.strategies", "sttune.models.gwnet"} <= set(names)
