"""``sttune worker RECIPE --storage URL``: join a search's studies from any machine."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer

from sttune.cli.common import err, user_errors
from sttune.tuning.options import UsageError, check_budget, check_minutes, check_recipe_path

# the sampler's seed is search.seed + the index: both stay within its 32 bits (recipe.SEED_LIMIT)
MAX_WORKER_INDEX = 2**16 - 1


def default_index() -> int:
    """Slurm job arrays and Kubernetes indexed Jobs name the worker's index."""
    for name in ("STTUNE_WORKER_INDEX", "SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX", "SLURM_PROCID"):
        value = os.environ.get(name)
        if value and value.isdigit():
            return int(value)
    return 0


@user_errors
def worker(
    recipe: Annotated[Path, typer.Argument(help="The same recipe on every machine.")],
    storage: Annotated[Optional[str], typer.Option(help="Shared storage URL, e.g. postgresql://user:pass@host/db (default: search.storage).")] = None,
    worker_index: Annotated[Optional[int], typer.Option(help="This worker's index: seed offset; 0 prepares the studies (default: $SLURM_ARRAY_TASK_ID, $JOB_COMPLETION_INDEX, else 0).")] = None,
    run_dir: Annotated[Optional[Path], typer.Option(help="Run folder for the recipe snapshot (worker 0) and the journal default.")] = None,
    trials: Annotated[Optional[int], typer.Option(min=1, help="Override search.trials (per dataset, all workers together).")] = None,
    timeout_minutes: Annotated[Optional[float], typer.Option(min=0.01, help="Override search.timeout_minutes (this worker).")] = None,
    budget: Annotated[Optional[float], typer.Option(help="Override search.budget: device time in full baselines, all workers together (per dataset; default: the budget worker 0 stored in the study).")] = None,
) -> None:
    """Run trials of a shared study until it holds search.trials; start one per GPU or machine."""
    from sttune.cli.progress import SearchProgress
    from sttune.recipe.spec import LoadedRecipe, load_recipe
    from sttune.tuning.identity import check_resumable
    from sttune.tuning.runs import Run, check_trial_budget, check_writable, preflight, search as run_search, start_run
    from sttune.tuning.storage import storage_label

    index = default_index() if worker_index is None else worker_index
    if not 0 <= index <= MAX_WORKER_INDEX:
        raise UsageError(f"--worker-index must be from 0 to {MAX_WORKER_INDEX}, got {index}", "number workers 0, 1, 2, ...")
    check_minutes("--timeout-minutes", timeout_minutes)
    check_budget(budget)
    check_recipe_path(recipe)
    loaded = load_recipe(recipe, search=None if budget is None else {"budget": budget})
    if storage is not None:
        loaded = LoadedRecipe(replace(loaded.recipe, search=replace(loaded.recipe.search, storage=storage)), loaded.path)
    preflight(loaded.recipe)
    check_trial_budget(loaded.recipe, trials or loaded.recipe.search.trials)
    if index == 0:
        run = start_run(loaded, run_dir)  # opens the storage, then writes recipe.yaml for export and report
    else:
        run = Run(loaded.run_dir(run_dir), loaded.recipe, loaded.name)
        if loaded.recipe.search.storage is None:
            check_writable(run.run_dir)
        check_resumable(run.storage(), run.recipe, run.name)
    err.print(f"worker {index} · storage {storage_label(loaded.recipe.search.storage, run.run_dir)}", highlight=False)
    with SearchProgress(err, trials or loaded.recipe.search.trials) as progress:
        run_search(run, loaded.cache_dir(), progress, trials, timeout_minutes,
                   worker_index=index, prepare=index == 0, joining=True)
    err.print(f"worker {index}: done; export with `sttune export {run.run_dir}`", highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(worker)
