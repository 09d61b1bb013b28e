"""DynST deployment accuracy (issue 22): forecast with only the kept sensors' readings.

DynST answers "which sensors can you stop deploying"; this measures what that answer costs.
Per dataset, sparsity and seed (STID, the widths and 10 epochs of bench/dynst.py):
  dynst         DynST's defaults at s_final = sparsity: a learned sensor set
  random_fixed  a random sensor set of the same size, trained on from epoch 0
  full          plain training on every sensor (the reference, every input present)
Each DynST run's result carries its deployment accuracy (sttune.training.deploy), evaluated on
the test windows: ``all_sensors`` (every sensor forecast, the dropped sensors' readings absent),
``kept_only`` (the kept sensors forecast from their own readings), ``full_inputs_kept``.

Accuracy, not timing: no lock needed, but it is CPU-heavy: run under ``nice -n 19``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Arm, bench_train, raw_dir, record, run_arm, save  # noqa: E402

MODEL, PARAMS = "stid", {"embed_dim": 16}  # bench/dynst.py's STID
DYNST = {"delta_t": 1, "alpha0": 0.3, "end_frac": 0.75, "regrow": "gradient", "mask": "learned"}
VIEWS = ("all_sensors", "kept_only", "full_inputs_kept")


def arms(sparsity: float) -> list[Arm]:
    return [Arm(f"dynst@{sparsity}", MODEL, PARAMS, [("dynst", {**DYNST, "s_final": sparsity})]),
            Arm(f"random_fixed@{sparsity}", MODEL, PARAMS, [("dynst", {"s_final": sparsity, "mask": "random_fixed"})])]


def raw(result) -> dict:
    dep = result.deployment
    out = {"test_mae": result.test_mae, "val_mae": result.val_mae, "n_kept": dep.get("n_kept"),
           "kept_sensors": dep.get("kept_sensors")}
    for view in VIEWS:
        if view in dep:
            out[f"{view}_test_mae"] = dep[view]["test"]["mae"]
    return out


def mean_sd(values: list[float]) -> list[float]:
    return [statistics.fmean(values), statistics.pstdev(values)]


def summarise(runs: dict[str, list[dict]]) -> dict:
    """Per arm: mean ± sd over seeds of each test MAE; per DynST arm the change against the full
    model's test MAE (every input) of the same seeds."""
    full = statistics.fmean(r["test_mae"] for r in runs["full"])
    out: dict = {"full": {"test_mae": mean_sd([r["test_mae"] for r in runs["full"]])}}
    for label, rs in runs.items():
        if label == "full":
            continue
        row = {"n_kept": rs[0]["n_kept"], "test_mae": mean_sd([r["test_mae"] for r in rs])}
        for view in VIEWS:
            row[view] = mean_sd([r[f"{view}_test_mae"] for r in rs])
        row["all_sensors_vs_full"] = row["all_sensors"][0] / full - 1
        out[label] = row
    return out


def table(dataset: str, summary: dict) -> str:
    lines = [f"#### {dataset} × STID ({MODEL} embed 16)", "",
             "| arm | kept | test MAE, every input | deployed: every sensor forecast | deployed: kept sensors only "
             "| kept sensors, every input | deployed vs full |", "|---|---|---|---|---|---|---|"]
    full = summary["full"]["test_mae"]
    lines.append(f"| full | all | {full[0]:.4f} ± {full[1]:.4f} | - | - | - | - |")
    for label, r in summary.items():
        if label == "full":
            continue
        cells = " | ".join(f"{r[v][0]:.4f} ± {r[v][1]:.4f}" for v in VIEWS)
        lines.append(f"| {label} | {r['n_kept']} | {r['test_mae'][0]:.4f} ± {r['test_mae'][1]:.4f} | {cells} "
                     f"| {100 * r['all_sensors_vs_full']:+.1f}% |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["sz_taxi", "los_loop"])
    p.add_argument("--sparsity", nargs="+", type=float, default=[0.3, 0.5])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--out", default="dynst_deploy")
    p.add_argument("--record", action="store_true", help="write the summary to bench/results/<out>.json")
    p.add_argument("--merge", nargs="+", metavar="RAW", help="no training: join the blocks of these raw runs "
                   "(names under $STTUNE_BENCH_OUT, e.g. one process per dataset) into --out")
    args = p.parse_args()
    if args.merge:
        merge(args.merge, args.out, args.record)
        return
    train = bench_train(epochs=args.epochs)
    payload: dict = {"model": MODEL, "model_params": PARAMS, "dynst_params": DYNST, "epochs": args.epochs,
                     "seeds": args.seeds, "sparsity": args.sparsity, "blocks": []}
    start = time.time()
    for dataset in args.datasets:
        runs: dict[str, list[dict]] = {"full": []}
        for seed in range(args.seeds):
            for arm in [Arm("full", MODEL, PARAMS), *[a for s in args.sparsity for a in arms(s)]]:
                result = run_arm(arm, dataset, train, seed)
                runs.setdefault(arm.label, []).append(raw(result))
                print(f"  {dataset} seed {seed} {arm.label}: test MAE {result.test_mae:.4f}"
                      + (f", deployed {raw(result)['all_sensors_test_mae']:.4f}" if result.deployment else ""),
                      flush=True)
        block = {"dataset": dataset, "summary": summarise(runs), "runs": runs}
        payload["blocks"].append(block)
        payload["wall_seconds"] = time.time() - start
        save(args.out, payload)  # after every dataset: a cut-short run keeps what it finished
        print(table(dataset, block["summary"]), flush=True)
    finish(payload, args.out, args.record)
    print(f"wall {time.time() - start:.0f}s")


def finish(payload: dict, out: str, with_record: bool) -> None:
    """Print every block's table; with ``with_record`` also write the summary (no raw runs)."""
    if with_record:
        record(out, {k: v for k, v in payload.items() if k != "blocks"}
               | {"blocks": [{"dataset": b["dataset"], "summary": b["summary"]} for b in payload["blocks"]]})
    print("\n".join(table(b["dataset"], b["summary"]) for b in payload["blocks"]))


def merge(names: list[str], out: str, with_record: bool) -> None:
    """Join raw runs made with the same settings (one process per dataset, run side by side)."""
    runs = [json.loads((raw_dir() / f"{name}.json").read_text()) for name in names]
    payload = {k: v for k, v in runs[0].items() if k not in ("blocks", "wall_seconds")}
    payload["merged_from"] = {name: run.get("wall_seconds") for name, run in zip(names, runs)}
    payload["blocks"] = [b for run in runs for b in run["blocks"]]
    save(out, payload)
    finish(payload, out, with_record)


if __name__ == "__main__":
    main()
