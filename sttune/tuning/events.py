"""What a running search tells its display: the events protocol, and a display that shows nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from sttune.tuning import records as rec


class SearchEvents(Protocol):
    """What a progress display hears from a running study."""

    def study_started(self, label: str, done: int, total: int | None) -> None: ...
    def trial_started(self, number: int, epochs: int) -> None: ...
    def trial_preparing(self, number: int, strategy: str) -> None:
        """``strategy``'s ``prepare`` hook started in trial ``number`` (no epoch yet)."""
    def epoch(self, record: Any) -> None: ...
    def trial_finished(self, record: rec.TrialRecord) -> None: ...
    def notice(self, message: str) -> None:
        """A one-line note for the user (e.g. which worker got which CUDA device)."""


class NullEvents:
    """Events that display nothing (workers, scripts)."""

    def study_started(self, label: str, done: int, total: int | None) -> None: ...
    def trial_started(self, number: int, epochs: int) -> None: ...
    def trial_preparing(self, number: int, strategy: str) -> None:
        """``strategy``'s ``prepare`` hook started in trial ``number`` (no epoch yet)."""
    def epoch(self, record: Any) -> None: ...
    def trial_finished(self, record: rec.TrialRecord) -> None: ...
    def notice(self, message: str) -> None: ...


class TrialCallback(NullEvents):
    """Events that pass each finished trial's record to a function (``sttune.search(progress=print)``)."""

    def __init__(self, on_trial: Callable[[rec.TrialRecord], None]) -> None:
        self.on_trial = on_trial

    def trial_finished(self, record: rec.TrialRecord) -> None:
        self.on_trial(record)
