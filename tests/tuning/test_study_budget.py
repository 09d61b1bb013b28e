"""sttune.tuning.accounting and the loop: search.budget stops starting trials that would overrun it.

Trials are driven with ``study.ask()`` / ``study.tell()`` on in-memory storage; nothing trains.
"""

from __future__ import annotations

from dataclasses import replace

import optuna

from helpers import train_result
from sttune.tuning import accounting as acc, keys, setup, study as st, tell
from study_kit import FAIL, Notes, new_study, plan, recipe

optuna.logging.set_verbosity(optuna.logging.WARNING)


def budget_run(tmp_path, fake_training, trials, budget):
    """Full baseline 40 s (4 epochs of 10), the 0.5 rung 20 s, every strategy trial 15 s."""
    fake_training(lambda job, listener: train_result(2.0, 15.0 if job.strategies else 10.0 * job.train.epochs))
    r = replace(recipe(trials=trials, ladder=[0.5], reuse_results=False), train=replace(recipe().train, epochs=4))
    notes = Notes()
    study = st.search_study(replace(plan(r, tmp_path), budget=budget), notes)
    return study, notes.lines


def test_the_budget_stops_starting_trials_that_would_overrun_it(tmp_path, fake_training):
    study, notes = budget_run(tmp_path, fake_training, trials=None, budget=3)
    # limit 120 s: 40 + 20 spent, the first strategy trial estimated at the baseline's 40 s
    # (60 + 40 <= 120), then at the strategy trials' mean of 15 s: 75, 90, 105, 120; 135 > 120
    costs = [t.user_attrs[keys.RESULT]["cost_seconds"] for t in study.trials]
    assert costs == [40.0, 20.0, 15.0, 15.0, 15.0, 15.0]
    assert notes == ["budget reached: 3.00 of 3 baselines spent and the next trial would take about 0.38 more; "
                     "stopping with 6 trials"]


def test_the_trial_count_stops_the_search_when_it_comes_before_the_budget(tmp_path, fake_training):
    study, notes = budget_run(tmp_path, fake_training, trials=4, budget=3)
    assert len(study.trials) == 4 and notes == []


def test_the_budget_counts_the_running_trials_and_waits_for_the_unit(tmp_path):
    p = replace(plan(recipe(trials=None, ladder=[0.5]), tmp_path), budget=2.2)  # 88 s once the unit is known
    study = new_study()
    setup.ensure_baselines(study, p.recipe)
    full = study.ask()
    assert acc.decide(study.trials, p, True).move == "ask"  # no unit yet: the rung may start
    tell.tell_result(study, full, train_result(2.0, 40.0), p.recipe)
    rung = study.ask()  # 40 spent + the running rung's 20 + the next strategy trial's 40 > 88
    assert acc.decide(study.trials, p, True).move == "wait"
    tell.tell_result(study, rung, train_result(2.0, 5.0), p.recipe)  # it cost less than estimated: 45 + 40
    assert acc.decide(study.trials, p, True).move == "ask"
    first, second = study.ask(), study.ask()  # two workers asked for the last room at once
    assert acc.fits_budget(study, first, p.budget) and not acc.fits_budget(study, second, p.budget)
    assert acc.fits_budget(study, second, None)
    study.tell(first, state=FAIL)  # a failure costs nothing here (it has no result)
    assert acc.fits_budget(study, second, p.budget)


def test_with_a_budget_a_failed_full_baseline_fails_the_search(tmp_path):
    p = replace(plan(recipe(trials=None, ladder=[]), tmp_path), budget=3)
    study = new_study()
    setup.ensure_baselines(study, p.recipe)
    trial = study.ask()
    trial.set_user_attr(keys.REASON, "RuntimeError: bad model")
    study.tell(trial, state=FAIL)
    assert acc.decide(study.trials, p, True) == acc.Decision(
        "fail", "the full baseline failed (last: RuntimeError: bad model); search.budget counts in its cost")
    assert acc.decide(study.trials, replace(p, budget=None), True).move == "ask"
