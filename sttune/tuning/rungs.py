"""Multi-objective successive halving (MO-ASHA style) for trials of one study.

Optuna cannot prune multi-objective trials, so sttune does it: at each rung (an epoch count
on a geometric grid) a trial records (best val MAE so far, projected final device seconds:
:func:`projected_cost`, from the strategies' planned work per epoch, so a sparsity ramp or
pruning after a warm-up is compared where it will land, not where it has been).
Among the trials that reached that rung, it goes on only if it is among the best 1/η by
non-dominated sorting (ties in rank broken by crowding distance, as in NSGA-II);
otherwise it stops and is told to Optuna as PRUNED. A trial on the rung's Pareto front
never stops: only dominated trials do. Nothing stops before ``min_trials`` trials have
reached the rung, and baseline trials never stop. Decisions are asynchronous: a trial is compared with whoever
reached the rung before it, as in ASHA.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# the policy's settings are the recipe's ``search.early_stopping`` block: they live in the config
# layer (recipes never import the search machinery) and are re-exported here under their old home
from sttune.recipe.settings import RungPolicy as RungPolicy


def projected_cost(cost_so_far: float, last_epoch_seconds: float, epochs_ahead: float) -> float:
    """Device seconds at the end of training: the last epoch's seconds extended by the plan.

    ``cost_so_far`` includes the charged preparation; ``epochs_ahead`` counts the remaining
    epochs in units of the last epoch's planned work (:mod:`sttune.training.plan`), so DynST's
    sparsity ramp and ST-Prune's warm-up and annealing project where they will land. The last
    epoch, not the mean, sets the scale: it is the closest measurement of the current work.
    """
    return cost_so_far + last_epoch_seconds * max(0.0, epochs_ahead)


def dominates(a: Sequence[float], b: Sequence[float], tolerance: Sequence[float] = (0.0, 0.0)) -> bool:
    """a is clearly better than b: nowhere worse beyond the tolerance, somewhere better beyond it.

    All objectives are minimised; ``tolerance`` holds relative slack per objective.
    """
    no_worse = all(x <= y * (1 + t) for x, y, t in zip(a, b, tolerance))
    better = any(x < y * (1 - t) if t else x < y for x, y, t in zip(a, b, tolerance))
    return no_worse and better


def nondominated_ranks(points: Sequence[Sequence[float]], tolerance: Sequence[float] = (0.0, 0.0)) -> list[int]:
    """Pareto rank of each point: 0 for the front, 1 for the front without it, ..."""
    ranks = [-1] * len(points)
    remaining = set(range(len(points)))
    rank = 0
    while remaining:
        front = {i for i in remaining
                 if not any(dominates(points[j], points[i], tolerance) for j in remaining if j != i)}
        for i in front:
            ranks[i] = rank
        remaining -= front
        rank += 1
    return ranks


def crowding(points: Sequence[Sequence[float]], members: Sequence[int]) -> dict[int, float]:
    """NSGA-II crowding distance of ``members`` within their front (extremes: inf)."""
    distance = {i: 0.0 for i in members}
    for axis in range(len(points[members[0]])):
        ordered = sorted(members, key=lambda i: points[i][axis])
        span = points[ordered[-1]][axis] - points[ordered[0]][axis]
        distance[ordered[0]] = distance[ordered[-1]] = math.inf
        for left, mid, right in zip(ordered, ordered[1:], ordered[2:]):
            if span > 0:
                distance[mid] += (points[right][axis] - points[left][axis]) / span
    return distance


def selection_order(points: Sequence[Sequence[float]], tolerance: Sequence[float]) -> tuple[list[int], list[int]]:
    """(Pareto rank of each point, the points' indices best first: by rank, then by crowding)."""
    ranks = nondominated_ranks(points, tolerance)
    spread: dict[int, float] = {}
    for rank in set(ranks):
        spread.update(crowding(points, [i for i, r in enumerate(ranks) if r == rank]))
    return ranks, sorted(range(len(points)), key=lambda i: (ranks[i], -spread[i]))


def should_stop(current: Sequence[float], others: Sequence[Sequence[float]], policy: RungPolicy) -> bool:
    """Whether a dominated trial at a rung falls outside the best 1/η of everyone there."""
    points = [tuple(current), *map(tuple, others)]
    if len(points) < policy.min_trials:
        return False
    ranks, order = selection_order(points, policy.tolerance)
    return ranks[0] != 0 and order.index(0) >= policy.keep(len(points))
