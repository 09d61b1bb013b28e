"""sttune's use cases: what each command does, as functions (docs/python-api.md).

Every ``sttune`` command parses its options, calls the use case here and prints what it returns;
the Python API (``sttune.search``, ``sttune.preview_search``, ``sttune.train``, ``sttune.export``,
``sttune.report``, ``sttune.load_best``, ``sttune.load_model``) is these same functions. So both doors check the
same inputs with the same one-line errors (:mod:`sttune.errors` types here, exit 2 on the
command line) and run the same steps in the same order.

A long use case comes in two steps where a display needs to speak in between: ``plan_*`` checks
everything and opens what it needs (nothing is trained), ``run_*`` does the work. Heavy modules
(torch, optuna) are imported inside the functions, so ``import sttune`` stays cheap.
"""

from __future__ import annotations

import errno
import functools
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sttune.errors import RecipeError, SttuneError
from sttune.files import fault
from sttune.recipe.schema import clip
from sttune.recipe.spec import LoadedRecipe, load_recipe as _load_recipe
from sttune.tuning import options as _opt
from sttune.tuning.options import UsageError, check_budget, check_count, check_minutes, check_recipe_path, check_workers

if TYPE_CHECKING:
    from sttune.api import Strategy
    from sttune.interop.saved import SavedModel
    from sttune.outcome.export import Export
    from sttune.outcome.verify import VerifyListener
    from sttune.recipe.spec import ModelBlock
    from sttune.training.jobs import Job
    from sttune.training.listener import TrainListener
    from sttune.training.naive import NaiveForecasts
    from sttune.training.result import TrainResult
    from sttune.tuning.events import SearchEvents
    from sttune.tuning.forecast import SearchPreview
    from sttune.tuning.records import TrialRecord
    from sttune.tuning.runs import Run

RecipeLike = str | Path | LoadedRecipe
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def machine_faults(use_case: F) -> F:
    """What the machine refuses (permission, a full disk, a name too long, read-only storage)
    while a use case runs: one line naming the path (:func:`sttune.files.fault`), as a bad input is."""

    @functools.wraps(use_case)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return use_case(*args, **kwargs)
        except OSError as exc:
            raise fault(exc, "write" if exc.errno in _WRITE_FAULTS else "use") from None

    return wrapper  # type: ignore[return-value]


_WRITE_FAULTS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT}


@machine_faults
def load_recipe(path: str | Path) -> LoadedRecipe:
    """Read and validate a recipe (``.recipe`` is the frozen Recipe, ``.path`` its file)."""
    _opt.check_path_arg("path", path, optional=False)
    return _load_recipe(path)


def _loaded(recipe: RecipeLike | BestConfig, search: dict[str, Any] | None = None) -> LoadedRecipe:
    if isinstance(recipe, BestConfig):
        recipe = recipe.recipe
    if isinstance(recipe, LoadedRecipe):
        return recipe if search is None else _load_recipe(recipe.path, search=search)
    if not isinstance(recipe, str | os.PathLike) or isinstance(recipe, bytes):
        raise UsageError(f"recipe must be a recipe file's path, a loaded recipe or load_best's answer, "
                         f"got {type(recipe).__name__} {clip(repr(recipe), 30)}", "e.g. sttune.train('recipes/quickstart.yaml')")
    _opt.check_path_arg("recipe", recipe, optional=False)
    check_recipe_path(Path(recipe))
    return _load_recipe(recipe, search=search)


# --- train ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingPlan:
    """A checked training: the recipe, the job it describes, the dataset's notes, and one line
    saying what is trained when the recipe is a search recipe or ``strategy`` picked one."""

    loaded: LoadedRecipe
    job: Job
    data_notes: tuple[str, ...]
    trains: str | None = None


@dataclass(frozen=True)
class Trained:
    """One training (``sttune train``) and what the command reports beside it."""

    job: Job
    result: TrainResult
    naive: NaiveForecasts
    naive_warning: str | None
    saved_to: Path | None


class TrainFailed(SttuneError):
    """A plugin (or the trainer) raised during training; its traceback is in a log file."""


@machine_faults
def plan_training(
    recipe: RecipeLike | BestConfig, dataset: str | None = None, epochs: int | None = None, strategy: str | None = None,
    save: str | Path | None = None,
) -> TrainingPlan:
    """Check a recipe for one training: the dataset, the epochs, the strategies, the device, the
    data, and the folder ``save`` names (before any data is read; :func:`run_training` writes it).

    A fixed recipe trains its strategies (stacked, as exported); a search recipe (one whose
    strategies' params are searched) trains the plain baseline, or with ``strategy`` that one
    of its strategies alone, with its given params or its recommended configuration
    (:func:`sttune.tuning.space.training_strategies`)."""
    from sttune.interop.saved import check_save_target
    from sttune.registry.build import check_device
    from sttune.training.jobs import fixed_job, load_data_cached
    from sttune.tuning.space import training_strategies

    _opt.check_label("--dataset", dataset)
    check_count("--epochs", epochs)
    _opt.check_path_arg("save", save)
    if save is not None:
        check_save_target(Path(save))
    loaded = _loaded(recipe)
    strategies, trains = training_strategies(loaded.recipe, strategy, str(loaded.path))
    job = fixed_job(loaded, dataset, epochs, strategies)
    check_device(job.train.device)
    data = load_data_cached(job.dataset, job.protocol, loaded.cache_dir())
    return TrainingPlan(loaded, job, tuple(data.notes), trains)


@machine_faults
def run_training(plan: TrainingPlan, save: str | Path | None = None, listener: TrainListener | None = None) -> Trained:
    """Train the plan once; ``save``: a folder for the best-validation model (:func:`load_model`),
    checked before training (a folder holding anything sttune did not save is refused)."""
    from sttune.interop.saved import check_save_target
    from sttune.training.jobs import fit_job, naive_for
    from sttune.training.naive import beats_naive

    _opt.check_path_arg("save", save)
    if save is not None:
        check_save_target(Path(save))
    cache_dir = plan.loaded.cache_dir()
    fitted = guarded(lambda: fit_job(plan.job, cache_dir, listener), cache_dir)
    saved_to = None
    if save is not None:
        from sttune.interop.saved import save_fitted

        saved_to = save_fitted(fitted, plan.job, Path(save), plan.loaded.recipe)
    naive = naive_for(plan.job)
    return Trained(plan.job, fitted.result, naive, beats_naive(fitted.result.val_mae, naive), saved_to)


def train(
    recipe: RecipeLike | BestConfig, dataset: str | None = None, epochs: int | None = None,
    save: str | Path | None = None, on_epoch: Callable[[Any], None] | None = None, strategy: str | None = None,
) -> TrainResult:
    """Train the recipe's fixed configuration once (``sttune train``); returns the TrainResult.

    recipe: a path, a loaded recipe, or :func:`load_best`'s answer; a search recipe trains the
    plain baseline, or ``strategy`` (one of its strategies) with its given or recommended params
    (:func:`plan_training`). ``save``: a folder to write the best-validation model and its
    artifacts into (read back with :func:`load_model`). ``on_epoch`` sees each epoch's record (an
    ``EpochRecord``: epoch, val MAE, device seconds).
    """
    from sttune.training.listener import EpochCallback

    _opt.check_callable("on_epoch", on_epoch)
    plan = plan_training(recipe, dataset, epochs, strategy, save)
    return run_training(plan, save, EpochCallback(on_epoch) if on_epoch else None).result


def guarded(work: Callable[[], T], cache_dir: Path) -> T:
    """Run ``work``; an unexpected exception (a plugin hook's bug) becomes one line naming it,
    with the traceback written to a log file under ``cache_dir/logs``, as a search keeps a
    failed trial's traceback in its journal."""
    try:
        return work()
    except (SttuneError, KeyboardInterrupt):
        raise
    except OSError as exc:
        if exc.errno not in _MACHINE_FAULTS:
            raise TrainFailed(*_logged(exc, cache_dir)) from None
        raise fault(exc, "write" if exc.errno in _WRITE_FAULTS else "use") from None
    except Exception as exc:
        raise TrainFailed(*_logged(exc, cache_dir)) from None


# the machine's faults, not a plugin's: an input/output error, no file handles, no space, read-only storage
_MACHINE_FAULTS = {errno.EIO, errno.ENFILE, errno.EMFILE, errno.ENOSPC, errno.EROFS, errno.EDQUOT}


def _logged(exc: Exception, cache_dir: Path) -> tuple[str, str]:
    """The message and hint of a training that raised, its traceback written to a log file."""
    from sttune.files import create_exclusive

    log = cache_dir / "logs" / f"train-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        log = create_exclusive(log, traceback.format_exc().encode())
        where = f"traceback in {log}"
    except OSError:
        where = "the traceback could not be written to the cache folder"
    return (f"training failed: {type(exc).__name__}: {clip(str(exc))} ({where})",
            "a plugin hook raised: fix the plugin or its params, or report it to its authors")


# --- search ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchPlan:
    """A checked search: its run folder (started: storage open, recipe snapshot written), the
    overrides, and what to tell the user before the first trial."""

    run: Run
    loaded: LoadedRecipe
    trials: int | None
    timeout_minutes: float | None
    workers: int
    storage_label: str
    data_notes: tuple[str, ...]
    worker_index: int = 0
    joining: bool = False  # `sttune worker`: a worker of a study others share
    resuming: tuple[str, ...] = ()  # "resuming study X: k of n trials done, m re-queued", per study with trials

    @property
    def total_trials(self) -> int | None:
        return self.trials or self.loaded.recipe.search.trials


@machine_faults
def plan_search(
    recipe: RecipeLike, run_dir: str | Path | None = None, trials: int | None = None, budget: float | None = None,
    timeout_minutes: float | None = None, workers: int = 1, quick: bool = False,
) -> SearchPlan:
    """Check everything a search needs (options, plugins, params, data, storage) and start its
    run folder; nothing is trained. A refused search writes nothing. ``quick``: the baseline, the
    recommended configurations and the export's re-timing only (``search.quick``)."""
    loaded = _checked_search(recipe, run_dir, trials, budget, timeout_minutes, workers, quick)
    from sttune.tuning.runs import start_run

    run = start_run(loaded, None if run_dir is None else Path(run_dir))  # the storage, then the snapshot
    return _search_plan(run, loaded, trials, timeout_minutes, workers)


@machine_faults
def plan_worker(
    recipe: RecipeLike, storage: str | None = None, worker_index: int = 0, run_dir: str | Path | None = None,
    trials: int | None = None, budget: float | None = None, timeout_minutes: float | None = None,
) -> SearchPlan:
    """``sttune worker``: join a shared study; worker 0 sets it up (snapshot, naive forecasts)."""
    from sttune.tuning.identity import check_resumable
    from sttune.tuning.options import check_worker_index
    from sttune.tuning.runs import Run, check_writable, start_run

    check_worker_index(worker_index)
    _opt.check_path_arg("run_dir", run_dir)
    check_count("--trials", trials)
    check_budget(budget)
    check_minutes("--timeout-minutes", timeout_minutes)
    loaded = _loaded(recipe, None if budget is None else {"budget": budget})
    if storage is not None:
        loaded = LoadedRecipe(replace(loaded.recipe, search=replace(loaded.recipe.search, storage=storage)), loaded.path)
    _preflight(loaded, trials)
    if worker_index == 0:
        run = start_run(loaded, None if run_dir is None else Path(run_dir))
    else:
        run = Run(loaded.run_dir(None if run_dir is None else Path(run_dir)), loaded.recipe, loaded.name)
        if loaded.recipe.search.storage is None:
            check_writable(run.run_dir)
        check_resumable(run.storage(), run.recipe, run.name)
    plan = _search_plan(run, loaded, trials, timeout_minutes, 1)
    return replace(plan, worker_index=worker_index, joining=True)


def _checked_search(
    recipe: RecipeLike, run_dir: str | Path | None, trials: int | None, budget: float | None,
    timeout_minutes: float | None, workers: int, quick: bool,
) -> LoadedRecipe:
    """The checks a search and its dry run share: the options, then the recipe with its
    overrides, its plugins, params and data (:func:`_preflight`); nothing is written."""
    _opt.check_path_arg("run_dir", run_dir)
    check_count("--trials", trials)
    check_workers(workers)
    check_budget(budget)
    check_minutes("--timeout-minutes", timeout_minutes)
    _opt.check_flag("quick", quick)
    loaded = _loaded(recipe, _search_overrides(budget, quick))
    _preflight(loaded, trials)
    return loaded


def _search_overrides(budget: float | None, quick: bool) -> dict[str, Any] | None:
    """The recipe's search settings a command line or a call overrides."""
    overrides: dict[str, Any] = {} if budget is None else {"budget": budget}
    if quick:
        overrides["quick"] = True
    return overrides or None


@machine_faults
def preview_search(
    recipe: RecipeLike, trials: int | None = None, budget: float | None = None, timeout_minutes: float | None = None,
    quick: bool = False, run_dir: str | Path | None = None, workers: int = 1,
) -> SearchPreview:
    """``sttune search --dry-run``: the trial plan of each dataset's study and its predicted cost
    (in full baselines and device seconds, from a short calibration on this device), with the
    checks of a real search; nothing is written (no run folder, no storage, no snapshot)."""
    from sttune.tuning.forecast import preview

    loaded = _checked_search(recipe, run_dir, trials, budget, timeout_minutes, workers, quick)
    return preview(loaded, trials, timeout_minutes, quick, None if run_dir is None else Path(run_dir), workers)


def _preflight(loaded: LoadedRecipe, trials: int | None) -> None:
    from sttune.tuning.preflight import check_trials_leave_room, preflight

    preflight(loaded.recipe)  # loads every dataset once (cached)
    check_trials_leave_room(loaded.recipe, trials or loaded.recipe.search.trials)


def _search_plan(run: Run, loaded: LoadedRecipe, trials: int | None, timeout: float | None, workers: int) -> SearchPlan:
    from sttune.training.jobs import load_data_cached
    from sttune.tuning.runs import resume_lines
    from sttune.tuning.storage import storage_label

    notes = tuple(note for block in loaded.recipe.datasets
                  for note in load_data_cached(block, loaded.recipe.protocol).notes)
    return SearchPlan(run, loaded, trials, timeout, workers, storage_label(loaded.recipe.search.storage, run.run_dir),
                      notes, resuming=tuple(resume_lines(run, trials)))


def _events(progress: SearchEvents | Callable[[TrialRecord], None] | None) -> SearchEvents:
    from sttune.tuning.events import NullEvents, TrialCallback

    if progress is None:
        return NullEvents()
    if hasattr(progress, "trial_finished"):
        return progress  # type: ignore[return-value]
    if callable(progress):
        return TrialCallback(progress)
    raise SttuneError(f"progress must be search events or a function of a trial record, got {type(progress).__name__}",
                      "pass e.g. progress=print")


class SearchStopped(SttuneError):
    """The machine stopped a search (a full disk, read-only storage): finished trials are kept."""


def run_search(plan: SearchPlan, progress: SearchEvents | Callable[[TrialRecord], None] | None = None) -> None:
    """Run the plan's trials (resumable: the same run folder continues). A fault of the machine
    mid-search (a full disk, storage turned read-only, permission) stops it with one line: the
    trials that finished stay in the storage, and the same command resumes."""
    from sttune.files import REASONS, shown
    from sttune.tuning.runs import search_run

    events = _events(progress)
    try:
        search_run(plan.run, plan.loaded.cache_dir(), events, plan.trials, plan.timeout_minutes,
                   workers=plan.workers, worker_index=plan.worker_index, sets_up=plan.worker_index == 0,
                   joining=plan.joining)
    except OSError as exc:
        reason, fix = REASONS.get(exc.errno or 0, (exc.strerror or type(exc).__name__, "fix the cause"))
        where = shown(exc.filename) if exc.filename else plan.storage_label
        raise SearchStopped(f"the search stopped: cannot write {where}: {reason}",
                            f"the trials that finished are kept in {plan.storage_label}; {fix}, then run the same "
                            "command again to resume") from None


def search(
    recipe: RecipeLike, run_dir: str | Path | None = None, trials: int | None = None,
    budget: float | None = None, timeout_minutes: float | None = None, workers: int = 1,
    export: bool = True, verify_pairs: int | None = None,
    progress: SearchEvents | Callable[[TrialRecord], None] | None = None, quick: bool = False,
) -> Path:
    """Run ``sttune search`` (resumable: the same run folder continues); returns the run folder.

    With ``export`` the best configuration per dataset is written to ``<run>/best/`` as the CLI
    does (``verify_pairs`` re-timing pairs; 0 = off). ``progress``: a function called with each
    finished trial's record (``progress=print`` in a notebook), or a ``SearchEvents`` display.
    ``quick``: the baseline, the recommended configurations and the re-timing only.
    """
    _opt.check_flag("export", export)
    if verify_pairs is not None:
        _opt.check_verify_pairs(verify_pairs)
    _events(progress)  # checked before the run folder is started
    plan = plan_search(recipe, run_dir, trials, budget, timeout_minutes, workers, quick)
    run_search(plan, progress)
    if export:
        export_run_dir(plan.run, cache_dir=plan.loaded.cache_dir(), verify_pairs=verify_pairs)
    return plan.run.run_dir


# --- export, report -------------------------------------------------------------------------


def open_run(run: str | Path, run_dir: str | Path | None = None) -> Run:
    """A search's run folder, from the folder or from the recipe that started it."""
    from sttune.tuning.runs import open_run as _open

    _opt.check_path_arg("run", run, optional=False)
    _opt.check_path_arg("run_dir", run_dir)
    return _open(Path(run), None if run_dir is None else Path(run_dir))


@machine_faults
def export_run_dir(
    run: Run, rule: str | None = None, tolerance: float | None = None, cache_dir: Path | None = None,
    verify_pairs: int | None = None, listener: VerifyListener | None = None,
) -> list[Export]:
    """Export an open run: check the options, then select, verify and write ``best/``."""
    from sttune.outcome.export import export_run
    from sttune.outcome.select import check_rule

    if rule is not None:
        check_rule(rule)
    if tolerance is not None:
        from sttune.tuning.options import check_tolerance

        check_tolerance(tolerance)
    if verify_pairs is not None:
        from sttune.tuning.options import check_verify_pairs

        check_verify_pairs(verify_pairs)
    return export_run(run, rule, tolerance, cache_dir, pairs=verify_pairs, listener=listener)


@machine_faults
def export(
    run: str | Path, rule: str | None = None, tolerance: float | None = None, verify_pairs: int | None = None,
    run_dir: str | Path | None = None,
) -> list[Export]:
    """``sttune export RUN``: pick the best trial per dataset, write ``<run>/best/``; returns the
    exports (``.recipe_path``, ``.summary_path``, ``.chosen``, ``.verified``, ...)."""
    return export_run_dir(open_run(run, run_dir), rule, tolerance, verify_pairs=verify_pairs)


@machine_faults
def report(run: str | Path, plots: bool = True, run_dir: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """``sttune report RUN``: per dataset label, its trials' rows, the search's cost, break-even,
    failures, margins over plain training, naive forecasts, importances and the plots written
    under ``<run>/report/`` (the JSON ``sttune report --json`` prints, docs/json.md)."""
    from sttune.outcome.report import study_report
    from sttune.tuning import records as rec
    from sttune.tuning.runs import load_studies

    _opt.check_flag("plots", plots)
    opened = open_run(run, run_dir)
    return {rec.dataset_label(study): study_report(study, opened, plots) for study in load_studies(opened)}


def naive_warnings(run: Run) -> dict[str, str]:
    """Per dataset label, a warning when the study's best trial does not beat its naive forecasts
    on validation by 1% (what ``sttune search`` prints in its summary and ``sttune report`` beside
    the table); datasets whose best trial does are left out."""
    from sttune.outcome.report import naive_summary
    from sttune.tuning import records as rec
    from sttune.tuning.runs import load_studies

    found = {}
    for study in load_studies(run):
        summary = naive_summary(study)
        if summary is not None and summary["warning"]:
            found[rec.dataset_label(study)] = summary["warning"]
    return found


# --- what a search leaves -------------------------------------------------------------------


@dataclass(frozen=True)
class BestConfig:
    """An exported configuration as objects (``load_best``).

    model: the model block (plugin name and params); strategies: the strategies built with
    their params (fresh instances, ready for a trainer or :class:`sttune.StrategyLoop`);
    summary: the chosen trial as the export JSON lists it (val/test MAE, device seconds,
    speed-up, ...); artifacts: its strategies' artifacts (DynST's mask with sensor ids);
    deployment: DynST's deployment accuracy; recipe: the fixed recipe (``sttune.train`` it).
    """

    dataset: str
    model: ModelBlock
    strategies: list[Strategy]
    summary: dict[str, Any]
    artifacts: dict[str, Any]
    deployment: dict[str, Any]
    recipe: LoadedRecipe
    export: dict[str, Any]  # the whole export JSON

    @property
    def strategy_params(self) -> list[tuple[str, dict[str, Any]]]:
        return [(s.name, dict(s.params or {})) for s in self.recipe.recipe.strategies]

    def new_strategies(self) -> list[Strategy]:
        """Fresh strategy instances with the exported params (strategies keep state: one set per run)."""
        from sttune.registry.build import make_strategies

        return make_strategies(self.strategy_params)


@machine_faults
def load_best(run_dir: str | Path, dataset: str) -> BestConfig:
    """The configuration ``sttune export`` chose for ``dataset`` in ``run_dir``, as objects."""
    import json

    from sttune.files import check_file, kind

    _opt.check_path_arg("run_dir", run_dir, optional=False)
    _opt.check_label("dataset", dataset, optional=False)
    best = Path(run_dir) / "best"
    recipe_path, summary_path = best / f"{dataset}.yaml", best / f"{dataset}.json"
    if kind(recipe_path) is None or kind(summary_path) is None:
        found = sorted(p.stem for p in best.glob("*.yaml")) if kind(best) == "folder" else []
        raise RecipeError(f"no exported configuration for '{dataset}' in {best}",
                          f"exported: {', '.join(found)}" if found else "run `sttune export` on the run first")
    check_file(summary_path, "the export summary", RecipeError)
    loaded = _load_recipe(recipe_path)
    try:
        data = json.loads(summary_path.read_text())
        chosen = data["chosen"]
        if not isinstance(chosen, dict):
            raise TypeError("chosen is not a mapping")
    except (ValueError, KeyError, TypeError) as exc:
        what = f"lacks the key {exc}" if isinstance(exc, KeyError) else f"is not an export summary ({clip(str(exc), 80)})"
        raise RecipeError(f"{summary_path} {what}", "run `sttune export` on the run again") from None
    config = BestConfig(dataset, loaded.recipe.model, [], chosen, data.get("artifacts", {}),
                        data.get("deployment", {}), loaded, data)
    return replace(config, strategies=config.new_strategies())


@machine_faults
def load_model(path: str | Path) -> SavedModel:
    """Load a saved model (``sttune train --save DIR``): ``.predict(x)`` in raw units,
    ``.inputs(values, time_of_day, day_of_week)``, ``.node_ids``, ``.artifacts``. Its manifest
    is checked first: a changed or damaged file is one line naming it (SavedModelError)."""
    from sttune.interop.saved import load_model as _load

    _opt.check_path_arg("path", path, optional=False)
    return _load(path)
