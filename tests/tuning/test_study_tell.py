"""sttune.tuning.tell: what a finished, stopped, interrupted or out-of-memory trial is told.

Trials are driven with ``study.ask()`` / ``study.tell()`` on in-memory storage; nothing trains.
"""

from __future__ import annotations

from types import SimpleNamespace

import optuna
import pytest

from helpers import train_result
from sttune.training.result import EpochRecord
from sttune.tuning import accounting as acc, keys, records as rec, tell
from sttune.tuning.events import NullEvents
from sttune.tuning.keys import FRACTION, ROLE, STOPPED_CHECKPOINT
from study_kit import COMPLETE, FAIL, PRUNED, new_study, recipe

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _baseline_trial(study, fraction=1.0):
    study.enqueue_trial({}, user_attrs={ROLE: "baseline", FRACTION: fraction})
    return study.ask()


def test_tell_result_constrains_val_mae_against_the_full_baseline():
    r = recipe(limit=0.1)
    study = new_study()
    early = study.ask()  # finished before the full baseline (after a resume): no constraint yet
    tell.tell_result(study, early, train_result(9.0, 1.0), r)
    base = _baseline_trial(study)
    tell.tell_result(study, base, train_result(2.0, 100.0), r)
    worse, ok = study.ask(), study.ask()
    tell.tell_result(study, worse, train_result(2.4, 10.0), r)
    tell.tell_result(study, ok, train_result(2.1, 10.0), r)
    t = study.trials
    assert t[early.number].constraints is None or t[early.number].constraints == {}
    assert t[base.number].constraints["val_mae_increase"] == pytest.approx(-0.1)
    assert t[worse.number].constraints["val_mae_increase"] == pytest.approx(2.4 / 2.0 - 1 - 0.1)
    assert t[ok.number].constraints["val_mae_increase"] == pytest.approx(2.1 / 2.0 - 1 - 0.1)
    assert [r_.feasible for r_ in rec.finished_records(study)] == [True, True, False, True]
    assert t[worse.number].values == [2.4, 10.0] and t[worse.number].user_attrs[keys.RESULT]["val"]["mae"] == 2.4


def test_tell_result_uses_the_reference_of_a_reduced_baseline_only_once_the_full_one_exists():
    r = recipe(limit=0.0)
    study = new_study()
    half = _baseline_trial(study, 0.5)  # a ladder rung is not the reference
    tell.tell_result(study, half, train_result(3.0, 50.0), r)
    assert not study.trials[half.number].constraints
    base = _baseline_trial(study)
    tell.tell_result(study, base, train_result(2.0, 100.0), r)
    quarter = _baseline_trial(study, 0.25)
    tell.tell_result(study, quarter, train_result(4.0, 25.0), r)
    assert study.trials[quarter.number].constraints["val_mae_increase"] == pytest.approx(1.0)


def test_tell_result_without_a_limit_sets_no_constraint_and_tells_every_objective():
    r = recipe(objectives=["val_mae", "device_seconds", "peak_memory"])
    study = optuna.create_study(directions=["minimize"] * 3)
    base = _baseline_trial(study)
    tell.tell_result(study, base, train_result(2.0, 100.0, peak_mib=64.0), r)
    frozen = study.trials[0]
    assert not frozen.constraints and frozen.values == [2.0, 100.0, 64.0]


def test_a_stopped_trial_is_pruned_with_its_last_values():
    r = recipe()
    study = new_study()
    trial = study.ask()
    tell.tell_result(study, trial, train_result(2.5, 30.0, stop_reason="stopped: dominated"), r)
    frozen = study.trials[0]
    assert frozen.state == PRUNED and frozen.user_attrs[keys.STOPPED_VALUES] == [2.5, 30.0]
    before_training = study.ask()  # stopped at a preparation checkpoint: the checkpoint's val MAE
    before_training.set_user_attr(STOPPED_CHECKPOINT, [3.25, 12.0])
    tell.tell_result(study, before_training, train_result(7.0, 5.0, stop_reason="stopped: dominated", epochs_run=0), r)
    assert study.trials[1].user_attrs[keys.STOPPED_VALUES] == [3.25, 5.0]
    trained = study.ask()  # stopped after an epoch: its own val MAE, the checkpoint's is old news
    trained.set_user_attr(STOPPED_CHECKPOINT, [3.25, 12.0])
    tell.tell_result(study, trained, train_result(2.75, 20.0, stop_reason="stopped: dominated", epochs_run=2), r)
    assert study.trials[2].user_attrs[keys.STOPPED_VALUES] == [2.75, 20.0]


def test_interrupted_trial_fails_and_the_same_config_is_queued_again():
    study = new_study()
    trial = _baseline_trial(study, 0.5)
    tell.tell_interrupted(study, trial)
    t = study.trials
    assert t[0].state == FAIL and t[0].user_attrs[keys.REASON] == tell.INTERRUPTED
    # marked as a retry of trial 0, so that a resume can say how many were re-queued
    assert t[1].state.name == "WAITING" and t[1].user_attrs == {ROLE: "baseline", FRACTION: 0.5, keys.RETRY_OF: 0}
    assert acc.count_done(t) == 0 and [c.number for c in acc._claims(t)] == [1]
    other = new_study()
    search = other.ask()
    x = search.suggest_float("x", 0, 1)
    tell.tell_interrupted(other, search)
    again = other.ask()  # the queued copy proposes the same params
    assert again.number == 1 and again.suggest_float("x", 0, 1) == x and again.user_attrs == {keys.RETRY_OF: 0}


def test_out_of_memory_is_an_infeasible_complete_trial_without_a_result():
    r = recipe()
    study = new_study()
    events = NullEvents()
    crash = SimpleNamespace(reason="out of memory", tb="Traceback...", partial=None)
    lonely = study.ask()  # no baseline and no epoch: nothing to tell, it fails
    tell.tell_oom(study, lonely, crash, r, events)
    assert study.trials[0].state == FAIL and study.trials[0].user_attrs[keys.REASON] == "out of memory"
    base = _baseline_trial(study)
    tell.tell_result(study, base, train_result(2.0, 100.0, peak_mib=10.0), r)
    oom = study.ask()
    tell.tell_oom(study, oom, crash, r, events)
    partial = study.ask()
    tell.tell_oom(study, partial, replace_partial(crash, EpochRecord(3, 1.0, 2.7, 40.0, 10)), r, events)
    t = study.trials
    for n, values in ((oom.number, [2.0, 100.0]), (partial.number, [2.7, 40.0])):
        assert t[n].state == COMPLETE and t[n].values == values
        assert t[n].constraints == {tell.MEMORY_CONSTRAINT: 1.0} and t[n].user_attrs[keys.OOM] is True
        assert keys.RESULT not in t[n].user_attrs
    assert [r_.number for r_ in rec.finished_records(study)] == [base.number]


def replace_partial(crash, partial):
    return SimpleNamespace(reason=crash.reason, tb=crash.tb, partial=partial)


def test_the_sampler_is_told_the_priced_cost_once_the_full_baseline_finished():
    from sttune.training.work import WorkSummary

    r = recipe()
    study = new_study()
    early = study.ask()  # before the full baseline: no unit yet, the timed cost
    tell.tell_result(study, early, train_result(3.0, 7.0, work=WorkSummary(units=50)), r)
    base = _baseline_trial(study)
    tell.tell_result(study, base, train_result(2.0, 10.0, work=WorkSummary(units=100)), r)  # 0.1 s a unit
    lucky = study.ask()  # timed on a quiet machine: 3 s for half the baseline's work
    tell.tell_result(study, lucky, train_result(2.1, 3.0, work=WorkSummary(units=50)), r)
    old = study.ask()  # a result without recorded work: the timed cost
    tell.tell_result(study, old, train_result(2.2, 4.0), r)
    told = [t.values[1] for t in study.trials]
    assert told == pytest.approx([7.0, 10.0, 5.0, 4.0])


def test_every_told_trial_carries_flat_numbers_a_dashboard_can_sort_and_filter():
    from sttune.training.work import WorkSummary
    from sttune.tuning.reuse import tell_reused

    r = recipe()
    study = new_study()
    early = study.ask()  # before the full baseline: only its label
    early.set_user_attr(keys.JOB, {"strategies": [["st_prune", {}]]})
    tell.tell_result(study, early, train_result(3.0, 10.0), r)
    base = _baseline_trial(study)
    tell.tell_result(study, base, train_result(2.0, 100.0, work=WorkSummary(units=40.0)), r)
    pruned = study.ask()
    pruned.set_user_attr(keys.JOB, {"strategies": [["st_prune", {}], ["dynst", {}]]})
    tell.tell_result(study, pruned, train_result(2.2, 25.0, work=WorkSummary(units=10.0)), r)
    half = _baseline_trial(study, 0.5)
    tell.tell_result(study, half, train_result(2.5, 50.0, work=WorkSummary(units=20.0)), r)
    twin = study.ask()
    twin.set_user_attr(keys.JOB, study.trials[pruned.number].user_attrs[keys.JOB])
    tell_reused(study, twin, study.trials[pruned.number])
    t = study.trials

    def flat(n):
        return {k: v for k, v in t[n].user_attrs.items() if not k.startswith("sttune.")}

    assert flat(early.number) == {"strategy": "st_prune"}
    assert flat(base.number) == {"strategy": "baseline", "val_mae_change": 0.0, "speedup": 1.0, "work_fraction": 1.0}
    assert flat(pruned.number) == {"strategy": "st_prune+dynst", "val_mae_change": pytest.approx(0.1),
                                   "speedup": pytest.approx(4.0), "work_fraction": pytest.approx(0.25)}
    assert flat(half.number) == {"strategy": "baseline 50%", "val_mae_change": pytest.approx(0.25),
                                 "speedup": pytest.approx(2.0), "work_fraction": pytest.approx(0.5)}
    assert flat(twin.number) == flat(pruned.number)
    assert all(isinstance(v, float) for n in (base.number, pruned.number) for k, v in flat(n).items() if k != "strategy")
    assert keys.RESULT in t[pruned.number].user_attrs  # the JSON attrs stay
