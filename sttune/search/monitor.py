"""The per-epoch callback of a search trial: progress events, and early stopping at the rungs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna

from sttune.search.events import SearchEvents
from sttune.search.rungs import (
    PREPARE_RUNG_ATTR,
    RUNG_ATTR,
    STOPPED_CHECKPOINT_ATTR,
    RungPolicy,
    projected_cost,
    should_stop,
)
from sttune.search.space import BUDGET, ROLE
from sttune.train.result import PrepareCheckpoint
from sttune.train.trainer import PREPARE_CHECKPOINTS, StopTraining


def rung_monitor(
    study: optuna.Study, trial: optuna.Trial, policy: RungPolicy, epochs: int, events: SearchEvents,
) -> Callable[[Any], None]:
    """The per-epoch callback: progress, and successive halving at the rungs.

    The full baseline records its rung points (others are compared with it) but never
    stops; reduced-budget baselines have another LR schedule, so they neither record nor stop.
    A strategy's preparation checkpoints (e.g. STemDist before it distills) are rungs too,
    compared only with the same strategy's same checkpoint in other trials: (val MAE of what
    is prepared so far, the trial's projected charged seconds as the strategy estimates them).
    """
    role, budget = trial.user_attrs.get(ROLE), float(trial.user_attrs.get(BUDGET, 1.0))
    active = policy.enabled and budget >= 1
    stops = active and role != "baseline"
    rungs = set(policy.rungs(epochs)) if active else set()
    best_mae, seconds_before = float("inf"), 0.0

    def dominated(key: str, point: list[float]) -> bool:
        """Record the point; whether the rule stops it among the trials that reached ``key``."""
        trial.set_user_attr(key, point)
        if not stops:
            return False
        others = [t.user_attrs[key] for t in study.get_trials(deepcopy=False)
                  if t.number != trial.number and key in t.user_attrs]
        return should_stop(point, others, policy)

    def at_checkpoint(record: PrepareCheckpoint) -> None:
        point = [record.val_mae, record.projected_seconds]
        if dominated(f"{PREPARE_RUNG_ATTR}{record.strategy}.{record.index}", point):
            trial.set_user_attr(STOPPED_CHECKPOINT_ATTR, point)
            raise StopTraining(f"dominated at {record.strategy}'s preparation checkpoint {record.index} "
                               "by the trials that reached it")

    def on_epoch(record: Any) -> None:
        nonlocal best_mae, seconds_before
        if isinstance(record, PrepareCheckpoint):
            if stops:
                at_checkpoint(record)
            return
        events.epoch(record)
        best_mae = min(best_mae, record.val_mae)
        last_epoch_s, seconds_before = record.device_seconds - seconds_before, record.device_seconds
        done = record.epoch + 1
        # preparation counts, as in the final objective; time is where the trial will end
        if done in rungs and dominated(f"{RUNG_ATTR}{done}", [best_mae, projected_cost(
                record.cost_seconds, last_epoch_s, record.epochs_ahead)]):
            raise StopTraining(f"dominated at the {done}-epoch rung by the trials that reached it")

    setattr(on_epoch, PREPARE_CHECKPOINTS, stops)
    return on_epoch
