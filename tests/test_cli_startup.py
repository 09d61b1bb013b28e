"""The CLI starts without importing torch or optuna (what keeps `sttune --help` fast)."""

from __future__ import annotations

import re
import subprocess
import sys


def test_cli_import_pulls_in_no_heavy_module():
    code = "import sys, sttune.cli; print(sorted(m for m in ('torch', 'optuna', 'numpy', 'pandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_python_dash_m_sttune_help_lists_the_commands():
    out = subprocess.run([sys.executable, "-m", "sttune", "--help"], capture_output=True, text=True, check=True).stdout
    assert set(help_commands(out)) >= {"train", "search", "export", "report", "worker", "plugins"}, out


def help_commands(text: str) -> list[str]:
    """The command names in the Commands box of a --help page: the first word of a row, at
    the row's start (a description's words, or a wrapped line, never count)."""
    rows = text.split("Commands", 1)[1].splitlines()[1:]
    return [m.group(1) for line in rows if (m := re.match(r"^[│|] ([a-z][\w-]*)\s{2,}\S", line))]


def test_help_commands_reads_names_not_words_of_descriptions():
    page = "Usage: x\n╭─ Commands ─╮\n│ search   Search strategies; training goes on  │\n│          it again.  │\n╰──╯\n"
    assert help_commands(page) == ["search"]  # "train" inside "training" is no command
