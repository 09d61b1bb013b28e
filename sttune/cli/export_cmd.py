"""``sttune export RUN``: write best/<dataset>.yaml and best/<dataset>.json."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Optional, get_args

import typer

from sttune.cli.common import err, out, print_json, program, user_errors
from sttune.recipe.spec import SelectionRule

# the selection rules as choices on the command line: built from the one list (sttune.recipe.spec.SelectionRule)
Rule = StrEnum("Rule", {name.replace("-", "_"): name for name in get_args(SelectionRule)})  # type: ignore[misc]


def export_json(e) -> dict:  # Export
    """One dataset's export as JSON: the summary written to best/<label>.json, and the paths."""
    return {**json.loads(e.summary_path.read_text()), "recipe_path": str(e.recipe_path),
            "summary_path": str(e.summary_path)}


def export_and_print(
    run, rule: str | None = None, tolerance: float | None = None, cache_dir: Path | None = None,
    pairs: int | None = None, quiet: bool = False,
) -> list:  # list[Export]
    """Export every study; print the table and the notes unless ``quiet`` (--json prints instead)."""
    from rich.table import Table

    from sttune.outcome.verify import work_fraction
    from sttune.python_api import export_run_dir

    table = Table(title=f"best configurations · {run.run_dir}")
    for col in ("dataset", "trial", "label", "val MAE", "test MAE", "device s", "work", "speed-up [interval]"):
        table.add_column(col, no_wrap=col != "label")
    from sttune.cli.progress import VerifyProgress

    with VerifyProgress(err) as listener:
        exports = export_run_dir(run, rule, tolerance, cache_dir, pairs, listener)
    if quiet:
        return exports
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
                      f"interleaved batch pairs on epochs {', '.join(map(str, v.epochs)) or '-'} ({v.seconds:.1f} device s"
                      + (f" = {v.seconds / e.baseline.cost_seconds:.0%} of one baseline training)" if e.baseline else ")")
                      + (f"; its whole interval above its work ceiling {v.ceiling:.2f}x: a measurement error, the ceiling is reported"
                         if v.bounded else ""),
                      highlight=False)
        if e.plain_shorter:
            out.print(f"{e.dataset}: the chosen configuration is the plain model trained for fewer "
                      f"epochs ({e.chosen.label}); no strategy beat it here", highlight=False)
        if e.note:
            out.print(f"{e.dataset}: {e.note}", highlight=False)
        for line in menu_lines(e.menu):
            out.print(line, highlight=False)
        out.print(f"  replay: {program()} train {e.recipe_path}", highlight=False)
    return exports


def menu_lines(menu) -> list[str]:
    """The tolerance menu: what each val MAE tolerance against the full baseline buys."""
    lines = ["  what a val MAE tolerance buys (vs the full baseline; the rule above decided the export):"] if menu else []
    for m in menu:
        head = f"    within +{100 * m['tolerance']:g}%: "
        if m["trial"] is None:
            lines.append(head + "no trial")
            continue
        interval = m.get("speedup_interval")
        speed = (f"{m['speedup']:.2f}x [{interval[0]:.2f}, {interval[1]:.2f}] verified"
                 + (", by a close margin" if m.get("speedup_close") else "") if m["speedup_verified"]
                 else f"{m['speedup']:.2f}x measured in the search (not verified)")
        lines.append(head + f"trial {m['trial']} {m['label']}: {speed}, val MAE {m['val_mae_change']:+.1%}")
    return lines


@user_errors
def export_command(
    run: Annotated[Path, typer.Argument(help="Run folder, or the recipe that started it.")],
    rule: Annotated[Optional[Rule], typer.Option(help="Selection rule (default: the recipe's export.rule).")] = None,
    tolerance: Annotated[Optional[float], typer.Option(help="fastest-within: val MAE slack, 0.01 = 1%.")] = None,
    run_dir: Annotated[Optional[Path], typer.Option(help="Run folder when RUN is a recipe with another one.")] = None,
    verify_pairs: Annotated[Optional[int], typer.Option(
        help="Interleaved re-timing pairs behind the speed-up (default export.verify_pairs; 0 = off).")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the exports as one JSON document (docs/json.md).")] = False,
) -> None:
    """Pick the best trial per dataset and write a recipe that retrains it.

    Example: [bold]sttune export runs/quickstart --rule knee[/]
    """
    from sttune.outcome.jsonout import document
    from sttune.python_api import open_run

    opened = open_run(run, run_dir)
    exports = export_and_print(opened, None if rule is None else rule.value, tolerance, pairs=verify_pairs,
                               quiet=json_output)
    if json_output:
        print_json(document("export", opened.run_dir, {e.dataset: export_json(e) for e in exports}))


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)
