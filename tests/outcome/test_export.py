"""sttune.outcome.export: speed-up, MAE change, the trial summary, the fixed recipe, export_study."""

from __future__ import annotations

import json

import optuna
import pytest

from helpers import train_result, trial_record
from sttune.outcome.export import export_study, fixed_recipe, mae_change, speedup, trial_summary
from sttune.recipe.settings import Protocol, TrainConfig
from sttune.recipe.spec import DatasetBlock, ModelBlock, Recipe, SearchConfig, StrategyBlock, load_recipe
from sttune.training.jobs import Job
from sttune.tuning import keys, records as rec
from sttune.tuning.keys import FRACTION, ROLE

optuna.logging.set_verbosity(optuna.logging.WARNING)

BASE = trial_record(0, 100.0, 2.0, role="baseline")


def test_speedup_is_baseline_cost_over_trial_cost():
    assert speedup(trial_record(1, 25.0, 2.1), BASE) == pytest.approx(4.0)
    assert speedup(trial_record(1, 400.0, 2.1), BASE) == pytest.approx(0.25)
    assert speedup(BASE, BASE) == pytest.approx(1.0)
    assert speedup(trial_record(1, 25.0, 2.1), None) is None
    assert speedup(trial_record(1, 0.0, 2.1), BASE) is None  # a free (reused) trial has no finite speed-up


def test_mae_change_is_relative_to_the_baseline_val_mae():
    assert mae_change(trial_record(1, 25.0, 2.2), BASE) == pytest.approx(0.1)
    assert mae_change(trial_record(1, 25.0, 1.5), BASE) == pytest.approx(-0.25)
    assert mae_change(trial_record(1, 25.0, 2.2, test_mae=9.0), BASE) == pytest.approx(0.1)  # val, not test
    assert mae_change(trial_record(1, 25.0, 2.2), None) is None


def test_trial_summary_fields():
    job = Job(DatasetBlock("synthetic"), Protocol(), "stid", {"embed_dim": 8}, [("st_prune", {"keep": 0.3})],
              TrainConfig(epochs=7))
    record = trial_record(4, 50.0, 2.2, test_mae=2.4, job=job)
    assert trial_summary(record, BASE) == {
        "trial": 4, "label": "st_prune (stid)", "chosen": False, "role": "search", "budget": 1.0, "model": "stid",
        "strategies": {"st_prune": {"keep": 0.3}}, "epochs": 7, "val_mae": 2.2, "test_mae": 2.4,
        "cost_seconds": 50.0, "device_seconds": 50.0,  # the schema-1 name, an alias in schema 2
        "priced_cost_seconds": None,  # not priced here (sttune.outcome.pricing prices a study's records)
        "speedup": pytest.approx(2.0), "val_mae_change": pytest.approx(0.1),
        "speedup_verified": False, "speedup_measured_in_search": pytest.approx(2.0), "work_fraction": None,
    }
    assert trial_summary(record, BASE, chosen=True)["chosen"] is True
    jobless = trial_summary(rec.TrialRecord(5, "COMPLETE", "search", 1.0, None, record.result, None), None)
    assert (jobless["model"], jobless["strategies"], jobless["epochs"], jobless["speedup"]) == (None, {}, None, None)


TEMPLATE = Recipe(
    datasets=[DatasetBlock("synthetic"), DatasetBlock("other")], model=ModelBlock(choices=["stid", "stgcn"]),
    strategies=[StrategyBlock("st_prune"), StrategyBlock("dynst")], search=SearchConfig(trials=9), name="tpl",
    run_dir="runs/tpl",
)


def test_fixed_recipe_replays_the_trial_and_searches_nothing():
    job = Job(DatasetBlock("other", {"n": 3}), Protocol(in_len=6, out_len=3), "stgcn", {"hidden": 4},
              [("dynst", {"warmup": 1})], TrainConfig(epochs=5, seed=3))
    record = rec.TrialRecord(3, "COMPLETE", "search", 1.0, job, None, None)
    fixed = fixed_recipe(record, TEMPLATE)
    assert fixed.datasets == [job.dataset] and fixed.protocol == job.protocol and fixed.train == job.train
    assert fixed.model == ModelBlock(name="stgcn", params={"hidden": 4})
    assert fixed.strategies == [StrategyBlock("dynst", {"warmup": 1})]  # fixed params: nothing searched
    assert fixed.name == "tpl.other.best" and fixed.run_dir is None
    assert fixed.search == TEMPLATE.search
    unnamed = fixed_recipe(record, Recipe(datasets=[], model=ModelBlock(name="stid")))
    assert unnamed.name == "search.other.best"


def _tell(study, role, budget, val, seconds, test=None, feasible=True):
    job = Job(DatasetBlock("synthetic"), Protocol(), "stid", {}, [] if role == "baseline" else [("st_prune", {})],
              TrainConfig(epochs=max(1, round(4 * budget))))
    trial = study.ask()
    trial.set_user_attr(ROLE, role)
    trial.set_user_attr(FRACTION, budget)
    trial.set_user_attr(keys.JOB, rec.job_to_attr(job))
    trial.set_user_attr(keys.RESULT, rec.result_to_attr(train_result(val, seconds, test_mae=test)))
    trial.set_constraint("val_mae_increase", -1.0 if feasible else 1.0)
    study.tell(trial, [val, seconds])
    return trial.number


def test_export_study_writes_a_replayable_recipe_and_a_summary(tmp_path):
    study = optuna.create_study(study_name="tpl:synthetic", directions=["minimize", "minimize"])
    study.set_user_attr("sttune.dataset", "synthetic")
    _tell(study, "baseline", 1.0, 2.0, 100.0)  # 0
    _tell(study, "baseline", 0.5, 2.3, 50.0)  # 1
    _tell(study, "search", 1.0, 2.01, 20.0, test=1.0)  # 2: within 1 %, the cheapest
    _tell(study, "search", 1.0, 1.5, 5.0, feasible=False)  # 3: best and cheapest, but infeasible
    failed = study.ask()
    study.tell(failed, state=optuna.trial.TrialState.FAIL)  # 4
    pruned = study.ask()  # 5: stopped early, with a result: cheap, but never a candidate
    pruned.set_user_attr(keys.RESULT, rec.result_to_attr(train_result(1.9, 2.0)))
    study.tell(pruned, state=optuna.trial.TrialState.PRUNED)
    out = export_study(study, TEMPLATE, tmp_path / "best", "fastest-within", 0.01)
    assert out.chosen.number == 2 and out.baseline.number == 0 and not out.plain_shorter
    assert out.recipe_path == tmp_path / "best" / "synthetic.yaml"
    summary = json.loads(out.summary_path.read_text())
    assert summary["chosen"]["trial"] == 2 and summary["chosen"]["speedup"] == pytest.approx(5.0)
    assert summary["baseline"]["trial"] == 0 and summary["rule"] == "fastest-within"
    assert [p["trial"] for p in summary["pareto_front"]] == [2, 0]  # infeasible and pruned trials left out
    header = out.recipe_path.read_text().splitlines()[0]
    assert header.startswith("# sttune export: trial 2 of study 'tpl:synthetic'")
    loaded = load_recipe(out.recipe_path).recipe
    assert loaded.model == ModelBlock(name="stid") and loaded.strategies == [StrategyBlock("st_prune", {})]
    assert loaded.datasets == [DatasetBlock("synthetic")]


def test_export_study_says_when_the_plain_model_trained_shorter_wins(tmp_path):
    study = optuna.create_study(study_name="tpl:synthetic", directions=["minimize", "minimize"])
    _tell(study, "baseline", 1.0, 2.0, 100.0)
    _tell(study, "baseline", 0.5, 2.0, 50.0)
    _tell(study, "search", 1.0, 2.5, 60.0)
    out = export_study(study, TEMPLATE, tmp_path, "min-mae", 0.01)
    assert out.chosen.number == 1 and out.plain_shorter
    assert out.dataset == "tpl:synthetic"  # no sttune.dataset attr: the study name labels the files
    assert "plain model trained for fewer epochs" in out.recipe_path.read_text()
    assert load_recipe(out.recipe_path).recipe.train.epochs == 2 and json.loads(out.summary_path.read_text())["plain_shorter_training"]


def test_export_of_the_full_baseline_is_not_called_shorter_training(tmp_path):
    study = optuna.create_study(study_name="tpl:synthetic", directions=["minimize", "minimize"])
    _tell(study, "baseline", 1.0, 2.0, 100.0)
    _tell(study, "baseline", 0.5, 2.2, 50.0)
    out = export_study(study, TEMPLATE, tmp_path, "min-mae", 0.01)
    assert out.chosen.number == 0 and not out.plain_shorter
    assert "fewer epochs" not in out.recipe_path.read_text()
