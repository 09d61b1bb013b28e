"""The prune-ratio schedule r(epoch) of ST-Prune (our formulas; the paper gives none).

Epochs ``0 .. s-1`` (``s = max(1, min(warmup, A - 1))``) and epochs ``A .. E-1``
(``A = ceil(delta·E)``, annealing) train on every window with weight 1. The warm-up is capped
at ``A - 1`` so a short run still prunes in at least one epoch: a search space with warm-ups
of 1, 2 or 5 epochs would otherwise turn into plain training (at the cost of the hooks) for
runs of 6 epochs or fewer. In a pruning epoch ``s <= e < A`` let
``k = e - s`` and ``n = A - s`` (the number of pruning epochs); then

- constant: ``r(e) = r``
- linear:   ``r(e) = r·(k + 1)/n``               (ramps up; reaches r in the last pruning epoch)
- cosine:   ``r(e) = r·(1 + cos(π·k/n))/2``      (starts at r, decays smoothly towards 0)
- step:     ``r(e) = r/2 if k < n // 2 else r``  (half the ratio in the first half)
"""

from __future__ import annotations

import math

SCHEDULES = ("constant", "linear", "cosine", "step")


def anneal_epoch(delta: float, n_epochs: int) -> int:
    """The first annealed epoch ``ceil(delta·E)``; rounded first so 0.6·10 gives 6, not 7."""
    return math.ceil(round(delta * n_epochs, 9))


def first_pruning_epoch(warmup: int, anneal: int) -> int:
    """``max(1, min(warmup, anneal - 1))``: epoch 0 never prunes (no window has a score yet)."""
    return max(1, min(warmup, anneal - 1))


def prune_ratio(schedule: str, ratio: float, epoch: int, warmup: int, anneal: int) -> float | None:
    """r(epoch) in a pruning epoch, or None in a warm-up or annealed (full-data) epoch."""
    start = first_pruning_epoch(warmup, anneal)
    if epoch < start or epoch >= anneal:
        return None
    k, n = epoch - start, anneal - start
    if schedule == "constant":
        return ratio
    if schedule == "linear":
        return ratio * (k + 1) / n
    if schedule == "cosine":
        return ratio * (1 + math.cos(math.pi * k / n)) / 2
    if schedule == "step":
        return ratio / 2 if k < n // 2 else ratio
    raise ValueError(f"unknown schedule '{schedule}'; use one of {', '.join(SCHEDULES)}")
