"""``sttune train RECIPE``: train once and print metrics and cost."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sttune.cli.common import err, out, print_data_notes, print_json, user_errors
from sttune.outcome.jsonout import envelope


@user_errors
def train(
    recipe: Annotated[Path, typer.Argument(help="Recipe YAML: a fixed one (e.g. <run>/best/<dataset>.yaml), or a search recipe (its plain baseline, or --strategy).")],
    dataset: Annotated[Optional[str], typer.Option(help="Dataset label when the recipe lists several.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
    epochs: Annotated[Optional[int], typer.Option(help="Override train.epochs.")] = None,
    save: Annotated[Optional[Path], typer.Option(
        help="Save the best-validation model, recipe, result and strategy artifacts here (sttune.load_model reads it).")] = None,
    strategy: Annotated[Optional[str], typer.Option(
        help="Train this one of the recipe's strategies alone, with its given params or its recommended configuration.")] = None,
) -> None:
    """Train one model once; print metrics, naive forecasts and device cost.

    A fixed recipe trains its strategies; a search recipe trains the plain baseline, or one of
    its strategies with --strategy.
    """
    from sttune.cli.progress import EpochProgress
    from sttune.python_api import plan_training, run_training

    plan = plan_training(recipe, dataset, epochs, strategy, save)
    print_data_notes(plan.data_notes)
    with EpochProgress(plan.job.train.epochs, err, enabled=not json_output) as progress:
        trained = run_training(plan, save, progress)
    job, result, naive, warning = trained.job, trained.result, trained.naive, trained.naive_warning
    if trained.saved_to is not None:
        err.print(f"saved the model to {trained.saved_to}", highlight=False)
    if json_output:
        print_json(envelope("train", dataset=job.dataset.label, model=job.model_name,
                            strategies={n: p for n, p in job.strategies}, trained=plan.trains, **result.to_dict(),
                            naive=naive.scores, naive_notes=list(naive.notes), naive_warning=warning))
        return
    from sttune.cli.tables import cost_table, naive_table, result_table

    out.print(result_table(job, result))
    out.print(naive_table(naive, result.val_mae))
    out.print(cost_table(result))
    for note in [*job.notes, *result.notes, *naive.notes]:
        err.print(f"note: {note}", highlight=False, markup=False)
    if plan.trains:
        err.print(plan.trains, highlight=False, markup=False, soft_wrap=True)
    if warning:
        err.print(f"warning: {warning}", style="yellow", highlight=False, markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command()(train)
