"""Strategy.recommended: what the search enqueues after the baselines, the recipe's say over it,
and the contract check that keeps recommendations inside a strategy's own space."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

import optuna
import pytest

from helpers import train_result
from sttune.api import Strategy
from sttune.recipe.spec import DatasetBlock, ModelBlock, Recipe, SearchConfig, StrategyBlock
from sttune.registry import discovery as plugins
from sttune.strategies.dynst import DynST
from sttune.testing.core import ContractFailure
from sttune.testing.strategy import StrategySubject, check_recommended
from sttune.tuning import keys, setup, study as st
from sttune.tuning.events import NullEvents
from sttune.tuning.keys import RECOMMENDED, ROLE
from sttune.tuning.space import OutsideSpace, recommendation_params, recommended_trials

optuna.logging.set_verbosity(optuna.logging.WARNING)


class Knobs(Strategy):
    """A strategy with one knob of each kind; its recommendations are set per test."""

    name: ClassVar[str] = "knobs"
    recommended: ClassVar[tuple[dict[str, Any], ...]] = ({"ratio": 0.4, "period": 3, "rule": "b"},)

    def __init__(self, ratio: float = 0.5, period: int = 1, rule: str = "a") -> None:
        if rule not in ("a", "b"):
            raise ValueError(f"rule must be a or b, got {rule!r}")
        self.ratio, self.period, self.rule = ratio, period, rule

    @classmethod
    def space(cls, trial: optuna.Trial) -> dict[str, Any]:
        return {"ratio": trial.suggest_float("knobs.ratio", 0.2, 0.8, step=0.2),
                "period": trial.suggest_int("knobs.period", 1, 5, step=2),
                "rule": trial.suggest_categorical("knobs.rule", ["a", "b"])}


def with_recommended(*configs: dict[str, Any]) -> type[Knobs]:
    return type("Knobs2", (Knobs,), {"recommended": tuple(configs)})


@pytest.fixture
def knobs(monkeypatch):
    """plugins.load('strategy', 'knobs') answers the class the test sets in ``box``."""
    box = {"cls": Knobs}
    real = plugins.load
    monkeypatch.setattr(plugins, "load", lambda group, name: box["cls"] if name == "knobs" else real(group, name))
    return box


def recipe(*blocks: StrategyBlock, combine: bool = False, trials: int = 6) -> Recipe:
    return Recipe(datasets=[DatasetBlock("synthetic")], model=ModelBlock(name="stid"), strategies=list(blocks),
                  search=SearchConfig(trials=trials, baseline_ladder=[0.5], combine=combine, reuse_results=False,
                                      ladder="trained", predict=False, shorten=False),
                  name="unit")


def test_a_recommendation_becomes_the_optuna_params_that_reproduce_it():
    params, returned = recommendation_params(Knobs, {"ratio": 0.4, "period": 3, "rule": "b"})
    assert params == {"knobs.ratio": 0.4, "knobs.period": 3, "knobs.rule": "b"}
    assert returned == {"ratio": 0.4, "period": 3, "rule": "b"}
    params, _ = recommendation_params(Knobs, {"ratio": 0.4})  # knobs left out are left to the sampler
    assert params == {"knobs.ratio": 0.4}


@pytest.mark.parametrize("config, words", [
    ({"ratio": 0.5}, "ratio=0.5 is outside its range"),  # off the step grid
    ({"ratio": 1.0}, "ratio=1.0 is outside its range"),
    ({"period": 2}, "period=2 is outside its range"),
    ({"period": 3.0}, "period=3.0 is outside its range"),
    ({"rule": "c"}, "rule='c' is outside its range"),
    ({"speed": 2}, "speed is not a knob its space() searches"),
])
def test_a_recommendation_the_space_cannot_propose_is_outside(config, words):
    with pytest.raises(OutsideSpace, match=words.replace("(", r"\(").replace(")", r"\)")):
        recommendation_params(Knobs, config)


def test_held_knobs_win_over_the_recommendation():
    params, returned = recommendation_params(Knobs, {"ratio": 0.4, "rule": "b"}, held={"rule": "a"})
    assert params == {"knobs.ratio": 0.4} and returned["rule"] == "a"


def test_recommended_trials_follow_the_recipe_and_skip_with_a_notice(knobs):
    trials, notes = recommended_trials(recipe(StrategyBlock("knobs")))
    assert trials == [("knobs#1", {"knobs.ratio": 0.4, "knobs.period": 3, "knobs.rule": "b"})] and notes == []
    knobs["cls"] = with_recommended({"ratio": 0.4}, {"ratio": 0.9}, {"ratio": 0.6, "rule": "a"})
    trials, notes = recommended_trials(recipe(StrategyBlock("knobs", fixed={"rule": "b"})))
    assert [t for t, _ in trials] == ["knobs#1", "knobs#3"]  # the held rule overrides #3's
    assert trials[1][1] == {"knobs.ratio": 0.6}
    assert notes == ["knobs's recommended configuration 2 skipped: ratio=0.9 is outside its range in this recipe"]
    assert recommended_trials(recipe(StrategyBlock("knobs", params={"ratio": 0.4}))) == ([], [])


def test_several_strategies_name_theirs_and_combine_adds_the_first_ones_together(knobs):
    blocks = (StrategyBlock("knobs"), StrategyBlock("dynst"), StrategyBlock("stemdist"))
    trials, _ = recommended_trials(recipe(*blocks))
    assert [(t, p["strategy"]) for t, p in trials] == [("knobs#1", "knobs"), ("dynst#1", "dynst")]
    assert trials[1][1]["dynst.s_final"] == DynST.recommended[0]["s_final"] == 0.3
    trials, _ = recommended_trials(recipe(*blocks, combine=True))
    tag, params = trials[-1]
    assert tag == "knobs+dynst" and params["strategy"] == "knobs+dynst"
    assert params["knobs.rule"] == "b" and params["dynst.s_final"] == 0.3


def test_the_search_runs_the_recommendations_right_after_the_baselines_once(tmp_path, fake_training, knobs):
    jobs = fake_training(lambda job, listener: train_result(2.0, 10.0))
    r = recipe(StrategyBlock("knobs"), trials=4)
    p = setup.StudyPlan(r, "unit", r.datasets[0], optuna.storages.InMemoryStorage(), tmp_path, 4, None)
    study = st.search_study(p, NullEvents())
    assert [t.user_attrs.get(ROLE) for t in study.trials] == ["baseline", "baseline", None, None]
    assert study.trials[2].user_attrs[RECOMMENDED] == "knobs#1" and RECOMMENDED not in study.trials[3].user_attrs
    assert jobs[2].strategies == [("knobs", {"ratio": 0.4, "period": 3, "rule": "b"})]
    again = st.search_study(replace(p, storage=study._storage, trials=5), NullEvents())  # resumed: not enqueued again
    assert sum(RECOMMENDED in t.user_attrs for t in again.trials) == 1 and len(again.trials) == 5


def test_skipped_recommendations_are_told_as_notices(tmp_path, monkeypatch, knobs):
    knobs["cls"] = with_recommended({"ratio": 0.9})
    notes = []

    class Notes(NullEvents):
        def notice(self, text: str) -> None:
            notes.append(text)

    r = recipe(StrategyBlock("knobs"))
    p = setup.StudyPlan(r, "unit", r.datasets[0], optuna.storages.InMemoryStorage(), tmp_path, 6, None)
    setup.open_plan_study(p, Notes())
    assert notes == ["knobs's recommended configuration 1 skipped: ratio=0.9 is outside its range in this recipe"]
    setup.open_plan_study(p, Notes())  # resumed: said once
    assert len(notes) == 1


def test_a_study_that_searched_before_recommendations_keeps_its_course(tmp_path, knobs):
    r = recipe(StrategyBlock("knobs"))
    p = setup.StudyPlan(r, "unit", r.datasets[0], optuna.storages.InMemoryStorage(), tmp_path, 6, None)
    study = setup.open_plan_study(p)
    study.set_user_attr(keys.RECOMMENDATIONS, False)  # as a study made before recommendations existed
    for _ in study.get_trials(states=[optuna.trial.TrialState.WAITING]):
        study.tell(study.ask(), [1.0, 1.0])
    study.tell(study.ask(), [1.0, 1.0])  # a sampler trial ran
    before = len(study.trials)
    assert setup.ensure_recommendations(study, r) == [] and len(study.trials) == before


@pytest.mark.parametrize("name", ["dynst", "st_prune", "stemdist"])
def test_the_built_in_recommendations_pass_the_contract_check(name):
    assert "inside the space" in check_recommended(StrategySubject(plugins.load("strategy", name))) or name == "stemdist"


@pytest.mark.parametrize("configs, words", [
    (({"ratio": 0.9},), "outside its range"),
    (({"speed": 1},), "not a knob"),
    (({"ratio": float("nan")},), "recommended configuration 1"),
    ([{"ratio": 0.4}], "must be a tuple of dicts"),
])
def test_the_contract_check_fails_a_recommendation_outside_the_space(configs, words):
    bad = type("Bad", (Knobs,), {"recommended": configs})
    with pytest.raises(ContractFailure, match=words):
        check_recommended(StrategySubject(bad))


def test_the_contract_check_fails_a_recommendation_the_constructor_refuses():
    class Picky(Knobs):
        recommended = ({"ratio": 0.4, "rule": "b"},)

        def __init__(self, ratio: float = 0.5, period: int = 1, rule: str = "a") -> None:
            super().__init__(ratio, period, rule)
            if ratio < 0.5:
                raise ValueError("ratio must be at least 0.5")

    with pytest.raises(ContractFailure, match="ratio must be at least 0.5"):
        check_recommended(StrategySubject(Picky))
