"""Does a search pay for itself? The exported configuration's verified speed-up and val MAE
change, the search's own cost in full baselines and the break-even retraining count.

Per (dataset, search seed): one `sttune search` with the default search settings and
`budget: 6` (STID, the three built-in strategies, the recipe's default epochs), then `sttune
export` (the default rule, the verified speed-up). The plain frontier beside it: the same
rule applied to the plain-model trials of the same study alone (the full baseline and the
default ladder, i.e. training shorter), its choice verified the same way; its search cost is
what those trials cost. The searches run at once (``--parallel``), one process and one torch
thread each (the device clock is process CPU time, robust to the others' load; each speed-up is
re-timed by the export's interleaved pairs).

Usage: flock /tmp/sttune-bench.lock python bench/search_economics.py [--seeds 0 1 2] [--budget 6]
       [--epochs E] [--combine] [--early-stopping]   (the last two: the issue-21 default checks)
Full JSON to $STTUNE_BENCH_OUT/search_economics.json after every seed; `--record` also writes
the summary to bench/results/search_economics.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from common import real_dataset, record, save
from sttune.outcome.export import export_run, trial_summary, verified_speedup
from sttune.outcome.report import break_even, payback, search_cost
from sttune.outcome.select import cost_noise, select
from sttune.recipe.settings import RungPolicy, TrainConfig
from sttune.recipe.spec import ModelBlock, Recipe, SearchConfig, StrategyBlock
from sttune.training.jobs import probe_job
from sttune.tuning import records as rec
from sttune.tuning.events import NullEvents
from sttune.tuning.keys import RECOMMENDED
from sttune.tuning.runs import Run, load_studies, search_run

MODEL = {"embed_dim": 16, "n_layers": 2}  # the width the strategy benchmarks behind the recommendations used
BAR = {"speedup": 1.3, "val_mae_change": 0.01}


class Quiet(NullEvents):
    def __init__(self, tag: str) -> None:
        self.tag = tag

    def trial_finished(self, record) -> None:
        print(f"  [{self.tag}] trial {record.number:>3} {record.state:8s} {record.label:30s} "
              f"val {record.val_mae:.4f} {record.cost_seconds:7.1f} s", flush=True)

    def notice(self, text: str) -> None:
        print(f"  [{self.tag}] {text}", flush=True)


def recipe_for(dataset: str, seed: int, budget: float, epochs: int | None, combine: bool = False,
               early_stopping: bool = False) -> Recipe:
    train = {"device": "auto", "cpu_clock": "process", "cpu_threads": 1, "seed": seed}
    return Recipe(
        datasets=[real_dataset(dataset)],
        model=ModelBlock(name="stid", params=MODEL),
        train=TrainConfig(**train, **({"epochs": epochs} if epochs else {})),
        strategies=[StrategyBlock("st_prune"), StrategyBlock("dynst"),
                    StrategyBlock("stemdist", fixed={"t_outer": 10, "inner": 5})],  # the quick start's short distillation
        search=SearchConfig(trials=None, budget=budget, seed=seed, combine=combine,
                            early_stopping=RungPolicy(enabled=early_stopping)),
    )


def arm_row(chosen: rec.TrialRecord, base: rec.TrialRecord, verified: Any, search_seconds: float) -> dict[str, Any]:
    """One exported choice: verified speed-up, val and test MAE change, search cost and break-even."""
    summary = trial_summary(chosen, base, verified)
    speedup = summary["speedup"] or 0.0
    chosen_seconds = base.cost_seconds / speedup if speedup > 0 else None
    return {"trial": chosen.number, "label": chosen.label, "strategies": summary["strategies"],
            "epochs": summary["epochs"], "speedup": speedup, "speedup_verified": summary["speedup_verified"],
            "speedup_interval": summary.get("speedup_interval"), "speedup_in_search": summary["speedup_measured_in_search"],
            "work_fraction": summary["work_fraction"], "val_mae_change": summary["val_mae_change"],
            "test_mae_change": chosen.test_mae / base.test_mae - 1,
            "search_cost_baselines": search_seconds / base.cost_seconds,
            "break_even_retrainings": break_even(search_seconds, base.cost_seconds, chosen_seconds),
            "meets_bar": speedup >= BAR["speedup"] and (summary["val_mae_change"] or 0.0) <= BAR["val_mae_change"]}


def one(dataset: str, seed: int, budget: float, epochs: int | None, folder: Path, combine: bool = False,
        early_stopping: bool = False) -> dict[str, Any]:
    """One search, its export, and the plain frontier's choice from the same study."""
    start = time.monotonic()
    recipe = recipe_for(dataset, seed, budget, epochs, combine, early_stopping)
    run = Run(folder / f"{dataset}-{seed}", recipe, f"economics-{dataset}-{seed}")
    cache = folder / "cache"
    search_run(run, cache, Quiet(f"{dataset} s{seed}"), None, None)
    export = export_run(run, cache_dir=cache)[0]
    study = load_studies(run)[0]
    records = rec.finished_records(study)
    complete = [r for r in records if r.state == "COMPLETE"]
    base = rec.full_baseline(records)
    assert base is not None, "the full baseline did not finish"
    cost = search_cost(study)
    default = arm_row(export.chosen, base, export.verified, cost["total_cost_seconds"] or 0.0)
    default["report"] = payback(study, recipe, run.best_dir)
    default["note"] = export.note
    # the plain frontier: the same rule over the plain-model trials (training shorter) alone
    plain_records = [r for r in complete if r.role == "baseline"]
    plain = select(plain_records, recipe.export.rule, recipe.export.tolerance, cost_noise(complete))
    prober = lambda job, batches_at: probe_job(job, cache, batches_at)  # noqa: E731 (export_run's prober)
    plain_verified = verified_speedup(study, plain, base, prober, recipe.export.verify_pairs)
    plain_seconds = sum(r.search_seconds for r in plain_records if r.reused_from is None)
    trials = [{"number": r.number, "state": r.state, "role": r.role, "label": r.label,
               "recommended": study.trials[r.number].user_attrs.get(RECOMMENDED),
               "val_mae": r.val_mae, "test_mae": r.test_mae, "device_seconds": r.cost_seconds} for r in records]
    return {"dataset": dataset, "seed": seed, "epochs": recipe.train.epochs, "baseline_seconds": base.cost_seconds,
            "baseline_val_mae": base.val_mae, "baseline_test_mae": base.test_mae, "cost_noise": export.noise,
            "default": default, "plain": arm_row(plain, base, plain_verified, plain_seconds),
            "trials": trials, "wall_seconds": time.monotonic() - start, "device": base.result.device if base.result else None}


def snapshot(folder: Path, dataset: str, seed: int, budget: float, epochs: int | None,
             pairs: int = 0) -> dict[str, Any] | None:
    """A search cut off before its end, read from its journal: the same rows as :func:`one`,
    from the trials finished so far (the export's rule over them), the search cost what was
    spent. ``pairs`` > 0: both choices re-timed as the export re-times them (interleaved pairs
    against the full baseline); 0: the search's own speed-ups, marked not verified. None before
    the full baseline finished."""
    recipe = recipe_for(dataset, seed, budget, epochs)
    run = Run(folder / f"{dataset}-{seed}", recipe, f"economics-{dataset}-{seed}")
    study = load_studies(run)[0]
    records = rec.finished_records(study)
    complete = [r for r in records if r.state == "COMPLETE"]
    base = rec.full_baseline(records)
    if base is None:
        return None
    noise = cost_noise(complete)
    chosen = select(complete, recipe.export.rule, recipe.export.tolerance, noise)
    plain_records = [r for r in complete if r.role == "baseline"]
    plain = select(plain_records, recipe.export.rule, recipe.export.tolerance, noise)
    plain_seconds = sum(r.search_seconds for r in plain_records if r.reused_from is None)
    prober = lambda job, batches_at: probe_job(job, folder / "cache", batches_at)  # noqa: E731 (export_run's prober)
    verified = {r.number: verified_speedup(study, r, base, prober, pairs) for r in (chosen, plain)} if pairs else {}
    trials = [{"number": r.number, "state": r.state, "role": r.role, "label": r.label,
               "recommended": study.trials[r.number].user_attrs.get(RECOMMENDED), "val_mae": r.val_mae,
               "test_mae": r.test_mae, "device_seconds": r.cost_seconds,
               "work_fraction": trial_summary(r, base)["work_fraction"]} for r in records]
    return {"dataset": dataset, "seed": seed, "epochs": recipe.train.epochs, "cut_off": True,
            "baseline_seconds": base.cost_seconds, "baseline_val_mae": base.val_mae,
            "baseline_test_mae": base.test_mae, "cost_noise": noise,
            "default": arm_row(chosen, base, verified.get(chosen.number), search_cost(study)["total_cost_seconds"] or 0.0),
            "plain": arm_row(plain, base, verified.get(plain.number), plain_seconds), "trials": trials,
            "device": base.result.device if base.result else None}


def aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per dataset and arm: the median and range over seeds of each figure."""
    out: dict[str, Any] = {}
    for dataset in sorted({r["dataset"] for r in rows}):
        mine = [r for r in rows if r["dataset"] == dataset]
        out[dataset] = {}
        for arm in ("default", "plain"):
            figures = {}
            for key in ("speedup", "val_mae_change", "test_mae_change", "search_cost_baselines"):
                values = [r[arm][key] for r in mine if r[arm][key] is not None]
                figures[key] = {"median": statistics.median(values), "low": min(values), "high": max(values)}
            evens = [r[arm]["break_even_retrainings"] for r in mine]
            figures["break_even_retrainings"] = evens
            figures["meets_bar"] = [r[arm]["meets_bar"] for r in mine]
            figures["chosen"] = [r[arm]["label"] for r in mine]
            out[dataset][arm] = figures
    return out


def markdown(payload: dict[str, Any]) -> str:
    """Per dataset: one row per (arm, seed) and the median row, as docs/benchmarks.md shows them."""
    lines = []
    arms = {"default": f"search (default settings, budget {payload['argv']['budget']:g})",
            "plain": "plain frontier (training shorter)"}
    for dataset in sorted({r["dataset"] for r in payload["runs"]}):
        lines += [f"| {dataset} | seed | chosen | verified speed-up [interval] | val MAE change | test MAE change | "
                  "search cost (baselines) | break-even retrainings | bar (≥ 1.3x at ≤ +1% val) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for arm, title in arms.items():
            for r in [r for r in payload["runs"] if r["dataset"] == dataset]:
                a = r[arm]
                interval = a["speedup_interval"]
                speed = (f"{a['speedup']:.2f}x [{interval[0]:.2f}, {interval[1]:.2f}]" if a["speedup_verified"] and interval
                         else f"{a['speedup']:.2f}x (not verified)")
                lines.append(f"| {title} | {r['seed']} | {a['label']} (trial {a['trial']}) | {speed} | "
                             f"{100 * a['val_mae_change']:+.1f}% | {100 * a['test_mae_change']:+.1f}% | "
                             f"{a['search_cost_baselines']:.2f} | {a['break_even_retrainings'] or '-'} | "
                             f"{'met' if a['meets_bar'] else 'not met'} |")
            f = payload["summary"][dataset][arm]
            s, v, t, c = f["speedup"], f["val_mae_change"], f["test_mae_change"], f["search_cost_baselines"]
            lines.append(f"| **{title}, median** | {len(f['chosen'])} seeds | | **{s['median']:.2f}x** [{s['low']:.2f}, "
                         f"{s['high']:.2f}] | {100 * v['median']:+.1f}% | {100 * t['median']:+.1f}% | "
                         f"{c['median']:.2f} | | {sum(f['meets_bar'])} of {len(f['meets_bar'])} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", nargs="+", default=["sz_taxi", "los_loop"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budget", type=float, default=6.0)
    parser.add_argument("--epochs", type=int, default=None, help="default: the recipe's default epochs")
    parser.add_argument("--parallel", type=int, default=6, help="searches at once, one process (one thread) each")
    parser.add_argument("--out", default="search_economics")
    parser.add_argument("--record", action="store_true", help="also write bench/results/<out>.json")
    parser.add_argument("--combine", action="store_true", help="search.combine on (DynST + ST-Prune measured together)")
    parser.add_argument("--early-stopping", action="store_true", help="search.early_stopping on (the default policy)")
    parser.add_argument("--snapshot", type=Path, help="the temporary folder of a cut-off run: summarise its journals")
    parser.add_argument("--verify-pairs", type=int, default=0, help="--snapshot: re-time both choices (pairs)")
    parser.add_argument("--render", type=Path, help="print the markdown tables of a saved run and exit")
    args = parser.parse_args()
    if args.snapshot:  # a cut-off run: what its journals hold
        jobs = [(d, seed) for seed in args.seeds for d in args.datasets]
        with ProcessPoolExecutor(len(jobs), mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(snapshot, args.snapshot, d, seed, args.budget, args.epochs, args.verify_pairs)
                       for d, seed in jobs]
            rows = [r for f in futures if (r := f.result()) is not None]
        payload = {"argv": vars(args), "model": MODEL, "bar": BAR, "cut_off": True, "runs": rows,
                   "summary": aggregate(rows)}
        print(f"wrote {save(args.out, payload)}", flush=True)
        if args.record:
            record(args.out, payload)
        print(markdown(payload))
        return
    if args.render:
        print(markdown(json.loads(args.render.read_text())))
        return
    folder = Path(tempfile.mkdtemp(prefix="sttune-economics-"))
    rows: list[dict[str, Any]] = []
    context = multiprocessing.get_context("spawn")
    jobs = [(d, seed) for seed in args.seeds for d in args.datasets]
    with ProcessPoolExecutor(min(args.parallel, len(jobs)), mp_context=context) as pool:
        futures = [pool.submit(one, d, seed, args.budget, args.epochs, folder, args.combine, args.early_stopping)
                   for d, seed in jobs]
        for future in as_completed(futures):  # saved as each search ends: a cut-off run keeps what finished
            rows.append(future.result())
            rows.sort(key=lambda r: (r["seed"], r["dataset"]))
            payload = {"argv": vars(args), "model": MODEL, "bar": BAR, "runs": rows, "summary": aggregate(rows)}
            print(f"wrote {save(args.out, payload)}", flush=True)
            if args.record:
                record(args.out, {k: v for k, v in payload.items() if k != "runs"}
                       | {"runs": [{k: v for k, v in r.items() if k != "trials"} for r in rows]})
    for dataset, arms in aggregate(rows).items():
        for arm, f in arms.items():
            s, v, t, c = f["speedup"], f["val_mae_change"], f["test_mae_change"], f["search_cost_baselines"]
            print(f"{dataset} {arm}: speed-up {s['median']:.2f}x [{s['low']:.2f}, {s['high']:.2f}] "
                  f"val {100 * v['median']:+.1f}% test {100 * t['median']:+.1f}% search {c['median']:.2f} baselines "
                  f"break-even {f['break_even_retrainings']} bar {f['meets_bar']} chosen {f['chosen']}", flush=True)


if __name__ == "__main__":
    main()
