"""DynST benchmark (issue 6): a learned sensor mask vs full data, a random mask, same time.

Arms per dataset × model, every arm with the same epochs, widths and seeds:
  full          plain training on every sensor
  dynst         learned mask, s_final 0.5 (params in DYNST below)
  random_fixed  a random sensor set at sparsity 0.5 from epoch 0, never updated
  random_ramp   [extra ablation] DynST's schedule and cycles with random instead of learned
                choices: same cost as dynst, so it isolates what the learned scores add
  time_matched  plain training for the work dynst did (fewer epochs; work, not seconds: the
                seconds move with the load)
Arms are interleaved per seed in a rotating order with bench/harness.py; speed-ups are each
seed's arm against that seed's full run, median and range, with the work-ceiling check.

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
from common import Arm, bench_train, run_arm, save  # noqa: E402
from harness import interleave, summarise, table as harness_table  # noqa: E402
from sttune.recipe.settings import TrainConfig  # noqa: E402
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
    """Every arm × seed on one dataset and model, interleaved (bench/harness.py); returns the
    summary, raw runs and one learned mask."""
    params = MODELS[model]
    groups = [("full",), ("dynst", "time_matched"), *[(a,) for a in arms if a != "dynst"]]
    tm_epochs: list[int] = []

    def run(label: str, repeat: int, earlier: dict):
        epochs = None
        if label == "full":
            strategies = []
        elif label == "time_matched":  # plain training for the work dynst did (load-free)
            dyn = earlier["dynst"]
            epochs = max(1, round(train.epochs * dyn.work.units / (train.epochs * dyn.n_train_windows)))
            tm_epochs.append(epochs)
            strategies = []
        else:
            strategies = [("dynst", MASK_ARMS[label])]
        return run_arm(Arm(label, model, params, strategies, epochs), dataset, train, seeds[repeat])

    runs = interleave(groups, len(seeds), run, lambda line: print(f"  {dataset} {model}{line}", flush=True))
    summary = summarise(runs, "full")
    t_end = end_epoch(DYNST["end_frac"], train.epochs, 0)
    for label, res in runs.items():
        if label in MASK_ARMS:  # random_fixed is at full sparsity from epoch 0
            summary[label]["per_epoch_speedup_at_s_final"] = per_epoch_speedup(
                runs["full"], res, 0 if label == "random_fixed" else t_end)
    return {
        "dataset": dataset, "model": model, "model_params": params, "time_matched_epochs": tm_epochs,
        "t_end": t_end, "summary": summary, "runs": {k: [raw(r) for r in v] for k, v in runs.items()},
        "learned_mask_seed0": runs["dynst"][0].artifacts.get("dynst"),
    }


def block_table(block: dict) -> str:
    return harness_table(block["summary"], f"{block['dataset']} / {block['model']} ({len(block['runs']['full'])} seeds)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["sz_taxi", "los_loop"])
    p.add_argument("--models", nargs="+", default=["stid", "stgcn"])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--arms", nargs="+", default=list(MASK_ARMS), choices=list(MASK_ARMS))
    p.add_argument("--graph-seeds", type=int, default=None, help="seeds for graph models (default: --seeds)")
    p.add_argument("--graph-arms", nargs="+", default=None, choices=list(MASK_ARMS), help="default: --arms")
    p.add_argument("--out", default="dynst", help="results name (raw JSON under $STTUNE_BENCH_OUT)")
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
            block = run_block(dataset, model, list(range(args.first_seed, args.first_seed + seeds)), train, arms)
            payload["blocks"].append(block)
            payload["wall_seconds"] = time.time() - start
            save(args.out, payload)  # after every block: a cut-short run keeps what it finished
            print(block_table(block), flush=True)
    print("\n".join(block_table(b) for b in payload["blocks"]))
    print(f"wall {time.time() - start:.0f}s")


if __name__ == "__main__":
    main()
