"""Rich progress bars for epochs (and, in searches, trials)."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class EpochProgress:
    """An epoch bar showing validation MAE and device seconds; silent when disabled."""

    def __init__(self, epochs: int, console: Console, enabled: bool = True, label: str = "training") -> None:
        self.enabled = enabled
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
            console=console, transient=True, disable=not enabled,
        )
        self.task = self.progress.add_task(label, total=epochs, status="")

    def __enter__(self) -> EpochProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.progress.__exit__(kind, exc, tb)

    def update(self, record) -> None:  # record: EpochRecord
        status = f"val MAE {record.val_mae:.4f} · {record.device_seconds:.1f} device s"
        self.progress.update(self.task, advance=1, status=status)
