"""Install throwaway plugins for a test through real entry points.

A ``*.dist-info`` folder with ``entry_points.txt`` on ``sys.path`` is exactly what pip
leaves behind, so discovery goes through importlib.metadata as for any installed package.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from sttune.registry import discovery as plugins

GROUPS = {"strategy": "sttune.strategies", "model": "sttune.models", "dataset": "sttune.datasets"}


def install_plugins(root: Path, module: str, source: str, entries: dict[str, dict[str, str]], dist: str = "testkit") -> None:
    """Write ``module`` and a dist-info registering ``entries`` {kind: {name: "mod:attr"}}."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist}-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = []
    for kind, named in entries.items():
        lines.append(f"[{GROUPS[kind]}]")
        lines += [f"{name} = {target}" for name, target in named.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    sys.path.insert(0, str(root))
    reset_plugin_caches()


def uninstall(root: Path, module: str) -> None:
    if str(root) in sys.path:
        sys.path.remove(str(root))
    sys.modules.pop(module, None)
    reset_plugin_caches()


def reset_plugin_caches() -> None:
    import importlib

    importlib.invalidate_caches()
    plugins.discover.cache_clear()
    plugins.load.cache_clear()
