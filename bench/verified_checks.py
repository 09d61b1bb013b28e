"""Is the verified speed-up a measurement? Three checks of the product's own answer.

- ``repro``: one search and its export; the exported configuration is then verified four more
  times, re-timed from scratch each time (not the stored figure): quiet, under one and under two
  ``while True`` burners, quiet again; and a second identical search (a new run folder) exports
  and verifies its own choice. All intervals should overlap, contain the quiet median, and agree
  on "reliably faster".
- ``budget``: ``sttune search --budget B`` for each B; the report's search cost (trials and the
  export's re-timing) against B × 1.05.
- ``cache``: the same search twice from one working directory into two run folders (the second
  finds the first's distilled sets in the shared cache): each STemDist trial's charge, run 2 over run 1.

Each check records the machine's 1-minute load average beside every figure.

Usage: python bench/verified_checks.py repro --recipe quickstart --tolerance 0.05 --budget 4 [--record]
       python bench/verified_checks.py repro --recipe sz_taxi --tolerance 0.05 --budget 4 [--pick strategy] [--record]
       python bench/verified_checks.py repro --recipe sz_taxi --trials 14 --pick strategy [--record]
         (no budget: a close verdict may take more passes, up to half a baseline)
       python bench/verified_checks.py repro --recipe pems08_prefix --pick strategy --budget 4 [--record]
       python bench/verified_checks.py repro --recipe synthetic_n120 --pick strategy --budget 4 [--record]
         (derivation data: the between-re-timing floor, sttune.outcome.verify)
       python bench/verified_checks.py budget --budgets 4 2 [--record]
       python bench/verified_checks.py cache [--budget 6] [--record]
Full JSON to $STTUNE_BENCH_OUT/verified_<check>_<recipe>.json; ``--record`` also writes it to
bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

import sttune
from common import REPO, real_dataset, record, save
from sttune.outcome.export import close_share, stored_verification
from sttune.outcome.verify import verify_speedup
from sttune.recipe.spec import DatasetBlock
from sttune.training.jobs import probe_job
from sttune.tuning import records as rec
from sttune.tuning.accounting import CLOSE_SHARE, VERIFY_OVERHEAD
from sttune.tuning.runs import load_studies, open_run

QUICKSTART = REPO / "recipes" / "quickstart.yaml"


def load() -> float:
    return os.getloadavg()[0]


# bench/derive_defaults.py's synthetic derivation graph (not the quick start's 30-node one); the long one
# has six times the days, so that a re-timing runs about as many pairs as SZ-TAXI's (the floor per pair count)
DERIVATION_SYNTHETIC = DatasetBlock("synthetic", {"n_nodes": 120, "n_days": 10, "steps_per_day": 96, "seed": 7},
                                    id="synthetic_n120")
DERIVATION_LONG = DatasetBlock("synthetic", {"n_nodes": 120, "n_days": 60, "steps_per_day": 96, "seed": 7},
                               id="synthetic_n120_long")


def real_recipe(folder: Path, dataset: str) -> Path:
    """A real series × STID (embed 16, 2 layers) with the quick start's search settings: SZ-TAXI
    (an evaluation dataset), or the PEMS08 prefix (a derivation dataset: the between-re-timing
    floor is calibrated there, never on the datasets it is then checked on)."""
    recipe = yaml.safe_load(QUICKSTART.read_text())
    synthetic = {"synthetic_n120": DERIVATION_SYNTHETIC, "synthetic_n120_long": DERIVATION_LONG}
    block = synthetic[dataset] if dataset in synthetic else real_dataset(dataset)
    recipe.update(name=f"verified-{dataset.replace('_', '-')}",
                  datasets=[{"name": block.name, "id": block.id, "params": block.params}])
    recipe["protocol"] = {"in_len": 12, "out_len": 12, "split": [0.6, 0.2, 0.2]}
    recipe["model"] = {"name": "stid", "params": {"embed_dim": 16, "n_layers": 2}}
    path = folder / f"{dataset}.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def recipe_path(name: str, folder: Path) -> Path:
    return QUICKSTART if name == "quickstart" else real_recipe(folder, name)


class Burners:
    """``n`` Python processes spinning ``while True`` for the duration of the block."""

    def __init__(self, n: int) -> None:
        self.n, self.procs = n, []

    def __enter__(self) -> Burners:
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(self.n)]
        time.sleep(2.0 if self.n else 0.0)  # let the load settle in
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()


def search_and_export(recipe: Path, run_dir: Path, tolerance: float, budget: float | None = None,
                      pick: str = "export") -> dict[str, Any]:
    """One search and its export; ``pick="strategy"``: then the trial checked is the most accurate
    strategy trial within the tolerance, verified as the export verifies (when the export chose
    plain shorter training, there is no strategy's saving to check)."""
    start, before = time.monotonic(), load()
    sttune.search(recipe, run_dir=run_dir, budget=budget, export=False)
    exports = sttune.export(run_dir, tolerance=tolerance)
    e = exports[0]
    v = e.verified
    if pick == "strategy" and e.chosen.role == "baseline":
        e, v = _best_strategy(run_dir, tolerance)
    return {"run_dir": str(run_dir), "trial": e.chosen.number, "label": e.chosen.label,
            "strategies": dict(e.chosen.job.strategies) if e.chosen.job else {}, "val_mae": e.chosen.val_mae,
            "verified": None if v is None else v.to_dict() | {"pairs": len(v.pairs), "passes": passes(v)},
            "reliably_faster": None if v is None else v.reliably_faster, "note": e.note,
            "load_before": before, "load_after": load(), "wall_seconds": time.monotonic() - start}


class _Picked:
    def __init__(self, chosen: Any, note: str | None) -> None:
        self.chosen, self.note = chosen, note


def _best_strategy(run_dir: Path, tolerance: float) -> tuple[Any, Any]:
    """The most accurate strategy trial within ``tolerance`` of the best val MAE, verified (kept on the study)."""
    from sttune.outcome.export import verified_speedup
    from sttune.outcome.pricing import priced_records

    run = open_run(run_dir)
    study = load_studies(run)[0]
    records = [r for r in priced_records(study) if r.state == "COMPLETE"]
    best = min(r.val_mae for r in records)
    strategy = min((r for r in records if r.role != "baseline" and r.val_mae <= best * (1 + tolerance)),
                   key=lambda r: r.val_mae)
    base = rec.full_baseline(records)
    v = verified_speedup(study, strategy, base, lambda job, at: probe_job(job, Path(".sttune-cache"), at), None)
    return _Picked(strategy, None), v


def reverify(run_dir: Path, trial: int, cache: Path, burners: int) -> dict[str, Any]:
    """Re-time the trial against the full baseline from scratch (the export's prober and pairs)."""
    run = open_run(run_dir)
    study = load_studies(run)[0]
    records = rec.finished_records(study)
    chosen = next(r for r in records if r.number == trial)
    base = rec.full_baseline(records)
    stored = stored_verification(study, chosen, base)
    pairs = None  # the export's own (sttune.outcome.verify.default_pairs: per pass; runs up to 7 passed the
    # stored total, so they re-timed in one pass of twice the pairs where the export ran two)
    # a close verdict goes on as far as the export's could: the budget's room before its re-timing
    share = min(CLOSE_SHARE, close_share(study, base) + (stored.seconds if stored else 0.0) / base.cost_seconds
                / VERIFY_OVERHEAD)
    with Burners(burners):
        before, start = load(), time.monotonic()
        v = verify_speedup(chosen, base, lambda job, at: probe_job(job, cache, at), pairs, close_share=share)
        after = load()
    return {"burners": burners, "speedup": v.speedup, "low": v.low, "high": v.high, "bounded": v.bounded,
            "reliably_faster": v.reliably_faster, "seconds": v.seconds, "pairs": len(v.pairs), "passes": passes(v),
            "epochs": list(v.epochs), "load_before": before, "load_after": after,
            "wall_seconds": time.monotonic() - start}


def passes(v: Any) -> int:
    """The passes a re-timing ran (each re-runs both schedules from scratch)."""
    return max(1, len({p.get("pass", 0) for p in v.pairs}))


def with_trials(recipe: Path, trials: int, folder: Path) -> Path:
    """The recipe with ``search.trials`` set and no budget: the export's re-timing is then bound by
    its own shares only (a close verdict may go on to accounting.CLOSE_SHARE)."""
    data = yaml.safe_load(recipe.read_text())
    data["search"] = {**data.get("search", {}), "trials": trials}
    data["search"].pop("budget", None)
    path = folder / f"{recipe.stem}-trials.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def repro(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    recipe = recipe_path(args.recipe, folder)
    if args.trials:
        recipe = with_trials(recipe, args.trials, folder)
    os.chdir(folder)  # the default cache (.sttune-cache) lives here, as for a user in this folder
    first = search_and_export(recipe, folder / "run-a", args.tolerance, args.budget, args.pick)
    print(f"search A: trial {first['trial']} {first['label']}: {first['verified']}", flush=True)
    checks = [{"kind": "export of search A", "burners": 0, **_figure(first)}]
    for kind, burners in (("quiet", 0), ("one burner", 1), ("two burners", 2), ("quiet again", 0)):
        row = reverify(folder / "run-a", first["trial"], folder / ".sttune-cache", burners)
        checks.append({"kind": kind, **row})
        print(f"{kind}: {row['speedup']:.3f}x [{row['low']:.3f}, {row['high']:.3f}] load {row['load_before']:.2f}"
              f" -> {row['load_after']:.2f}", flush=True)
    second = search_and_export(recipe, folder / "run-b", args.tolerance, args.budget, args.pick)
    checks.append({"kind": "export of an identical search B", "burners": 0, **_figure(second),
                   "same_configuration": second["strategies"] == first["strategies"]})
    return {"recipe": args.recipe, "tolerance": args.tolerance, "budget": args.budget, "trials": args.trials,
            "pick": args.pick, "search_a": first, "search_b": second,
            "checks": checks, "verdict": _verdict(checks)}


def _figure(run: dict[str, Any]) -> dict[str, Any]:
    v = run["verified"] or {}
    low, high = v.get("low"), v.get("high")
    return {"speedup": v.get("speedup"), "low": low, "high": high, "reliably_faster": run["reliably_faster"],
            "load_before": run["load_before"], "load_after": run["load_after"], "seconds": v.get("seconds"),
            "pairs": v.get("pairs"), "passes": v.get("passes")}


def _verdict(checks: list[dict[str, Any]]) -> dict[str, Any]:
    """Whether every interval overlaps every other, contains the quiet median, and the verdicts agree."""
    quiet = sorted(c["speedup"] for c in checks if c["burners"] == 0 and c["kind"] != "export of an identical search B")
    median = quiet[len(quiet) // 2] if len(quiet) % 2 else sum(quiet[len(quiet) // 2 - 1: len(quiet) // 2 + 1]) / 2
    lows, highs = [c["low"] for c in checks], [c["high"] for c in checks]
    return {"quiet_median": median, "all_overlap": max(lows) <= min(highs),
            "all_contain_quiet_median": all(c["low"] <= median <= c["high"] for c in checks),
            "verdicts_agree": len({c["reliably_faster"] for c in checks}) == 1}


def budget(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    rows = []
    os.chdir(folder)
    for b in args.budgets:
        run_dir = folder / f"budget-{b:g}"
        run = search_and_export(QUICKSTART, run_dir, args.tolerance, budget=b)
        report = sttune.report(run_dir, plots=False)["synthetic"]
        cost = report["search_cost_baselines"]
        rows.append({"budget": b, "search_cost_baselines": cost, "verification_seconds":
                     report["search_cost"]["verification_seconds"], "within": cost <= b * 1.05,
                     "trials": len(report["trials"]), "export": _figure(run), "label": run["label"]})
        print(f"--budget {b:g}: {cost:.2f} baselines ({len(report['trials'])} trials), export {run['label']}", flush=True)
    return {"budgets": rows}


def cache(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    os.chdir(folder)  # one working directory: one .sttune-cache for both runs
    charges = {}
    for name in ("first", "second"):
        run_dir = folder / name
        sttune.search(QUICKSTART, run_dir=run_dir, export=False, budget=args.budget or 6.0)  # room for STemDist trials
        study = load_studies(open_run(run_dir))[0]
        charges[name] = {r.number: {"label": r.label, "charged_prepare_seconds": r.result.charged_prepare_seconds,
                                    "prepare_seconds": r.result.prepare_seconds, "cost_seconds": r.cost_seconds,
                                    "cache_hit": bool((r.result.artifacts.get("stemdist") or {}).get("cache_hit"))}
                         for r in rec.finished_records(study) if r.job and "stemdist" in dict(r.job.strategies)}
    ratios = {n: charges["second"][n]["charged_prepare_seconds"] / charges["first"][n]["charged_prepare_seconds"]
              for n in charges["first"] if n in charges["second"] and charges["first"][n]["charged_prepare_seconds"] > 0}
    for n, ratio in ratios.items():
        print(f"stemdist trial {n}: run 2 charged {ratio:.3f}x run 1's (cache hit in run 2: "
              f"{charges['second'][n]['cache_hit']})", flush=True)
    return {"charges": charges, "ratios": ratios, "within_10_percent": all(abs(r - 1) <= 0.1 for r in ratios.values())}


def table(paths: list[str]) -> str:
    """The markdown docs/benchmarks.md prints for repro JSONs given as ``label=path``: every check,
    then each run's verdict."""
    checks = ["| run | check | verified [95% interval] | reliably faster | load (1 min) before |", "|---|---|---|---|---|"]
    verdicts = ["| run | | quiet median | all intervals overlap | all contain the quiet median | verdicts agree |",
                "|---|---|---|---|---|---|"]
    yes = {True: "yes", False: "no"}
    for spec in paths:
        label, path = spec.split("=", 1)
        data = json.loads(Path(path).read_text())
        for c in data["checks"]:
            checks.append(f"| {label} | {c['kind']} | {c['speedup']:.2f}x [{c['low']:.2f}, {c['high']:.2f}] | "
                          f"{yes[c['reliably_faster']]} | {c['load_before']:.2f} |")
        v = data["verdict"]
        verdicts.append(f"| {label} | verdict | quiet median {v['quiet_median']:.2f}x | {yes[v['all_overlap']]} | "
                        f"{yes[v['all_contain_quiet_median']]} | {yes[v['verdicts_agree']]} |")
    return "\n".join(checks) + "\n\n" + "\n".join(verdicts)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "table":  # bench/verified_checks.py table LABEL=JSON ...
        print(table(sys.argv[2:]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("check", choices=["repro", "budget", "cache"])
    parser.add_argument("--recipe", choices=["quickstart", "sz_taxi", "pems08_prefix", "synthetic_n120", "synthetic_n120_long"], default="quickstart")
    parser.add_argument("--tolerance", type=float, default=0.05)
    parser.add_argument("--budgets", type=float, nargs="+", default=[4.0, 2.0])
    parser.add_argument("--budget", type=float, default=None,
                        help="repro, cache: the searches' --budget (repro: the default 2 may train no strategy "
                             "trial; cache: default 6, room for STemDist trials)")
    parser.add_argument("--trials", type=int, default=None,
                        help="repro: the searches run this many trials and no budget (not with --budget)")
    parser.add_argument("--pick", choices=["export", "strategy"], default="export",
                        help="strategy: check the best strategy trial within the tolerance when the export is plain")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    if args.trials and args.budget:
        parser.error("--trials and --budget: give one (--trials runs with no budget)")
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    with tempfile.TemporaryDirectory() as tmp:
        result = {"repro": repro, "budget": budget, "cache": cache}[args.check](args, Path(tmp))
    result.update(argv=sys.argv[1:], started=started, cpus=os.cpu_count(), clock="process CPU time, 1 torch thread")
    name = f"verified_{args.check}" + (f"_{args.recipe}" if args.check == "repro" else "") + (
        "_strategy" if args.check == "repro" and args.pick == "strategy" else "") + (
        "_trials" if args.check == "repro" and args.trials else "")
    save(name, result)
    if args.record:
        record(name, result)
    print(json.dumps(result.get("verdict") or result.get("within_10_percent") or
                     [r["within"] for r in result.get("budgets", [])], default=str))


if __name__ == "__main__":
    main()
