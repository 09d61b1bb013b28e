"""sttune.tuning.space: from an Optuna trial to a fixed Job (baselines, strategies, held knobs)."""

from __future__ import annotations

from dataclasses import replace

import optuna
import pytest

from sttune.recipe.settings import TrainConfig
from sttune.recipe.spec import DatasetBlock, ModelBlock, Recipe, SearchConfig, StrategyBlock
from sttune.tuning.space import (
    FRACTION,
    ROLE,
    HoldingTrial,
    baseline_job,
    epochs_for_fraction,
    has_search_space,
    job_for_trial,
    strategy_choices,
    strategy_params,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)
DATA = DatasetBlock("synthetic")


def recipe(strategies=(), model=ModelBlock(name="stid", params={"embed_dim": 8}), combine=False) -> Recipe:
    return Recipe(datasets=[DATA], model=model, strategies=list(strategies), train=TrainConfig(epochs=8),
                  search=SearchConfig(combine=combine, shorten=False))


def trial(**fixed) -> optuna.Trial:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    if fixed:
        study.enqueue_trial(fixed)
    return study.ask()


def test_strategy_choices_are_names_or_every_combination_in_recipe_order():
    blocks = [StrategyBlock("st_prune"), StrategyBlock("dynst"), StrategyBlock("stemdist")]
    assert strategy_choices(recipe(blocks)) == ["st_prune", "dynst", "stemdist"]
    # STemDist replaces the training windows (a distilled set): it runs alone, never combined
    assert strategy_choices(recipe(blocks, combine=True)) == ["st_prune", "dynst", "stemdist", "st_prune+dynst"]
    assert strategy_choices(recipe()) == []


def test_has_search_space():
    assert not has_search_space(recipe())
    assert has_search_space(recipe([StrategyBlock("st_prune")]))
    assert not has_search_space(recipe(model=ModelBlock(choices=["stid"])))
    assert has_search_space(recipe(model=ModelBlock(choices=["stid", "stgcn"])))
    assert has_search_space(recipe(model=ModelBlock(name="stid", search_params=True)))


@pytest.mark.parametrize(("fraction", "epochs"), [(1.0, 8), (0.5, 4), (0.3, 2), (0.7, 6), (0.125, 1), (0.01, 1)])
def test_epochs_for_fraction_rounds_and_is_at_least_one(fraction, epochs):
    assert epochs_for_fraction(8, fraction) == epochs


def test_baseline_job_is_the_plain_model_for_a_share_of_the_epochs():
    job = baseline_job(recipe([StrategyBlock("st_prune")]), DATA, 0.5)
    assert (job.model_name, job.model_params, job.strategies, job.train.epochs) == ("stid", {"embed_dim": 8}, [], 4)
    assert job.train == replace(TrainConfig(epochs=8), epochs=4)
    chosen = baseline_job(recipe(model=ModelBlock(choices=["stgcn", "stid"])), DATA, 1.0)
    assert (chosen.model_name, chosen.model_params) == ("stgcn", {})  # the first choice, its defaults


def test_a_baseline_trial_suggests_nothing():
    t = trial()
    t.set_user_attr(ROLE, "baseline")
    t.set_user_attr(FRACTION, 0.25)
    job = job_for_trial(t, recipe([StrategyBlock("st_prune")], model=ModelBlock(choices=["stid", "stgcn"])), DATA)
    assert t.params == {} and job.strategies == [] and job.train.epochs == 2 and job.model_name == "stid"


def test_one_searched_strategy_suggests_its_space_and_no_strategy_param():
    t = trial()
    job = job_for_trial(t, recipe([StrategyBlock("st_prune")]), DATA)
    assert "strategy" not in t.params and "model" not in t.params
    assert set(t.params) == {"st_prune." + k for k in job.strategies[0][1]}
    assert job.strategies[0][0] == "st_prune" and job.strategies[0][1]["ratio"] == t.params["st_prune.ratio"]
    assert job.train == TrainConfig(epochs=8) and job.model_params == {"embed_dim": 8}


def test_fixed_params_are_not_searched():
    t = trial()
    job = job_for_trial(t, recipe([StrategyBlock("st_prune", params={"ratio": 0.3})]), DATA)
    assert t.params == {} and job.strategies == [("st_prune", {"ratio": 0.3})]


def test_combined_strategies_run_in_recipe_order():
    blocks = [StrategyBlock("st_prune", params={"ratio": 0.5}), StrategyBlock("dynst", params={"s_final": 0.2})]
    t = trial(strategy="st_prune+dynst")
    job = job_for_trial(t, recipe(blocks, combine=True), DATA)
    assert t.params == {"strategy": "st_prune+dynst"}
    assert job.strategies == [("st_prune", {"ratio": 0.5}), ("dynst", {"s_final": 0.2})]  # not sorted by name
    only = job_for_trial(trial(strategy="dynst"), recipe(blocks, combine=True), DATA)
    assert only.strategies == [("dynst", {"s_final": 0.2})]


def test_model_choices_and_model_space():
    t = trial(model="stid")
    job = job_for_trial(t, recipe(model=ModelBlock(choices=["stgcn", "stid"], search_params=True)), DATA)
    assert job.model_name == "stid" and t.params["model"] == "stid"
    assert job.model_params == {"embed_dim": t.params["stid.embed_dim"], "n_layers": t.params["stid.n_layers"]}
    fixed = job_for_trial(trial(), recipe(model=ModelBlock(name="stid", params={"embed_dim": 8, "x": 1},
                                                           search_params=True)), DATA)
    assert fixed.model_params["x"] == 1 and fixed.model_params["embed_dim"] in (16, 32, 64)  # the space wins


def test_held_knobs_reach_no_sampler_and_are_set():
    t = trial()
    params = strategy_params(t, StrategyBlock("st_prune", fixed={"ratio": 0.42, "score": "ema"}))
    assert params["ratio"] == 0.42 and params["score"] == "ema"
    assert "st_prune.ratio" not in t.params and "st_prune.score" not in t.params
    assert params["delta"] == t.params["st_prune.delta"]


def test_holding_trial_answers_held_names_and_forwards_the_rest():
    t = trial()
    holding = HoldingTrial(t, "dynst", {"delta_t": 5})
    assert holding.suggest_categorical("dynst.delta_t", [1, 2, 5]) == 5
    assert holding.suggest_categorical("delta_t", [1, 2]) in (1, 2)  # only the prefixed name is held
    assert 0 <= holding.suggest_float("dynst.alpha", 0, 1) <= 1 and 1 <= holding.suggest_int("dynst.n", 1, 3) <= 3
    assert set(t.params) == {"delta_t", "dynst.alpha", "dynst.n"}
    assert holding.number == t.number  # everything else is the real trial's
