"""Issue 4 benchmark: ST-Prune against full data, random pruning, InfoBatch and a time-matched arm.

Run: flock /tmp/sttune-bench.lock .venv/bin/python bench/st_prune.py [--epochs 12] [--seeds 3]
     [--datasets sz_taxi los_loop] [--models stid gwnet] [--out st_prune] [--arms full named ...]
Runs of record (2-core CPU): --models stid --stid-dim 16; --models gwnet --gwnet-ch 8 --gwnet-blocks 2

Arms run through bench/harness.py: per repeat (one seed each) every arm once, the order of the
groups rotating ([full], [named, random, time-matched], [default], [infobatch]); speed-ups are
each repeat's arm against that repeat's full run, median and range, with the work ceiling check.
  full       plain training, E epochs
  default    st_prune with its default params
  named      st_prune with NAMED, a point of its search space (r 0.7 chosen by reasoning before any
             run, lowered to 0.6 after r 0.7 cost 2.3% on LOS-LOOP; see docs/benchmarks.md)
  random     st_prune score=random, same delta/schedule/warm-up as NAMED, ratio set so its
             expected pruned windows over the run equal what NAMED pruned on this seed
  infobatch  st_prune score=loss, bins=0, constant, r=0.5, delta=0.875
  time-matched  plain training for the work named did: round(E · named work / full work) epochs
               (work, not seconds: the seconds move with the load, the work does not)
Overhead of the hooks: timed directly (select, weight, on_batch_end on the real data), and
end to end once per (dataset, model) with NAMED at ratio=0 (scores and sampler run, nothing pruned).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from common import Arm, bench_train, real_dataset, run_arm, save  # noqa: E402 (adds repo)
from harness import interleave, summarise, table
from sttune.api import Batch
from sttune.recipe.settings import Protocol, TrainConfig
from sttune.strategies.st_prune import STPrune
from sttune.training.jobs import load_data_cached

MODELS: dict[str, dict] = {"stid": {}, "gwnet": {}}  # widths set from the command line
NAMED = {"ratio": 0.6, "delta": 0.875, "score": "relative", "bins": 4, "schedule": "constant", "warmup": 1}
INFOBATCH = {"score": "loss", "bins": 0, "schedule": "constant", "ratio": 0.5, "delta": 0.875, "warmup": 1}


def matched_random(named: dict, artifacts: dict) -> dict:
    """Random-ablation params pruning, in expectation, as many windows as NAMED did.

    Random drops r_rand·s_e·M windows in pruning epoch e (s_e = r(e)/r, the schedule's shape),
    NAMED dropped p_e·M; equal totals give r_rand = Σ p_e / Σ s_e over the pruning epochs.
    """
    epochs = [e for e in artifacts["per_epoch"] if e["ratio"] > 0]
    pruned = sum(1 - e["visited_fraction"] for e in epochs)
    shape = sum(e["ratio"] / named["ratio"] for e in epochs)
    ratio = min(max(pruned / shape, 0.0), 0.95) if shape else 0.0
    return {**named, "score": "random", "ratio": ratio}


def hook_overhead(dataset: str, model: str, params: dict, train: TrainConfig) -> dict:
    """Seconds per epoch spent in select + weight + on_batch_end on the real training set."""
    from sttune.api import TrainContext

    data = load_data_cached(real_dataset(dataset), Protocol())
    strategy = STPrune(**params)
    ctx = TrainContext(0, train.epochs, torch.nn.Linear(1, 1), torch.device("cpu"), 0,
                       torch.Generator().manual_seed(0), data.spec)
    strategy.prepare(data.train, ctx)
    n = len(data.train)
    batches = [torch.arange(i, min(i + train.batch_size, n)) for i in range(0, n, train.batch_size)]
    fake = [Batch(torch.zeros(0), torch.zeros(0), b) for b in batches]
    losses = [torch.rand(len(b)) for b in batches]
    for batch, loss in zip(fake, losses):
        strategy.on_batch_end(loss, batch, ctx)
    ctx.epoch = 1
    strategy.select(ctx)
    reps = 20
    t0 = time.perf_counter()
    for _ in range(reps):
        strategy.select(ctx)
    t_select = (time.perf_counter() - t0) / reps
    t0 = time.perf_counter()
    for _ in range(reps):
        for batch, loss in zip(fake, losses):
            strategy.weight(loss, batch, ctx)
            strategy.on_batch_end(loss, batch, ctx)
    t_batch = (time.perf_counter() - t0) / reps
    return {"select_s": t_select, "per_batch_hooks_s_per_epoch": t_batch, "hooks_s_per_epoch": t_select + t_batch}


ARMS = ("full", "default", "named", "random", "infobatch", "time-matched")
GROUPS = (("full",), ("named", "random", "time-matched"), ("default",), ("infobatch",))  # derived arms follow named


def work_matched_epochs(epochs: int, named) -> int:
    """Plain-training epochs doing the work ``named`` did (load-free, unlike its seconds)."""
    full_units = epochs * named.n_train_windows  # a full epoch is every window on every node
    return max(1, round(epochs * named.work.units / full_units))


def run_block(dataset: str, model: str, seeds: list[int], train: TrainConfig, log: list, r0: bool,
              arms: tuple[str, ...] = ARMS) -> dict:
    params = MODELS[model]
    groups = [tuple(a for a in g if a in arms) for g in GROUPS]
    extra: dict[str, list] = {"tm_epochs": [], "random_ratio": []}

    def run(label: str, repeat: int, earlier: dict):
        seed = seeds[repeat]
        epochs = None
        if label == "full":
            strategies = []
        elif label == "default":
            strategies = [("st_prune", {})]
        elif label == "named":
            strategies = [("st_prune", NAMED)]
        elif label == "random":
            rand = matched_random(NAMED, earlier["named"].artifacts["st_prune"])
            extra["random_ratio"].append(rand["ratio"])
            strategies = [("st_prune", rand)]
        elif label == "infobatch":
            strategies = [("st_prune", INFOBATCH)]
        else:  # time-matched: plain training for the work named did
            epochs = work_matched_epochs(train.epochs, earlier["named"])
            extra["tm_epochs"].append(epochs)
            strategies = []
        return run_arm(Arm(label, model, params, strategies, epochs), dataset, train, seed)

    def say(line: str) -> None:
        log.append(f"{dataset} {model} {line.strip()}")
        print(log[-1], flush=True)

    results = interleave([g for g in groups if g], len(seeds), run, say)
    summary = summarise(results, "full")
    for label, rs in results.items():
        if label != "full" and label != "time-matched":
            visited = [r.artifacts["st_prune"]["mean_visited_fraction"] for r in rs]
            summary[label]["mean_visited_fraction"] = statistics.fmean(visited)
    overhead = {
        "direct": hook_overhead(dataset, model, NAMED, train),
        "full_s_per_epoch": results["full"][0].device_seconds / train.epochs,
    }
    if r0:  # end to end: NAMED with ratio 0 runs scoring and the sampler but prunes nothing
        zero = run_arm(Arm("named-r0", model, params, [("st_prune", {**NAMED, "ratio": 0.0})]), dataset, train, seeds[0])
        overhead["r0_minus_full_s_per_epoch"] = (zero.device_seconds - results["full"][0].device_seconds) / train.epochs
    print(f"{dataset} {model} overhead {overhead}", flush=True)
    return {"summary": summary, "tm_epochs": extra["tm_epochs"], "random_ratio": extra["random_ratio"],
            "overhead": overhead, "per_seed": {k: [compact(r) for r in rs] for k, rs in results.items()}}


def compact(res) -> dict:
    """The numbers of one run worth keeping (the full curve is long)."""
    art = res.artifacts.get("st_prune", {})
    return {"test_mae": res.test_mae, "val_mae": res.val_mae, "cost_seconds": res.cost_seconds,
            "epochs_run": res.epochs_run, "best_epoch": res.best_epoch, "work_units": res.work.units if res.work else None,
            "clock": res.clock,
            "visited_per_epoch": [e["visited_fraction"] for e in art.get("per_epoch", [])],
            "val_curve": [round(r.val_mae, 4) for r in res.curve]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    ap.add_argument("--datasets", nargs="+", default=["sz_taxi", "los_loop"])
    ap.add_argument("--models", nargs="+", default=["stid", "gwnet"])
    ap.add_argument("--out", default="st_prune")
    ap.add_argument("--stid-dim", type=int, default=32, help="STID embed_dim (all arms)")
    ap.add_argument("--gwnet-ch", type=int, default=16, help="GWNet residual/dilation channels (all arms)")
    ap.add_argument("--gwnet-blocks", type=int, default=4, help="GWNet blocks of 2 layers (all arms)")
    ap.add_argument("--r0", action="store_true", help="also run NAMED at ratio 0 (end-to-end overhead)")
    ap.add_argument("--named-ratio", type=float, default=NAMED["ratio"], help="NAMED's prune ratio r")
    ap.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS,
                    help="arms to run (full and named always run: the others derive from them)")
    args = ap.parse_args()
    NAMED["ratio"] = args.named_ratio
    torch.set_num_threads(1)  # one thread per benchmark: two run side by side on 2 cores
    MODELS["stid"] = {"embed_dim": args.stid_dim} if args.stid_dim != 32 else {}
    c = args.gwnet_ch
    MODELS["gwnet"] = {"residual_channels": c, "dilation_channels": c, "skip_channels": 2 * c, "end_channels": 4 * c,
                      "blocks": args.gwnet_blocks}
    train = bench_train(epochs=args.epochs, lr=0.002)
    log: list[str] = []
    blocks, tables = {}, []
    t0 = time.time()
    for dataset in args.datasets:
        for model in args.models:
            arms = tuple(a for a in ARMS if a in {*args.arms, "full", "named"})
            seeds = list(range(args.first_seed, args.first_seed + args.seeds))
            block = run_block(dataset, model, seeds, train, log, args.r0, arms)
            blocks[f"{dataset}/{model}"] = block
            tables.append(table(block["summary"], f"{dataset} / {model} ({args.epochs} epochs, {args.seeds} seeds)"))
            payload = {"config": {"epochs": args.epochs, "seeds": seeds, "train": repr(train), "models": MODELS,
                                  "named": NAMED, "infobatch": INFOBATCH, "wall_s": time.time() - t0},
                       "blocks": blocks, "log": log}
            print("saved", save(args.out, payload), flush=True)  # a cut-off run keeps finished blocks
    print("\n".join(tables))


if __name__ == "__main__":
    main()
