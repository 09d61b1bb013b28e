"""Does the default search find more than its default? (issue 34)

Cells: SZ-TAXI, LOS-LOOP and the PEMS04 prefix × STID and GWNet × three fresh seeds (10, 11, 12:
neither the development seeds 0-2 nor the derivation seeds 100-101 of bench/derive_defaults.py;
none of these datasets was read to derive a default). Arms per cell:

(a) **default**: ``sttune search`` as a recipe without trials, budget or timeout runs it (the
    default budget, 2 baselines, the export's re-timing included), then the export;
(b) **quick**: ``sttune search --quick`` (baseline, ladder read off it, the recommendations, the
    re-timing; its default budget 1.5), then the export;
(c) **best rung**: the plain model trained shorter: the export's rule over (a)'s plain trials alone
    (the full baseline and the rungs read off its curve), re-timed the same way; its cost is the
    baseline's training.

For each: the verified speed-up at the export's tolerance (1% val MAE) and its interval, the val
MAE change, the test MAE change (reported, never used to choose; a rung read off the baseline's
curve has none), the search's cost in full baselines as ``sttune report --json`` gives it, and the
break-even retrainings. (a) and (b) of a cell run one after the other in one process, their order
alternating by seed; two cells run at once (one torch thread each, the device clock is process CPU
time); the 1-minute load average is recorded at each arm's start and end.

Usage: flock /tmp/sttune-bench.lock python bench/search_value.py [--seeds 10 11 12] [--models stid gwnet]
       [--datasets sz_taxi los_loop pems04_prefix] [--parallel 2] [--record]
       python bench/search_value.py --render bench/results/search_value.json
       python bench/search_value.py --predictions /tmp/sttune-value-XXXX bench/results/search_value.json --record
         (after a run: each trained strategy trial's predicted cost beside its measured one, Kendall tau)
Full JSON to $STTUNE_BENCH_OUT/search_value.json after every cell; ``--record`` also writes it to
bench/results/search_value.json.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from common import kendall_tau, real_dataset, record, save, shared_data
from search_economics import Quiet
from sttune.outcome.export import export_run, trial_summary, verified_speedup
from sttune.outcome.pricing import comparison_noise, priced_records
from sttune.outcome.report import break_even, payback
from sttune.outcome.select import select
from sttune.recipe.settings import Protocol, TrainConfig
from sttune.recipe.spec import DatasetBlock, ModelBlock, Recipe, SearchConfig, StrategyBlock
from sttune.training.jobs import probe_job
from sttune.tuning import records as rec
from sttune.tuning.runs import Run, load_studies, search_run

MODELS = {  # STID as the strategy benchmarks; GWNet narrowed so that 9 cells fit a 2-core CPU
    "stid": {"embed_dim": 16, "n_layers": 2},
    "gwnet": {"residual_channels": 16, "dilation_channels": 16, "skip_channels": 32, "end_channels": 64,
              "blocks": 2, "layers": 2},
}
EPOCHS = 10
BEATS = 1.10  # the default's export beats --quick's by at least 10% verified speed-up


def dataset_block(name: str) -> DatasetBlock:
    if name != "pems04_prefix":
        return real_dataset(name)
    root = shared_data()  # the first 694 steps of PEMS04 (2018-01-01 00:00 on), flow only
    return DatasetBlock("pems", {"path": str(root / "PEMS04/PEMS04_prefix694.npz"), "graph": str(root / "PEMS04/PEMS04.csv"),
                                 "channels": [0], "start": "2018-01-01 00:00"}, id="pems04_prefix")


def recipe_for(dataset: str, model: str, seed: int, quick: bool, cache: Path) -> Recipe:
    train = TrainConfig(epochs=EPOCHS, batch_size=64, device="auto", cpu_clock="process", cpu_threads=1, seed=seed)
    return Recipe(
        datasets=[dataset_block(dataset)], model=ModelBlock(name=model, params=dict(MODELS[model])),
        protocol=Protocol(in_len=12, out_len=12, split=(0.6, 0.2, 0.2)), train=train,
        strategies=[StrategyBlock("st_prune"), StrategyBlock("dynst"),
                    StrategyBlock("stemdist", fixed={"t_outer": 10, "inner": 5})],  # the quick start's short distillation
        search=SearchConfig(seed=seed, quick=quick),  # no limit given: the default budget (quick: its own)
        name=f"value-{dataset}-{model}-{seed}-{'quick' if quick else 'default'}", cache_dir=str(cache),
    )


def load() -> float:
    return os.getloadavg()[0]


def arm_row(chosen: rec.TrialRecord, base: rec.TrialRecord, verified: Any, cost_baselines: float) -> dict[str, Any]:
    """One arm's choice: its verified speed-up and interval, val and test MAE change, cost, break-even."""
    summary = trial_summary(chosen, base, verified)
    speedup = summary["speedup"] or 0.0
    faster = bool(verified is not None and verified.reliably_faster)
    test = chosen.test_mae / base.test_mae - 1 if math.isfinite(chosen.test_mae) else None
    return {"trial": chosen.number, "label": chosen.label, "strategies": summary["strategies"],
            "epochs": summary["epochs"], "derived": chosen.derived_from is not None, "speedup": speedup,
            "speedup_interval": summary.get("speedup_interval"), "reliably_faster": faster,
            "work_fraction": summary["work_fraction"], "val_mae_change": summary["val_mae_change"],
            "test_mae_change": test, "search_cost_baselines": cost_baselines,
            "break_even_retrainings": break_even(cost_baselines, 1.0, 1.0 / speedup) if faster and speedup > 1 else None}


def search_arm(dataset: str, model: str, seed: int, quick: bool, folder: Path) -> dict[str, Any]:
    """One search and its export; for the default arm also (c), the best rung of the same study."""
    tag = f"{dataset} {model} s{seed} {'quick' if quick else 'default'}"
    cache = folder / "cache"
    recipe = recipe_for(dataset, model, seed, quick, cache)
    run = Run(folder / recipe.name, recipe, recipe.name)
    start, before = time.monotonic(), load()
    search_run(run, cache, Quiet(tag), None, None)
    export = export_run(run, cache_dir=cache)[0]
    after = load()
    study = load_studies(run)[0]
    report = payback(study, recipe, run.best_dir)  # what `sttune report --json` prints
    records = rec.finished_records(study)
    base = rec.full_baseline(records)
    assert base is not None, f"{tag}: the full baseline did not finish"
    trials = [{"number": r.number, "state": r.state, "role": r.role, "label": r.label, "epochs": r.job.train.epochs if r.job else None,
               "derived": r.derived_from is not None, "val_mae": r.val_mae, "search_seconds": r.search_seconds,
               "skipped": study.trials[r.number].user_attrs.get("sttune.skipped")} for r in records]
    out = {"arm": "quick" if quick else "default", "baseline_seconds": base.cost_seconds, "baseline_val_mae": base.val_mae,
           "baseline_test_mae": base.test_mae, "choice": arm_row(export.chosen, base, export.verified, report["search_cost_baselines"]),
           "note": export.note, "report_search_cost_baselines": report["search_cost_baselines"],
           "report_break_even": report["break_even_retrainings"], "report_break_even_note": report["break_even_note"],
           "trained_trials": sum(1 for r in records if r.trained), "trials": trials,
           "load_before": before, "load_after": after, "wall_seconds": time.monotonic() - start,
           "device": base.result.device if base.result else None}
    if not quick:  # (c): the export's rule over the plain trials alone, priced and re-timed as the export does
        complete = [r for r in priced_records(study) if r.state == "COMPLETE"]
        plain = select([r for r in complete if r.role == "baseline"], recipe.export.rule, recipe.export.tolerance,
                       comparison_noise(complete))
        prober = lambda job, batches_at: probe_job(job, cache, batches_at)  # noqa: E731 (export_run's prober)
        verified = verified_speedup(study, plain, base, prober, recipe.export.verify_pairs)
        out["rung"] = arm_row(plain, base, verified, 1.0 + (verified.seconds if verified else 0.0) / base.cost_seconds)
    print(f"  [{tag}] export {out['choice']['label']} {out['choice']['speedup']:.2f}x "
          f"{out['choice']['speedup_interval']} cost {out['report_search_cost_baselines']:.2f} baselines", flush=True)
    return out


def cell(dataset: str, model: str, seed: int, folder: Path) -> dict[str, Any]:
    """Arms (a) and (b) of one cell, one after the other, the order alternating by seed."""
    order = (False, True) if seed % 2 == 0 else (True, False)
    arms = {}
    for quick in order:
        arms["quick" if quick else "default"] = search_arm(dataset, model, seed, quick, folder / f"{dataset}-{model}-{seed}")
    return {"dataset": dataset, "model": model, "seed": seed, "order": ["quick" if q else "default" for q in order], **arms}


def verdicts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's must-show over the cells: cost within 2 baselines, the default beating --quick by
    10%, the median verified speed-up of each arm."""
    def speed(r: dict[str, Any], arm: str) -> float:
        return (r["default"]["rung"] if arm == "rung" else r[arm]["choice"])["speedup"]

    beats = [speed(r, "default") >= BEATS * speed(r, "quick") for r in rows]
    return {"cells": len(rows),
            "default_cost_within_2": all(r["default"]["report_search_cost_baselines"] <= 2.0 for r in rows),
            "default_cost_max": max(r["default"]["report_search_cost_baselines"] for r in rows),
            "quick_cost_max": max(r["quick"]["report_search_cost_baselines"] for r in rows),
            "default_beats_quick_by_10pct": sum(beats),
            "median_speedup": {arm: statistics.median(speed(r, arm) for r in rows) for arm in ("default", "quick", "rung")},
            "exports": {arm: sorted({r[arm]["choice"]["label"] for r in rows}) for arm in ("default", "quick")}}


def markdown(payload: dict[str, Any]) -> str:
    """One row per cell and arm, as docs/benchmarks.md shows them."""
    lines = ["| dataset | model | seed | arm | export (epochs) | verified speed-up [95%] | val MAE | test MAE | "
             "search cost (baselines) | break-even |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in payload["runs"]:
        for arm, a in (("default", r["default"]["choice"]), ("--quick", r["quick"]["choice"]), ("best rung", r["default"]["rung"])):
            low, high = a["speedup_interval"] or (a["speedup"], a["speedup"])
            test = "n/a (read off)" if a["test_mae_change"] is None else f"{100 * a['test_mae_change']:+.1f}%"
            lines.append(f"| {r['dataset']} | {r['model']} | {r['seed']} | {arm} | {a['label']} ({a['epochs']}) | "
                         f"{a['speedup']:.2f}x [{low:.2f}, {high:.2f}] | {100 * a['val_mae_change']:+.1f}% | {test} | "
                         f"{a['search_cost_baselines']:.2f} | {a['break_even_retrainings'] or '-'} |")
    return "\n".join(lines)


def predictions(folder: Path, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The low-fidelity signal the searches skipped candidates on, against what they cost: each trained
    strategy trial's predicted charge (its planned work × the full baseline's told cost, no margin;
    sttune.tuning.predict.predicted_seconds) beside its told cost, both over the baseline's, pooled over
    every study of a run; the Kendall tau between them and the ratios' spread."""
    from sttune.tuning.keys import JOB, ROLE
    from sttune.tuning.predict import full_baseline_cost, predicted_seconds

    pairs = []
    for r in rows:
        for quick in (False, True):
            recipe = recipe_for(r["dataset"], r["model"], r["seed"], quick, folder / "cache")
            run = Run(folder / f"{r['dataset']}-{r['model']}-{r['seed']}" / recipe.name, recipe, recipe.name)
            trials = load_studies(run)[0].get_trials(deepcopy=False)
            base_seconds = full_baseline_cost(trials)[0]  # the full baseline's told cost
            for t in trials:
                if t.state.name != "COMPLETE" or ROLE in t.user_attrs or JOB not in t.user_attrs or not t.values:
                    continue
                predicted = predicted_seconds(rec.job_from_attr(t.user_attrs[JOB]), trials)
                if predicted:
                    pairs.append({"cell": f"{r['dataset']} {r['model']} {r['seed']}", "arm": "quick" if quick else "default",
                                  "trial": t.number, "predicted": predicted / base_seconds,
                                  "measured": t.values[1] / base_seconds})
    return {"pairs": pairs, **agreement(pairs),
            "by_model": {m: agreement([p for p in pairs if f" {m} " in p["cell"]]) for m in MODELS}}


def agreement(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """Kendall tau between predicted and measured, and measured / predicted's median and range."""
    ratios = [p["measured"] / p["predicted"] for p in pairs]
    return {"n": len(pairs), "kendall_tau": kendall_tau([p["predicted"] for p in pairs], [p["measured"] for p in pairs]),
            "ratio": {"median": statistics.median(ratios), "low": min(ratios), "high": max(ratios)} if ratios else None}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", nargs="+", default=["sz_taxi", "los_loop", "pems04_prefix"])
    parser.add_argument("--models", nargs="+", default=["stid", "gwnet"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[10, 11, 12])
    parser.add_argument("--parallel", type=int, default=2, help="cells at once, one process (one torch thread) each")
    parser.add_argument("--out", default="search_value")
    parser.add_argument("--record", action="store_true", help="also write bench/results/<out>.json")
    parser.add_argument("--render", type=Path, help="print the markdown table of a saved run and exit")
    parser.add_argument("--predictions", type=Path, nargs=2, metavar=("FOLDER", "JSON"),
                        help="a finished run's temporary folder and its JSON: add the cost predictions' check")
    args = parser.parse_args()
    if args.render:
        print(markdown(json.loads(args.render.read_text())))
        return
    if args.predictions:
        folder, path = args.predictions
        payload = json.loads(path.read_text())
        payload["predictions"] = predictions(folder, payload["runs"])
        print(f"wrote {save(args.out, payload)}")
        if args.record:
            record(args.out, payload)
        print(json.dumps({k: v for k, v in payload["predictions"].items() if k != "pairs"}))
        return
    assert not set(args.seeds) & {0, 1, 2, 100, 101}, "fresh seeds only: 0-2 are development seeds, 100-101 derivation"
    folder = Path(tempfile.mkdtemp(prefix="sttune-value-"))
    print(f"run folders under {folder}", flush=True)
    jobs = [(d, m, s) for m in args.models for s in args.seeds for d in args.datasets]  # STID's cells first
    rows: list[dict[str, Any]] = []
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    with ProcessPoolExecutor(min(args.parallel, len(jobs)), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(cell, d, m, s, folder) for d, m, s in jobs]
        for future in as_completed(futures):  # saved as each cell ends: a cut-off run keeps what finished
            rows.append(future.result())
            rows.sort(key=lambda r: (r["model"] != "stid", r["dataset"], r["seed"]))
            payload = {"argv": vars(args) | {"render": None}, "started": started, "models": MODELS, "epochs": EPOCHS,
                       "cpus": os.cpu_count(), "clock": "process CPU time, 1 torch thread", "runs": rows,
                       "verdicts": verdicts(rows)}
            print(f"wrote {save(args.out, payload)}", flush=True)
            if args.record:
                record(args.out, payload)
    print(markdown(payload))
    print(json.dumps(payload["verdicts"], indent=1))


if __name__ == "__main__":
    main()
