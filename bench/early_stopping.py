"""Multi-objective early stopping: whole-search device time and Pareto hypervolume.

Two searches on SZ-TAXI over the three built-in strategies with the same trial count,
sampler and seed: one with `search.early_stopping` off, one with it on. The two arms run at
the same time in two processes (one torch thread each), so machine load hits both alike; when
one arm ends, a ballast process loads its vCPU until the other ends (`--no-ballast`: off).
Reports the total device seconds of each search (every trial, stopped ones included), the same
in units of the arm's own full-baseline trial (robust to a uniform slowdown), and the
hypervolume of each final Pareto front (completed trials; val MAE × device seconds) against one
shared reference point (1.1 × the worst value of either arm).
Usage: flock /tmp/sttune-bench.lock .venv/bin/python bench/early_stopping.py [--trials N]
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import tempfile
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import replace
from pathlib import Path

from common import real_dataset, save
from sttune.outcome.report import search_cost
from sttune.outcome.select import pareto_front
from sttune.recipe.settings import TrainConfig
from sttune.recipe.spec import ModelBlock, Recipe, SearchConfig, StrategyBlock
from sttune.tuning.events import NullEvents
from sttune.tuning.records import finished_records
from sttune.tuning.rungs import RungPolicy
from sttune.tuning.runs import Run, load_studies, search_run


class Quiet(NullEvents):
    """Silent while a trial runs; prints one line per trial."""

    def trial_finished(self, record) -> None:
        print(f"  trial {record.number:>3} {record.state:8s} {record.label:30s} "
              f"val {record.val_mae:.4f} {record.cost_seconds:7.1f} s", flush=True)


def hypervolume(points: list[tuple[float, float]], ref: tuple[float, float]) -> float:
    """2-D hypervolume (minimisation) of the non-dominated points below ``ref``."""
    front = sorted(p for p in points if p[0] < ref[0] and p[1] < ref[1])
    volume, best_y = 0.0, ref[1]
    for x, y in front:  # sweep by the first objective; each new lower y adds a slab
        if y < best_y:
            volume += (ref[0] - x) * (best_y - y)
            best_y = y
    return volume


def burn(stop) -> None:  # noqa: ANN001 (a multiprocessing Event)
    """One thread of matrix products until ``stop`` is set: stands in for the arm that finished.

    The process clock of a trial depends on what shares the two vCPUs with it; without this the
    slower arm ran its last trials alone and looked cheaper per trial than it was.
    """
    import torch

    torch.set_num_threads(1)
    a = torch.randn(256, 256)
    while not stop.is_set():
        for _ in range(50):
            a = torch.tanh(a @ a)


def trial_row(record) -> dict:
    """One trial as the replay needs it: its order, strategy, outcome and learning curve."""
    result = record.result
    return {"number": record.number, "state": record.state, "role": record.role, "label": record.label,
            "val_mae": record.val_mae, "cost_seconds": record.cost_seconds, "reused_from": record.reused_from,
            "charged_prepare_seconds": result.charged_prepare_seconds if result else 0.0,
            "overhead_seconds": result.overhead_seconds if result else 0.0,  # the search's, not the trial's
            "strategies": record.job.strategies if record.job is not None else [],
            # [epoch, val MAE, cumulative training s, windows, epochs ahead in units of this epoch]
            "curve": [r.row()[:5] for r in result.curve] if result else []}


def run_arm(recipe: Recipe, folder: Path, cache: Path) -> tuple[list, dict]:
    """One search; its finished trials and its own cost as `sttune report` computes it."""
    run = Run(folder, recipe, "early-stopping-bench")
    search_run(run, cache, Quiet(), None, None)
    study = load_studies(run)[0]
    return finished_records(study), search_cost(study)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--embed-dim", type=int, default=32)
    parser.add_argument("--cpu-clock", choices=["wall", "process"], default="process")
    parser.add_argument("--first-rung", type=int, default=RungPolicy.first_rung)
    parser.add_argument("--eta", type=float, default=RungPolicy.reduction_factor, help="reduction factor")
    parser.add_argument("--tolerance", type=float, nargs=2, default=RungPolicy.tolerance, metavar=("VAL", "TIME"),
                        help="relative differences counted as ties at a rung")
    parser.add_argument("--out", default="early_stopping", help="results name (raw JSON under $STTUNE_BENCH_OUT)")
    parser.add_argument("--ballast", action=argparse.BooleanOptionalAction, default=True,
                        help="keep both vCPUs loaded after the first arm ends (equal load for both arms)")
    parser.add_argument("--sampler", default="tpe", choices=["tpe", "random"],
                        help="random: both arms propose the same configurations, so only the rule differs")
    parser.add_argument("--seed", type=int, default=0, help="the search's sampler and training seed (both arms)")
    args = parser.parse_args()
    base = Recipe(
        datasets=[real_dataset("sz_taxi")],
        model=ModelBlock(name="stid", params={"embed_dim": args.embed_dim, "n_layers": 2}),
        # CPU time, not wall time: trials run at different machine loads stay comparable
        train=TrainConfig(epochs=args.epochs, device="auto", cpu_clock=args.cpu_clock, seed=args.seed),
        strategies=[StrategyBlock("st_prune"), StrategyBlock("dynst"),
                    StrategyBlock("stemdist", fixed={"t_outer": 5, "inner": 5})],  # short distillations
        search=SearchConfig(trials=args.trials, seed=args.seed, sampler=args.sampler, baseline_ladder=[]),
    )
    # the defaults unless given: first rung at 2 epochs, eta 3, ties within tolerance
    stopping = RungPolicy(enabled=True, first_rung=args.first_rung, reduction_factor=args.eta,
                          tolerance=tuple(args.tolerance))
    arms = {"off": base, "on": replace(base, search=replace(base.search, early_stopping=stopping))}
    tmp = Path(tempfile.mkdtemp(prefix="sttune-es-"))
    # both arms at once, each with a fresh distillation cache (each pays its own distillations)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        futures = {k: pool.submit(run_arm, r, tmp / k, tmp / f"cache-{k}") for k, r in arms.items()}
        wait(futures.values(), return_when=FIRST_COMPLETED)
        stop = context.Event()
        ballast = context.Process(target=burn, args=(stop,)) if args.ballast else None
        if ballast is not None:
            ballast.start()
        outcomes = {k: f.result() for k, f in futures.items()}
        stop.set()
        if ballast is not None:
            ballast.join()  # it must have read the event before the parent frees it
    results = {k: records for k, (records, _) in outcomes.items()}
    for label, records in results.items():
        print(f"arm: early stopping {label}")
        for r in records:
            Quiet().trial_finished(r)
    points = {k: [(r.val_mae, r.cost_seconds) for r in v if r.state == "COMPLETE"] for k, v in results.items()}
    ref = (1.1 * max(p[0] for v in points.values() for p in v), 1.1 * max(p[1] for v in points.values() for p in v))
    rows = {}
    for label, records in results.items():
        rows[label] = {
            "stopped": sum(r.state == "PRUNED" for r in records),
            # reused trials (search.reuse_results) trained nothing and add 0, as in `sttune report`
            "total_device_seconds": outcomes[label][1]["total_cost_seconds"],
            "reused": outcomes[label][1]["reused_trials"],
            "baseline_device_seconds": outcomes[label][1]["baseline_cost_seconds"],
            "hypervolume": hypervolume(points[label], ref),
            "front": [(r.number, r.label, r.val_mae, r.cost_seconds) for r in pareto_front(
                [r for r in records if r.state == "COMPLETE"])],
            # every trial (len = the trial count), for replaying other policies (early_stopping_replay.py)
            "trials": [trial_row(r) for r in records],
        }
    for label in ("off", "on"):
        rows[label]["total_in_baselines"] = rows[label]["total_device_seconds"] / rows[label]["baseline_device_seconds"]
    rows["ratio"] = {"device_time_off_over_on": rows["off"]["total_device_seconds"] / rows["on"]["total_device_seconds"],
                     "baseline_units_off_over_on": rows["off"]["total_in_baselines"] / rows["on"]["total_in_baselines"],
                     "hypervolume_on_over_off": rows["on"]["hypervolume"] / rows["off"]["hypervolume"]}
    print(rows["ratio"], flush=True)
    print(f"wrote {save(args.out, {'reference_point': ref, 'epochs': args.epochs, 'policy': repr(stopping), 'argv': vars(args), **rows})}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
