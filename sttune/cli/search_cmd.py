"""``sttune search RECIPE``: one multi-objective study per dataset, then export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sttune.cli.common import err, out, print_json, user_errors
from sttune.tuning.options import check_budget, check_minutes, check_recipe_path, check_workers


@user_errors
def search(
    recipe: Annotated[Path, typer.Argument(help="Recipe YAML with datasets, model, strategies and search settings.")],
    run_dir: Annotated[Optional[Path], typer.Option(help="Run folder (default: the recipe's run_dir or runs/<name>).")] = None,
    trials: Annotated[Optional[int], typer.Option(min=1, help="Override search.trials (per dataset, in total).")] = None,
    budget: Annotated[Optional[float], typer.Option(help="Override search.budget: the search's device time in full baselines (per dataset).")] = None,
    timeout_minutes: Annotated[Optional[float], typer.Option(min=0.01, help="Override search.timeout_minutes.")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes sharing the study (one per GPU when several exist).")] = 1,
    export: Annotated[bool, typer.Option(help="Export the best config when the search ends.")] = True,
    json_output: Annotated[bool, typer.Option("--json", help="Print the trials and the export as one JSON document (docs/json.md).")] = False,
) -> None:
    """Search strategies and their params per dataset; resume by running it again.

    Example: [bold]sttune search recipes/quickstart.yaml[/] (then [bold]sttune report runs/quickstart[/])
    """
    from sttune.cli.progress import SearchProgress, final_summary
    from sttune.cli.train_cmd import print_data_notes
    from sttune.recipe.spec import load_recipe
    from sttune.training.jobs import load_data_cached
    from sttune.tuning.runs import check_trial_budget, preflight, search as run_search, start_run
    from sttune.tuning.storage import storage_label

    check_workers(workers)
    check_budget(budget)
    check_minutes("--timeout-minutes", timeout_minutes)
    check_recipe_path(recipe)
    loaded = load_recipe(recipe, search=None if budget is None else {"budget": budget})
    preflight(loaded.recipe)  # loads every dataset once (cached)
    check_trial_budget(loaded.recipe, trials or loaded.recipe.search.trials)
    run = start_run(loaded, run_dir)  # checks the storage before it writes the recipe snapshot
    pool = f" · {workers} workers" if workers > 1 else ""
    err.print(f"run folder {run.run_dir} · storage {storage_label(loaded.recipe.search.storage, run.run_dir)}{pool}",
              highlight=False)
    for block in loaded.recipe.datasets:  # after every check, so that an error stays one line
        print_data_notes(load_data_cached(block, loaded.recipe.protocol).notes)
    with SearchProgress(err, trials or loaded.recipe.search.trials, loaded.recipe.search.budget) as progress:
        run_search(run, loaded.cache_dir(), progress, trials, timeout_minutes, workers=workers)
    from sttune.cli.export_cmd import export_and_print

    exports = export_and_print(run, cache_dir=loaded.cache_dir(), quiet=json_output) if export else []
    if json_output:
        print_json(search_json(run, exports))
        return
    final_summary(out, progress, exports, run.run_dir)


def search_json(run, exports) -> dict:  # Run, list[Export]
    """Every study's trials (the report's rows) and its export (docs/json.md)."""
    from sttune.cli.export_cmd import export_json
    from sttune.outcome import report as rep
    from sttune.outcome.jsonout import document
    from sttune.tuning import records as rec
    from sttune.tuning.runs import load_studies

    exported = {e.dataset: e for e in exports}
    datasets = {}
    for study in load_studies(run):
        label = rec.dataset_label(study)
        e = exported.get(label)
        datasets[label] = {"study": study.study_name,
                           "trials": rep.trial_rows(study, e.chosen.number if e else None),
                           "export": export_json(e) if e else None}
    return document("search", run.run_dir, datasets)


def register(app: typer.Typer) -> None:
    app.command()(search)
