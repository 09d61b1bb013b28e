"""The listener of a search trial: progress events, and early stopping at the rungs."""

from __future__ import annotations

import optuna

from sttune.training.listener import TrainListener
from sttune.training.result import EpochRecord, PrepareCheckpoint
from sttune.training.trainer import StopTraining
from sttune.tuning.events import SearchEvents
from sttune.tuning.keys import FRACTION, PREPARE_RUNG_PREFIX, ROLE, RUNG_PREFIX, STOPPED_CHECKPOINT
from sttune.tuning.rungs import RungPolicy, projected_cost, should_stop


class RungMonitor(TrainListener):
    """A trial's listener: progress events, and successive halving at the rungs.

    The full baseline records its rung points (others are compared with it) but never
    stops; the ladder's shorter baselines have another LR schedule, so they neither record nor stop.
    A strategy's preparation checkpoints (e.g. STemDist before it distills) are rungs too,
    compared only with the same strategy's same checkpoint in other trials: (val MAE of what
    is prepared so far, the trial's projected charged seconds as the strategy estimates them).
    """

    def __init__(self, study: optuna.Study, trial: optuna.Trial, policy: RungPolicy, epochs: int,
                 events: SearchEvents) -> None:
        role, fraction = trial.user_attrs.get(ROLE), float(trial.user_attrs.get(FRACTION, 1.0))
        full_length = fraction >= 1  # a trained ladder rung has another lr schedule: it neither records nor stops
        self.study, self.trial, self.policy, self.events = study, trial, policy, events
        self.stops = policy.enabled and full_length and role != "baseline"
        self.behind = policy.behind_baseline if full_length and role != "baseline" else None
        self.rungs = set(policy.rungs(epochs)) if full_length and (policy.enabled or policy.behind_baseline is not None) \
            else set()
        self.best_mae, self.seconds_before = float("inf"), 0.0

    @property
    def wants_prepare_checkpoints(self) -> bool:
        return self.stops  # only a trial that may stop there needs their scores

    def on_prepare_start(self, strategy: str) -> None:
        self.events.trial_preparing(self.trial.number, strategy)

    def on_checkpoint(self, record: PrepareCheckpoint) -> None:
        if not self.stops:
            return
        point = [record.val_mae, record.projected_seconds]
        if self._dominated(f"{PREPARE_RUNG_PREFIX}{record.strategy}.{record.index}", point):
            self.trial.set_user_attr(STOPPED_CHECKPOINT, point)
            raise StopTraining(f"dominated at {record.strategy}'s preparation checkpoint {record.index} "
                               "by the trials that reached it")

    def on_epoch(self, record: EpochRecord) -> None:
        self.events.epoch(record)
        self.best_mae = min(self.best_mae, record.val_mae)
        last_epoch_s, self.seconds_before = record.device_seconds - self.seconds_before, record.device_seconds
        done = record.epoch + 1
        # preparation counts, as in the final objective; time is where the trial will end
        if done not in self.rungs:
            return
        key = f"{RUNG_PREFIX}{done}"
        if self._dominated(key, [self.best_mae, projected_cost(record.cost_seconds, last_epoch_s, record.epochs_ahead)]):
            raise StopTraining(f"dominated at the {done}-epoch rung by the trials that reached it")
        behind = self._behind_baseline(key)
        if behind is not None:
            raise StopTraining(f"behind the full baseline at the {done}-epoch rung: {behind}")

    def _behind_baseline(self, key: str) -> str | None:
        """How far this trial's best val MAE at the rung ``key`` trails the full baseline's at the
        same epoch, when by more than ``behind_baseline``; else None."""
        if self.behind is None:
            return None
        base = next((t.user_attrs[key] for t in self.study.get_trials(deepcopy=False)
                     if t.user_attrs.get(ROLE) == "baseline" and float(t.user_attrs.get(FRACTION, 1.0)) >= 1
                     and key in t.user_attrs), None)
        if base is None or not base[0] > 0 or self.best_mae <= base[0] * (1 + self.behind):
            return None
        return (f"val MAE {self.best_mae:.4f} against its {base[0]:.4f} "
                f"({self.best_mae / base[0] - 1:+.1%}, more than the {self.behind:.0%} allowed)")

    def _dominated(self, key: str, point: list[float]) -> bool:
        """Record the point; whether the rule stops it among the trials that reached ``key``."""
        self.trial.set_user_attr(key, point)
        if not self.stops:
            return False
        others = [t.user_attrs[key] for t in self.study.get_trials(deepcopy=False)
                  if t.number != self.trial.number and key in t.user_attrs]
        return should_stop(point, others, self.policy)


def rung_monitor(
    study: optuna.Study, trial: optuna.Trial, policy: RungPolicy, epochs: int, events: SearchEvents,
) -> RungMonitor:
    """The trial's listener (kept as a function: the study builds one per trial)."""
    return RungMonitor(study, trial, policy, epochs, events)
