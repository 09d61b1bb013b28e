"""The one JSON shape that ``report --json``, ``export --json``, ``search --json`` and the
export's ``best/<label>.json`` share (documented in docs/json.md); ``train --json``,
``plugins list --json`` and ``plugins check --json`` print objects of their own that carry the
same ``schema_version`` and ``command`` (:func:`envelope`).

Every document carries :data:`SCHEMA_VERSION`; a trial is always the same object
(:func:`sttune.outcome.export.trial_summary`: ``trial``, ``label``, ``chosen``, ...), whichever
command prints it. Raise the version when a field changes meaning or goes away; adding a field
keeps it.

Version 2 names the charged device time ``cost_seconds`` (training plus the charged preparation)
and keeps the version-1 names as aliases of the same value for this version only
(:data:`DEPRECATED_ALIASES`); version 3 drops them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SCHEMA_VERSION = 2
# old key -> the key it repeats (same value), written in schema 2 only; removed in schema 3
DEPRECATED_ALIASES = {"device_seconds": "cost_seconds", "total_device_seconds": "total_cost_seconds",
                      "baseline_device_seconds": "baseline_cost_seconds"}


def with_aliases(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` with each deprecated alias (:data:`DEPRECATED_ALIASES`) written beside its key."""
    out = dict(fields)
    for old, new in DEPRECATED_ALIASES.items():
        if new in out:
            out[old] = out[new]
    return out


def document(command: str, run_dir: Path, datasets: dict[str, Any]) -> dict[str, Any]:
    """A command's output: ``{"schema_version", "command", "run_dir", "datasets": {label: ...}}``."""
    return {"schema_version": SCHEMA_VERSION, "command": command, "run_dir": str(run_dir), "datasets": datasets}


def envelope(command: str, **fields: Any) -> dict[str, Any]:
    """``{"schema_version", "command", **fields}``: what every ``--json`` output starts with."""
    return {"schema_version": SCHEMA_VERSION, "command": command, **fields}
