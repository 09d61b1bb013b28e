"""What makes a study the study it is: its dataset (and params), objectives, strategy set,
protocol, training settings and model.

A study stores these parts (user attr ``sttune.identity``) when it is created. Re-running a
command with a recipe that changed the dataset, its params, the objectives, the protocol, a
training setting (epochs, batch size, learning rate, schedule, seed, clock, ...) or the model
and its params, or that drops a strategy with finished trials, would mix two experiments in
one study (a 3-epoch trial measured against a 2-epoch baseline, values of other objectives, a
front and an export from strategies the recipe no longer has), so the resume stops with one
line saying what changed and how to start a new study; every other change (more trials, a
longer time limit, a budget, the device, the evaluation batch size, an added strategy, a
replaced one that only failed) just continues the study.

Studies created before a part was stored are compared through the recipe they stored at
creation (``sttune.recipe.spec``); a setting that recipe did not have yet (added to sttune
since) is not compared, so old run folders resume as before.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

import optuna

from sttune.errors import SttuneError
from sttune.recipe.schema import clip, to_plain
from sttune.recipe.spec import Recipe
from sttune.tuning.keys import DATASET, IDENTITY, JOB, stored_recipe
from sttune.tuning.storage import study_name

DEFAULT_OBJECTIVES = ["val_mae", "device_seconds"]
# training settings that change neither a trial's result nor its measured cost: free to change on resume
FREE_TRAIN_SETTINGS = frozenset({"device", "eval_batch_size"})
COMPARED = ("protocol", "train", "model")  # the parts compared setting by setting


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
    train: dict[str, Any] = plain["train"] if isinstance(plain.get("train"), dict) else {}
    model: dict[str, Any] = plain["model"] if isinstance(plain.get("model"), dict) else {}
    return {
        "dataset": {"name": block.get("name"), "params": block.get("params") or {}},
        "objectives": list(search.get("objectives") or DEFAULT_OBJECTIVES),
        "strategies": sorted(str(s.get("name")) for s in plain.get("strategies") or [] if isinstance(s, dict)),
        "protocol": dict(plain.get("protocol") or {}),
        "train": {k: v for k, v in train.items() if k not in FREE_TRAIN_SETTINGS},
        "model": {"name": model.get("name"), "params": model.get("params") or {},
                  **({"search_params": model["search_params"]} if "search_params" in model else {})},
    }


def recipe_identity(recipe: Recipe, label: str) -> dict[str, Any]:
    found = identity(to_plain(recipe), label)
    assert found is not None  # the label is one of the recipe's datasets
    return found


def stored_identity(study: optuna.Study) -> dict[str, Any] | None:
    """The study's identity: the one it stored, with the parts it did not store yet (a study from
    before they were compared) read from the recipe it stored at creation; None when neither exists."""
    attrs = study.user_attrs
    label = str(attrs.get(DATASET) or study.study_name.rpartition(":")[2])
    plain = stored_recipe(attrs)
    created = identity(plain, label) if plain is not None else None
    if not isinstance(attrs.get(IDENTITY), dict):
        return created
    stored = dict(attrs[IDENTITY])
    for part in COMPARED:
        if part not in stored and created is not None:
            stored[part] = created[part]
    return stored


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
    for part in COMPARED:
        settings = _changed_settings(part, before.get(part), now.get(part))
        if settings:
            shown = ", ".join(settings[:3]) + (", ..." if len(settings) > 3 else "")
            out.append(f"{PART_NAMES[part]} changed ({shown})")
    dropped = sorted(set(finished_strategies) - set(now["strategies"]))
    if dropped:
        out.append(f"the strategies changed ({', '.join(before.get('strategies') or []) or 'none'} → "
                   f"{', '.join(now['strategies']) or 'none'}; finished trials use {', '.join(dropped)})")
    return out


PART_NAMES = {"protocol": "the protocol", "train": "the training settings", "model": "the model"}


def _changed_settings(part: str, old: Any, new: Any) -> list[str]:
    """``train.epochs 2 → 3`` per changed setting of a compared part. Settings the stored part
    lacks (added to sttune since the study began) are not compared; the model's params are
    compared whole (a param given or dropped is a change)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return []
    if part == "model":
        old = {"name": old.get("name"), **{f"params.{k}": v for k, v in (old.get("params") or {}).items()}}
        new = {"name": new.get("name"), **{f"params.{k}": v for k, v in (new.get("params") or {}).items()}}
        keys = sorted({*old, *new})
    else:
        keys = sorted(set(old) & set(new))
    return [f"{part}.{k} {clip(_text(old.get(k)), 40)} → {clip(_text(new.get(k)), 40)}"
            for k in keys if not _same(old.get(k), new.get(k))]


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
