"""Importances per strategy, over its own trials, and only with enough of them."""

from __future__ import annotations

import optuna
from optuna.distributions import FloatDistribution

from helpers import train_result
from sttune.outcome.report import MIN_IMPORTANCE_TRIALS, importances
from sttune.recipe.settings import Protocol, TrainConfig
from sttune.recipe.spec import DatasetBlock
from sttune.training.jobs import Job
from sttune.tuning import keys, records as rec
from sttune.tuning.keys import ROLE

optuna.logging.set_verbosity(optuna.logging.WARNING)


def add(study, strategy: str | None, params: dict[str, float], val_mae: float) -> None:
    if params:
        study.enqueue_trial(params)  # the trial takes exactly these values
    trial = study.ask({name: FloatDistribution(0.0, 1.0) for name in params})
    assert trial.params == params
    job = Job(DatasetBlock("synthetic"), Protocol(), "stid", {}, [(strategy, params)] if strategy else [], TrainConfig())
    trial.set_user_attr(keys.JOB, rec.job_to_attr(job))
    trial.set_user_attr(keys.RESULT, rec.result_to_attr(train_result(val_mae, 1.0, test_mae=val_mae)))
    if strategy is None:
        trial.set_user_attr(ROLE, "baseline")
    study.tell(trial, [val_mae, 1.0])


def test_a_strategy_with_too_few_trials_is_too_early_and_one_with_enough_is_ranked_on_its_own():
    study = optuna.create_study(directions=["minimize", "minimize"])
    add(study, None, {}, 5.0)
    for i in range(MIN_IMPORTANCE_TRIALS):  # dynst: "a" decides val MAE, "b" is noise
        a, b = i / MIN_IMPORTANCE_TRIALS, (i * 7 % 10) / 10
        add(study, "dynst", {"dynst.a": a, "dynst.b": b}, 3.0 + 2 * a + 0.01 * b)
    for i in range(MIN_IMPORTANCE_TRIALS - 1):  # st_prune: one trial short
        add(study, "st_prune", {"st_prune.ratio": i / 10}, 4.0 - i / 10)
    ranks = importances(study)
    assert set(ranks) == {"dynst", "st_prune"}  # the baseline is no strategy
    assert ranks["st_prune"] == {"trials": MIN_IMPORTANCE_TRIALS - 1, "needed": MIN_IMPORTANCE_TRIALS,
                                 "importances": None,
                                 "note": f"too early: {MIN_IMPORTANCE_TRIALS - 1} of the {MIN_IMPORTANCE_TRIALS} "
                                         "completed trials needed to rank its params"}
    dynst = ranks["dynst"]
    assert dynst["trials"] == MIN_IMPORTANCE_TRIALS and dynst["note"] is None
    assert set(dynst["importances"]) == {"dynst.a", "dynst.b"}  # its own params only, not st_prune's
    assert dynst["importances"]["dynst.a"] > dynst["importances"]["dynst.b"]
