"""Checks before the first trial: every named plugin imports, fixed and held params fit, data
loads, and the trial count leaves room for the strategies."""

from __future__ import annotations

import optuna

from sttune.errors import RecipeError
from sttune.recipe.spec import Recipe, StrategyBlock
from sttune.registry import discovery as plugins
from sttune.tuning.runs import RunError


def preflight(recipe: Recipe) -> None:
    """Fail before any trial: every named plugin imports, fixed params fit, data loads."""
    from sttune.registry.build import check_device, check_model_params, make_strategies
    from sttune.training.jobs import load_data_cached

    for name in [recipe.model.name] if recipe.model.name else list(recipe.model.choices or []):
        plugins.load("model", name)
    fixed = [(s.name, s.params) for s in recipe.strategies if s.params is not None]
    make_strategies(fixed)
    _check_held_knobs(recipe)
    for s in recipe.strategies:
        plugins.load("strategy", s.name)
    check_device(recipe.train.device)
    for block in recipe.datasets:
        data = load_data_cached(block, recipe.protocol)
        if recipe.model.name is not None:  # choices: each model's own params are searched
            check_model_params(recipe.model.name, dict(recipe.model.params), data)
    check_trials_leave_room(recipe, recipe.search.trials)


def check_trials_leave_room(recipe: Recipe, trials: int | None) -> None:
    """Baseline trials count towards search.trials: leave room for the strategies."""
    from sttune.tuning.space import has_search_space

    n_baselines = 1 + len(recipe.search.baseline_ladder)
    if trials is not None and has_search_space(recipe) and trials <= n_baselines:
        raise RunError(
            f"search.trials is {trials} but the {n_baselines} baseline trials (full budget and ladder) "
            "come first, leaving none for the strategies",
            f"raise search.trials above {n_baselines} or shorten search.baseline_ladder",
        )


def _check_held_knobs(recipe: Recipe) -> None:
    """Every `fixed` knob must be a constructor param of its strategy, and a value it accepts."""
    import inspect

    for block in recipe.strategies:
        if not block.fixed:
            continue
        accepted = set(inspect.signature(plugins.load("strategy", block.name)).parameters)
        unknown = sorted(set(block.fixed) - accepted)
        if unknown:
            raise RunError(
                f"strategy '{block.name}' has no param '{unknown[0]}' to hold fixed",
                f"its params: {', '.join(sorted(accepted))}",
            )
        _check_held_values(block)


def _check_held_values(block: StrategyBlock, draws: int = 8) -> None:
    """Build the strategy with its held knobs and ``draws`` random draws of the rest of its
    space; when no draw builds, a held value is wrong for every trial: fail now, before any
    trial, rather than fail each trial that picks the strategy. A value that clashes with only
    some draws is left to those trials' one-line failures."""
    from sttune.registry.build import make_strategies
    from sttune.tuning.space import strategy_params

    first: RecipeError | None = None
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "new study created" line
    try:
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        for _ in range(draws):
            try:
                params = strategy_params(study.ask(), block)
            except Exception:  # a broken space() is the plugin's bug: its trials report it, as before
                return
            try:
                make_strategies([(block.name, params)])
                return
            except RecipeError as exc:
                first = first or exc
    finally:
        optuna.logging.set_verbosity(verbosity)
    assert first is not None
    raise RecipeError(f"{first.message} (held in `fixed`)", "fix the value under the strategy's `fixed`")
