"""Set a study up: name its metrics, store the recipe, enqueue the baselines and the recommendations.

The plain baseline (all of train.epochs) is enqueued first, then the baseline ladder (fractions
of train.epochs) when it is trained, then each searched strategy's recommended configurations
(``Strategy.recommended``; with ``search.combine`` also their combination); all are enqueued once
per study and never repeated on resume. A joining worker waits for the ``sttune.ready`` mark
instead (:func:`open_plan_study`).

With the derived ladder and ``search.shorten`` (the defaults) the recommendations wait for the full
baseline: once its curve gives the shortest plain training within the tolerance
(:func:`sttune.tuning.ladder.shortest_within`), they are enqueued at that length
(:func:`recommend_after_baseline`), cheapest first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna

from sttune.errors import SttuneError
from sttune.recipe.schema import to_plain
from sttune.recipe.spec import DatasetBlock, Recipe
from sttune.tuning.events import SearchEvents
from sttune.tuning.identity import recipe_identity
from sttune.tuning.keys import (
    DATASET,
    FRACTION,
    IDENTITY,
    READY,
    RECIPE,
    RECOMMENDATIONS,
    RECOMMENDED,
    ROLE,
    SHORTEST,
    stored_recipe,
)
from sttune.tuning.ladder import shortest_within
from sttune.tuning.predict import predicted_fraction
from sttune.tuning.space import fraction_choices, job_for_trial, recommended_trials
from sttune.tuning.storage import make_sampler, open_study, study_name

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
    sets_up: bool = True  # this process sets the study up and enqueues the baselines
    isolation: str = "inline"  # resolved: "inline" or "subprocess"
    poll_seconds: float = 0.5  # how often a worker with nothing to ask looks again
    budget: float | None = None  # search.budget: device time in full baselines
    ready_timeout_seconds: float = 600.0  # how long a joining worker waits for the baselines


def open_plan_study(plan: StudyPlan, events: SearchEvents | None = None) -> optuna.Study:
    cfg = plan.recipe.search
    sampler = make_sampler(cfg.sampler, cfg.seed + plan.worker_index, len(cfg.objectives))
    study = open_study(plan.storage, study_name(plan.recipe_name, plan.dataset.label), len(cfg.objectives), sampler)
    if plan.sets_up:
        for note in set_up_study(study, plan):
            if events is not None:
                events.notice(note)
    else:
        _wait_until_ready(study, plan)
    return study


def set_up_study(study: optuna.Study, plan: StudyPlan) -> list[str]:
    """Name the metrics, store the recipe, enqueue the baselines and the recommendations, and
    mark the study ready; returns the notices of recommendations skipped."""
    cfg = plan.recipe.search
    if study.metric_names is None:
        study.set_metric_names([METRICS[o] for o in cfg.objectives])
        study.set_user_attr(RECIPE, to_plain(plan.recipe))
        study.set_user_attr(DATASET, plan.dataset.label)
    if IDENTITY not in study.user_attrs:  # what a resume must not change (sttune.tuning.identity)
        study.set_user_attr(IDENTITY, recipe_identity(plan.recipe, plan.dataset.label))
    ensure_baselines(study, plan.recipe)
    notes = [] if deferred(plan.recipe) else ensure_recommendations(study, plan.recipe, plan.dataset)
    if not study.user_attrs.get(READY):
        study.set_user_attr(READY, True)
    return notes


def with_study_budget(plan: StudyPlan, study: optuna.Study) -> StudyPlan:
    """A worker given no ``search.budget`` keeps to the one stored with the study (worker 0's
    ``search.budget``): every worker stops starting trials at the same shared limit."""
    if plan.budget is not None:
        return plan
    stored = (stored_recipe(study.user_attrs) or {}).get("search", {}).get("budget")
    return plan if stored is None else replace(plan, budget=float(stored))


def _wait_until_ready(study: optuna.Study, plan: StudyPlan) -> None:
    give_up = time.monotonic() + plan.ready_timeout_seconds
    while not (study.user_attrs.get(READY) or any(ROLE in t.user_attrs for t in study.get_trials(deepcopy=False))):
        if time.monotonic() >= give_up:
            raise SttuneError(
                f"study '{study.study_name}' was not set up within {plan.ready_timeout_seconds:.0f} s",
                "start worker 0 (sttune worker ... --worker-index 0) or `sttune search`, which enqueue the baselines",
            )
        time.sleep(plan.poll_seconds)


def ensure_baselines(study: optuna.Study, recipe: Recipe) -> None:
    """Enqueue the full baseline, then the trained ladder, unless the study already has them (a baseline
    whose every run failed is queued again: the recipe may have been fixed since)."""
    have = {(t.user_attrs.get(ROLE), t.user_attrs.get(FRACTION)) for t in study.get_trials(deepcopy=False)
            if t.state != optuna.trial.TrialState.FAIL}
    ladder = sorted(recipe.search.baseline_ladder, reverse=True) if recipe.search.ladder == "trained" else []
    for fraction in [1.0, *ladder]:  # a derived ladder is read off the full baseline (sttune.tuning.ladder)
        if ("baseline", fraction) not in have:
            study.enqueue_trial({}, user_attrs={ROLE: "baseline", FRACTION: fraction})


def deferred(recipe: Recipe) -> bool:
    """Whether the recommendations wait for the full baseline (the derived ladder, ``search.shorten``)."""
    return recipe.search.ladder == "derived" and len(fraction_choices(recipe)) > 1


def recommend_after_baseline(study: optuna.Study, recipe: Recipe, dataset: DatasetBlock) -> tuple[float | None, list[str]]:
    """Once the full baseline and its derived ladder are in: enqueue the recommendations at the
    shortest plain training within the export's tolerance; returns (that fraction, or None when
    nothing was enqueued now; the skip notices)."""
    if not deferred(recipe) or study.user_attrs.get(RECOMMENDATIONS):
        return None, []
    trials = study.get_trials(deepcopy=False)
    fraction = shortest_within(trials, recipe.export.tolerance)
    if fraction is None:
        return None, []
    study.set_user_attr(SHORTEST, fraction)  # the sampled trials' choices of length (space.trial_fraction)
    return fraction, ensure_recommendations(study, recipe, dataset, fraction, fresh_only=False)


def ensure_recommendations(study: optuna.Study, recipe: Recipe, dataset: DatasetBlock | None = None,
                           fraction: float = 1.0, fresh_only: bool = True) -> list[str]:
    """Enqueue the recommended trials once at ``fraction`` of train.epochs, the least planned work
    first (a budget then runs the cheapest ones; those without a plan go last); returns the skip
    notices. ``fresh_only``: only into a study with no strategy trial yet (a study resumed from
    before recommendations keeps its course)."""
    if study.user_attrs.get(RECOMMENDATIONS):
        return []
    notes: list[str] = []
    if not fresh_only or not any(ROLE not in t.user_attrs for t in study.get_trials(deepcopy=False)):
        trials, notes = recommended_trials(recipe, fraction)
        if dataset is not None:
            trials.sort(key=lambda item: _planned(item[1], recipe, dataset))
        for tag, params in trials:
            study.enqueue_trial(params, user_attrs={RECOMMENDED: tag})
    study.set_user_attr(RECOMMENDATIONS, True)
    return notes


def _planned(params: dict[str, Any], recipe: Recipe, dataset: DatasetBlock) -> float:
    """A recommendation's planned share of the baseline's work (no plan: 1 + 1, after the others)."""
    try:
        fraction = predicted_fraction(job_for_trial(optuna.trial.FixedTrial(params), recipe, dataset))  # type: ignore[arg-type]
    except Exception:
        fraction = None
    return 2.0 if fraction is None else fraction
