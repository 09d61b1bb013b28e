"""End-to-end CLI tests on tiny data: search → export → train, resume, determinism, Ctrl-C,
the export rules and the report, a budget.
"""

from __future__ import annotations

import json

import pytest
import yaml

from cli_kit import (
    invoke,
    study_of,
    toy_plugins,  # noqa: F401  (an autouse fixture: the toy strategies)
    write_recipe,
)
from sttune.outcome.select import NOISE_FLOOR


def test_search_export_then_train_replays_the_chosen_trial(tmp_path):
    recipe = write_recipe(tmp_path)
    result = invoke("search", str(recipe))
    assert result.exit_code == 0, result.output
    best = tmp_path / "run" / "best" / "synthetic.yaml"
    summary = json.loads((tmp_path / "run" / "best" / "synthetic.json").read_text())
    replay = invoke("train", str(best), "--json")
    assert replay.exit_code == 0, replay.output
    replayed = json.loads(replay.stdout.strip().splitlines()[-1])
    assert replayed["val_mae"] == pytest.approx(summary["chosen"]["val_mae"], abs=1e-6)
    assert summary["pareto_front"] and summary["baseline"]["role"] == "baseline"


def test_the_exported_speed_up_is_verified_and_never_above_its_work_ceiling(tmp_path):
    recipe = write_recipe(tmp_path, export={"rule": "fastest-within", "tolerance": 1.0, "verify_pairs": 2})
    result = invoke("search", str(recipe))
    assert result.exit_code == 0, result.output
    chosen = json.loads((tmp_path / "run" / "best" / "synthetic.json").read_text())["chosen"]
    low, high = chosen["speedup_interval"]
    assert chosen["speedup_verified"] and low <= chosen["speedup"] <= high
    assert 0 < chosen["work_fraction"] <= 1 and chosen["speedup_measured_in_search"] > 0
    assert chosen["speedup"] <= 1 / chosen["work_fraction"] + 1e-9  # no saving above the work it saved
    if chosen["role"] != "baseline" or chosen["budget"] < 1:  # re-timed in interleaved pairs
        assert len(chosen["verification"]["pairs"]) == 2 and chosen["verification"]["method"] == "schedule"
    assert f"[{low:.2f}, {high:.2f}]" in result.output
    header = (tmp_path / "run" / "best" / "synthetic.yaml").read_text()
    assert f"speed-up {chosen['speedup']:.2f}x [{low:.2f}, {high:.2f}]" in header
    again = invoke("export", str(recipe))  # the verification is kept on the study, not re-timed
    assert json.loads((tmp_path / "run" / "best" / "synthetic.json").read_text())["chosen"] == chosen, again.output
    rows = json.loads(invoke("report", str(recipe), "--json", "--no-plots").stdout)["datasets"]["synthetic"]["trials"]
    row = next(r for r in rows if r["chosen"])  # one figure everywhere: the report shows the export's
    assert (row["trial"], row["speedup"], row["speedup_interval"]) == (chosen["trial"], chosen["speedup"], [low, high])
    assert row["speedup_verified"] is chosen["speedup_verified"]


def test_baseline_ladder_comes_first_and_every_trial_stores_its_job(tmp_path):
    invoke("search", str(write_recipe(tmp_path)), "--no-export")
    trials = study_of(tmp_path).trials
    assert len(trials) == 5
    roles = [(t.user_attrs["sttune.role"], t.user_attrs["sttune.budget"]) for t in trials[:2]]
    assert roles == [("baseline", 1.0), ("baseline", 0.5)]
    assert all("sttune.job" in t.user_attrs and "sttune.result" in t.user_attrs for t in trials)
    assert all(set(t.params) == {"keep_first.keep"} for t in trials[2:])


def test_rerun_resumes_without_repeating_finished_trials(tmp_path):
    recipe = write_recipe(tmp_path)
    invoke("search", str(recipe), "--no-export")
    first = [(t.number, t.values) for t in study_of(tmp_path).trials]
    invoke("search", str(recipe), "--no-export")
    assert [(t.number, t.values) for t in study_of(tmp_path).trials] == first
    invoke("search", str(recipe), "--no-export", "--trials", "7")
    trials = study_of(tmp_path).trials
    assert len(trials) == 7 and [(t.number, t.values) for t in trials[:5]] == first
    baselines = [t for t in trials if t.user_attrs.get("sttune.role") == "baseline"]
    assert len(baselines) == 2  # the ladder is enqueued once


def test_same_seed_gives_the_same_trials(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        folder.mkdir()
        invoke("search", str(write_recipe(folder)), "--no-export")
    runs = [study_of(f).trials for f in (a, b)]
    assert [t.params for t in runs[0]] == [t.params for t in runs[1]]
    assert [t.values[0] for t in runs[0]] == pytest.approx([t.values[0] for t in runs[1]], abs=1e-9)


def test_ctrl_c_fails_the_running_trial_and_requeues_it(tmp_path):
    # one configuration to search (fixed params): the baseline, the 50% rung and it fill the 3 trials
    recipe = write_recipe(tmp_path, strategies=[{"name": "ctrl_c", "params": {}}], search={"trials": 3, "baseline_ladder": [0.5]})
    result = invoke("search", str(recipe), "--no-export")
    assert result.exit_code == 130 and "resume" in result.output
    study = study_of(tmp_path)
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE", "COMPLETE", "FAIL", "WAITING"]
    assert invoke("search", str(recipe)).exit_code == 0
    study = study_of(tmp_path)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE", "FAIL", "COMPLETE"]


def _knee_by_hand(maes: dict[int, float], costs: dict[int, float]) -> int:
    """The knee worked out here, apart from sttune.outcome.select: the non-dominated trials
    (a sweep by cost), each objective scaled to [0, 1] over them, the nearest to (0, 0)."""
    front, best = [], float("inf")
    for n in sorted(maes, key=lambda n: (costs[n], maes[n])):
        if maes[n] < best:
            front.append(n)
            best = maes[n]
    lo_m, hi_m = min(maes[n] for n in front), max(maes[n] for n in front)
    lo_c, hi_c = min(costs[n] for n in front), max(costs[n] for n in front)
    return min(front, key=lambda n: ((maes[n] - lo_m) / ((hi_m - lo_m) or 1)) ** 2
               + ((costs[n] - lo_c) / ((hi_c - lo_c) or 1)) ** 2)


def test_export_rules_and_report(tmp_path):
    recipe = write_recipe(tmp_path)
    searched = invoke("search", str(recipe), "--no-export")
    assert "synthetic: " in searched.output and "target readings" in searched.output  # the data's notes, once
    assert searched.output.count("are missing: readings of 0") == 1
    done = [t for t in study_of(tmp_path).trials if t.state.name == "COMPLETE"]
    maes = {t.number: t.user_attrs["sttune.result"]["val"]["mae"] for t in done}
    # the rules compare the trials' work priced at one unit cost (sttune.outcome.pricing): one model,
    # so the work itself ranks them, and no load can change the answer; ties within the noise floor
    costs = {t.number: t.user_attrs["sttune.result"]["work"]["units"] for t in done}
    best = min(maes.values())
    noise = NOISE_FLOOR
    within = [n for n in maes if maes[n] <= best * 1.01]
    cheapest = min(costs[n] for n in within)
    expected = {  # each rule's trial, from the stored results
        "knee": _knee_by_hand(maes, costs),
        "min-mae": min(maes, key=lambda n: (maes[n], costs[n])),
        # the cheapest within 1%, where costs within the noise of the cheapest count as equal
        "fastest-within": min((n for n in within if costs[n] <= cheapest * (1 + noise)), key=lambda n: (maes[n], costs[n])),
    }
    for rule, number in expected.items():
        result = invoke("export", str(tmp_path / "run"), "--rule", rule)
        assert result.exit_code == 0, result.output
        summary = json.loads((tmp_path / "run" / "best" / "synthetic.json").read_text())
        assert (summary["rule"], summary["chosen"]["trial"]) == (rule, number), (maes, costs)
        assert f"trial {number} of study" in (tmp_path / "run" / "best" / "synthetic.yaml").read_text()
    result = invoke("report", str(recipe), "--json", "--no-plots")
    rows = json.loads(result.stdout)["datasets"]["synthetic"]["trials"]
    assert len(rows) == 5 and any(r["pareto"] for r in rows)
    # the search stored the naive forecasts on the study; the report shows them
    stored = study_of(tmp_path).user_attrs["sttune.naive"]
    assert "last_value" in stored["scores"] and json.loads(result.stdout)["datasets"]["synthetic"]["naive"]["scores"] == stored["scores"]
    text = invoke("report", str(recipe), "--no-plots").output
    assert "synthetic naive forecasts (val / test MAE): zero" in text and "last_value" in text


def test_dataset_shorthand_and_train_json(tmp_path):
    path = tmp_path / "one.yaml"
    path.write_text(
        "dataset: {name: synthetic, params: {n_nodes: 6, n_days: 3, steps_per_day: 48}}\n"
        "model: {name: stid, params: {embed_dim: 8, n_layers: 1}}\n"
        "train: {epochs: 1, device: cpu}\n"
    )
    result = invoke("train", str(path), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["epochs_run"] == 1 and data["test"]["horizons"].keys() == {"3", "6", "12"}


def test_a_budget_in_baselines_stops_starting_trials_and_the_report_prices_the_search(tmp_path):
    # no trial count: the budget alone bounds the search; 1.5 baselines leave no room for a
    # strategy trial, estimated at the full baseline's cost before any has run
    recipe = write_recipe(tmp_path, search={"seed": 0, "baseline_ladder": []})
    result = invoke("search", str(recipe), "--budget", "1.5", "--no-export")
    assert result.exit_code == 0, result.output
    trials = [t for t in study_of(tmp_path).trials if "sttune.result" in t.user_attrs]
    assert [t.user_attrs.get("sttune.role") for t in trials] == ["baseline"]
    assert "budget reached: 1.00 of 1.5 baselines spent, " in result.output
    snapshot = yaml.safe_load((tmp_path / "run" / "recipe.yaml").read_text())["search"]
    assert (snapshot["budget"], snapshot["trials"]) == (1.5, None)  # a budget without `trials`: no count
    report = invoke("report", str(recipe), "--json", "--no-plots")
    data = json.loads(report.stdout)["datasets"]["synthetic"]
    assert data["search_cost_baselines"] == pytest.approx(1.0)
    assert data["break_even_retrainings"] is None  # the chosen config is the baseline: nothing saved
    text = invoke("report", str(recipe), "--no-plots").output
    assert "= 1.0 full baselines" in text and "never pays for itself" in text
