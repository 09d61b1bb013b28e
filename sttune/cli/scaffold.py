"""``sttune plugins new``: write a plugin package skeleton that installs and passes its contract."""

from __future__ import annotations

import keyword
import math
import re
import shutil
import tomllib
from pathlib import Path
from string import Template

from sttune.errors import SttuneError
from sttune.files import FileSystemError, a, fault, kind as path_kind, write_atomic
from sttune.recipe.schema import control_char, short
from sttune.registry.discovery import GROUPS

KINDS = tuple(GROUPS)


# the name is a Python module part, a bare TOML key, an entry-point name and (dashed) part of a
# distribution name: ASCII letters, digits and single underscores, a letter first, no underscore last
NAME = re.compile(r"[A-Za-z](?:_?[A-Za-z0-9])*")
NAME_LIMIT = 60


def check_request(name: str, kind: str, target: Path) -> None:
    """Raise a one-line :class:`SttuneError` for a bad name, kind or target folder."""
    if not NAME.fullmatch(name) or keyword.iskeyword(name) or len(name) > NAME_LIMIT:
        raise SttuneError(f"{short(name)} is not a usable plugin name",
                          f"use ASCII letters, digits and single underscores, a letter first and no underscore last, "
                          f"up to {NAME_LIMIT} characters (e.g. my_prune): it names the package, its module and its entry point")
    if kind not in KINDS:
        raise SttuneError(f"unknown plugin kind '{kind}'", f"use one of {', '.join(KINDS)}")
    if control_char(str(target)) is not None:
        raise SttuneError(f"--dir {short(str(target))} contains a control character", "pass a plain folder path")
    found = path_kind(target)
    if found not in (None, "folder"):
        raise SttuneError(f"{target} is {a(found)}, not a folder", "choose another --dir")
    if found == "folder" and any(target.iterdir()):
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
    rendered = render(name, kind)
    try:
        tomllib.loads(rendered["pyproject.toml"])
    except tomllib.TOMLDecodeError as exc:  # a bug of the templates, never a file that pip cannot read
        raise SttuneError(f"the pyproject.toml for {short(name)} would not be valid TOML ({exc})", "report it") from None
    written: list[Path] = []
    existed = path_kind(target) is not None
    try:
        for rel, text in rendered.items():
            path = target / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, text)
            written.append(path)
    except (OSError, FileSystemError) as exc:
        for done in written:  # a half-written package is no package: what was written goes
            done.unlink(missing_ok=True)
        if not existed:
            shutil.rmtree(target, ignore_errors=True)
        error = exc if isinstance(exc, FileSystemError) else fault(exc, "write", path)
        raise SttuneError(error.message, "choose a writable --dir (nothing was left there)") from None
    return target, written
