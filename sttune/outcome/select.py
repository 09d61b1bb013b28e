"""Pareto fronts and the rules that pick one trial from them (see docs/selection.md)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import get_args

from sttune.errors import SttuneError
from sttune.recipe.spec import SelectionRule
from sttune.tuning.records import TrialRecord

RULES: tuple[str, ...] = get_args(SelectionRule)  # the one list of rule names: recipe, CLI and API read it
NOISE_FLOOR = 0.02  # no two timings of the same work agree better than this
NOISE_DEFAULT = 0.05  # when the study has too little to estimate its own noise from
MENU_TOLERANCES = (0.005, 0.01, 0.02, 0.05)  # the export's menu: what each val MAE tolerance buys


class SelectionError(SttuneError):
    """No trial can be selected (none finished, or a bad rule)."""


def pareto_front(records: Sequence[TrialRecord]) -> list[TrialRecord]:
    """Trials not dominated in (val MAE, compared cost), sorted by that cost."""
    ordered = sorted(records, key=lambda r: (r.compared_seconds, r.val_mae))
    front: list[TrialRecord] = []
    best_mae = math.inf
    for record in ordered:  # sweep by cost: a trial joins when it beats every cheaper one
        if record.val_mae < best_mae:
            front.append(record)
            best_mae = record.val_mae
    return front


def cost_noise(records: Sequence[TrialRecord]) -> float:
    """The relative noise of the study's device-time measurements.

    The trained baseline trials (the full baseline and a trained ladder) do the same work per window: their device
    seconds per unit of work (sttune.training.work) differ only by the machine's noise, so
    ``max rate / min rate - 1`` over them estimates it. With fewer than two such trials, the
    full baseline's epochs (equal work each) give the spread; with neither, NOISE_DEFAULT.
    """
    rates = [r.cost_seconds / r.work_units for r in records
             if r.role == "baseline" and r.state == "COMPLETE" and r.trained and r.work_units and r.cost_seconds > 0]
    if len(rates) >= 2:
        return max(NOISE_FLOOR, max(rates) / min(rates) - 1)
    base = next((r for r in records if r.role == "baseline" and r.fraction >= 1 and r.result), None)
    seconds = [r.device_seconds for r in base.result.curve] if base and base.result else []
    steps = [b - a for a, b in zip([0.0, *seconds], seconds)]  # seconds of each epoch
    steps = [s for s in steps if s > 0]
    if len(steps) >= 3:
        return max(NOISE_FLOOR, max(steps) / min(steps) - 1)
    return NOISE_DEFAULT


def reliably_cheaper(a: TrialRecord, b: TrialRecord, noise: float) -> bool:
    """``a`` costs less than ``b`` by more than the measurement's noise."""
    return a.compared_seconds * (1 + noise) < b.compared_seconds


def cheapest_under(records: Sequence[TrialRecord], max_val_mae: float, noise: float = 0.0) -> TrialRecord | None:
    """Among trials whose val MAE is at most ``max_val_mae``, the cheapest; trials not reliably
    costlier than it (within ``noise``) count as equally cheap, and the most accurate of those
    wins. None when no trial is that accurate."""
    eligible = [r for r in records if r.val_mae <= max_val_mae]
    if not eligible:
        return None
    cheapest = min(eligible, key=lambda r: (r.compared_seconds, r.val_mae))
    tied = [r for r in eligible if not reliably_cheaper(cheapest, r, noise)]
    return min(tied, key=lambda r: (r.val_mae, r.compared_seconds))


def fastest_within(records: Sequence[TrialRecord], tolerance: float, noise: float = 0.0) -> TrialRecord:
    """:func:`cheapest_under` (1 + tolerance) × the best val MAE of ``records``."""
    picked = cheapest_under(records, min(r.val_mae for r in records) * (1 + tolerance), noise)
    assert picked is not None  # the best trial itself is within
    return picked


def tolerance_menu(records: Sequence[TrialRecord], reference_val_mae: float, noise: float,
                   tolerances: Sequence[float] = MENU_TOLERANCES) -> list[tuple[float, TrialRecord | None]]:
    """Per val MAE tolerance against ``reference_val_mae`` (the full baseline's), the fastest
    completed feasible trial within it (:func:`cheapest_under`); None where none is."""
    usable = [r for r in records if r.state == "COMPLETE" and r.feasible and math.isfinite(r.val_mae)]
    return [(t, cheapest_under(usable, reference_val_mae * (1 + t), noise)) for t in tolerances]


def knee(records: Sequence[TrialRecord]) -> TrialRecord:
    """The front trial closest to the ideal point after scaling both objectives to [0, 1]."""
    front = pareto_front(records)
    maes = [r.val_mae for r in front]
    costs = [r.compared_seconds for r in front]

    def scaled(value: float, values: list[float]) -> float:
        span = max(values) - min(values)
        return 0.0 if span == 0 else (value - min(values)) / span

    return min(front, key=lambda r: math.hypot(scaled(r.val_mae, maes), scaled(r.compared_seconds, costs)))


def select(records: Sequence[TrialRecord], rule: str, tolerance: float = 0.01, noise: float = 0.0) -> TrialRecord:
    """Apply a selection rule to completed trials; ``noise`` (relative) is the cost
    difference below which two trials count as equally cheap (fastest-within)."""
    usable = [r for r in records if r.state == "COMPLETE" and math.isfinite(r.val_mae)]
    if not usable:
        raise SelectionError("no trial has finished yet", "run `sttune search` first (or let it finish one trial)")
    feasible = [r for r in usable if r.feasible]
    if not feasible:
        raise SelectionError("no finished trial meets the recipe's constraints", "relax search.max_mae_increase")
    check_rule(rule)
    return RULE_TABLE[rule](feasible, tolerance, noise)


def _min_mae(records: Sequence[TrialRecord], tolerance: float, noise: float) -> TrialRecord:
    return min(records, key=lambda r: (r.val_mae, r.compared_seconds))


# rule name -> (feasible trials, tolerance, cost noise) -> the chosen trial; a test ties its keys to RULES
RULE_TABLE: dict[str, Callable[[Sequence[TrialRecord], float, float], TrialRecord]] = {
    "fastest-within": fastest_within,
    "knee": lambda records, tolerance, noise: knee(records),
    "min-mae": _min_mae,
}


def check_rule(rule: str) -> None:
    if not isinstance(rule, str) or rule not in RULE_TABLE:
        shown = f"'{rule}'" if isinstance(rule, str) else f"{type(rule).__name__} {rule!r}"[:60]
        raise SelectionError(f"unknown selection rule {shown}", f"use one of {', '.join(RULES)}")
