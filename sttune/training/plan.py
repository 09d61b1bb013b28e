"""The strategies' planned work per epoch, turned into "epochs ahead" for cost projections.

Early stopping judges a trial at a rung by where its device time will land. Extending the
last epoch's seconds by the plain count of epochs left is wrong for a strategy whose epochs
change cost on a schedule: DynST's first epochs run on every sensor before its sparsity ramp,
ST-Prune trains on all windows during its warm-up and after annealing. Each strategy states
its plan (:meth:`sttune.api.Strategy.planned_work`); several strategies multiply, since each
scales the work the others leave.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sttune.api import Strategy
from sttune.errors import PluginError


def epoch_work(strategies: Sequence[Strategy], epoch: int, n_epochs: int) -> float:
    """The planned share of a full-data epoch's work in ``epoch``: the product over strategies."""
    work = 1.0
    for strategy in strategies:
        share = strategy.planned_work(epoch, n_epochs)
        if not isinstance(share, (int, float)) or not math.isfinite(share) or share <= 0:
            raise PluginError(
                f"strategy '{strategy.name}': planned_work({epoch}, {n_epochs}) returned {share!r}",
                "return a positive share of a full epoch's work (1.0 = all of it)",
            )
        work *= float(share)
    return work


def epochs_ahead(strategies: Sequence[Strategy], epoch: int, n_epochs: int) -> float:
    """The epochs after ``epoch``, counted in units of ``epoch``'s planned work.

    ``last epoch seconds × epochs_ahead`` is the projected rest of the run; with no strategy
    (or constant plans) it is the plain count ``n_epochs - epoch - 1``.
    """
    if epoch + 1 >= n_epochs:
        return 0.0
    now = epoch_work(strategies, epoch, n_epochs)
    return sum(epoch_work(strategies, e, n_epochs) for e in range(epoch + 1, n_epochs)) / now


def planned_fraction(strategies: Sequence[Strategy], n_epochs: int) -> float:
    """The planned share of a full-data run's training work over ``n_epochs``: the mean of
    :func:`epoch_work` over the epochs (1.0 = the plain model's; 0.6 = 40% less work).

    Strategies may be unprepared: a plan that needs the data (ST-Prune's share of pruning
    candidates) states its prior, so this is a prediction before training, not a measurement.
    """
    if n_epochs < 1:
        raise ValueError(f"n_epochs must be at least 1, got {n_epochs}")
    return sum(epoch_work(strategies, e, n_epochs) for e in range(n_epochs)) / n_epochs
