"""The per-epoch callback of a search trial: progress events, and early stopping at the rungs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import optuna

from sttune.search.rungs import RUNG_ATTR, RungPolicy, projected_cost, should_stop
from sttune.search.space import BUDGET, ROLE
from sttune.train.trainer import StopTraining

if TYPE_CHECKING:
    from sttune.search.study import SearchEvents


def rung_monitor(
    study: optuna.Study, trial: optuna.Trial, policy: RungPolicy, epochs: int, events: SearchEvents,
) -> Callable[[Any], None]:
    """The per-epoch callback: progress, and successive halving at the rungs.

    The full baseline records its rung points (others are compared with it) but never
    stops; reduced-budget baselines have another LR schedule, so they neither record nor stop.
    """
    role, budget = trial.user_attrs.get(ROLE), float(trial.user_attrs.get(BUDGET, 1.0))
    rungs = set(policy.rungs(epochs)) if policy.enabled and budget >= 1 else set()
    best_mae, seconds_before = float("inf"), 0.0

    def on_epoch(record: Any) -> None:
        nonlocal best_mae, seconds_before
        events.epoch(record)
        best_mae = min(best_mae, record.val_mae)
        last_epoch_s, seconds_before = record.device_seconds - seconds_before, record.device_seconds
        done = record.epoch + 1
        if done not in rungs:
            return
        key = f"{RUNG_ATTR}{done}"
        # preparation counts, as in the final objective; time is where the trial will end
        point = [best_mae, projected_cost(record.cost_seconds, last_epoch_s, done, epochs)]
        trial.set_user_attr(key, point)
        if role == "baseline":
            return
        others = [t.user_attrs[key] for t in study.get_trials(deepcopy=False)
                  if t.number != trial.number and key in t.user_attrs]
        if should_stop(point, others, policy):
            raise StopTraining(f"dominated at the {done}-epoch rung by the trials that reached it")

    return on_epoch
