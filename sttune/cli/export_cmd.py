"""``sttune export RUN``: write best/<dataset>.yaml and best/<dataset>.json."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sttune.cli.common import err, out, user_errors


def export_and_print(
    run, rule: str | None = None, tolerance: float | None = None, cache_dir: Path | None = None,
    pairs: int | None = None,
) -> None:
    from rich.table import Table

    from sttune.search.run import export_run
    from sttune.search.verify import work_fraction

    table = Table(title=f"best configurations · {run.run_dir}")
    for col in ("dataset", "trial", "config", "val MAE", "test MAE", "device s", "work", "speed-up [interval]"):
        table.add_column(col, no_wrap=col != "config")
    err.print("verifying the chosen speed-ups (interleaved re-timing against the full baseline)...",
              style="dim", highlight=False)
    exports = export_run(run, rule, tolerance, cache_dir, pairs)
    for e in exports:
        c = e.chosen
        fraction = work_fraction(c, e.baseline)
        table.add_row(e.dataset, str(c.number), c.label, f"{c.val_mae:.4f}", f"{c.test_mae:.4f}",
                      f"{c.cost_seconds:.2f}", "-" if fraction is None else f"{fraction:.0%}",
                      e.speedup_text if e.baseline else "-")
    out.print(table)
    for e in exports:
        out.print(f"{e.dataset}: wrote {e.recipe_path} and {e.summary_path.name}", highlight=False)
        v = e.verified
        if v is not None and v.pairs:
            out.print(f"  speed-up measured in the search {v.measured_in_search:.2f}x; verified over {len(v.pairs)} "
                      f"interleaved pairs ({v.seconds:.1f} device s"
                      + (f" = {v.seconds / e.baseline.cost_seconds:.0%} of one baseline training)" if e.baseline else ")")
                      + (f"; above its work ceiling {v.ceiling:.2f}x, the ceiling is reported" if v.bounded else ""),
                      highlight=False)
        if e.plain_shorter:
            out.print(f"{e.dataset}: the chosen configuration is the plain model trained for fewer "
                      f"epochs ({e.chosen.label}); no strategy beat it here", highlight=False)
        if e.note:
            out.print(f"{e.dataset}: {e.note}", highlight=False)
        for line in menu_lines(e.menu):
            out.print(line, highlight=False)
        out.print(f"  replay: sttune train {e.recipe_path}", highlight=False)


def menu_lines(menu) -> list[str]:
    """The tolerance menu: what each val MAE tolerance against the full baseline buys."""
    lines = ["  what a val MAE tolerance buys (vs the full baseline; the rule above decided the export):"] if menu else []
    for m in menu:
        head = f"    within +{100 * m['tolerance']:g}%: "
        if m["trial"] is None:
            lines.append(head + "no trial")
            continue
        interval = m.get("speedup_interval")
        speed = (f"{m['speedup']:.2f}x [{interval[0]:.2f}, {interval[1]:.2f}] verified" if m["speedup_verified"]
                 else f"{m['speedup']:.2f}x measured in the search (not verified)")
        lines.append(head + f"trial {m['trial']} {m['label']}: {speed}, val MAE {m['val_mae_change']:+.1%}")
    return lines


@user_errors
def export_command(
    run: Annotated[Path, typer.Argument(help="Run folder, or the recipe that started it.")],
    rule: Annotated[Optional[str], typer.Option(help="fastest-within (default), knee or min-mae.")] = None,
    tolerance: Annotated[Optional[float], typer.Option(min=0.0, help="fastest-within: val MAE slack, 0.01 = 1%.")] = None,
    run_dir: Annotated[Optional[Path], typer.Option(help="Run folder when RUN is a recipe with another one.")] = None,
    verify_pairs: Annotated[Optional[int], typer.Option(
        min=0, max=50, help="Interleaved re-timing pairs behind the speed-up (default export.verify_pairs; 0 = off).")] = None,
) -> None:
    """Pick the best trial per dataset and write a recipe that retrains it."""
    from sttune.search.run import open_run
    from sttune.search.select import RULES, SelectionError

    if rule is not None and rule not in RULES:
        raise SelectionError(f"unknown selection rule '{rule}'", f"use one of {', '.join(RULES)}")
    export_and_print(open_run(run, run_dir), rule, tolerance, pairs=verify_pairs)


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)
