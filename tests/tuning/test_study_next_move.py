"""sttune.tuning.accounting.decide: ask, wait or stop, from the trials so far, the count and the budget.

Trials are driven with ``study.ask()`` / ``study.tell()`` on in-memory storage; nothing trains.
"""

from __future__ import annotations

import optuna

from sttune.tuning import accounting as acc, setup, study as st, tell
from study_kit import COMPLETE, FAIL, PRUNED, finish, new_study, plan, recipe

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_next_move_asks_while_slots_are_free_and_stops_at_the_count(tmp_path):
    p = plan(recipe(trials=3, ladder=[]), tmp_path)
    study = new_study()
    assert acc._next_move(study, p, searchable=True) == "ask"
    finish(study)
    finish(study)
    assert acc._next_move(study, p, searchable=True) == "ask"
    finish(study, FAIL, tell.INTERRUPTED)  # does not use up the third slot
    assert acc._next_move(study, p, searchable=True) == "ask"
    finish(study)
    assert acc._next_move(study, p, searchable=True) == "stop"


def test_next_move_stops_once_new_results_fill_the_count(tmp_path):
    p = plan(recipe(trials=2, ladder=[]), tmp_path)
    study = new_study()
    study.enqueue_trial({})  # 0: still queued, but older than the finished trials
    study.add_trial(optuna.trial.create_trial(state=PRUNED))  # 1
    study.add_trial(optuna.trial.create_trial(state=FAIL))  # 2: a plain failure fills nothing
    assert acc._next_move(study, p, searchable=True) == "ask"
    study.add_trial(optuna.trial.create_trial(state=COMPLETE, values=[1.0, 1.0]))  # 3
    assert acc._next_move(study, p, searchable=True) == "stop"


def test_next_move_waits_while_others_hold_the_last_slots(tmp_path):
    p = plan(recipe(trials=2, ladder=[]), tmp_path)
    study = new_study()
    finish(study)
    running = study.ask()  # another worker's trial holds the last slot
    assert acc._next_move(study, p, searchable=True) == "wait"
    study.enqueue_trial({})  # a queued trial past the budget is no reason to ask
    assert acc._next_move(study, p, searchable=True) == "wait"
    study.tell(running, state=FAIL)  # a plain failure frees its slot: the queued trial now fits
    assert acc._next_move(study, p, searchable=True) == "ask"
    study.tell(study.ask(), [1.0, 1.0])
    assert acc._next_move(study, p, searchable=True) == "stop"


def test_next_move_asks_for_a_queued_retry_inside_the_budget(tmp_path):
    p = plan(recipe(trials=2, ladder=[]), tmp_path)
    study = new_study()
    finish(study)
    interrupted = study.ask()
    tell.tell_interrupted(study, interrupted)  # FAIL + the same config queued again
    assert acc._next_move(study, p, searchable=False) == "ask"  # even with nothing to search


def test_next_move_without_a_search_space_stops_after_the_baselines(tmp_path):
    p = plan(recipe(trials=10, ladder=[0.5], strategies=()), tmp_path)
    study = new_study()
    setup.ensure_baselines(study, p.recipe)
    assert acc._next_move(study, p, searchable=False) == "ask"
    finish(study)
    baseline = study.ask()
    assert acc._next_move(study, p, searchable=False) == "wait"  # it may still fail stale
    study.tell(baseline, [1.0, 1.0])
    assert acc._next_move(study, p, searchable=False) == "stop"


def test_next_move_without_a_trial_count_asks_until_told_otherwise(tmp_path):
    p = plan(recipe(trials=3, ladder=[]), tmp_path, trials=None)
    study = new_study()
    for _ in range(5):
        finish(study)
    assert acc._next_move(study, p, searchable=True) == "ask"
    assert acc._next_move(study, p, searchable=False) == "stop"


def test_a_trial_asked_past_the_trial_count_goes_back_to_waiting_untouched():
    study = new_study()
    finish(study)
    first, second = study.ask(), study.ask()  # two workers ask for the last slot at once
    assert acc.within_trial_count(study, first._trial_id, 2) and not acc.within_trial_count(study, second._trial_id, 2)
    assert acc.within_trial_count(study, second._trial_id, None)
    st._give_back(study, second)
    assert study.trials[second.number].state.name == "WAITING"
    study.tell(first, [1.0, 1.0])
    st._give_back(study, first)  # a finished trial stays finished
    assert study.trials[first.number].state.name == "COMPLETE"
