"""The benchmark harness every bench script uses: interleaved arms, repeats, ratios with their
spread, and the work ceiling.

A figure is a measurement only if load cannot inflate it, so:

- **interleaved, rotating**: each repeat runs every arm once; the order of the arm groups
  rotates from repeat to repeat (a slow stretch of the machine does not always hit the same
  arm). Arms in one group run back to back in their given order, for arms derived from an
  earlier one (a random ablation matched to the named arm's pruned windows).
- **ratios within a repeat**: an arm's time is divided by the reference arm's time *of the
  same repeat*; the headline is the median over repeats, with the range beside it.
- **work beside time**: every run records its load-free work (sttune.training.work). A time
  saving larger than the work saving, by more than the measured noise, cannot be real: the
  arm is flagged ``above_work_ceiling`` and its time figure is not a result. Every repeat is
  checked against its own ceiling too (``repeats_above_ceiling``: repeats faster than their work
  allows, by more than the arm's noise, are measurement errors the table names).

Results carry the clock they were read from (``clock``), stated in every table.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

from sttune.outcome.select import NOISE_FLOOR  # no two timings of equal work agree better than this

# run(arm, repeat, earlier) -> TrainResult; ``earlier`` holds this repeat's results so far
RunArm = Callable[[str, int, dict[str, Any]], Any]


def rotated(groups: Sequence[Sequence[str]], repeat: int) -> list[str]:
    """The arms of one repeat: the groups rotated by ``repeat``, each group's order kept."""
    k = repeat % len(groups)
    return [arm for group in [*groups[k:], *groups[:k]] for arm in group]


def interleave(groups: Sequence[Sequence[str]], repeats: int, run: RunArm,
               log: Callable[[str], None] = print) -> dict[str, list[Any]]:
    """Run every arm once per repeat in a rotating order; results per arm, in repeat order."""
    results: dict[str, list[Any]] = {arm: [] for group in groups for arm in group}
    for repeat in range(repeats):
        earlier: dict[str, Any] = {}
        for arm in rotated(groups, repeat):
            result = run(arm, repeat, earlier)
            earlier[arm] = result
            results[arm].append(result)
            work = getattr(getattr(result, "work", None), "units", None)
            log(f"  repeat {repeat} {arm}: test MAE {result.test_mae:.4f} device {result.cost_seconds:.1f}s "
                f"({getattr(result, 'clock', '?')}) work {work if work is None else round(work)}")
    return results


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "low": min(values), "high": max(values)}


def summarise(results: dict[str, list[Any]], reference: str = "full") -> dict[str, dict[str, Any]]:
    """Per arm: speed-up and time saving against ``reference`` (median and range over repeats),
    work fraction, test MAE mean ± sd and change, and the work-ceiling check."""
    ref = results[reference]
    ref_mae = statistics.fmean(r.test_mae for r in ref)
    out: dict[str, dict[str, Any]] = {}
    for arm, runs in results.items():
        speedups = [b.cost_seconds / a.cost_seconds for a, b in zip(runs, ref) if a.cost_seconds > 0]
        works = [a.work.units / b.work.units for a, b in zip(runs, ref) if a.work and b.work]
        maes = [r.test_mae for r in runs]
        s = _spread(speedups)
        noise = max(NOISE_FLOOR, (s["high"] - s["low"]) / (2 * s["median"]))
        work = statistics.median(works) if works else None
        ceiling = 1 / work if work else None
        # each repeat against its own ceiling (its reference's work over its own), with the arm's noise
        above = [b.cost_seconds / a.cost_seconds > (b.work.units / a.work.units) * (1 + noise)
                 for a, b in zip(runs, ref) if a.cost_seconds > 0 and a.work and b.work and a.work.units > 0]
        out[arm] = {
            "repeats": len(runs),
            "speedup": s, "time_saving": {k: 1 - 1 / v for k, v in s.items()},
            "work_fraction": work, "work_saving": None if work is None else 1 - work, "ceiling": ceiling,
            "noise": noise,
            "above_work_ceiling": ceiling is not None and s["median"] > ceiling * (1 + noise),
            "repeats_above_ceiling": sum(above),
            "test_mae_mean": statistics.fmean(maes), "test_mae_sd": statistics.pstdev(maes),
            "mae_change": statistics.fmean(maes) / ref_mae - 1,
            "val_mae_mean": statistics.fmean(r.val_mae for r in runs),
            "device_seconds_mean": statistics.fmean(r.cost_seconds for r in runs),
            "peak_memory_mib_mean": statistics.fmean(r.peak_memory_bytes for r in runs) / 2**20,
            "clock": sorted({getattr(r, "clock", "?") for r in runs}),
            "device": runs[0].device,
        }
    return out


def table(summary: dict[str, dict[str, Any]], title: str) -> str:
    """A markdown table of :func:`summarise`'s rows, its clock stated."""
    clocks = sorted({c for row in summary.values() for c in row["clock"]})
    lines = [f"#### {title}", "", f"clock: {', '.join(clocks)}; speed-up and saving: median [range] over repeats,"
             " each repeat's arm against its own reference run", "",
             "| arm | test MAE (mean ± sd) | MAE change | work | speed-up [range] | time saving | check |",
             "|---|---|---|---|---|---|---|"]
    for arm, r in summary.items():
        s, t = r["speedup"], r["time_saving"]
        work = "-" if r["work_fraction"] is None else f"{r['work_fraction']:.1%}"
        n_above = r.get("repeats_above_ceiling", 0)
        check = ("**above its work ceiling: not a result**" if r["above_work_ceiling"]
                 else f"{n_above} of {r['repeats']} repeats above their ceiling: measurement errors" if n_above else "ok")
        lines.append(f"| {arm} | {r['test_mae_mean']:.4f} ± {r['test_mae_sd']:.4f} | {100 * r['mae_change']:+.1f}% | "
                     f"{work} | {s['median']:.2f}x [{s['low']:.2f}, {s['high']:.2f}] | {100 * t['median']:.0f}% | {check} |")
    return "\n".join(lines) + "\n"
