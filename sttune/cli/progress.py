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


class SearchProgress:
    """Two bars: trials of the current study, and epochs of the current trial."""

    def __init__(self, console: Console, trials: int | None) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=console, transient=False,
        )
        self.trials = self.progress.add_task("trials", total=trials, status="")
        self.epochs = self.progress.add_task("epochs", total=1, status="", visible=False)

    def __enter__(self) -> SearchProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.progress.__exit__(kind, exc, tb)

    def study_started(self, label: str, done: int, total: int | None) -> None:
        self.progress.update(self.trials, description=f"{label} trials", completed=done, total=total, status="")

    def trial_started(self, number: int, epochs: int) -> None:
        self.progress.update(self.epochs, description=f"trial {number}", total=epochs, completed=0, visible=True, status="")

    def epoch(self, record) -> None:  # EpochRecord
        status = f"val MAE {record.val_mae:.4f} · {record.device_seconds:.1f} s"
        self.progress.update(self.epochs, advance=1, status=status)

    def notice(self, message: str) -> None:
        self.console.print(message, highlight=False, markup=False)

    def trial_finished(self, record) -> None:  # TrialRecord
        self.progress.update(self.epochs, visible=False)
        if record.state != "FAIL" and record.reused_from is None:  # only new work fills search.trials
            self.progress.update(self.trials, advance=1)
        if record.state == "FAIL":
            self.console.print(f"[yellow]trial {record.number} failed:[/] {record.reason}", highlight=False)
        elif record.result:
            self.console.print(
                f"trial {record.number:>3} {record.label:<32} val MAE {record.val_mae:.4f}"
                f"  {record.cost_seconds:7.2f} device s"
                + (f"  (same job as trial {record.reused_from}: result reused)" if record.reused_from is not None else ""),
                highlight=False,
            )
