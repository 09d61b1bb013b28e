"""Export: per dataset a fixed recipe that retrains the chosen trial, and a JSON summary."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna

from sttune.errors import SttuneError
from sttune.interop.sensors import export_sensors
from sttune.outcome.jsonout import SCHEMA_VERSION, with_aliases
from sttune.outcome.pricing import comparison_noise, priced_records
from sttune.outcome.select import pareto_front, reliably_cheaper, select, tolerance_menu
from sttune.outcome.verify import (
    METHOD,
    CannotVerify,
    Prober,
    Verified,
    VerifyListener,
    default_pairs,
    verify_speedup,
    work_fraction,
)
from sttune.recipe.spec import ModelBlock, Recipe, StrategyBlock, dump_recipe, write_atomic
from sttune.tuning import records as rec
from sttune.tuning.accounting import CLOSE_SHARE, VERIFY_OVERHEAD, verification_reserve
from sttune.tuning.keys import VERIFIED, stored_recipe
from sttune.tuning.runs import Run, load_studies

# strategy trials re-timed at most when the chosen one is not reliably faster (where the budget has room)
TRADE_OFF_CANDIDATES = 1


@dataclass(frozen=True)
class Export:
    dataset: str
    chosen: rec.TrialRecord
    baseline: rec.TrialRecord | None
    recipe_path: Path
    summary_path: Path
    plain_shorter: bool  # the chosen trial is the plain model trained for fewer epochs
    verified: Verified | None = None  # None: re-timing off, or impossible (see note)
    noise: float = 0.0  # the study's relative cost noise (selection and verdicts)
    note: str | None = None  # one line for the user: not reliably faster, the best real trade-off
    menu: tuple[dict[str, Any], ...] = ()  # per val MAE tolerance, the fastest trial within it (menu_entries)

    @property
    def speedup_text(self) -> str:
        """The verified figure with its interval, or the search's raw one marked as such."""
        if self.verified is not None:
            return self.verified.text()
        raw = speedup(self.chosen, self.baseline)
        return "-" if raw is None else f"{raw:.2f}x (unverified)"


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


def trial_summary(
    record: rec.TrialRecord, baseline: rec.TrialRecord | None, verified: Verified | None = None,
    chosen: bool = False,
) -> dict[str, Any]:
    """A trial as every JSON output lists it (docs/json.md). ``speedup`` is the verified figure
    when one was measured, else the search's raw one (``speedup_measured_in_search`` is always
    the raw); ``chosen``: the trial the export picks."""
    job = record.job
    raw = speedup(record, baseline)
    out = {
        "trial": record.number, "label": record.label, "chosen": chosen, "role": record.role, "budget": record.fraction,
        "model": job.model_name if job else None,
        "strategies": {n: p for n, p in job.strategies} if job else {},
        "epochs": job.train.epochs if job else None,
        "val_mae": record.val_mae, "test_mae": record.test_mae, "cost_seconds": record.cost_seconds,
        "priced_cost_seconds": record.priced_seconds,
        "speedup": verified.speedup if verified else raw, "speedup_verified": verified is not None,
        "speedup_measured_in_search": raw, "work_fraction": work_fraction(record, baseline),
        "val_mae_change": mae_change(record, baseline),
    }
    if verified is not None:
        out["speedup_interval"] = [verified.low, verified.high]
        out["speedup_close"] = verified.close  # reliably faster (or not) by a margin a re-timing may not repeat
        out["verification"] = {k: v for k, v in verified.to_dict().items() if k not in ("speedup", "low", "high")}
    return with_aliases(out)


def stored_verification(study: optuna.Study, record: rec.TrialRecord, baseline: rec.TrialRecord) -> Verified | None:
    """The speed-up of ``record`` that an export verified, else None: of several (exports with
    other --verify-pairs), the one the latest export used (the stored order is the order of use),
    so the menu always shows the figure the export printed."""
    found = [Verified.from_dict(value) for key, value in study.user_attrs.get(VERIFIED, {}).items()
             if key.split("/")[:2] == [str(record.number), str(baseline.number)]]
    found = [v for v in found if v.method == METHOD]  # one measured by the old first-batches probe is no figure
    return found[-1] if found else None


def menu_entries(study: optuna.Study, records: list[rec.TrialRecord], baseline: rec.TrialRecord | None,
                 noise: float) -> tuple[dict[str, Any], ...]:
    """The tolerance menu: per val MAE tolerance against the full baseline, the fastest trial
    within it, with its verified speed-up where one was measured, else the search's (marked)."""
    if baseline is None:
        return ()
    keep = ("trial", "label", "strategies", "epochs", "val_mae", "val_mae_change", "test_mae", "speedup",
            "speedup_verified", "speedup_interval", "speedup_close", "work_fraction")
    out = []
    for tolerance, record in tolerance_menu(records, baseline.val_mae, noise):
        if record is None:
            out.append({"tolerance": tolerance, "trial": None})
            continue
        summary = trial_summary(record, baseline, stored_verification(study, record, baseline))
        out.append({"tolerance": tolerance, **{k: summary[k] for k in keep if k in summary}})
    return tuple(out)


def verified_speedup(
    study: optuna.Study, chosen: rec.TrialRecord, baseline: rec.TrialRecord, prober: Prober, pairs: int | None,
    listener: VerifyListener | None = None,
) -> Verified | None:
    """The trial's verified speed-up, re-timed once and kept on the study (a re-export with the
    same pairs reuses it; one measured by an older method is re-timed). ``listener`` hears
    whether it re-times or reuses, and the re-timing's progress."""
    pairs = default_pairs(baseline) if pairs is None else pairs
    key = f"{chosen.number}/{baseline.number}/{pairs}/{METHOD}"
    label = rec.dataset_label(study)
    stored = dict(study.user_attrs.get(VERIFIED, {}))
    if key in stored:  # reused: moved last, so the menu and the report show the figure this export uses
        value = stored.pop(key)
        study.set_user_attr(VERIFIED, {**stored, key: value})
        if listener is not None:
            listener.notice(f"{label}: trial {chosen.number}'s speed-up was verified by an earlier export "
                            f"({pairs} pairs): reused, not re-timed")
        return Verified.from_dict(value)
    if listener is not None:
        listener.notice(f"{label}: re-timing trial {chosen.number} against the full baseline "
                        f"({pairs} interleaved batch pairs over the whole schedule)...")
    try:
        verified = verify_speedup(chosen, baseline, prober, pairs, listener, close_share(study, baseline))
    except SttuneError as exc:  # the data or a plugin is not available here: export unverified, say why
        raise CannotVerify(f"re-timing failed: {exc.one_line()}") from None
    except CannotVerify:
        raise
    except Exception as exc:  # a plugin hook raising while re-timed: the export goes on, unverified
        raise CannotVerify(f"re-timing failed: {type(exc).__name__}: {exc}") from None
    stored[key] = verified.to_dict()
    study.set_user_attr(VERIFIED, stored)
    return verified


def best_trade_off(
    study: optuna.Study, records: list[rec.TrialRecord], baseline: rec.TrialRecord, prober: Prober, pairs: int | None,
    noise: float, listener: VerifyListener | None = None,
) -> tuple[rec.TrialRecord, Verified] | None:
    """When the chosen trial is not reliably faster: the most accurate strategy trial whose
    search speed-up clears the noise and whose re-timing confirms it (at most
    TRADE_OFF_CANDIDATES are re-timed)."""
    candidates = sorted(
        (r for r in records if r.role != "baseline" and r.feasible and r.cost_seconds > 0
         and reliably_cheaper(r, baseline, noise)),
        key=lambda r: (r.val_mae, r.cost_seconds))
    for record in candidates[:TRADE_OFF_CANDIDATES]:
        try:
            verified = verified_speedup(study, record, baseline, prober, pairs, listener)
        except CannotVerify:
            continue
        if verified is not None and verified.reliably_faster:
            return record, verified
    return None


def _budget_left(study: optuna.Study, baseline: rec.TrialRecord) -> float | None:
    """Device seconds ``search.budget`` leaves after the trials and the re-timings so far (None: no budget)."""
    budget = (stored_recipe(study.user_attrs) or {}).get("search", {}).get("budget")
    if budget is None or not baseline.cost_seconds > 0:
        return None
    stored = study.user_attrs.get(VERIFIED, {})
    spent = rec.spent_seconds(rec.finished_records(study)) + sum(
        float(v.get("seconds") or 0.0) for v in stored.values() if isinstance(v, dict))
    return float(budget) * baseline.cost_seconds - spent


def budget_has_room(study: optuna.Study, baseline: rec.TrialRecord, pairs: int | None) -> bool:
    """Whether one more re-timing keeps the study within its ``search.budget`` (no budget: yes).

    The search kept room for one re-timing (the chosen trial's); a second one (the best trade-off)
    runs only where what the trials and the re-timings so far spent leaves room for it."""
    left = _budget_left(study, baseline)
    return left is None or verification_reserve(baseline, pairs) <= left


def close_share(study: optuna.Study, baseline: rec.TrialRecord) -> float:
    """How far, in full baselines, a re-timing whose verdict is close may go on
    (accounting.CLOSE_SHARE; under ``search.budget`` no further than the budget has room for,
    each pass's set-up counted as accounting.VERIFY_OVERHEAD)."""
    left = _budget_left(study, baseline)
    if left is None:
        return CLOSE_SHARE
    return max(0.0, min(CLOSE_SHARE, left / baseline.cost_seconds / VERIFY_OVERHEAD))


def _not_faster_note(
    chosen: rec.TrialRecord, baseline: rec.TrialRecord, trade: tuple[rec.TrialRecord, Verified] | None, tolerance: float,
    room: bool = True,
) -> str:
    head = (f"no configuration is reliably faster than the full baseline within the {tolerance:.1%} val MAE "
            f"tolerance (trial {chosen.number} was chosen)")
    if trade is None and not room:
        return head + "; search.budget left no room to re-time another trial (a later `sttune export` may)"
    if trade is None:
        return head + "; no strategy trial's re-timing confirmed a saving"
    record, verified = trade
    change = mae_change(record, baseline) or 0.0
    name = "+".join(n for n, _ in record.job.strategies) if record.job else record.label
    return head + f"; best real trade-off: {name} trial {record.number}: {verified.text()} at {change:+.1%} val MAE"


def export_study(
    study: optuna.Study, template: Recipe, out_dir: Path, rule: str, tolerance: float,
    prober: Prober | None = None, pairs: int | None = None, listener: VerifyListener | None = None,
) -> Export:
    """Select a trial (noise-aware), verify its speed-up (``prober`` re-runs jobs' schedules;
    ``pairs`` interleaved batch pairs, None: sttune.outcome.verify.default_pairs; no prober or
    ``pairs`` 0: the search's raw figure, marked unverified) and write ``best/<dataset>.yaml``
    and ``best/<dataset>.json``."""
    label = rec.dataset_label(study)
    records = [r for r in priced_records(study) if r.state == "COMPLETE"]  # compared on priced work
    noise = comparison_noise(records)
    chosen = select(records, rule, tolerance, noise)
    baseline = rec.full_baseline(records)
    plain_shorter = chosen.role == "baseline" and chosen.fraction < 1
    verified, note = None, None
    if baseline is not None and prober is not None and pairs != 0:
        try:
            verified = verified_speedup(study, chosen, baseline, prober, pairs, listener)
        except CannotVerify as exc:
            note = f"the speed-up is the search's, not verified: {exc}"
        if verified is not None and not verified.reliably_faster:
            room = budget_has_room(study, baseline, pairs)
            trade = best_trade_off(study, records, baseline, prober, pairs, noise, listener) if room else None
            note = _not_faster_note(chosen, baseline, trade, tolerance, room)
        elif verified is not None and verified.close:
            note = (f"trial {chosen.number} is {verified.caveat()} (its saving lies within the re-timing's own "
                    f"noise of where the verdict turns: docs/selection.md)")
    export = Export(label, chosen, baseline, out_dir / f"{label}.yaml", out_dir / f"{label}.json", plain_shorter,
                    verified, noise, note, menu_entries(study, records, baseline, noise))
    _write(export, study, template, rule, tolerance, records)
    return export


def _write(export: Export, study: optuna.Study, template: Recipe, rule: str, tolerance: float,
           records: list[rec.TrialRecord]) -> None:
    chosen, baseline, verified = export.chosen, export.baseline, export.verified
    fraction = work_fraction(chosen, baseline)
    header = (
        f"sttune export: trial {chosen.number} of study '{study.study_name}' ({chosen.label}), rule {rule}\n"
        f"val MAE {chosen.val_mae:.4f}, device seconds {chosen.cost_seconds:.2f}"
        + (f", speed-up {export.speedup_text} vs the full baseline" if baseline else "")
        + (f", work {fraction:.1%} of the baseline's" if fraction is not None else "")
        + ("\nthe best trade-off here is the plain model trained for fewer epochs" if export.plain_shorter else "")
        + (f"\n{export.note}" if export.note else "")
        + f"\nreplay: sttune train {export.recipe_path}"
    )
    dump_recipe(fixed_recipe(chosen, template), export.recipe_path, header)
    summary = {
        "schema_version": SCHEMA_VERSION, "study": study.study_name, "dataset": export.dataset, "rule": rule, "tolerance": tolerance,
        "cost_noise": export.noise, "note": export.note,
        "chosen": trial_summary(chosen, baseline, verified, chosen=True), "plain_shorter_training": export.plain_shorter,
        "baseline": trial_summary(baseline, baseline, chosen=baseline.number == chosen.number) if baseline else None,
        "pareto_front": [trial_summary(r, baseline, verified if r.number == chosen.number else None,
                                       chosen=r.number == chosen.number)
                         for r in pareto_front([r for r in records if r.feasible])],
        "artifacts": chosen.result.artifacts if chosen.result else {}, "menu": list(export.menu),
    }
    # a sensor mask named by the data's ids (and <dataset>_sensors.csv), deployment accuracy
    summary.update(export_sensors(export.summary_path.parent, export.dataset, chosen.result, chosen.job and chosen.job.dataset))
    write_atomic(export.summary_path, json.dumps(summary, indent=1, default=str))


def export_run(
    run: Run, rule: str | None = None, tolerance: float | None = None, cache_dir: Path | None = None,
    pairs: int | None = None, listener: VerifyListener | None = None,
) -> list[Export]:
    """Export every dataset's study; the chosen speed-ups are re-timed in this process
    (``pairs`` interleaved batch pairs, default ``export.verify_pairs``; 0 = off)."""
    from sttune.training.jobs import probe_job

    rule = rule or run.recipe.export.rule
    tol = run.recipe.export.tolerance if tolerance is None else tolerance
    pairs = run.recipe.export.verify_pairs if pairs is None else pairs
    cache = cache_dir or Path(run.recipe.cache_dir or os.environ.get("STTUNE_CACHE", ".sttune-cache"))

    def prober(job, batches_at):  # (Job, epoch -> batches) -> the job's schedule, one step at a time
        return probe_job(job, cache, batches_at)

    return [export_study(study, run.recipe, run.best_dir, rule, tol, prober, pairs, listener) for study in load_studies(run)]
