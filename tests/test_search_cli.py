"""End-to-end CLI tests on tiny data: search → export → train, resume, determinism, errors."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
import yaml
from typer.testing import CliRunner

from plugin_kit import install_plugins, uninstall
from sttune.cli import app
from sttune.search.records import finished_records
from sttune.search.rungs import RungPolicy, should_stop
from sttune.search.select import cost_noise
from sttune.search.study import EXHAUSTED_AFTER, count_done

runner = CliRunner()

TOY = '''
import torch
from sttune.api import Strategy

class KeepFirst(Strategy):
    """Visits only the first `keep` fraction of the windows (a toy search space)."""
    name = "keep_first"

    def __init__(self, keep: float = 1.0) -> None:
        if not 0 < keep <= 1:
            raise ValueError(f"keep must be in (0, 1], got {keep}")
        self.keep = keep

    @classmethod
    def space(cls, trial):
        return {"keep": trial.suggest_float("keep_first.keep", 0.3, 1.0)}

    def select(self, ctx):
        return torch.arange(max(1, int(self.keep * ctx.train_size)))

class Coin(KeepFirst):
    """Two configurations only: a search of more trials must propose one again."""
    name = "coin"

    @classmethod
    def space(cls, trial):
        return {"keep": trial.suggest_categorical("coin.keep", [0.5, 1.0])}

class Boom(Strategy):
    name = "boom"

    def transform(self, batch, ctx):
        raise RuntimeError("boom inside transform")

class Sabotage(Strategy):
    """Learns nothing and wastes time: every rung should stop it."""
    name = "sabotage"

    def weight(self, loss, batch, ctx):
        return loss * 0.0

    def on_epoch_end(self, ctx):
        import time
        start = time.process_time()  # CPU work, so wall and process clocks both see it
        while time.process_time() - start < 0.2:
            pass

class Checkpointed(Strategy):
    """Reports a fixed-quality preparation checkpoint: the search's stops are deterministic."""
    name = "checkpointed"

    def __init__(self, quality: float = 1.0) -> None:
        self.quality = quality

    @classmethod
    def space(cls, trial):
        return {"quality": trial.suggest_categorical("checkpointed.quality", [1.0, 2.0, 3.0, 4.0])}

    def prepare(self, train, ctx):
        if ctx.listening:
            with ctx.search_overhead():  # the score a real strategy would compute for the listener
                sum(i * i for i in range(200_000))
        ctx.checkpoint(10.0 + self.quality, 1.0)
        return train

class Between(Strategy):
    """Two ordered knobs: a held `lo` may suit some draws of `hi` and not others."""
    name = "between"

    def __init__(self, lo: float = 0.0, hi: float = 1.0) -> None:
        if not lo < hi:
            raise ValueError(f"lo must be below hi, got {lo} >= {hi}")
        self.lo, self.hi = lo, hi

    @classmethod
    def space(cls, trial):
        return {"lo": trial.suggest_float("between.lo", 0.0, 0.2), "hi": trial.suggest_float("between.hi", 0.2, 1.0)}

class Flaky(KeepFirst):
    """Every other one fails (counted per process: trials run inline)."""
    name = "flaky"
    made = 0

    def prepare(self, train, ctx):
        Flaky.made += 1
        if Flaky.made % 2:
            raise RuntimeError("flaky: every other one")
        return train

class CtrlC(Strategy):
    name = "ctrl_c"
    fired = False

    def on_epoch_end(self, ctx):
        if not CtrlC.fired:
            CtrlC.fired = True
            raise KeyboardInterrupt
'''


@pytest.fixture(autouse=True)
def toy_plugins(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    targets = {n: f"toy_strategies:{c}" for n, c in (("keep_first", "KeepFirst"), ("coin", "Coin"), ("boom", "Boom"), ("ctrl_c", "CtrlC"), ("flaky", "Flaky"), ("sabotage", "Sabotage"), ("checkpointed", "Checkpointed"), ("between", "Between"))}
    install_plugins(root, "toy_strategies", TOY, {"strategy": targets})
    yield
    uninstall(root, "toy_strategies")


def write_recipe(folder: Path, **overrides) -> Path:
    recipe = {
        "name": "tiny",
        "datasets": [{"name": "synthetic", "params": {"n_nodes": 8, "n_days": 4, "steps_per_day": 48, "seed": 1}}],
        "model": {"name": "stid", "params": {"embed_dim": 8, "n_layers": 1}},
        "train": {"epochs": 2, "batch_size": 32, "device": "cpu", "seed": 0},
        "strategies": [{"name": "keep_first"}],
        "search": {"trials": 5, "seed": 0, "baseline_ladder": [0.5]},
        "run_dir": str(folder / "run"),
        "cache_dir": str(folder / "cache"),
    }
    for key, value in overrides.items():
        recipe[key] = value
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def study_of(folder: Path, name: str = "tiny:synthetic") -> optuna.Study:
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(folder / "run" / "study.journal")))
    return optuna.load_study(study_name=name, storage=storage)


def invoke(*args: str):
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


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
        assert len(chosen["verification"]["pairs"]) == 2
    assert f"[{low:.2f}, {high:.2f}]" in result.output
    header = (tmp_path / "run" / "best" / "synthetic.yaml").read_text()
    assert f"speed-up {chosen['speedup']:.2f}x [{low:.2f}, {high:.2f}]" in header
    again = invoke("export", str(recipe))  # the verification is kept on the study, not re-timed
    assert json.loads((tmp_path / "run" / "best" / "synthetic.json").read_text())["chosen"] == chosen, again.output


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
    """The knee worked out here, apart from sttune.search.select: the non-dominated trials
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
    costs = {t.number: t.user_attrs["sttune.result"]["cost_seconds"] for t in done}
    best = min(maes.values())
    noise = cost_noise([r for r in finished_records(study_of(tmp_path)) if r.state == "COMPLETE"])
    within = [n for n in maes if maes[n] <= best * 1.01]
    cheapest = min(costs[n] for n in within)
    expected = {  # each rule's trial, from the stored results (costs are measured, so computed here)
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
    assert "synthetic naive forecasts (val / test MAE): last_value" in text


def one_error_line(result) -> str:
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return " ".join(lines)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("datasets: [\n", "malformed YAML"),
        ("", "is empty"),
        ("- a\n- b\n", "must be a mapping"),
        ("datasets: [{name: synthetic}]\nmodel: {name: stid}\nbogus: 1\n", "bogus: unknown key"),
        ("datasets: [{name: synthetic}]\nmodel: {name: stid}\ntrain: {epochs: ten}\n", "train.epochs: expected an integer"),
        ("datasets: [{name: synthetic}]\nmodel: {name: stid}\ntrain: {epochs: -3}\n", "train.epochs: must be at least 1"),
        ("datasets: [{name: synthetic}]\nmodel: {name: stid}\nsearch: {trials: 0}\n", "search.trials: must be at least 1"),
        ("datasets: [{name: synthetic}]\nmodel: {name: stid}\nsearch: {budget: 0}\n",
         "search.budget: must be a finite number above 0, got 0"),
        ("datasets: [{name: synthetic}]\nmodel: {name: stid}\nsearch: {budget: .inf}\n",
         "search.budget: must be a finite number, got inf"),
        ("datasets: [{name: synthetic}]\nmodel: {name: stid}\nsearch: {budget: five}\n", "search.budget: expected a number"),
        ("datasets: [{name: synthetic}]\nmodel: {name: stid}\nsearch: {max_consecutive_failures: 0}\n",
         "search.max_consecutive_failures: must be at least 1"),
        ("datasets: [{name: synthetic}]\nmodel: {name: nosuchmodel}\n", "unknown model 'nosuchmodel'"),
        ("datasets: [{name: synthetic}]\nmodel: {name: stid}\nstrategies: [{name: nope}]\n", "unknown strategy 'nope'"),
        ("datasets: [{name: synthetic, params: {n_nodes: -1}}]\nmodel: {name: stid}\n", "n_nodes"),
        ("datasets: [{name: synthetic, params: {colour: red}}]\nmodel: {name: stid}\n", "colour"),
        ("datasets: [{name: synthetic}]\nmodel: {name: stid}\nsearch: {objectives: [device_seconds]}\n",
         "start with [val_mae, device_seconds]"),
        ("datasets: [{name: synthetic}]\nmodel: {choices: [stid], params: {embed_dim: 8}}\n", "model.params"),
        ("datasets: [{name: synthetic}]\nmodel: {name: stid}\nstrategies: [{name: keep_first}]\nsearch: {trials: 5}\n",
         "leaving none for the strategies"),
    ],
)
def test_bad_recipes_give_one_line_and_exit_2(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    message = one_error_line(invoke("search", str(path), "--run-dir", str(tmp_path / "run")))
    assert expected in message, message
    if expected not in CHECKED_AFTER_LOADING:  # the recipe's own schema errors name the file
        assert "bad.yaml" in message, message


# found once the recipe has loaded (plugins, dataset params, the trial budget): the line names
# the model, strategy, param or count, not the recipe file
CHECKED_AFTER_LOADING = {"unknown model 'nosuchmodel'", "unknown strategy 'nope'", "n_nodes", "colour",
                         "leaving none for the strategies"}


def test_export_before_any_trial_finished_is_a_user_error(tmp_path):
    assert "no run folder or recipe" in one_error_line(invoke("export", str(tmp_path / "nowhere")))
    recipe = write_recipe(tmp_path)
    assert "no study" in one_error_line(invoke("export", str(recipe)))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "recipe.yaml").write_text(recipe.read_text())
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "run" / "study.journal")))
    study = optuna.create_study(storage=storage, study_name="tiny:synthetic", directions=["minimize"] * 2)
    study.ask()  # a trial that never finished
    assert "no trial has finished yet" in one_error_line(invoke("export", str(tmp_path / "run")))


def test_unwritable_run_folder_is_a_user_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # works as root too, unlike chmod
    recipe = write_recipe(tmp_path, run_dir=str(blocker / "run"))
    message = one_error_line(invoke("search", str(recipe)))
    assert "cannot create the run folder" in message


def test_early_stopping_prunes_dominated_trials_but_never_the_baseline(tmp_path):
    recipe = write_recipe(
        tmp_path, strategies=[{"name": "sabotage", "params": {}}],
        # CPU time: on a loaded machine the wall clock can make the baseline's epoch look dearer
        train={"epochs": 4, "batch_size": 32, "device": "cpu", "seed": 0, "cpu_clock": "process", "cpu_threads": 1},
        search={"trials": 3, "baseline_ladder": [0.5],
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
    assert report["search_cost"]["total_device_seconds"] == pytest.approx(
        sum(t.user_attrs["sttune.result"]["cost_seconds"] for t in trials))


def test_rung_points_project_device_time_by_the_strategy_plan(tmp_path):
    recipe = write_recipe(
        tmp_path, strategies=[{"name": "dynst", "params": {"s_final": 0.5, "end_frac": 0.5}}],
        train={"epochs": 4, "batch_size": 32, "device": "cpu", "seed": 0},
        search={"trials": 2, "seed": 0, "baseline_ladder": [],
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
        search={"trials": 4, "seed": 0, "baseline_ladder": [], "isolation": isolation, "reuse_results": False,
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
    assert report["search_cost"]["total_device_seconds"] == pytest.approx(
        sum(r["cost_seconds"] + r["overhead_seconds"] for r in results))
    rows = report["trials"]
    assert {r["trial"]: r["stopped_at"] for r in rows} == {
        t.number: "preparation" if t.state.name == "PRUNED" else None for t in trials}


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


def test_fixed_knobs_are_held_and_the_rest_searched(tmp_path):
    recipe = write_recipe(tmp_path, strategies=[{"name": "keep_first", "fixed": {"keep": 0.5}}],
                          search={"trials": 3, "baseline_ladder": []})
    assert invoke("search", str(recipe), "--no-export").exit_code == 0
    trials = study_of(tmp_path).trials
    assert all("keep_first.keep" not in t.params for t in trials)
    assert trials[1].user_attrs["sttune.job"]["strategies"] == [["keep_first", {"keep": 0.5}]]
    bad = write_recipe(tmp_path, strategies=[{"name": "keep_first", "fixed": {"speed": 2}}])
    assert "no param 'speed'" in one_error_line(invoke("search", str(bad)))


def test_a_held_value_no_trial_could_use_fails_before_the_first_trial(tmp_path):
    bad = write_recipe(tmp_path, strategies=[{"name": "keep_first", "fixed": {"keep": 5}}])
    line = one_error_line(invoke("search", str(bad)))
    assert "keep must be in (0, 1], got 5" in line and "fixed" in line
    assert not (tmp_path / "run" / "study.journal").exists()  # no trial ran, none was lost


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
    assert report["search_cost"]["total_device_seconds"] == pytest.approx(
        sum(t.user_attrs["sttune.result"]["cost_seconds"] for t in trained))


def test_a_budget_in_baselines_stops_starting_trials_and_the_report_prices_the_search(tmp_path):
    # no trial count: the budget alone bounds the search; 1.5 baselines leave no room for a
    # strategy trial, estimated at the full baseline's cost before any has run
    recipe = write_recipe(tmp_path, search={"seed": 0, "baseline_ladder": []})
    result = invoke("search", str(recipe), "--budget", "1.5", "--no-export")
    assert result.exit_code == 0, result.output
    trials = study_of(tmp_path).trials
    assert [t.user_attrs.get("sttune.role") for t in trials] == ["baseline"]
    assert "budget reached: 1.00 of 1.5 baselines spent and the next trial would take about 1.00 more" in result.output
    snapshot = yaml.safe_load((tmp_path / "run" / "recipe.yaml").read_text())["search"]
    assert (snapshot["budget"], snapshot["trials"]) == (1.5, None)  # a budget without `trials`: no count
    report = invoke("report", str(recipe), "--json", "--no-plots")
    data = json.loads(report.stdout)["datasets"]["synthetic"]
    assert data["search_cost_baselines"] == pytest.approx(1.0)
    assert data["break_even_retrainings"] is None  # the chosen config is the baseline: nothing saved
    text = invoke("report", str(recipe), "--no-plots").output
    assert "= 1.0 full baselines" in text and "never pays for itself" in text


@pytest.mark.parametrize("value", ["0", "-1", "inf", "nan"])
def test_a_bad_budget_option_is_one_line(tmp_path, value):
    message = one_error_line(invoke("search", str(write_recipe(tmp_path)), f"--budget={value}"))
    assert "--budget must be a finite number above 0" in message, message
