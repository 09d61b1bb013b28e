"""sttune.tuning.reuse: a trial whose whole job already finished takes that result."""

from __future__ import annotations

import optuna

from helpers import finish_trial, train_result
from sttune.recipe.settings import Protocol, TrainConfig
from sttune.recipe.spec import DatasetBlock
from sttune.training.jobs import Job
from sttune.tuning import keys, records as rec
from sttune.tuning.reuse import finished_twin, tell_reused

optuna.logging.set_verbosity(optuna.logging.WARNING)


def job_attr(ratio: float = 0.3, model: str = "stid", notes: tuple[str, ...] = ()) -> dict:
    return rec.job_to_attr(Job(DatasetBlock("synthetic"), Protocol(), model, {}, [("st_prune", {"ratio": ratio})],
                               TrainConfig(epochs=3, lr_decay_at=(0.5, 0.8)), notes))


JOB, OTHER = job_attr(), job_attr(0.4)
RESULT = rec.result_to_attr(train_result(2.0, 10.0, test_mae=2.5))


def add(study, state="COMPLETE", job=JOB, result=RESULT, values=(2.0, 10.0), constraints=None, reused=None):
    attrs = {keys.JOB: job, **({keys.RESULT: result} if result is not None else {}),
             **({keys.REUSED: reused} if reused is not None else {})}
    return finish_trial(study, state, attrs, values, constraints)


def test_the_earliest_complete_trial_with_a_result_for_the_same_job_is_the_twin():
    study = optuna.create_study(directions=["minimize", "minimize"])
    add(study, "PRUNED")  # 0: stopped early: its result is not the job's
    add(study, "FAIL")  # 1
    add(study, result=None)  # 2: out of memory: COMPLETE without a result
    add(study, job=OTHER)  # 3: another job
    add(study)  # 4: the twin
    add(study)  # 5: a later twin
    # the same job in layout 1 (stored before 2026-12: "model", no notes), keys in another order,
    # tuples for lists; and with notes (what the recipe said, not what the job does)
    layout_1 = {("model" if k == "model_name" else k): v for k, v in reversed(JOB.items()) if k != "notes"}
    layout_1["strategies"] = [("st_prune", {"ratio": 0.3})]
    assert finished_twin(study, layout_1, number=99).number == 4
    assert finished_twin(study, job_attr(notes=("trained with its defaults",)), number=99).number == 4
    assert finished_twin(study, JOB, number=4).number == 5  # never itself
    assert finished_twin(study, job_attr(model="stgcn"), number=99) is None
    assert finished_twin(study, {"model": "stid"}, number=99) is None  # not a job: matches nothing
    running = study.ask()
    running.set_user_attr(keys.JOB, OTHER)
    assert finished_twin(study, OTHER, number=running.number).number == 3


def test_tell_reused_copies_values_constraints_and_result_and_names_the_original():
    study = optuna.create_study(directions=["minimize", "minimize"])
    original = add(study, values=(2.0, 10.0), constraints={"val_mae_increase": 0.05})
    copy = study.ask()
    tell_reused(study, copy, study.trials[original])
    frozen = study.trials[copy.number]
    assert frozen.state.name == "COMPLETE" and frozen.values == [2.0, 10.0]
    assert frozen.constraints == {"val_mae_increase": 0.05}
    assert frozen.user_attrs[keys.RESULT] == RESULT and frozen.user_attrs[keys.REUSED] == original
    record = rec.read_trial(frozen)
    assert record.reused_from == original and record.feasible is False
    copy_of_copy = study.ask()  # a copy of a copy names the trial that trained
    tell_reused(study, copy_of_copy, frozen)
    assert study.trials[copy_of_copy.number].user_attrs[keys.REUSED] == original
