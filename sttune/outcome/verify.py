"""The verified speed-up: the chosen configuration's saving, re-timed so that load cannot inflate it.

A search times each trial once, at whatever load the machine had then, so its seconds compare
loads as much as configurations. Before a speed-up is printed, export re-times the chosen trial
*while its strategies act* against the full baseline, both re-run side by side in this process
(:func:`sttune.training.jobs.probe_job`, :meth:`sttune.training.trainer.Trainer.probe_schedule`):

1. **Lockstep over the whole schedule.** Both runs go through every epoch of their schedules:
   each epoch's selection and epoch-end hooks run in full (ST-Prune's scoring and annealing,
   DynST's mask updates, drops and regrowth at their own epochs), and on a few *sampled* epochs,
   spread from the first to the last, each run trains a few batches. The two runs advance in
   rounds of one timed step each (select, select | batch, batch | ... | end, end): each chosen
   batch is timed next to a baseline batch, at the same load. That is a *pair*. Who goes first
   alternates pair by pair, and an epoch's first pair from epoch to epoch and pass to pass: half
   the later pairs run one way round and half the other.
2. **A load-free estimate.** Within a pair the load cancels: chosen / baseline is what one of the
   chosen trial's batches costs in baseline batches at that point of its schedule. Each arm's
   whole training is priced in baseline batches: for each epoch its first batch (a stratum of its
   own: it follows the epoch-end hooks, and may be a cold one or DynST's dense-gradient batch)
   plus the other batches it ran in the search (recorded per epoch) × its per-batch ratio at that
   epoch (both interpolated between the sampled epochs), plus its selection and epoch-end hooks
   (timed every epoch), plus its charged preparation (converted at the load its own search batches
   ran at). The speed-up is the baseline's total over the chosen's.
3. **An uncertainty estimate, in passes.** Each pass re-runs both schedules from scratch; at least
   MIN_PASSES run where affordable, more while the interval is wider than TARGET_NOISE, within
   accounting.VERIFY_SHARE of a baseline. A two-level bootstrap (the passes resampled, then the
   later pairs of each sampled epoch within them; the first batches resampled and scaled by a later
   pair's relative error, since a pass times each once; BOOTSTRAP draws, fixed seed) gives a 95%
   interval, never narrower than ± NOISE_FLOOR (no two timings of the same work agree better).
   The passes stop on that width; the interval *reported* is never narrower than ± RETIMING_FLOOR,
   how far re-timings of one configuration from scratch strayed from their median on derivation
   data (a bootstrap within one re-timing cannot see what differs between re-timings: the process's
   memory layout, the machine's clock). "reliably faster" means its *low end* is above 1. A verdict
   that would flip within the estimate's own interval is *close*: passes go on (up to CLOSE_PASSES,
   within accounting.CLOSE_SHARE of a baseline or what the caller's budget allows) until it is not,
   so that a saving near the floor is decided by more pairs rather than by one re-timing's luck.
4. **The work ceiling.** A speed-up cannot exceed the work saved, 1 / work fraction (its passes
   over the baseline's, sttune.training.work). An estimate above the ceiling is cut to it and its
   interval moved down with it (keeping its width: the overshoot is the measurement's error), then
   cut at the ceiling; an interval whose low end lay above the ceiling by more than the noise floor
   is flagged ``bounded``.

The cost: 2 × pairs training batches, both runs' selections and epoch-end hooks every epoch, and
both preparations (a cache hit for a distilled set). The default number of pairs is 5% of the
baseline's batches (9 to 50), so a pass re-times about 10% of one baseline training's batches (more
for a baseline under 180 batches), up to half of one for a close verdict; ``Verified.seconds`` says
what the re-timing took.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from sttune.outcome.select import NOISE_FLOOR
from sttune.training.epoch import ProbeEvent
from sttune.training.jobs import Job
from sttune.tuning import accounting
from sttune.tuning.records import TrialRecord, curve_rows

PAIRS_PER_EPOCH = 3  # at least this many pairs on each sampled epoch: its first batch apart, two to resample
BOOTSTRAP = 2000
MIN_PASSES = 2  # two re-timings from scratch, where affordable: their difference is in the interval
TARGET_NOISE = 0.05  # passes go on until the interval's relative half-width is at most this...
MAX_PASSES = 4  # ...or this many passes ran, or the next would pass the re-timing's share (accounting.VERIFY_SHARE)
CLOSE_PASSES = 8  # a close verdict: passes go on to this many, within accounting.CLOSE_SHARE of a baseline
# the least relative half-width of a reported interval: six re-timings of one configuration from
# scratch (the export, quiet twice, under one and two burners, a second identical search's export)
# strayed from their median by up to 8.3% (PEMS08 prefix) and 5.8% (synthetic, 120 nodes), 9 pairs
# a pass, on derivation data only (bench/verified_checks.py repro;
# bench/results/verified_repro_{pems08_prefix,synthetic_n120}_strategy.json); 8.3% rounded up. A floor
# shrinking as 1 / sqrt(pairs) (3.1% measured at 42 pairs) was tried and withdrawn: SZ-TAXI's re-timings at
# 22 pairs strayed by 8.6% (docs/benchmarks.md, "A floor that shrinks with the pairs")
RETIMING_FLOOR = 0.085
CLOSE_CAVEAT = "reliably faster by a close margin: a re-timing from scratch may call it either way"
METHOD = "schedule"  # what a stored verification was measured by ("first-batches": before the schedule probe)

# (job, batches to run at each epoch) -> the job's schedule, one timed step at a time
Prober = Callable[[Job, Callable[[int], int]], Iterator[ProbeEvent]]


class VerifyListener(Protocol):
    """What a display hears while an export verifies: one line per re-timing or reuse, and the
    epochs of the lockstep as they finish."""

    def notice(self, message: str) -> None: ...
    def epoch_done(self, done: int, total: int) -> None: ...


class CannotVerify(Exception):
    """The speed-up cannot be re-timed: the trials lack what it needs (stored before work
    accounting), or re-running them failed here (the data or a plugin is missing)."""


@dataclass(frozen=True)
class Verified:
    """A checked speed-up of one trial against the full baseline."""

    speedup: float  # the verified figure: the load-free estimate, at most the work ceiling
    low: float  # the 95% interval (bootstrap over the pairs)
    high: float
    work_fraction: float | None  # chosen work / baseline work (None: no work recorded)
    ceiling: float | None  # 1 / work_fraction
    measured_in_search: float  # the raw ratio of the two search costs
    noise: float  # relative half-width of this re-timing's bootstrap interval (at least NOISE_FLOOR)
    bounded: bool  # the whole interval lay above the ceiling: a measurement error, the ceiling reported
    pairs: tuple[dict[str, Any], ...] = ()
    seconds: float = 0.0  # device seconds the re-timing itself took (both runs, hooks included)
    method: str = "first-batches"  # METHOD for this module's; older exports stored "first-batches"
    epochs: tuple[int, ...] = ()  # the sampled epochs
    close: bool = False  # the verdict would flip within the estimate's own interval, even after the extra passes

    @property
    def interval(self) -> tuple[float, float]:
        return (self.low, self.high)

    @property
    def reliably_faster(self) -> bool:
        """Faster than the full baseline beyond the measurement's uncertainty: the interval's
        low end is above 1 (the point estimate alone is not enough)."""
        return self.low > 1.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["pairs"], out["epochs"] = list(self.pairs), list(self.epochs)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verified:
        kept = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        kept["pairs"] = tuple(kept.get("pairs", ()))
        kept["epochs"] = tuple(kept.get("epochs", ()))
        return cls(**kept)

    def text(self) -> str:
        """``1.47x [1.40, 1.55]``."""
        return f"{self.speedup:.2f}x [{self.low:.2f}, {self.high:.2f}]"

    def caveat(self) -> str | None:
        """What the verdict needs said beside the figure (None: nothing)."""
        if not self.reliably_faster:
            return "not reliably faster than the full baseline"
        if self.close:
            return CLOSE_CAVEAT
        return None


def work_fraction(trial: TrialRecord, baseline: TrialRecord | None) -> float | None:
    """The trial's charged work over the full baseline's (None without a baseline, or when
    either has no work recorded)."""
    mine, theirs = trial.work_units, baseline.work_units if baseline else None
    if mine is None or theirs is None or theirs <= 0:
        return None
    return mine / theirs


def trivial(record: TrialRecord) -> Verified:
    """The full baseline against itself."""
    return Verified(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, False, method=METHOD)


def default_pairs(baseline: TrialRecord) -> int:
    """PAIRS_SHARE of the baseline's training batches, within [MIN_PAIRS, MAX_PAIRS] (the rule a
    search's budget reserves for: sttune.tuning.accounting)."""
    return accounting.default_pairs(sum(_recorded_batches(baseline)))


def _recorded_batches(record: TrialRecord) -> list[int]:
    """The batches each epoch of the trial ran in the search."""
    rows = curve_rows(record.result)
    if not rows or record.job is None or not all(row.get("batches") for row in rows):
        raise CannotVerify(f"trial {record.number} has no recorded batches (stored before work accounting)")
    return [int(row["batches"]) for row in rows]


def sampled_epochs(epochs: int, pairs: int, shift: int = 0) -> dict[int, int]:
    """Epoch -> pairs re-timed there: at most pairs / PAIRS_PER_EPOCH epochs, spread evenly from
    the first to the last (pass ``shift`` moves them by ``shift`` epochs, wrapping, so that later
    passes sample other epochs), the pairs shared out (earlier epochs take the remainder)."""
    count = max(1, min(epochs, pairs // PAIRS_PER_EPOCH))
    spread = {round(i * (epochs - 1) / max(count - 1, 1)) for i in range(count)} if count > 1 else {0}
    picked = sorted({(e + shift) % epochs for e in spread})
    share, extra = divmod(pairs, len(picked))
    return {epoch: share + (1 if i < extra else 0) for i, epoch in enumerate(picked)}


@dataclass
class _Arm:
    """One re-timed run over its passes: its steps as they come, and what it recorded in the search."""

    name: str
    record: TrialRecord
    recorded: list[int]  # batches per epoch in the search
    hooks: dict[int, list[float]] = field(default_factory=dict)  # epoch -> select + end seconds, per pass
    batches: dict[int, list[float]] = field(default_factory=dict)  # epoch -> seconds of each re-timed batch
    seconds: float = 0.0
    steps: Iterator[ProbeEvent] = iter(())
    done: bool = True

    def start(self, steps: Iterator[ProbeEvent]) -> None:
        self.steps, self.done = steps, False

    def step(self) -> ProbeEvent | None:
        try:
            event = next(self.steps)
        except StopIteration:
            self.done = True
            return None
        self.seconds += event.seconds
        if event.kind == "batch":
            self.batches.setdefault(event.epoch, []).append(event.seconds)
        elif event.kind == "select":
            self.hooks.setdefault(event.epoch, []).append(event.seconds)
        else:
            self.hooks[event.epoch][-1] += event.seconds
        return event


def verify_speedup(chosen: TrialRecord, baseline: TrialRecord, prober: Prober, pairs: int | None = None,
                   listener: VerifyListener | None = None, close_share: float = accounting.CLOSE_SHARE) -> Verified:
    """Re-time ``chosen`` against ``baseline`` over their schedules (see the module doc), in
    passes of ``pairs`` pairs until the interval is narrow enough, MAX_PASSES ran, or the next
    pass would take the re-timing past its share of a baseline; then, while the verdict is
    *close* (it would flip somewhere within the estimate's own interval), more passes up to
    CLOSE_PASSES and ``close_share`` of a baseline. ``listener`` hears each epoch of the lockstep
    as it ends, and when a close verdict is re-timed further."""
    if chosen.number == baseline.number:
        return trivial(chosen)
    pairs = default_pairs(baseline) if pairs is None else pairs
    if pairs < 1:
        raise ValueError(f"pairs must be at least 1, got {pairs}")
    arms = (_Arm("chosen", chosen, _recorded_batches(chosen)), _Arm("baseline", baseline, _recorded_batches(baseline)))
    epochs = max(len(arms[0].recorded), len(arms[1].recorded))
    rows: list[dict[str, Any]] = []
    sampled: set[int] = set()
    passes, told = 0, False
    while True:
        plan = sampled_epochs(len(arms[0].recorded), pairs, passes)
        sampled |= set(plan)
        for arm in arms:
            arm.start(prober(arm.record.job, lambda epoch, plan=plan: plan.get(epoch, 0)))  # type: ignore[arg-type]
        rows += _lockstep(arms[0], arms[1], epochs, listener, passes)
        passes += 1
        verified = _summarise(chosen, baseline, arms[0], arms[1], tuple(rows), tuple(sorted(sampled)))
        more = _more_passes(verified, arms, rows, passes, close_share)
        if more == "close" and listener is not None and not told:
            told = True
            listener.notice(f"trial {chosen.number}: its verdict is within the re-timing's own noise of flipping: "
                            f"more passes, up to {close_share:.0%} of a baseline")
        if more is None:
            return verified


def _more_passes(verified: Verified, arms: tuple[_Arm, _Arm], rows: list[dict[str, Any]], passes: int,
                 close_share: float) -> str | None:
    """Whether another pass runs: "regular" (the interval is still wider than TARGET_NOISE, within
    MAX_PASSES and VERIFY_SHARE), "close" (the verdict is close, within CLOSE_PASSES and
    ``close_share``), or None."""
    narrow = passes >= MIN_PASSES and verified.noise <= TARGET_NOISE
    if not narrow and passes < MAX_PASSES and _affordable(arms, rows, passes, accounting.VERIFY_SHARE):
        return "regular"
    if verified.close and passes < CLOSE_PASSES and _affordable(arms, rows, passes, close_share):
        return "close"
    return None


def _affordable(arms: tuple[_Arm, _Arm], rows: list[dict[str, Any]], passes: int, share: float) -> bool:
    """Whether one more pass keeps the re-timing within ``share`` of one baseline training, both
    counted in the probe's own baseline batches."""
    later = [r["baseline"] for r in rows if not r["first"]] or [r["baseline"] for r in rows]
    unit = statistics.fmean(later)
    spent = (arms[0].seconds + arms[1].seconds) / unit
    return spent * (passes + 1) / passes <= share * sum(arms[1].recorded)


def _lockstep(chosen: _Arm, baseline: _Arm, epochs: int, listener: VerifyListener | None,
              pass_index: int = 0) -> tuple[dict[str, Any], ...]:
    """Advance both runs in rounds of one timed step each, epoch by epoch, who goes first
    alternating pair by pair, so that a load drifting between the two steps of a pair biases half
    the pairs one way and half the other. Returns the pairs: a chosen batch and a baseline batch
    timed in the same round."""
    rows: list[dict[str, Any]] = []
    epoch = 0
    while not (chosen.done and baseline.done):
        ended = {"chosen": chosen.done, "baseline": baseline.done}
        stepped_any, paired = False, 0  # paired: this epoch's pairs so far
        while not all(ended.values()):
            # who goes first alternates pair by pair within an epoch, and the epoch's first pair
            # alternates from epoch to epoch and pass to pass: the later pairs of an epoch with an
            # odd count lean one way, the next epoch's the other (counting rounds instead, hooks
            # included, put the same arm first in 2 of an epoch's 3 later pairs every epoch)
            order = (baseline, chosen) if (paired + epoch + pass_index) % 2 == 0 else (chosen, baseline)
            stepped: dict[str, ProbeEvent] = {}
            for arm in order:
                if ended[arm.name]:
                    continue
                event = arm.step()
                if event is None or (event.kind == "end" and event.epoch == epoch):
                    ended[arm.name] = True
                if event is not None:
                    stepped[arm.name] = event
                    stepped_any = True
            if all(name in stepped and stepped[name].kind == "batch" for name in ("chosen", "baseline")):
                rows.append({"epoch": epoch, "order": [order[0].name, order[1].name], "pass": pass_index,
                             "first": paired == 0,  # the epoch's first batch: a stratum apart
                             "chosen": stepped["chosen"].seconds, "baseline": stepped["baseline"].seconds})
                paired += 1
        if not stepped_any:  # both schedules had ended with their last epoch
            break
        epoch += 1
        if listener is not None:
            listener.epoch_done(min(epoch + pass_index * epochs, epochs * (pass_index + 1)), epochs * (pass_index + 1))
    return tuple(rows)


def _interpolate(points: dict[int, float], epoch: int) -> float:
    """Piecewise linear through the sampled epochs, constant beyond the first and the last."""
    keys = sorted(points)
    if epoch <= keys[0]:
        return points[keys[0]]
    if epoch >= keys[-1]:
        return points[keys[-1]]
    right = next(k for k in keys if k >= epoch)
    left = max(k for k in keys if k <= epoch)
    if left == right:
        return points[left]
    share = (epoch - left) / (right - left)
    return points[left] + share * (points[right] - points[left])


def _search_batch_seconds(record: TrialRecord) -> float:
    """Mean device seconds per batch the trial ran at in the search (hooks included)."""
    rows = curve_rows(record.result)
    return float(rows[-1]["device_seconds"]) / max(sum(int(r["batches"]) for r in rows), 1)


def _estimate(chosen: _Arm, baseline: _Arm, pairs: dict[int, list[tuple[float, float, bool]]]) -> float:
    """The baseline's whole training over the chosen's, both priced in *baseline batches*: the
    seconds of a baseline batch past the first of the epoch, at that point of the schedule.

    An epoch's first batch is its own stratum: it follows the epoch-end hooks and validation, so
    it may be unlike the rest (a cold cache; DynST's one dense-gradient batch after a regrow
    cycle). Each arm's epoch costs its first batch plus (batches − 1) × its later batches, both
    read from the pairs of that epoch (interpolated between the sampled epochs)."""
    unit, first, later = {}, {"chosen": {}, "baseline": {}}, {}
    for e, p in pairs.items():
        heads, tails = [x for x in p if x[2]], [x for x in p if not x[2]] or [x for x in p if x[2]]
        unit[e] = statistics.fmean(b for _, b, _ in tails)  # a later baseline batch's seconds there
        first["chosen"][e] = statistics.fmean(c for c, _, _ in heads or tails) / unit[e]
        first["baseline"][e] = statistics.fmean(b for _, b, _ in heads or tails) / unit[e]
        later[e] = sum(c for c, _, _ in tails) / sum(b for _, b, _ in tails)  # load-free within each pair
    ratio = {"chosen": later, "baseline": {e: 1.0 for e in pairs}}

    def price(arm: _Arm) -> float:
        total = 0.0
        for e, n in enumerate(arm.recorded):
            if n > 0:
                total += _interpolate(first[arm.name], e) + (n - 1) * _interpolate(ratio[arm.name], e)
            hooks = arm.hooks.get(e)
            total += (statistics.fmean(hooks) if hooks else 0.0) / _interpolate(unit, e)
        prepare = arm.record.result.charged_prepare_seconds if arm.record.result else 0.0
        if prepare > 0:  # timed in the search: at the load its own batches ran at there
            probed = [s for times in arm.batches.values() for s in times]
            load = _search_batch_seconds(arm.record) / statistics.fmean(probed) if probed else 1.0
            total += prepare / max(load, 1e-12) / statistics.fmean(unit.values())
        return total

    return price(baseline) / price(chosen)


def _resampled(pairs: list[tuple[float, float, bool]], rng: random.Random) -> list[tuple[float, float, bool]]:
    """One bootstrap draw of an epoch's pairs: the later ones resampled with replacement; the
    first batches (usually one a pass) resampled too, and each scaled by the relative error of a
    later pair drawn at random, so that the stratum measured once still carries a pair's noise."""
    heads, tails = [x for x in pairs if x[2]], [x for x in pairs if not x[2]]
    if not tails:
        return rng.choices(heads, k=len(heads))
    mean = sum(c for c, _, _ in tails) / sum(b for _, b, _ in tails)
    noisy = []
    for c, b, first in rng.choices(heads, k=len(heads)):
        tc, tb, _ = rng.choice(tails)
        noisy.append((c * (tc / tb) / mean, b, first))
    return noisy + rng.choices(tails, k=len(tails))


def _by_epoch(rows: Sequence[dict[str, Any]]) -> dict[int, list[tuple[float, float, bool]]]:
    pairs: dict[int, list[tuple[float, float, bool]]] = {}
    for row in rows:
        pairs.setdefault(row["epoch"], []).append((row["chosen"], row["baseline"], bool(row.get("first"))))
    return {e: p for e, p in pairs.items() if sum(b for _, b, _ in p) > 0}


def _draw(by_pass: dict[int, list[dict[str, Any]]], rng: random.Random) -> dict[int, list[tuple[float, float, bool]]]:
    """One bootstrap draw: the passes resampled with replacement (what differs between two
    re-timings from scratch), then each epoch's pairs within them (what differs between pairs)."""
    picked = rng.choices(sorted(by_pass), k=len(by_pass))
    return {e: _resampled(p, rng) for e, p in _by_epoch([row for p in picked for row in by_pass[p]]).items()}


def _summarise(chosen_record: TrialRecord, baseline_record: TrialRecord, chosen: _Arm, baseline: _Arm,
               rows: tuple[dict[str, Any], ...], epochs: tuple[int, ...]) -> Verified:
    """The verified figure of the pairs so far; ``close`` when its verdict would differ at the two
    ends of the estimate's own interval ("reliably faster" at one and not at the other)."""
    pairs = _by_epoch(rows)
    if not pairs:
        raise CannotVerify("no batch could be re-timed in both runs")
    estimate = _estimate(chosen, baseline, pairs)
    rng = random.Random(0)
    by_pass: dict[int, list[dict[str, Any]]] = {}
    for row in rows:  # grouped once, not once a draw
        by_pass.setdefault(row.get("pass", 0), []).append(row)
    draws = sorted(_estimate(chosen, baseline, _draw(by_pass, rng)) for _ in range(BOOTSTRAP))
    low, high = draws[int(0.025 * BOOTSTRAP)], draws[int(0.975 * BOOTSTRAP) - 1]
    # no two timings of the same work agree better than the noise floor: the interval is never narrower
    low, high = min(low, estimate / (1 + NOISE_FLOOR)), max(high, estimate * (1 + NOISE_FLOOR))
    noise = max(NOISE_FLOOR, (high - low) / (2 * estimate))  # this re-timing's own spread: more passes narrow it
    fraction = work_fraction(chosen_record, baseline_record)
    ceiling = None if not fraction else 1.0 / fraction

    def reported(at: float) -> tuple[float, float, float, bool]:  # the figure, had the estimate been ``at``
        return _reported(at, low * at / estimate, high * at / estimate, ceiling)

    speedup, shown_low, shown_high, bounded = reported(estimate)
    close = (reported(low)[1] > 1.0) != (reported(high)[1] > 1.0)
    raw = baseline_record.cost_seconds / chosen_record.cost_seconds if chosen_record.cost_seconds > 0 else math.inf
    return Verified(speedup, shown_low, shown_high, fraction, ceiling, raw, noise, bounded, rows,
                    chosen.seconds + baseline.seconds, METHOD, epochs, close)


def _reported(estimate: float, low: float, high: float, ceiling: float | None) -> tuple[float, float, float, bool]:
    """(speed-up, low, high, bounded) as reported, from the estimate and its own interval: widened
    to the re-timing floor, then held to the work ceiling."""
    # no two re-timings from scratch agree better than RETIMING_FLOOR (what a bootstrap within one
    # re-timing cannot see): the interval reported is never narrower than that
    low, high = min(low, estimate / (1 + RETIMING_FLOOR)), max(high, estimate * (1 + RETIMING_FLOOR))
    bounded = ceiling is not None and low > ceiling * (1 + NOISE_FLOOR)
    speedup = estimate if ceiling is None else min(estimate, ceiling)
    if ceiling is not None and estimate > ceiling:  # the overshoot is the measurement's error, never the saving's:
        low, high = low * ceiling / estimate, high * ceiling / estimate  # the interval moves down with the estimate
    if ceiling is not None:
        high, low = min(high, ceiling), min(low, ceiling)
    return speedup, min(low, speedup), max(high, speedup), bounded
