"""Export: per dataset a fixed recipe that retrains the chosen trial, and a JSON summary."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna

from sttune.recipe import ModelBlock, Recipe, StrategyBlock, dump_recipe, write_atomic
from sttune.search import records as rec
from sttune.search.select import pareto_front, select


@dataclass(frozen=True)
class Export:
    dataset: str
    chosen: rec.TrialRecord
    baseline: rec.TrialRecord | None
    recipe_path: Path
    summary_path: Path
    plain_shorter: bool  # the chosen trial is the plain model trained for fewer epochs


def speedup(record: rec.TrialRecord, baseline: rec.TrialRecord | None) -> float | None:
    if baseline is None or record.cost_seconds <= 0:
        return None
    return baseline.cost_seconds / record.cost_seconds


def mae_change(record: rec.TrialRecord, baseline: rec.TrialRecord | None) -> float | None:
    return None if baseline is None else record.val_mae / baseline.val_mae - 1


def fixed_recipe(record: rec.TrialRecord, template: Recipe) -> Recipe:
    """A recipe with nothing left to search: ``sttune train`` on it replays the trial."""
    job = record.job
    assert job is not None
    return replace(
        template,
        datasets=[job.dataset],
        model=ModelBlock(name=job.model_name, params=job.model_params),
        protocol=job.protocol,
        train=job.train,
        strategies=[StrategyBlock(n, p) for n, p in job.strategies],
        name=f"{template.name or 'search'}.{job.dataset.label}.best",
        run_dir=None,
    )


def trial_summary(record: rec.TrialRecord, baseline: rec.TrialRecord | None) -> dict[str, Any]:
    job = record.job
    return {
        "trial": record.number, "label": record.label, "role": record.role, "budget": record.budget,
        "model": job.model_name if job else None,
        "strategies": {n: p for n, p in job.strategies} if job else {},
        "epochs": job.train.epochs if job else None,
        "val_mae": record.val_mae, "test_mae": record.test_mae, "device_seconds": record.cost_seconds,
        "speedup": speedup(record, baseline), "val_mae_change": mae_change(record, baseline),
    }


def export_study(study: optuna.Study, template: Recipe, out_dir: Path, rule: str, tolerance: float) -> Export:
    """Select a trial and write ``best/<dataset>.yaml`` and ``best/<dataset>.json``."""
    label = str(study.user_attrs.get("sttune.dataset", study.study_name))
    records = [r for r in rec.finished_records(study) if r.state == "COMPLETE"]
    chosen = select(records, rule, tolerance)
    baseline = rec.full_baseline(records)
    plain_shorter = chosen.role == "baseline" and chosen.budget < 1
    recipe_path = out_dir / f"{label}.yaml"
    header = (
        f"sttune export: trial {chosen.number} of study '{study.study_name}' ({chosen.label}), rule {rule}\n"
        f"val MAE {chosen.val_mae:.4f}, device seconds {chosen.cost_seconds:.2f}"
        + (f", speed-up {speedup(chosen, baseline):.2f}x vs the full baseline" if baseline else "")
        + ("\nthe best trade-off here is the plain model trained for fewer epochs" if plain_shorter else "")
        + f"\nreplay: sttune train {recipe_path}"
    )
    dump_recipe(fixed_recipe(chosen, template), recipe_path, header)
    summary = {
        "study": study.study_name, "dataset": label, "rule": rule, "tolerance": tolerance,
        "chosen": trial_summary(chosen, baseline), "plain_shorter_training": plain_shorter,
        "baseline": trial_summary(baseline, baseline) if baseline else None,
        "pareto_front": [trial_summary(r, baseline) for r in pareto_front([r for r in records if r.feasible])],
        "artifacts": (chosen.result or {}).get("artifacts", {}),
    }
    summary_path = out_dir / f"{label}.json"
    write_atomic(summary_path, json.dumps(summary, indent=1, default=str))
    return Export(label, chosen, baseline, recipe_path, summary_path, plain_shorter)
