"""Replay early-stopping policies on the recorded trials of a search without early stopping.

`bench/early_stopping.py` stores every trial of its "off" arm with its learning curve. This
script walks those trials in their order and applies a rung policy to each as the live
search would (the same `should_stop`, the same projected cost, compared with the earlier
trials that reached the rung; baseline never stopped; reused trials cost nothing). A stopped
trial costs what it had spent at the rung and leaves the front.

What a replay cannot show: the sampler reacting to stopped trials (the live "on" arm proposes
other configurations), and preparation checkpoints (the "off" arm never computed them). It
screens epoch-rung settings on one fixed sequence of trials, free of timing noise between
arms; a setting it favours still has to be confirmed by a live run. Runs recorded with planned
work per epoch (the curve's 5th column) are also replayed with the old plain-count projection,
so the two projections are compared on the same trials.
Usage: .venv/bin/python bench/early_stopping_replay.py bench/results/early_stopping.json [raw runs ...]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from itertools import product
from pathlib import Path

from early_stopping import hypervolume
from sttune.tuning.rungs import RungPolicy, projected_cost, selection_order, should_stop


def should_stop_mo_asha(current: list[float], others: list[list[float]], policy: RungPolicy) -> bool:
    """Published MO-ASHA: keep the best 1/η by (rank, crowding), the rung's front included.

    sttune's rule never stops a point on the rung's front; this variant shows what that costs.
    """
    points = [tuple(current), *map(tuple, others)]
    if len(points) < policy.min_trials:
        return False
    _, order = selection_order(points, policy.tolerance)
    return order.index(0) >= policy.keep(len(points))

POLICIES = {
    "default (2, η 3)": RungPolicy(enabled=True),
    "η 2": RungPolicy(enabled=True, reduction_factor=2.0),
    "η 4": RungPolicy(enabled=True, reduction_factor=4.0),
    "first rung 1": RungPolicy(enabled=True, first_rung=1),
    "first rung 1, η 2": RungPolicy(enabled=True, first_rung=1, reduction_factor=2.0),
    "min_trials 3": RungPolicy(enabled=True, min_trials=3),
    "min_trials 8": RungPolicy(enabled=True, min_trials=8),
    "time tolerance 5%": RungPolicy(enabled=True, tolerance=(0.005, 0.05)),
    "time tolerance 20%": RungPolicy(enabled=True, tolerance=(0.005, 0.2)),
    "val tolerance 0.2%": RungPolicy(enabled=True, tolerance=(0.002, 0.1)),
    "val tolerance 1%": RungPolicy(enabled=True, tolerance=(0.01, 0.1)),
}
# (name prefix, stopping rule, projection from the strategies' plans)
RULES = {"": (should_stop, True), "plain-count projection, ": (should_stop, False),
         "MO-ASHA (front not exempt), ": (should_stop_mo_asha, True)}


@dataclass
class Outcome:
    cost_seconds: float
    stopped: int
    front_points: list[tuple[float, float]]


def rung_point(trial: dict, rung: int, epochs: int, planned: bool = True) -> tuple[list[float], float]:
    """(the trial's point at ``rung`` epochs, what it had cost by then), from its curve.

    ``planned``: extend the last epoch by the recorded epochs ahead (the strategies' plans);
    False, or a run recorded before plans existed: by the plain count of epochs left.
    """
    curve = trial["curve"]
    seconds = [row[2] for row in curve]
    last_epoch_s = seconds[rung - 1] - (seconds[rung - 2] if rung >= 2 else 0.0)
    spent = trial["charged_prepare_seconds"] + seconds[rung - 1]
    best_mae = min(row[1] for row in curve[:rung])
    row = curve[rung - 1]
    ahead = row[4] if planned and len(row) > 4 and row[4] is not None else epochs - rung
    return [best_mae, projected_cost(spent, last_epoch_s, ahead)], spent


def replay(trials: list[dict], policy: RungPolicy, epochs: int, rule=should_stop, planned: bool = True) -> Outcome:
    """Apply ``policy`` to the trials in order, as a one-worker search would have."""
    points: dict[int, list[list[float]]] = {r: [] for r in policy.rungs(epochs)}
    total, stopped, front = 0.0, 0, []
    for trial in sorted(trials, key=lambda t: t["number"]):
        if trial["reused_from"] is not None or trial["state"] != "COMPLETE":
            continue  # a reused trial trained nothing; the "off" arm has no other states
        cost, alive = trial["cost_seconds"], True
        for rung in points:
            if len(trial["curve"]) < rung:
                break  # stopped early by its own rule (none in this bench) or shorter
            point, spent = rung_point(trial, rung, epochs, planned)
            if trial["role"] != "baseline" and rule(point, points[rung], policy):
                cost, alive = spent, False
                stopped += 1
                break
            points[rung].append(point)
        total += cost
        if alive:
            front.append((trial["val_mae"], trial["cost_seconds"]))
    return Outcome(total, stopped, front)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("results", nargs="+", type=Path,
                        help="JSON files written by bench/early_stopping.py, or bench/results/early_stopping.json")
    args = parser.parse_args()
    print("| run | policy | stopped | device s | less time | hypervolume vs off |")
    print("|---|---|---|---|---|---|")
    runs = []
    for path in args.results:
        data = json.loads(path.read_text())
        runs.extend(data["runs"].items() if "runs" in data else [(path.stem, data)])  # a summary holds several
    for stem, data in runs:
        if not isinstance(data["off"].get("trials"), list):  # older results held only the count
            raise SystemExit(f"{stem}: no per-trial rows; rerun bench/early_stopping.py to record them")
        trials, epochs, ref = data["off"]["trials"], data["epochs"], tuple(data["reference_point"])
        off_total, off_hv = data["off"]["total_device_seconds"], data["off"]["hypervolume"]
        for (prefix, (rule, planned)), (name, policy) in product(RULES.items(), POLICIES.items()):
            out = replay(trials, policy, epochs, rule, planned)
            name = prefix + name
            print(f"| {stem} | {name} | {out.stopped} of {len(trials)} | {off_total:.0f} → "
                  f"{out.cost_seconds:.0f} | {off_total / out.cost_seconds:.2f}x | "
                  f"{hypervolume(out.front_points, ref) / off_hv:.1%} |", flush=True)


if __name__ == "__main__":
    main()
