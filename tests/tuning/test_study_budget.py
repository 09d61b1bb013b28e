"""sttune.tuning.accounting and the loop: search.budget stops starting trials that would overrun it.

Trials are driven with ``study.ask()`` / ``study.tell()`` on in-memory storage; nothing trains.
"""

from __future__ import annotations

from dataclasses import replace

import optuna
import pytest

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
    # limit 120 s: 40 + 20 spent; a sampled trial's strategy is not known when it is asked, so it
    # is estimated at the dearest trial so far (the full baseline's 40 s): 60 + 40, 75 + 40 fit,
    # 90 + 40 > 120 does not
    costs = [t.user_attrs[keys.RESULT]["cost_seconds"] for t in study.trials]
    assert costs == [40.0, 20.0, 15.0, 15.0]
    assert notes == ["budget reached: 2.25 of 3 baselines spent, 0.00 kept for the export's re-timing, and the next "
                     "trial could take 1.00 more; stopping with 4 trials"]


def test_a_dear_strategy_cannot_overrun_the_budget_after_it_was_seen(tmp_path, fake_training):
    # one strategy trial costs 2.5 baselines (a distillation): once seen, no trial starts unless
    # the budget left could absorb that much again; a recommended trial of a known strategy is
    # estimated from that strategy's own dearest trial
    fake_training(lambda job, listener: train_result(2.0, 100.0 if job.strategies else 10.0 * job.train.epochs))
    r = replace(recipe(trials=None, ladder=[0.5], reuse_results=False), train=replace(recipe().train, epochs=4))
    study = st.search_study(replace(plan(r, tmp_path), budget=4), Notes())
    spent = sum(t.user_attrs[keys.RESULT]["cost_seconds"] for t in study.trials)
    assert spent <= 4 * 40.0 * 1.05  # 40 + 20 + 100 = 160: the next 100 would pass 160
    assert [t.user_attrs[keys.RESULT]["cost_seconds"] for t in study.trials] == [40.0, 20.0, 100.0]
    dear = acc._estimator([acc.rec.read_trial(t) for t in study.trials], acc.rec.read_trial(study.trials[0]))
    assert dear({}) == 100.0 and dear({keys.ROLE: "baseline", keys.FRACTION: 0.5}) == 20.0
    assert dear({keys.RECOMMENDED: "keep_first#1"}) == 100.0 and dear({keys.RECOMMENDED: "other#1"}) == 100.0


def test_the_budget_keeps_room_for_the_export_s_re_timing():
    from helpers import trial_record

    base = trial_record(0, 40.0, 2.0, role="baseline", epochs_run=4)  # 4 epochs of 10 batches: 40 batches
    base.result.curve = [replace(e, batches=10) for e in base.result.curve]
    # 9 pairs (the minimum) re-time 18 of 40 batches; kept twice (the chosen, one trade-off), with the overhead
    assert acc.verification_reserve(base, None) == pytest.approx(2 * acc.VERIFY_OVERHEAD * max(acc.VERIFY_SHARE, 18 / 40) * 40.0)
    assert acc.verification_reserve(base, 0) == 0.0
    assert acc.verification_reserve(base, 10) == pytest.approx(2 * acc.VERIFY_OVERHEAD * max(acc.VERIFY_SHARE, 20 / 40) * 40.0)


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
