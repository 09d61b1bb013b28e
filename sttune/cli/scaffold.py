"""``sttune plugins new``: write a plugin package skeleton that installs and passes its contract."""

from __future__ import annotations

import keyword
import math
from pathlib import Path
from string import Template

from sttune.errors import SttuneError
from sttune.recipe.schema import control_char, short
from sttune.registry.discovery import GROUPS

KINDS = tuple(GROUPS)


def check_request(name: str, kind: str, target: Path) -> None:
    """Raise a one-line :class:`SttuneError` for a bad name, kind or target folder."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise SttuneError(f"{short(name)} is not a valid Python identifier",
                          "use letters, digits and underscores, not starting with a digit (e.g. my_prune)")
    if kind not in KINDS:
        raise SttuneError(f"unknown plugin kind '{kind}'", f"use one of {', '.join(KINDS)}")
    if control_char(str(target)) is not None:
        raise SttuneError(f"--dir {short(str(target))} contains a control character", "pass a plain folder path")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise SttuneError(f"{target} already exists and is not empty", "choose another --dir or remove it")


def default_dir(name: str) -> Path:
    return Path(f"sttune-{name.replace('_', '-')}")


def fields(name: str, kind: str) -> dict[str, str]:
    """Values substituted into the templates."""
    from sttune.api import API_VERSION

    camel = "".join(part[:1].upper() + part[1:] for part in name.split("_") if part) or "Plugin"
    return {
        "name": name, "kind": kind, "group": GROUPS[kind], "api": API_VERSION,
        "module": f"sttune_{name.lower()}", "dist": f"sttune-{name.lower().replace('_', '-')}",
        "attr": f"load_{name}" if kind == "dataset" else camel,
    }


def render(name: str, kind: str) -> dict[str, str]:
    """Relative path → file text of the skeleton."""
    from sttune.testing import templates as t

    values = fields(name, kind)
    module = values["module"]
    code = {"strategy": t.STRATEGY, "model": t.MODEL, "dataset": t.DATASET}[kind]
    tests = {"strategy": t.TEST_STRATEGY, "model": t.TEST_MODEL, "dataset": t.TEST_DATASET}[kind]
    values["usage"] = Template(t.USAGE[kind]).substitute(values)
    files = {
        "pyproject.toml": t.PYPROJECT,
        "README.md": t.README,
        f"{module}/__init__.py": t.INIT,
        f"{module}/plugin.py": code,
        "tests/test_contract.py": tests,
    }
    out = {path: Template(text).substitute(values) for path, text in files.items()}
    if kind == "dataset":
        out[f"{module}/sample.csv"] = sample_csv()
    return out


def sample_csv(n_days: int = 4, steps_per_day: int = 24, n_nodes: int = 4) -> str:
    """A small daily-cycle series for the dataset skeleton: header row, then [T, N] values."""
    rows = [",".join(f"sensor{j}" for j in range(n_nodes))]
    for step in range(n_days * steps_per_day):
        angle = 2 * math.pi * step / steps_per_day
        rows.append(",".join(f"{50 + 10 * math.sin(angle + j) + (step * 7 + j * 3) % 5:.2f}" for j in range(n_nodes)))
    return "\n".join(rows) + "\n"


def write_skeleton(name: str, kind: str, target: Path | None = None) -> tuple[Path, list[Path]]:
    """Write the package for plugin ``name`` of ``kind``; returns its folder and files."""
    target = target if target is not None else default_dir(name)
    check_request(name, kind, target)
    written = []
    for rel, text in render(name, kind).items():
        path = target / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        except OSError as exc:
            raise SttuneError(f"cannot write {path}: {exc.strerror or exc}",
                              "choose a writable --dir" + (f" ({len(written)} files were written there)" if written else "")) from None
        written.append(path)
    return target, written
