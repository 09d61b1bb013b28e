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
from sttune.recipe import DatasetBlock, Recipe
from sttune.runner import Job

ROLE = "sttune.role"  # "baseline" or "search"
BUDGET = "sttune.budget"  # fraction of train.epochs a baseline trial gets
NONE = "none"


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
        if block.name not in names:
            continue
        params = block.params if block.params is not None else plugins.load("strategy", block.name).space(trial)
        out.append((block.name, dict(params)))
    return out
