"""``sttune train`` on a search recipe: the plain baseline, said so; ``--strategy NAME`` one of its
strategies with its given params or its recommended configuration; the same through
``sttune.train(recipe, strategy=...)`` (one check, :func:`sttune.python_api.plan_training`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import sttune
from sttune.cli import app
from sttune.errors import RecipeError
from sttune.python_api import plan_training

runner = CliRunner()
QUICKSTART = Path(__file__).resolve().parents[1] / "recipes" / "quickstart.yaml"


def write(tmp_path, strategies) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({
        "datasets": [{"name": "synthetic", "params": {"n_nodes": 6, "n_days": 3, "steps_per_day": 48}}],
        "model": {"name": "stid", "params": {"embed_dim": 8, "n_layers": 1}},
        "train": {"epochs": 1, "device": "cpu"},
        "strategies": strategies, "cache_dir": str(tmp_path / "cache"),
    }))
    return path


def test_train_on_the_quick_start_trains_the_plain_baseline_and_says_so(tmp_path):
    result = runner.invoke(app, ["train", str(QUICKSTART), "--epochs", "1", "--json"],
                           env={"STTUNE_CACHE": str(tmp_path / "cache")})
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["strategies"] == {} and data["epochs_run"] == 1
    assert "is a search recipe (it searches st_prune, dynst, stemdist): trained the plain baseline" in data["trained"]


def test_strategy_picks_one_with_its_recommended_configuration_or_its_given_params(tmp_path):
    from sttune.strategies.dynst.strategy import DynST

    recipe = write(tmp_path, [{"name": "st_prune", "params": {"ratio": 0.5}}, {"name": "dynst", "fixed": {"delta_t": 2}},
                              {"name": "stemdist", "fixed": {"t_outer": 2}}])
    plan = plan_training(recipe, strategy="dynst")
    assert plan.job.strategies == [("dynst", {**DynST.recommended[0], "delta_t": 2})]  # fixed knobs win
    assert "dynst with its recommended configuration 1" in plan.trains
    plan = plan_training(recipe, strategy="stemdist")  # recommends nothing: its defaults, fixed knobs held
    assert plan.job.strategies == [("stemdist", {"t_outer": 2})] and "with its defaults" in plan.trains
    plan = plan_training(recipe, strategy="st_prune")
    assert plan.job.strategies == [("st_prune", {"ratio": 0.5})] and "with its given params" in plan.trains
    assert plan_training(recipe).job.strategies == []  # two strategies searched: a search recipe
    with pytest.raises(RecipeError) as caught:
        plan_training(recipe, strategy="nope")
    assert caught.value.one_line() == f"no strategy 'nope' in {recipe}. use one of st_prune, dynst, stemdist"


def test_the_cli_and_the_python_api_train_the_same_strategy(tmp_path):
    recipe = write(tmp_path, [{"name": "st_prune"}, {"name": "dynst"}])
    result = runner.invoke(app, ["train", str(recipe), "--strategy", "st_prune", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert list(data["strategies"]) == ["st_prune"] and "st_prune with its recommended configuration 1" in data["trained"]
    trained = sttune.train(recipe, strategy="st_prune")
    assert trained.val_mae == pytest.approx(data["val_mae"])
    bad = runner.invoke(app, ["train", str(recipe), "--strategy", "nope"])
    assert bad.exit_code == 2 and bad.output.strip().splitlines() == [
        f"error: no strategy 'nope' in {recipe}. use one of st_prune, dynst"]


def test_a_fixed_recipe_still_trains_its_strategies_together(tmp_path):
    recipe = write(tmp_path, [{"name": "st_prune", "params": {"ratio": 0.5}}, {"name": "dynst", "params": {}}])
    plan = plan_training(recipe)
    assert plan.job.strategies == [("st_prune", {"ratio": 0.5}), ("dynst", {})] and plan.trains is None
