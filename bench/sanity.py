"""Sanity bar: each built-in model beats the better naive forecast by at least 10% test MAE.

SZ-TAXI and LOS-LOOP, STID / GWNet / STGCN, one seed, the same settings for every model.
Usage: flock /tmp/sttune-bench.lock .venv/bin/python bench/sanity.py [--epochs N]
"""

from __future__ import annotations

import argparse
import statistics

from common import Arm, real_dataset, run_arm, save
from naive import last_value_mae, same_time_yesterday_mae
from sttune.recipe.settings import Protocol, TrainConfig
from sttune.training.jobs import load_data_cached

# CPU-sized widths; on this 2-core machine one GWNet epoch on SZ-TAXI costs ~20 STID epochs
MODELS = {
    "stid": {},
    "gwnet": {"residual_channels": 16, "dilation_channels": 16, "skip_channels": 32, "end_channels": 64, "blocks": 2},
    "stgcn": {"hidden": 32},
}
LR = {"stid": 0.002, "gwnet": 0.002, "stgcn": 0.001}
EPOCH_SHARE = {"stid": 1.0, "gwnet": 0.4, "stgcn": 0.6}  # of --epochs, so the run fits ~30 min


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--datasets", nargs="+", default=["sz_taxi", "los_loop"])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--same-epochs", action="store_true", help="give every model --epochs")
    parser.add_argument("--out", default="sanity", help="results name (raw JSON under $STTUNE_BENCH_OUT)")
    parser.add_argument("--full-width", action="store_true", help="each model at its default width")
    parser.add_argument("--lr", type=float, default=None, help="override every model's lr")
    args = parser.parse_args()
    rows = []
    for name in args.datasets:
        block = real_dataset(name)
        data = load_data_cached(block, Protocol())
        spd = data.spec.steps_per_day
        naive = {"last value": last_value_mae(data), "same time yesterday": same_time_yesterday_mae(data, spd)}
        best_naive = min(naive.values())
        for model in args.models:
            params = {} if args.full_width else MODELS[model]
            share = 1.0 if args.same_epochs else EPOCH_SHARE[model]
            epochs = max(2, round(args.epochs * share))
            cfg = TrainConfig(epochs=epochs, batch_size=64, lr=args.lr or LR[model], device="auto")
            result = run_arm(Arm(model, model, params), name, cfg, seed=0)
            per_epoch = statistics.median(
                b.device_seconds - a.device_seconds for a, b in zip(result.curve, result.curve[1:])
            )
            rows.append({
                "dataset": name, "model": model, "test_mae": result.test_mae,
                "test": result.test, "seconds_per_epoch": per_epoch, "epochs": result.epochs_run,
                "naive": naive, "gain_vs_best_naive": 1 - result.test_mae / best_naive, "device": result.device,
            })
            print(f"{name:9s} {model:6s} test MAE {result.test_mae:.4f}  naive {best_naive:.4f}"
                  f"  gain {100 * rows[-1]['gain_vs_best_naive']:.1f}%  {per_epoch:.2f} s/epoch", flush=True)
    path = save(args.out, {"epochs": args.epochs, "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
