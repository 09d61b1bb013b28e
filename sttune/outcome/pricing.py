"""Load-free costs: each trial's recorded work priced at the study's unit cost.

Seconds move with the machine's load; work does not (windows × nodes through the model, each
strategy's own passes and its charged preparation included: sttune.training.work). So the front,
the selection rules, the tolerance menu and the frontier's verdicts compare trials on their work
priced at one unit cost per model (``TrialRecord.compared_seconds``), and the timed seconds stay
beside it (``cost_seconds``) in every table and JSON.

The unit cost of a model is the median device seconds per unit of work of the study's plain-model
trials of that model: the full baseline and the ladder run the same code path with no strategy,
each timed once in the search, so the median over them is what one unit of that model's work
costs on this device. It is measured by the search itself, as those trials finish, and read when
the study is exported or reported. It turns work into seconds a reader can compare with the
timed ones and puts different models on one scale; within one model it cannot change which of two
trials is cheaper. A strategy's time that its work does not show (a hook that computes without
reporting the passes) is caught where it matters: the export re-times the chosen trial while its
strategies act (sttune.outcome.verify) and says when it is not reliably faster.

A study holding a trial stored before work was recorded is not priced at all: costs then stay
timed (old run folders read as before).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import replace

import optuna

from sttune.outcome.select import NOISE_FLOOR, cost_noise
from sttune.tuning import records as rec
from sttune.tuning.records import TrialRecord


def _model(record: TrialRecord) -> str:
    return record.job.model_name if record.job is not None else ""


def unit_costs(records: Sequence[TrialRecord]) -> dict[str, float]:
    """Model name -> device seconds per unit of work: the median over its plain-model trials
    (trials that reused another's result are not measurements of their own)."""
    rates: dict[str, list[float]] = {}
    for r in records:
        if (r.role == "baseline" and r.state == "COMPLETE" and r.trained and r.work_units
                and r.cost_seconds > 0):
            rates.setdefault(_model(r), []).append(r.cost_seconds / r.work_units)
    return {model: statistics.median(values) for model, values in rates.items()}


def price(records: Sequence[TrialRecord]) -> list[TrialRecord]:
    """The records with ``priced_seconds`` set, or unchanged when the study cannot be priced (no
    plain-model trial with work, or a finished trial without recorded work)."""
    units = unit_costs(records)
    finished = [r for r in records if r.result is not None]
    if not units or any(r.work_units is None for r in finished):
        return list(records)
    fallback = statistics.median(units.values())  # a model without plain trials of its own
    return [r if r.work_units is None else replace(r, priced_seconds=r.work_units * units.get(_model(r), fallback))
            for r in records]


def priced_records(study: optuna.Study) -> list[TrialRecord]:
    """Every finished trial of the study, priced."""
    return price(rec.finished_records(study))


def comparison_noise(records: Sequence[TrialRecord]) -> float:
    """The relative cost difference below which two trials count as equally cheap: on priced
    work, the noise floor (work is counted, not timed); on timed costs, the study's measured noise."""
    complete = [r for r in records if r.state == "COMPLETE"]
    if complete and all(r.priced_seconds is not None for r in complete):
        return NOISE_FLOOR
    return cost_noise(complete)
