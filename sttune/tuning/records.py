"""What each trial stores on itself (user attrs), and reading it back.

A trial's user attrs hold its whole fixed job and its result, so the study alone rebuilds
any trial: export and report never need the process that ran it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import optuna

from sttune.recipe.schema import parse_dataclass, to_plain
from sttune.training.jobs import Job
from sttune.training.result import TrainResult
from sttune.tuning.keys import DATASET, DERIVED, FRACTION, JOB, REASON, RESULT, REUSED, ROLE, STEER_PREFIX


def dataset_label(study: optuna.Study) -> str:
    """The dataset label a study was set up for; the study's name when it has none."""
    return str(study.user_attrs.get(DATASET, study.study_name))


# A trial's job and result are stored in their dataclasses' plain form (sttune.recipe.schema.to_plain
# for the Job, TrainResult.to_plain for the result) and read back through the same schema.
# Layout 1 (up to 2026-12) named the job's model "model" and kept no notes; its results had
# curve rows of 5 or 7 columns. Readers upgrade it here, in one place.


def job_to_attr(job: Job) -> dict[str, Any]:
    return to_plain(job)


def job_from_attr(data: dict[str, Any]) -> Job:
    if "model" in data and "model_name" not in data:  # layout 1
        data = {("model_name" if k == "model" else k): v for k, v in data.items()}
    return parse_dataclass(Job, data)


def result_to_attr(result: TrainResult) -> dict[str, Any]:
    """The JSON-ready result stored on a trial."""
    return result.to_plain()


def result_from_attr(data: dict[str, Any]) -> TrainResult:
    return TrainResult.from_plain(data)


def curve_rows(result: TrainResult | None) -> list[dict[str, Any]]:
    """A result's curve as dicts (EpochRecord's fields); [] without a result."""
    return [asdict(r) for r in result.curve] if result else []


@dataclass(frozen=True)
class TrialRecord:
    """One finished (or failed) trial, read back from the study."""

    number: int
    state: str
    role: str
    fraction: float  # a baseline's fraction of train.epochs (stored as sttune.budget)
    job: Job | None
    result: TrainResult | None
    reason: str | None
    feasible: bool = True  # every constraint (e.g. search.max_mae_increase) holds
    reused_from: int | None = None  # took this trial's result instead of training (cost nothing)
    derived_from: int | None = None  # a ladder rung read off this full baseline's curve (cost nothing)
    # the trial's work priced at the study's unit cost (sttune.outcome.pricing); None: not priced
    priced_seconds: float | None = None

    @property
    def val_mae(self) -> float:
        return self.result.val_mae if self.result else math.nan

    @property
    def test_mae(self) -> float:
        return self.result.test_mae if self.result else math.nan

    @property
    def cost_seconds(self) -> float:
        """The timed cost: training plus charged preparation, as the search's clock read it."""
        return self.result.cost_seconds if self.result else math.nan

    @property
    def compared_seconds(self) -> float:
        """The cost trials are compared on: the priced work where the study was priced (load
        cannot move it), else the timed cost."""
        return self.cost_seconds if self.priced_seconds is None else self.priced_seconds

    @property
    def trained(self) -> bool:
        """Whether the trial did new work (not a reused result, not a rung read off a curve)."""
        return self.reused_from is None and self.derived_from is None

    @property
    def search_seconds(self) -> float:
        """What the trial cost the search: its objective's seconds plus the search's own overhead
        (0 for a derived rung: its seconds are the full baseline's, already spent)."""
        if self.derived_from is not None:
            return 0.0
        return self.result.cost_seconds + self.result.overhead_seconds if self.result else math.nan

    @property
    def work_units(self) -> float | None:
        """The trial's charged load-free work in full-graph windows (None: stored before work existed)."""
        work = self.result.work if self.result else None
        return None if work is None else float(work.units)

    @property
    def label(self) -> str:
        """A short name: 'baseline 50%', or the strategies with the model."""
        if self.role == "baseline":
            return "baseline" if self.fraction >= 1 else f"baseline {self.fraction:.0%}"
        if self.job is None:
            return "?"
        names = "+".join(n for n, _ in self.job.strategies) or "plain"
        return f"{names} ({self.job.model_name})"


def read_trial(trial: optuna.trial.FrozenTrial) -> TrialRecord:
    attrs = trial.user_attrs
    job = job_from_attr(attrs[JOB]) if JOB in attrs else None
    return TrialRecord(
        number=trial.number, state=trial.state.name, role=attrs.get(ROLE, "search"),
        fraction=float(attrs.get(FRACTION, 1.0)), job=job,
        result=result_from_attr(attrs[RESULT]) if RESULT in attrs else None,
        reason=attrs.get(REASON), feasible=all(c <= 0 for k, c in (trial.constraints or {}).items() if not k.startswith(STEER_PREFIX)),
        reused_from=attrs.get(REUSED), derived_from=attrs.get(DERIVED),
    )


def finished_records(study: optuna.Study) -> list[TrialRecord]:
    """Completed trials with results (PRUNED ones with results too), in trial order."""
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return [read_trial(t) for t in study.get_trials(deepcopy=False, states=states) if RESULT in t.user_attrs]


def full_baseline(records: list[TrialRecord]) -> TrialRecord | None:
    """The completed no-strategy trial trained for all of train.epochs (the reference of speed-ups)."""
    for record in records:
        if record.role == "baseline" and record.fraction >= 1 and record.state == "COMPLETE":
            return record
    return None


def spent_seconds(records: list[TrialRecord]) -> float:
    """What the search has cost so far: the search seconds (objective plus the search's own
    overhead) of every finished trial that trained; one that reused another's result adds 0."""
    return sum(r.search_seconds for r in records if r.trained and math.isfinite(r.search_seconds))
