"""The ladder read off the baseline against trained rungs (issue 34), once per model.

A derived rung (``search.ladder: derived``) is the full baseline's first k epochs: its lr decays at
the full run's milestones. Two trained rungs beside it: "own schedule" trains the plain model for k
epochs with the lr decaying at its own fractions (``ladder: trained``); "shortened" trains k epochs
with the full run's milestone epochs (``sttune.tuning.space.shortened``: the configuration an export
writes for a derived rung, which should retrain to the derived figure).
Per model (STID, GWNet as bench/search_value.py narrows it) and derivation dataset (the PEMS08
prefix, the synthetic 120-node graph of bench/derive_defaults.py; no evaluation dataset), seed 100:
the full baseline, then each ladder fraction trained both ways; for each rung the val MAE change over
the full baseline, and the Kendall tau between the derived and the own-schedule rankings of the rungs.

Usage: flock /tmp/sttune-bench.lock python bench/ladder_check.py [--record]
Full JSON to $STTUNE_BENCH_OUT/ladder_check.json; ``--record`` also writes bench/results/ladder_check.json.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from common import Arm, bench_train, kendall_tau, real_dataset, record, run_arm, save
from search_value import MODELS
from sttune.recipe.spec import DatasetBlock
from sttune.training.result import prefix_result
from sttune.tuning.space import epochs_for_fraction, shortened

EPOCHS, SEED, FRACTIONS = 10, 100, (0.125, 0.25, 0.5, 0.75)  # search.baseline_ladder's default
SYNTHETIC = DatasetBlock("synthetic", {"n_nodes": 120, "n_days": 10, "steps_per_day": 96, "seed": 7}, id="synthetic_n120")


def one(model: str, dataset: str | DatasetBlock) -> dict[str, Any]:
    train = bench_train(epochs=EPOCHS)
    full = run_arm(Arm(f"ladder-{model}", model, MODELS[model]), dataset, train, SEED)
    rows = []
    for fraction in FRACTIONS:
        epochs = epochs_for_fraction(EPOCHS, fraction)
        derived = prefix_result(full, epochs, f"first {epochs} epochs")
        trained = run_arm(Arm(f"ladder-{model}-{epochs}", model, MODELS[model], epochs=epochs), dataset, train, SEED)
        short = run_arm(Arm(f"ladder-{model}-{epochs}-shortened", model, MODELS[model]), dataset,
                        shortened(train, fraction), SEED)
        rows.append({"fraction": fraction, "epochs": epochs, "derived_val_change": derived.val_mae / full.val_mae - 1,
                     "trained_val_change": trained.val_mae / full.val_mae - 1,
                     "shortened_val_change": short.val_mae / full.val_mae - 1,
                     "trained_minus_derived": (trained.val_mae - derived.val_mae) / full.val_mae,
                     "trained_seconds": trained.cost_seconds, "derived_seconds": derived.cost_seconds})
        print(f"  {model} {getattr(dataset, 'id', dataset)} {epochs} epochs: derived {100 * rows[-1]['derived_val_change']:+.2f}% "
              f"own schedule {100 * rows[-1]['trained_val_change']:+.2f}% "
              f"shortened {100 * rows[-1]['shortened_val_change']:+.2f}%", flush=True)
    tau = kendall_tau([r["derived_val_change"] for r in rows], [r["trained_val_change"] for r in rows])
    return {"model": model, "dataset": getattr(dataset, "id", dataset), "baseline_val_mae": full.val_mae,
            "baseline_seconds": full.cost_seconds, "rungs": rows, "kendall_tau": tau, "device": full.device}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    start = time.monotonic()
    blocks = [one(m, d) for m in MODELS for d in (real_dataset("pems08_prefix"), SYNTHETIC)]
    payload = {"epochs": EPOCHS, "seed": SEED, "fractions": FRACTIONS, "models": MODELS, "blocks": blocks,
               "clock": "process CPU time, 1 torch thread", "wall_seconds": time.monotonic() - start}
    print(f"wrote {save('ladder_check', payload)}")
    if args.record:
        record("ladder_check", payload)


if __name__ == "__main__":
    main()
