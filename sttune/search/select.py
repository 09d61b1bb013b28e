"""Pareto fronts and the rules that pick one trial from them (see docs/selection.md)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from sttune.errors import SttuneError
from sttune.search.records import TrialRecord

RULES = ("fastest-within", "knee", "min-mae")


class SelectionError(SttuneError):
    """No trial can be selected (none finished, or a bad rule)."""


def pareto_front(records: Sequence[TrialRecord]) -> list[TrialRecord]:
    """Trials not dominated in (val MAE, device seconds), sorted by device seconds."""
    ordered = sorted(records, key=lambda r: (r.cost_seconds, r.val_mae))
    front: list[TrialRecord] = []
    best_mae = math.inf
    for record in ordered:  # sweep by cost: a trial joins when it beats every cheaper one
        if record.val_mae < best_mae:
            front.append(record)
            best_mae = record.val_mae
    return front


def fastest_within(records: Sequence[TrialRecord], tolerance: float) -> TrialRecord:
    """The cheapest trial whose val MAE is at most (1 + tolerance) × the best val MAE."""
    best = min(r.val_mae for r in records)
    eligible = [r for r in records if r.val_mae <= best * (1 + tolerance)]
    return min(eligible, key=lambda r: (r.cost_seconds, r.val_mae))


def knee(records: Sequence[TrialRecord]) -> TrialRecord:
    """The front trial closest to the ideal point after scaling both objectives to [0, 1]."""
    front = pareto_front(records)
    maes = [r.val_mae for r in front]
    costs = [r.cost_seconds for r in front]

    def scaled(value: float, values: list[float]) -> float:
        span = max(values) - min(values)
        return 0.0 if span == 0 else (value - min(values)) / span

    return min(front, key=lambda r: math.hypot(scaled(r.val_mae, maes), scaled(r.cost_seconds, costs)))


def select(records: Sequence[TrialRecord], rule: str, tolerance: float = 0.01) -> TrialRecord:
    """Apply a selection rule to completed trials."""
    usable = [r for r in records if r.state == "COMPLETE" and math.isfinite(r.val_mae)]
    if not usable:
        raise SelectionError("no trial has finished yet", "run `sttune search` first (or let it finish one trial)")
    feasible = [r for r in usable if r.feasible]
    if not feasible:
        raise SelectionError("no finished trial meets the recipe's constraints", "relax search.max_mae_increase")
    usable = feasible
    if rule == "fastest-within":
        return fastest_within(usable, tolerance)
    if rule == "knee":
        return knee(usable)
    if rule == "min-mae":
        return min(usable, key=lambda r: (r.val_mae, r.cost_seconds))
    raise SelectionError(f"unknown selection rule '{rule}'", f"use one of {', '.join(RULES)}")
