"""``sttune worker RECIPE --storage URL``: join a search's studies from any machine."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from sttune.cli.common import err, program, user_errors


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
    worker_index: Annotated[Optional[int], typer.Option(help="This worker's index: seed offset; 0 sets up the studies (default: $SLURM_ARRAY_TASK_ID, $JOB_COMPLETION_INDEX, else 0).")] = None,
    run_dir: Annotated[Optional[Path], typer.Option(help="Run folder for the recipe snapshot (worker 0) and the journal default.")] = None,
    trials: Annotated[Optional[int], typer.Option(help="Override search.trials (per dataset, all workers together).")] = None,
    timeout_minutes: Annotated[Optional[float], typer.Option(help="Override search.timeout_minutes (this worker).")] = None,
    budget: Annotated[Optional[float], typer.Option(help="Override search.budget: device time in full baselines, all workers together (per dataset; default: the budget worker 0 stored in the study).")] = None,
) -> None:
    """Run trials of a shared study until it holds search.trials; start one per GPU or machine."""
    from sttune.cli.progress import SearchProgress
    from sttune.python_api import plan_worker, run_search

    index = default_index() if worker_index is None else worker_index
    plan = plan_worker(recipe, storage, index, run_dir, trials, budget, timeout_minutes)
    err.print(f"worker {index} · storage {plan.storage_label}", highlight=False)
    with SearchProgress(err, plan.total_trials) as progress:
        run_search(plan, progress)
    err.print(f"worker {index}: done; export with `{program()} export {plan.run.run_dir}`", highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(worker)
