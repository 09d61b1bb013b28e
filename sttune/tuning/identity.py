"""What makes a study the study it is: its dataset (and params), objectives and strategy set.

A study stores these parts (user attr ``sttune.identity``) when it is created. Re-running a
command with a recipe that changed the dataset, its params or the objectives, or that drops a
strategy with finished trials, would mix two experiments in one study (trials on another
dataset, values of other objectives, a front and an export from strategies the recipe no
longer has), so the resume stops with one line saying what changed; every other change (more
trials, a longer time limit, a budget, an added strategy, a replaced one that only failed)
just continues the study. Studies created before the attr existed are
compared through the recipe they stored at creation (``sttune.recipe.spec``), or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

import optuna

from sttune.errors import SttuneError
from sttune.recipe.schema import clip, to_plain
from sttune.recipe.spec import Recipe
from sttune.tuning.keys import DATASET, IDENTITY, JOB, RECIPE
from sttune.tuning.storage import study_name

DEFAULT_OBJECTIVES = ["val_mae", "device_seconds"]


class StudyChanged(SttuneError):
    """The recipe no longer describes the stored study."""


def identity(plain: dict[str, Any], label: str) -> dict[str, Any] | None:
    """The defining parts of the study of dataset ``label`` in a plain recipe (``to_plain``);
    None when the recipe does not have that dataset (an unreadable old record)."""
    blocks = [d for d in plain.get("datasets") or [] if isinstance(d, dict)]
    block = next((d for d in blocks if (d.get("id") or d.get("name")) == label), None)
    if block is None:
        return None
    search = plain.get("search") or {}
    return {
        "dataset": {"name": block.get("name"), "params": block.get("params") or {}},
        "objectives": list(search.get("objectives") or DEFAULT_OBJECTIVES),
        "strategies": sorted(str(s.get("name")) for s in plain.get("strategies") or [] if isinstance(s, dict)),
    }


def recipe_identity(recipe: Recipe, label: str) -> dict[str, Any]:
    found = identity(to_plain(recipe), label)
    assert found is not None  # the label is one of the recipe's datasets
    return found


def stored_identity(study: optuna.Study) -> dict[str, Any] | None:
    attrs = study.user_attrs
    if isinstance(attrs.get(IDENTITY), dict):
        return attrs[IDENTITY]
    label = str(attrs.get(DATASET) or study.study_name.rpartition(":")[2])
    return identity(attrs[RECIPE], label) if isinstance(attrs.get(RECIPE), dict) else None


def differences(before: dict[str, Any], now: dict[str, Any], finished_strategies: Collection[str] = ()) -> list[str]:
    """What changed between two identities, in words. The strategy set may grow, and a
    strategy none of whose trials finished may go (the fix the failure line advises: replace
    a strategy that only fails); dropping one that ``finished_strategies`` names may not: its
    trials would stay in the front and the export of a recipe that no longer has it."""
    out = []
    if not _same(before.get("dataset", {}).get("name"), now["dataset"]["name"]):
        out.append(f"the dataset plugin changed ({before['dataset'].get('name')} → {now['dataset']['name']})")
    old_params, new_params = before.get("dataset", {}).get("params") or {}, now["dataset"]["params"]
    changed = sorted(k for k in {*old_params, *new_params} if not _same(old_params.get(k, "<unset>"), new_params.get(k, "<unset>")))
    if changed:
        shown = ", ".join(f"{k} {clip(_text(old_params.get(k)), 40)} → {clip(_text(new_params.get(k)), 40)}" for k in changed[:3])
        out.append(f"the dataset params changed ({shown}{', ...' if len(changed) > 3 else ''})")
    if not _same(before.get("objectives"), now["objectives"]):
        out.append(f"the objectives changed ({', '.join(before.get('objectives') or [])} → {', '.join(now['objectives'])})")
    dropped = sorted(set(finished_strategies) - set(now["strategies"]))
    if dropped:
        out.append(f"the strategies changed ({', '.join(before.get('strategies') or []) or 'none'} → "
                   f"{', '.join(now['strategies']) or 'none'}; finished trials use {', '.join(dropped)})")
    return out


def finished_strategies(study: optuna.Study) -> set[str]:
    """The strategies of the study's finished trials: the ones a resume may not drop."""
    done = (t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE)
    return {str(pair[0]) for t in done for pair in (t.user_attrs.get(JOB) or {}).get("strategies", [])
            if isinstance(pair, (list, tuple)) and pair}


def _text(value: Any) -> str:
    return "unset" if value is None else json.dumps(value, default=str)


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def check_study(study: optuna.Study, recipe: Recipe, label: str) -> None:
    """Refuse to resume ``study`` with a recipe that changed what defines it."""
    before = stored_identity(study)
    if before is None:
        return
    changes = differences(before, recipe_identity(recipe, label), finished_strategies(study))
    if changes:
        raise StudyChanged(
            f"the recipe changed since study '{study.study_name}' began: {'; '.join(changes)}",
            "to resume it, undo the change; to search the new recipe, start a new study "
            "(another --run-dir, or another recipe `name`)",
        )


def check_resumable(storage: optuna.storages.BaseStorage, recipe: Recipe, run_name: str) -> None:
    """Check every existing study of the run against the recipe (new studies pass)."""
    existing = set(optuna.get_all_study_names(storage))
    for block in recipe.datasets:
        name = study_name(run_name, block.label)
        if name in existing:
            check_study(optuna.load_study(study_name=name, storage=storage), recipe, block.label)
