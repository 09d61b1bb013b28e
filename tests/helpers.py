"""Small builders shared by the core tests (no plugin imports)."""

from __future__ import annotations

import numpy as np

from sttune.api import STSeries


def ring_series(n_steps: int = 400, n_nodes: int = 6, n_channels: int = 1, seed: int = 0) -> STSeries:
    """A daily sine per node plus noise on a ring graph; 2% of readings missing (0)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_steps)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, size=(1, n_nodes, 1))
    values = 50 + 10 * np.sin(2 * np.pi * t / 48 + phase) + rng.normal(0, 1, (n_steps, n_nodes, n_channels))
    values[rng.random(values.shape) < 0.02] = 0
    adj = np.eye(n_nodes, k=1) + np.eye(n_nodes, k=-1)
    adj[0, -1] = adj[-1, 0] = 1
    return STSeries("ring", values.astype(np.float32), adj.astype(np.float32), steps_per_day=48)


import torch
from torch import Tensor, nn

from sttune.api import Graph, ModelSpec, STModel


class TinyModel(STModel):
    """A per-node linear map of the input window: the smallest model that runs on subsets."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        self.proj = nn.Linear(spec.in_len, spec.out_len)
        self.node_bias = nn.Parameter(torch.zeros(spec.n_nodes))

    def forward(self, x: Tensor, nodes=None, node_inputs=None, graph: Graph | None = None) -> Tensor:
        bias = self.node_bias if nodes is None else self.node_bias[nodes]
        out = self.proj(x[..., 0].transpose(1, 2)) + bias[:, None]  # [B, N_b, out_len]
        return out.transpose(1, 2)


class ManualClock:
    """A time source that moves only when told to (``advance``), for exact accounting tests.

    ``tick`` is added on every read, so code that times an empty section still sees time pass.
    """

    def __init__(self, tick: float = 0.0) -> None:
        self.now_s = 0.0
        self.tick = tick

    def advance(self, seconds: float) -> None:
        self.now_s += seconds

    def __call__(self) -> float:
        self.now_s += self.tick
        return self.now_s


def trial_record(number, seconds, val_mae, test_mae=None, role="search", fraction=1.0, strategy="st_prune",
                 state="COMPLETE", feasible=True, model="stid"):
    """A :class:`~sttune.tuning.records.TrialRecord` built directly (no study, no training).

    ``test_mae`` defaults to a value that ranks trials the *opposite* way to ``val_mae``
    (``100 - val_mae``), so any code that selects on test MAE instead of val MAE picks differently.
    """
    from sttune.recipe.settings import Protocol, TrainConfig
    from sttune.recipe.spec import DatasetBlock
    from sttune.training.jobs import Job
    from sttune.tuning.records import TrialRecord

    strategies = [] if role == "baseline" else [(strategy, {})]
    job = Job(DatasetBlock("synthetic"), Protocol(), model, {}, strategies, TrainConfig())
    test = 100.0 - val_mae if test_mae is None else test_mae
    result = train_result(val_mae, seconds, test_mae=test)
    return TrialRecord(number, state, role, fraction, job, result, None, feasible)


def train_result(val_mae, seconds, test_mae=None, stop_reason="budget", epochs_run=1, peak_mib=1.0, **fields):
    """A real :class:`~sttune.training.result.TrainResult` with the given metrics (no training);
    ``fields`` set any other of its fields (cost_seconds = seconds + charged_prepare_seconds)."""
    from sttune.training.result import EpochRecord, TrainResult

    charged = fields.get("charged_prepare_seconds", 0.0)
    default = [EpochRecord(e, 1.0, val_mae, seconds * (e + 1) / epochs_run, 10, charged) for e in range(epochs_run)]
    curve = fields.pop("curve", default)
    return TrainResult(
        val={"mae": val_mae}, test={"mae": val_mae + 1 if test_mae is None else test_mae},
        device_seconds=seconds, prepare_seconds=fields.pop("prepare_seconds", charged),
        charged_prepare_seconds=fields.pop("charged_prepare_seconds", 0.0),
        peak_memory_bytes=int(peak_mib * 2**20), memory_kind="cpu_peak_rss", epochs_run=epochs_run,
        best_epoch=max(epochs_run - 1, 0), curve=curve, device="cpu", n_train_windows=10,
        n_prepared_windows=10, stop_reason=stop_reason, **fields,
    )


def finish_trial(study, state: str = "COMPLETE", attrs: dict | None = None, values=(1.0, 1.0),
                 constraints: dict | None = None) -> int:
    """Ask a trial, set its user attrs and constraints, and tell it ``state``; its number."""
    import optuna

    trial = study.ask()
    for key, value in (attrs or {}).items():
        trial.set_user_attr(key, value)
    for name, value in (constraints or {}).items():
        trial.set_constraint(name, value)
    if state == "COMPLETE":
        study.tell(trial, list(values))
    else:
        study.tell(trial, state=getattr(optuna.trial.TrialState, state))
    return trial.number


from sttune.api import StopTraining  # noqa: E402
from sttune.training.listener import TrainListener  # noqa: E402


class Heard(TrainListener):
    """A listener that writes down every event as (kind, payload); it wants preparation
    checkpoints when ``checkpoints``, and stops the run at the first event whose kind is ``stop_at``."""

    def __init__(self, checkpoints: bool = True, stop_at: str | None = None) -> None:
        self.checkpoints, self.stop_at, self.events = checkpoints, stop_at, []

    @property
    def wants_prepare_checkpoints(self) -> bool:
        return self.checkpoints

    def _hear(self, kind: str, payload) -> None:
        self.events.append((kind, payload))
        if kind == self.stop_at:
            raise StopTraining(f"stopped at the {kind}")

    def on_prepare_start(self, strategy: str) -> None:
        self._hear("prepare_start", strategy)

    def on_checkpoint(self, record) -> None:
        self._hear("checkpoint", record)

    def on_epoch(self, record) -> None:
        self._hear("epoch", record)

    def on_stop(self, reason: str) -> None:
        self._hear("stop", reason)

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]
