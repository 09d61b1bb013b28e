"""What one training run returns, and its one plain (JSON-ready) form.

:meth:`TrainResult.to_plain` / :meth:`TrainResult.from_plain` are the only way a result is
stored on a trial (``sttune.result``) or sent from an isolated trial's process; reading
accepts every layout stored since the first release (see ``from_plain``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sttune.recipe.schema import to_plain
from sttune.training.work import WorkSummary

RAN_ALL_EPOCHS = "budget"  # the stop_reason of a run that trained every epoch (the stored value)

# The stored curve: one row (a list) per epoch, in this column order; the charged preparation
# is the result's own. Rows stored before a column existed are shorter (layout 1: the first 5
# or 7 columns, no train loss): a column only ever goes on the end.
CURVE_COLUMNS = ("epoch", "val_mae", "device_seconds", "windows", "epochs_ahead", "window_nodes", "batches",
                 "train_loss", "extra_window_nodes")


@dataclass(frozen=True)
class PrepareCheckpoint:
    """A strategy's report from inside ``prepare`` (``TrainContext.checkpoint``)."""

    strategy: str
    index: int  # this strategy's 0th, 1st, ... checkpoint in this run
    val_mae: float
    seconds: float  # preparation device seconds so far (all strategies' prepare hooks)
    projected_seconds: float  # the trial's projected charge: preparation (charged) and training


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of the learning curve; ``device_seconds`` is cumulative training time."""

    epoch: int
    train_loss: float
    val_mae: float
    device_seconds: float
    windows: int  # training windows visited this epoch
    charged_prepare_seconds: float = 0.0  # the run's charged preparation (constant per run)
    # the epochs after this one in units of this epoch's planned work (sttune.training.plan); the
    # trainer always sets it, None only in results stored before plans existed
    epochs_ahead: float | None = None
    window_nodes: int = 0  # load-free work of this epoch (sttune.training.work): windows × nodes, extras included
    batches: int = 0
    extra_window_nodes: int = 0  # the strategies' own passes (ctx.add_work), inside window_nodes

    @property
    def cost_seconds(self) -> float:
        """Device time so far as a search charges it: training plus charged preparation."""
        return self.device_seconds + self.charged_prepare_seconds

    def row(self) -> list[Any]:
        """This epoch as a stored curve row (CURVE_COLUMNS)."""
        return [getattr(self, c) for c in CURVE_COLUMNS]

    @classmethod
    def from_row(cls, row: Sequence[Any] | Mapping[str, Any], charged_prepare_seconds: float) -> EpochRecord:
        """An epoch from a stored row (any layout) or a dict of its fields; a train loss stored
        before it was kept reads NaN."""
        values = dict(row) if isinstance(row, Mapping) else dict(zip(CURVE_COLUMNS, row))
        values.setdefault("train_loss", math.nan)
        values["charged_prepare_seconds"] = charged_prepare_seconds
        return cls(**values)


@dataclass
class TrainResult:
    """Metrics and costs of one run. Metrics are raw-unit dicts from MetricAccumulator."""

    val: dict[str, Any]
    test: dict[str, Any]
    device_seconds: float  # timed training loop, strategy overhead included
    prepare_seconds: float  # strategies' prepare hooks (e.g. distillation), timed apart
    charged_prepare_seconds: float  # the share of prepare_seconds this run is charged
    peak_memory_bytes: int
    memory_kind: str  # "cuda_max_allocated" or "cpu_peak_rss"
    epochs_run: int
    best_epoch: int
    curve: list[EpochRecord]
    device: str
    n_train_windows: int
    n_prepared_windows: int
    stop_reason: str = RAN_ALL_EPOCHS
    artifacts: dict[str, Any] = field(default_factory=dict)
    # device seconds of work done only because a search listened (a preparation checkpoint's
    # val MAE): part of the search's cost, not of the trial's objective (cost_seconds)
    overhead_seconds: float = 0.0
    # load-free work (sttune.training.work.WorkSummary); None in results stored before it existed
    # (stored as {})
    work: WorkSummary | None = None
    clock: str = ""  # what device_seconds were read from: "process", "wall" or "cuda-sync"
    cpu_threads: int | None = None  # torch's intra-op threads during the run (CPU device)
    missing: str = ""  # the dataset's missing-value policy (protocol.missing); "" in older results
    notes: list[str] = field(default_factory=list)  # e.g. why MAPE is left out of val/test
    # accuracy when only a strategy's kept sensors report (sttune.training.deploy): strategy,
    # n_sensors, n_kept, kept_sensors, and {val, test} metrics for all_sensors (dropped inputs
    # absent), kept_only and full_inputs_kept; {} when no strategy keeps a sensor subset
    deployment: dict[str, Any] = field(default_factory=dict)
    # the peak before training (the data's preparation and device copy; process-wide on a CPU,
    # imports included), kept apart from peak_memory_bytes (training); 0 in older results
    prepare_peak_memory_bytes: int = 0

    @property
    def val_mae(self) -> float:
        return float(self.val["mae"])

    @property
    def test_mae(self) -> float:
        return float(self.test["mae"])

    @property
    def cost_seconds(self) -> float:
        """The device time a search charges: training plus the charged preparation."""
        return self.device_seconds + self.charged_prepare_seconds

    def to_dict(self) -> dict[str, Any]:
        """For display (``sttune train --json``): every field, the curve as dicts, the derived
        metrics. Storing and sending use :meth:`to_plain`."""
        out = dataclasses.asdict(self)
        out.update(val_mae=self.val_mae, test_mae=self.test_mae, cost_seconds=self.cost_seconds)
        return out

    def to_plain(self) -> dict[str, Any]:
        """The stored and sent form: every field (the curve as short rows, see CURVE_COLUMNS)
        plus ``cost_seconds`` for readers of the raw attr; :meth:`from_plain` recomputes it."""
        out = to_plain(dataclasses.replace(self, curve=[], work=None))
        out["curve"] = [r.row() for r in self.curve]
        out["work"] = self.work.to_dict() if self.work is not None else {}
        out["cost_seconds"] = self.cost_seconds
        return out

    @classmethod
    def from_plain(cls, data: Mapping[str, Any]) -> TrainResult:
        """A result from :meth:`to_plain`'s form, or from any layout stored earlier: keys it
        does not know (the derived ``cost_seconds``) are left out, fields added since take their
        defaults, curve rows of any length (or dicts) are read by EpochRecord.from_row, and the
        work dict by WorkSummary.from_dict."""
        names = {f.name for f in dataclasses.fields(cls)}
        kept = {k: v for k, v in data.items() if k in names}
        charged = float(kept.get("charged_prepare_seconds", 0.0))
        kept["curve"] = [EpochRecord.from_row(r, charged) for r in kept.get("curve", [])]
        kept["work"] = WorkSummary.from_dict(kept.get("work"))
        return cls(**kept)


def prefix_result(result: TrainResult, epochs: int, source: str) -> TrainResult:
    """The plain model after its first ``epochs`` epochs, read off a longer run's curve (no
    training): the best validation MAE among them, their device seconds and work.

    The longer run's lr decays at its own milestones, so this is the plain model trained for
    ``epochs`` epochs only where no milestone falls before ``epochs`` in either run; otherwise it
    decays later than a run of ``epochs`` epochs would (docs/selection.md says by how much). Its
    test metrics and the val metrics other than MAE were never measured: NaN, not guessed.
    ``source`` names the run in the result's notes.
    """
    if not 1 <= epochs <= len(result.curve):
        raise ValueError(f"epochs must be from 1 to the run's {len(result.curve)} recorded epochs, got {epochs}")
    curve = list(result.curve[:epochs])
    best = min(range(epochs), key=lambda i: (not math.isfinite(curve[i].val_mae), curve[i].val_mae))
    work = result.work
    if work is not None:
        total = sum(r.window_nodes for r in result.curve) or 1
        done = sum(r.window_nodes for r in curve)
        work = dataclasses.replace(work, window_nodes=done, units=work.units * done / total)
    return dataclasses.replace(
        result, val={"mae": curve[best].val_mae}, test={"mae": math.nan}, device_seconds=curve[-1].device_seconds,
        epochs_run=epochs, best_epoch=curve[best].epoch, curve=curve, stop_reason=f"derived: {source}",
        overhead_seconds=0.0, work=work, deployment={}, artifacts={},
        notes=[*result.notes, f"derived from {source}: not trained; test metrics not measured"])
