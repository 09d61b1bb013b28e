"""Small builders shared by the core tests (no plugin imports)."""

from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from torch import Tensor, nn

from sttune.api import Graph, ModelSpec, STModel, StopTraining, STSeries
from sttune.data.protocol import DataModule, build_data
from sttune.errors import DataError
from sttune.recipe.settings import Protocol, TrainConfig
from sttune.training.listener import TrainListener
from sttune.training.result import TrainResult
from sttune.training.trainer import Trainer


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


def ring_data(n_steps: int = 400, n_nodes: int = 6, protocol: Protocol = Protocol(12, 12)) -> DataModule:
    """:func:`ring_series` windowed by ``protocol`` (12 in, 12 out): what the trainer tests train on."""
    return build_data(ring_series(n_steps, n_nodes), protocol)


def fit(data: DataModule, strategies=(), listener=None, *, model=None, now=None, cache_dir: Path | None = None,
        **config) -> TrainResult:
    """Train on CPU with batches of 32 for 2 epochs (``config`` sets any other TrainConfig field);
    the model is a :class:`TinyModel` unless ``model`` (a no-argument factory) says otherwise."""
    train = TrainConfig(**{"epochs": 2, "batch_size": 32, "device": "cpu", **config})
    trainer = Trainer(train, now=now) if cache_dir is None else Trainer(train, cache_dir, now=now)
    return trainer.fit(model or (lambda: TinyModel(data.spec)), data, list(strategies), listener)


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
                 state="COMPLETE", feasible=True, model="stid", job=None, **fields):
    """A :class:`~sttune.tuning.records.TrialRecord` built directly (no study, no training).

    ``test_mae`` defaults to a value that ranks trials the *opposite* way to ``val_mae``
    (``100 - val_mae``), so any code that selects on test MAE instead of val MAE picks differently.
    The job is ``model`` with ``strategy`` (none for a baseline) unless ``job`` is given; ``fields``
    go to :func:`train_result` (a curve, work, ...).
    """
    from sttune.recipe.spec import DatasetBlock
    from sttune.training.jobs import Job
    from sttune.tuning.records import TrialRecord

    if job is None:
        strategies = [] if role == "baseline" else [(strategy, {})]
        job = Job(DatasetBlock("synthetic"), Protocol(), model, {}, strategies, TrainConfig())
    test = 100.0 - val_mae if test_mae is None else test_mae
    result = train_result(val_mae, seconds, test_mae=test, **fields)
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


# --------------------------------------------------------------------------- data files


def write_pandas_h5(path: Path, values: np.ndarray, columns: list[str], start: str, minutes: int,
                    unit: str = "ns") -> None:
    """Write [T, N] values the way ``df.to_hdf(path, key="df")`` (fixed format) lays them out.

    unit "ns" gives the index kind "datetime64" (files written before pandas 2, e.g. metr-la.h5);
    other units give "datetime64[<unit>]" as pandas >= 2 writes them.
    """
    labels = np.array([c.encode() for c in columns])
    stamps = pd.date_range(start, periods=len(values), freq=f"{minutes}min").as_unit(unit).asi8
    index_kind = b"datetime64" if unit == "ns" else f"datetime64[{unit}]".encode()
    with h5py.File(path, "w") as f:
        g = f.create_group("df")
        for k, v in {"pandas_type": b"frame", "pandas_version": b"0.15.2", "encoding": b"UTF-8",
                     "ndim": 2, "nblocks": 1, "axis0_variety": b"regular", "axis1_variety": b"regular"}.items():
            g.attrs[k] = v
        for name, data, kind in [("axis0", labels, b"string"), ("axis1", stamps, index_kind),
                                 ("block0_items", labels, b"string")]:
            ds = g.create_dataset(name, data=data)
            ds.attrs["kind"], ds.attrs["name"] = kind, b"N."
        g.create_dataset("block0_values", data=values).attrs["transposed"] = 1


def write_adj_pickle(path: Path, ids: list[str], adj: np.ndarray) -> None:
    """A DCRNN ``adj_mx.pkl``: [ids, id -> index, adjacency]."""
    with path.open("wb") as f:
        pickle.dump([ids, {s: i for i, s in enumerate(ids)}, adj.astype(np.float32)], f, protocol=2)


def raises_data_error(match: str, fn, *args, **kwargs) -> DataError:  # type: ignore[no-untyped-def]
    """``fn(*args, **kwargs)`` raises a DataError matching ``match``, with a hint; that error."""
    with pytest.raises(DataError, match=match) as info:
        fn(*args, **kwargs)
    assert info.value.hint, "every DataError carries a how-to-fix hint"
    return info.value


# the smallest recipe that trains a strategy end to end (the hostile-input and property tests)
TINY_RECIPE = {
    "name": "tiny",
    "datasets": [{"name": "synthetic", "params": {"n_nodes": 8, "n_days": 3, "steps_per_day": 48, "seed": 1}}],
    "protocol": {"in_len": 6, "out_len": 3},
    "model": {"name": "stid", "params": {"embed_dim": 8, "n_layers": 1}},
    "train": {"epochs": 1, "batch_size": 32, "device": "cpu", "seed": 0},
    "strategies": [{"name": "dynst", "params": {"s_final": 0.5}}],
}
