"""Lint and types: ``ruff check .`` and ``mypy`` (over pyproject.toml's [tool.mypy] files) pass.

Both run from the repository root with this interpreter, so the README's test command runs them
too; their config (rules, what is ignored and why, the strict modules) is in pyproject.toml.
Skipped only when the tool is not installed (the ``test`` extra brings both).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_tool(module: str, *args: str) -> None:
    pytest.importorskip(module, reason=f"{module} is not installed (pip install -e '.[test]')")
    proc = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"{' '.join((module, *args))} failed:\n{proc.stdout}{proc.stderr}"


def test_ruff_passes():
    run_tool("ruff", "check", "--no-fix", ".")


def test_mypy_passes():
    run_tool("mypy")
