"""Studies stored by earlier versions stay readable: tests/fixtures/v1_study.journal was written
by the code of 2026-12 (trial attrs layout 1: the job's model under "model", curve rows of 7
columns, no train loss) together with what that code read back from it (v1_study.json);
today's code must read the same trials, numbers and jobs, and match their jobs for reuse."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import optuna
import pytest

from sttune.outcome.report import search_cost, trial_rows
from sttune.outcome.select import cost_noise, select
from sttune.training.result import TrainResult
from sttune.tuning import keys, records as rec
from sttune.tuning.reuse import finished_twin

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXPECTED = json.loads((FIXTURES / "v1_study.json").read_text())


@pytest.fixture
def study(tmp_path) -> optuna.Study:
    path = tmp_path / "study.journal"
    shutil.copy(FIXTURES / "v1_study.journal", path)  # the committed file is never written to
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    return optuna.load_study(study_name=EXPECTED["study"], storage=storage)


def test_the_fixture_is_in_layout_1(study):
    job, result = study.trials[2].user_attrs[keys.JOB], study.trials[2].user_attrs[keys.RESULT]
    assert "model" in job and "model_name" not in job and "notes" not in job
    assert {len(row) for row in result["curve"]} == {7}


def test_trials_stored_in_layout_1_read_as_they_did(study):
    records = {r.number: r for r in map(rec.read_trial, study.trials)}
    assert [r.number for r in rec.finished_records(study)] == EXPECTED["finished"]
    assert set(records) == {int(n) for n in EXPECTED["trials"]}
    for number, want in EXPECTED["trials"].items():
        r = records[int(number)]
        assert (r.state, r.role, r.fraction, r.label) == (want["state"], want["role"], want["budget"], want["label"])
        # the same floats, not merely close ones: the result is read, not recomputed differently
        assert (r.val_mae, r.test_mae, r.cost_seconds, r.search_seconds, r.work_units) == (
            want["val_mae"], want["test_mae"], want["cost_seconds"], want["search_seconds"], want["work_units"])
        assert r.job.model_name == want["model"] and r.job.train.epochs == want["epochs"]
        assert [[s, p] for s, p in r.job.strategies] == want["strategies"]
        assert list(r.job.train.lr_decay_at) == want["lr_decay_at"]
        assert isinstance(r.result, TrainResult)
        assert [e.epoch for e in r.result.curve] == want["curve_epochs"]
        curve = r.result.curve
        assert all(e.window_nodes > 0 and e.batches > 0 for e in curve)  # columns 6-7 of a layout 1 row
        assert all(e.train_loss != e.train_loss for e in curve)  # not stored in layout 1: NaN
        assert all(e.charged_prepare_seconds == r.result.charged_prepare_seconds for e in curve)


def test_a_layout_1_result_round_trips_in_todays_layout(study):
    stored = study.trials[2].user_attrs[keys.RESULT]
    result = rec.result_from_attr(stored)
    again = rec.result_to_attr(result)
    assert again["cost_seconds"] == stored["cost_seconds"]
    assert [row[:7] for row in again["curve"]] == stored["curve"]  # today's rows extend layout 1's
    assert again["work"] == stored["work"]  # the work dict, as stored
    assert result.work is not None and result.work.units == stored["work"]["units"]
    assert rec.result_from_attr(json.loads(json.dumps(again))).val == result.val


def test_a_result_stored_before_work_was_counted_reads_and_stores_no_work(study):
    stored = {k: v for k, v in study.trials[2].user_attrs[keys.RESULT].items() if k != "work"}
    result = rec.result_from_attr(stored)
    assert result.work is None and rec.read_trial(study.trials[2]).work_units is not None
    assert rec.result_from_attr({**stored, "work": {}}).work is None
    assert rec.result_to_attr(result)["work"] == {}


def test_selection_and_the_report_run_on_a_layout_1_study(study):
    records = rec.finished_records(study)
    best = min(EXPECTED["trials"], key=lambda n: EXPECTED["trials"][n]["val_mae"])
    assert select(records, "min-mae", noise=cost_noise(records)).number == int(best)
    rows = trial_rows(study)
    assert sorted(row["trial"] for row in rows) == EXPECTED["finished"]  # the report orders by cost
    cost = search_cost(study)
    assert cost["total_cost_seconds"] == pytest.approx(sum(t["search_seconds"] for t in EXPECTED["trials"].values()))
    assert cost["total_device_seconds"] == cost["total_cost_seconds"]  # the schema-1 name, an alias in schema 2


def test_a_job_stored_in_layout_1_is_the_twin_of_the_same_job_asked_now(study):
    job = rec.read_trial(study.trials[3]).job
    twin = finished_twin(study, rec.job_to_attr(job), number=99)
    assert twin is not None and twin.number == 3


def test_a_study_from_before_december_2026_resumes_with_its_recipe_and_refuses_a_changed_one(study):
    """Such a study stored its recipe under ``sttune.recipe`` and no identity: the resume check
    reads that recipe (settings added to sttune since are not compared) and names a change."""
    from dataclasses import replace

    from sttune.recipe.schema import parse_dataclass
    from sttune.recipe.spec import Recipe
    from sttune.tuning.identity import StudyChanged, check_study, stored_identity

    plain = study.user_attrs[keys.RECIPE]
    assert keys.IDENTITY not in study.user_attrs
    assert stored_identity(study)["train"]["epochs"] == 2
    recipe = parse_dataclass(Recipe, plain)  # today's defaults fill the settings it lacks
    check_study(study, recipe, "synthetic")  # unchanged: resumes
    check_study(study, replace(recipe, train=replace(recipe.train, device="auto", eval_batch_size=7)), "synthetic")
    with pytest.raises(StudyChanged) as caught:
        check_study(study, replace(recipe, train=replace(recipe.train, epochs=3)), "synthetic")
    line = caught.value.one_line()
    assert "the training settings changed (train.epochs 2 → 3)" in line and "start a new study" in line
    assert "\n" not in line
