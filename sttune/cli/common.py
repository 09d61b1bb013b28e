"""What every command shares: one-line user errors, consoles, JSON output."""

from __future__ import annotations

import functools
import json
import os
import shlex
import shutil
import sys
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import typer
from rich.console import Console

from sttune.errors import SttuneError

F = TypeVar("F", bound=Callable[..., Any])

# piped output (CI logs, files) gets 120 columns instead of rich's 80, so tables stay legible
out = Console(width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 120)


def user_errors(command: F) -> F:
    """Turn SttuneError (and the machine's OSErrors) into one line on stderr and exit 2; Ctrl-C into exit 130."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except SttuneError as exc:
            print_error(exc.one_line())
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:  # the machine (a full disk, permission) where no use case named it
            from sttune.files import fault

            line = fault(exc, "use")
            print_error(line.one_line())
            raise typer.Exit(line.exit_code) from None
        except KeyboardInterrupt:
            err.print("interrupted: finished work is kept; re-run the same command to resume")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def print_error(message: str) -> None:
    """``error: <message>`` as one line on stderr, whatever its width: red on a terminal (never
    wrapped), plain text otherwise (a log keeps the line whole, with no escape codes)."""
    if err.is_terminal:
        err.print("[bold red]error:[/] ", end="", highlight=False)
        err.print(message, highlight=False, markup=False, soft_wrap=True)
    else:
        sys.stderr.write(f"error: {' '.join(message.split())}\n")
        sys.stderr.flush()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=str) + "\n")


def print_data_notes(notes: Iterable[str]) -> None:
    """The dataset's notes (what the loader changed, how many readings are missing and why),
    one dim line each on stderr."""
    for note in notes:
        err.print(note, style="dim", highlight=False, markup=False)


def program(argv0: str | None = None) -> str:
    """How the user ran sttune, for the commands a ``next:`` line suggests: ``sttune`` when that
    is what PATH finds, else the path they typed (``.venv/bin/sttune``), ``python -m sttune``
    for the module; ``sttune`` when it cannot tell (a test runner, an embedding program)."""
    argv0 = sys.argv[0] if argv0 is None and sys.argv else (argv0 or "")
    base = os.path.basename(argv0)
    if base == "__main__.py" and os.path.basename(os.path.dirname(argv0)) == "sttune":
        return "python -m sttune"
    if base not in ("sttune", "sttune.exe"):
        return "sttune"
    found = shutil.which(base)
    if found and os.path.exists(argv0) and os.path.samefile(found, argv0):
        return "sttune"
    return shlex.quote(argv0)


def pip_program(argv0: str | None = None) -> str:
    """The pip that installs into the environment sttune runs in: ``pip`` beside a plain
    ``sttune``; the ``pip`` next to a typed path (``.venv/bin/pip``) when there is one; else
    ``<python> -m pip``."""
    ran = program(argv0)
    if ran == "sttune":
        return "pip"
    if ran != "python -m sttune":
        beside = os.path.join(os.path.dirname(shlex.split(ran)[0]), "pip")
        if os.path.exists(beside):
            return shlex.quote(beside)
    return f"{shlex.quote(sys.executable)} -m pip"
