"""ST-Prune: dynamic sample pruning from learning-complexity scores (METHODS.md §1).

The entry point is ``sttune.strategies.st_prune:STPrune``.
"""

from sttune.strategies.st_prune.schedule import SCHEDULES, anneal_epoch, prune_ratio
from sttune.strategies.st_prune.strategy import SCORES, STPrune

__all__ = ["SCHEDULES", "SCORES", "STPrune", "anneal_epoch", "prune_ratio"]
