"""sttune.search.study: claims, trial counting, the next move, baselines, and what a trial is told.

Trials are driven with ``study.ask()`` / ``study.tell()`` on an in-memory storage; nothing trains
(``run_study`` gets a stand-in for ``run_job``).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import train_result  # noqa: E402
from sttune.recipe import DatasetBlock, ModelBlock, Recipe, SearchConfig, StrategyBlock  # noqa: E402
from sttune.search import records as rec, study as st  # noqa: E402
from sttune.search.events import NullEvents  # noqa: E402
from sttune.search.heartbeat import STALE, retry_stale  # noqa: E402
from sttune.search.rungs import STOPPED_CHECKPOINT_ATTR  # noqa: E402
from sttune.search.space import BUDGET, ROLE  # noqa: E402
from sttune.train.result import EpochRecord  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)
COMPLETE, FAIL, PRUNED = optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL, optuna.trial.TrialState.PRUNED


def recipe(trials=5, ladder=(0.25, 0.5), strategies=("st_prune",), limit=None, **search) -> Recipe:
    return Recipe(
        datasets=[DatasetBlock("synthetic")], model=ModelBlock(name="stid"),
        strategies=[StrategyBlock(s) for s in strategies],
        search=SearchConfig(trials=trials, baseline_ladder=list(ladder), max_mae_increase=limit, **search),
        name="unit",
    )


def plan(r: Recipe, tmp_path: Path, trials="same") -> st.StudyPlan:
    return st.StudyPlan(r, "unit", r.datasets[0], optuna.storages.InMemoryStorage(), tmp_path,
                        r.search.trials if trials == "same" else trials, None)


def new_study() -> optuna.Study:
    return optuna.create_study(directions=["minimize", "minimize"])


def finish(study: optuna.Study, state=COMPLETE, reason: str | None = None) -> optuna.Trial:
    trial = study.ask()
    if reason is not None:
        trial.set_user_attr(rec.REASON, reason)
    study.tell(trial, [1.0, 1.0] if state == COMPLETE else None, state=None if state == COMPLETE else state)
    return trial


# ---------------------------------------------------------------- baselines


def test_ensure_baselines_enqueues_the_full_budget_then_the_ladder_descending_once():
    study = new_study()
    st.ensure_baselines(study, recipe(ladder=[0.25, 0.75, 0.5]))
    trials = study.get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.WAITING] * 4
    assert [(t.user_attrs[ROLE], t.user_attrs[BUDGET]) for t in trials] == [
        ("baseline", 1.0), ("baseline", 0.75), ("baseline", 0.5), ("baseline", 0.25)]
    st.ensure_baselines(study, recipe(ladder=[0.25, 0.75, 0.5]))  # a resume: nothing new
    assert len(study.trials) == 4


def test_ensure_baselines_adds_only_the_missing_rungs_after_some_ran():
    study = new_study()
    st.ensure_baselines(study, recipe(ladder=[0.5]))
    finish(study)  # the full baseline ran
    study.ask()  # the 0.5 rung is running
    st.ensure_baselines(study, recipe(ladder=[0.5, 0.25]))  # the ladder grew by 0.25
    assert [(t.user_attrs[BUDGET], t.state.name) for t in study.trials] == [
        (1.0, "COMPLETE"), (0.5, "RUNNING"), (0.25, "WAITING")]


def test_prepare_study_names_metrics_stores_the_recipe_and_marks_ready(tmp_path):
    r = recipe(ladder=[0.5], objectives=["val_mae", "device_seconds", "peak_memory"])
    p = plan(r, tmp_path)
    study = st.open_plan_study(p)
    assert study.metric_names == ["val MAE", "device seconds", "peak memory MiB"]
    assert study.user_attrs[st.READY] is True and study.user_attrs["sttune.dataset"] == "synthetic"
    assert study.user_attrs["sttune.recipe"]["name"] == "unit"
    assert study.study_name == "unit:synthetic" and len(study.trials) == 3  # 2 baselines, st_prune's recommendation
    joining = st.open_plan_study(replace(p, prepare=False, worker_index=1))  # ready: no wait, nothing added
    assert len(joining.trials) == 3


# ---------------------------------------------------------------- claims and counting


def reuse(study: optuna.Study, twin: int) -> optuna.Trial:
    """A trial that took trial ``twin``'s result (search.reuse_results)."""
    trial = study.ask()
    trial.set_user_attr(rec.REUSED, twin)
    study.tell(trial, [1.0, 1.0])
    return trial


def test_count_done_counts_only_new_results():
    study = new_study()
    finish(study)  # 0: counts
    finish(study, FAIL, "RuntimeError: boom")  # 1: a plain failure is reported, holds no slot
    finish(study, FAIL, st.INTERRUPTED)  # 2: queued again, does not count
    finish(study, FAIL, f"{STALE}: no heartbeat for 300 s")  # 3: likewise
    retried = finish(study, FAIL, "worker died")  # 4: retried through the heartbeat callback
    retry_stale(study, study.trials[retried.number])  # 5: WAITING, retry_history [4]
    finish(study, PRUNED)  # 5 is asked here and pruned: counts
    reuse(study, 0)  # 6: the same job as 0, its result reused: no new work
    assert [t.state.name for t in study.trials] == ["COMPLETE", "FAIL", "FAIL", "FAIL", "FAIL", "PRUNED", "COMPLETE"]
    assert st.count_done(study.trials) == 2  # 0, 5
    assert [t.number for t in st._claims(study.trials)] == [0, 5]


def test_claims_include_waiting_and_running_in_creation_order():
    study = new_study()
    study.enqueue_trial({})  # 0: WAITING
    running = study.ask()  # takes 0
    study.enqueue_trial({})  # 1
    study.enqueue_trial({})  # 2
    assert running.number == 0
    claims = st._claims(study.trials)
    assert [(t.number, t.state.name) for t in claims] == [(0, "RUNNING"), (1, "WAITING"), (2, "WAITING")]
    assert st.count_done(study.trials) == 0


# ---------------------------------------------------------------- the next move


def test_next_move_asks_while_slots_are_free_and_stops_at_the_count(tmp_path):
    p = plan(recipe(trials=3, ladder=[]), tmp_path)
    study = new_study()
    assert st._next_move(study, p, searchable=True) == "ask"
    finish(study)
    finish(study)
    assert st._next_move(study, p, searchable=True) == "ask"
    finish(study, FAIL, st.INTERRUPTED)  # does not use up the third slot
    assert st._next_move(study, p, searchable=True) == "ask"
    finish(study)
    assert st._next_move(study, p, searchable=True) == "stop"


def test_next_move_stops_once_new_results_fill_the_count(tmp_path):
    p = plan(recipe(trials=2, ladder=[]), tmp_path)
    study = new_study()
    study.enqueue_trial({})  # 0: still queued, but older than the finished trials
    study.add_trial(optuna.trial.create_trial(state=PRUNED))  # 1
    study.add_trial(optuna.trial.create_trial(state=FAIL))  # 2: a plain failure fills nothing
    assert st._next_move(study, p, searchable=True) == "ask"
    study.add_trial(optuna.trial.create_trial(state=COMPLETE, values=[1.0, 1.0]))  # 3
    assert st._next_move(study, p, searchable=True) == "stop"


def test_next_move_waits_while_others_hold_the_last_slots(tmp_path):
    p = plan(recipe(trials=2, ladder=[]), tmp_path)
    study = new_study()
    finish(study)
    running = study.ask()  # another worker's trial holds the last slot
    assert st._next_move(study, p, searchable=True) == "wait"
    study.enqueue_trial({})  # a queued trial past the budget is no reason to ask
    assert st._next_move(study, p, searchable=True) == "wait"
    study.tell(running, state=FAIL)  # a plain failure frees its slot: the queued trial now fits
    assert st._next_move(study, p, searchable=True) == "ask"
    study.tell(study.ask(), [1.0, 1.0])
    assert st._next_move(study, p, searchable=True) == "stop"


def test_next_move_asks_for_a_queued_retry_inside_the_budget(tmp_path):
    p = plan(recipe(trials=2, ladder=[]), tmp_path)
    study = new_study()
    finish(study)
    interrupted = study.ask()
    st._interrupted(study, interrupted)  # FAIL + the same config queued again
    assert st._next_move(study, p, searchable=False) == "ask"  # even with nothing to search


def test_next_move_without_a_search_space_stops_after_the_baselines(tmp_path):
    p = plan(recipe(trials=10, ladder=[0.5], strategies=()), tmp_path)
    study = new_study()
    st.ensure_baselines(study, p.recipe)
    assert st._next_move(study, p, searchable=False) == "ask"
    finish(study)
    baseline = study.ask()
    assert st._next_move(study, p, searchable=False) == "wait"  # it may still fail stale
    study.tell(baseline, [1.0, 1.0])
    assert st._next_move(study, p, searchable=False) == "stop"


def test_next_move_without_a_trial_count_asks_until_told_otherwise(tmp_path):
    p = plan(recipe(trials=3, ladder=[]), tmp_path, trials=None)
    study = new_study()
    for _ in range(5):
        finish(study)
    assert st._next_move(study, p, searchable=True) == "ask"
    assert st._next_move(study, p, searchable=False) == "stop"


def test_a_trial_asked_past_the_budget_goes_back_to_waiting_untouched():
    study = new_study()
    finish(study)
    first, second = study.ask(), study.ask()  # two workers ask for the last slot at once
    assert st._within_budget(study, first._trial_id, 2) and not st._within_budget(study, second._trial_id, 2)
    assert st._within_budget(study, second._trial_id, None)
    st._give_back(study, second)
    assert study.trials[second.number].state.name == "WAITING"
    study.tell(first, [1.0, 1.0])
    st._give_back(study, first)  # a finished trial stays finished
    assert study.trials[first.number].state.name == "COMPLETE"


# ---------------------------------------------------------------- telling results


def _baseline_trial(study, budget=1.0):
    study.enqueue_trial({}, user_attrs={ROLE: "baseline", BUDGET: budget})
    return study.ask()


def test_tell_result_constrains_val_mae_against_the_full_baseline():
    r = recipe(limit=0.1)
    study = new_study()
    early = study.ask()  # finished before the full baseline (after a resume): no constraint yet
    st._tell_result(study, early, train_result(9.0, 1.0), r)
    base = _baseline_trial(study)
    st._tell_result(study, base, train_result(2.0, 100.0), r)
    worse, ok = study.ask(), study.ask()
    st._tell_result(study, worse, train_result(2.4, 10.0), r)
    st._tell_result(study, ok, train_result(2.1, 10.0), r)
    t = study.trials
    assert t[early.number].constraints is None or t[early.number].constraints == {}
    assert t[base.number].constraints["val_mae_increase"] == pytest.approx(-0.1)
    assert t[worse.number].constraints["val_mae_increase"] == pytest.approx(2.4 / 2.0 - 1 - 0.1)
    assert t[ok.number].constraints["val_mae_increase"] == pytest.approx(2.1 / 2.0 - 1 - 0.1)
    assert [r_.feasible for r_ in rec.finished_records(study)] == [True, True, False, True]
    assert t[worse.number].values == [2.4, 10.0] and t[worse.number].user_attrs[rec.RESULT]["val"]["mae"] == 2.4


def test_tell_result_uses_the_reference_of_a_reduced_baseline_only_once_the_full_one_exists():
    r = recipe(limit=0.0)
    study = new_study()
    half = _baseline_trial(study, 0.5)  # a ladder rung is not the reference
    st._tell_result(study, half, train_result(3.0, 50.0), r)
    assert not study.trials[half.number].constraints
    base = _baseline_trial(study)
    st._tell_result(study, base, train_result(2.0, 100.0), r)
    quarter = _baseline_trial(study, 0.25)
    st._tell_result(study, quarter, train_result(4.0, 25.0), r)
    assert study.trials[quarter.number].constraints["val_mae_increase"] == pytest.approx(1.0)


def test_tell_result_without_a_limit_sets_no_constraint_and_tells_every_objective():
    r = recipe(objectives=["val_mae", "device_seconds", "peak_memory"])
    study = optuna.create_study(directions=["minimize"] * 3)
    base = _baseline_trial(study)
    st._tell_result(study, base, train_result(2.0, 100.0, peak_mib=64.0), r)
    frozen = study.trials[0]
    assert not frozen.constraints and frozen.values == [2.0, 100.0, 64.0]


def test_a_stopped_trial_is_pruned_with_its_last_values():
    r = recipe()
    study = new_study()
    trial = study.ask()
    st._tell_result(study, trial, train_result(2.5, 30.0, stop_reason="stopped: dominated"), r)
    frozen = study.trials[0]
    assert frozen.state == PRUNED and frozen.user_attrs[rec.STOPPED_VALUES] == [2.5, 30.0]
    before_training = study.ask()  # stopped at a preparation checkpoint: the checkpoint's val MAE
    before_training.set_user_attr(STOPPED_CHECKPOINT_ATTR, [3.25, 12.0])
    st._tell_result(study, before_training, train_result(7.0, 5.0, stop_reason="stopped: dominated", epochs_run=0), r)
    assert study.trials[1].user_attrs[rec.STOPPED_VALUES] == [3.25, 5.0]
    trained = study.ask()  # stopped after an epoch: its own val MAE, the checkpoint's is old news
    trained.set_user_attr(STOPPED_CHECKPOINT_ATTR, [3.25, 12.0])
    st._tell_result(study, trained, train_result(2.75, 20.0, stop_reason="stopped: dominated", epochs_run=2), r)
    assert study.trials[2].user_attrs[rec.STOPPED_VALUES] == [2.75, 20.0]


def test_interrupted_trial_fails_and_the_same_config_is_queued_again():
    study = new_study()
    trial = _baseline_trial(study, 0.5)
    st._interrupted(study, trial)
    t = study.trials
    assert t[0].state == FAIL and t[0].user_attrs[rec.REASON] == st.INTERRUPTED
    assert t[1].state.name == "WAITING" and t[1].user_attrs == {ROLE: "baseline", BUDGET: 0.5}
    assert st.count_done(t) == 0 and [c.number for c in st._claims(t)] == [1]
    other = new_study()
    search = other.ask()
    x = search.suggest_float("x", 0, 1)
    st._interrupted(other, search)
    again = other.ask()  # the queued copy proposes the same params
    assert again.number == 1 and again.suggest_float("x", 0, 1) == x and not again.user_attrs


def test_out_of_memory_is_an_infeasible_complete_trial_without_a_result():
    r = recipe()
    study = new_study()
    events = NullEvents()
    crash = SimpleNamespace(reason="out of memory", tb="Traceback...", partial=None)
    lonely = study.ask()  # no baseline and no epoch: nothing to tell, it fails
    st._tell_oom(study, lonely, crash, r, events)
    assert study.trials[0].state == FAIL and study.trials[0].user_attrs[rec.REASON] == "out of memory"
    base = _baseline_trial(study)
    st._tell_result(study, base, train_result(2.0, 100.0, peak_mib=10.0), r)
    oom = study.ask()
    st._tell_oom(study, oom, crash, r, events)
    partial = study.ask()
    st._tell_oom(study, partial, replace_partial(crash, EpochRecord(3, 1.0, 2.7, 40.0, 10)), r, events)
    t = study.trials
    for n, values in ((oom.number, [2.0, 100.0]), (partial.number, [2.7, 40.0])):
        assert t[n].state == COMPLETE and t[n].values == values
        assert t[n].constraints == {st.MEMORY_CONSTRAINT: 1.0} and t[n].user_attrs[st.OOM] is True
        assert rec.RESULT not in t[n].user_attrs
    assert [r_.number for r_ in rec.finished_records(study)] == [base.number]


def replace_partial(crash, partial):
    return SimpleNamespace(reason=crash.reason, tb=crash.tb, partial=partial)


# ---------------------------------------------------------------- a whole study, no training


def test_run_study_runs_exactly_the_trial_count_baselines_first(tmp_path, monkeypatch):
    jobs = []

    def fake_run_job(job, cache_dir, on_epoch=None):
        jobs.append(job)
        keep = dict(job.strategies).get("st_prune", {}).get("keep_ratio", 1.0) if job.strategies else 1.0
        return train_result(2.0 + 0.1 * len(jobs), 10.0 * job.train.epochs * float(keep or 1.0))

    monkeypatch.setattr(st, "run_job", fake_run_job)
    r = replace(recipe(trials=5, ladder=[0.5], limit=0.5, reuse_results=False), train=replace(recipe().train, epochs=4))
    study = st.run_study(plan(r, tmp_path), NullEvents())
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 5 and len(jobs) == 5
    assert [(t.user_attrs.get(ROLE), t.user_attrs.get(BUDGET)) for t in study.trials[:2]] == [
        ("baseline", 1.0), ("baseline", 0.5)]
    assert [j.train.epochs for j in jobs[:2]] == [4, 2] and not jobs[0].strategies and not jobs[1].strategies
    assert all(j.strategies and j.strategies[0][0] == "st_prune" for j in jobs[2:])
    assert st.count_done(study.trials) == 5
    again = st.run_study(replace(plan(r, tmp_path), storage=study._storage), NullEvents())  # a resume: nothing to do
    assert len(again.trials) == 5 and len(jobs) == 5


# ---------------------------------------------------------------- only new work counts: streaks


def test_a_failure_streak_fails_the_loop_with_the_last_reason(tmp_path):
    p = plan(recipe(trials=10, ladder=[], max_consecutive_failures=3), tmp_path)
    study = new_study()
    finish(study)
    finish(study, FAIL, "RuntimeError: a")
    finish(study, FAIL, "RuntimeError: b")
    finish(study, FAIL, st.INTERRUPTED)  # queued again: neither a failure nor a success here
    reuse(study, 0)  # a reused result neither breaks nor extends the streak
    assert st.failure_streak(study.trials) == (2, "RuntimeError: b")
    assert st.decide(study.trials, p, searchable=True).move == "ask"
    finish(study, FAIL, "RuntimeError: c\n  on two lines")
    decision = st.decide(study.trials, p, searchable=True)
    assert decision == st.Decision("fail", "the last 3 trials failed (last: RuntimeError: c on two lines)")
    earlier = {t.number for t in study.trials}  # the next run counts only its own trials
    assert st.decide(study.trials, p, searchable=True, earlier=earlier).move == "ask"
    finish(study)  # a new result ends the streak
    assert st.failure_streak(study.trials) == (0, "")


def test_a_run_of_reused_results_stops_the_search_as_exhausted(tmp_path, monkeypatch):
    monkeypatch.setattr(st, "EXHAUSTED_AFTER", 3)
    p = plan(recipe(trials=10, ladder=[]), tmp_path)
    study = new_study()
    finish(study)
    reuse(study, 0)
    reuse(study, 0)
    finish(study, FAIL, "RuntimeError: a")  # failures are the other streak's business
    assert st.reuse_streak(study.trials) == 2 and st.decide(study.trials, p, searchable=True).move == "ask"
    reuse(study, 0)
    decision = st.decide(study.trials, p, searchable=True)
    assert decision.move == "stop" and decision.note is not None
    assert "exhausted" in decision.note and "with 1 new trials" in decision.note
    assert st.decide(study.trials, p, searchable=True, earlier={t.number for t in study.trials}).move == "ask"


def test_a_failed_baseline_is_queued_again_by_the_next_run():
    study = new_study()
    st.ensure_baselines(study, recipe(ladder=[0.5]))
    for _ in range(2):
        trial = study.ask()
        trial.set_user_attr(rec.REASON, "RuntimeError: bad model")
        study.tell(trial, state=FAIL)
    st.ensure_baselines(study, recipe(ladder=[0.5]))  # the recipe was fixed: both run again
    assert [(t.user_attrs[BUDGET], t.state.name) for t in study.trials] == [
        (1.0, "FAIL"), (0.5, "FAIL"), (1.0, "WAITING"), (0.5, "WAITING")]


def test_run_study_stops_after_max_consecutive_failures(tmp_path, monkeypatch):
    def fake_run_job(job, cache_dir, on_epoch=None):
        if job.strategies:
            raise RuntimeError("always")
        return train_result(2.0, 10.0)

    monkeypatch.setattr(st, "run_job", fake_run_job)
    r = recipe(trials=5, ladder=[], max_consecutive_failures=3)
    p = plan(r, tmp_path)
    with pytest.raises(st.FailureStreak) as caught:
        st.run_study(p, NullEvents())
    assert caught.value.one_line() == ("the last 3 trials failed (last: RuntimeError: always). "
                                       "fix the recipe and run the same command again")
    study = optuna.load_study(study_name="unit:synthetic", storage=p.storage)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "FAIL", "FAIL", "FAIL"]
    assert st.count_done(study.trials) == 1
    monkeypatch.setattr(st, "run_job", lambda job, cache_dir, on_epoch=None: train_result(2.0, 5.0))  # fixed
    st.run_study(p, NullEvents())  # the same command again: the remaining trials run
    assert st.count_done(study.trials) == 5 and len(study.trials) == 8


# ---------------------------------------------------------------- the budget


class Notes(NullEvents):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def notice(self, message: str) -> None:
        self.lines.append(message)


def budget_run(tmp_path, monkeypatch, trials, budget):
    """Full baseline 40 s (4 epochs of 10), the 0.5 rung 20 s, every strategy trial 15 s."""
    def fake_run_job(job, cache_dir, on_epoch=None):
        return train_result(2.0, 15.0 if job.strategies else 10.0 * job.train.epochs)

    monkeypatch.setattr(st, "run_job", fake_run_job)
    r = replace(recipe(trials=trials, ladder=[0.5], reuse_results=False), train=replace(recipe().train, epochs=4))
    notes = Notes()
    study = st.run_study(replace(plan(r, tmp_path), budget=budget), notes)
    return study, notes.lines


def test_the_budget_stops_starting_trials_that_would_overrun_it(tmp_path, monkeypatch):
    study, notes = budget_run(tmp_path, monkeypatch, trials=None, budget=3)
    # limit 120 s: 40 + 20 spent, the first strategy trial estimated at the baseline's 40 s
    # (60 + 40 <= 120), then at the strategy trials' mean of 15 s: 75, 90, 105, 120; 135 > 120
    costs = [t.user_attrs[rec.RESULT]["cost_seconds"] for t in study.trials]
    assert costs == [40.0, 20.0, 15.0, 15.0, 15.0, 15.0]
    assert notes == ["budget reached: 3.00 of 3 baselines spent and the next trial would take about 0.38 more; "
                     "stopping with 6 trials"]


def test_the_trial_count_stops_the_search_when_it_comes_before_the_budget(tmp_path, monkeypatch):
    study, notes = budget_run(tmp_path, monkeypatch, trials=4, budget=3)
    assert len(study.trials) == 4 and notes == []


def test_the_budget_counts_the_running_trials_and_waits_for_the_unit(tmp_path):
    p = replace(plan(recipe(trials=None, ladder=[0.5]), tmp_path), budget=2.2)  # 88 s once the unit is known
    study = new_study()
    st.ensure_baselines(study, p.recipe)
    full = study.ask()
    assert st.decide(study.trials, p, True).move == "ask"  # no unit yet: the rung may start
    st._tell_result(study, full, train_result(2.0, 40.0), p.recipe)
    rung = study.ask()  # 40 spent + the running rung's 20 + the next strategy trial's 40 > 88
    assert st.decide(study.trials, p, True).move == "wait"
    st._tell_result(study, rung, train_result(2.0, 5.0), p.recipe)  # it cost less than estimated: 45 + 40
    assert st.decide(study.trials, p, True).move == "ask"
    first, second = study.ask(), study.ask()  # two workers asked for the last room at once
    assert st._fits_budget(study, first, p.budget) and not st._fits_budget(study, second, p.budget)
    assert st._fits_budget(study, second, None)
    study.tell(first, state=FAIL)  # a failure costs nothing here (it has no result)
    assert st._fits_budget(study, second, p.budget)


def test_with_a_budget_a_failed_full_baseline_fails_the_search(tmp_path):
    p = replace(plan(recipe(trials=None, ladder=[]), tmp_path), budget=3)
    study = new_study()
    st.ensure_baselines(study, p.recipe)
    trial = study.ask()
    trial.set_user_attr(rec.REASON, "RuntimeError: bad model")
    study.tell(trial, state=FAIL)
    assert st.decide(study.trials, p, True) == st.Decision(
        "fail", "the full baseline failed (last: RuntimeError: bad model); search.budget counts in its cost")
    assert st.decide(study.trials, replace(p, budget=None), True).move == "ask"


def test_after_a_pool_the_parent_says_the_streak_once_and_the_stop_notes(tmp_path, monkeypatch):
    from sttune.search import workers

    monkeypatch.setattr(st, "EXHAUSTED_AFTER", 2)
    p = plan(recipe(trials=10, ladder=[], max_consecutive_failures=2), tmp_path)
    exhausted, failing = new_study(), new_study()
    exhausted.set_user_attr(rec.DATASET, "a")
    for study in (exhausted, failing):
        finish(study)
    reuse(exhausted, 0)
    reuse(exhausted, 0)
    finish(failing, FAIL, "RuntimeError: x")
    notes = Notes()
    workers._after_the_pool([p], [exhausted], [frozenset()], notes)
    assert len(notes.lines) == 1 and notes.lines[0].startswith("a: the search space looks exhausted")
    workers._after_the_pool([p], [failing], [frozenset()], notes)  # one failure: nothing to say
    finish(failing, FAIL, "RuntimeError: y")
    with pytest.raises(st.FailureStreak, match=r"the last 2 trials failed \(last: RuntimeError: y\)"):
        workers._after_the_pool([p], [failing], [frozenset()], notes)
