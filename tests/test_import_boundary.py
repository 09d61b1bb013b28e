"""Import boundaries, read from the source with ``ast`` (nothing is imported).

The built-in plugins (``sttune/strategies``, ``sttune/models``, ``sttune/datasets``) reach the
core only through their entry points, as a third party's would: no core module imports them,
at module level or inside a function. The layers point one way: the config layer (recipes,
settings) never imports the search machinery, and the search machinery never imports the CLI.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

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


@pytest.mark.parametrize(("layer", "above"), [
    ([SRC / "config.py", SRC / "recipe.py", SRC / "schema.py", SRC / "errors.py"], ("sttune.search", "sttune.cli")),
    (sorted((SRC / "search").rglob("*.py")), ("sttune.cli",)),
])
def test_no_layer_imports_the_layers_above_it(layer, above):
    assert offending(layer, above) == []


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
