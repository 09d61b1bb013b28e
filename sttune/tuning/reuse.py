"""Reuse the result of a finished trial whose whole job is the same (``search.reuse_results``).

Samplers propose a configuration they already tried more often than one would think: with
categorical knobs, knobs held by ``fixed``, or a small space late in a search. The trial's
job (dataset, protocol, model, strategies with every parameter, training settings and seed)
fixes what training would do, so a second run only costs device time. The repeat is told the
same values and constraints, keeps the original's result (its cost is the configuration's
cost, which is what the Pareto front needs), and records whom it copied, so the search's own
cost counts it as free.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any

import optuna

from sttune.errors import SttuneError
from sttune.tuning import records as rec
from sttune.tuning.keys import JOB, RESULT, REUSED


def _canonical(job_attr: dict[str, Any]) -> str | None:
    """The job as a JSON string in today's layout (a job stored in an older layout matches the
    same job stored now), without its notes (what the recipe said about it, not what it does);
    None for an attr that is no job."""
    return _upgraded(json.dumps(job_attr, sort_keys=True, default=str))


@functools.lru_cache(maxsize=8192)
def _upgraded(raw: str) -> str | None:
    """``_canonical`` of a job attr given as JSON: parsed once per distinct stored job, not once
    per trial asked (every ask compares against every finished trial)."""
    try:
        job = rec.job_from_attr(json.loads(raw))
    except SttuneError:
        return None
    return json.dumps(rec.job_to_attr(dataclasses.replace(job, notes=())), sort_keys=True, default=str)


def finished_twin(study: optuna.Study, job_attr: dict[str, Any], number: int) -> optuna.trial.FrozenTrial | None:
    """The earliest COMPLETE trial (not ``number``) with a result for exactly this job.

    Out-of-memory trials are COMPLETE (infeasible) but carry no result, so they never match.
    """
    key = _canonical(job_attr)
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        attrs = t.user_attrs
        if t.number == number or RESULT not in attrs:
            continue
        if key is not None and JOB in attrs and _canonical(attrs[JOB]) == key:
            return t
    return None


def tell_reused(study: optuna.Study, trial: optuna.Trial, twin: optuna.trial.FrozenTrial) -> None:
    """Finish ``trial`` with ``twin``'s result, values and constraints."""
    from sttune.tuning.tell import full_baseline_of, set_flat_attrs

    trial.set_user_attr(RESULT, twin.user_attrs[RESULT])
    trial.set_user_attr(REUSED, twin.user_attrs.get(REUSED, twin.number))
    set_flat_attrs(trial, rec.result_from_attr(twin.user_attrs[RESULT]), full_baseline_of(study))
    for name, value in (twin.constraints or {}).items():
        trial.set_constraint(name, value)
    study.tell(trial, list(twin.values))
