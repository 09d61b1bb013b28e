"""The export's tolerance menu: per val MAE tolerance against the full baseline, the fastest
trial within it (select.tolerance_menu), in best/<dataset>.json and printed by `sttune export`."""

from __future__ import annotations

import json

import optuna
import pytest

from helpers import train_result, trial_record as rec
from sttune.cli.export_cmd import menu_lines
from sttune.outcome.export import export_study
from sttune.outcome.select import MENU_TOLERANCES, cheapest_under, tolerance_menu
from sttune.outcome.verify import Verified
from sttune.recipe.settings import Protocol, TrainConfig
from sttune.recipe.spec import DatasetBlock, ModelBlock, Recipe, SearchConfig, StrategyBlock
from sttune.training.jobs import Job
from sttune.tuning import records as records_mod
from sttune.tuning.keys import FRACTION, ROLE, VERIFIED

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_the_menu_tolerances_are_the_four_the_issue_names():
    assert MENU_TOLERANCES == (0.005, 0.01, 0.02, 0.05)


def test_each_tolerance_gets_the_fastest_trial_within_it_of_the_reference():
    trials = [rec(0, 100, 2.00, role="baseline"), rec(1, 80, 2.015), rec(2, 60, 2.03), rec(3, 40, 2.09),
              rec(4, 10, 2.5), rec(5, 5, 1.9, feasible=False), rec(6, 1, 1.0, state="PRUNED")]
    menu = tolerance_menu(trials, 2.0, noise=0.0)
    assert [(t, r.number) for t, r in menu] == [(0.005, 0), (0.01, 1), (0.02, 2), (0.05, 3)]
    # the reference is the one given (the full baseline's), not the best trial's val MAE
    assert [r.number for _, r in tolerance_menu(trials, 2.1, noise=0.0)] == [3, 3, 3, 3]


def test_a_tolerance_nothing_meets_has_no_trial_and_noise_ties_go_to_accuracy():
    assert cheapest_under([rec(0, 10, 3.0)], 2.0) is None
    assert [r for _, r in tolerance_menu([rec(0, 10, 3.0)], 2.0, 0.0)] == [None] * 4
    tied = [rec(0, 100, 2.0, role="baseline"), rec(1, 50, 2.01), rec(2, 51, 2.005)]
    assert cheapest_under(tied, 2.02, noise=0.05).number == 2  # 51 s is not reliably dearer than 50 s
    assert cheapest_under(tied, 2.02, noise=0.0).number == 1


def _tell(study, role, val, seconds, fraction=1.0):
    job = Job(DatasetBlock("synthetic"), Protocol(), "stid", {}, [] if role == "baseline" else [("dynst", {})],
              TrainConfig(epochs=4))
    trial = study.ask()
    trial.set_user_attr(ROLE, role) if role == "baseline" else None
    trial.set_user_attr(FRACTION, fraction)
    trial.set_user_attr(records_mod.JOB, records_mod.job_to_attr(job))
    trial.set_user_attr(records_mod.RESULT, records_mod.result_to_attr(train_result(val, seconds)))
    study.tell(trial, [val, seconds])


TEMPLATE = Recipe(datasets=[DatasetBlock("synthetic")], model=ModelBlock(name="stid"),
                  strategies=[StrategyBlock("dynst")], search=SearchConfig(trials=5), name="tpl")


def test_the_export_json_carries_the_menu_verified_where_verified_and_the_rule_still_decides(tmp_path):
    study = optuna.create_study(study_name="tpl:synthetic", directions=["minimize", "minimize"])
    study.set_user_attr("sttune.dataset", "synthetic")
    _tell(study, "baseline", 2.0, 100.0)  # 0
    _tell(study, "search", 2.015, 50.0)  # 1: within 1% of the best (2.0), within 2% of the baseline
    _tell(study, "search", 2.08, 20.0)  # 2: within 5% only
    verified = Verified(1.8, 1.7, 1.9, 0.5, 2.0, 2.0, 0.05, False, method="schedule")
    study.set_user_attr(VERIFIED, {"1/0/3/schedule": verified.to_dict()})  # trial 1 was re-timed before
    out = export_study(study, TEMPLATE, tmp_path, "fastest-within", 0.01)
    assert out.chosen.number == 1  # the rule decides best/<dataset>.yaml, not the menu
    menu = json.loads(out.summary_path.read_text())["menu"]
    assert [(m["tolerance"], m["trial"]) for m in menu] == [(0.005, 0), (0.01, 1), (0.02, 1), (0.05, 2)]
    assert menu[2]["speedup"] == pytest.approx(1.8) and menu[2]["speedup_verified"] is True
    assert menu[2]["speedup_interval"] == [1.7, 1.9]
    assert menu[3]["speedup"] == pytest.approx(5.0) and menu[3]["speedup_verified"] is False
    assert menu[3]["val_mae_change"] == pytest.approx(0.04)
    lines = menu_lines(out.menu)
    assert len(lines) == 5 and "the rule above decided the export" in lines[0]
    assert lines[3] == "    within +2%: trial 1 dynst (stid): 1.80x [1.70, 1.90] verified, val MAE +0.8%"
    assert lines[4] == "    within +5%: trial 2 dynst (stid): 5.00x measured in the search (not verified), val MAE +4.0%"


def test_the_menu_line_says_when_no_trial_is_within_and_no_baseline_means_no_menu(tmp_path):
    assert menu_lines([{"tolerance": 0.005, "trial": None}])[1] == "    within +0.5%: no trial"
    assert menu_lines(()) == []
    study = optuna.create_study(study_name="tpl:synthetic", directions=["minimize", "minimize"])
    _tell(study, "search", 2.0, 50.0)
    assert export_study(study, TEMPLATE, tmp_path, "fastest-within", 0.01).menu == ()


def test_the_menu_shows_the_verification_the_latest_export_used():
    from sttune.outcome.export import stored_verification, verified_speedup

    study = optuna.create_study(directions=["minimize", "minimize"])
    base, chosen = rec(0, 100, 2.0, role="baseline"), rec(4, 60, 2.01)
    figures = {3: Verified(1.40, 1.30, 1.50, 0.6, 1.67, 1.66, 0.05, False, pairs=({},) * 3, method="schedule"),
               5: Verified(1.55, 1.52, 1.58, 0.6, 1.67, 1.66, 0.02, False, pairs=({},) * 5, method="schedule")}

    def never(job, batches):
        raise AssertionError("a stored verification is reused, not re-timed")

    for pairs in (3, 5):  # two exports: --verify-pairs 3, then 5
        study.set_user_attr(VERIFIED, {**study.user_attrs.get(VERIFIED, {}),
                                            f"4/0/{pairs}/schedule": figures[pairs].to_dict()})
        assert stored_verification(study, chosen, base) == figures[pairs]
    assert verified_speedup(study, chosen, base, never, 3) == figures[3]  # a third export, back to 3 pairs
    assert stored_verification(study, chosen, base) == figures[3]
    old = Verified(1.9, 1.8, 2.0, 0.6, 1.67, 1.66, 0.05, False, pairs=({},) * 3)  # the first-batches probe
    study.set_user_attr(VERIFIED, {**study.user_attrs[VERIFIED], "4/0/3": old.to_dict()})
    assert stored_verification(study, chosen, base) == figures[3]  # an old method's figure is not shown
