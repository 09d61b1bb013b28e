"""From an Optuna trial to a fixed :class:`~sttune.runner.Job`.

Baseline trials (the plain model at full or reduced budgets) suggest nothing; their role
comes from user attrs set when they were enqueued. Other trials suggest the model (when
the recipe gives choices), the strategy or combination, and every searched parameter.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import combinations
from typing import Any

import optuna

from sttune import plugins
from sttune.recipe import DatasetBlock, Recipe, StrategyBlock
from sttune.runner import Job

ROLE = "sttune.role"  # "baseline" or "search"
BUDGET = "sttune.budget"  # fraction of train.epochs a baseline trial gets


def strategy_choices(recipe: Recipe) -> list[str]:
    """Categorical values of the ``strategy`` param: names, or '+'-joined combinations."""
    names = [s.name for s in recipe.strategies]
    if not recipe.search.combine:
        return names
    return ["+".join(c) for k in range(1, len(names) + 1) for c in combinations(names, k)]


def has_search_space(recipe: Recipe) -> bool:
    """Whether non-baseline trials have anything to vary."""
    model = recipe.model
    return bool(recipe.strategies) or bool(model.choices and len(model.choices) > 1) or model.search_params


def epochs_for_budget(epochs: int, budget: float) -> int:
    return max(1, round(epochs * budget))


def baseline_job(recipe: Recipe, dataset: DatasetBlock, budget: float) -> Job:
    """The plain model, no strategy, trained for ``budget`` × train.epochs."""
    model = recipe.model.name or recipe.model.choices[0]  # type: ignore[index]
    params = dict(recipe.model.params) if recipe.model.name else {}
    train = replace(recipe.train, epochs=epochs_for_budget(recipe.train.epochs, budget))
    return Job(dataset, recipe.protocol, model, params, [], train)


def job_for_trial(trial: optuna.Trial, recipe: Recipe, dataset: DatasetBlock) -> Job:
    """Suggest (or read back) everything a trial varies and return its fixed job."""
    if trial.user_attrs.get(ROLE) == "baseline":
        return baseline_job(recipe, dataset, float(trial.user_attrs.get(BUDGET, 1.0)))
    model_name, model_params = _suggest_model(trial, recipe)
    chosen = _suggest_strategies(trial, recipe)
    return Job(dataset, recipe.protocol, model_name, model_params, chosen, recipe.train)


def _suggest_model(trial: optuna.Trial, recipe: Recipe) -> tuple[str, dict[str, Any]]:
    block = recipe.model
    if block.name is not None:
        name, params = block.name, dict(block.params)
    else:
        name, params = trial.suggest_categorical("model", list(block.choices or [])), {}
    if block.search_params:
        params.update(plugins.load("model", name).space(trial))
    return name, params


def _suggest_strategies(trial: optuna.Trial, recipe: Recipe) -> list[tuple[str, dict[str, Any]]]:
    choices = strategy_choices(recipe)
    if not choices:
        return []
    picked = trial.suggest_categorical("strategy", choices) if len(choices) > 1 else choices[0]
    names = set(str(picked).split("+"))
    out = []
    for block in recipe.strategies:  # recipe order is hook order
        if block.name in names:
            out.append((block.name, strategy_params(trial, block)))
    return out


def strategy_params(trial: optuna.Trial, block: StrategyBlock) -> dict[str, Any]:
    """One strategy's constructor params: its fixed ``params``, or its space() with the held
    knobs answered by :class:`HoldingTrial` and then set."""
    if block.params is not None:
        return dict(block.params)
    cls = plugins.load("strategy", block.name)
    return {**cls.space(HoldingTrial(trial, block.name, block.fixed)), **block.fixed}


class HoldingTrial:
    """A trial whose suggestions for held knobs return the held value and reach no sampler."""

    def __init__(self, trial: optuna.Trial, prefix: str, held: dict[str, Any]) -> None:
        self._trial, self._held = trial, {f"{prefix}.{k}": v for k, v in held.items()}

    def _suggest(self, kind: str, name: str, *args: Any, **kwargs: Any) -> Any:
        if name in self._held:
            return self._held[name]
        return getattr(self._trial, kind)(name, *args, **kwargs)

    def suggest_float(self, name: str, *args: Any, **kwargs: Any) -> float:
        return self._suggest("suggest_float", name, *args, **kwargs)

    def suggest_int(self, name: str, *args: Any, **kwargs: Any) -> int:
        return self._suggest("suggest_int", name, *args, **kwargs)

    def suggest_categorical(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._suggest("suggest_categorical", name, *args, **kwargs)

    def __getattr__(self, attr: str) -> Any:  # number, user_attrs, ... of the real trial
        return getattr(self._trial, attr)
