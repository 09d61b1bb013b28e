"""Run one dataset's multi-objective study with ask/tell, resumable and Ctrl-C safe.

The plain baseline (full budget) is enqueued first, then the baseline ladder (reduced
budgets); both are enqueued once per study (by the preparing process only) and never
repeated on resume. A trial whose plugin raises fails with the reason recorded and the study
goes on. Ctrl-C fails the running trial as "interrupted", enqueues it again for the next run,
and re-raises.

Several workers may run the same study (``--workers``, ``sttune worker``). They share the
trial count exactly: trials are *claims* (WAITING, RUNNING, or finished and not retried),
ordered by creation; a worker asks only while the claims leave room, and after asking checks
its trial's rank among the claims: a trial ranked at or past ``search.trials`` (two workers
asked for the last slot at once) goes back to WAITING untouched and the worker waits for the
others to finish. See docs/scaling.md.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna

from sttune.errors import SttuneError
from sttune.recipe import DatasetBlock, Recipe
from sttune.runner import run_job
from sttune.schema import to_plain
from sttune.search import records as rec
from sttune.search.events import SearchEvents
from sttune.search.heartbeat import STALE, Heartbeat, recover_stale
from sttune.search.monitor import rung_monitor
from sttune.search.reuse import finished_twin, tell_reused
from sttune.search.rungs import STOPPED_CHECKPOINT_ATTR
from sttune.search.space import BUDGET, ROLE, has_search_space, job_for_trial
from sttune.search.storage import make_sampler, open_study, study_name

INTERRUPTED = "interrupted"
READY = "sttune.ready"  # study user attr: the baselines are enqueued, workers may start
WORKER = "sttune.worker"  # trial user attr: which host, process and worker index ran it
OOM = "sttune.oom"  # trial user attr: the trial ran out of memory (told COMPLETE, infeasible)
MEMORY_CONSTRAINT = "memory"
METRICS = {"val_mae": "val MAE", "device_seconds": "device seconds", "peak_memory": "peak memory MiB"}


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
    worker_index: int = 0  # sampler seed = search.seed + worker_index
    prepare: bool = True  # this process sets the study up and enqueues the baselines
    isolation: str = "inline"  # resolved: "inline" or "subprocess"
    poll_seconds: float = 0.5  # how often a worker with nothing to ask looks again
    ready_timeout_seconds: float = 600.0  # how long a joining worker waits for the baselines


def open_plan_study(plan: StudyPlan) -> optuna.Study:
    cfg = plan.recipe.search
    sampler = make_sampler(cfg.sampler, cfg.seed + plan.worker_index, len(cfg.objectives))
    study = open_study(plan.storage, study_name(plan.recipe_name, plan.dataset.label), len(cfg.objectives), sampler)
    if plan.prepare:
        prepare_study(study, plan)
    else:
        _wait_until_ready(study, plan)
    return study


def prepare_study(study: optuna.Study, plan: StudyPlan) -> None:
    """Name the metrics, store the recipe, enqueue the baselines, and mark the study ready."""
    cfg = plan.recipe.search
    if study.metric_names is None:
        study.set_metric_names([METRICS[o] for o in cfg.objectives])
        study.set_user_attr("sttune.recipe", to_plain(plan.recipe))
        study.set_user_attr(rec.DATASET, plan.dataset.label)
    ensure_baselines(study, plan.recipe)
    if not study.user_attrs.get(READY):
        study.set_user_attr(READY, True)


def _wait_until_ready(study: optuna.Study, plan: StudyPlan) -> None:
    give_up = time.monotonic() + plan.ready_timeout_seconds
    while not (study.user_attrs.get(READY) or any(ROLE in t.user_attrs for t in study.get_trials(deepcopy=False))):
        if time.monotonic() >= give_up:
            raise SttuneError(
                f"study '{study.study_name}' was not prepared within {plan.ready_timeout_seconds:.0f} s",
                "start worker 0 (sttune worker ... --worker-index 0) or `sttune search`, which enqueue the baselines",
            )
        time.sleep(plan.poll_seconds)


def ensure_baselines(study: optuna.Study, recipe: Recipe) -> None:
    """Enqueue the full baseline, then the ladder, unless the study already has them."""
    have = {(t.user_attrs.get(ROLE), t.user_attrs.get(BUDGET)) for t in study.get_trials(deepcopy=False)}
    for budget in [1.0, *sorted(recipe.search.baseline_ladder, reverse=True)]:
        if ("baseline", budget) not in have:
            study.enqueue_trial({}, user_attrs={ROLE: "baseline", BUDGET: budget})


WAITING, RUNNING = optuna.trial.TrialState.WAITING, optuna.trial.TrialState.RUNNING


def retried_numbers(trials: list[optuna.trial.FrozenTrial]) -> set[int]:
    """Numbers of the trials that a later trial retries (their ``retry_history``)."""
    out: set[int] = set()
    for t in trials:
        out.update(t.system_attrs.get("retry_history", ()))
    return out


def queued_again(trial: optuna.trial.FrozenTrial, retried: set[int]) -> bool:
    """A failed trial whose config was queued again (interrupted, failed as stale, or retried):
    its retry holds its ``search.trials`` slot, and it is no result of its own.

    ``retried`` is :func:`retried_numbers` of the study's trials."""
    if trial.state != optuna.trial.TrialState.FAIL:
        return False
    reason = str(trial.user_attrs.get(rec.REASON, ""))
    return reason == INTERRUPTED or reason.startswith(STALE) or trial.number in retried


def _claims(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """The trials that hold the study's ``search.trials`` slots, in creation order."""
    retried = retried_numbers(trials)
    return sorted((t for t in trials if not queued_again(t, retried)), key=lambda t: t._trial_id)


def count_done(trials: list[optuna.trial.FrozenTrial]) -> int:
    """Finished trials that count towards ``search.trials`` (not interrupted, not retried)."""
    return sum(t.state.is_finished() for t in _claims(trials))


def _within_budget(study: optuna.Study, trial_id: int, target: int | None) -> bool:
    if target is None:
        return True
    ids = [t._trial_id for t in _claims(study.get_trials(deepcopy=False))]
    return trial_id in ids and ids.index(trial_id) < target


def _give_back(study: optuna.Study, trial: optuna.Trial) -> None:
    """A trial asked past the budget (a race for the last slot) goes back to WAITING untouched."""
    try:
        study._storage.set_trial_state_values(trial._trial_id, WAITING)
    except optuna.exceptions.UpdateFinishedTrialError:
        pass


def _next_move(study: optuna.Study, plan: StudyPlan, searchable: bool) -> str:
    """'ask', 'wait' (others hold the remaining slots) or 'stop'."""
    trials = study.get_trials(deepcopy=False)
    claims = _claims(trials)
    target = plan.trials
    if target is not None and sum(t.state.is_finished() for t in claims) >= target:
        return "stop"
    in_budget = claims if target is None else claims[:target]
    if any(t.state == WAITING for t in in_budget):
        return "ask"
    if searchable and (target is None or len(claims) < target):
        return "ask"
    if any(t.state == RUNNING for t in claims):
        return "wait"  # another worker's trial may still fail stale and need a retry
    return "stop"  # nothing left to vary (no search space): the baselines are the whole search


def run_study(plan: StudyPlan, events: SearchEvents) -> optuna.Study:
    """Run trials until the study holds the plan's trial count, or the time budget is spent."""
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our progress display says it all
    study = open_plan_study(plan)
    stale_after = plan.recipe.search.stale_after_seconds
    recover_stale(study, stale_after)
    events.study_started(plan.dataset.label, count_done(study.get_trials(deepcopy=False)), plan.trials)
    deadline = time.monotonic() + 60 * plan.timeout_minutes if plan.timeout_minutes else None
    searchable = has_search_space(plan.recipe)
    while True:
        if deadline is not None and time.monotonic() >= deadline:
            break
        move = _next_move(study, plan, searchable)
        if move == "stop":
            break
        if move == "wait" or not run_trial(study, plan, events):
            time.sleep(plan.poll_seconds)
            recover_stale(study, stale_after)
    return study


def run_trial(study: optuna.Study, plan: StudyPlan, events: SearchEvents) -> bool:
    """Ask for one trial, train it, and tell the study its values or its failure.

    Returns False when the asked trial fell outside the trial budget and was given back.
    """
    trial = study.ask()
    if not _within_budget(study, trial._trial_id, plan.trials):
        _give_back(study, trial)
        return False
    trial.set_user_attr(WORKER, {"host": socket.gethostname(), "pid": os.getpid(), "index": plan.worker_index,
                                 "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")})
    crash: Any = None
    try:
        with Heartbeat(study, trial._trial_id, plan.recipe.search.heartbeat_seconds):
            job = job_for_trial(trial, plan.recipe, plan.dataset)
            job_attr = rec.job_to_attr(job)
            trial.set_user_attr(rec.JOB, job_attr)
            twin = finished_twin(study, job_attr, trial.number) if plan.recipe.search.reuse_results else None
            if twin is not None:  # the same job already finished: its result, not a second run
                if _guarded(tell_reused, study, trial, twin):
                    events.trial_finished(rec.read_trial(study.trials[trial.number]))
                return True
            events.trial_started(trial.number, job.train.epochs)
            monitor = rung_monitor(study, trial, plan.recipe.search.early_stopping, job.train.epochs, events)
            if plan.isolation == "subprocess":
                from sttune.search.isolation import TrialCrash, run_isolated

                try:
                    result = run_isolated(job, plan.cache_dir, monitor, plan.recipe.search.trial_timeout_minutes)
                except TrialCrash as exc:
                    crash = exc
            else:
                result = run_job(job, plan.cache_dir, on_epoch=monitor)
    except KeyboardInterrupt:
        _guarded(_interrupted, study, trial)
        raise
    except SttuneError as exc:
        _guarded(_fail, study, trial, exc.one_line(), None, events)
        return True
    except Exception as exc:  # a plugin raising inside a hook fails its trial, not the search
        _guarded(_fail, study, trial, f"{type(exc).__name__}: {exc}", traceback.format_exc(), events)
        return True
    if crash is not None:
        if crash.oom:
            _guarded(_tell_oom, study, trial, crash, plan.recipe, events)
        else:
            _guarded(_fail, study, trial, crash.reason, crash.tb, events)
        return True
    if _guarded(_tell_result, study, trial, result, plan.recipe):
        events.trial_finished(rec.read_trial(study.trials[trial.number]))
    return True


def _guarded(tell: Any, study: optuna.Study, trial: optuna.Trial, *args: Any) -> bool:
    """Tell the study; a trial another worker already failed as stale is left as it is."""
    try:
        tell(study, trial, *args)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    return True


def _objective_values(result: Any, objectives: list[str]) -> list[float]:
    values = {"val_mae": result.val_mae, "device_seconds": result.cost_seconds,
              "peak_memory": result.peak_memory_bytes / 2**20}
    return [float(values[o]) for o in objectives]


def _stopped_values(trial: optuna.Trial, result: Any, objectives: list[str]) -> list[float]:
    """A stopped trial's last values; stopped in preparation, its val MAE is the checkpoint's
    (the model never trained, so its own val MAE says nothing about the configuration)."""
    values = _objective_values(result, objectives)
    point = trial.user_attrs.get(STOPPED_CHECKPOINT_ATTR)
    if result.epochs_run == 0 and point is not None and "val_mae" in objectives:
        values[objectives.index("val_mae")] = float(point[0])
    return values


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
        trial.set_user_attr(rec.STOPPED_VALUES, _stopped_values(trial, result, recipe.search.objectives))
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return
    study.tell(trial, _objective_values(result, recipe.search.objectives))


def _tell_oom(study: optuna.Study, trial: optuna.Trial, crash: Any, recipe: Recipe, events: SearchEvents) -> None:
    """Out of memory: an infeasible COMPLETE trial, so the sampler learns to avoid the region.

    Optuna samplers ignore FAIL trials but read constraints of COMPLETE ones (a positive
    value = infeasible). The values told are the last epoch's (best val MAE so far, device
    seconds so far) when an epoch finished, else the full baseline's; with neither, the
    trial fails. The trial has no ``sttune.result``, so selection and export never pick it.
    """
    values = None
    base = rec.full_baseline(rec.finished_records(study))
    if crash.partial is not None:
        values = {"val_mae": crash.partial.val_mae, "device_seconds": crash.partial.cost_seconds,
                  "peak_memory": base.result["peak_memory_bytes"] / 2**20 if base else 0.0}
    elif base is not None:
        values = {"val_mae": base.val_mae, "device_seconds": base.cost_seconds,
                  "peak_memory": base.result["peak_memory_bytes"] / 2**20}
    if values is None:
        _fail(study, trial, crash.reason, crash.tb, events)
        return
    trial.set_user_attr(rec.REASON, crash.reason)
    trial.set_user_attr(OOM, True)
    if crash.tb:
        trial.set_user_attr(rec.TRACEBACK, crash.tb[-4000:])
    trial.set_constraint(MEMORY_CONSTRAINT, 1.0)
    study.tell(trial, [float(values[o]) for o in recipe.search.objectives])
    record = rec.read_trial(study.trials[trial.number])
    events.trial_finished(replace(record, state="FAIL"))  # shown as the failure it is


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
