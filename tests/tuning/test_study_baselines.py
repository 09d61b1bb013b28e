"""sttune.tuning.setup: the baseline ladder, enqueued once and again after a failure, and a
study set up for a recipe.

Trials are driven with ``study.ask()`` / ``study.tell()`` on in-memory storage; nothing trains.
"""

from __future__ import annotations

from dataclasses import replace

import optuna

from sttune.tuning import keys, setup
from sttune.tuning.keys import FRACTION, ROLE
from study_kit import FAIL, finish, new_study, plan, recipe

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_ensure_baselines_enqueues_the_full_budget_then_the_ladder_descending_once():
    study = new_study()
    setup.ensure_baselines(study, recipe(ladder=[0.25, 0.75, 0.5]))
    trials = study.get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.WAITING] * 4
    assert [(t.user_attrs[ROLE], t.user_attrs[FRACTION]) for t in trials] == [
        ("baseline", 1.0), ("baseline", 0.75), ("baseline", 0.5), ("baseline", 0.25)]
    setup.ensure_baselines(study, recipe(ladder=[0.25, 0.75, 0.5]))  # a resume: nothing new
    assert len(study.trials) == 4


def test_ensure_baselines_adds_only_the_missing_rungs_after_some_ran():
    study = new_study()
    setup.ensure_baselines(study, recipe(ladder=[0.5]))
    finish(study)  # the full baseline ran
    study.ask()  # the 0.5 rung is running
    setup.ensure_baselines(study, recipe(ladder=[0.5, 0.25]))  # the ladder grew by 0.25
    assert [(t.user_attrs[FRACTION], t.state.name) for t in study.trials] == [
        (1.0, "COMPLETE"), (0.5, "RUNNING"), (0.25, "WAITING")]


def test_a_failed_baseline_is_queued_again_by_the_next_run():
    study = new_study()
    setup.ensure_baselines(study, recipe(ladder=[0.5]))
    for _ in range(2):
        trial = study.ask()
        trial.set_user_attr(keys.REASON, "RuntimeError: bad model")
        study.tell(trial, state=FAIL)
    setup.ensure_baselines(study, recipe(ladder=[0.5]))  # the recipe was fixed: both run again
    assert [(t.user_attrs[FRACTION], t.state.name) for t in study.trials] == [
        (1.0, "FAIL"), (0.5, "FAIL"), (1.0, "WAITING"), (0.5, "WAITING")]


def test_set_up_study_names_metrics_stores_the_recipe_and_marks_ready(tmp_path):
    r = recipe(ladder=[0.5], objectives=["val_mae", "device_seconds", "peak_memory"])
    p = plan(r, tmp_path)
    study = setup.open_plan_study(p)
    assert study.metric_names == ["val MAE", "device seconds", "peak memory MiB"]
    assert study.user_attrs[keys.READY] is True and study.user_attrs["sttune.dataset"] == "synthetic"
    assert study.user_attrs["sttune.recipe"]["name"] == "unit"
    assert study.study_name == "unit:synthetic" and len(study.trials) == 3  # 2 baselines, st_prune's recommendation
    joining = setup.open_plan_study(replace(p, sets_up=False, worker_index=1))  # ready: no wait, nothing added
    assert len(joining.trials) == 3
