"""``sttune search RECIPE``: one multi-objective study per dataset, then export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sttune.cli import app
from sttune.cli.common import err, out, user_errors


@app.command()
@user_errors
def search(
    recipe: Annotated[Path, typer.Argument(help="Recipe YAML with datasets, model, strategies and search settings.")],
    run_dir: Annotated[Optional[Path], typer.Option(help="Run folder (default: the recipe's run_dir or runs/<name>).")] = None,
    trials: Annotated[Optional[int], typer.Option(min=1, help="Override search.trials (per dataset, in total).")] = None,
    timeout_minutes: Annotated[Optional[float], typer.Option(min=0.01, help="Override search.timeout_minutes.")] = None,
    export: Annotated[bool, typer.Option(help="Export the best config when the search ends.")] = True,
) -> None:
    """Search strategies and their params per dataset; resume by running it again."""
    from sttune.cli.progress import SearchProgress
    from sttune.recipe import load_recipe
    from sttune.search.run import preflight, search as run_search, start_run

    loaded = load_recipe(recipe)
    preflight(loaded.recipe)
    from sttune.search.run import check_trial_budget

    check_trial_budget(loaded.recipe, trials or loaded.recipe.search.trials)
    run = start_run(loaded, run_dir)
    err.print(f"run folder {run.run_dir} · storage {loaded.recipe.search.storage or run.run_dir / 'study.journal'}")
    with SearchProgress(err, trials or loaded.recipe.search.trials) as progress:
        run_search(run, loaded.cache_dir(), progress, trials, timeout_minutes)
    if export:
        from sttune.cli.export_cmd import export_and_print

        export_and_print(run)
