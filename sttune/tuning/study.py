"""Run one dataset's multi-objective study with ask/tell, resumable and Ctrl-C safe.

The study is set up first (:mod:`sttune.tuning.setup`: the baselines and recommendations
enqueued once); the sampler explores after them. Each turn of the loop asks
:func:`sttune.tuning.accounting.decide` for its next move: ask for a trial, wait for other
workers' trials, or stop (the trial count, the budget, an exhausted space, a failure streak).
A trial whose plugin raises fails with the reason recorded and the study goes on
(:mod:`sttune.tuning.tell`). Ctrl-C fails the running trial as "interrupted", enqueues it again
for the next run, and re-raises.

Several workers may run the same study (``--workers``, ``sttune worker``): a trial asked past
the trial count (two workers asked for the last slot at once), or one the budget has no room for
after the running trials created before it, goes back to WAITING untouched and the worker waits
for the others to finish. See docs/scaling.md.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
import warnings
from typing import Any

import optuna

from sttune.errors import SttuneError
from sttune.recipe.spec import Recipe
from sttune.training.jobs import Job, train_job
from sttune.tuning import records as rec
from sttune.tuning.accounting import WAITING, count_done, decide, fits_budget, within_trial_count
from sttune.tuning.events import SearchEvents
from sttune.tuning.heartbeat import Heartbeat, recover_stale
from sttune.tuning.keys import JOB, RECOMMENDED, RETRY_OF, ROLE, SKIPPED, WORKER
from sttune.tuning.ladder import add_derived_rungs, shortest_within
from sttune.tuning.monitor import rung_monitor
from sttune.tuning.predict import cannot_win, predicted_seconds, predictor
from sttune.tuning.reuse import finished_twin, tell_reused
from sttune.tuning.setup import StudyPlan, open_plan_study, recommend_after_baseline, with_study_budget
from sttune.tuning.space import epochs_for_fraction, has_search_space, job_for_trial
from sttune.tuning.tell import guarded, tell_failed, tell_interrupted, tell_oom, tell_result

FIX_HINT = "fix the recipe and run the same command again"


class FailureStreak(SttuneError):
    """The last ``search.max_consecutive_failures`` trials failed: the search stops (finished trials kept)."""


def _give_back(study: optuna.Study, trial: optuna.Trial) -> None:
    """A trial asked past the trial count or the budget (a race for the last slot) goes back to WAITING untouched."""
    try:
        study._storage.set_trial_state_values(trial._trial_id, WAITING)
    except optuna.exceptions.UpdateFinishedTrialError:
        pass


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
    show_derived_rungs(study, plan, events)  # a resumed study whose full baseline finished before them
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


def place_trial(study: optuna.Study, trial: optuna.Trial, plan: StudyPlan, events: SearchEvents) -> Job | bool:
    """Build the asked trial's job and decide before it trains: the job to train it; False when
    an enqueued trial does not fit the budget (given back); True when a sampled one was skipped
    (it cannot fit the budget, or cannot win: sttune.tuning.predict) or its params failed."""
    try:
        job = job_for_trial(trial, plan.recipe, plan.dataset)
    except SttuneError as exc:
        guarded(tell_failed, study, trial, exc.one_line(), None, events)
        return True
    except Exception as exc:  # a plugin's space() raising fails its trial, not the search
        guarded(tell_failed, study, trial, f"{type(exc).__name__}: {exc}", traceback.format_exc(), events)
        return True
    trial.set_user_attr(JOB, rec.job_to_attr(job))
    sampled = not any(key in trial.user_attrs for key in (ROLE, RECOMMENDED, RETRY_OF))
    trials = study.get_trials(deepcopy=False)
    short = too_short(job, plan.recipe, trials) if sampled else None
    if short is not None:
        return _skip(study, trial, short, events)
    if not fits_budget(study, trial, plan.budget, plan.recipe.export.verify_pairs,
                       predictor(plan.recipe, plan.dataset, trials)):
        if not sampled and any(t.state == optuna.trial.TrialState.RUNNING and t.number != trial.number for t in trials):
            _give_back(study, trial)  # the running trials may cost less than estimated: it may fit then
            return False
        return _skip(study, trial, "it would not fit what the budget has left", events)
    export = plan.recipe.export
    reason = None
    if sampled and plan.recipe.search.predict and export.rule == "fastest-within":
        reason = cannot_win(predicted_seconds(job, trials), trials, export.tolerance)
    return job if reason is None else _skip(study, trial, reason, events)


def too_short(job: Job, recipe: Recipe, trials: list[optuna.trial.FrozenTrial]) -> str | None:
    """Why a sampled strategy trial is shorter than can hold accuracy, or None: fewer epochs than
    the shortest plain training within the tolerance (sttune.tuning.ladder.shortest_within)."""
    shortest = shortest_within(trials, recipe.export.tolerance)
    if shortest is None or not job.strategies:
        return None
    needed = epochs_for_fraction(recipe.train.epochs, shortest)
    if job.train.epochs >= needed:
        return None
    return (f"{job.train.epochs} epochs, fewer than the {needed} of the shortest plain training within the "
            f"{recipe.export.tolerance:.1%} tolerance")


def _skip(study: optuna.Study, trial: optuna.Trial, reason: str, events: SearchEvents) -> bool:
    """Tell a trial PRUNED before it trains (it cost nothing and holds no slot): a sampled
    candidate, or an enqueued one the budget has no room for while nothing else runs."""
    trial.set_user_attr(SKIPPED, reason)
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    events.notice(f"trial {trial.number:>3} skipped before training: {reason}")
    return True


def search_one_trial(study: optuna.Study, plan: StudyPlan, events: SearchEvents) -> bool:
    """Ask for one trial, train it, and tell the study its values or its failure.

    Returns False when the asked trial fell outside the trial count or the budget and was given back.
    """
    trial = study.ask()
    if not within_trial_count(study, trial._trial_id, plan.trials):
        _give_back(study, trial)
        return False
    placed = place_trial(study, trial, plan, events)
    if isinstance(placed, bool):
        return placed
    job = placed
    trial.set_user_attr(WORKER, {"host": socket.gethostname(), "pid": os.getpid(), "index": plan.worker_index,
                                 "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")})
    crash: Any = None
    try:
        with Heartbeat(study, trial._trial_id, plan.recipe.search.heartbeat_seconds):
            job_attr = rec.job_to_attr(job)
            twin = finished_twin(study, job_attr, trial.number) if plan.recipe.search.reuse_results else None
            if twin is not None:  # the same job already finished: its result, not a second run
                if guarded(tell_reused, study, trial, twin):
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
        guarded(tell_interrupted, study, trial)
        raise
    except SttuneError as exc:
        guarded(tell_failed, study, trial, exc.one_line(), None, events)
        return True
    except Exception as exc:  # a plugin raising inside a hook fails its trial, not the search
        guarded(tell_failed, study, trial, f"{type(exc).__name__}: {exc}", traceback.format_exc(), events)
        return True
    if crash is not None:
        if crash.oom:
            guarded(tell_oom, study, trial, crash, plan.recipe, events)
        else:
            guarded(tell_failed, study, trial, crash.reason, crash.tb, events)
        return True
    if guarded(tell_result, study, trial, result, plan.recipe):
        events.trial_finished(rec.read_trial(study.trials[trial.number]))
        show_derived_rungs(study, plan, events)
    return True


def show_derived_rungs(study: optuna.Study, plan: StudyPlan, events: SearchEvents) -> None:
    """Once the full baseline finished: add the ladder read off its curve, one line each, then
    enqueue the recommendations at the shortest plain training within the tolerance."""
    for number in add_derived_rungs(study, plan.recipe):
        events.trial_finished(rec.read_trial(study.trials[number]))
    fraction, notes = recommend_after_baseline(study, plan.recipe, plan.dataset)
    for note in notes:
        events.notice(note)
    if fraction is not None:
        epochs = epochs_for_fraction(plan.recipe.train.epochs, fraction)
        events.notice(f"recommended configurations queued at {epochs} of {plan.recipe.train.epochs} epochs: "
                      f"the shortest plain training within the {plan.recipe.export.tolerance:.1%} tolerance")
