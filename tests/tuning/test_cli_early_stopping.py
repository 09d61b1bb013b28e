"""Early stopping in a search run through the CLI: epoch rungs, projected device time,
preparation checkpoints (the rule itself: tests/tuning/test_rungs.py).
"""

from __future__ import annotations

import json

import pytest

from cli_kit import (
    invoke,
    study_of,
    toy_plugins,  # noqa: F401  (an autouse fixture: the toy strategies)
    write_recipe,
)
from sttune.tuning.rungs import RungPolicy, should_stop


def test_early_stopping_prunes_dominated_trials_but_never_the_baseline(tmp_path):
    recipe = write_recipe(
        tmp_path, strategies=[{"name": "sabotage", "params": {}}],
        # CPU time: on a loaded machine the wall clock can make the baseline's epoch look dearer
        train={"epochs": 4, "batch_size": 32, "device": "cpu", "seed": 0, "cpu_clock": "process", "cpu_threads": 1},
        search={"trials": 3, "baseline_ladder": [0.5], "ladder": "trained", "predict": False, "shorten": False,
                "early_stopping": {"enabled": True, "first_rung": 1, "reduction_factor": 2, "min_trials": 2}},
    )
    assert invoke("search", str(recipe)).exit_code == 0
    trials = study_of(tmp_path).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE", "PRUNED"]
    assert {"sttune.rung.1", "sttune.rung.2"} <= set(trials[0].user_attrs)  # the baseline records rungs
    assert "sttune.rung.1" not in trials[1].user_attrs  # the half-budget ladder neither records nor stops
    pruned = trials[2]
    assert len(pruned.user_attrs["sttune.result"]["curve"]) == 1
    assert pruned.user_attrs["sttune.stopped_values"][0] == pytest.approx(pruned.user_attrs["sttune.result"]["val"]["mae"])
    report = json.loads(invoke("report", str(recipe), "--json", "--no-plots").stdout)["datasets"]["synthetic"]
    assert report["search_cost"]["total_cost_seconds"] == pytest.approx(
        sum(t.user_attrs["sttune.result"]["cost_seconds"] for t in trials))


def test_rung_points_project_device_time_by_the_strategy_plan(tmp_path):
    recipe = write_recipe(
        tmp_path, strategies=[{"name": "dynst", "params": {"s_final": 0.5, "end_frac": 0.5}}],
        train={"epochs": 4, "batch_size": 32, "device": "cpu", "seed": 0},
        search={"trials": 2, "seed": 0, "baseline_ladder": [], "predict": False, "shorten": False,
                "early_stopping": {"enabled": True, "first_rung": 1, "reduction_factor": 2, "min_trials": 50}},
    )
    assert invoke("search", str(recipe)).exit_code == 0
    baseline, dynst = study_of(tmp_path).trials
    for trial, plain in ((baseline, True), (dynst, False)):
        result = trial.user_attrs["sttune.result"]
        _, _, seconds, _, ahead = result["curve"][0][:5]
        spent = seconds + result["charged_prepare_seconds"]
        assert trial.user_attrs["sttune.rung.1"][1] == pytest.approx(spent + seconds * ahead)
        # the baseline's plan is the plain count; DynST's ramp makes its 3 epochs ahead cheaper
        assert (ahead == 3) if plain else (ahead < 2.5)


@pytest.mark.parametrize("isolation", ["inline", "subprocess"])
def test_early_stopping_stops_a_trial_at_a_preparation_checkpoint(tmp_path, isolation):
    recipe = write_recipe(
        tmp_path, strategies=[{"name": "checkpointed"}],
        search={"trials": 4, "seed": 0, "baseline_ladder": [], "predict": False, "shorten": False, "isolation": isolation, "reuse_results": False,
                # first rung 2 of 2 epochs: no epoch rung, only the preparation checkpoint
                "early_stopping": {"enabled": True, "first_rung": 2, "reduction_factor": 2, "min_trials": 2}},
    )
    assert invoke("search", str(recipe)).exit_code == 0
    trials = study_of(tmp_path).trials
    key = "sttune.rung.prepare.checkpointed.0"
    assert key not in trials[0].user_attrs  # the baseline prepares nothing
    assert all(key in t.user_attrs for t in trials[1:])
    for t in trials[1:]:
        result, point = t.user_attrs["sttune.result"], t.user_attrs[key]
        earlier = [u.user_attrs[key] for u in trials[1:t.number]]
        # the rule itself is tested in test_rungs.py; here: the search applies it at the checkpoint
        dominated = should_stop(point, earlier, RungPolicy(True, 2, 2.0, 2))
        assert (t.state.name == "PRUNED") == dominated, (t.number, point, earlier)
        if dominated:  # told with the checkpoint's val MAE (nothing trained) and the cost so far
            assert result["epochs_run"] == 0 and "preparation checkpoint 0" in result["stop_reason"]
            assert t.user_attrs["sttune.stopped_values"] == pytest.approx([point[0], result["cost_seconds"]])
        else:
            assert result["epochs_run"] == 2
    assert any(t.state.name == "PRUNED" for t in trials) and any(t.state.name == "COMPLETE" for t in trials[1:])
    report = json.loads(invoke("report", str(recipe), "--json", "--no-plots").stdout)["datasets"]["synthetic"]
    results = [t.user_attrs["sttune.result"] for t in trials]
    assert all(r["overhead_seconds"] > 0 for r in results[1:]) and results[0]["overhead_seconds"] == 0
    # the search pays for its listening; the trials' objectives do not
    assert report["search_cost"]["total_cost_seconds"] == pytest.approx(
        sum(r["cost_seconds"] + r["overhead_seconds"] for r in results))
    rows = report["trials"]
    assert {r["trial"]: r["stopped_at"] for r in rows} == {
        t.number: "preparation" if t.state.name == "PRUNED" else None for t in trials}
