"""A search's run folder (``Run``: open, start, its studies) and its trials, one study per dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import optuna

from sttune.errors import SttuneError
from sttune.files import a, fault, kind, shown, unwritable
from sttune.recipe.schema import control_char, short
from sttune.recipe.spec import LoadedRecipe, Recipe, dump_recipe, load_recipe
from sttune.tuning.events import SearchEvents
from sttune.tuning.identity import check_resumable
from sttune.tuning.keys import NAIVE, RETRY_OF
from sttune.tuning.setup import StudyPlan
from sttune.tuning.storage import open_study, search_storage, study_name
from sttune.tuning.study import search_study
from sttune.tuning.workers import search_with_workers

RECIPE_SNAPSHOT = "recipe.yaml"


class RunError(SttuneError):
    """The run folder is missing, unwritable or not a run."""


@dataclass(frozen=True)
class Run:
    """A search's run folder and the recipe it was started with."""

    run_dir: Path
    recipe: Recipe
    name: str

    @property
    def best_dir(self) -> Path:
        return self.run_dir / "best"

    def storage(self, create: bool = True) -> optuna.storages.BaseStorage:
        return search_storage(self.recipe.search, self.run_dir, create)


def check_writable(folder: Path) -> None:
    if control_char(str(folder)) is not None:
        raise RunError(f"the run folder {short(str(folder))} contains a control character", "pass a plain --run-dir")
    found = kind(folder)
    if found not in (None, "folder"):
        raise RunError(f"cannot create the run folder {shown(folder)}: it is {a(found)}", "pass a --run-dir of its own")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fault(exc, "create the run folder", folder, "pass a writable --run-dir", error=RunError) from None
    problem = unwritable(folder)
    if problem is not None:
        raise RunError(f"the run folder {folder} is not writable: {problem}", "pass a writable --run-dir")


SNAPSHOT_HEADER = "snapshot of "


def start_run(loaded: LoadedRecipe, run_dir: Path | None) -> Run:
    """Open the run folder and its storage, then write the recipe snapshot: a command refused
    on the way (an unreachable storage, a folder holding the user's recipe) writes nothing."""
    run = Run(loaded.run_dir(run_dir), loaded.recipe, loaded.name)
    snapshot = run.run_dir / RECIPE_SNAPSHOT
    check_not_users_file(snapshot, loaded.path)
    check_writable(run.run_dir)
    check_resumable(run.storage(), run.recipe, run.name)  # an unreachable storage, a changed study: one line
    dump_recipe(run.recipe, snapshot, f"{SNAPSHOT_HEADER}{loaded.path} used by this run")
    return run


def check_not_users_file(snapshot: Path, recipe_path: Path) -> None:
    """The snapshot may replace only an earlier snapshot: never the recipe itself (``--run-dir
    .`` next to a recipe.yaml) nor any other recipe.yaml a user keeps there."""
    found = kind(snapshot, follow=False)
    if found is None:
        return
    ours = found == "file" and not (recipe_path.exists() and snapshot.samefile(recipe_path))
    if ours:
        with snapshot.open(errors="replace") as f:
            ours = f.readline().startswith(f"# {SNAPSHOT_HEADER}")
    if not ours:
        raise RunError(f"the run folder {snapshot.parent} already holds a {RECIPE_SNAPSHOT} that sttune did not write "
                       "(the run would replace it with its snapshot)",
                       "pass a --run-dir of its own, e.g. runs/<name>")


def open_run(target: Path, run_dir: Path | None = None) -> Run:
    """A run from its folder (holding recipe.yaml) or from the recipe that started it."""
    found = kind(target)
    if found not in (None, "file", "folder"):
        raise RunError(f"{shown(target)} is {a(found)}, not a run folder or a recipe", "pass the run folder of a search or its recipe")
    if found == "folder":
        snapshot = target / RECIPE_SNAPSHOT
        if not snapshot.is_file():
            raise RunError(f"{target} is not a run folder (no {RECIPE_SNAPSHOT})", "pass the run folder or its recipe")
        loaded = load_recipe(snapshot)
        return Run(target, loaded.recipe, loaded.recipe.name or target.name)
    if found is None:
        raise RunError(f"no run folder or recipe at {target}", "pass the run folder of a search or its recipe")
    loaded = load_recipe(target)
    return Run(loaded.run_dir(run_dir), loaded.recipe, loaded.name)


def resume_lines(run: Run, trials: int | None = None) -> list[str]:
    """One line per study of the run that already has trials: ``resuming study X: k of n trials
    done, m re-queued`` (k: new results, as ``search.trials`` counts them; m: trials an interrupted
    or stale run left to run again), and what a finished study will do (nothing)."""
    from sttune.tuning.accounting import count_done

    storage = run.storage()
    existing = set(optuna.get_all_study_names(storage))
    total = trials or run.recipe.search.trials
    lines = []
    for block in run.recipe.datasets:
        name = study_name(run.name, block.label)
        if name not in existing:
            continue
        found = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
        if not found:
            continue
        done = count_done(found)
        requeued = sum(1 for t in found if t.state == optuna.trial.TrialState.WAITING and RETRY_OF in t.user_attrs)
        line = (f"resuming study {name}: {done}" + (f" of {total}" if total else "")
                + f" trials done, {requeued} re-queued")
        if total and done >= total:
            line += " (its trial count is reached: nothing left to run; raise --trials to go on)"
        lines.append(line)
    return lines


def resolve_isolation(recipe: Recipe, workers: int, joining: bool = False) -> str:
    """``auto``: a subprocess per trial with several workers, ``sttune worker`` or a trial timeout."""
    mode = recipe.search.isolation
    if mode != "auto":
        return mode
    several = workers > 1 or joining or recipe.search.trial_timeout_minutes is not None
    return "subprocess" if several else "inline"


def plans(run: Run, cache_dir: Path, trials: int | None, timeout: float | None, storage=None, **worker) -> list[StudyPlan]:
    storage = storage if storage is not None else run.storage()
    return [StudyPlan(run.recipe, run.name, dataset, storage, cache_dir, trials or run.recipe.search.trials,
                      timeout or run.recipe.search.timeout_minutes, budget=run.recipe.search.budget, **worker)
            for dataset in run.recipe.datasets]


def search_run(run: Run, cache_dir: Path, events: SearchEvents, trials: int | None, timeout: float | None,
           workers: int = 1, worker_index: int = 0, sets_up: bool = True, joining: bool = False) -> None:
    """One study per dataset, in this process (``workers`` = 1) or in a pool of worker processes."""
    isolation = resolve_isolation(run.recipe, workers, joining)
    if sets_up:
        store_naive(run)
    if workers > 1:
        search_with_workers(plans(run, cache_dir, trials, timeout), run.run_dir, events, workers, isolation)
        return
    for plan in plans(run, cache_dir, trials, timeout, worker_index=worker_index, sets_up=sets_up, isolation=isolation):
        search_study(plan, events)


def store_naive(run: Run, storage=None) -> None:
    """Store each dataset's naive forecasts on its study (user attr ``sttune.naive``), computed
    on the validation and test windows every trial is scored on; the study is created if new."""
    from sttune.training.jobs import load_data_cached
    from sttune.training.naive import naive_cached

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the progress display says it all
    storage = storage if storage is not None else run.storage()
    n = len(run.recipe.search.objectives)
    for block in run.recipe.datasets:
        value = naive_cached(load_data_cached(block, run.recipe.protocol)).to_dict()
        study = open_study(storage, study_name(run.name, block.label), n)
        if study.user_attrs.get(NAIVE) != value:
            study.set_user_attr(NAIVE, value)


def load_studies(run: Run) -> list[optuna.Study]:
    storage = run.storage(create=False)
    n = len(run.recipe.search.objectives)
    return [open_study(storage, study_name(run.name, d.label), n, create=False) for d in run.recipe.datasets]
