"""Stale trials: a worker that dies mid-trial leaves a RUNNING trial; find it, fail it, retry it.

RDB storages use Optuna's own heartbeats (``RDBStorage(heartbeat_interval, grace_period,
heartbeat_stale_trial_callback=retry_stale)``, beats recorded by :class:`Heartbeat`, stale
trials failed by ``optuna.storages.fail_stale_trials``). Journal files have no heartbeat table,
so a running trial's worker writes the user attr ``sttune.heartbeat`` (a Unix time) every
``search.heartbeat_seconds``, and :func:`recover_stale` fails RUNNING trials whose last beat
(or start) is older than ``search.stale_after_seconds``, with the reason recorded.

Either way the failed trial is queued again by :func:`retry_stale` (same params, same
baseline role and fraction; ``retry_history`` in its system attrs, as Optuna's
RetryHeartbeatStaleTrialCallback writes it), and a stale or interrupted trial does not count
towards ``search.trials``.
"""

from __future__ import annotations

import threading
import time

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages._heartbeat import is_heartbeat_enabled
from optuna.trial import TrialState

from sttune.tuning.keys import FRACTION, HEARTBEAT, REASON, RETRY_OF, ROLE

STALE = "stale"


def retry_stale(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Queue a failed trial again: its params, its baseline role and fraction, its retry history."""
    history = [*trial.system_attrs.get("retry_history", []), trial.number]
    attrs = {k: trial.user_attrs[k] for k in (ROLE, FRACTION) if k in trial.user_attrs}
    attrs[RETRY_OF] = trial.number
    study.add_trial(optuna.trial.create_trial(
        state=TrialState.WAITING, params=trial.params, distributions=trial.distributions,
        user_attrs=attrs, system_attrs={"failed_trial": history[0], "retry_history": history},
    ))


def recover_stale(study: optuna.Study, stale_after: float) -> list[int]:
    """Fail and re-queue the RUNNING trials whose worker stopped beating; returns their numbers."""
    storage = study._storage
    if is_heartbeat_enabled(storage):  # RDB: Optuna's heartbeat table decides
        before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        optuna.storages.fail_stale_trials(study)
        after = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        return sorted(before - after)
    now = time.time()
    recovered = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        last = trial.user_attrs.get(HEARTBEAT)
        if last is None:
            last = trial.datetime_start.timestamp() if trial.datetime_start else now
        silent = now - float(last)
        if silent <= stale_after:
            continue
        try:
            storage.set_trial_user_attr(
                trial._trial_id, REASON,
                f"{STALE}: no heartbeat for {silent:.0f} s (its worker died or hung); queued again")
            if not storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
                continue
        except (UpdateFinishedTrialError, KeyError):
            continue  # its worker finished it, or another worker recovered it first
        retry_stale(study, storage.get_trial(trial._trial_id))
        recovered.append(trial.number)
    return recovered


class Heartbeat:
    """Beats for one running trial from a daemon thread until stopped."""

    def __init__(self, study: optuna.Study, trial_id: int, interval: float) -> None:
        self._storage = study._storage
        self._trial_id = trial_id
        self._interval = interval
        self._stop = threading.Event()
        self._rdb = is_heartbeat_enabled(self._storage)
        if self._rdb:
            self._interval = float(self._storage.get_heartbeat_interval())  # type: ignore[attr-defined]  # an RDB storage
        self._thread = threading.Thread(target=self._run, name=f"sttune-heartbeat-{trial_id}", daemon=True)

    def beat(self) -> None:
        if self._rdb:
            self._storage.record_heartbeat(self._trial_id)  # type: ignore[attr-defined]  # an RDB storage
        else:
            self._storage.set_trial_user_attr(self._trial_id, HEARTBEAT, time.time())

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.beat()
            except Exception:  # noqa: BLE001  (a finished trial, a storage hiccup: try again later)
                if self._stop.is_set():
                    return

    def __enter__(self) -> Heartbeat:
        self.beat()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def __exit__(self, *exc: object) -> None:
        self.stop()
