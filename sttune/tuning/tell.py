"""Tell the study how a trial ended: its objective values, stopped early, out of memory,
failed, or interrupted (failed and queued again for the next run)."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import optuna

from sttune.recipe.spec import Recipe
from sttune.tuning import records as rec
from sttune.tuning.events import SearchEvents
from sttune.tuning.keys import (
    FLAT_SPEEDUP,
    FLAT_STRATEGY,
    FLAT_VAL_MAE_CHANGE,
    FLAT_WORK_FRACTION,
    FRACTION,
    JOB,
    OOM,
    REASON,
    RECOMMENDED,
    RESULT,
    RETRY_OF,
    ROLE,
    STEER_CONSTRAINT,
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
    base = result if is_full_baseline else _full_baseline_result(study)
    units = base.work.units if base is not None and base.work is not None else 0.0
    return base.cost_seconds / units if base is not None and units > 0 and base.cost_seconds > 0 else None


def _full_baseline_result(study: optuna.Study) -> Any:
    """The first finished full baseline's result, read from its own attrs only (another trial's
    job, however stored, is never parsed here)."""
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        attrs = trial.user_attrs
        if attrs.get(ROLE) == "baseline" and float(attrs.get(FRACTION, 1)) >= 1 and RESULT in attrs:
            return rec.result_from_attr(attrs[RESULT])
    return None


def objective_values(result: Any, objectives: list[str], unit: float | None = None) -> list[float]:
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
    values = objective_values(result, objectives)
    point = trial.user_attrs.get(STOPPED_CHECKPOINT)
    if result.epochs_run == 0 and point is not None and "val_mae" in objectives:
        values[objectives.index("val_mae")] = float(point[0])
    return values


def flat_attrs(attrs: dict[str, Any], result: Any, base: Any) -> dict[str, Any]:
    """The flat user attrs (keys.FLAT_*) of a trial with user attrs ``attrs`` and ``result``,
    against the full baseline's record ``base`` (None: this trial is the full baseline, or none
    has finished yet: then only the label, and for the baseline itself 0, 1 and 1)."""
    role, fraction = attrs.get(ROLE), float(attrs.get(FRACTION, 1.0))
    if role == "baseline":
        label = "baseline" if fraction >= 1 else f"baseline {fraction:.0%}"
    else:
        job = attrs.get(JOB) or {}
        label = "+".join(str(pair[0]) for pair in job.get("strategies", []) if isinstance(pair, (list, tuple)) and pair)
        label = label or "plain"
    out: dict[str, Any] = {FLAT_STRATEGY: label}
    if role == "baseline" and fraction >= 1:
        return {**out, FLAT_VAL_MAE_CHANGE: 0.0, FLAT_SPEEDUP: 1.0, FLAT_WORK_FRACTION: 1.0}
    if base is None or base.result is None:
        return out
    if base.val_mae > 0 and math.isfinite(result.val_mae):
        out[FLAT_VAL_MAE_CHANGE] = float(result.val_mae / base.val_mae - 1)
    if result.cost_seconds > 0:
        out[FLAT_SPEEDUP] = float(base.cost_seconds / result.cost_seconds)
    mine, theirs = result.work, base.result.work
    if mine is not None and theirs is not None and theirs.units > 0:
        out[FLAT_WORK_FRACTION] = float(mine.units / theirs.units)
    return out


def full_baseline_of(study: optuna.Study) -> rec.TrialRecord | None:
    """:func:`records.full_baseline` of the study, reading only the baseline trials' results."""
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        attrs = t.user_attrs
        if attrs.get(ROLE) == "baseline" and float(attrs.get(FRACTION, 1)) >= 1 and RESULT in attrs:
            return rec.read_trial(t)
    return None


def set_flat_attrs(trial: optuna.Trial, result: Any, base: Any) -> None:
    for key, value in flat_attrs(trial.user_attrs, result, base).items():
        trial.set_user_attr(key, value)


def tell_result(study: optuna.Study, trial: optuna.Trial, result: Any, recipe: Recipe) -> None:
    trial.set_user_attr(RESULT, rec.result_to_attr(result))
    limit = recipe.search.max_mae_increase
    is_full_baseline = trial.user_attrs.get(ROLE) == "baseline" and float(trial.user_attrs.get(FRACTION, 1)) >= 1
    base = full_baseline_of(study)
    set_flat_attrs(trial, result, base)
    if limit is not None and (base is not None or is_full_baseline):
        # trials finished before the full baseline (after a resume) carry no constraint yet
        reference = result.val_mae if is_full_baseline else base.val_mae
        trial.set_constraint("val_mae_increase", result.val_mae / reference - 1 - limit)
    if base is not None and not is_full_baseline and math.isfinite(result.val_mae):
        # the export's tolerance as a constraint the sampler sees (TPE, NSGA-II and GP read
        # constraints): proposals move towards configurations within it; selection ignores it
        trial.set_constraint(STEER_CONSTRAINT, result.val_mae / base.val_mae - 1 - recipe.export.tolerance)
    unit = unit_cost(study, result, is_full_baseline)
    if result.stop_reason.startswith("stopped"):
        # Optuna's tell() takes no values with PRUNED; the last values stay in the result attr
        # a stopped trial keeps its timed values: it did part of its work, its priced whole is unknown
        trial.set_user_attr(STOPPED_VALUES, _stopped_values(trial, result, recipe.search.objectives))
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return
    study.tell(trial, objective_values(result, recipe.search.objectives, unit))


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
    study.enqueue_trial(trial.params, user_attrs={**attrs, RETRY_OF: trial.number})
