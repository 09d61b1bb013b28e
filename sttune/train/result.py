"""What one training run returns, as plain JSON-ready data."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


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
    # the epochs after this one in units of this epoch's planned work (sttune.train.plan); the
    # trainer always sets it, None only in results stored before plans existed
    epochs_ahead: float | None = None
    window_nodes: int = 0  # load-free work of this epoch (sttune.train.work): windows × nodes, extras included
    batches: int = 0
    extra_window_nodes: int = 0  # the strategies' own passes (ctx.add_work), inside window_nodes

    @property
    def cost_seconds(self) -> float:
        """Device time so far as a search charges it: training plus charged preparation."""
        return self.device_seconds + self.charged_prepare_seconds


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
    stop_reason: str = "budget"
    artifacts: dict[str, Any] = field(default_factory=dict)
    # device seconds of work done only because a search listened (a preparation checkpoint's
    # val MAE): part of the search's cost, not of the trial's objective (cost_seconds)
    overhead_seconds: float = 0.0
    # load-free work (sttune.train.work): window_nodes (training passes), prepare_window_nodes,
    # charged_prepare_window_nodes, units (charged work in full-graph windows, the model's node
    # cost exponent applied), n_nodes, node_cost_exponent; {} in results stored before it existed
    work: dict[str, Any] = field(default_factory=dict)
    clock: str = ""  # what device_seconds were read from: "process", "wall" or "cuda-sync"
    cpu_threads: int | None = None  # torch's intra-op threads during the run (CPU device)
    missing: str = ""  # the dataset's missing-value policy (protocol.missing); "" in older results
    notes: list[str] = field(default_factory=list)  # e.g. why MAPE is left out of val/test
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
        out = dataclasses.asdict(self)
        out.update(val_mae=self.val_mae, test_mae=self.test_mae, cost_seconds=self.cost_seconds)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainResult:
        names = {f.name for f in dataclasses.fields(cls)}
        kept = {k: v for k, v in data.items() if k in names}
        kept["curve"] = [EpochRecord(**r) for r in kept.get("curve", [])]
        return cls(**kept)
