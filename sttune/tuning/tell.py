"""Tell the study how a trial ended: its objective values, stopped early, out of memory,
failed, or interrupted (failed and queued again for the next run)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import optuna

from sttune.recipe.spec import Recipe
from sttune.tuning import records as rec
from sttune.tuning.events import SearchEvents
from sttune.tuning.keys import (
    FRACTION,
    OOM,
    REASON,
    RECOMMENDED,
    RESULT,
    ROLE,
    STOPPED_CHECKPOINT,
    STOPPED_VALUES,
    TRACEBACK,
)

INTERRUPTED = "interrupted"  # the fail reason of a trial Ctrl-C stopped (queued again)
MEMORY_CONSTRAINT = "memory"


def guarded(tell: Any, study: optuna.Study, trial: optuna.Trial, *args: Any) -> bool:
    """Tell the study; a trial another worker already failed as stale is left as it is."""
    try:
        tell(study, trial, *args)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    return True


def unit_cost(study: optuna.Study, result: Any, is_full_baseline: bool) -> float | None:
    """Device seconds per unit of work of the study's full baseline (this result's own when it is
    the full baseline); None before one finished or without recorded work."""
    base = result if is_full_baseline else getattr(rec.full_baseline(rec.finished_records(study)), "result", None)
    units = base.work.units if base is not None and base.work is not None else 0.0
    return base.cost_seconds / units if base is not None and units > 0 and base.cost_seconds > 0 else None


def _objective_values(result: Any, objectives: list[str], unit: float | None = None) -> list[float]:
    """The told values. The objective ``device_seconds`` (the recipes' name) is the trial's cost
    as selection compares it: its work priced at the full baseline's seconds per unit (``unit``),
    so the sampler learns from a cost the machine's load cannot move (sttune.outcome.pricing);
    before the full baseline finished, or without recorded work, the timed charged cost."""
    work = result.work.units if result.work is not None else 0.0
    priced = work * unit if unit is not None and work > 0 else None
    values = {"val_mae": result.val_mae, "device_seconds": result.cost_seconds if priced is None else priced,
              "peak_memory": result.peak_memory_bytes / 2**20}
    return [float(values[o]) for o in objectives]


def _stopped_values(trial: optuna.Trial, result: Any, objectives: list[str]) -> list[float]:
    """A stopped trial's last values; stopped in preparation, its val MAE is the checkpoint's
    (the model never trained, so its own val MAE says nothing about the configuration)."""
    values = _objective_values(result, objectives)
    point = trial.user_attrs.get(STOPPED_CHECKPOINT)
    if result.epochs_run == 0 and point is not None and "val_mae" in objectives:
        values[objectives.index("val_mae")] = float(point[0])
    return values


def tell_result(study: optuna.Study, trial: optuna.Trial, result: Any, recipe: Recipe) -> None:
    trial.set_user_attr(RESULT, rec.result_to_attr(result))
    limit = recipe.search.max_mae_increase
    is_full_baseline = trial.user_attrs.get(ROLE) == "baseline" and float(trial.user_attrs.get(FRACTION, 1)) >= 1
    base = rec.full_baseline(rec.finished_records(study)) if limit is not None else None
    if limit is not None and (base is not None or is_full_baseline):
        # trials finished before the full baseline (after a resume) carry no constraint yet
        reference = result.val_mae if is_full_baseline else base.val_mae
        trial.set_constraint("val_mae_increase", result.val_mae / reference - 1 - limit)
    unit = unit_cost(study, result, is_full_baseline)
    if result.stop_reason.startswith("stopped"):
        # Optuna's tell() takes no values with PRUNED; the last values stay in the result attr
        # a stopped trial keeps its timed values: it did part of its work, its priced whole is unknown
        trial.set_user_attr(STOPPED_VALUES, _stopped_values(trial, result, recipe.search.objectives))
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return
    study.tell(trial, _objective_values(result, recipe.search.objectives, unit))


def tell_oom(study: optuna.Study, trial: optuna.Trial, crash: Any, recipe: Recipe, events: SearchEvents) -> None:
    """Out of memory: an infeasible COMPLETE trial, so the sampler learns to avoid the region.

    Optuna samplers ignore FAIL trials but read constraints of COMPLETE ones (a positive
    value = infeasible). The values told are the last epoch's (best val MAE so far, cost
    seconds so far) when an epoch finished, else the full baseline's; with neither, the
    trial fails. The trial has no ``sttune.result``, so selection and export never pick it.
    """
    values = None
    base = rec.full_baseline(rec.finished_records(study))
    if crash.partial is not None:
        values = {"val_mae": crash.partial.val_mae, "device_seconds": crash.partial.cost_seconds,
                  "peak_memory": base.result.peak_memory_bytes / 2**20 if base else 0.0}
    elif base is not None:
        values = {"val_mae": base.val_mae, "device_seconds": base.cost_seconds,
                  "peak_memory": base.result.peak_memory_bytes / 2**20}
    if values is None:
        tell_failed(study, trial, crash.reason, crash.tb, events)
        return
    trial.set_user_attr(REASON, crash.reason)
    trial.set_user_attr(OOM, True)
    if crash.tb:
        trial.set_user_attr(TRACEBACK, crash.tb[-4000:])
    trial.set_constraint(MEMORY_CONSTRAINT, 1.0)
    study.tell(trial, [float(values[o]) for o in recipe.search.objectives])
    record = rec.read_trial(study.trials[trial.number])
    events.trial_finished(replace(record, state="FAIL"))  # shown as the failure it is


def tell_failed(study: optuna.Study, trial: optuna.Trial, reason: str, tb: str | None, events: SearchEvents) -> None:
    trial.set_user_attr(REASON, reason)
    if tb:
        trial.set_user_attr(TRACEBACK, tb[-4000:])
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    events.trial_finished(rec.read_trial(study.trials[trial.number]))


def tell_interrupted(study: optuna.Study, trial: optuna.Trial) -> None:
    """Leave the study consistent: fail the trial and queue the same config again."""
    trial.set_user_attr(REASON, INTERRUPTED)
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    attrs = {k: v for k, v in trial.user_attrs.items() if k in (ROLE, FRACTION, RECOMMENDED)}
    study.enqueue_trial(trial.params, user_attrs=attrs or None)
