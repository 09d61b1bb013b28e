"""The one JSON shape that ``report --json``, ``export --json``, ``search --json`` and the
export's ``best/<label>.json`` share (documented in docs/json.md).

Every document carries :data:`SCHEMA_VERSION`; a trial is always the same object
(:func:`sttune.outcome.export.trial_summary`: ``trial``, ``label``, ``chosen``, ...), whichever
command prints it. Raise the version when a field changes meaning or goes away; adding a field
keeps it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


def document(command: str, run_dir: Path, datasets: dict[str, Any]) -> dict[str, Any]:
    """A command's output: ``{"schema_version", "command", "run_dir", "datasets": {label: ...}}``."""
    return {"schema_version": SCHEMA_VERSION, "command": command, "run_dir": str(run_dir), "datasets": datasets}
