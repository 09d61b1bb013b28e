"""Checks of a search's run options (a recipe path, --budget, --workers, --timeout-minutes),
shared by the CLI commands and the Python API (:mod:`sttune.python_api`), so both refuse the
same values with the same line."""

from __future__ import annotations

import math
import os
from pathlib import Path

from sttune.errors import SttuneError
from sttune.recipe.schema import clip


class UsageError(SttuneError):
    """A command-line option is out of range."""


def check_recipe_path(recipe: Path) -> None:
    if recipe.is_dir():
        raise UsageError(f"{recipe} is a folder, not a recipe file", "pass the recipe YAML (a run folder is for export and report)")


def check_budget(budget: float | None) -> None:
    if budget is not None and not (math.isfinite(budget) and budget > 0):
        raise UsageError(f"--budget must be a finite number above 0, got {budget}",
                         "e.g. --budget 5: five times the full baseline's training")


def max_workers() -> int:
    """More worker processes than 4 per core (or 64) only queue for the CPU and memory."""
    return max(64, 4 * (os.cpu_count() or 1))


def check_workers(workers: int) -> None:
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}", "pass --workers 1 or more (one per GPU or core)")
    if workers > max_workers():
        raise UsageError(f"--workers {clip(str(workers), 30)} is more than this machine can run (at most {max_workers()}: 4 per core, or 64)",
                         "pass one per GPU or core; `sttune worker` on more machines scales further")


def check_minutes(option: str, minutes: float | None) -> None:
    if minutes is not None and not math.isfinite(minutes):
        raise UsageError(f"{option} must be a finite number of minutes, got {minutes}", f"e.g. {option} 30")
