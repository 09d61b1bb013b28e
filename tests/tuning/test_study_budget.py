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


def trained(study):
    return [t for t in study.trials if keys.RESULT in t.user_attrs]


def test_the_budget_stops_starting_trials_that_would_overrun_it(tmp_path, fake_training):
    study, notes = budget_run(tmp_path, fake_training, trials=None, budget=3)
    # limit 120 s: 40 + 20 spent; a sampled trial is checked once its job is known, at its
    # predicted cost (the toy strategy plans the full work: 40 s × the 1.1 margin, then × what
    # the finished ones cost over their prediction, never below 1.1): 60 + 44 and 75 + 44 fit,
    # 90 + 44 > 120 does not: the candidates are skipped untrained until a streak ends the search
    assert [t.user_attrs[keys.RESULT]["cost_seconds"] for t in trained(study)] == [40.0, 20.0, 15.0, 15.0]
    skipped = [t for t in study.trials if acc.skipped(t)]
    assert len(skipped) == acc.SKIPPED_AFTER and all(t.user_attrs[keys.SKIPPED].startswith("it would not fit") for t in skipped)
    assert notes[-1].startswith(f"the last {acc.SKIPPED_AFTER} candidates the sampler proposed were skipped")
    assert acc.count_done(study.trials) == 4  # a skipped candidate holds no slot


def test_a_dear_strategy_cannot_overrun_the_budget_after_it_was_seen(tmp_path, fake_training):
    # one strategy trial costs 2.5 baselines (a distillation): once seen, no trial of it starts
    # unless the budget left could absorb the cost it was measured at over its prediction
    fake_training(lambda job, listener: train_result(2.0, 100.0 if job.strategies else 10.0 * job.train.epochs))
    r = replace(recipe(trials=None, ladder=[0.5], reuse_results=False), train=replace(recipe().train, epochs=4))
    study = st.search_study(replace(plan(r, tmp_path), budget=4), Notes())
    spent = sum(t.user_attrs[keys.RESULT]["cost_seconds"] for t in trained(study))
    assert spent <= 4 * 40.0 * 1.05  # 40 + 20 + 100 = 160: the next 100 would pass 160
    assert [t.user_attrs[keys.RESULT]["cost_seconds"] for t in trained(study)] == [40.0, 20.0, 100.0]
    dear = acc._estimator([acc.rec.read_trial(t) for t in trained(study)], acc.rec.read_trial(study.trials[0]))
    rung = optuna.trial.create_trial(values=[1.0, 1.0], user_attrs={keys.ROLE: "baseline", keys.FRACTION: 0.5})
    unknown = optuna.trial.create_trial(values=[1.0, 1.0], user_attrs={keys.RECOMMENDED: "other#1"})
    assert dear(None) == 0.0 and dear(rung) == 20.0 and dear(unknown) == 100.0


def test_the_budget_keeps_room_for_one_re_timing_at_its_expected_size():
    from helpers import trial_record

    base = trial_record(0, 40.0, 2.0, role="baseline", epochs_run=4)  # 4 epochs of 10 batches: 40 batches
    base.result.curve = [replace(e, batches=10) for e in base.result.curve]
    # 9 pairs (the minimum) re-time 18 of 40 batches a pass: two passes would pass VERIFY_SHARE, so one
    assert acc.verification_reserve(base, None) == pytest.approx(acc.VERIFY_OVERHEAD * 18 / 40 * 40.0)
    assert acc.verification_reserve(base, 0) == 0.0
    base.result.curve = [replace(e, batches=100) for e in base.result.curve]  # 400 batches: 20 pairs, 2 passes fit
    assert acc.verification_reserve(base, None) == pytest.approx(acc.VERIFY_OVERHEAD * 2 * 40 / 400 * 40.0)


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
    rung = study.ask()  # 40 spent + the running rung's 20 + the recommendation's 0.85 × 40 × 1.1 = 37.4 > 88
    setup.ensure_recommendations(study, p.recipe)
    assert acc.decide(study.trials, p, True).move == "wait"
    tell.tell_result(study, rung, train_result(2.0, 5.0), p.recipe)  # it cost less than estimated: 45 + 37.4
    assert acc.decide(study.trials, p, True).move == "ask"


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
