"""Run one dataset's multi-objective study with ask/tell, resumable and Ctrl-C safe.

The plain baseline (full budget) is enqueued first, then the baseline ladder (reduced
budgets); both are enqueued once per study and never repeated on resume. A trial whose
plugin raises fails with the reason recorded and the study goes on. Ctrl-C fails the
running trial as "interrupted", enqueues it again for the next run, and re-raises.
"""

from __future__ import annotations

import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import optuna

from sttune.errors import SttuneError
from sttune.recipe import DatasetBlock, Recipe
from sttune.runner import run_job
from sttune.train.trainer import StopTraining
from sttune.schema import to_plain
from sttune.search import records as rec
from sttune.search.rungs import RUNG_ATTR, should_stop
from sttune.search.space import BUDGET, ROLE, has_search_space, job_for_trial
from sttune.search.storage import make_sampler, open_study, study_name

INTERRUPTED = "interrupted"
METRICS = {"val_mae": "val MAE", "device_seconds": "device seconds", "peak_memory": "peak memory MiB"}


class SearchEvents(Protocol):
    """What a progress display hears from a running study."""

    def study_started(self, label: str, done: int, total: int | None) -> None: ...
    def trial_started(self, number: int, epochs: int) -> None: ...
    def epoch(self, record: Any) -> None: ...
    def trial_finished(self, record: rec.TrialRecord) -> None: ...


@dataclass(frozen=True)
class StudyPlan:
    """One dataset's study: where it lives and how many trials it gets."""

    recipe: Recipe
    recipe_name: str
    dataset: DatasetBlock
    storage: Any  # optuna storage or URL
    cache_dir: Path
    trials: int | None
    timeout_minutes: float | None


def open_plan_study(plan: StudyPlan) -> optuna.Study:
    cfg = plan.recipe.search
    sampler = make_sampler(cfg.sampler, cfg.seed, len(cfg.objectives))
    study = open_study(plan.storage, study_name(plan.recipe_name, plan.dataset.label), len(cfg.objectives), sampler)
    if study.metric_names is None:
        study.set_metric_names([METRICS[o] for o in cfg.objectives])
        study.set_user_attr("sttune.recipe", to_plain(plan.recipe))
        study.set_user_attr("sttune.dataset", plan.dataset.label)
    return study


def ensure_baselines(study: optuna.Study, recipe: Recipe) -> None:
    """Enqueue the full baseline, then the ladder, unless the study already has them."""
    have = {(t.user_attrs.get(ROLE), t.user_attrs.get(BUDGET)) for t in study.get_trials(deepcopy=False)}
    for budget in [1.0, *sorted(recipe.search.baseline_ladder, reverse=True)]:
        if ("baseline", budget) not in have:
            study.enqueue_trial({}, user_attrs={ROLE: "baseline", BUDGET: budget})


def _counts_as_done(trial: optuna.trial.FrozenTrial) -> bool:
    if trial.state.is_finished():
        return trial.user_attrs.get(rec.REASON) != INTERRUPTED
    return False


def _waiting(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)))


def run_study(plan: StudyPlan, events: SearchEvents) -> optuna.Study:
    """Run trials until the plan's trial count or time budget is spent."""
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our progress display says it all
    study = open_plan_study(plan)
    ensure_baselines(study, plan.recipe)
    done = sum(_counts_as_done(t) for t in study.get_trials(deepcopy=False))
    events.study_started(plan.dataset.label, done, plan.trials)
    deadline = time.monotonic() + 60 * plan.timeout_minutes if plan.timeout_minutes else None
    searchable = has_search_space(plan.recipe)
    while plan.trials is None or done < plan.trials:
        if deadline is not None and time.monotonic() >= deadline:
            break
        if not searchable and _waiting(study) == 0:
            break  # nothing left to vary: the baselines are the whole search
        run_trial(study, plan, events)
        done += 1
    return study


def run_trial(study: optuna.Study, plan: StudyPlan, events: SearchEvents) -> None:
    """Ask for one trial, train it, and tell the study its values or its failure."""
    trial = study.ask()
    try:
        job = job_for_trial(trial, plan.recipe, plan.dataset)
        trial.set_user_attr(rec.JOB, rec.job_to_attr(job))
        events.trial_started(trial.number, job.train.epochs)
        result = run_job(job, plan.cache_dir, on_epoch=_rung_monitor(study, trial, plan, job.train.epochs, events))
    except KeyboardInterrupt:
        _interrupted(study, trial)
        raise
    except SttuneError as exc:
        _fail(study, trial, exc.one_line(), None, events)
        return
    except Exception as exc:  # a plugin raising inside a hook fails its trial, not the search
        _fail(study, trial, f"{type(exc).__name__}: {exc}", traceback.format_exc(), events)
        return
    _tell_result(study, trial, result, plan.recipe)
    events.trial_finished(rec.read_trial(study.trials[trial.number]))


def _rung_monitor(study: optuna.Study, trial: optuna.Trial, plan: StudyPlan, epochs: int, events: SearchEvents):
    """The per-epoch callback: progress, and successive halving at the rungs.

    The full baseline records its rung points (others are compared with it) but never
    stops; reduced-budget baselines have another LR schedule, so they neither record nor stop.
    """
    policy = plan.recipe.search.early_stopping
    role, budget = trial.user_attrs.get(ROLE), float(trial.user_attrs.get(BUDGET, 1.0))
    rungs = set(policy.rungs(epochs)) if policy.enabled and budget >= 1 else set()
    best_mae = [float("inf")]

    def on_epoch(record: Any) -> None:
        events.epoch(record)
        best_mae[0] = min(best_mae[0], record.val_mae)
        done = record.epoch + 1
        if done not in rungs:
            return
        key = f"{RUNG_ATTR}{done}"
        point = [best_mae[0], record.cost_seconds]  # preparation counts, as in the final objective
        trial.set_user_attr(key, point)
        if role == "baseline":
            return
        others = [t.user_attrs[key] for t in study.get_trials(deepcopy=False)
                  if t.number != trial.number and key in t.user_attrs]
        if should_stop(point, others, policy):
            raise StopTraining(f"dominated at the {done}-epoch rung by the trials that reached it")

    return on_epoch


def _objective_values(result: Any, objectives: list[str]) -> list[float]:
    values = {"val_mae": result.val_mae, "device_seconds": result.cost_seconds,
              "peak_memory": result.peak_memory_bytes / 2**20}
    return [float(values[o]) for o in objectives]


def _tell_result(study: optuna.Study, trial: optuna.Trial, result: Any, recipe: Recipe) -> None:
    trial.set_user_attr(rec.RESULT, rec.result_to_attr(result))
    limit = recipe.search.max_mae_increase
    is_full_baseline = trial.user_attrs.get(ROLE) == "baseline" and float(trial.user_attrs.get(BUDGET, 1)) >= 1
    base = rec.full_baseline(rec.finished_records(study)) if limit is not None else None
    if limit is not None and (base is not None or is_full_baseline):
        # trials finished before the full baseline (after a resume) carry no constraint yet
        reference = result.val_mae if is_full_baseline else base.val_mae
        trial.set_constraint("val_mae_increase", result.val_mae / reference - 1 - limit)
    if result.stop_reason.startswith("stopped"):
        # Optuna's tell() takes no values with PRUNED; the last values stay in the result attr
        trial.set_user_attr(rec.STOPPED_VALUES, _objective_values(result, recipe.search.objectives))
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return
    study.tell(trial, _objective_values(result, recipe.search.objectives))


def _fail(study: optuna.Study, trial: optuna.Trial, reason: str, tb: str | None, events: SearchEvents) -> None:
    trial.set_user_attr(rec.REASON, reason)
    if tb:
        trial.set_user_attr(rec.TRACEBACK, tb[-4000:])
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    events.trial_finished(rec.read_trial(study.trials[trial.number]))


def _interrupted(study: optuna.Study, trial: optuna.Trial) -> None:
    """Leave the study consistent: fail the trial and queue the same config again."""
    trial.set_user_attr(rec.REASON, INTERRUPTED)
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    attrs = {k: v for k, v in trial.user_attrs.items() if k in (ROLE, BUDGET)}
    study.enqueue_trial(trial.params, user_attrs=attrs or None)
