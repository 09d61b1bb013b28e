"""The command line explains itself: choices listed, an example in every command's help, shell
completion offered, and every error one line whatever the width (a bad option too)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from sttune.cli import app

runner = CliRunner()
COMMANDS = [["train"], ["search"], ["worker"], ["export"], ["report"],
            ["plugins", "list"], ["plugins", "show"], ["plugins", "check"], ["plugins", "new"]]


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_every_command_s_help_ends_with_an_example_of_itself(command):
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    examples = [line.strip() for line in result.output.splitlines() if line.strip().startswith("Example:")]
    assert len(examples) == 1 and f"sttune {' '.join(command)} " in examples[0] + " ", result.output


def test_choices_are_listed_and_completion_is_offered():
    assert "fastest-within|knee|min-mae" in runner.invoke(app, ["export", "--help"], env={"COLUMNS": "200"}).output
    assert "strategy|model|dataset" in runner.invoke(app, ["plugins", "new", "--help"], env={"COLUMNS": "200"}).output
    assert "--install-completion" in runner.invoke(app, ["--help"], env={"COLUMNS": "200"}).output


@pytest.mark.parametrize("argv", [["export", "/nowhere/" + "a folder name with many words " * 8],
                                  ["search", "--trials", "0", "x.yaml"],
                                  ["export", ".", "--rule", "fastest"]], ids=["user-error", "range", "choice"])
def test_an_error_is_one_plain_line_at_any_width(argv):
    result = runner.invoke(app, argv, env={"COLUMNS": "40"})  # stderr is no terminal here: a log file
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "\x1b" not in lines[0], result.output
    assert len(lines[0]) > 120 or argv[0] == "search"  # long enough that any wrapping would have shown
