"""``sttune search --dry-run``: the plan of each study and its predicted cost, as tables and lines."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

STOPS = {"trial count": "the trial count", "budget": "the budget", "timeout": "the timeout",
         "quick": "quick: no sampled trials", "no search space": "nothing left to vary",
         "not predicted": "not predicted", "no limit": "no limit"}


def _num(value: float | None, digits: int = 2) -> str:
    return "not predicted" if value is None else f"{value:.{digits}f}"


def _params(params: dict[str, Any]) -> str:
    return "; ".join(f"{name} " + ", ".join(f"{k}={v}" for k, v in p.items()) for name, p in params.items())


def plan_table(plan: Any) -> Table:  # DatasetPlan
    """One row per planned trial (the sampled ones as one row), in the order a search runs them."""
    table = Table(title=f"{plan.dataset} · {plan.model} · {plan.epochs} epochs", title_justify="left")
    for col in ("#", "trial", "epochs", "work", "baselines", "device s", "wall s", "params / note"):
        table.add_column(col, justify="right" if col not in ("trial", "params / note") else "left",
                         overflow="fold")
    number = 0
    for row in plan.rows:
        index = ""
        if row.kind != "verification":
            index = f"{number}" if row.count == 1 else f"{number}-{number + row.count - 1}" if row.count else ""
            number += row.count
        note = "; ".join(x for x in (_params(row.params), row.note) if x)
        if not row.runs:
            note = f"not started ({STOPS.get(plan.stops_at, plan.stops_at)}) {note}".strip()
        table.add_row(index, row.label, str(row.epochs) if row.kind != "verification" else "",
                      "" if row.work_fraction is None and row.kind == "verification" else _num(row.work_fraction),
                      _num(row.baselines), _num(row.device_seconds), _num(row.wall_seconds, 1), note,
                      style=None if row.runs else "dim")
    return table


def print_preview(console: Console, preview: Any, command: str) -> None:  # SearchPreview
    """The plan of every dataset, then the totals; nothing in it was trained or written."""
    console.print(f"{command}: a dry run, nothing was trained or written", highlight=False, markup=False,
                  soft_wrap=True)
    for plan in preview.datasets:
        cal = plan.calibration
        console.print()
        console.print(
            f"calibration ({cal.seconds:.1f} s): {cal.timed_batches} training batches after {cal.warmup_batches} "
            f"warm-up, {cal.batch_seconds:.4f} s a batch ({cal.clock} clock, {cal.device}); one validation pass "
            f"{cal.eval_seconds:.3f} s wall", highlight=False, markup=False, soft_wrap=True)
        console.print(
            f"full baseline: {plan.baseline_seconds:.2f} device s predicted = {cal.batch_seconds:.4f} s × "
            f"{cal.batches_per_epoch} batches × {plan.epochs} epochs (training only, as a trial is charged; "
            f"wall s adds the validation and test passes)", highlight=False, markup=False, soft_wrap=True)
        console.print(plan_table(plan))
        for line in _summary(plan):
            console.print(line, highlight=False, markup=False, soft_wrap=True)
    if len(preview.datasets) > 1:
        console.print(f"all datasets: {preview.total_device_seconds:.1f} device s, "
                      f"about {preview.total_wall_seconds:.0f} s wall", highlight=False, soft_wrap=True)
    for note in preview.notes:
        console.print(f"note: {note}", style="dim", highlight=False, markup=False, soft_wrap=True)


def _summary(plan: Any) -> list[str]:  # DatasetPlan
    """The totals against the limits, what stops the search, and the notes."""
    budget = f" of a budget of {plan.budget:g}" if plan.budget is not None else ""
    left_out = "" if plan.complete else " (without what is not predicted: see the notes)"
    lines = [f"total: {plan.total_baselines:.2f} baselines{budget}, {plan.total_device_seconds:.1f} device s, "
             f"about {plan.total_wall_seconds:.0f} s wall{left_out}"]
    limits = [f"trials {plan.trials}" if plan.trials is not None else "",
              f"budget {plan.budget:g} baselines" if plan.budget is not None else "",
              f"timeout {plan.timeout_minutes:g} min" if plan.timeout_minutes is not None else ""]
    lines.append(f"limits: {', '.join(x for x in limits if x) or 'none'}; the search stops at "
                 f"{STOPS.get(plan.stops_at, plan.stops_at)}")
    if plan.sampled_fraction is not None:
        count = "an unknown number of" if plan.sampled_trials is None else str(plan.sampled_trials)
        lines.append(f"sampled trials: {count}, each about {plan.sampled_fraction:.2f} baselines (an estimate: "
                     f"the mean planned work of random draws from each strategy's space); with a budget, one "
                     f"starts only while its predicted cost fits beside the re-timing reserve")
    ladder = "derived from the full baseline's curve (free)" if plan.ladder == "derived" else "trained"
    lines.append(f"ladder: {ladder}")
    lines += [f"note: {note}" for note in plan.notes]
    return lines
