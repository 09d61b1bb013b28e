"""`sttune worker --budget`: the budget lives with the study, so every worker stops at one shared limit."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import optuna
from typer.testing import CliRunner

from helpers import train_result
from sttune.cli import app
from sttune.recipe.spec import DatasetBlock, ModelBlock, Recipe, SearchConfig, StrategyBlock
from sttune.tuning import keys, setup, study as st
from sttune.tuning.events import NullEvents

optuna.logging.set_verbosity(optuna.logging.WARNING)


def recipe(budget: float | None) -> Recipe:
    return Recipe(datasets=[DatasetBlock("synthetic")], model=ModelBlock(name="stid"), strategies=[StrategyBlock("st_prune")],
                  search=SearchConfig(trials=20, budget=budget, baseline_ladder=[0.5], reuse_results=False,
                                      ladder="trained", predict=False), name="unit")


def plan(r: Recipe, storage, tmp_path, index: int) -> setup.StudyPlan:
    return setup.StudyPlan(r, "unit", r.datasets[0], storage, tmp_path, r.search.trials, None,
                        worker_index=index, sets_up=index == 0, budget=r.search.budget, poll_seconds=0.01)


def test_a_worker_without_a_budget_keeps_to_the_one_stored_with_the_study(tmp_path, fake_training):
    fake_training(lambda job, listener: train_result(
        2.0, 15.0 if job.strategies else 10.0 * job.train.epochs))  # baseline 200 s, rung 100 s, strategy 15 s
    storage = optuna.storages.InMemoryStorage()
    first = st.search_study(plan(recipe(2.5), storage, tmp_path, 0), NullEvents())  # worker 0: budget 2.5 = 500 s
    done = [t for t in first.trials if keys.RESULT in t.user_attrs]
    spent = sum(t.user_attrs[keys.RESULT]["cost_seconds"] for t in done)
    # 200 + 100, then st_prune trials of 15 s each, each started only when its predicted cost
    # (planned work × 200 s × 1.1) fits beside what was spent: the budget holds
    assert spent <= 500 and len(done) >= 3
    joined = st.search_study(plan(recipe(None), storage, tmp_path, 1), NullEvents())  # worker 1: no --budget
    trained_after = [t for t in joined.trials if keys.RESULT in t.user_attrs]
    # the study's budget is kept: whatever worker 1 trains still fits it
    assert sum(t.user_attrs[keys.RESULT]["cost_seconds"] for t in trained_after) <= 500


def test_with_study_budget_prefers_the_workers_own_and_else_the_studys():
    study = optuna.create_study(directions=["minimize", "minimize"])
    p = plan(recipe(None), None, Path("."), 1)
    assert setup.with_study_budget(p, study).budget is None  # none stored: none
    study.set_user_attr("sttune.recipe", {"search": {"budget": 6}})
    assert setup.with_study_budget(p, study).budget == 6.0
    assert setup.with_study_budget(replace(p, budget=3.0), study).budget == 3.0


def test_worker_budget_must_be_positive_one_line(tmp_path):
    result = CliRunner().invoke(app, ["worker", str(tmp_path / "r.yaml"), "--budget", "0"])
    assert result.exit_code == 2 and "--budget must be a finite number above 0" in result.output
    assert "Traceback" not in result.output
