"""Report data: trial tables, Pareto plots (HTML via plotly, PNG via matplotlib), importances."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import optuna

from sttune.outcome.export import speedup, stored_verification, trial_summary
from sttune.outcome.frontier import Frontier, build_frontier, strategy_margins
from sttune.outcome.jsonout import with_aliases
from sttune.outcome.pricing import comparison_noise, priced_records
from sttune.outcome.select import SelectionError, cost_noise, pareto_front, select
from sttune.outcome.verify import CLOSE_CAVEAT, work_fraction
from sttune.recipe.spec import Recipe
from sttune.tuning import records as rec
from sttune.tuning.keys import NAIVE, REASON, VERIFIED
from sttune.tuning.runs import Run


def trial_rows(study: optuna.Study, chosen: int | None = None) -> list[dict[str, Any]]:
    """One row per finished trial, cheapest first: the trial as every JSON output lists it
    (:func:`sttune.outcome.export.trial_summary`; ``chosen``: the exported trial's number), and
    what the report adds (state, Pareto membership, work ceiling, margin against plain training)."""
    records = priced_records(study)
    base = rec.full_baseline(records)
    front = {r.number for r in pareto_front([r for r in records if r.state == "COMPLETE" and r.feasible])}
    frontier = build_frontier(records)
    noise = comparison_noise(records)  # what decides "equally cheap" on the compared (priced) costs
    timed_noise = cost_noise([r for r in records if r.state == "COMPLETE"])  # the clock's own spread
    rows = []
    for r in sorted(records, key=lambda r: r.cost_seconds):
        fraction = work_fraction(r, base)
        rows.append({
            # a trial an export verified shows that figure, as best/<label>.json and the menu do
            **trial_summary(r, base, stored_verification(study, r, base) if base else None, chosen=r.number == chosen),
            "state": r.state, "pareto": r.number in front,
            "work_ceiling": 1 / fraction if fraction else None,
            # a search-time speed-up the work cannot explain: the machine's noise, not a saving
            "above_work_ceiling": bool(fraction and (speedup(r, base) or 0) * fraction > 1 + timed_noise),
            "work": r.result.work.to_dict() if r.result and r.result.work else None,
            "role": r.role, "vs_plain": None if r.role == "baseline" else frontier.verdict(r, noise),
            "margin_vs_plain": None if r.role == "baseline" else frontier.margin(r, noise),
            "reused_from": r.reused_from, "stopped_at": stopped_at(r),
        })
    return rows


def naive_summary(study: optuna.Study) -> dict[str, Any] | None:
    """The dataset's naive forecasts stored on the study (``sttune.naive``), and a warning when
    the best finished trial on validation does not beat the best of them; None when not stored."""
    from sttune.training.naive import naive_shortfall, shortfall_text

    stored = study.user_attrs.get(NAIVE)
    if not stored:
        return None
    scores = stored.get("scores", {})
    out = {"scores": scores, "notes": stored.get("notes", []), "warning": None}
    done = [r for r in rec.finished_records(study) if r.state == "COMPLETE" and math.isfinite(r.val_mae)]
    if scores and done:
        best = min(done, key=lambda r: r.val_mae)
        found = naive_shortfall(best.val_mae, scores)
        if found is not None:
            out["warning"] = shortfall_text(f"the best trial ({best.number}, {best.label})", best.val_mae, *found)
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
    records = priced_records(study)
    noise = comparison_noise(records)
    return {name: with_aliases(m) for name, m in strategy_margins(records, build_frontier(records), noise).items()}


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
    return [(t.number, str(t.user_attrs.get(REASON, "unknown"))) for t in fails]


def verification_seconds(study: optuna.Study) -> float:
    """Device seconds the study's exports spent re-timing (each verification kept on the study)."""
    stored = study.user_attrs.get(VERIFIED, {})
    return sum(float(v.get("seconds") or 0.0) for v in stored.values() if isinstance(v, dict))


def search_cost(study: optuna.Study) -> dict[str, float | None]:
    """Total device seconds of every finished trial and of the exports' re-timing, and that over
    the full baseline's.

    A trial adds its objective's seconds and the search's own overhead in it (preparation
    checkpoints' scores); one that reused another's result (``search.reuse_results``) or a
    ladder rung read off the full baseline's curve (``search.ladder: derived``) trained nothing and adds 0.
    """
    records = rec.finished_records(study)
    verifying = verification_seconds(study)
    total = rec.spent_seconds(records) + verifying
    base = rec.full_baseline(records)
    return with_aliases({"total_cost_seconds": total,
                         "reused_trials": sum(r.reused_from is not None for r in records),
                         "derived_trials": sum(r.derived_from is not None for r in records),
                         "verification_seconds": verifying,
                         "baseline_cost_seconds": base.cost_seconds if base else None,
                         "ratio": total / base.cost_seconds if base and base.cost_seconds > 0 else None})


def chosen_trial(study: optuna.Study, recipe: Recipe, best_dir: Path) -> tuple[int, float] | None:
    """The chosen trial's number and the device seconds of one training with it: the exported
    choice (``best/<label>.json``; its verified speed-up when it has one, as the full baseline's
    cost over it), else the trial the export's selection picks; None without a choice."""
    records = priced_records(study)
    base = rec.full_baseline(records)
    summary = best_dir / f"{rec.dataset_label(study)}.json"
    try:
        data = json.loads(summary.read_text()) if summary.is_file() else None
    except (OSError, ValueError):
        data = None
    if isinstance(data, dict) and data.get("study", study.study_name) == study.study_name:
        chosen = data.get("chosen") or {}
        number = chosen.get("trial")
        if isinstance(number, int) and base is not None and isinstance(chosen.get("speedup"), (int, float)) \
                and chosen["speedup"] > 0:
            return number, base.cost_seconds / float(chosen["speedup"])
        cost = chosen.get("cost_seconds", chosen.get("device_seconds"))  # schema 1 files: device_seconds
        if isinstance(number, int) and isinstance(cost, (int, float)):
            return number, float(cost)
    complete = [r for r in records if r.state == "COMPLETE"]
    try:
        picked = select(complete, recipe.export.rule, recipe.export.tolerance, comparison_noise(complete))
    except SelectionError:
        return None
    return picked.number, picked.cost_seconds


def chosen_cost(study: optuna.Study, recipe: Recipe, best_dir: Path) -> float | None:
    """Device seconds of one training with the chosen config (:func:`chosen_trial`)."""
    chosen = chosen_trial(study, recipe, best_dir)
    return None if chosen is None else chosen[1]


def break_even(search_seconds: float, baseline_seconds: float | None, chosen_seconds: float | None) -> int | None:
    """Retrainings with the chosen config after which the search has paid for itself: the
    search's cost over what each retraining saves against the full baseline, rounded up;
    None when the chosen config saves nothing (or there is no baseline or choice)."""
    if baseline_seconds is None or chosen_seconds is None or not baseline_seconds - chosen_seconds > 0:
        return None
    return math.ceil(round(search_seconds / (baseline_seconds - chosen_seconds), 9))


def exported_choice(study: optuna.Study, best_dir: Path) -> dict[str, Any] | None:
    """The chosen trial as this study's export wrote it (``best/<label>.json``), or None."""
    summary = best_dir / f"{rec.dataset_label(study)}.json"
    try:
        data = json.loads(summary.read_text()) if summary.is_file() else None
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and data.get("study", study.study_name) == study.study_name \
            and isinstance(data.get("chosen"), dict):
        return data["chosen"]
    return None


def payback(study: optuna.Study, recipe: Recipe, best_dir: Path) -> dict[str, float | int | str | None]:
    """The search's cost in full baselines and its break-even point (``sttune report``).

    Break-even is computed only from a verified speed-up whose interval lies above 1: a figure the
    export calls not reliably faster (or did not verify) never pays for the search, and
    ``break_even_note`` says why."""
    cost = search_cost(study)
    base, total = cost["baseline_cost_seconds"], cost["total_cost_seconds"] or 0.0
    chosen = exported_choice(study, best_dir)
    retrainings, note = None, None
    interval = chosen.get("speedup_interval") if chosen else None
    full = rec.full_baseline(rec.finished_records(study))
    if chosen is None:
        note = "no export yet: run `sttune export` (break-even needs the verified speed-up)"
    elif full is not None and chosen.get("trial") == full.number:
        note = "the export is the full baseline itself: no saving to pay the search back"
    elif not chosen.get("speedup_verified") or not isinstance(chosen.get("speedup"), (int, float)):
        note = "the exported speed-up is not verified"
    elif not (isinstance(interval, list) and interval and interval[0] > 1.0):
        note = "the exported configuration is not reliably faster than the full baseline"
    else:
        retrainings = break_even(total, base, None if base is None else base / float(chosen["speedup"]))
        if chosen.get("speedup_close"):  # the caveat travels with the figure it was computed from
            note = f"the exported speed-up is {CLOSE_CAVEAT}"
    return {"search_cost_baselines": cost["ratio"], "break_even_retrainings": retrainings, "break_even_note": note}


def write_plots(study: optuna.Study, out_dir: Path, label: str, recipe: Recipe, best_dir: Path) -> list[Path]:
    """The Pareto plot and the learning curves, each as PNG and self-contained HTML."""
    from sttune.outcome import plots

    records = priced_records(study)
    if not any(r.state == "COMPLETE" for r in records):
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    rule, tolerance, chosen = exported_rule(study, recipe, best_dir)
    charts = {"pareto": plots.pareto_chart(records, label, rule, tolerance, chosen, comparison_noise(records)),
              "curves": plots.curves_chart(records, label, chosen.get("trial") if chosen else None)}
    written = []
    for name, chart in charts.items():
        png, html = out_dir / f"{label}_{name}.png", out_dir / f"{label}_{name}.html"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plots.write_png(chart, png)
            plots.write_html(chart, html)
        written += [png, html]
    return written


def exported_rule(study: optuna.Study, recipe: Recipe, best_dir: Path) -> tuple[str, float, dict[str, Any] | None]:
    """(rule, tolerance, chosen trial summary) of the study's export (``best/<label>.json``);
    without one, the recipe's rule and the trial it picks (its search speed-up, unverified)."""
    summary = best_dir / f"{rec.dataset_label(study)}.json"
    try:
        data = json.loads(summary.read_text()) if summary.is_file() else None
    except (OSError, ValueError):
        data = None
    if isinstance(data, dict) and data.get("study") == study.study_name and isinstance(data.get("chosen"), dict):
        return str(data.get("rule")), float(data.get("tolerance") or 0.0), data["chosen"]
    picked = chosen_trial(study, recipe, best_dir)
    records = priced_records(study)
    record = next((r for r in records if picked and r.number == picked[0]), None)
    summary_of = trial_summary(record, rec.full_baseline(records), chosen=True) if record else None
    return recipe.export.rule, recipe.export.tolerance, summary_of


MIN_IMPORTANCE_TRIALS = 10  # completed trials of one strategy before its importances mean anything


def importances(study: optuna.Study) -> dict[str, dict[str, Any]]:
    """Per strategy (or combination), the importance of its params for val MAE, computed over
    its own completed trials only (the space is conditional: mixing strategies ranks noise), and
    only from MIN_IMPORTANCE_TRIALS of them; fewer: ``importances`` is None and ``note`` says
    it is too early."""
    records = {r.number: r for r in rec.finished_records(study) if r.state == "COMPLETE" and r.role != "baseline"}
    frozen = {t.number: t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))}
    groups: dict[str, list[optuna.trial.FrozenTrial]] = {}
    for number, r in records.items():
        if number in frozen and r.trained and r.job is not None:
            groups.setdefault("+".join(n for n, _ in r.job.strategies) or "plain", []).append(frozen[number])
    out = {}
    for name, trials in sorted(groups.items()):
        entry: dict[str, Any] = {"trials": len(trials), "needed": MIN_IMPORTANCE_TRIALS, "importances": None}
        if len(trials) < MIN_IMPORTANCE_TRIALS:
            entry["note"] = (f"too early: {len(trials)} of the {MIN_IMPORTANCE_TRIALS} completed trials "
                             "needed to rank its params")
        else:
            entry["importances"], entry["note"] = _ranked(trials), None
            if entry["importances"] is None:
                entry["note"] = "its params did not vary enough to rank"
        out[name] = entry
    return out


TOP_TRIALS = 3  # PED-ANOVA compares the best trials with all: at least this many count as the best


def _ranked(trials: list[optuna.trial.FrozenTrial]) -> dict[str, float] | None:
    """PED-ANOVA importances for val MAE (no extra dependency); its default top 10% would be one
    trial out of ten, too few to tell a param from noise, so the top holds TOP_TRIALS at least."""
    own = optuna.create_study(directions=["minimize"] * len(trials[0].values))
    own.add_trials(trials)
    evaluator = optuna.importance.PedAnovaImportanceEvaluator(target_quantile=max(0.1, TOP_TRIALS / len(trials)))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ranked = optuna.importance.get_param_importances(
                own, evaluator=evaluator, target=lambda t: t.values[0], params=sorted({p for t in trials for p in t.params
                                                                 if p not in ("strategy", "model")}) or None)
    except (ValueError, RuntimeError, ZeroDivisionError):
        return None
    return {k: float(v) for k, v in ranked.items()} or None


def study_report(study: optuna.Study, run: Run, plots: bool = True) -> dict[str, Any]:
    """One study's report, as ``sttune report --json`` prints it (docs/json.md); with ``plots``
    the Pareto plot and the learning curves are written under ``<run>/report/``."""
    label = rec.dataset_label(study)
    picked = chosen_trial(study, run.recipe, run.best_dir)
    files = write_plots(study, run.run_dir / "report", label, run.recipe, run.best_dir) if plots else []
    return {"trials": trial_rows(study, picked[0] if picked else None), "search_cost": search_cost(study),
            **payback(study, run.recipe, run.best_dir), "failed": failed_trials(study),
            "vs_plain_frontier": margins(study), "plots": [str(p) for p in files], "naive": naive_summary(study),
            "importances": importances(study)}
