"""The benchmark harness (bench/harness.py) and the GPU headline script's dry mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness import interleave, rotated, summarise, table
from sttune.training.work import WorkSummary

BENCH = Path(__file__).resolve().parents[1] / "bench"


def fake(seconds: float, units: float, mae: float = 3.0):
    return SimpleNamespace(cost_seconds=seconds, work=WorkSummary(units=units), test_mae=mae, val_mae=mae,
                           peak_memory_bytes=0, clock="injected", device="cpu")


def test_the_group_order_rotates_and_a_group_keeps_its_own_order():
    groups = [("full",), ("named", "random"), ("other",)]
    assert rotated(groups, 0) == ["full", "named", "random", "other"]
    assert rotated(groups, 1) == ["named", "random", "other", "full"]
    assert rotated(groups, 2) == ["other", "full", "named", "random"]
    seen = []

    def run(arm, repeat, earlier):
        seen.append((repeat, arm, sorted(earlier)))
        return fake(1.0, 1.0)

    interleave(groups, 2, run, log=lambda line: None)
    assert seen[4:6] == [(1, "named", []), (1, "random", ["named"])]  # a derived arm sees its parent


def test_a_time_saving_above_the_work_saving_is_flagged_not_reported():
    results = {"full": [fake(10, 100), fake(10, 100), fake(10, 100)],
               "honest": [fake(5, 50), fake(5.2, 50), fake(4.9, 50)],
               "inflated": [fake(5, 90), fake(5, 90), fake(5, 90)]}  # 2x faster on 90% of the work
    summary = summarise(results, "full")
    assert summary["honest"]["speedup"]["median"] == pytest.approx(2.0) and not summary["honest"]["above_work_ceiling"]
    assert summary["honest"]["speedup"]["low"] == pytest.approx(10 / 5.2)
    assert summary["inflated"]["above_work_ceiling"] and summary["inflated"]["work_fraction"] == pytest.approx(0.9)
    assert summary["honest"]["repeats_above_ceiling"] == 0 and summary["inflated"]["repeats_above_ceiling"] == 3


def test_the_ceiling_flag_reads_the_median_at_the_noise_and_every_repeat():
    full = [fake(10, 100)] * 3
    spread = {"full": full, "arm": [fake(10, 90), fake(10 / 1.5, 90), fake(10 / 1.6, 90)]}  # ceiling 1.11x
    row = summarise(spread, "full")["arm"]
    # median 1.5x, noise 20%: above 1.11 x 1.2 although the low repeat (1.0x) is not
    assert row["speedup"]["low"] == pytest.approx(1.0) and row["above_work_ceiling"]
    assert row["repeats_above_ceiling"] == 2
    tight = summarise({"full": full, "arm": [fake(10 / 1.2, 90)] * 3}, "full")["arm"]  # 1.2x, 8% over, noise 2%
    assert tight["noise"] == pytest.approx(0.02) and tight["above_work_ceiling"]
    within = summarise({"full": full, "arm": [fake(10 / 1.125, 90)] * 3}, "full")["arm"]  # 1.25% over: noise
    assert not within["above_work_ceiling"] and within["repeats_above_ceiling"] == 0
    assert "2 of 3 repeats above their ceiling" not in table({"arm": row}, "t") and "not a result" in table({"arm": row}, "t")


def test_the_gpu_headline_script_runs_dry_on_the_cpu(tmp_path):
    env = {**os.environ, "STTUNE_PYTHON": sys.executable}  # this interpreter, with sttune installed
    done = subprocess.run(["bash", str(BENCH / "gpu.sh"), str(tmp_path), "--dry"], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads((tmp_path / "gpu_headlines.json").read_text())
    assert out["dry"] and not out["skipped"]
    assert set(out["blocks"]) == {"trainer_overhead", "sz_taxi", "los_loop", "pems_bay_size"}
    arms = out["blocks"]["sz_taxi"]["summary"]
    assert set(arms) == {"full", "plain 50%", "plain 25%", "st_prune", "dynst", "stemdist"}
    assert all(arm["work_fraction"] > 0 for arm in arms.values()) and "margin_vs_plain" in arms["dynst"]
    assert out["blocks"]["trainer_overhead"]["median_ratio"] > 0


def test_the_stemdist_authors_run_runs_dry_through_gpu_sh(tmp_path):
    """Issue 33: bench/gpu.sh OUT --stemdist-authors runs bench/stemdist_authors.py (their full
    settings on a GPU); --dry runs the same arms in seconds on tiny synthetic data."""
    env = {**os.environ, "STTUNE_PYTHON": sys.executable}
    done = subprocess.run(["bash", str(BENCH / "gpu.sh"), str(tmp_path), "--stemdist-authors", "--dry"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads((tmp_path / "stemdist_authors_dry.json").read_text())
    (block,) = out["blocks"].values()
    assert set(block["summary"]) == {"distilled", "random subset", "cluster-only", "authors' random"}
    assert block["stemdist"]["loop"] == "authors" and block["stemdist"]["encoder_input"] == "mean_window"
    assert set(block["claim"]) == {"random subset", "cluster-only", "authors' random"}
    assert all(len(runs) == 2 for runs in block["runs"].values())  # two seeds, interleaved
    assert all(r["charged_prepare_seconds"] > 0 for r in block["runs"]["distilled"])  # the distillation is charged
    assert all(r["best_iteration"] is not None for r in block["runs"]["distilled"])  # selected on validation
