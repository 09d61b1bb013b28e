"""``sttune train RECIPE``: train once and print metrics and cost."""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional, TypeVar

import typer

from sttune.cli.common import err, out, print_json, user_errors
from sttune.errors import SttuneError
from sttune.recipe.schema import clip

T = TypeVar("T")


@user_errors
def train(
    recipe: Annotated[Path, typer.Argument(help="Recipe YAML (a fixed one, e.g. <run>/best/<dataset>.yaml).")],
    dataset: Annotated[Optional[str], typer.Option(help="Dataset label when the recipe lists several.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
    epochs: Annotated[Optional[int], typer.Option(min=1, help="Override train.epochs.")] = None,
    save: Annotated[Optional[Path], typer.Option(
        help="Save the best-validation model, recipe, result and strategy artifacts here (sttune.load_model reads it).")] = None,
) -> None:
    """Train one model with the recipe's fixed strategies; print metrics and device cost."""
    from sttune.cli.progress import EpochProgress
    from sttune.recipe.spec import load_recipe
    from sttune.registry.build import check_device
    from sttune.training.jobs import fit_job, fixed_job, load_data_cached, naive_for
    from sttune.training.naive import beats_naive

    loaded = load_recipe(recipe)
    job = fixed_job(loaded, dataset, epochs)
    check_device(job.train.device)
    print_data_notes(load_data_cached(job.dataset, job.protocol, loaded.cache_dir()).notes)
    with EpochProgress(job.train.epochs, err, enabled=not json_output) as progress:
        fitted = guarded_run(lambda: fit_job(job, loaded.cache_dir(), progress), loaded.cache_dir())
    result = fitted.result
    if save is not None:
        from sttune.interop.saved import save_fitted

        err.print(f"saved the model to {save_fitted(fitted, job, save, loaded.recipe)}", highlight=False)
    naive = naive_for(job)
    warning = beats_naive(result.val_mae, naive)
    if json_output:
        print_json({"dataset": job.dataset.label, "model": job.model_name, **result.to_dict(),
                    "naive": naive.scores, "naive_notes": list(naive.notes), "naive_warning": warning})
        return
    from sttune.cli.tables import cost_table, naive_table, result_table

    out.print(result_table(job, result))
    out.print(naive_table(naive, result.val_mae))
    out.print(cost_table(result))
    for note in [*job.notes, *result.notes, *naive.notes]:
        err.print(f"note: {note}", highlight=False, markup=False)
    if warning:
        err.print(f"warning: {warning}", style="yellow", highlight=False, markup=False)


class TrainFailed(SttuneError):
    """A plugin (or the trainer) raised during training; its traceback is in a log file."""


def guarded_run(train: Callable[[], T], cache_dir: Path) -> T:
    """Run ``train``; an unexpected exception (a plugin hook's bug) becomes one line naming it,
    with the traceback written to a log file under ``cache_dir/logs``, as a search keeps a
    failed trial's traceback in its journal."""
    try:
        return train()
    except (SttuneError, KeyboardInterrupt):
        raise
    except Exception as exc:
        log = cache_dir / "logs" / f"train-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        where = f"traceback in {log}"
        try:
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(traceback.format_exc())
        except OSError:
            where = "the traceback could not be written to the cache folder"
        raise TrainFailed(f"training failed: {type(exc).__name__}: {clip(str(exc))} ({where})",
                          "a plugin hook raised: fix the plugin or its params, or report it to its authors") from None


def print_data_notes(notes) -> None:  # Iterable[str]
    """The dataset's notes (what the loader changed, how many readings are missing and why),
    one dim line each on stderr."""
    for note in notes:
        err.print(note, style="dim", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.command()(train)
