"""Checks of the options a use case takes (a recipe path, --budget, --workers, --timeout-minutes,
--trials, --epochs),
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
    from sttune.files import kind

    if kind(recipe) == "folder":
        raise UsageError(f"{recipe} is a folder, not a recipe file", "pass the recipe YAML (a run folder is for export and report)")


def check_path_arg(name: str, value: object, optional: bool = True) -> None:
    """A path argument of the Python API: a str or an os.PathLike (None where optional), with
    no control character (the CLI's paths are text already)."""
    from sttune.recipe.schema import control_char

    if value is None and optional:
        return
    if isinstance(value, bytes) or not isinstance(value, str | os.PathLike):
        raise UsageError(f"{name} must be a path (a str or a pathlib.Path), got {type(value).__name__} {_shown(value)}",
                         f"e.g. {name}='runs/x'")
    text = os.fspath(value)
    if not isinstance(text, str) or not text:
        raise UsageError(f"{name} must be a non-empty path, got {_shown(value)}", f"e.g. {name}='runs/x'")
    if control_char(text) is not None:
        raise UsageError(f"{name} {clip(repr(text), 60)} contains a control character", "pass a plain path")


def check_flag(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise UsageError(f"{name} must be True or False, got {type(value).__name__} {_shown(value)}", f"e.g. {name}=False")


def check_callable(name: str, value: object) -> None:
    if value is not None and not callable(value):
        raise UsageError(f"{name} must be a function (or None), got {type(value).__name__} {_shown(value)}",
                         f"e.g. {name}=print")


def check_label(name: str, value: object, optional: bool = True) -> None:
    """A dataset label (``--dataset``, ``load_best``'s dataset): a plain name, never a path."""
    from sttune.recipe.schema import control_char
    from sttune.recipe.spec import NAME_LIMIT

    if value is None and optional:
        return
    if not isinstance(value, str):
        raise UsageError(f"{name} must be a dataset label (text), got {type(value).__name__} {_shown(value)}",
                         "pass the label the recipe gives the dataset (its id, else its name)")
    if not value.strip() or value in (".", "..") or "/" in value or "\\" in value or len(value) > NAME_LIMIT \
            or control_char(value) is not None:
        raise UsageError(f"{name} {clip(repr(value), 60)} is not a dataset label",
                         f"pass a plain name of up to {NAME_LIMIT} characters, without / or \\")


def _positive_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _shown(value: object) -> str:
    """A value as the user wrote it: -1 and -1.0 read the same through the CLI and the API."""
    return f"{value:g}" if isinstance(value, float) else clip(repr(value), 30)


def check_budget(budget: float | None) -> None:
    if budget is not None and not _positive_number(budget):
        raise UsageError(f"--budget must be a finite number above 0, got {_shown(budget)}",
                         "e.g. --budget 5: five times the full baseline's training")


def max_workers() -> int:
    """More worker processes than 4 per core (or 64) only queue for the CPU and memory."""
    return max(64, 4 * (os.cpu_count() or 1))


def check_workers(workers: int) -> None:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UsageError(f"--workers must be a whole number of at least 1, got {_shown(workers)}", "pass --workers 1 or more (one per GPU or core)")
    if workers > max_workers():
        raise UsageError(f"--workers {clip(str(workers), 30)} is more than this machine can run (at most {max_workers()}: 4 per core, or 64)",
                         "pass one per GPU or core; `sttune worker` on more machines scales further")


def check_minutes(option: str, minutes: float | None) -> None:
    if minutes is not None and not _positive_number(minutes):
        raise UsageError(f"{option} must be a finite number of minutes above 0, got {_shown(minutes)}", f"e.g. {option} 30")


def check_count(option: str, count: int | None) -> None:
    """A count the user overrides (--trials, --epochs): a whole number, 1 or more."""
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise UsageError(f"{option} must be a whole number of at least 1, got {clip(repr(count), 30)}", f"e.g. {option} 10")


# the sampler's seed is search.seed + the worker index: both stay within its 32 bits (recipe.SEED_LIMIT)
MAX_WORKER_INDEX = 2**16 - 1
MAX_VERIFY_PAIRS = 50


def check_worker_index(index: int) -> None:
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= MAX_WORKER_INDEX:
        raise UsageError(f"--worker-index must be from 0 to {MAX_WORKER_INDEX}, got {clip(repr(index), 30)}",
                         "number workers 0, 1, 2, ...")


def check_tolerance(tolerance: float) -> None:
    if not (_positive_number(tolerance) or (tolerance == 0 and not isinstance(tolerance, bool))):
        raise UsageError(f"--tolerance must be a finite number of at least 0, got {_shown(tolerance)}",
                         "e.g. --tolerance 0.01: val MAE within 1% of the best")


def check_verify_pairs(pairs: int) -> None:
    if isinstance(pairs, bool) or not isinstance(pairs, int) or not 0 <= pairs <= MAX_VERIFY_PAIRS:
        raise UsageError(f"--verify-pairs must be a whole number from 0 to {MAX_VERIFY_PAIRS}, got {clip(repr(pairs), 30)}",
                         "e.g. --verify-pairs 5; 0 turns the re-timing off")
