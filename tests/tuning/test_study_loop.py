"""sttune.tuning.study.search_study on in-memory storage with a stand-in for train_job: the trial
count, failure and reuse streaks, and what the parent says after a worker pool.

Trials are driven with ``study.ask()`` / ``study.tell()`` on in-memory storage; nothing trains.
"""

from __future__ import annotations

from dataclasses import replace

import optuna
import pytest

from helpers import train_result
from sttune.tuning import accounting as acc, keys, study as st, tell
from sttune.tuning.events import NullEvents
from sttune.tuning.keys import FRACTION, ROLE
from study_kit import FAIL, Notes, finish, new_study, plan, recipe, reuse

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_run_study_runs_exactly_the_trial_count_baselines_first(tmp_path, fake_training):
    def answer(job, listener):
        keep = dict(job.strategies).get("st_prune", {}).get("keep_ratio", 1.0) if job.strategies else 1.0
        return train_result(2.0 + 0.1 * len(jobs), 10.0 * job.train.epochs * float(keep or 1.0))

    jobs = fake_training(answer)
    r = replace(recipe(trials=5, ladder=[0.5], limit=0.5, reuse_results=False), train=replace(recipe().train, epochs=4))
    study = st.search_study(plan(r, tmp_path), NullEvents())
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 5 and len(jobs) == 5
    assert [(t.user_attrs.get(ROLE), t.user_attrs.get(FRACTION)) for t in study.trials[:2]] == [
        ("baseline", 1.0), ("baseline", 0.5)]
    assert [j.train.epochs for j in jobs[:2]] == [4, 2] and not jobs[0].strategies and not jobs[1].strategies
    assert all(j.strategies and j.strategies[0][0] == "st_prune" for j in jobs[2:])
    assert acc.count_done(study.trials) == 5
    again = st.search_study(replace(plan(r, tmp_path), storage=study._storage), NullEvents())  # a resume: nothing to do
    assert len(again.trials) == 5 and len(jobs) == 5


def test_a_failure_streak_fails_the_loop_with_the_last_reason(tmp_path):
    p = plan(recipe(trials=10, ladder=[], max_consecutive_failures=3), tmp_path)
    study = new_study()
    finish(study)
    finish(study, FAIL, "RuntimeError: a")
    finish(study, FAIL, "RuntimeError: b")
    finish(study, FAIL, tell.INTERRUPTED)  # queued again: neither a failure nor a success here
    reuse(study, 0)  # a reused result neither breaks nor extends the streak
    assert acc.failure_streak(study.trials) == (2, "RuntimeError: b")
    assert acc.decide(study.trials, p, searchable=True).move == "ask"
    finish(study, FAIL, "RuntimeError: c\n  on two lines")
    decision = acc.decide(study.trials, p, searchable=True)
    assert decision == acc.Decision("fail", "the last 3 trials failed (last: RuntimeError: c on two lines)")
    earlier = {t.number for t in study.trials}  # the next run counts only its own trials
    assert acc.decide(study.trials, p, searchable=True, earlier=earlier).move == "ask"
    finish(study)  # a new result ends the streak
    assert acc.failure_streak(study.trials) == (0, "")


def test_a_run_of_reused_results_stops_the_search_as_exhausted(tmp_path, monkeypatch):
    monkeypatch.setattr(acc, "EXHAUSTED_AFTER", 3)
    p = plan(recipe(trials=10, ladder=[]), tmp_path)
    study = new_study()
    finish(study)
    reuse(study, 0)
    reuse(study, 0)
    finish(study, FAIL, "RuntimeError: a")  # failures are the other streak's business
    assert acc.reuse_streak(study.trials) == 2 and acc.decide(study.trials, p, searchable=True).move == "ask"
    reuse(study, 0)
    decision = acc.decide(study.trials, p, searchable=True)
    assert decision.move == "stop" and decision.note is not None
    assert "exhausted" in decision.note and "with 1 new trials" in decision.note
    assert acc.decide(study.trials, p, searchable=True, earlier={t.number for t in study.trials}).move == "ask"


def test_run_study_stops_after_max_consecutive_failures(tmp_path, fake_training):
    def answer(job, listener):
        if job.strategies:
            raise RuntimeError("always")
        return train_result(2.0, 10.0)

    fake_training(answer)
    r = recipe(trials=5, ladder=[], max_consecutive_failures=3)
    p = plan(r, tmp_path)
    with pytest.raises(st.FailureStreak) as caught:
        st.search_study(p, NullEvents())
    assert caught.value.one_line() == ("the last 3 trials failed (last: RuntimeError: always). "
                                       "fix the recipe and run the same command again")
    study = optuna.load_study(study_name="unit:synthetic", storage=p.storage)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "FAIL", "FAIL", "FAIL"]
    assert acc.count_done(study.trials) == 1
    fake_training(lambda job, listener: train_result(2.0, 5.0))  # fixed
    st.search_study(p, NullEvents())  # the same command again: the remaining trials run
    assert acc.count_done(study.trials) == 5 and len(study.trials) == 8


def test_after_a_pool_the_parent_says_the_streak_once_and_the_stop_notes(tmp_path, monkeypatch):
    from sttune.tuning import workers

    monkeypatch.setattr(acc, "EXHAUSTED_AFTER", 2)
    p = plan(recipe(trials=10, ladder=[], max_consecutive_failures=2), tmp_path)
    exhausted, failing = new_study(), new_study()
    exhausted.set_user_attr(keys.DATASET, "a")
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
