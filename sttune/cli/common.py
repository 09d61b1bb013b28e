"""What every command shares: one-line user errors, consoles, JSON output."""

from __future__ import annotations

import functools
import json
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
