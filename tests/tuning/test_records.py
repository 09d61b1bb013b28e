"""sttune.tuning.records: what a trial stores on itself, and reading it back."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from helpers import finish_trial, train_result, trial_record
from sttune.recipe.settings import Protocol, TrainConfig
from sttune.recipe.spec import DatasetBlock
from sttune.training.jobs import Job
from sttune.tuning import keys, records as rec
from sttune.tuning.keys import FRACTION, ROLE

optuna.logging.set_verbosity(optuna.logging.WARNING)

JOB = Job(
    DatasetBlock("synthetic", {"n_nodes": 8}, id="syn8"), Protocol(in_len=6, out_len=3), "stid",
    {"embed_dim": 8}, [("st_prune", {"keep": 0.5}), ("dynst", {"warmup": 2})],
    TrainConfig(epochs=3, lr=0.01, lr_decay_at=(0.3, 0.9), device="cpu"),
)


def journal_study(tmp_path: Path, name: str = "s") -> optuna.Study:
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / "s.journal")))
    return optuna.create_study(storage=storage, study_name=name, directions=["minimize", "minimize"], load_if_exists=True)


def test_job_round_trips_through_json_and_a_journal_file(tmp_path):
    attr = rec.job_to_attr(JOB)
    assert rec.job_from_attr(json.loads(json.dumps(attr))) == JOB  # tuples come back as tuples
    study = journal_study(tmp_path)
    trial = study.ask()
    trial.set_user_attr(keys.JOB, attr)
    study.tell(trial, [1.0, 2.0])
    reread = journal_study(tmp_path).trials[0]  # a second storage object reads the file again
    assert rec.job_from_attr(reread.user_attrs[keys.JOB]) == JOB
    assert rec.read_trial(reread).job == JOB


def test_result_attr_keeps_the_summary_and_the_charged_cost():
    result = train_result(2.5, 12.0, test_mae=3.5, epochs_run=3, charged_prepare_seconds=4.0)
    attr = rec.result_to_attr(result)
    assert attr["val"]["mae"] == 2.5 and attr["test"]["mae"] == 3.5
    assert attr["cost_seconds"] == pytest.approx(16.0)  # training + charged preparation
    # one short row per epoch (CURVE_COLUMNS), the train loss and extra work last
    assert attr["curve"] == [[e, 2.5, pytest.approx(12.0 * (e + 1) / 3), 10, None, 0, 0, 1.0, 0] for e in range(3)]
    assert json.loads(json.dumps(attr)) == attr  # JSON-ready
    back = rec.result_from_attr(json.loads(json.dumps(attr)))
    assert back == result  # every field, the curve's charged preparation included, comes back
    record = rec.TrialRecord(0, "COMPLETE", "search", 1.0, JOB, back, None)
    assert (record.val_mae, record.test_mae, record.cost_seconds) == (2.5, 3.5, pytest.approx(16.0))


def test_record_without_result_reads_nan_and_search_seconds_adds_overhead():
    empty = rec.TrialRecord(0, "FAIL", "search", 1.0, None, None, "boom")
    assert all(v != v for v in (empty.val_mae, empty.test_mae, empty.cost_seconds, empty.search_seconds))
    full = rec.TrialRecord(1, "COMPLETE", "search", 1.0, JOB,
                           train_result(1.0, 4.0, charged_prepare_seconds=1.0, overhead_seconds=2.0), None)
    assert full.search_seconds == 7.0 and full.cost_seconds == 5.0


def test_labels():
    assert rec.TrialRecord(0, "COMPLETE", "baseline", 1.0, JOB, None, None).label == "baseline"
    assert rec.TrialRecord(0, "COMPLETE", "baseline", 0.25, JOB, None, None).label == "baseline 25%"
    assert rec.TrialRecord(0, "COMPLETE", "search", 1.0, JOB, None, None).label == "st_prune+dynst (stid)"
    plain = Job(JOB.dataset, JOB.protocol, "stgcn", {}, [], JOB.train)
    assert rec.TrialRecord(0, "COMPLETE", "search", 1.0, plain, None, None).label == "plain (stgcn)"
    assert rec.TrialRecord(0, "FAIL", "search", 1.0, None, None, None).label == "?"


def test_read_trial_and_finished_records_on_a_study():
    study = optuna.create_study(directions=["minimize", "minimize"])
    result = rec.result_to_attr(train_result(2.0, 10.0))
    job = rec.job_to_attr(JOB)
    finish_trial(study, "COMPLETE", {keys.JOB: job})  # 0: no result -> not a finished record
    finish_trial(study, "COMPLETE", {keys.JOB: job, keys.RESULT: result, ROLE: "baseline", FRACTION: 0.5})  # 1
    finish_trial(study, "PRUNED", {keys.JOB: job, keys.RESULT: result})  # 2
    finish_trial(study, "FAIL", {keys.JOB: job, keys.RESULT: result, keys.REASON: "boom"})  # 3: failed
    finish_trial(study, "COMPLETE", {keys.JOB: job, keys.RESULT: result, keys.REUSED: 1},
            constraints={"val_mae_increase": 0.2})  # 4: infeasible, reused
    finish_trial(study, "COMPLETE", {keys.RESULT: result}, constraints={"val_mae_increase": 0.0})  # 5: feasible at 0
    records = rec.finished_records(study)
    assert [r.number for r in records] == [1, 2, 4, 5]
    one, two, four, five = records
    assert (one.role, one.fraction, one.state, one.feasible) == ("baseline", 0.5, "COMPLETE", True)
    assert (two.role, two.fraction, two.state) == ("search", 1.0, "PRUNED")
    assert four.feasible is False and four.reused_from == 1 and four.job == JOB
    assert five.feasible is True and five.job is None
    failed = rec.read_trial(study.trials[3])
    assert failed.state == "FAIL" and failed.reason == "boom"


def test_full_baseline_is_the_first_complete_full_budget_baseline():
    def r(n, role, fraction, state="COMPLETE"):
        return trial_record(n, 1.0, 1.0, test_mae=2.0, role=role, fraction=fraction, state=state, job=JOB)

    assert rec.full_baseline([]) is None
    assert rec.full_baseline([r(0, "baseline", 0.5), r(1, "search", 1.0)]) is None
    assert rec.full_baseline([r(0, "baseline", 1.0, "PRUNED")]) is None
    assert rec.full_baseline([r(0, "baseline", 0.5), r(1, "baseline", 1.0), r(2, "baseline", 1.0)]).number == 1


def test_a_study_is_labelled_by_its_dataset_or_else_its_name():
    study = optuna.create_study(study_name="recipe:syn8")
    assert rec.dataset_label(study) == "recipe:syn8"
    study.set_user_attr(keys.DATASET, "syn8")
    assert rec.dataset_label(study) == "syn8"
