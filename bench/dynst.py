"""DynST benchmark (issue 6): a learned sensor mask vs full data, a random mask, same time.

Arms per dataset × model, every arm with the same epochs, widths and seeds:
  full          plain training on every sensor
  dynst         learned mask, s_final 0.5 (params in DYNST below)
  random_fixed  a random sensor set at sparsity 0.5 from epoch 0, never updated
  random_ramp   [extra ablation] DynST's schedule and cycles with random instead of learned
                choices: same cost as dynst, so it isolates what the learned scores add
  time_matched  plain training for the device time dynst used (fewer epochs)

Run under the shared lock: flock /tmp/sttune-bench.lock .venv/bin/python bench/dynst.py
One torch thread (every arm alike): on this shared 2-core machine two threads spin against
other processes and per-batch times swing 3x; one thread keeps the ratios steady.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Arm, bench_train, row, run_arm, save, time_matched_epochs  # noqa: E402

from sttune.config import TrainConfig  # noqa: E402
from sttune.strategies.dynst.schedule import end_epoch  # noqa: E402

MODELS = {  # small widths so the whole run fits the CPU budget; identical for every arm
    "stid": {"embed_dim": 16},
    "stgcn": {"hidden": 16, "bottleneck": 8, "out_hidden": 32, "node_dim": 8, "n_blocks": 1},
    "gwnet": {"residual_channels": 8, "dilation_channels": 8, "skip_channels": 16, "end_channels": 32, "blocks": 2},
}
# the plugin's defaults (s_final 0.5, delta_t 1, alpha0 0.3, end_frac 0.75, gradient regrow)
DYNST = {"s_final": 0.5, "delta_t": 1, "alpha0": 0.3, "end_frac": 0.75, "regrow": "gradient", "mask": "learned"}
MASK_ARMS = {
    "dynst": DYNST,
    "random_fixed": {"s_final": 0.5, "mask": "random_fixed"},
    "random_ramp": {**DYNST, "regrow": "random", "mask": "random_ramp"},
}


def epoch_seconds(result) -> list[float]:
    """Timed seconds of each epoch (the curve holds cumulative device seconds)."""
    cum = [r.device_seconds for r in result.curve]
    return [b - a for a, b in zip([0.0] + cum, cum)]


def per_epoch_speedup(full: list, sparse: list, first_sparse_epoch: int) -> float:
    """Median full-data epoch / median epoch at full sparsity (epochs ≥ t_end)."""
    f = statistics.median(s for r in full for s in epoch_seconds(r))
    d = statistics.median(s for r in sparse for s in epoch_seconds(r)[first_sparse_epoch:])
    return f / d


def raw(result) -> dict:
    art = result.artifacts.get("dynst", {})
    return {
        "test_mae": result.test_mae, "val_mae": result.val_mae, "device_seconds": result.device_seconds,
        "epoch_seconds": epoch_seconds(result), "epochs": result.epochs_run, "best_epoch": result.best_epoch,
        "active_per_epoch": art.get("active_per_epoch"), "kept_sensors": art.get("kept_sensors"),
    }


def run_block(dataset: str, model: str, seeds: list[int], train: TrainConfig, arms: list[str]) -> dict:
    """Every arm × seed on one dataset and model; returns rows, raw runs and one learned mask."""
    params = MODELS[model]
    runs: dict[str, list] = {"full": [], **{a: [] for a in arms}}
    for seed in seeds:  # arms interleaved per seed, so load drifts hit every arm alike
        for label in runs:
            strategies = [] if label == "full" else [("dynst", MASK_ARMS[label])]
            t = time.time()
            res = run_arm(Arm(label, model, params, strategies), dataset, train, seed)
            runs[label].append(res)
            print(f"  {dataset} {model} {label} seed {seed}: MAE {res.test_mae:.4f} device "
                  f"{res.device_seconds:.1f}s wall {time.time() - t:.0f}s", flush=True)
    full_s = statistics.fmean(r.cost_seconds for r in runs["full"])
    dyn_s = statistics.fmean(r.cost_seconds for r in runs["dynst"])
    tm_epochs = time_matched_epochs(train.epochs, full_s, dyn_s)
    runs["time_matched"] = []
    for seed in seeds:
        res = run_arm(Arm("time_matched", model, params, [], epochs=tm_epochs), dataset, train, seed)
        runs["time_matched"].append(res)
        print(f"  {dataset} {model} time_matched ({tm_epochs} ep) seed {seed}: MAE {res.test_mae:.4f} "
              f"device {res.device_seconds:.1f}s", flush=True)
    full_mae = statistics.fmean(r.test_mae for r in runs["full"])
    t_end = end_epoch(DYNST["end_frac"], train.epochs, 0)
    rows = []
    for label, res in runs.items():
        r = row(label if label != "time_matched" else f"time_matched ({tm_epochs} ep)", res, full_s, full_mae)
        r["speedup"] = full_s / r["device_seconds_mean"]
        if label in MASK_ARMS:  # random_fixed is at full sparsity from epoch 0
            r["per_epoch_speedup_at_s_final"] = per_epoch_speedup(runs["full"], res, 0 if label == "random_fixed" else t_end)
        rows.append(r)
    return {
        "dataset": dataset, "model": model, "model_params": params, "time_matched_epochs": tm_epochs,
        "t_end": t_end, "rows": rows, "runs": {k: [raw(r) for r in v] for k, v in runs.items()},
        "learned_mask_seed0": runs["dynst"][0].artifacts.get("dynst"),
    }


def table(block: dict) -> str:
    lines = [
        f"#### {block['dataset']} / {block['model']} ({block['rows'][0]['seeds']} seeds)", "",
        "| arm | test MAE (mean ± sd) | device s | speed-up vs full | per-epoch speed-up at s_final | MAE change |",
        "|---|---|---|---|---|---|",
    ]
    for r in block["rows"]:
        pe = f"{r['per_epoch_speedup_at_s_final']:.2f}x" if "per_epoch_speedup_at_s_final" in r else "-"
        lines.append(
            f"| {r['arm']} | {r['test_mae_mean']:.4f} ± {r['test_mae_std']:.4f} | {r['device_seconds_mean']:.1f} | "
            f"{r['speedup']:.2f}x | {pe} | {100 * r['mae_change']:+.1f}% |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["sz_taxi", "los_loop"])
    p.add_argument("--models", nargs="+", default=["stid", "stgcn"])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--arms", nargs="+", default=list(MASK_ARMS), choices=list(MASK_ARMS))
    p.add_argument("--graph-seeds", type=int, default=None, help="seeds for graph models (default: --seeds)")
    p.add_argument("--graph-arms", nargs="+", default=None, choices=list(MASK_ARMS), help="default: --arms")
    p.add_argument("--out", default="dynst", help="results name under bench/results/")
    args = p.parse_args()
    if "dynst" not in args.arms or (args.graph_arms and "dynst" not in args.graph_arms):
        p.error("the dynst arm is required (the time-matched arm is matched to it)")
    torch.set_num_threads(1)
    train = bench_train(epochs=args.epochs)
    payload = {"dynst_params": DYNST, "epochs": args.epochs, "seeds": args.seeds, "threads": 1,
               "argv": sys.argv[1:], "train": repr(train), "blocks": []}
    start = time.time()
    for model in args.models:
        for dataset in args.datasets:
            graph = model != "stid"
            seeds = args.graph_seeds if graph and args.graph_seeds else args.seeds
            arms = args.graph_arms if graph and args.graph_arms else args.arms
            block = run_block(dataset, model, list(range(seeds)), train, arms)
            payload["blocks"].append(block)
            payload["wall_seconds"] = time.time() - start
            save(args.out, payload)  # after every block: a cut-short run keeps what it finished
            print(table(block), flush=True)
    print("\n".join(table(b) for b in payload["blocks"]))
    print(f"wall {time.time() - start:.0f}s")


if __name__ == "__main__":
    main()
