"""Run one dataset's multi-objective study with ask/tell, resumable and Ctrl-C safe.

The plain baseline (full budget) is enqueued first, then the baseline ladder (reduced
budgets), then each searched strategy's recommended configurations (``Strategy.recommended``;
with ``search.combine`` also their combination); all are enqueued once per study (by the
preparing process only) and never repeated on resume. The sampler explores after them. A trial whose plugin raises fails with the reason recorded and the study
goes on. Ctrl-C fails the running trial as "interrupted", enqueues it again for the next run,
and re-raises.

Only new work counts towards ``search.trials`` and ``search.budget``: a failed trial and one
that reused a finished twin's result (``search.reuse_results``) are recorded but hold no slot,
so the sampler is asked again. Two streaks end the loop instead: ``search.max_consecutive_failures``
failures in a row (:class:`FailureStreak`, exit 2: the recipe is broken, not unlucky) and
:data:`EXHAUSTED_AFTER` reused results in a row (the space looks exhausted, a notice). Both
count only trials finished in this run, so the same command resumes after a fix.

``search.budget`` (device time in full baselines) stops *starting* trials once the full baseline
has finished and the spent seconds plus the next trial's estimate would pass it.

Several workers may run the same study (``--workers``, ``sttune worker``). They share the
trial count exactly: trials are *claims* (WAITING, RUNNING, or finished as new work), ordered
by creation; a worker asks only while the claims leave room, and after asking checks its
trial's rank among the claims: a trial ranked at or past ``search.trials`` (two workers asked
for the last slot at once), or one the budget has no room for after the running trials created
before it, goes back to WAITING untouched and the worker waits for the others to finish. See
docs/scaling.md.
"""

from __future__ import annotations

import math
import os
import socket
import time
import traceback
import warnings
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna

from sttune.errors import SttuneError
from sttune.recipe.schema import to_plain
from sttune.recipe.spec import DatasetBlock, Recipe
from sttune.training.jobs import train_job
from sttune.tuning import records as rec
from sttune.tuning.events import SearchEvents
from sttune.tuning.heartbeat import STALE, Heartbeat, recover_stale
from sttune.tuning.identity import IDENTITY, recipe_identity
from sttune.tuning.monitor import rung_monitor
from sttune.tuning.reuse import finished_twin, tell_reused
from sttune.tuning.rungs import STOPPED_CHECKPOINT_ATTR
from sttune.tuning.space import BUDGET, RECOMMENDED, ROLE, has_search_space, job_for_trial, recommended_trials
from sttune.tuning.storage import make_sampler, open_study, study_name

INTERRUPTED = "interrupted"
READY = "sttune.ready"  # study user attr: the baselines are enqueued, workers may start
RECOMMENDATIONS = "sttune.recommendations"  # study user attr: the recommended trials were enqueued
WORKER = "sttune.worker"  # trial user attr: which host, process and worker index ran it
OOM = "sttune.oom"  # trial user attr: the trial ran out of memory (told COMPLETE, infeasible)
MEMORY_CONSTRAINT = "memory"
METRICS = {"val_mae": "val MAE", "device_seconds": "device seconds", "peak_memory": "peak memory MiB"}
EXHAUSTED_AFTER = 20  # reused results in a row: the sampler has nothing new left to propose
FIX_HINT = "fix the recipe and run the same command again"


class FailureStreak(SttuneError):
    """The last ``search.max_consecutive_failures`` trials failed: the search stops (finished trials kept)."""


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
    budget: float | None = None  # search.budget: device time in full baselines
    ready_timeout_seconds: float = 600.0  # how long a joining worker waits for the baselines


def open_plan_study(plan: StudyPlan, events: SearchEvents | None = None) -> optuna.Study:
    cfg = plan.recipe.search
    sampler = make_sampler(cfg.sampler, cfg.seed + plan.worker_index, len(cfg.objectives))
    study = open_study(plan.storage, study_name(plan.recipe_name, plan.dataset.label), len(cfg.objectives), sampler)
    if plan.prepare:
        for note in prepare_study(study, plan):
            if events is not None:
                events.notice(note)
    else:
        _wait_until_ready(study, plan)
    return study


def prepare_study(study: optuna.Study, plan: StudyPlan) -> list[str]:
    """Name the metrics, store the recipe, enqueue the baselines and the recommendations, and
    mark the study ready; returns the notices of recommendations skipped."""
    cfg = plan.recipe.search
    if study.metric_names is None:
        study.set_metric_names([METRICS[o] for o in cfg.objectives])
        study.set_user_attr("sttune.recipe.spec", to_plain(plan.recipe))
        study.set_user_attr(rec.DATASET, plan.dataset.label)
    if IDENTITY not in study.user_attrs:  # what a resume must not change (sttune.tuning.identity)
        study.set_user_attr(IDENTITY, recipe_identity(plan.recipe, plan.dataset.label))
    ensure_baselines(study, plan.recipe)
    notes = ensure_recommendations(study, plan.recipe)
    if not study.user_attrs.get(READY):
        study.set_user_attr(READY, True)
    return notes


def with_study_budget(plan: StudyPlan, study: optuna.Study) -> StudyPlan:
    """A worker given no budget keeps to the one stored with the study (worker 0's
    ``search.budget``): every worker stops starting trials at the same shared limit."""
    if plan.budget is not None:
        return plan
    stored = (study.user_attrs.get("sttune.recipe.spec") or {}).get("search", {}).get("budget")
    return plan if stored is None else replace(plan, budget=float(stored))


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
    """Enqueue the full baseline, then the ladder, unless the study already has them (a baseline
    whose every run failed is queued again: the recipe may have been fixed since)."""
    have = {(t.user_attrs.get(ROLE), t.user_attrs.get(BUDGET)) for t in study.get_trials(deepcopy=False)
            if t.state != FAIL}
    for budget in [1.0, *sorted(recipe.search.baseline_ladder, reverse=True)]:
        if ("baseline", budget) not in have:
            study.enqueue_trial({}, user_attrs={ROLE: "baseline", BUDGET: budget})


def ensure_recommendations(study: optuna.Study, recipe: Recipe) -> list[str]:
    """Enqueue the recommended trials once, into a study that has no strategy trial yet (a
    study resumed from before recommendations keeps its course); returns the skip notices."""
    if study.user_attrs.get(RECOMMENDATIONS):
        return []
    notes: list[str] = []
    if not any(ROLE not in t.user_attrs for t in study.get_trials(deepcopy=False)):
        trials, notes = recommended_trials(recipe)
        for tag, params in trials:
            study.enqueue_trial(params, user_attrs={RECOMMENDED: tag})
    study.set_user_attr(RECOMMENDATIONS, True)
    return notes


WAITING, RUNNING = optuna.trial.TrialState.WAITING, optuna.trial.TrialState.RUNNING
COMPLETE, PRUNED, FAIL = optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL


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


def reused(trial: optuna.trial.FrozenTrial) -> bool:
    """A trial that took a finished twin's result instead of training (no new work)."""
    return trial.state == COMPLETE and rec.REUSED in trial.user_attrs


def _claims(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """The trials that hold the study's ``search.trials`` slots, in creation order: queued,
    running, or finished as new work (a failed trial and a reused result hold none)."""
    return sorted((t for t in trials if t.state != FAIL and not reused(t)), key=lambda t: t._trial_id)


def count_done(trials: list[optuna.trial.FrozenTrial]) -> int:
    """Finished trials that count towards ``search.trials``: new results (not failed, not reused)."""
    return sum(t.state.is_finished() for t in _claims(trials))


def _by_completion(trials: list[optuna.trial.FrozenTrial], earlier: Collection[int]) -> list[optuna.trial.FrozenTrial]:
    """Trials finished in this run (not in ``earlier``) in the order they finished."""
    done = [t for t in trials if t.state.is_finished() and t.number not in earlier]
    return sorted(done, key=lambda t: (t.datetime_complete is None, t.datetime_complete or 0, t.number))


def _trailing(trials: list[optuna.trial.FrozenTrial], hit: Callable[[optuna.trial.FrozenTrial], bool]) -> int:
    n = 0
    for t in reversed(trials):
        if not hit(t):
            break
        n += 1
    return n


def failure_streak(trials: list[optuna.trial.FrozenTrial], earlier: Collection[int] = ()) -> tuple[int, str]:
    """How many trials finished in this run failed in a row at the end, and the last reason.

    Interrupted, stale and retried trials (queued again) and reused results are neither
    failures nor successes here."""
    retried = retried_numbers(trials)
    seen = [t for t in _by_completion(trials, earlier) if not queued_again(t, retried) and not reused(t)]
    n = _trailing(seen, lambda t: t.state == FAIL)
    return n, " ".join(str(seen[-1].user_attrs.get(rec.REASON, "unknown")).split()) if n else ""


def reuse_streak(trials: list[optuna.trial.FrozenTrial], earlier: Collection[int] = ()) -> int:
    """How many trials finished in this run took a twin's result in a row at the end (failures skipped)."""
    return _trailing([t for t in _by_completion(trials, earlier) if t.state != FAIL], reused)


def _estimator(records: list[rec.TrialRecord], base: rec.TrialRecord) -> Callable[[dict[str, Any]], float]:
    """A trial's expected search seconds from its user attrs: a baseline rung, the full
    baseline's cost times its budget; a strategy trial, the mean of the strategy trials that
    trained so far, else the full baseline's cost."""
    seconds = [r.search_seconds for r in records
               if r.role != "baseline" and r.reused_from is None and math.isfinite(r.search_seconds)]
    strategy = sum(seconds) / len(seconds) if seconds else base.cost_seconds

    def estimate(attrs: dict[str, Any]) -> float:
        if attrs.get(ROLE) == "baseline":
            return base.cost_seconds * float(attrs.get(BUDGET, 1.0))
        return strategy

    return estimate


def _budget_use(trials: list[optuna.trial.FrozenTrial], budget: float,
                running: list[optuna.trial.FrozenTrial], next_attrs: dict[str, Any]) -> tuple[float, float, float] | None:
    """(committed, estimate, limit) in device seconds, where committed is the spent seconds plus
    the ``running`` trials' estimates; None until the full baseline has finished (no unit yet)."""
    records = [rec.read_trial(t) for t in trials if t.state in (COMPLETE, PRUNED) and rec.RESULT in t.user_attrs]
    base = rec.full_baseline(records)
    if base is None or not base.cost_seconds > 0:
        return None
    estimate = _estimator(records, base)
    committed = rec.spent_seconds(records) + sum(estimate(t.user_attrs) for t in running)
    return committed, estimate(next_attrs), budget * base.cost_seconds


def _full_baseline_lost(trials: list[optuna.trial.FrozenTrial]) -> str | None:
    """The last failure reason when the full baseline failed and no run of it is queued,
    running or finished; else None."""
    full = [t for t in trials if t.user_attrs.get(ROLE) == "baseline" and float(t.user_attrs.get(BUDGET, 1)) >= 1]
    if not full or any(t.state != FAIL for t in full):
        return None
    return " ".join(str(full[-1].user_attrs.get(rec.REASON, "unknown")).split())


@dataclass(frozen=True)
class Decision:
    move: str  # 'ask', 'wait' (others hold the remaining slots), 'stop', or 'fail' (a failure streak)
    note: str | None = None  # why the search stops, one line (None: it ran its course)


def decide(trials: list[optuna.trial.FrozenTrial], plan: StudyPlan, searchable: bool,
           earlier: Collection[int] = ()) -> Decision:
    """The next move of a study's loop; ``earlier`` are the numbers of the trials that had
    finished when this run started (the streaks count only this run's trials)."""
    cap = plan.recipe.search.max_consecutive_failures
    failed, reason = failure_streak(trials, earlier)
    if failed >= cap:
        return Decision("fail", f"the last {failed} trials failed (last: {reason})")
    claims = _claims(trials)
    target = plan.trials
    done = sum(t.state.is_finished() for t in claims)
    if target is not None and done >= target:
        return Decision("stop")
    if reuse_streak(trials, earlier) >= EXHAUSTED_AFTER:
        return Decision("stop", f"the search space looks exhausted: the last {EXHAUSTED_AFTER} trials repeated "
                                f"finished jobs (results reused); stopping with {done} new trials")
    in_budget = claims if target is None else claims[:target]
    waiting = [t for t in in_budget if t.state == WAITING]
    running = [t for t in claims if t.state == RUNNING]
    room = searchable and (target is None or len(claims) < target)
    if plan.budget is not None and (waiting or room):
        lost = _full_baseline_lost(trials)
        if lost is not None:
            return Decision("fail", f"the full baseline failed (last: {lost}); search.budget counts in its cost")
        use = _budget_use(trials, plan.budget, running, waiting[0].user_attrs if waiting else {})
        if use is not None and use[0] + use[1] > use[2]:
            if running:
                return Decision("wait")  # the running trials may cost less than estimated
            spent, estimate, limit = use
            unit = limit / plan.budget
            return Decision("stop", f"budget reached: {spent / unit:.2f} of {plan.budget:g} baselines spent and the "
                                    f"next trial would take about {estimate / unit:.2f} more; stopping with {done} trials")
    if waiting or room:
        return Decision("ask")
    if running:
        return Decision("wait")  # another worker's trial may still fail stale and need a retry
    return Decision("stop")  # nothing left to vary (no search space): the baselines are the whole search


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


def _next_move(study: optuna.Study, plan: StudyPlan, searchable: bool, earlier: Collection[int] = ()) -> str:
    """'ask', 'wait' (others hold the remaining slots), 'stop' or 'fail' (see :func:`decide`)."""
    return decide(study.get_trials(deepcopy=False), plan, searchable, earlier).move


def _fits_budget(study: optuna.Study, trial: optuna.Trial, budget: float | None) -> bool:
    """Whether the asked trial fits the budget after the running trials created before it
    (two workers asked for the last room at once: the later one gives its trial back)."""
    if budget is None:
        return True
    trials = study.get_trials(deepcopy=False)
    before = [t for t in _claims(trials) if t.state == RUNNING and t._trial_id < trial._trial_id]
    use = _budget_use(trials, budget, before, trial.user_attrs)
    return use is None or use[0] + use[1] <= use[2]


def search_study(plan: StudyPlan, events: SearchEvents) -> optuna.Study:
    """Run trials until the study holds the plan's trial count, the budget has no room for the
    next trial, the space looks exhausted, or the time is up; a failure streak raises
    :class:`FailureStreak`."""
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our progress display says it all
    study = open_plan_study(plan, events)
    plan = with_study_budget(plan, study)
    stale_after = plan.recipe.search.stale_after_seconds
    recover_stale(study, stale_after)
    events.study_started(plan.dataset.label, count_done(study.get_trials(deepcopy=False)), plan.trials)
    deadline = time.monotonic() + 60 * plan.timeout_minutes if plan.timeout_minutes else None
    searchable = has_search_space(plan.recipe)
    earlier = frozenset(t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished())
    while True:
        if deadline is not None and time.monotonic() >= deadline:
            break
        decision = decide(study.get_trials(deepcopy=False), plan, searchable, earlier)
        if decision.move == "fail":
            raise FailureStreak(decision.note or "", FIX_HINT)
        if decision.move == "stop":
            if decision.note:
                events.notice(decision.note)
            break
        if decision.move == "wait" or not search_one_trial(study, plan, events):
            time.sleep(plan.poll_seconds)
            recover_stale(study, stale_after)
    return study


def search_one_trial(study: optuna.Study, plan: StudyPlan, events: SearchEvents) -> bool:
    """Ask for one trial, train it, and tell the study its values or its failure.

    Returns False when the asked trial fell outside the trial count or the budget and was given back.
    """
    trial = study.ask()
    if not _within_budget(study, trial._trial_id, plan.trials) or not _fits_budget(study, trial, plan.budget):
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
                from sttune.tuning.isolation import TrialCrash, train_isolated

                try:
                    result = train_isolated(job, plan.cache_dir, monitor, plan.recipe.search.trial_timeout_minutes)
                except TrialCrash as exc:
                    crash = exc
            else:
                result = train_job(job, plan.cache_dir, monitor)
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
                  "peak_memory": base.result.peak_memory_bytes / 2**20 if base else 0.0}
    elif base is not None:
        values = {"val_mae": base.val_mae, "device_seconds": base.cost_seconds,
                  "peak_memory": base.result.peak_memory_bytes / 2**20}
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
    attrs = {k: v for k, v in trial.user_attrs.items() if k in (ROLE, BUDGET, RECOMMENDED)}
    study.enqueue_trial(trial.params, user_attrs=attrs or None)
