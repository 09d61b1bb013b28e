"""What a search run through the CLI does with its trials: constraints, failures, held
knobs, reused results.
"""

from __future__ import annotations

import json

import pytest

from cli_kit import (
    invoke,
    one_error_line,
    study_of,
    toy_plugins,  # noqa: F401  (an autouse fixture: the toy strategies)
    write_recipe,
)
from sttune.tuning.accounting import EXHAUSTED_AFTER, count_done


def test_constraint_excludes_trials_above_the_baseline_mae(tmp_path):
    recipe = write_recipe(tmp_path, search={"trials": 5, "seed": 0, "baseline_ladder": [0.5], "max_mae_increase": 0.0})
    assert invoke("search", str(recipe)).exit_code == 0
    study = study_of(tmp_path)
    base = study.trials[0].values[0]
    for t in study.trials:
        assert t.constraints["val_mae_increase"] == pytest.approx(t.values[0] / base - 1)
    chosen = json.loads((tmp_path / "run" / "best" / "synthetic.json").read_text())["chosen"]
    assert chosen["val_mae"] <= base + 1e-12


def test_failed_trials_are_reported_but_hold_no_slot(tmp_path):
    recipe = write_recipe(tmp_path, strategies=[{"name": "flaky"}], search={"trials": 4, "baseline_ladder": []})
    result = invoke("search", str(recipe), "--no-export")
    assert result.exit_code == 0, result.output
    trials = study_of(tmp_path).trials
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert failed and all("flaky: every other one" in t.user_attrs["sttune.fail_reason"] for t in failed)
    assert sum(t.state.name == "COMPLETE" for t in trials) == 4 == count_done(trials)
    assert any(line.split()[:2] == ["trial", str(failed[0].number)] and "failed: RuntimeError: flaky: every other one" in line
               for line in result.output.splitlines())
    report = json.loads(invoke("report", str(recipe), "--json", "--no-plots").stdout)["datasets"]["synthetic"]
    assert [n for n, _ in report["failed"]] == [t.number for t in failed]


def test_a_run_of_failures_stops_the_search_with_one_line_and_the_fixed_recipe_resumes(tmp_path):
    recipe = write_recipe(tmp_path, strategies=[{"name": "boom", "params": {}}],
                          search={"trials": 4, "baseline_ladder": [], "max_consecutive_failures": 3})
    result = invoke("search", str(recipe))
    assert result.exit_code == 2, result.output
    line = ("error: the last 3 trials failed (last: RuntimeError: boom inside transform). "
            "fix the recipe and run the same command again")
    assert [x for x in result.output.splitlines() if x.startswith("error:")] == [line]
    assert "Traceback" not in result.output and not (tmp_path / "run" / "best").exists()
    trials = study_of(tmp_path).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "FAIL", "FAIL"]  # the baseline, then exactly 3
    fixed = write_recipe(tmp_path, strategies=[{"name": "keep_first"}],
                         search={"trials": 4, "baseline_ladder": [], "max_consecutive_failures": 3})
    again = invoke("search", str(fixed), "--no-export")
    assert again.exit_code == 0, again.output
    trials = study_of(tmp_path).trials
    assert count_done(trials) == 4 and len(trials) == 7  # the 3 remaining trials ran; the failures are kept


def test_fixed_knobs_are_held_and_the_rest_searched(tmp_path):
    recipe = write_recipe(tmp_path, strategies=[{"name": "keep_first", "fixed": {"keep": 0.5}}],
                          search={"trials": 3, "baseline_ladder": []})
    assert invoke("search", str(recipe), "--no-export").exit_code == 0
    trials = study_of(tmp_path).trials
    assert all("keep_first.keep" not in t.params for t in trials)
    assert trials[1].user_attrs["sttune.job"]["strategies"] == [["keep_first", {"keep": 0.5}]]
    bad = write_recipe(tmp_path, strategies=[{"name": "keep_first", "fixed": {"speed": 2}}])
    assert "no param 'speed'" in one_error_line(invoke("search", str(bad)))


def test_a_held_value_that_suits_some_draws_is_left_to_the_trials(tmp_path):
    some = write_recipe(tmp_path, strategies=[{"name": "between", "fixed": {"lo": 0.5}}],
                        search={"trials": 2, "baseline_ladder": []})
    assert invoke("search", str(some), "--no-export").exit_code == 0
    (tmp_path / "none").mkdir()
    none = write_recipe(tmp_path / "none", strategies=[{"name": "between", "fixed": {"lo": 1.5}}])
    assert "lo must be below hi" in one_error_line(invoke("search", str(none)))


@pytest.mark.parametrize("reuse", [True, False])
def test_a_repeated_job_reuses_the_finished_result_and_costs_nothing(tmp_path, reuse):
    recipe = write_recipe(tmp_path, strategies=[{"name": "coin"}],
                          search={"trials": 6, "seed": 0, "baseline_ladder": [], "reuse_results": reuse})
    result = invoke("search", str(recipe), "--no-export")
    assert result.exit_code == 0, result.output
    trials = study_of(tmp_path).trials
    assert all(t.state.name == "COMPLETE" for t in trials)
    first_of: dict = {}
    for t in trials[1:]:  # 2 configurations: every later trial is a repeat
        key = t.params["coin.keep"]
        original = first_of.setdefault(key, t)
        if t is original:
            assert "sttune.reused_from" not in t.user_attrs
        elif reuse:
            assert t.user_attrs["sttune.reused_from"] == original.number
            assert t.values == original.values
            assert t.user_attrs["sttune.result"] == original.user_attrs["sttune.result"]
        else:
            assert "sttune.reused_from" not in t.user_attrs
    if reuse:  # repeats hold no slot: the search asks again until the space looks exhausted
        assert len(first_of) == 2 and count_done(trials) == 3 and len(trials) >= 3 + EXHAUSTED_AFTER
        assert all("sttune.reused_from" in t.user_attrs for t in trials[-EXHAUSTED_AFTER:])
        notes = [x for x in result.output.splitlines() if "exhausted" in x]
        assert notes == [f"the search space looks exhausted: the last {EXHAUSTED_AFTER} trials repeated finished "
                         "jobs (results reused); stopping with 3 new trials"]
    else:
        assert len(trials) == 6 == count_done(trials)
    report = json.loads(invoke("report", str(recipe), "--json", "--no-plots").stdout)["datasets"]["synthetic"]
    trained = [t for t in trials if "sttune.reused_from" not in t.user_attrs]
    assert report["search_cost"]["reused_trials"] == (len(trials) - len(first_of) - 1 if reuse else 0)
    assert report["search_cost"]["total_cost_seconds"] == pytest.approx(
        sum(t.user_attrs["sttune.result"]["cost_seconds"] for t in trained))
