"""Report data: trial tables, Pareto plots (HTML via plotly, PNG via matplotlib), importances."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import optuna

from sttune.recipe import Recipe
from sttune.search import records as rec
from sttune.search.export import mae_change, speedup
from sttune.search.frontier import Frontier, build_frontier, strategy_margins
from sttune.search.select import SelectionError, cost_noise, pareto_front, select
from sttune.search.verify import work_fraction


def trial_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """One row per finished trial, cheapest first, with speed-up and MAE change."""
    records = rec.finished_records(study)
    base = rec.full_baseline(records)
    front = {r.number for r in pareto_front([r for r in records if r.state == "COMPLETE" and r.feasible])}
    frontier = build_frontier(records)
    noise = cost_noise([r for r in records if r.state == "COMPLETE"])
    rows = []
    for r in sorted(records, key=lambda r: r.cost_seconds):
        fraction = work_fraction(r, base)
        rows.append({
            "trial": r.number, "config": r.label, "state": r.state, "pareto": r.number in front,
            "val_mae": r.val_mae, "test_mae": r.test_mae, "device_seconds": r.cost_seconds,
            "speedup": speedup(r, base), "val_mae_change": mae_change(r, base),
            "work_fraction": fraction, "work_ceiling": 1 / fraction if fraction else None,
            # a search-time speed-up the work cannot explain: the machine's noise, not a saving
            "above_work_ceiling": bool(fraction and (speedup(r, base) or 0) * fraction > 1 + noise),
            "work": (r.result.work if r.result else None) or None,
            "role": r.role, "vs_plain": None if r.role == "baseline" else frontier.verdict(r, noise),
            "margin_vs_plain": None if r.role == "baseline" else frontier.margin(r, noise),
            "params": {n: p for n, p in r.job.strategies} if r.job else {},
            "reused_from": r.reused_from, "stopped_at": stopped_at(r),
        })
    return rows


def naive_summary(study: optuna.Study) -> dict[str, Any] | None:
    """The dataset's naive forecasts stored on the study (``sttune.naive``), and a warning when
    the best finished trial on validation does not beat the best of them; None when not stored."""
    stored = study.user_attrs.get("sttune.naive")
    if not stored:
        return None
    scores = stored.get("scores", {})
    out = {"scores": scores, "notes": stored.get("notes", []), "warning": None}
    done = [r for r in rec.finished_records(study) if r.state == "COMPLETE" and math.isfinite(r.val_mae)]
    if scores and done:
        best = min(done, key=lambda r: r.val_mae)
        name = min(scores, key=lambda n: scores[n]["val_mae"])
        if best.val_mae >= scores[name]["val_mae"]:
            out["warning"] = (f"the best trial ({best.number}, val MAE {best.val_mae:.4f}) does not beat the naive "
                              f"forecast {name} ({scores[name]['val_mae']:.4f}): no trial has learnt more than persistence")
    return out


def stopped_at(record: rec.TrialRecord) -> str | None:
    """Where early stopping ended a trial: "epoch N", or "preparation" (nothing trained: its
    val and test MAE are the untrained model's; the checkpoint's val MAE is its stopped value)."""
    if record.state != "PRUNED" or not record.result:
        return None
    epochs = record.result.epochs_run
    return f"epoch {epochs}" if epochs else "preparation"


def margins(study: optuna.Study) -> dict[str, dict]:
    """Per strategy, its best margin against the plain-training frontier at equal device time
    (the frontier read at the trial's cost raised by the study's cost noise)."""
    records = rec.finished_records(study)
    noise = cost_noise([r for r in records if r.state == "COMPLETE"])
    return strategy_margins(records, build_frontier(records), noise)


def frontier_path(frontier: Frontier, max_seconds: float) -> tuple[list[float], list[float]]:
    """(seconds, MAE) vertices of the frontier's line (points joined straight), extended flat
    to ``max_seconds``."""
    xs = [cost for cost, _ in frontier.points]
    ys = [mae for _, mae in frontier.points]
    if xs and max_seconds > xs[-1]:
        xs.append(max_seconds)
        ys.append(ys[-1])
    return xs, ys


def failed_trials(study: optuna.Study) -> list[tuple[int, str]]:
    fails = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,))
    return [(t.number, str(t.user_attrs.get(rec.REASON, "unknown"))) for t in fails]


def search_cost(study: optuna.Study) -> dict[str, float | None]:
    """Total device seconds of every finished trial, and that over the full baseline's.

    A trial adds its objective's seconds and the search's own overhead in it (preparation
    checkpoints' scores); one that reused another's result (``search.reuse_results``)
    trained nothing and adds 0.
    """
    records = rec.finished_records(study)
    trained = [r for r in records if r.reused_from is None]
    total = rec.spent_seconds(records)
    base = rec.full_baseline(records)
    return {"total_device_seconds": total, "reused_trials": len(records) - len(trained),
            "baseline_device_seconds": base.cost_seconds if base else None,
            "ratio": total / base.cost_seconds if base and base.cost_seconds > 0 else None}


def chosen_cost(study: optuna.Study, recipe: Recipe, best_dir: Path) -> float | None:
    """Device seconds of one training with the chosen config: the exported choice
    (``best/<label>.json``; its verified speed-up when it has one, as the full baseline's cost
    over it), else the trial the export's selection picks; None without a choice."""
    records = rec.finished_records(study)
    base = rec.full_baseline(records)
    summary = best_dir / f"{rec.dataset_label(study)}.json"
    try:
        data = json.loads(summary.read_text()) if summary.is_file() else None
    except (OSError, ValueError):
        data = None
    if isinstance(data, dict) and data.get("study", study.study_name) == study.study_name:
        chosen = data.get("chosen") or {}
        if base is not None and isinstance(chosen.get("speedup"), (int, float)) and chosen["speedup"] > 0:
            return base.cost_seconds / float(chosen["speedup"])
        if isinstance(chosen.get("device_seconds"), (int, float)):
            return float(chosen["device_seconds"])
    complete = [r for r in records if r.state == "COMPLETE"]
    try:
        picked = select(complete, recipe.export.rule, recipe.export.tolerance, cost_noise(complete))
    except SelectionError:
        return None
    return picked.cost_seconds


def break_even(search_seconds: float, baseline_seconds: float | None, chosen_seconds: float | None) -> int | None:
    """Retrainings with the chosen config after which the search has paid for itself: the
    search's cost over what each retraining saves against the full baseline, rounded up;
    None when the chosen config saves nothing (or there is no baseline or choice)."""
    if baseline_seconds is None or chosen_seconds is None or not baseline_seconds - chosen_seconds > 0:
        return None
    return math.ceil(round(search_seconds / (baseline_seconds - chosen_seconds), 9))


def payback(study: optuna.Study, recipe: Recipe, best_dir: Path) -> dict[str, float | int | None]:
    """The search's cost in full baselines and its break-even point (``sttune report``)."""
    cost = search_cost(study)
    base = cost["baseline_device_seconds"]
    return {"search_cost_baselines": cost["ratio"],
            "break_even_retrainings": break_even(cost["total_device_seconds"] or 0.0, base,
                                                 chosen_cost(study, recipe, best_dir))}


def write_plots(study: optuna.Study, out_dir: Path, label: str) -> list[Path]:
    """Pareto front as HTML (plotly) and PNG (matplotlib); importances when computable."""
    out_dir.mkdir(parents=True, exist_ok=True)
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return []
    names = study.metric_names or ["val MAE", "device seconds"]
    written = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig = optuna.visualization.plot_pareto_front(study, targets=lambda t: t.values[:2], target_names=names[:2])
        seconds, maes = _frontier_line(study)
        if seconds:
            fig.add_scatter(x=maes, y=seconds, mode="lines", name="plain training (frontier)",
                            line={"dash": "dash", "color": "gray"})
        path = out_dir / f"{label}_pareto.html"
        fig.write_html(str(path), include_plotlyjs="cdn")
        written.append(path)
        written.append(_pareto_png(study, out_dir / f"{label}_pareto.png", names[:2]))
        written.extend(_importances(study, out_dir, label))
    return written


def _pareto_png(study: optuna.Study, path: Path, names: list[str]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = optuna.visualization.matplotlib.plot_pareto_front(study, targets=lambda t: t.values[:2], target_names=names)
    seconds, maes = _frontier_line(study)
    if seconds:
        ax.plot(maes, seconds, linestyle="--", color="gray", label="plain training (frontier)")
        ax.legend()
    ax.figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(ax.figure)
    return path


def _frontier_line(study: optuna.Study) -> tuple[list[float], list[float]]:
    records = rec.finished_records(study)
    top = max((r.cost_seconds for r in records), default=0.0)
    return frontier_path(build_frontier(records), top)


def _importances(study: optuna.Study, out_dir: Path, label: str) -> list[Path]:
    """Parameter importances for val MAE; skipped when the trials share too few params."""
    try:
        fig = optuna.visualization.plot_param_importances(study, target=lambda t: t.values[0], target_name="val MAE")
    except (ValueError, RuntimeError, ZeroDivisionError):
        return []
    path = out_dir / f"{label}_importances.html"
    fig.write_html(str(path), include_plotlyjs="cdn")
    return [path]
