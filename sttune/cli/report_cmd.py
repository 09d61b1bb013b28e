"""``sttune report RUN``: trial tables, the search's cost, and plots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sttune.cli.common import out, print_json, user_errors


def _fmt(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


@user_errors
def report(
    run: Annotated[Path, typer.Argument(help="Run folder, or the recipe that started it.")],
    plots: Annotated[bool, typer.Option(help="Write Pareto plots (HTML, PNG) and importances.")] = True,
    json_output: Annotated[bool, typer.Option("--json", help="Print the tables as JSON.")] = False,
    run_dir: Annotated[Optional[Path], typer.Option(help="Run folder when RUN is a recipe with another one.")] = None,
) -> None:
    """Show every trial per dataset: cost, speed-up, MAE change, Pareto membership.

    Draws the Pareto plot and the learning curves (PNG and offline HTML) under RUN/report/.

    Example: [bold]sttune report runs/quickstart[/] (add [bold]--json --no-plots[/] for scripts)
    """
    from rich.markup import escape
    from rich.table import Table

    from sttune.outcome.jsonout import document
    from sttune.python_api import open_run, report as report_run
    from sttune.tuning.storage import study_name

    opened = open_run(run, run_dir)
    payload = report_run(opened.run_dir, plots)
    if json_output:
        print_json(document("report", opened.run_dir, payload))
        return
    for label, entry in payload.items():
        rows, cost, gains, ranks = entry["trials"], entry["search_cost"], entry["vs_plain_frontier"], entry["importances"]
        naive, failed, files = entry["naive"], entry["failed"], entry["plots"]
        pays = entry
        table = Table(title=f"{label} · {study_name(opened.name, label)}")
        for col in ("trial", "label", "val MAE", "test MAE", "device s", "work", "speed-up", "ΔMAE", "vs plain", "front"):
            table.add_column(col, no_wrap=col not in ("label", "vs plain"))
        for r in rows:
            name = escape(r["label"] + (" [exported]" if r["chosen"] else "")  # brackets are rich markup
                          + (f" [stopped at {r['stopped_at']}]" if r["stopped_at"] else ""))
            table.add_row(str(r["trial"]), name, f"{r['val_mae']:.4f}", f"{r['test_mae']:.4f}",
                          f"{r['cost_seconds']:.2f}", _fmt(r["work_fraction"], "{:.0%}"),
                          _fmt(r["speedup"], "{:.2f}x") + (" !" if r["above_work_ceiling"] else ""),
                          _fmt(r["val_mae_change"] and 100 * r["val_mae_change"], "{:+.1f}%"),
                          _fmt(r["margin_vs_plain"] and 100 * r["margin_vs_plain"], "{:+.1f}%"),
                          "★" if r["pareto"] else "")
        out.print(table)
        out.print("work: the trial's passes (windows × nodes) over the full baseline's. speed-up: as measured in the"
                  " search (the export re-times the chosen one); ! = above 1/work by more than the noise: the machine's"
                  " load, not a saving. vs plain: val"
                  " MAE of plain training at the same device time (plus the noise) over the trial's, minus 1;"
                  " positive = below the no-strategy frontier (a real gain)", style="dim", highlight=False)
        for name, g in gains.items():
            verdict = "beats" if g["margin"] > 0 else "does not beat"
            out.print(f"{name}: best trial {g['trial']} {verdict} plain training at equal device time "
                      f"({100 * g['margin']:+.1f}%)", highlight=False)
        out.print(f"search cost: {cost['total_cost_seconds']:.1f} device s in total"
                  + (f" = {cost['ratio']:.1f} full baselines" if cost["ratio"] else "")
                  + (f" ({cost['reused_trials']} trials reused an identical trial's result)" if cost["reused_trials"] else ""),
                  highlight=False)
        n = pays["break_even_retrainings"]
        out.print(f"pays for itself after {n} retraining{'s' if n != 1 else ''} with the chosen config"
                  + (f" ({pays['break_even_note']})" if pays["break_even_note"] else "") if n is not None
                  else f"never pays for itself in retrainings: {pays['break_even_note'] or 'the chosen config saves nothing'}",
                  highlight=False)
        if naive is not None:
            out.print(f"{label} naive forecasts (val / test MAE): " + ", ".join(
                f"{k} {v['val_mae']:.4f} / {v['test_mae']:.4f}" for k, v in naive["scores"].items()),
                highlight=False, markup=False)
            if naive["warning"]:
                out.print(f"warning: {naive['warning']}", style="yellow", highlight=False, markup=False)
        for name, entry in ranks.items():
            ranked = entry["importances"]
            out.print(f"{name} param importances for val MAE ({entry['trials']} trials): "
                      + (", ".join(f"{k} {v:.2f}" for k, v in ranked.items()) if ranked else entry["note"]),
                      highlight=False, markup=False)
        for number, reason in failed:
            out.print(f"trial {number} failed: {reason}", highlight=False)
        for path in files:
            out.print(f"wrote {path}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(report)
