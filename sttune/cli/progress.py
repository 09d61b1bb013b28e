"""What a running command shows: the epoch bar of ``train``, and the live view of ``search``.

The search's view keeps its lines for what is final: exactly one line per finished trial
(done, stopped early, reused, failed), notices, and a closing summary. What changes (which
trial is preparing or at which epoch, the ETA, the best so far, the Pareto front's size) lives
in a status area that rich redraws in place on a terminal and removes at the end; piped to a
file there is no status area at all, so the file holds no bars and no half-drawn lines.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from sttune.training.listener import TrainListener


class EpochProgress(TrainListener):
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

    def on_prepare_start(self, strategy: str) -> None:
        self.progress.update(self.task, status=f"preparing {strategy}")

    def on_epoch(self, record: Any) -> None:  # EpochRecord
        self.update(record)

    def update(self, record: Any) -> None:  # EpochRecord
        status = f"val MAE {record.val_mae:.4f} · {record.device_seconds:.1f} device s"
        self.progress.update(self.task, advance=1, status=status)


class VerifyProgress:
    """What an export shows while it verifies: a line per re-timing (or reuse) and a transient
    bar over the lockstep's epochs (nothing of the bar is left in a piped log)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(TextColumn("re-timing"), BarColumn(), MofNCompleteColumn(), TextColumn("epochs"),
                                 TimeElapsedColumn(), console=console, transient=True)
        self.task: Any = None

    def __enter__(self) -> VerifyProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.progress.__exit__(kind, exc, tb)

    def notice(self, message: str) -> None:
        self.console.print(message, style="dim", highlight=False, markup=False, soft_wrap=True)
        if self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None

    def epoch_done(self, done: int, total: int) -> None:
        if self.task is None:
            self.task = self.progress.add_task("verify", total=total)
        self.progress.update(self.task, completed=done)


def duration(seconds: float) -> str:
    """``1h02m``, ``4m05s`` or ``12s``."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def trial_line(record: Any) -> str:  # TrialRecord
    """The one line a finished trial gets: number, label, val MAE, device seconds, what happened."""
    head = f"trial {record.number:>3} {record.label:<32}"
    if record.state == "FAIL":
        return f"{head} failed: {' '.join(str(record.reason).split())}"
    numbers = f" val MAE {record.val_mae:.4f} {record.cost_seconds:8.2f} device s"
    if record.reused_from is not None:
        return f"{head}{numbers}  reused trial {record.reused_from}'s result (same job)"
    if record.derived_from is not None:
        epochs = record.result.epochs_run if record.result else 0
        return f"{head}{numbers}  read off trial {record.derived_from}'s first {epochs} epochs (no training)"
    if record.state == "PRUNED":
        epochs = record.result.epochs_run if record.result else 0
        return f"{head}{numbers}  stopped early " + (f"after epoch {epochs}" if epochs else "in preparation")
    return f"{head}{numbers}  done{cache_note(record)}"


def cache_note(record: Any) -> str:  # TrialRecord
    """Where a strategy reused work cached by an earlier trial or run (STemDist's distilled set),
    say so on the trial's line, with what the trial was charged for it."""
    artifacts = record.result.artifacts if record.result is not None else {}
    notes = []
    for name, info in (artifacts or {}).items():
        if isinstance(info, dict) and info.get("cache_hit"):
            build = info.get("distill_seconds")
            notes.append(f"{name} reused a cached build" + (f" (charged its recorded {build:.1f} s)"
                                                             if isinstance(build, int | float) else ""))
    return f" · {'; '.join(notes)}" if notes else ""


@dataclass
class _Study:
    """What the view knows of the study it shows: this run's trials, and what is running."""

    label: str = ""
    done_before: int = 0  # new results earlier runs left
    total: int | None = None
    started: float = field(default_factory=time.monotonic)
    finished: list[Any] = field(default_factory=list)  # TrialRecord
    running: dict[int, str] = field(default_factory=dict)  # trial number -> status
    epochs: dict[int, int] = field(default_factory=dict)


class SearchProgress:
    """The live view of ``sttune search`` (a :class:`sttune.tuning.events.SearchEvents`).

    ``live`` draws the status area (default: when the console is a terminal). ``budget``
    (search.budget, in full baselines) gives the ETA once the full baseline has finished;
    ``now`` is the wall clock the ETA reads (tests pass a fixed one).
    """

    def __init__(self, console: Console, trials: int | None, budget: float | None = None,
                 live: bool | None = None, now: Callable[[], float] = time.monotonic) -> None:
        self.console, self.trials, self.budget, self._now = console, trials, budget, now
        self.study = _Study(total=trials, started=now())
        self.live = Live(console=console, transient=True, auto_refresh=True, refresh_per_second=2, redirect_stdout=False,
                         get_renderable=self._status) if (console.is_terminal if live is None else live) else None
        self.lines = 0  # trial lines printed (tests count them)

    def __enter__(self) -> SearchProgress:
        if self.live is not None:
            self.live.start()
        return self

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.live is not None:
            self.live.stop()  # transient: the status area goes, the trial lines stay

    # the events (sttune.tuning.events.SearchEvents)
    def study_started(self, label: str, done: int, total: int | None) -> None:
        if label != self.study.label:
            self.study = _Study(label, done, total, self._now())
        self.study.done_before, self.study.total = done - self._new_work(), total

    def trial_started(self, number: int, epochs: int) -> None:
        self.study.running[number], self.study.epochs[number] = "starting", epochs

    def trial_preparing(self, number: int, strategy: str) -> None:
        self.study.running[number] = f"preparing {strategy}"

    def epoch(self, record: Any) -> None:  # EpochRecord
        for number in self.study.running:  # inline trials run one at a time in this process
            n = self.study.epochs.get(number)
            self.study.running[number] = (f"epoch {record.epoch + 1}" + (f" of {n}" if n else "")
                                          + f" · val MAE {record.val_mae:.4f}")

    def trial_finished(self, record: Any) -> None:  # TrialRecord
        self.study.running.pop(record.number, None)
        self.study.finished.append(record)
        self._print(trial_line(record))
        self.lines += 1

    def notice(self, message: str) -> None:
        self._print(message)

    # what the view derives
    def _new_work(self) -> int:
        """This run's trials that count towards search.trials (not failed, not reused)."""
        return sum(1 for r in self.study.finished if r.state != "FAIL" and r.trained)

    def best(self) -> Any | None:
        done = [r for r in self.study.finished if r.state == "COMPLETE" and math.isfinite(r.val_mae)]
        return min(done, key=lambda r: r.val_mae) if done else None

    def front_size(self) -> int:
        from sttune.outcome.select import pareto_front

        return len(pareto_front([r for r in self.study.finished if r.state == "COMPLETE" and r.feasible]))

    def fraction_done(self) -> float | None:
        """How far the search is, by its trial count or by its budget, whichever is further."""
        s = self.study
        fractions = []
        if s.total:
            fractions.append((s.done_before + self._new_work()) / s.total)
        if self.budget:
            from sttune.tuning import records as rec

            base = rec.full_baseline(s.finished)
            if base is not None and base.cost_seconds > 0:
                fractions.append(rec.spent_seconds(s.finished) / (self.budget * base.cost_seconds))
        return min(1.0, max(fractions)) if fractions else None

    def eta(self) -> float | None:
        """Wall seconds left: this run's time per unit of progress it made, times what is left."""
        fraction, s = self.fraction_done(), self.study
        if fraction is None:
            return None
        made = fraction - (s.done_before / s.total if s.total else 0.0)  # earlier runs set no pace
        return (self._now() - s.started) * (1 - fraction) / made if made > 0 else None

    def status_line(self) -> str:
        s, best, eta = self.study, self.best(), self.eta()
        count = f"{s.done_before + self._new_work()}" + (f" of {s.total}" if s.total else "") + " trials"
        parts = [f"{s.label}: {count}" if s.label else count]
        if best is not None:
            parts.append(f"best val MAE {best.val_mae:.4f} (trial {best.number})")
        parts.append(f"Pareto front {self.front_size()}")
        if eta is not None:
            parts.append(f"ETA {duration(eta)}")
        return " · ".join(parts)

    def summary_lines(self) -> list[str]:
        """The closing lines of the search part: what ran, the best trial, the front."""
        s = self.study.finished
        kinds = {"done": sum(1 for r in s if r.state == "COMPLETE" and r.trained),
                 "stopped early": sum(1 for r in s if r.state == "PRUNED"),
                 "reused": sum(1 for r in s if r.reused_from is not None),
                 "read off the baseline": sum(1 for r in s if r.derived_from is not None),
                 "failed": sum(1 for r in s if r.state == "FAIL")}
        line = f"{len(s)} trials this run: " + ", ".join(f"{n} {k}" for k, n in kinds.items()
                                                           if n or k != "read off the baseline")
        best = self.best()
        lines = [line]
        if best is not None:
            lines.append(f"best val MAE {best.val_mae:.4f} (trial {best.number}, {best.label}); "
                         f"Pareto front {self.front_size()} trials")
        return lines

    def _status(self) -> Group:
        rows = [Text(f"trial {n:>3} · {status}", style="cyan") for n, status in sorted(self.study.running.items())]
        return Group(*rows, Text(self.status_line(), style="dim"))

    def _print(self, line: str) -> None:
        # soft_wrap: one line stays one line in a file at any width
        self.console.print(line, highlight=False, markup=False, soft_wrap=True)


def final_summary(console: Console, progress: SearchProgress | None, exports: Sequence[Any], run_dir: Any,
                  warnings: Sequence[str] = (), program: str = "sttune") -> None:
    """The search's last words: what ran, a warning per dataset whose best trial does not beat
    its naive forecasts, each exported file with its verified speed-up, and the commands to run
    next (as ``program``, the command the user ran: :func:`sttune.cli.common.program`)."""
    lines = progress.summary_lines() if progress is not None else []
    lines += [f"warning: {w}" for w in warnings]
    for e in exports:
        figure = (f"verified speed-up {e.verified.text()}"
                  + (f", {e.verified.caveat()}" if e.verified.caveat() else "")
                  if e.verified is not None
                  else f"speed-up {e.speedup_text}" if e.baseline else "no full baseline to compare with")
        if e.baseline is not None and e.chosen.number == e.baseline.number:
            figure = "the full baseline itself: no trial was faster within the tolerance"
        lines.append(f"{e.dataset}: exported {e.recipe_path} (trial {e.chosen.number}, {e.chosen.label}), {figure}")
    if exports:
        lines.append("next: " + " · ".join(f"{program} train {e.recipe_path}" for e in exports)
                     + f" · {program} report {run_dir}")
    else:
        lines.append(f"next: {program} export {run_dir} · {program} report {run_dir}")
    for line in lines:
        style = "yellow" if line.startswith("warning: ") else None
        console.print(line, highlight=False, markup=False, soft_wrap=True, style=style)
