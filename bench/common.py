"""Shared harness for the benchmarks: real datasets, arms, seeds, time-matched baselines.

Every benchmark compares its arms side by side in one process through bench/harness.py
(interleaved, repeated, ratios with their spread, the work ceiling) and writes its full JSON
to $STTUNE_BENCH_OUT (default ~/.cache/sttune/bench, outside the repo); runs of record are
summarised into bench/results/<benchmark>.json.
Each benchmark process uses one torch thread (set here): with two threads, per-batch
times on a shared 2-core machine swing ~3x, with one they are steady, and two benchmarks
can run side by side. Serialise with a lock per core:
`flock /tmp/sttune-bench.lock python bench/<name>.py` (or /tmp/sttune-bench-b.lock).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

torch.set_num_threads(int(os.environ.get("STTUNE_BENCH_THREADS", "1")))

import sttune  # noqa: E402
from sttune.recipe.settings import Protocol, TrainConfig  # noqa: E402
from sttune.recipe.spec import DatasetBlock, LoadedRecipe, ModelBlock, Recipe, StrategyBlock  # noqa: E402


def shared_data() -> Path:
    """../shared/data beside the repo, or $STTUNE_SHARED_DATA."""
    path = Path(os.environ.get("STTUNE_SHARED_DATA", REPO.parent / "shared" / "data"))
    if not path.is_dir():
        raise SystemExit(f"benchmark data not found at {path}; set STTUNE_SHARED_DATA")
    return path


def real_dataset(name: str) -> DatasetBlock:
    """SZ-TAXI (156 roads, 15 min), LOS-LOOP (207 sensors, 5 min) or the PEMS08 prefix (170
    sensors, 5 min, 1282 steps, flow) as a dataset block."""
    root = shared_data()
    blocks = {
        "sz_taxi": DatasetBlock("arrays", {
            "path": str(root / "SZ-TAXI/SZ_taxi.npz"), "adjacency": str(root / "SZ-TAXI/sz_adj.csv"),
            "interval_minutes": 15, "start_day_of_week": 3}, id="sz_taxi"),  # 2015-01-01: Thu
        "los_loop": DatasetBlock("arrays", {
            "path": str(root / "LOS-LOOP/los_speed.csv"), "adjacency": str(root / "LOS-LOOP/los_adj.csv"),
            "interval_minutes": 5, "start_day_of_week": 3}, id="los_loop"),  # 2012-03-01: Thu
        # the first 1282 steps of PEMS08 (the shared data holds no more), flow only: [T, N, 1]
        "pems08_prefix": DatasetBlock("pems", {
            "path": str(root / "PEMS08/PEMS08_prefix1282.npz"), "graph": str(root / "PEMS08/PEMS08.csv"),
            "channels": [0], "start": "2016-07-01 00:00"}, id="pems08_prefix"),  # 2016-07-01: Fri
    }
    return blocks[name]


@dataclass(frozen=True)
class Arm:
    """One benchmark arm: a model with strategies and its own (or the shared) epochs."""

    label: str
    model: str
    model_params: dict[str, Any] = field(default_factory=dict)
    strategies: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    epochs: int | None = None


def bench_train(**fields: Any) -> TrainConfig:
    """The benchmarks' training settings: any device (GPU when present), CPU time on a CPU.

    On a CPU the device clock is the process's CPU time (``cpu_clock: process``): two
    benchmarks and development share these two cores, and the wall clock would charge an arm
    for the time it waited for a core. On a GPU the synchronised wall clock is used.
    """
    return TrainConfig(**{"batch_size": 64, "device": "auto", "cpu_clock": "process", **fields})


def arm_recipe(arm: Arm, dataset: str | DatasetBlock, train: TrainConfig, seed: int,
               cache_dir: Path = REPO / ".sttune-cache", protocol: Protocol | None = None) -> LoadedRecipe:
    """One arm as the fixed recipe ``sttune train`` would run (held in memory, no file).
    ``dataset``: a :func:`real_dataset` name or a dataset block; ``protocol``: default in 12, out 12."""
    cfg = replace(train, seed=seed, epochs=arm.epochs or train.epochs)
    block = real_dataset(dataset) if isinstance(dataset, str) else dataset
    recipe = Recipe(datasets=[block], model=ModelBlock(name=arm.model, params=dict(arm.model_params)),
                    protocol=protocol or Protocol(), train=cfg, strategies=[StrategyBlock(n, dict(p)) for n, p in arm.strategies],
                    name=f"bench.{arm.label}", cache_dir=str(cache_dir))
    return LoadedRecipe(recipe, REPO / "bench" / f"{arm.label}.yaml")


def run_arm(arm: Arm, dataset: str | DatasetBlock, train: TrainConfig, seed: int,
            cache_dir: Path = REPO / ".sttune-cache", protocol: Protocol | None = None):
    """Train one arm once through the Python API (``sttune.train``); returns the TrainResult."""
    return sttune.train(arm_recipe(arm, dataset, train, seed, cache_dir, protocol))


def time_matched_epochs(full_epochs: int, full_seconds: float, strategy_seconds: float) -> int:
    """Epochs of plain training that cost what the strategy cost (at least one)."""
    return max(1, round(full_epochs * strategy_seconds / full_seconds))


def row(label: str, results: list, full_seconds: float | None = None, full_mae: float | None = None) -> dict:
    """Mean and spread over seeds of test MAE, device seconds and peak memory."""
    maes = [r.test_mae for r in results]
    secs = [r.cost_seconds for r in results]
    out = {
        "arm": label,
        "test_mae_mean": statistics.fmean(maes),
        "test_mae_std": statistics.pstdev(maes),
        "device_seconds_mean": statistics.fmean(secs),
        "prepare_seconds_mean": statistics.fmean(r.prepare_seconds for r in results),
        "peak_memory_mib_mean": statistics.fmean(r.peak_memory_bytes for r in results) / 2**20,
        "seeds": len(results),
        "device": results[0].device,
    }
    if full_seconds:
        out["time_saving"] = 1 - out["device_seconds_mean"] / full_seconds
    if full_mae:
        out["mae_change"] = out["test_mae_mean"] / full_mae - 1
    return out


def markdown(rows: list[dict], title: str) -> str:
    """A markdown table of rows made by :func:`row`."""
    lines = [f"#### {title}", "", "| arm | test MAE (mean ± sd) | device s | saving | MAE change |", "|---|---|---|---|---|"]
    for r in rows:
        saving = f"{100 * r['time_saving']:.0f}%" if "time_saving" in r else "-"
        change = f"{100 * r['mae_change']:+.1f}%" if "mae_change" in r else "-"
        lines.append(
            f"| {r['arm']} | {r['test_mae_mean']:.4f} ± {r['test_mae_std']:.4f} | "
            f"{r['device_seconds_mean']:.1f} | {saving} | {change} |"
        )
    return "\n".join(lines) + "\n"


def kendall_tau(a: list[float], b: list[float]) -> float:
    """Kendall's tau-b of two equally long lists (ties count for neither side)."""
    concordant = discordant = ties_a = ties_b = 0
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            x, y = a[i] - a[j], b[i] - b[j]
            if x == 0 and y == 0:
                continue
            if x == 0:
                ties_a += 1
            elif y == 0:
                ties_b += 1
            elif (x > 0) == (y > 0):
                concordant += 1
            else:
                discordant += 1
    denominator = ((concordant + discordant + ties_a) * (concordant + discordant + ties_b)) ** 0.5
    return (concordant - discordant) / denominator if denominator else 0.0


RESULTS = REPO / "bench" / "results"  # runs of record: one summary JSON and one write-up per benchmark


def raw_dir() -> Path:
    """Where every run writes its full JSON: $STTUNE_BENCH_OUT, default ~/.cache/sttune/bench
    (outside the repo: raw runs are not committed)."""
    return Path(os.environ.get("STTUNE_BENCH_OUT", Path.home() / ".cache" / "sttune" / "bench"))


def save(name: str, payload: dict) -> Path:
    """Write a run's full JSON to :func:`raw_dir`. A run of record is then summarised into
    ``bench/results/<benchmark>.json`` (see docs/benchmarks.md) by hand or with ``record``."""
    out = raw_dir()
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(payload, indent=1, default=str))
    return path


def record(name: str, summary: dict) -> Path:
    """Write the summary of a run of record into the repo: ``bench/results/<name>.json``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(summary, indent=1, default=str))
    return path
