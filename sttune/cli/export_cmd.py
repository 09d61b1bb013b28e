"""``sttune export RUN``: write best/<dataset>.yaml and best/<dataset>.json."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sttune.cli import app
from sttune.cli.common import out, user_errors


def export_and_print(run, rule: str | None = None, tolerance: float | None = None) -> None:
    from rich.table import Table

    from sttune.search.run import export_run

    table = Table(title=f"best configurations · {run.run_dir}")
    for col in ("dataset", "trial", "config", "val MAE", "test MAE", "device s", "speed-up"):
        table.add_column(col, no_wrap=col != "config")
    exports = export_run(run, rule, tolerance)
    for e in exports:
        c = e.chosen
        speed = f"{e.baseline.cost_seconds / c.cost_seconds:.2f}x" if e.baseline else "-"
        table.add_row(e.dataset, str(c.number), c.label, f"{c.val_mae:.4f}", f"{c.test_mae:.4f}",
                      f"{c.cost_seconds:.2f}", speed)
    out.print(table)
    for e in exports:
        out.print(f"{e.dataset}: wrote {e.recipe_path} and {e.summary_path.name}", highlight=False)
        if e.plain_shorter:
            out.print(f"{e.dataset}: the chosen configuration is the plain model trained for fewer "
                      f"epochs ({e.chosen.label}); no strategy beat it here", highlight=False)
        out.print(f"  replay: sttune train {e.recipe_path}", highlight=False)


@app.command("export")
@user_errors
def export_command(
    run: Annotated[Path, typer.Argument(help="Run folder, or the recipe that started it.")],
    rule: Annotated[Optional[str], typer.Option(help="fastest-within (default), knee or min-mae.")] = None,
    tolerance: Annotated[Optional[float], typer.Option(min=0.0, help="fastest-within: val MAE slack, 0.01 = 1%.")] = None,
    run_dir: Annotated[Optional[Path], typer.Option(help="Run folder when RUN is a recipe with another one.")] = None,
) -> None:
    """Pick the best trial per dataset and write a recipe that retrains it."""
    from sttune.search.run import open_run
    from sttune.search.select import RULES, SelectionError

    if rule is not None and rule not in RULES:
        raise SelectionError(f"unknown selection rule '{rule}'", f"use one of {', '.join(RULES)}")
    export_and_print(open_run(run, run_dir), rule, tolerance)
