"""What a training run tells whoever watches it: the typed listener :meth:`Trainer.fit` takes.

A listener subclasses :class:`TrainListener` and overrides the events it cares about; every
event has a do-nothing default, so a progress bar overrides ``on_epoch`` alone. ``on_epoch``
and ``on_checkpoint`` may raise :class:`sttune.api.StopTraining` to end the run there.

Preparation checkpoints cost a validation pass each, so a strategy computes them only when
someone may stop the run at them: :attr:`TrainListener.wants_prepare_checkpoints` says so
(the search's early stopping does; a progress display does not).
"""

from __future__ import annotations

from collections.abc import Callable

from sttune.training.result import EpochRecord, PrepareCheckpoint


class TrainListener:
    """Hears a run's events, in this order: ``on_prepare_start`` once per strategy (before its
    ``prepare`` hook), ``on_checkpoint`` for each preparation checkpoint the hook reports,
    ``on_epoch`` after every epoch, and ``on_stop`` when the run ends before its last epoch."""

    @property
    def wants_prepare_checkpoints(self) -> bool:
        """Whether preparation checkpoints are worth computing (this listener may stop at them)."""
        return False

    def on_prepare_start(self, strategy: str) -> None:
        """``strategy``'s ``prepare`` hook starts (distillation may take a while: say "preparing")."""

    def on_checkpoint(self, record: PrepareCheckpoint) -> None:
        """A strategy's preparation reached a checkpoint; may raise StopTraining."""

    def on_epoch(self, record: EpochRecord) -> None:
        """An epoch finished and was validated; may raise StopTraining."""

    def on_stop(self, reason: str) -> None:
        """The run ended before its last epoch: ``reason`` is the result's ``stop_reason``."""


def listens_to_prepare(listener: TrainListener | None) -> bool:
    """Whether the run should compute preparation checkpoints for ``listener``."""
    return listener is not None and listener.wants_prepare_checkpoints


class EpochCallback(TrainListener):
    """A listener made of one function called with each epoch's :class:`EpochRecord` (the
    Python API's ``on_epoch=``); like ``on_epoch`` it may raise StopTraining."""

    def __init__(self, on_epoch: Callable[[EpochRecord], None]) -> None:
        self._on_epoch = on_epoch

    def on_epoch(self, record: EpochRecord) -> None:
        self._on_epoch(record)
