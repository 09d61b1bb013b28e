"""Report data: trial tables, Pareto plots (HTML via plotly, PNG via matplotlib), importances."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import optuna

from sttune.search import records as rec
from sttune.search.export import mae_change, speedup
from sttune.search.select import pareto_front


def trial_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """One row per finished trial, cheapest first, with speed-up and MAE change."""
    records = rec.finished_records(study)
    base = rec.full_baseline(records)
    front = {r.number for r in pareto_front([r for r in records if r.state == "COMPLETE"])}
    rows = []
    for r in sorted(records, key=lambda r: r.cost_seconds):
        rows.append({
            "trial": r.number, "config": r.label, "state": r.state, "pareto": r.number in front,
            "val_mae": r.val_mae, "test_mae": r.test_mae, "device_seconds": r.cost_seconds,
            "speedup": speedup(r, base), "val_mae_change": mae_change(r, base),
            "params": {n: p for n, p in r.job.strategies} if r.job else {},
        })
    return rows


def failed_trials(study: optuna.Study) -> list[tuple[int, str]]:
    fails = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,))
    return [(t.number, str(t.user_attrs.get(rec.REASON, "unknown"))) for t in fails]


def search_cost(study: optuna.Study) -> dict[str, float | None]:
    """Total device seconds of every finished trial, and that over the full baseline's."""
    records = rec.finished_records(study)
    total = sum(r.cost_seconds for r in records if math.isfinite(r.cost_seconds))
    base = rec.full_baseline(records)
    return {"total_device_seconds": total,
            "baseline_device_seconds": base.cost_seconds if base else None,
            "ratio": total / base.cost_seconds if base and base.cost_seconds > 0 else None}


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
    ax.figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(ax.figure)
    return path


def _importances(study: optuna.Study, out_dir: Path, label: str) -> list[Path]:
    """Parameter importances for val MAE; skipped when the trials share too few params."""
    try:
        fig = optuna.visualization.plot_param_importances(study, target=lambda t: t.values[0], target_name="val MAE")
    except (ValueError, RuntimeError, ZeroDivisionError):
        return []
    path = out_dir / f"{label}_importances.html"
    fig.write_html(str(path), include_plotlyjs="cdn")
    return [path]
