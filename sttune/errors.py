"""One root exception; every user-facing failure is a subclass with a how-to-fix hint.

The CLI turns any :class:`SttuneError` into one line on stderr and a non-zero exit.
Anything else reaching the CLI is a bug and keeps its traceback.
"""

from __future__ import annotations


class SttuneError(Exception):
    """Root of every error sttune raises on purpose (bad input, bad plugin, bad recipe)."""

    exit_code: int = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message and the hint joined into the single line the CLI prints."""
        text = self.message.rstrip(".")
        return f"{text}. {self.hint}" if self.hint else text


class DataError(SttuneError):
    """A data file is missing, malformed or inconsistent with its graph."""


class RecipeError(SttuneError):
    """A recipe file does not parse or does not match the schema."""


class PluginError(SttuneError):
    """A plugin is unknown, fails to import, or has a bad interface."""


class TrainingError(SttuneError):
    """Training cannot go on (a non-finite loss, an empty training set)."""
