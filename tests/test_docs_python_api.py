"""docs/python-api.md: every ```python block runs, in order, in one namespace, in an empty folder
(so the page's examples cannot rot). A block whose first line is ``# requires: MODULE`` runs only
where MODULE imports (the optional extras)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
REQUIRES = re.compile(r"^# requires: (\S+)")


def blocks() -> list[str]:
    return BLOCK.findall(PAGE.read_text())


def test_the_page_has_examples_for_every_public_function():
    text = "\n".join(blocks())
    for name in ("load_recipe", "train", "search", "load_best", "load_model", "StrategyLoop"):
        assert f"sttune.{name}(" in text, name
    assert len(blocks()) >= 5


def test_every_python_block_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "docs_example"}
    ran = 0
    for code in blocks():
        needed = REQUIRES.match(code)
        if needed and importlib.util.find_spec(needed.group(1)) is None:
            continue
        exec(compile(code, f"{PAGE.name} block {ran}", "exec"), namespace)  # noqa: S102
        ran += 1
    out = capsys.readouterr().out
    assert ran >= 4 and "val MAE" in out and "windows visited" in out
