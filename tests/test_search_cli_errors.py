"""The CLI's user errors: one line, exit 2, no traceback, no trial lost.
"""

from __future__ import annotations

import optuna
import pytest

from cli_kit import (
    invoke,
    one_error_line,
    toy_plugins,  # noqa: F401  (an autouse fixture: the toy strategies)
    write_recipe,
)


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


def test_a_held_value_no_trial_could_use_fails_before_the_first_trial(tmp_path):
    bad = write_recipe(tmp_path, strategies=[{"name": "keep_first", "fixed": {"keep": 5}}])
    line = one_error_line(invoke("search", str(bad)))
    assert "keep must be in (0, 1], got 5" in line and "fixed" in line
    assert not (tmp_path / "run" / "study.journal").exists()  # no trial ran, none was lost


@pytest.mark.parametrize("value", ["0", "-1", "inf", "nan"])
def test_a_bad_budget_option_is_one_line(tmp_path, value):
    message = one_error_line(invoke("search", str(write_recipe(tmp_path)), f"--budget={value}"))
    assert "--budget must be a finite number above 0" in message, message
