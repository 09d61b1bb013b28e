"""sttune's Python API: the CLI's commands as functions (docs/python-api.md).

Each function is a thin layer over the internals the CLI calls (``sttune.training.jobs``,
``sttune.tuning.runs``), so a result here equals the CLI's for the same recipe and seed.
Reached through ``sttune.<name>`` (imported lazily by ``sttune/__init__.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sttune.recipe.spec import LoadedRecipe, load_recipe as _load_recipe

RecipeLike = str | Path | LoadedRecipe


def load_recipe(path: str | Path) -> LoadedRecipe:
    """Read and validate a recipe (``.recipe`` is the frozen Recipe, ``.path`` its file)."""
    return _load_recipe(path)


def _loaded(recipe: RecipeLike | BestConfig) -> LoadedRecipe:
    if isinstance(recipe, BestConfig):
        return recipe.recipe
    return recipe if isinstance(recipe, LoadedRecipe) else _load_recipe(recipe)


def train(
    recipe: RecipeLike | BestConfig, dataset: str | None = None, epochs: int | None = None,
    save: str | Path | None = None, on_epoch: Callable[[Any], None] | None = None,
) -> Any:  # TrainResult
    """Train the recipe's fixed configuration once (``sttune train``); returns the TrainResult.

    recipe: a path, a loaded recipe, or :func:`load_best`'s answer. ``save``: a folder to write
    the best-validation model and its artifacts into (read back with :func:`load_model`).
    ``on_epoch`` sees each epoch's record.
    """
    from sttune.training.jobs import fit_job, fixed_job

    loaded = _loaded(recipe)
    job = fixed_job(loaded, dataset, epochs)
    from sttune.training.listener import EpochCallback

    fitted = fit_job(job, loaded.cache_dir(), EpochCallback(on_epoch) if on_epoch else None)
    if save is not None:
        from sttune.interop.saved import save_fitted

        save_fitted(fitted, job, Path(save), loaded.recipe)
    return fitted.result


def search(
    recipe: RecipeLike, run_dir: str | Path | None = None, trials: int | None = None,
    budget: float | None = None, timeout_minutes: float | None = None, workers: int = 1,
    export: bool = True, verify_pairs: int | None = None,
) -> Path:
    """Run ``sttune search`` (resumable: the same run folder continues); returns the run folder.

    With ``export`` the best configuration per dataset is written to ``<run>/best/`` as the CLI
    does (``verify_pairs`` re-timing pairs; 0 = off).
    """
    from sttune.tuning.events import NullEvents
    from sttune.tuning.options import check_budget, check_recipe_path, check_workers
    from sttune.tuning.runs import check_trial_budget, preflight, search as run_search, start_run

    check_workers(workers)
    check_budget(budget)
    if isinstance(recipe, LoadedRecipe):
        loaded = recipe if budget is None else _load_recipe(recipe.path, search={"budget": budget})
    else:
        check_recipe_path(Path(recipe))
        loaded = _load_recipe(recipe, search=None if budget is None else {"budget": budget})
    preflight(loaded.recipe)
    check_trial_budget(loaded.recipe, trials or loaded.recipe.search.trials)
    run = start_run(loaded, None if run_dir is None else Path(run_dir))
    run.storage()
    run_search(run, loaded.cache_dir(), NullEvents(), trials, timeout_minutes, workers=workers)
    if export:
        from sttune.tuning.runs import export_run

        export_run(run, cache_dir=loaded.cache_dir(), pairs=verify_pairs)
    return run.run_dir


def export(
    run: str | Path, rule: str | None = None, tolerance: float | None = None, verify_pairs: int | None = None,
) -> list[Any]:  # list[Export]
    """``sttune export RUN``: pick the best trial per dataset, write ``<run>/best/``; returns the
    exports (``.recipe_path``, ``.summary_path``, ``.chosen``, ``.verified``, ...)."""
    from sttune.outcome.select import RULES, SelectionError
    from sttune.tuning.runs import export_run, open_run

    if rule is not None and rule not in RULES:
        raise SelectionError(f"unknown selection rule '{rule}'", f"use one of {', '.join(RULES)}")
    return export_run(open_run(Path(run)), rule, tolerance, pairs=verify_pairs)


@dataclass(frozen=True)
class BestConfig:
    """An exported configuration as objects (``load_best``).

    model: the model block (plugin name and params); strategies: the strategies built with
    their params (fresh instances, ready for a trainer or :class:`sttune.StrategyLoop`);
    summary: the chosen trial as the export JSON lists it (val/test MAE, device seconds,
    speed-up, ...); artifacts: its strategies' artifacts (DynST's mask with sensor ids);
    deployment: DynST's deployment accuracy; recipe: the fixed recipe (``sttune.train`` it).
    """

    dataset: str
    model: Any  # ModelBlock
    strategies: list[Any]  # list[Strategy]
    summary: dict[str, Any]
    artifacts: dict[str, Any]
    deployment: dict[str, Any]
    recipe: LoadedRecipe
    export: dict[str, Any]  # the whole export JSON

    @property
    def strategy_params(self) -> list[tuple[str, dict[str, Any]]]:
        return [(s.name, dict(s.params or {})) for s in self.recipe.recipe.strategies]

    def new_strategies(self) -> list[Any]:
        """Fresh strategy instances with the exported params (strategies keep state: one set per run)."""
        from sttune.registry.build import make_strategies

        return make_strategies(self.strategy_params)


def load_best(run_dir: str | Path, dataset: str) -> BestConfig:
    """The configuration ``sttune export`` chose for ``dataset`` in ``run_dir``, as objects."""
    import json

    from sttune.errors import RecipeError

    best = Path(run_dir) / "best"
    recipe_path, summary_path = best / f"{dataset}.yaml", best / f"{dataset}.json"
    if not recipe_path.is_file() or not summary_path.is_file():
        found = sorted(p.stem for p in best.glob("*.yaml")) if best.is_dir() else []
        raise RecipeError(f"no exported configuration for '{dataset}' in {best}",
                          f"exported: {', '.join(found)}" if found else "run `sttune export` on the run first")
    loaded = _load_recipe(recipe_path)
    data = json.loads(summary_path.read_text())
    config = BestConfig(dataset, loaded.recipe.model, [], data["chosen"], data.get("artifacts", {}),
                        data.get("deployment", {}), loaded, data)
    return replace(config, strategies=config.new_strategies())


def load_model(path: str | Path) -> Any:  # SavedModel
    """Load a saved model (``sttune train --save DIR``): ``.predict(x)`` in raw units,
    ``.inputs(values, time_of_day, day_of_week)``, ``.node_ids``, ``.artifacts``."""
    from sttune.interop.saved import load_model as _load

    return _load(path)
