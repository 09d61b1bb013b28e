"""The baseline ladder read off the full baseline's curve (``search.ladder: derived``).

Training shorter is the strongest rival of every strategy, so a search always holds the plain
model at fewer epochs (the ladder, fractions of train.epochs). Training each rung costs
Σ fractions of a baseline (0.75 for the quick start's [0.25, 0.5]); a full baseline's own
validation curve already holds the plain model at every epoch count. A derived rung is its
first ``fraction × epochs`` epochs: the best val MAE among them, their device seconds and their
work, added to the study as a finished trial (``sttune.derived_from`` = the full baseline) that
cost the search nothing. Its job is the full run cut short (:func:`sttune.tuning.space.shortened`:
the lr decays at the full run's milestone epochs), so the configuration an export writes for it
retrains to the same curve; a rung trained with its own milestones (``ladder: trained``) decays
earlier and ends worse: docs/benchmarks.md, "The ladder read off the baseline".
"""

from __future__ import annotations

import dataclasses

import optuna

from sttune.recipe.spec import Recipe
from sttune.training.result import prefix_result
from sttune.tuning import records as rec
from sttune.tuning.keys import DERIVED, FRACTION, JOB, RESULT, ROLE
from sttune.tuning.space import epochs_for_fraction, shortened
from sttune.tuning.tell import flat_attrs, objective_values, unit_cost


def add_derived_rungs(study: optuna.Study, recipe: Recipe) -> list[int]:
    """Add each ladder rung the study lacks, read off its finished full baseline; returns the
    new trials' numbers (none before the full baseline finished, or with ``ladder: trained``)."""
    if recipe.search.ladder != "derived":
        return []
    trials = study.get_trials(deepcopy=False)
    base = next((t for t in trials if t.state == optuna.trial.TrialState.COMPLETE and t.user_attrs.get(ROLE) == "baseline"
                 and float(t.user_attrs.get(FRACTION, 1)) >= 1 and RESULT in t.user_attrs and JOB in t.user_attrs), None)
    if base is None:
        return []
    have = {float(t.user_attrs.get(FRACTION, 1)) for t in trials
            if t.user_attrs.get(ROLE) == "baseline" and t.state != optuna.trial.TrialState.FAIL}
    result, job = rec.result_from_attr(base.user_attrs[RESULT]), rec.job_from_attr(base.user_attrs[JOB])
    unit = unit_cost(study, result, True)
    added = []
    for fraction in sorted(recipe.search.baseline_ladder, reverse=True):
        epochs = epochs_for_fraction(job.train.epochs, fraction)
        if fraction in have or not 1 <= epochs < len(result.curve):
            continue  # already there, or the full baseline stopped before it (train.patience)
        rung = prefix_result(result, epochs, f"trial {base.number}'s first {epochs} epochs")
        rung_job = dataclasses.replace(job, train=shortened(job.train, fraction))  # retrains to this prefix
        attrs = {ROLE: "baseline", FRACTION: fraction, DERIVED: base.number, JOB: rec.job_to_attr(rung_job),
                 RESULT: rec.result_to_attr(rung)}
        attrs.update(flat_attrs(attrs, rung, rec.read_trial(base)))
        limit = recipe.search.max_mae_increase
        constraints = None if limit is None else {"val_mae_increase": rung.val_mae / result.val_mae - 1 - limit}
        study.add_trial(optuna.trial.create_trial(
            values=objective_values(rung, recipe.search.objectives, unit), user_attrs=attrs, constraints=constraints))
        added.append(study.get_trials(deepcopy=False)[-1].number)
    return added


def shortest_within(trials: list[optuna.trial.FrozenTrial], tolerance: float) -> float | None:
    """The shortest plain training that holds accuracy: the least ladder fraction whose finished
    rung (derived or trained) has val MAE within ``tolerance`` of the full baseline's; 1.0 when
    none does; None before the full baseline finished. A strategy on top of fewer epochs than
    this rarely gets back what the shorter schedule lost, so the recommendations run at it and a
    sampled candidate shorter than it is skipped (sttune.tuning.study)."""
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE and t.user_attrs.get(ROLE) == "baseline"
            and t.values]
    full = [t for t in done if float(t.user_attrs.get(FRACTION, 1)) >= 1]
    if not full:
        return None
    limit = float(full[0].values[0]) * (1 + tolerance)
    within = [float(t.user_attrs.get(FRACTION, 1)) for t in done if float(t.values[0]) <= limit]
    return min(within + [1.0])
