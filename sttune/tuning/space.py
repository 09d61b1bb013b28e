"""From an Optuna trial to a fixed :class:`~sttune.training.jobs.Job`.

Baseline trials (the plain model for all of train.epochs or a fraction of them) suggest nothing; their role
comes from user attrs set when they were enqueued. Other trials suggest the model (when
the recipe gives choices), the strategy or combination, and every searched parameter.

A strategy's ``recommended`` configurations become fixed Optuna params
(:func:`recommended_trials`), enqueued after the baselines so that they run before the sampler
explores: knobs the recipe holds (``fixed``) win over a recommendation's, and a recommendation
whose values lie outside the space as the recipe narrows it is skipped with a notice.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import combinations
from typing import Any

import optuna

from sttune.recipe.settings import TrainConfig
from sttune.recipe.spec import DatasetBlock, Recipe, StrategyBlock
from sttune.registry import discovery as plugins
from sttune.training.jobs import Job
from sttune.tuning.keys import FRACTION, ROLE, SHORTEST

FRACTION_PARAM = "train.fraction"  # a strategy trial's share of train.epochs (search.shorten)


def strategy_choices(recipe: Recipe) -> list[str]:
    """Categorical values of the ``strategy`` param: names, or '+'-joined combinations."""
    names = [s.name for s in recipe.strategies]
    if not recipe.search.combine:
        return names
    # a strategy that replaces the training windows (a distilled set) runs alone: the others'
    # per-window and per-node state would index the replaced set
    alone = {n for n in names if getattr(plugins.load("strategy", n), "replaces_windows", False)}
    return names + ["+".join(c) for k in range(2, len(names) + 1) for c in combinations(names, k)
                    if not alone.intersection(c)]


def has_search_space(recipe: Recipe) -> bool:
    """Whether non-baseline trials have anything to vary."""
    model = recipe.model
    return bool(recipe.strategies) or bool(model.choices and len(model.choices) > 1) or model.search_params


def epochs_for_fraction(epochs: int, fraction: float) -> int:
    return max(1, round(epochs * fraction))


def shortened(train: TrainConfig, fraction: float) -> TrainConfig:
    """``train`` cut to ``fraction`` of its epochs *as the full run's first epochs*: its lr decays at
    the full run's milestone epochs (those that fall inside the shorter run), not at its own. A
    shortened run is then exactly the prefix the derived ladder reads off the full baseline, and an
    exported shortened configuration retrains to the figure the search showed. (Decaying at its own
    fractions instead decays far too early: docs/benchmarks.md, "The ladder read off the baseline".)"""
    epochs = epochs_for_fraction(train.epochs, fraction)
    milestones = sorted({max(1, round(f * train.epochs)) for f in train.lr_decay_at})  # as the trainer places them
    return replace(train, epochs=epochs, lr_decay_at=tuple(m / epochs for m in milestones if m < epochs))


def fraction_choices(recipe: Recipe) -> list[float]:
    """The training lengths a strategy trial may take (``search.shorten``): the ladder's fractions
    and 1, shortest first; [1.0] when the search does not shorten."""
    return sorted({1.0, *recipe.search.baseline_ladder}) if recipe.search.shorten else [1.0]


def baseline_job(recipe: Recipe, dataset: DatasetBlock, fraction: float) -> Job:
    """The plain model, no strategy, trained for ``fraction`` × train.epochs."""
    model = recipe.model.name or recipe.model.choices[0]  # type: ignore[index]
    params = dict(recipe.model.params) if recipe.model.name else {}
    train = replace(recipe.train, epochs=epochs_for_fraction(recipe.train.epochs, fraction))
    return Job(dataset, recipe.protocol, model, params, [], train)


def job_for_trial(trial: optuna.Trial, recipe: Recipe, dataset: DatasetBlock) -> Job:
    """Suggest (or read back) everything a trial varies and return its fixed job."""
    if trial.user_attrs.get(ROLE) == "baseline":
        return baseline_job(recipe, dataset, float(trial.user_attrs.get(FRACTION, 1.0)))
    model_name, model_params = _suggest_model(trial, recipe)
    chosen = _suggest_strategies(trial, recipe)
    train = recipe.train
    fraction = trial_fraction(trial, recipe)
    if fraction < 1:  # what moves cost most: fewer epochs, with the strategy on top
        train = shortened(train, fraction)
    return Job(dataset, recipe.protocol, model_name, model_params, chosen, train)


def trial_fraction(trial: optuna.Trial, recipe: Recipe) -> float:
    """A strategy trial's share of train.epochs (``search.shorten``): searched among the ladder's
    fractions no shorter than the shortest plain training within the tolerance (the study's
    ``sttune.shortest_within``, known once the full baseline has trained; before it, 1). One
    study's choices never change, so the sampler sees one distribution. An enqueued trial's
    params replayed (a FixedTrial, no study) give their own value, or 1."""
    choices = fraction_choices(recipe)
    if len(choices) == 1:
        return 1.0
    study = getattr(trial, "study", None)
    if study is None:
        try:
            return float(trial.suggest_categorical(FRACTION_PARAM, choices))
        except ValueError:  # a FixedTrial without the param
            return 1.0
    shortest = study.user_attrs.get(SHORTEST)
    allowed = [c for c in choices if shortest is not None and c >= shortest]
    if len(allowed) < 2:
        return 1.0
    return float(trial.suggest_categorical(FRACTION_PARAM, allowed))


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


class OutsideSpace(ValueError):
    """A recommended configuration that the strategy's space (as the recipe narrows it) cannot propose."""


class AnsweringTrial:
    """Answers space()'s suggestions with a recommendation's values, checked against each
    suggestion's range; records the Optuna params that reproduce them (``params``). Knobs the
    recommendation leaves out get their first value here and are left to the sampler."""

    def __init__(self, prefix: str, answers: dict[str, Any], held: dict[str, Any]) -> None:
        self._prefix, self._answers, self._held = f"{prefix}.", answers, held
        self.params: dict[str, Any] = {}
        self.asked: set[str] = set()

    def _answer(self, name: str, first: Any, fits: Any) -> Any:
        key = name.removeprefix(self._prefix)
        self.asked.add(key)
        if key in self._held:
            return self._held[key]
        if key not in self._answers:
            return first
        value = self._answers[key]
        if not fits(value):
            raise OutsideSpace(f"{key}={value!r} is outside its range")
        self.params[name] = value
        return value

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False) -> float:
        def fits(v: Any) -> bool:
            on_grid = step is None or abs((v - low) / step - round((v - low) / step)) < 1e-6
            return isinstance(v, (int, float)) and not isinstance(v, bool) and low <= v <= high and on_grid
        return float(self._answer(name, low, fits))

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        def fits(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool) and low <= v <= high and (v - low) % step == 0
        return int(self._answer(name, low, fits))

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        return self._answer(name, list(choices)[0], lambda v: any(type(v) is type(c) and v == c for c in choices))


def recommendation_params(cls: Any, config: dict[str, Any], held: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the Optuna params that make a trial run ``config``, the constructor params space() then
    returns); ``held`` knobs (the recipe's ``fixed``) win over the config's. Raises
    :class:`OutsideSpace` when the space cannot propose the config."""
    held = held or {}
    answers = {k: v for k, v in config.items() if k not in held}
    trial = AnsweringTrial(cls.name, answers, held)
    returned = {**cls.space(trial), **held}
    unknown = sorted(set(answers) - trial.asked)
    if unknown:
        raise OutsideSpace(f"{', '.join(unknown)} is not a knob its space() searches")
    changed = sorted(k for k, v in answers.items() if k in returned and returned[k] != v)
    if changed:
        raise OutsideSpace(f"space() turns {', '.join(f'{k}={answers[k]!r}' for k in changed)} into another value")
    return trial.params, returned


def recommended_trials(recipe: Recipe, fraction: float = 1.0) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """The trials that run each searched strategy's recommendations (and, with ``combine``, the
    searched strategies' first recommendations together), as (tag, Optuna params), in recipe
    order; and a notice per recommendation skipped. ``fraction``: their share of train.epochs
    (a :func:`fraction_choices` value; the param is set only where the search shortens)."""
    choices = strategy_choices(recipe)
    trials: list[tuple[str, dict[str, Any]]] = []
    notes: list[str] = []
    firsts: list[tuple[str, dict[str, Any]]] = []
    for block in recipe.strategies:
        if block.params is not None:  # nothing searched: the strategy's one job needs no recommending
            continue
        cls = plugins.load("strategy", block.name)
        for i, config in enumerate(getattr(cls, "recommended", ())):
            try:
                params, _ = recommendation_params(cls, config, block.fixed)
            except OutsideSpace as exc:
                notes.append(f"{block.name}'s recommended configuration {i + 1} skipped: {exc} in this recipe")
                continue
            if not firsts or firsts[-1][0] != block.name:
                firsts.append((block.name, params))
            tagged = {"strategy": block.name, **params} if len(choices) > 1 else params
            if all(tagged != t for _, t in trials):  # held knobs can make two recommendations one
                trials.append((f"{block.name}#{i + 1}", tagged))
    combined = "+".join(name for name, _ in firsts)
    if recipe.search.combine and len(firsts) > 1 and combined in choices:
        trials.append((combined, {"strategy": combined, **{k: v for _, p in firsts for k, v in p.items()}}))
    if len(fraction_choices(recipe)) > 1 and fraction < 1:
        trials = [(tag, {**params, FRACTION_PARAM: fraction}) for tag, params in trials]
    return trials, notes


def training_strategies(recipe: Recipe, strategy: str | None, where: str) -> tuple[list[tuple[str, dict[str, Any]]] | None, str | None]:
    """What ``sttune train`` trains from a recipe: (strategies with params, or None for the
    recipe's own fixed ones; one line saying what was trained, or None).

    A recipe that searches a strategy's params (a strategy without ``params``: a search recipe,
    whose strategies are alternatives, not a stack) trains the plain baseline unless ``strategy``
    names one of its strategies; that one then trains alone with its given ``params``, else its
    first ``recommended`` configuration that the recipe's ``fixed`` knobs allow (knobs it leaves
    out: the low end of their range, as the search's first trial of it asks), else its
    defaults with the ``fixed`` knobs. ``where`` names the recipe in messages."""
    names = [b.name for b in recipe.strategies]
    searched = [b.name for b in recipe.strategies if b.params is None]
    if strategy is None:
        if not searched:
            return None, None
        return [], (f"{where} is a search recipe (it searches {', '.join(searched)}): trained the plain baseline, "
                    "no strategy; pass --strategy NAME to train one of its strategies")
    block = next((b for b in recipe.strategies if b.name == strategy), None)
    if block is None:
        from sttune.errors import RecipeError

        listed = f"use one of {', '.join(names)}" if names else "the recipe lists no strategies: drop --strategy"
        raise RecipeError(f"no strategy '{strategy}' in {where}", listed)
    if block.params is not None:
        return [(block.name, dict(block.params))], f"trained strategy {block.name} with its given params {block.params}"
    cls = plugins.load("strategy", block.name)
    for i, config in enumerate(getattr(cls, "recommended", ())):
        try:
            _, params = recommendation_params(cls, config, block.fixed)
        except OutsideSpace:
            continue
        return [(block.name, params)], f"trained strategy {block.name} with its recommended configuration {i + 1} {params}"
    held = f" with its fixed knobs {block.fixed}" if block.fixed else ""
    return [(block.name, dict(block.fixed))], f"trained strategy {block.name} with its defaults{held} (it recommends no configuration)"
