"""A trial's cost predicted before it trains, and the two uses of it.

A configuration's planned work (``Strategy.planned_work`` over its schedule,
:func:`sttune.training.plan.planned_fraction`) is known from its params alone, and a study
compares trials on work priced at the full baseline's seconds per unit (the told objective). So
before a trial trains, sttune can predict what it will be charged: planned fraction × the full
baseline's told cost × its epochs over the baseline's. Two decisions read it:

- **the budget** (sttune.tuning.accounting): a trial starts only when its prediction (× the
  margin below) fits what the budget has left;
- **the incumbent** (:func:`cannot_win`): under the ``fastest-within`` rule, a sampled candidate
  predicted to cost no less than the cheapest trial already within the export's tolerance cannot
  become the answer by being cheaper, so it is skipped before it trains (the sampler is told it
  was pruned, and proposes again).

A prediction is only as good as the plan: a strategy whose cost is its preparation (a distilled
set, ``replaces_windows``) or whose plan needs its data has none, and falls back to the dearest
trial of its kind (accounting). The margin covers what plans leave out (per-batch overheads, a
mask's dense batches); docs/selection.md gives the measured prediction error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import optuna

from sttune.recipe.spec import DatasetBlock, Recipe
from sttune.registry import discovery as plugins
from sttune.training.jobs import Job
from sttune.training.plan import planned_fraction
from sttune.tuning import records as rec
from sttune.tuning.keys import FRACTION, JOB, RESULT, ROLE
from sttune.tuning.space import job_for_trial

MARGIN = 1.1  # predictions are raised by at least this before a budget trusts them (plans omit overheads)


def predicted_fraction(job: Job) -> float | None:
    """The job's planned share of the full baseline's work, or None when its plan cannot tell."""
    if not job.strategies:
        return 1.0
    try:
        strategies = [plugins.load("strategy", name)(**params) for name, params in job.strategies]
        if any(getattr(s, "replaces_windows", False) for s in strategies):
            return None  # its cost is a preparation the plan does not state
        return planned_fraction(strategies, job.train.epochs)
    except Exception:  # a plan that needs prepare's data (a third party's): no prediction
        return None


def full_baseline_cost(trials: Sequence[optuna.trial.FrozenTrial]) -> tuple[float, int] | None:
    """(told cost, planned epochs) of the finished full baseline; None before it finished."""
    for t in trials:
        if (t.state == optuna.trial.TrialState.COMPLETE and t.user_attrs.get(ROLE) == "baseline"
                and float(t.user_attrs.get(FRACTION, 1)) >= 1 and t.values and JOB in t.user_attrs):
            return float(t.values[1]), int(rec.job_from_attr(t.user_attrs[JOB]).train.epochs)
    return None


def predicted_seconds(job: Job, trials: Sequence[optuna.trial.FrozenTrial]) -> float | None:
    """The job's predicted charge in the told cost's seconds, or None (no plan, no baseline)."""
    fraction, base = predicted_fraction(job), full_baseline_cost(trials)
    if fraction is None or base is None or base[1] < 1:
        return None
    return fraction * base[0] * job.train.epochs / base[1]


def incumbent(trials: Sequence[optuna.trial.FrozenTrial], tolerance: float) -> tuple[int, float] | None:
    """(number, told cost) of the cheapest finished trial within ``tolerance`` of the best val
    MAE (the fastest-within answer on the told values); None before any finished."""
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE and t.values
            and math.isfinite(t.values[0]) and rec.read_trial(t).feasible]
    if not done:
        return None
    best = min(t.values[0] for t in done)
    within = [t for t in done if t.values[0] <= best * (1 + tolerance)]
    pick = min(within, key=lambda t: (t.values[1], t.values[0]))
    return pick.number, float(pick.values[1])


def cannot_win(predicted: float | None, trials: Sequence[optuna.trial.FrozenTrial], tolerance: float) -> str | None:
    """Why a candidate predicted to cost ``predicted`` cannot be the fastest-within answer, or None."""
    holder = incumbent(trials, tolerance)
    if predicted is None or holder is None or predicted < holder[1]:
        return None
    return (f"predicted to cost {predicted:.2f} s, no less than trial {holder[0]} ({holder[1]:.2f} s), "
            f"the cheapest within the {tolerance:.1%} tolerance")


def trial_job(trial: optuna.trial.FrozenTrial, recipe: Recipe, dataset: DatasetBlock) -> Job | None:
    """The job a trial runs: stored once it started; an enqueued one's from its fixed params;
    None for a sampled trial not yet asked (its params are the sampler's to pick)."""
    if JOB in trial.user_attrs:
        return rec.job_from_attr(trial.user_attrs[JOB])
    fixed = trial.system_attrs.get("fixed_params")
    if fixed is None or trial.user_attrs.get(ROLE) == "baseline":
        return None
    try:
        return job_for_trial(optuna.trial.FixedTrial(fixed), recipe, dataset)  # type: ignore[arg-type]
    except Exception:  # params the recipe no longer allows: no prediction
        return None


def margin(trials: Sequence[optuna.trial.FrozenTrial]) -> float:
    """What the study's finished strategy trials cost over their predictions, at most (never
    below :data:`MARGIN`): the plans' error on this model and data, measured as the search goes."""
    ratios = []
    for t in trials:
        if t.state == optuna.trial.TrialState.COMPLETE and JOB in t.user_attrs and RESULT in t.user_attrs \
                and t.user_attrs.get(ROLE) != "baseline" and t.values:
            seconds = predicted_seconds(rec.job_from_attr(t.user_attrs[JOB]), trials)
            if seconds:
                ratios.append(float(t.values[1]) / seconds)
    return max([MARGIN, *ratios])


def predictor(recipe: Recipe, dataset: DatasetBlock, trials: Sequence[optuna.trial.FrozenTrial]):
    """trial -> its predicted charge (seconds, the study's :func:`margin` applied), or None where none can be made."""
    scale = margin(trials)

    def predict(trial: optuna.trial.FrozenTrial) -> float | None:
        job = trial_job(trial, recipe, dataset)
        seconds = None if job is None else predicted_seconds(job, trials)
        return None if seconds is None else seconds * scale
    return predict
