"""Resuming a study: what a resume says (sttune.tuning.runs.resume_lines) and what it refuses
(sttune.tuning.identity: a change that makes earlier trials incomparable), including studies
stored before those parts of their identity were compared."""

from __future__ import annotations

from dataclasses import replace

import optuna
import pytest

from helpers import train_result
from sttune.recipe.schema import to_plain
from sttune.recipe.settings import Protocol
from sttune.recipe.spec import ModelBlock
from sttune.tuning import keys, tell
from sttune.tuning.identity import StudyChanged, check_study, identity, recipe_identity
from sttune.tuning.runs import Run, resume_lines
from sttune.tuning.storage import open_study, search_storage, study_name
from study_kit import recipe

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _study(r, **attrs):
    study = optuna.create_study(directions=["minimize", "minimize"])
    for key, value in attrs.items():
        study.set_user_attr(key, value)
    return study


@pytest.mark.parametrize(("change", "said"), [
    (lambda r: replace(r, train=replace(r.train, epochs=3)), "the training settings changed (train.epochs 20 → 3)"),
    (lambda r: replace(r, train=replace(r.train, batch_size=8)), "train.batch_size 64 → 8"),
    (lambda r: replace(r, train=replace(r.train, lr=0.01)), "train.lr 0.002 → 0.01"),
    (lambda r: replace(r, train=replace(r.train, seed=1)), "train.seed 0 → 1"),
    (lambda r: replace(r, model=ModelBlock(name="stid", params={"embed_dim": 8})),
     "the model changed (model.params.embed_dim unset → 8)"),
    (lambda r: replace(r, model=ModelBlock(name="gwnet")), "model.name \"stid\" → \"gwnet\""),
    (lambda r: replace(r, protocol=Protocol(out_len=6)), "the protocol changed (protocol.out_len 12 → 6)"),
    (lambda r: replace(r, protocol=Protocol(residual="seasonal")), "protocol.residual \"none\" → \"seasonal\""),
], ids=["epochs", "batch", "lr", "seed", "model-params", "model", "protocol", "residual"])
def test_a_change_that_makes_earlier_trials_incomparable_is_refused_in_one_line(change, said):
    r = recipe()
    study = _study(r, **{keys.IDENTITY: recipe_identity(r, "synthetic")})
    check_study(study, r, "synthetic")
    with pytest.raises(StudyChanged) as caught:
        check_study(study, change(r), "synthetic")
    line = caught.value.one_line()
    assert said in line and "\n" not in line
    assert "start a new study (another --run-dir, or another recipe `name`)" in line


def test_free_settings_and_more_trials_resume():
    r = recipe()
    study = _study(r, **{keys.IDENTITY: recipe_identity(r, "synthetic")})
    changed = replace(r, train=replace(r.train, device="cpu", eval_batch_size=7),
                      search=replace(r.search, trials=50, timeout_minutes=5.0))
    check_study(study, changed, "synthetic")


def test_a_study_whose_identity_predates_the_settings_is_checked_against_its_stored_recipe():
    r = recipe()
    old_identity = {k: v for k, v in recipe_identity(r, "synthetic").items() if k in ("dataset", "objectives", "strategies")}
    plain = to_plain(r)
    del plain["train"]["val_every"], plain["protocol"]["residual"]  # settings its sttune did not have yet
    study = _study(r, **{keys.IDENTITY: old_identity, keys.RECIPE: plain, keys.DATASET: "synthetic"})
    check_study(study, replace(r, train=replace(r.train, val_every=2), protocol=Protocol(residual="seasonal")),
                "synthetic")  # not stored: not compared
    with pytest.raises(StudyChanged, match="train.epochs 20 → 3"):
        check_study(study, replace(r, train=replace(r.train, epochs=3)), "synthetic")
    assert identity(plain, "synthetic")["train"]["epochs"] == 20


def test_resume_lines_count_done_and_requeued_trials(tmp_path):
    r = replace(recipe(trials=6), run_dir=str(tmp_path))
    run = Run(tmp_path, r, "unit")
    assert resume_lines(run) == []  # nothing stored yet
    study = open_study(search_storage(r.search, tmp_path), study_name("unit", "synthetic"), 2)
    for _ in range(2):
        tell.tell_result(study, study.ask(), train_result(1.0, 1.0), r)
    tell.tell_interrupted(study, study.ask())  # failed and queued again
    assert resume_lines(run) == ["resuming study unit:synthetic: 2 of 6 trials done, 1 re-queued"]
    assert resume_lines(run, trials=2) == ["resuming study unit:synthetic: 2 of 2 trials done, 1 re-queued (its trial "
                                           "count is reached: nothing left to run; raise --trials to go on)"]
