"""The GPU headline set, in one run that fits 8 minutes on one H100/H200 (``bench/gpu.sh``).

    bench/gpu.sh OUT_DIR            # on the GPU machine: writes OUT_DIR/gpu_headlines.json
    bench/gpu.sh OUT_DIR --dry      # seconds on a CPU: the same code on tiny synthetic data

Blocks, each through bench/harness.py (arms interleaved in a rotating order, repeats, median
and range of every ratio, the work-ceiling check):

1. trainer vs a bare PyTorch loop (STID, SZ-TAXI): the trainer's own overhead;
2. on SZ-TAXI and LOS-LOOP at full model width (STID embed 32): full data, the ladder (plain
   training at 1/4 and 1/2 of the epochs: the no-strategy frontier), ST-Prune's named config,
   DynST's named config and STemDist's distilled set, with the frontier margin of each;
3. synthetic data at PEMS-BAY size (325 sensors, 52 116 steps): full data, ST-Prune, DynST.

The named configurations are fixed here before the run (ST-Prune r 0.6; DynST s_final 0.5,
its defaults; STemDist nrr 0.25, srr 0.1), as in docs/benchmarks.md. A block that would start
after ``--budget-minutes`` is skipped and listed as such. Device seconds come from the
synchronised CUDA clock on a GPU and from process CPU time (one thread) on a CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch  # noqa: E402

from common import real_dataset  # noqa: E402
from harness import interleave, summarise  # noqa: E402
from sttune.outcome.frontier import Frontier  # noqa: E402
from sttune.recipe.settings import Protocol, TrainConfig  # noqa: E402
from sttune.recipe.spec import DatasetBlock  # noqa: E402
from sttune.training.jobs import Job, train_job  # noqa: E402

ST_PRUNE = {"ratio": 0.6, "delta": 0.875, "score": "relative", "bins": 4, "schedule": "constant", "warmup": 1}
DYNST = {"s_final": 0.5}
STEMDIST = {"nrr": 0.25, "srr": 0.1, "t_outer": 10, "inner": 5, "net_steps": 5, "eval_every": 5,
            "eval_epochs": 30, "match_loss": "mae"}
STID_FULL = {"embed_dim": 32, "n_layers": 3}


def datasets(dry: bool) -> dict[str, DatasetBlock]:
    """The real datasets, or in a dry run small synthetic stand-ins (no files needed)."""
    if dry:
        tiny = {"n_nodes": 8, "n_days": 3, "steps_per_day": 48}
        return {"sz_taxi": DatasetBlock("synthetic", tiny, id="sz_taxi"),
                "los_loop": DatasetBlock("synthetic", {**tiny, "seed": 1}, id="los_loop"),
                "pems_bay_size": DatasetBlock("synthetic", {**tiny, "n_nodes": 12}, id="pems_bay_size")}
    # PEMS-BAY: 325 sensors, 52 116 five-minute steps (181 days of 288 minus a few; 181 days here)
    return {"sz_taxi": real_dataset("sz_taxi"), "los_loop": real_dataset("los_loop"),
            "pems_bay_size": DatasetBlock("synthetic", {"n_nodes": 325, "n_days": 181, "steps_per_day": 288},
                                          id="pems_bay_size")}


def train_config(dry: bool, epochs: int) -> TrainConfig:
    return TrainConfig(epochs=1 if dry else epochs, batch_size=64, device="cpu" if dry else "auto")


def arms_block(block: DatasetBlock, model: dict, arms: dict[str, tuple[list, float]], cfg: TrainConfig,
               repeats: int, cache: Path) -> dict:
    """Arms {label: (strategies, share of the epochs)} interleaved; summary against 'full'."""
    def run(label: str, repeat: int, earlier: dict):
        strategies, share = arms[label]
        epochs = max(1, round(cfg.epochs * share))
        job = Job(block, Protocol(), "stid", model, strategies, replace(cfg, epochs=epochs, seed=repeat))
        return train_job(job, cache)

    results = interleave([(a,) for a in arms], repeats, run, lambda line: print(f"  {block.label}{line}", flush=True))
    summary = summarise(results, "full")
    mean = {label: (statistics.fmean(r.cost_seconds for r in rs), statistics.fmean(r.val_mae for r in rs))
            for label, rs in results.items()}
    plain = [mean[label] for label in plain_labels(mean)]
    frontier = Frontier(tuple(p for i, p in enumerate(sorted(plain)) if all(p[1] < q[1] for q in sorted(plain)[:i])))
    for label, (cost, val) in mean.items():  # below plain training at its cost raised by the noise: a gain
        if label in plain_labels(mean):
            continue
        reference = frontier.mae_at(cost * (1 + summary[label]["noise"]))
        summary[label]["margin_vs_plain"] = None if reference == float("inf") else reference / val - 1
    return {"summary": summary, "frontier_points": frontier.points,
            "val_mae": {label: v for label, (_, v) in mean.items()}}


def plain_labels(arms: dict) -> list[str]:
    return [label for label in arms if label == "full" or label.startswith("plain")]


def overhead_block(block: DatasetBlock, cfg: TrainConfig, repeats: int) -> dict:
    """The trainer against a bare loop (bench/trainer_overhead.py), ABBA-interleaved."""
    from sttune.registry import discovery as plugins
    from sttune.training.jobs import load_data_cached
    from sttune.training.trainer import Trainer
    from trainer_overhead import bare_loop

    data = load_data_cached(block, Protocol())
    cls = plugins.load("model", "stid")
    cfg = replace(cfg, lr_decay_at=(), device="cpu" if cfg.device == "cpu" else cfg.device)
    ratios = []
    for repeat in range(repeats):
        pair = [lambda: bare_loop(cls, STID_FULL, data, cfg),
                lambda: Trainer(cfg).fit(lambda: cls(data.spec, **STID_FULL), data).device_seconds]
        first, second = (pair if repeat % 2 == 0 else pair[::-1])
        a, b = first(), second()
        bare, ours = (a, b) if repeat % 2 == 0 else (b, a)
        ratios.append(ours / bare)
    return {"ratios": ratios, "median_ratio": statistics.median(ratios)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--dry", action="store_true", help="tiny synthetic data on the CPU: a test of the script")
    ap.add_argument("--budget-minutes", type=float, default=7.5, help="start no block after this")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    if args.dry:
        torch.set_num_threads(1)
    repeats = 1 if args.dry else args.repeats
    data = datasets(args.dry)
    model = {"embed_dim": 8, "n_layers": 1} if args.dry else STID_FULL
    stem = {**STEMDIST, "t_outer": 1, "eval_every": 0, "eval_epochs": 1} if args.dry else STEMDIST
    out: dict = {"device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu", "dry": args.dry,
                 "repeats": repeats, "named": {"st_prune": ST_PRUNE, "dynst": DYNST, "stemdist": stem},
                 "blocks": {}, "skipped": []}
    started = time.monotonic()
    cache = Path(tempfile.mkdtemp(prefix="sttune-gpu-"))  # STemDist distils afresh
    plan = [("trainer_overhead", lambda: overhead_block(data["sz_taxi"], train_config(args.dry, 2), repeats))]
    for name in ("sz_taxi", "los_loop"):
        arms = {"full": ([], 1.0), "plain 50%": ([], 0.5), "plain 25%": ([], 0.25),
                "st_prune": ([("st_prune", ST_PRUNE)], 1.0), "dynst": ([("dynst", DYNST)], 1.0),
                "stemdist": ([("stemdist", stem)], 1.0)}
        plan.append((name, lambda n=name, a=arms: arms_block(data[n], model, a, train_config(args.dry, 12), repeats, cache)))
    big = {"full": ([], 1.0), "st_prune": ([("st_prune", ST_PRUNE)], 1.0), "dynst": ([("dynst", DYNST)], 1.0)}
    plan.append(("pems_bay_size", lambda: arms_block(data["pems_bay_size"], model, big, train_config(args.dry, 3),
                                                     max(1, repeats - 1), cache)))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    path = args.out_dir / "gpu_headlines.json"
    for name, block in plan:
        if (time.monotonic() - started) / 60 > args.budget_minutes:
            out["skipped"].append(name)
            continue
        print(f"block {name}", flush=True)
        out["blocks"][name] = block()
        out["wall_seconds"] = time.monotonic() - started
        path.write_text(json.dumps(out, indent=1, default=str))  # after every block: a cut-off run keeps it
    print(f"wrote {path} in {time.monotonic() - started:.0f} s", flush=True)
    return out


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
