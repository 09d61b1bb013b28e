"""The example third-party package (plugins/sttune-curriculum) drives a real search.

CI installs it (`pip install -e plugins/sttune-curriculum`); without it the test is skipped.
"""

from __future__ import annotations

from importlib import metadata

import optuna
import pytest
import yaml
from typer.testing import CliRunner

from plugin_kit import reset_plugin_caches
from sttune.cli import app

try:
    metadata.distribution("sttune-curriculum")
except metadata.PackageNotFoundError:
    pytest.skip("sttune-curriculum is not installed: pip install --no-deps -e plugins/sttune-curriculum",
                allow_module_level=True)


def test_search_with_the_curriculum_plugin(tmp_path):
    reset_plugin_caches()
    recipe = {
        "name": "curriculum",
        "datasets": [{"name": "synthetic", "params": {"n_nodes": 6, "n_days": 3, "steps_per_day": 48, "seed": 2}}],
        "model": {"name": "stid", "params": {"embed_dim": 8, "n_layers": 1}},
        "train": {"epochs": 3, "batch_size": 32, "device": "cpu", "seed": 0},
        "strategies": [{"name": "curriculum"}],
        "search": {"trials": 4, "seed": 0, "baseline_ladder": [], "predict": False, "shorten": False},
        "run_dir": str(tmp_path / "run"),
        "cache_dir": str(tmp_path / "cache"),
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    result = CliRunner().invoke(app, ["search", str(path), "--no-export"])
    assert result.exit_code == 0, result.output
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "run" / "study.journal")))
    trials = optuna.load_study(study_name="curriculum:synthetic", storage=storage).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    searched = [t for t in trials if t.user_attrs.get("sttune.role") != "baseline"]
    assert len(searched) == 3
    for trial in searched:
        assert set(trial.params) == {"curriculum.start_fraction", "curriculum.full_at"}
        [(name, params)] = trial.user_attrs["sttune.job"]["strategies"]
        assert name == "curriculum" and params == {
            "start_fraction": trial.params["curriculum.start_fraction"], "full_at": trial.params["curriculum.full_at"]}
        visited = trial.user_attrs["sttune.result"]["artifacts"]["curriculum"]["visited_per_epoch"]
        assert len(visited) == 3 and visited[0] == max(visited)  # epoch 0 visits all, then the easy ones
