"""The naive forecasts that fit the data, and the residual option (issue 32), on generated series.

1. Weekly week-on-week changes (white noise around 0, 300 weeks × 15 nodes, seed 0): STID against
   the zero, train-mean and seasonal naive forecasts; does the beats-naive warning fire?
2. Hourly counts with a weekly profile and mostly zeros (20 nodes × 16 weeks, seed 0, `missing:
   nan`): STID with `protocol.residual: seasonal` and without, against the seasonal naive forecast.
   The residual option's default (off) is decided on validation MAE only; test MAE is reported.

Usage: python bench/naive_residual.py [--record]   (about a minute on a 2-core CPU)
Full JSON to $STTUNE_BENCH_OUT/naive_residual.json; ``--record`` also to bench/results/.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from common import record, save
from sttune.python_api import plan_training, run_training


def weekly_changes(folder: Path) -> Path:
    path = folder / "changes.npy"
    np.save(path, np.random.default_rng(0).normal(0.0, 5.0, (300, 15)).astype(np.float32))
    return path


def hourly_counts(folder: Path) -> tuple[Path, float]:
    """Poisson counts whose rate follows a daily and a weekly cycle, low enough that most are 0."""
    rng = np.random.default_rng(0)
    steps, nodes = 16 * 7 * 24, 20
    t = np.arange(steps)[:, None]
    day = np.clip(np.sin(2 * math.pi * ((t % 24) - 6) / 24), 0, None)  # active hours only
    week = np.where((t // 24) % 7 < 5, 1.0, 0.3)  # weekdays busier than weekends
    rate = 0.8 * day * week * rng.uniform(0.5, 1.5, (1, nodes))
    counts = rng.poisson(rate).astype(np.float32)
    path = folder / "counts.npy"
    np.save(path, counts)
    return path, float((counts == 0).mean())


def train(folder: Path, name: str, dataset: dict, protocol: dict, epochs: int) -> dict[str, Any]:
    recipe = folder / f"{name}.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": name, "dataset": dataset, "protocol": protocol, "cache_dir": str(folder / "cache"),
        "model": {"name": "stid", "params": {"embed_dim": 16, "n_layers": 2}},
        "train": {"epochs": epochs, "batch_size": 32, "device": "cpu", "seed": 0},
    }))
    trained = run_training(plan_training(recipe))
    return {"val_mae": trained.result.val_mae, "test_mae": trained.result.test_mae, "naive": trained.naive.scores,
            "naive_warning": trained.naive_warning, "clock": trained.result.clock}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        weekly = train(folder, "weekly", {"name": "arrays", "params": {
            "path": str(weekly_changes(folder)), "interval_minutes": 10080}},
            {"in_len": 8, "out_len": 4, "missing": "nan"}, epochs=3)
        path, zeros = hourly_counts(folder)
        data = {"name": "arrays", "params": {"path": str(path), "interval_minutes": 60}}
        base = {"in_len": 24, "out_len": 12, "missing": "nan"}
        plain = train(folder, "plain", data, base, epochs=10)
        residual = train(folder, "residual", data, {**base, "residual": "seasonal"}, epochs=10)
    out = {"weekly": weekly, "hourly": {"zero_share": zeros, "plain": plain, "residual": residual},
           "residual_beats_seasonal_naive_on_val": residual["val_mae"] < plain["naive"]["same_time_last_week"]["val_mae"],
           "residual_beats_plain_on_val": residual["val_mae"] < plain["val_mae"]}
    save("naive_residual", out)
    if args.record:
        record("naive_residual", out)
    print(yaml.safe_dump(out, sort_keys=False, default_flow_style=None))


if __name__ == "__main__":
    main()
