"""The verified speed-up: a chosen trial's speed-up, re-measured so that load cannot inflate it.

A search times each trial once, at whatever load the machine had then: a trial that ran while
the machine was quiet looks faster than the baseline that ran while it was busy. Before a
speed-up is printed, export re-times the start of both runs, interleaved in a rotating order
(baseline, chosen | chosen, baseline | ...), so that each pair sees one load:

1. Each probe runs the first batches of epoch 0 of a job exactly as the trial ran them
   (:meth:`sttune.training.trainer.Trainer.time_first_batches`) and measures device seconds per
   window-node. The search recorded the same epoch's seconds and window-nodes, so
   ``load = search rate / probe rate`` says how much slower (or faster) the machine was when
   the trial ran than it is now.
2. Each arm's search cost divided by its load is its cost at the pair's load; their ratio is
   the pair's speed-up. The verified speed-up is the median over the pairs, the interval their
   range. (A trial's epochs keep their recorded shape: the profile within one trial is timed
   at one load, the comparison between trials is what the pairs re-measure.)
3. The work ceiling: a speed-up cannot exceed the work saved, ``1 / work_fraction``
   (sttune.training.work). A median above the ceiling by more than the pairs' noise is a
   measurement error: the ceiling is reported instead and ``bounded`` says so.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sttune.outcome.select import NOISE_FLOOR
from sttune.training.jobs import Job
from sttune.tuning.records import TrialRecord, curve_rows

PROBE_FRACTION = 0.25  # of epoch 0's batches, per probe, at most
BUDGET_SHARE = 0.2  # all probes together re-time at most this share of the baseline's training batches
MIN_PROBE_BATCHES = 2  # the first batch carries one-off costs: never time it alone

# (job, max batches) -> (device seconds, window-nodes) of the first batches of its epoch 0
Timer = Callable[[Job, int], tuple[float, int]]


class CannotVerify(Exception):
    """The speed-up cannot be re-timed: the trials lack what it needs (stored before work
    accounting), or re-running them failed here (the data or a plugin is missing)."""


@dataclass(frozen=True)
class Verified:
    """A checked speed-up of one trial against the full baseline."""

    speedup: float  # the verified figure: median over pairs, at most the work ceiling
    low: float
    high: float
    work_fraction: float | None  # chosen work / baseline work (None: no work recorded)
    ceiling: float | None  # 1 / work_fraction
    measured_in_search: float  # the raw ratio of the two search costs
    noise: float  # relative half-range of the pairs' speed-ups (at least NOISE_FLOOR)
    bounded: bool  # the re-timed median exceeded the ceiling by more than the noise
    pairs: tuple[dict[str, Any], ...] = ()
    seconds: float = 0.0  # device seconds the probes themselves took

    @property
    def interval(self) -> tuple[float, float]:
        return (self.low, self.high)

    @property
    def reliably_faster(self) -> bool:
        """Faster than the full baseline by more than the measurement's spread."""
        return self.low > 1.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["pairs"] = list(self.pairs)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verified:
        kept = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        kept["pairs"] = tuple(kept.get("pairs", ()))
        return cls(**kept)

    def text(self) -> str:
        """``1.47x [1.40, 1.55]``."""
        return f"{self.speedup:.2f}x [{self.low:.2f}, {self.high:.2f}]"


def work_fraction(trial: TrialRecord, baseline: TrialRecord | None) -> float | None:
    """The trial's charged work over the full baseline's (None without a baseline, or when
    either has no work recorded)."""
    mine, theirs = trial.work_units, baseline.work_units if baseline else None
    if mine is None or theirs is None or theirs <= 0:
        return None
    return mine / theirs


def probe_batches(batches_in_epoch: int, baseline_batches: int, pairs: int, fraction: float = PROBE_FRACTION) -> int:
    """How many of epoch 0's batches one probe re-times: a ``fraction`` of the epoch, so long as
    the ``2 × pairs`` probes stay within BUDGET_SHARE of the baseline's training batches."""
    affordable = math.floor(BUDGET_SHARE * baseline_batches / (2 * pairs))
    wanted = max(MIN_PROBE_BATCHES, min(math.ceil(fraction * batches_in_epoch), affordable))
    return max(1, min(batches_in_epoch, wanted))


def _first_epoch(record: TrialRecord) -> tuple[float, int, int]:
    """(seconds, window-nodes, batches) of the trial's recorded epoch 0."""
    rows = curve_rows(record.result)
    if not rows or not rows[0].get("window_nodes") or not rows[0].get("batches") or record.job is None:
        raise CannotVerify(f"trial {record.number} has no recorded work (stored before work accounting)")
    return float(rows[0]["device_seconds"]), int(rows[0]["window_nodes"]), int(rows[0]["batches"])


def trivial(record: TrialRecord) -> Verified:
    """The full baseline against itself."""
    return Verified(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, False)


def verify_speedup(
    chosen: TrialRecord, baseline: TrialRecord, timer: Timer, pairs: int = 3, fraction: float = PROBE_FRACTION,
) -> Verified:
    """Re-time ``chosen`` against ``baseline`` in ``pairs`` interleaved pairs (see the module doc)."""
    if chosen.number == baseline.number:
        return trivial(chosen)
    if pairs < 1:
        raise ValueError(f"pairs must be at least 1, got {pairs}")
    arms = {"baseline": baseline, "chosen": chosen}
    first = {name: _first_epoch(r) for name, r in arms.items()}
    baseline_batches = first["baseline"][2] * len(curve_rows(baseline.result))
    size = {name: probe_batches(first[name][2], baseline_batches, pairs, fraction) for name in arms}
    speedups: list[float] = []
    rows: list[dict[str, Any]] = []
    spent = 0.0
    for i in range(pairs):
        order = ("baseline", "chosen") if i % 2 == 0 else ("chosen", "baseline")  # rotate who goes first
        row: dict[str, Any] = {"order": list(order)}
        cost_now = {}
        for name in order:
            seconds, window_nodes = timer(arms[name].job, size[name])  # type: ignore[arg-type]
            spent += seconds
            search_s, search_wn, _ = first[name]
            load = (search_s / search_wn) / (seconds / window_nodes) if seconds > 0 and window_nodes > 0 else 1.0
            cost_now[name] = arms[name].cost_seconds / load
            row[name] = {"probe_seconds": seconds, "probe_window_nodes": window_nodes, "load": load}
        row["speedup"] = cost_now["baseline"] / cost_now["chosen"]
        speedups.append(row["speedup"])
        rows.append(row)
    return _summarise(chosen, baseline, speedups, tuple(rows), spent)


def _summarise(
    chosen: TrialRecord, baseline: TrialRecord, speedups: list[float], rows: tuple[dict[str, Any], ...], spent: float,
) -> Verified:
    median, low, high = statistics.median(speedups), min(speedups), max(speedups)
    noise = max(NOISE_FLOOR, (high - low) / (2 * median))
    fraction = work_fraction(chosen, baseline)
    ceiling = None if not fraction else 1.0 / fraction
    bounded = ceiling is not None and median > ceiling * (1 + noise)
    speedup = median if ceiling is None else min(median, ceiling)
    if ceiling is not None:
        high = min(high, ceiling * (1 + noise))
    low = min(low, speedup)
    raw = baseline.cost_seconds / chosen.cost_seconds if chosen.cost_seconds > 0 else math.inf
    return Verified(speedup, low, max(high, speedup), fraction, ceiling, raw, noise, bounded, rows, spent)
