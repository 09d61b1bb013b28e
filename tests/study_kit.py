"""Shared builders of the study tests (sttune.tuning.setup, accounting, tell, study): trials driven with ``study.ask()`` /
``study.tell()`` on in-memory storage, nothing trained.
"""

from __future__ import annotations

from pathlib import Path

import optuna

from sttune.recipe.spec import DatasetBlock, ModelBlock, Recipe, SearchConfig, StrategyBlock
from sttune.tuning import keys, setup
from sttune.tuning.events import NullEvents

optuna.logging.set_verbosity(optuna.logging.WARNING)


COMPLETE, FAIL, PRUNED = optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL, optuna.trial.TrialState.PRUNED


def recipe(trials=5, ladder=(0.25, 0.5), strategies=("st_prune",), limit=None, **search) -> Recipe:
    # the search's mechanics on a trained ladder, every sampled trial trained (the derived ladder
    # and the skipping of hopeless candidates: tests/tuning/test_cheap_search.py)
    search = {"ladder": "trained", "predict": False, "shorten": False, **search}
    return Recipe(
        datasets=[DatasetBlock("synthetic")], model=ModelBlock(name="stid"),
        strategies=[StrategyBlock(s) for s in strategies],
        search=SearchConfig(trials=trials, baseline_ladder=list(ladder), max_mae_increase=limit, **search),
        name="unit",
    )


def plan(r: Recipe, tmp_path: Path, trials="same") -> setup.StudyPlan:
    return setup.StudyPlan(r, "unit", r.datasets[0], optuna.storages.InMemoryStorage(), tmp_path,
                        r.search.trials if trials == "same" else trials, None)


def new_study() -> optuna.Study:
    return optuna.create_study(directions=["minimize", "minimize"])


def finish(study: optuna.Study, state=COMPLETE, reason: str | None = None) -> optuna.Trial:
    trial = study.ask()
    if reason is not None:
        trial.set_user_attr(keys.REASON, reason)
    study.tell(trial, [1.0, 1.0] if state == COMPLETE else None, state=None if state == COMPLETE else state)
    return trial


def reuse(study: optuna.Study, twin: int) -> optuna.Trial:
    """A trial that took trial ``twin``'s result (search.reuse_results)."""
    trial = study.ask()
    trial.set_user_attr(keys.REUSED, twin)
    study.tell(trial, [1.0, 1.0])
    return trial


class Notes(NullEvents):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def notice(self, message: str) -> None:
        self.lines.append(message)
