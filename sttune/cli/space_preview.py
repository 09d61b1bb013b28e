"""Describe a plugin's search space without running a study (for `sttune plugins`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class SpaceRecorder:
    """A stand-in trial that records each suggestion and answers its first/low value."""

    def __init__(self) -> None:
        self.params: dict[str, str] = {}

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        self.params[name] = "{" + ", ".join(map(str, choices)) + "}"
        return choices[0]

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False) -> float:
        kind = " log" if log else (f" step {step}" if step else "")
        self.params[name] = f"[{low}, {high}]{kind}"
        return low

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        self.params[name] = f"{low}..{high}" + (" log" if log else (f" step {step}" if step != 1 else ""))
        return low


def describe_space(plugin: Any) -> dict[str, str]:
    """Param name → range, as ``plugin.space`` suggests them (first branch of conditionals)."""
    space = getattr(plugin, "space", None)
    if space is None:
        return {}
    recorder = SpaceRecorder()
    space(recorder)
    return recorder.params
