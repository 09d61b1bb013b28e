"""The no-strategy frontier: what plain training achieves for each device-time budget.

Built from the baseline trials alone (the full baseline and the ladder's shorter ones): the
points where more device time bought a lower val MAE, joined by straight lines (training a
little longer than a ladder step buys a little of the next step's gain). A strategy trial is
a real gain only when it lies below that line at its own cost raised by the measurement noise:
a trial that is cheaper than a ladder point by less than the noise is compared with that point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sttune.tuning.records import TrialRecord


@dataclass(frozen=True)
class Frontier:
    """Baseline (device seconds, val MAE) points, cheapest first, MAE strictly falling."""

    points: tuple[tuple[float, float], ...]

    def mae_at(self, seconds: float) -> float:
        """Plain training's val MAE at ``seconds``, interpolated linearly between the frontier's
        points (the last point's beyond it); inf when no baseline is that cheap."""
        if not self.points or seconds < self.points[0][0]:
            return math.inf
        for (c0, m0), (c1, m1) in zip(self.points, self.points[1:]):
            if seconds < c1:
                return m0 + (m1 - m0) * (seconds - c0) / (c1 - c0)
        return self.points[-1][1]

    def margin(self, record: TrialRecord, noise: float = 0.0) -> float | None:
        """How much better than plain training at equal device time: frontier/trial - 1, with
        the frontier read at the trial's cost × (1 + noise) (the benefit of the doubt goes to
        plain training). Positive = below the frontier (a real gain). None when no baseline is
        as cheap."""
        reference = self.mae_at(record.compared_seconds * (1 + noise))
        return None if math.isinf(reference) else reference / record.val_mae - 1

    def verdict(self, record: TrialRecord, noise: float = 0.0) -> str:
        margin = self.margin(record, noise)
        if margin is None:
            return "cheaper than every baseline"
        return "below (gain)" if margin > 0 else "above (no gain)"


def build_frontier(records: Sequence[TrialRecord]) -> Frontier:
    """The frontier of the completed baseline trials (strategy trials are ignored)."""
    baselines = sorted(
        (r.compared_seconds, r.val_mae) for r in records
        if r.role == "baseline" and r.state == "COMPLETE" and math.isfinite(r.val_mae)
    )
    points: list[tuple[float, float]] = []
    for cost, mae in baselines:
        if not points or mae < points[-1][1]:
            points.append((cost, mae))
    return Frontier(tuple(points))


def strategy_margins(records: Sequence[TrialRecord], frontier: Frontier, noise: float = 0.0) -> dict[str, dict]:
    """Per strategy label: its best margin against the frontier and that trial's number."""
    best: dict[str, dict] = {}
    for r in records:
        if r.role == "baseline" or r.state != "COMPLETE" or r.job is None:
            continue
        margin = frontier.margin(r, noise)
        if margin is None:
            continue
        name = "+".join(n for n, _ in r.job.strategies) or "plain"
        if name not in best or margin > best[name]["margin"]:
            best[name] = {"margin": margin, "trial": r.number, "cost_seconds": r.cost_seconds, "val_mae": r.val_mae}
    return best
