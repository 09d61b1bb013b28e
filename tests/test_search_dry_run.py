"""``sttune search RECIPE --dry-run``: the plan as a table (or JSON) on stdout, exit 0, nothing
written; a bad option is the real search's one line."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from sttune.cli import app

runner = CliRunner()


@pytest.fixture
def recipe(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({
        "name": "tiny",
        "datasets": [{"name": "synthetic", "params": {"n_nodes": 8, "n_days": 4, "steps_per_day": 48, "seed": 1}}],
        "model": {"name": "stid", "params": {"embed_dim": 8, "n_layers": 1}},
        "train": {"epochs": 4, "batch_size": 32, "device": "cpu", "seed": 0},
        "strategies": [{"name": "dynst"}, {"name": "st_prune"}],
        "search": {"trials": 8, "seed": 0, "baseline_ladder": [0.5]},
        "run_dir": str(tmp_path / "run"),
    }))
    return path


def test_the_dry_run_prints_the_plan_and_writes_nothing(recipe, tmp_path):
    result = runner.invoke(app, ["search", str(recipe), "--dry-run"])
    assert result.exit_code == 0, result.output
    for words in ("a dry run, nothing was trained or written", "calibration (", "baseline", "ladder 50%", "dynst#1",
                  "st_prune#1", "sampled ×4", "verification reserve", "total:", "the search stops at the trial count"):
        assert words in result.stdout, words
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.yaml"]


def test_the_dry_run_json_is_the_shared_envelope(recipe):
    result = runner.invoke(app, ["search", str(recipe), "--dry-run", "--json", "--budget", "6"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema_version"] == 2 and data["command"] == "search" and data["dry_run"] is True
    study = data["datasets"]["synthetic"]
    assert study["budget"] == 6 and study["rows"][0]["baselines"] == 1.0
    assert study["total_baselines"] <= 6 + 1e-9 and study["calibration"]["timed_batches"] == 10


def test_quick_plans_no_sampled_trial(recipe):
    result = runner.invoke(app, ["search", str(recipe), "--dry-run", "--quick", "--json"])
    assert result.exit_code == 0, result.output
    study = json.loads(result.stdout)["datasets"]["synthetic"]
    assert [r for r in study["rows"] if r["kind"] == "sampled"] == []


@pytest.mark.parametrize("option", [["--budget", "0"], ["--trials", "0"], ["--timeout-minutes", "0"]])
def test_a_bad_option_is_the_search_s_own_line(recipe, tmp_path, option):
    dry = runner.invoke(app, ["search", str(recipe), "--dry-run", *option])
    real = runner.invoke(app, ["search", str(recipe), *option])
    assert dry.exit_code == real.exit_code == 2
    assert dry.output == real.output and dry.output.startswith("error: ") and len(dry.output.splitlines()) == 1
    assert not (tmp_path / "run").exists()
