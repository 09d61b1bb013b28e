"""The CLI starts without importing torch or optuna (what keeps `sttune --help` fast)."""

from __future__ import annotations

import subprocess
import sys


def test_cli_import_pulls_in_no_heavy_module():
    code = "import sys, sttune.cli; print(sorted(m for m in ('torch', 'optuna', 'numpy', 'pandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_python_dash_m_sttune_help_lists_the_commands():
    out = subprocess.run([sys.executable, "-m", "sttune", "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("train", "search", "export", "report", "plugins"):
        assert command in out
