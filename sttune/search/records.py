"""What each trial stores on itself (user attrs), and reading it back.

A trial's user attrs hold its whole fixed job and its result, so the study alone rebuilds
any trial: export and report never need the process that ran it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import optuna

from sttune.config import Protocol, TrainConfig
from sttune.recipe import DatasetBlock
from sttune.runner import Job
from sttune.schema import parse_dataclass
from sttune.search.space import BUDGET, ROLE

JOB = "sttune.job"
RESULT = "sttune.result"
REASON = "sttune.fail_reason"
TRACEBACK = "sttune.traceback"
STOPPED_VALUES = "sttune.stopped_values"  # objective values when early stopping ended a trial
REUSED = "sttune.reused_from"  # the trial whose result this one took (search.reuse_results)
DATASET = "sttune.dataset"  # study user attr: the dataset label the study searches


def dataset_label(study: optuna.Study) -> str:
    """The dataset label a study was prepared for; the study's name when it has none."""
    return str(study.user_attrs.get(DATASET, study.study_name))


def job_to_attr(job: Job) -> dict[str, Any]:
    return {
        "dataset": asdict(job.dataset), "protocol": asdict(job.protocol), "model": job.model_name,
        "model_params": job.model_params, "strategies": [[n, p] for n, p in job.strategies],
        "train": asdict(job.train),
    }


def job_from_attr(data: dict[str, Any]) -> Job:
    return Job(
        dataset=parse_dataclass(DatasetBlock, data["dataset"]),
        protocol=parse_dataclass(Protocol, data["protocol"]),
        model_name=data["model"], model_params=dict(data["model_params"]),
        strategies=[(n, dict(p)) for n, p in data["strategies"]],
        train=parse_dataclass(TrainConfig, data["train"]),
    )


def result_to_attr(result: Any) -> dict[str, Any]:  # TrainResult
    """The JSON-ready summary stored on a trial (the curve kept short)."""
    keep = ("val", "test", "device_seconds", "prepare_seconds", "charged_prepare_seconds",
            "peak_memory_bytes", "memory_kind", "epochs_run", "best_epoch", "device",
            "n_train_windows", "n_prepared_windows", "stop_reason", "artifacts", "overhead_seconds",
            "work", "clock", "cpu_threads", "missing", "notes", "deployment")
    data = result.to_dict()
    out = {k: data[k] for k in keep if k in data}
    out["cost_seconds"] = result.cost_seconds
    out["curve"] = [[r.epoch, r.val_mae, r.device_seconds, r.windows, r.epochs_ahead, r.window_nodes, r.batches]
                    for r in result.curve]
    return out


CURVE_COLUMNS = ("epoch", "val_mae", "device_seconds", "windows", "epochs_ahead", "window_nodes", "batches")


def curve_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """A stored curve as dicts; columns a result stored before they existed are None."""
    return [dict(zip(CURVE_COLUMNS, [*row, *[None] * (len(CURVE_COLUMNS) - len(row))])) for row in result.get("curve", [])]


@dataclass(frozen=True)
class TrialRecord:
    """One finished (or failed) trial, read back from the study."""

    number: int
    state: str
    role: str
    budget: float
    job: Job | None
    result: dict[str, Any] | None
    reason: str | None
    feasible: bool = True  # every constraint (e.g. search.max_mae_increase) holds
    reused_from: int | None = None  # took this trial's result instead of training (cost nothing)

    @property
    def val_mae(self) -> float:
        return float(self.result["val"]["mae"]) if self.result else float("nan")

    @property
    def test_mae(self) -> float:
        return float(self.result["test"]["mae"]) if self.result else float("nan")

    @property
    def cost_seconds(self) -> float:
        return float(self.result["cost_seconds"]) if self.result else float("nan")

    @property
    def search_seconds(self) -> float:
        """What the trial cost the search: its objective's seconds plus the search's own overhead."""
        if not self.result:
            return float("nan")
        return self.cost_seconds + float(self.result.get("overhead_seconds", 0.0))

    @property
    def work_units(self) -> float | None:
        """The trial's charged load-free work in full-graph windows (None: stored before work existed)."""
        work = (self.result or {}).get("work") or {}
        return float(work["units"]) if "units" in work else None

    @property
    def label(self) -> str:
        """A short name: 'baseline 50%', or the strategies with the model."""
        if self.role == "baseline":
            return "baseline" if self.budget >= 1 else f"baseline {self.budget:.0%}"
        if self.job is None:
            return "?"
        names = "+".join(n for n, _ in self.job.strategies) or "plain"
        return f"{names} ({self.job.model_name})"


def read_trial(trial: optuna.trial.FrozenTrial) -> TrialRecord:
    attrs = trial.user_attrs
    job = job_from_attr(attrs[JOB]) if JOB in attrs else None
    return TrialRecord(
        number=trial.number, state=trial.state.name, role=attrs.get(ROLE, "search"),
        budget=float(attrs.get(BUDGET, 1.0)), job=job, result=attrs.get(RESULT),
        reason=attrs.get(REASON), feasible=all(c <= 0 for c in (trial.constraints or {}).values()),
        reused_from=attrs.get(REUSED),
    )


def finished_records(study: optuna.Study) -> list[TrialRecord]:
    """Completed trials with results (PRUNED ones with results too), in trial order."""
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return [read_trial(t) for t in study.get_trials(deepcopy=False, states=states) if RESULT in t.user_attrs]


def full_baseline(records: list[TrialRecord]) -> TrialRecord | None:
    """The completed no-strategy trial at the full budget (the reference of speed-ups)."""
    for record in records:
        if record.role == "baseline" and record.budget >= 1 and record.state == "COMPLETE":
            return record
    return None


def spent_seconds(records: list[TrialRecord]) -> float:
    """What the search has cost so far: the search seconds (objective plus the search's own
    overhead) of every finished trial that trained; one that reused another's result adds 0."""
    return sum(r.search_seconds for r in records if r.reused_from is None and math.isfinite(r.search_seconds))
