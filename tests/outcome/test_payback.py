"""The search's price in full baselines and its break-even point (``sttune report``).

Studies are built with ask/tell on an in-memory storage from stand-in results (nothing trains).
"""

from __future__ import annotations

import json

import optuna
import pytest

from helpers import train_result
from sttune.outcome import report as rep
from sttune.recipe.spec import DatasetBlock, ModelBlock, Recipe, SearchConfig, StrategyBlock
from sttune.tuning import keys, tell
from sttune.tuning.keys import FRACTION, ROLE

optuna.logging.set_verbosity(optuna.logging.WARNING)
RECIPE = Recipe(datasets=[DatasetBlock("synthetic")], model=ModelBlock(name="stid"), strategies=[StrategyBlock("st_prune")],
                search=SearchConfig(trials=5, baseline_ladder=[]), name="unit")


def study_with(*trials: tuple[str, float, float], reused_from: int | None = None) -> optuna.Study:
    """(role, val MAE, seconds) per trial, the first the full baseline; the last may be a reuse."""
    study = optuna.create_study(study_name="unit:synthetic", directions=["minimize", "minimize"])
    study.set_user_attr(keys.DATASET, "synthetic")
    for role, mae, seconds in trials:
        if role == "baseline":
            study.enqueue_trial({}, user_attrs={ROLE: "baseline", FRACTION: 1.0})
        tell.tell_result(study, study.ask(), train_result(mae, seconds), RECIPE)
    if reused_from is not None:
        twin = study.trials[reused_from]
        trial = study.ask()
        trial.set_user_attr(keys.RESULT, twin.user_attrs[keys.RESULT])
        trial.set_user_attr(keys.REUSED, reused_from)
        study.tell(trial, list(twin.values))
    return study


def test_break_even_is_the_search_cost_over_the_saving_rounded_up():
    assert rep.break_even(140.0, 100.0, 40.0) == 3  # 140 / 60 = 2.33
    assert rep.break_even(120.0, 100.0, 40.0) == 2  # exactly 2: not rounded up to 3
    assert rep.break_even(140.0, 100.0, 100.0) is None  # not faster
    assert rep.break_even(140.0, 100.0, 120.0) is None  # slower
    assert rep.break_even(140.0, None, 40.0) is None and rep.break_even(140.0, 100.0, None) is None


def test_without_an_export_the_selection_picks_the_chosen_cost(tmp_path):
    study = study_with(("baseline", 2.0, 100.0), ("search", 2.0, 40.0), reused_from=1)  # the reuse costs nothing
    assert rep.chosen_cost(study, RECIPE, tmp_path) == pytest.approx(40.0)  # fastest within 1%
    assert rep.payback(study, RECIPE, tmp_path) == {
        "search_cost_baselines": pytest.approx(1.4), "break_even_retrainings": None,  # no verified figure yet
        "break_even_note": "no export yet: run `sttune export` (break-even needs the verified speed-up)"}


def test_break_even_needs_a_verified_figure_whose_interval_is_above_one(tmp_path):
    study = study_with(("baseline", 2.0, 100.0), ("search", 2.0, 40.0))
    summary = {"study": "unit:synthetic", "chosen": {"trial": 1, "cost_seconds": 40.0, "speedup": 4.0,
                                                     "speedup_verified": True, "speedup_interval": [3.5, 4.2]}}
    (tmp_path / "synthetic.json").write_text(json.dumps(summary))
    assert rep.payback(study, RECIPE, tmp_path)["break_even_retrainings"] == 2  # 140 / 75
    assert rep.payback(study, RECIPE, tmp_path)["break_even_note"] is None
    summary["chosen"]["speedup_close"] = True  # reliably faster by a close margin: computed, and said
    (tmp_path / "synthetic.json").write_text(json.dumps(summary))
    pays = rep.payback(study, RECIPE, tmp_path)
    assert pays["break_even_retrainings"] == 2 and "close margin" in pays["break_even_note"]
    summary["chosen"].update(speedup=1.10, speedup_interval=[0.98, 1.14])  # not reliably faster
    (tmp_path / "synthetic.json").write_text(json.dumps(summary))
    pays = rep.payback(study, RECIPE, tmp_path)
    assert pays["break_even_retrainings"] is None and "not reliably faster" in pays["break_even_note"]
    itself = {"study": "unit:synthetic", "chosen": {"trial": 0, "cost_seconds": 100.0, "speedup": 1.0,
                                                    "speedup_verified": True, "speedup_interval": [1.0, 1.0]}}
    (tmp_path / "synthetic.json").write_text(json.dumps(itself))  # the full baseline exported
    assert rep.payback(study, RECIPE, tmp_path)["break_even_note"].startswith("the export is the full baseline itself")
    (tmp_path / "synthetic.json").write_text(json.dumps(summary))
    summary["chosen"].update(speedup=4.0, speedup_verified=False, speedup_interval=None)  # the search's figure
    (tmp_path / "synthetic.json").write_text(json.dumps(summary))
    pays = rep.payback(study, RECIPE, tmp_path)
    assert pays["break_even_retrainings"] is None and pays["break_even_note"] == "the exported speed-up is not verified"


def test_the_exported_verified_speed_up_prices_the_chosen_config(tmp_path):
    study = study_with(("baseline", 2.0, 100.0), ("search", 2.0, 40.0))
    summary = {"study": "unit:synthetic", "chosen": {"trial": 1, "device_seconds": 40.0, "speedup": 4.0}}
    (tmp_path / "synthetic.json").write_text(json.dumps(summary))
    assert rep.chosen_cost(study, RECIPE, tmp_path) == pytest.approx(25.0)
    summary["chosen"]["speedup"] = None  # no figure: the chosen trial's own cost (a schema-1 file: device_seconds)
    (tmp_path / "synthetic.json").write_text(json.dumps(summary))
    assert rep.chosen_cost(study, RECIPE, tmp_path) == pytest.approx(40.0)
    summary["chosen"] = {"trial": 1, "cost_seconds": 30.0, "device_seconds": 30.0, "speedup": None}  # schema 2
    (tmp_path / "synthetic.json").write_text(json.dumps(summary))
    assert rep.chosen_cost(study, RECIPE, tmp_path) == pytest.approx(30.0)
    summary.update(study="other:synthetic", chosen={"speedup": 4.0})  # another study's export is not this one's
    (tmp_path / "synthetic.json").write_text(json.dumps(summary))
    assert rep.chosen_cost(study, RECIPE, tmp_path) == pytest.approx(40.0)
