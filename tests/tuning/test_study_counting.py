"""sttune.tuning.accounting: which trials hold a slot (claims) and which count as done.

Trials are driven with ``study.ask()`` / ``study.tell()`` on in-memory storage; nothing trains.
"""

from __future__ import annotations

import optuna

from sttune.tuning import accounting as acc, tell
from sttune.tuning.heartbeat import STALE, retry_stale
from study_kit import FAIL, PRUNED, finish, new_study, reuse

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_count_done_counts_only_new_results():
    study = new_study()
    finish(study)  # 0: counts
    finish(study, FAIL, "RuntimeError: boom")  # 1: a plain failure is reported, holds no slot
    finish(study, FAIL, tell.INTERRUPTED)  # 2: queued again, does not count
    finish(study, FAIL, f"{STALE}: no heartbeat for 300 s")  # 3: likewise
    retried = finish(study, FAIL, "worker died")  # 4: retried through the heartbeat callback
    retry_stale(study, study.trials[retried.number])  # 5: WAITING, retry_history [4]
    finish(study, PRUNED)  # 5 is asked here and pruned: counts
    reuse(study, 0)  # 6: the same job as 0, its result reused: no new work
    assert [t.state.name for t in study.trials] == ["COMPLETE", "FAIL", "FAIL", "FAIL", "FAIL", "PRUNED", "COMPLETE"]
    assert acc.count_done(study.trials) == 2  # 0, 5
    assert [t.number for t in acc._claims(study.trials)] == [0, 5]


def test_claims_include_waiting_and_running_in_creation_order():
    study = new_study()
    study.enqueue_trial({})  # 0: WAITING
    running = study.ask()  # takes 0
    study.enqueue_trial({})  # 1
    study.enqueue_trial({})  # 2
    assert running.number == 0
    claims = acc._claims(study.trials)
    assert [(t.number, t.state.name) for t in claims] == [(0, "RUNNING"), (1, "WAITING"), (2, "WAITING")]
    assert acc.count_done(study.trials) == 0
