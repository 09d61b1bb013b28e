"""``sttune search RECIPE``: one multi-objective study per dataset, then export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sttune.cli.common import err, out, print_data_notes, print_json, program, user_errors


@user_errors
def search(
    recipe: Annotated[Path, typer.Argument(help="Recipe YAML with datasets, model, strategies and search settings.")],
    run_dir: Annotated[Optional[Path], typer.Option(help="Run folder (default: the recipe's run_dir or runs/<name>).")] = None,
    trials: Annotated[Optional[int], typer.Option(help="Override search.trials (per dataset, in total).")] = None,
    budget: Annotated[Optional[float], typer.Option(help="Override search.budget: the search's device time in full baselines (per dataset).")] = None,
    timeout_minutes: Annotated[Optional[float], typer.Option(help="Override search.timeout_minutes.")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes sharing the study (one per GPU when several exist).")] = 1,
    quick: Annotated[bool, typer.Option("--quick", help="Train the baseline and the recommended configurations only, then verify: for a model trained once.")] = False,
    export: Annotated[bool, typer.Option(help="Export the best config when the search ends.")] = True,
    json_output: Annotated[bool, typer.Option("--json", help="Print the trials and the export as one JSON document (docs/json.md).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the trial plan and its predicted cost from a short calibration; train and write nothing.")] = False,
) -> None:
    """Search strategies and their params per dataset; resume by running it again.

    Example: [bold]sttune search recipes/quickstart.yaml[/] (then [bold]sttune report runs/quickstart[/])
    """
    from sttune.cli.export_cmd import export_and_print
    from sttune.cli.progress import SearchProgress, final_summary
    from sttune.python_api import naive_warnings, plan_search, preview_search, run_search

    if dry_run:
        preview = preview_search(recipe, trials, budget, timeout_minutes, quick, run_dir, workers)
        if json_output:
            print_json(preview_json(preview))
        else:
            from sttune.cli.plan_table import print_preview

            print_preview(out, preview, f"{program()} search {recipe}")
        return
    plan = plan_search(recipe, run_dir, trials, budget, timeout_minutes, workers, quick)
    pool = f" · {workers} workers" if workers > 1 else ""
    err.print(f"run folder {plan.run.run_dir} · storage {plan.storage_label}{pool}", highlight=False)
    for line in plan.resuming:
        err.print(line, highlight=False, markup=False, soft_wrap=True)
    print_data_notes(plan.data_notes)  # after every check, so that an error stays one line
    with SearchProgress(err, plan.total_trials, plan.loaded.recipe.search.budget) as progress:
        run_search(plan, progress)
    warnings = naive_warnings(plan.run)
    exports = export_and_print(plan.run, cache_dir=plan.loaded.cache_dir(), quiet=json_output) if export else []
    if json_output:
        for label, warning in warnings.items():
            err.print(f"warning: {label}: {warning}", style="yellow", highlight=False, markup=False, soft_wrap=True)
        print_json(search_json(plan.run, exports))
        return
    final_summary(out, progress, exports, plan.run.run_dir, [f"{label}: {w}" for label, w in warnings.items()],
                  program())


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
        naive = rep.naive_summary(study)
        datasets[label] = {"study": study.study_name,
                           "trials": rep.trial_rows(study, e.chosen.number if e else None),
                           "export": export_json(e) if e else None,
                           "naive": naive}
    return document("search", run.run_dir, datasets)


def preview_json(preview) -> dict:  # SearchPreview
    """The dry run's plan per dataset in the shared envelope (docs/json.md), marked ``dry_run``."""
    from sttune.outcome.jsonout import document

    plain = preview.to_dict()
    return {**document("search", preview.run_dir, plain["datasets"]), "dry_run": True, "quick": preview.quick,
            "notes": plain["notes"], "total_device_seconds": plain["total_device_seconds"],
            "total_wall_seconds": plain["total_wall_seconds"]}


def register(app: typer.Typer) -> None:
    app.command()(search)
