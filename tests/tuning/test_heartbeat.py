"""sttune.tuning.heartbeat: re-queueing stale trials and the journal heartbeat (no timed assertions).

Staleness is decided against beats set far in the past or the future, so no test depends on
how fast the machine is.
"""

from __future__ import annotations

import time

import optuna
from optuna.trial import TrialState

from sttune.tuning import keys
from sttune.tuning.accounting import count_done
from sttune.tuning.heartbeat import STALE, Heartbeat, recover_stale, retry_stale
from sttune.tuning.keys import FRACTION, HEARTBEAT, RETRY_OF, ROLE
from sttune.tuning.storage import rdb_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)
DAY = 86400.0


def test_retry_stale_queues_the_same_params_role_and_budget_with_its_history():
    study = optuna.create_study()
    study.enqueue_trial({}, user_attrs={ROLE: "baseline", FRACTION: 0.5})
    first = study.ask()
    first.suggest_float("x", 0, 1)
    first.set_user_attr("other", 1)
    study.tell(first, state=TrialState.FAIL)
    retry_stale(study, study.trials[0])
    queued = study.trials[1]
    assert queued.state == TrialState.WAITING and queued.params == study.trials[0].params
    assert queued.user_attrs == {ROLE: "baseline", FRACTION: 0.5, RETRY_OF: 0}
    assert queued.system_attrs["retry_history"] == [0] and queued.system_attrs["failed_trial"] == 0
    again = study.ask()  # the retry runs and fails too
    study.tell(again, state=TrialState.FAIL)
    retry_stale(study, study.trials[1])
    third = study.trials[2]
    assert third.system_attrs["retry_history"] == [0, 1] and third.system_attrs["failed_trial"] == 0
    assert third.user_attrs[RETRY_OF] == 1 and third.params == study.trials[0].params


def test_recover_stale_fails_and_requeues_only_silent_running_trials():
    study = optuna.create_study()
    silent, beating, _unbeaten, finished = study.ask(), study.ask(), study.ask(), study.ask()
    silent.set_user_attr(HEARTBEAT, time.time() - DAY)
    beating.set_user_attr(HEARTBEAT, time.time() + DAY)
    study.tell(finished, 1.0)
    finished_beat = study.trials[finished.number].user_attrs
    assert HEARTBEAT not in finished_beat
    assert recover_stale(study, stale_after=3600) == [silent.number]  # unbeaten: started just now
    trials = study.trials
    assert trials[silent.number].state == TrialState.FAIL
    assert trials[silent.number].user_attrs[keys.REASON].startswith(f"{STALE}: no heartbeat for ")
    assert [t.state for t in trials[:4]] == [TrialState.FAIL, TrialState.RUNNING, TrialState.RUNNING, TrialState.COMPLETE]
    assert trials[4].state == TrialState.WAITING and trials[4].user_attrs[RETRY_OF] == silent.number
    assert count_done(trials) == 1  # the stale trial's retry holds its slot
    assert recover_stale(study, stale_after=3600) == []  # nothing twice
    assert len(study.trials) == 5


def test_recover_stale_reads_the_start_time_when_no_beat_was_written():
    study = optuna.create_study()
    trial = study.ask()
    assert recover_stale(study, stale_after=DAY) == []
    assert recover_stale(study, stale_after=-DAY) == [trial.number]  # every trial is past a negative limit


def test_journal_heartbeat_writes_a_beat_on_entry_and_stops(tmp_path):
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / "s.journal")))
    study = optuna.create_study(storage=storage)
    trial = study.ask()
    before = time.time()
    with Heartbeat(study, trial._trial_id, interval=DAY) as beat:  # the thread would beat only after a day
        stamp = study.trials[0].user_attrs[HEARTBEAT]
        assert stamp >= before and beat._thread.is_alive()
    assert not beat._thread.is_alive()
    study.tell(trial, 1.0)


def test_rdb_heartbeat_uses_the_storages_interval(tmp_path):
    storage = rdb_storage(f"sqlite:///{tmp_path / 's.db'}", heartbeat=(7.4, 30.0))
    assert storage.get_heartbeat_interval() == 7 and storage.grace_period == 30
    study = optuna.create_study(storage=storage)
    trial = study.ask()
    beat = Heartbeat(study, trial._trial_id, interval=DAY)
    assert beat._rdb and beat._interval == 7.0
    beat.beat()  # recorded in Optuna's heartbeat table, not as a user attr
    assert HEARTBEAT not in study.trials[0].user_attrs
