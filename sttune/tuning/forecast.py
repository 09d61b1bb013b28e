"""A search's plan and its predicted cost, before anything is spent (``sttune search --dry-run``).

A search's cost is hard to guess from a recipe: the ladder, the recommended configurations and
the export's re-timing come on top of the sampled trials, and the budget's rule starts a trial
only when its predicted cost still fits (a queued one that does not is skipped). So the plan is built the way a study
builds its trials (:func:`~sttune.tuning.space.job_for_trial` on an in-memory study, the
baselines and recommendations in :mod:`sttune.tuning.setup`'s order), each trial's work is
predicted from the strategies' own plans (:func:`~sttune.training.plan.planned_fraction`), and
the budget's rule (:mod:`sttune.tuning.accounting`) is replayed over those predictions.

Seconds come from a short calibration on this device: the full baseline's own job trains a few
batches through the re-timing probe (:func:`~sttune.training.jobs.probe_job`, the steps a trial
runs) and one validation pass is timed. Device seconds are the training alone, as a trial is
charged; wall seconds add the evaluation passes. A strategy that replaces the training windows
(STemDist's distilled set) is not predicted: its preparation is no planned work, and no number
is made up for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import optuna

from sttune.errors import RecipeError
from sttune.recipe.settings import TrainConfig
from sttune.recipe.spec import DatasetBlock, LoadedRecipe, Recipe, SearchConfig
from sttune.registry import discovery as plugins
from sttune.training.jobs import Job
from sttune.tuning.accounting import reserve_share
from sttune.tuning.keys import RECOMMENDED
from sttune.tuning.predict import MARGIN
from sttune.tuning.setup import deferred
from sttune.tuning.space import (
    baseline_job,
    epochs_for_fraction,
    has_search_space,
    job_for_trial,
    recommended_trials,
    strategy_choices,
)

WARMUP_BATCHES, TIMED_BATCHES = 2, 10  # the calibration: batches left out (cold caches), then timed
DRAWS = 50  # configurations drawn per strategy choice to estimate a sampled trial
SAMPLED_CAP = 10_000  # a budget of tiny sampled trials: count no further


@dataclass(frozen=True)
class Calibration:
    """The full baseline's job timed briefly on this device (see the module doc)."""

    device: str
    clock: str  # what batch seconds were read from (a trial's own clock)
    batch_seconds: float  # mean of the timed training batches
    timed_batches: int
    warmup_batches: int
    batches_per_epoch: int
    eval_seconds: float  # one validation pass (wall)
    test_eval_seconds: float  # the test pass, scaled from the validation pass by window count
    seconds: float  # wall seconds the calibration itself took (building, batches, validation)


@dataclass(frozen=True)
class PlannedTrial:
    """One row of the plan: a trial (or ``count`` sampled ones) and what it is predicted to cost.

    ``work_fraction`` is one trial's predicted share of the full baseline's work (None: not
    predicted); ``baselines``, ``device_seconds`` and ``wall_seconds`` are the whole row's."""

    kind: str  # "baseline", "ladder", "recommended", "sampled", "verification"
    label: str
    params: dict[str, Any]
    count: int
    epochs: int
    work_fraction: float | None
    baselines: float | None
    device_seconds: float | None
    wall_seconds: float | None
    runs: bool = True  # False: the trial count, the budget or the timeout stops the search before it
    note: str = ""


@dataclass(frozen=True)
class DatasetPlan:
    """One dataset's study: its rows in the order a search runs them, and what stops it."""

    dataset: str
    model: str
    epochs: int
    calibration: Calibration
    baseline_seconds: float  # predicted device seconds of the full baseline
    rows: tuple[PlannedTrial, ...]
    budget: float | None
    trials: int | None
    timeout_minutes: float | None
    ladder: str  # "trained" or "derived"
    sampled_fraction: float | None  # a sampled trial's estimated work fraction (None: not predicted)
    sampled_trials: int | None  # sampled trials the limits afford (None: not predicted)
    stops_at: str  # what ends the search: "trial count", "budget", "timeout", "quick", "no search space"
    notes: tuple[str, ...]
    sampled_left_out: tuple[str, ...] = ()  # strategy choices the sampled estimate could not predict

    @property
    def total_baselines(self) -> float:
        """The predicted cost of the rows that run, the re-timing reserve included."""
        return sum(r.baselines for r in self.rows if r.runs and r.baselines is not None)

    @property
    def total_device_seconds(self) -> float:
        return self.total_baselines * self.baseline_seconds

    @property
    def total_wall_seconds(self) -> float:
        return sum(r.wall_seconds for r in self.rows if r.runs and r.wall_seconds is not None)

    @property
    def complete(self) -> bool:
        """Every trial that runs has a predicted cost (else the totals leave some out or price
        them at the others' mean)."""
        sampled = bool(self.sampled_trials) and bool(self.sampled_left_out)
        return not sampled and all(r.baselines is not None for r in self.rows if r.runs)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(rows=[asdict(r) for r in self.rows], notes=list(self.notes),
                   total_baselines=self.total_baselines, total_device_seconds=self.total_device_seconds,
                   total_wall_seconds=self.total_wall_seconds, complete=self.complete)
        return out


@dataclass(frozen=True)
class SearchPreview:
    """What ``sttune search --dry-run`` prints: per dataset the trial plan and its predicted cost."""

    recipe: str
    run_dir: Path
    quick: bool
    datasets: tuple[DatasetPlan, ...]
    notes: tuple[str, ...] = ()

    @property
    def total_device_seconds(self) -> float:
        return sum(d.total_device_seconds for d in self.datasets)

    @property
    def total_wall_seconds(self) -> float:
        return sum(d.total_wall_seconds for d in self.datasets)

    def to_dict(self) -> dict[str, Any]:
        return {"recipe": self.recipe, "run_dir": str(self.run_dir), "quick": self.quick,
                "datasets": {d.dataset: d.to_dict() for d in self.datasets}, "notes": list(self.notes),
                "total_device_seconds": self.total_device_seconds, "total_wall_seconds": self.total_wall_seconds}


# --- the recipe as the search would run it ------------------------------------------------------


def quick_search(search: SearchConfig, quick: bool) -> SearchConfig:
    """``search`` as a quick search runs it (baselines, recommendations and verification, no sampled
    trials, the recipe's budget); unchanged without ``quick``."""
    return replace(search, quick=True) if quick else search


def ladder_mode(recipe: Recipe) -> str:
    """"derived" (the rungs read off the full baseline's curve: no training) or "trained"."""
    return str(getattr(recipe.search, "ladder", "trained"))


# --- calibration ------------------------------------------------------------------------------


def calibrate(job: Job, cache_dir: Path, warmup: int = WARMUP_BATCHES, timed: int = TIMED_BATCHES) -> Calibration:
    """Time ``warmup + timed`` training batches of ``job`` (its first epochs, through the probe a
    verification re-times with: the trial's model, data, optimiser and clock) and one validation
    pass; the warm-up batches are left out of the mean (first-call allocations, cold caches)."""
    from sttune.registry.build import model_factory
    from sttune.training.device import on_device
    from sttune.training.evaluation import evaluate
    from sttune.training.jobs import load_data_cached
    from sttune.training.timing import clock_name, device_name, resolve_device

    start = time.perf_counter()
    seconds, per_epoch = _probe_batches(job, cache_dir, warmup + timed)
    kept = seconds[warmup:] or seconds
    device = resolve_device(job.train.device)
    data = on_device(load_data_cached(job.dataset, job.protocol), device)
    model = model_factory(job.model_name, job.model_params, data)().to(device)
    began = time.perf_counter()
    evaluate(model, data.val, data, job.train.eval_batch_size)
    eval_s = time.perf_counter() - began
    return Calibration(
        device=device_name(device), clock=clock_name(device, job.train.cpu_clock), batch_seconds=sum(kept) / len(kept),
        timed_batches=len(kept), warmup_batches=len(seconds) - len(kept), batches_per_epoch=per_epoch,
        eval_seconds=eval_s, test_eval_seconds=eval_s * len(data.test) / max(len(data.val), 1),
        seconds=time.perf_counter() - start,
    )


def _probe_batches(job: Job, cache_dir: Path, wanted: int) -> tuple[list[float], int]:
    """The seconds of the job's first ``wanted`` training batches (over as many epochs as that
    takes) and its batches per epoch; the probe stops as soon as it has them."""
    from sttune.training.jobs import probe_job

    steps = probe_job(job, cache_dir, lambda epoch: wanted)
    seconds: list[float] = []
    per_epoch = 0
    try:
        for event in steps:
            if event.kind == "select" and not per_epoch:
                per_epoch = event.full_batches
            elif event.kind == "batch":
                seconds.append(event.seconds)
                if len(seconds) >= wanted:
                    break
    finally:
        getattr(steps, "close", lambda: None)()
    if not seconds:
        raise RecipeError(f"dataset '{job.dataset.label}': the full baseline runs no training batch",
                          "check the protocol's split: the training set is empty")
    return seconds, per_epoch


def eval_passes(train: TrainConfig, epochs: int) -> int:
    """Validation passes of a training of ``epochs`` (every ``val_every`` and always the last)."""
    from sttune.training.evaluation import validates

    return sum(validates(e, epochs, train.val_every) for e in range(epochs))


# --- predicted work -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Prediction:
    """One configuration's predicted work fraction (None: not predicted) and why, when it is not plain."""

    fraction: float | None
    note: str = ""


def predict(strategies: list[tuple[str, dict[str, Any]]], epochs: int) -> Prediction:
    """The configuration's planned share of the plain model's work, before training.

    A strategy that replaces the training windows trains on a set its preparation builds (a
    distillation): neither is in its planned work, so nothing is predicted. A plan that cannot
    be read before ``prepare`` (a third-party strategy that needs its data) counts as the full
    work, marked unknown. A configuration that does not build raises RecipeError."""
    from sttune.registry.build import make_strategies
    from sttune.training.plan import planned_fraction

    for name, _ in strategies:
        if getattr(plugins.load("strategy", name), "replaces_windows", False):
            return Prediction(None, f"not predicted: {name} replaces the training windows (its preparation is no planned work)")
    built = make_strategies(strategies)
    try:
        return Prediction(planned_fraction(built, epochs))
    except Exception as exc:  # a plugin's planned_work that needs prepare: its own code, any error
        return Prediction(1.0, f"unknown: planned_work raised before prepare ({type(exc).__name__}); counted as 1.0")


def _in_memory_study(seed: int) -> optuna.Study:
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "new study created" line
    try:
        return optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    finally:
        optuna.logging.set_verbosity(verbosity)


def _job_asked(study: optuna.Study, recipe: Recipe, dataset: DatasetBlock, params: dict[str, Any],
               attrs: dict[str, Any] | None = None) -> Job:
    """The job a search builds for a trial enqueued with ``params`` (the rest sampled)."""
    study.enqueue_trial(params, user_attrs=attrs)
    trial = study.ask()
    try:
        return job_for_trial(trial, recipe, dataset)
    finally:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)


def recommended_rows(recipe: Recipe, dataset: DatasetBlock) -> list[tuple[str, Job]]:
    """The recommended trials a study enqueues (:func:`recommended_trials`), each as its job."""
    study = _in_memory_study(recipe.search.seed)
    trials, _ = recommended_trials(recipe)
    return [(tag, _job_asked(study, recipe, dataset, params, {RECOMMENDED: tag})) for tag, params in trials]


@dataclass(frozen=True)
class SampledEstimate:
    """A sampled trial's estimated work fraction: the mean over the strategy choices that can be
    predicted of each choice's mean over its draws; per choice its mean, or None and why not."""

    fraction: float | None
    by_choice: dict[str, float | None]
    why_not: dict[str, str]  # choice -> why it is not predicted
    draws: int  # configurations predicted, over all choices
    unknown: int  # of them, plans that could not be read before prepare (counted as 1.0)


def sampled_estimate(recipe: Recipe, dataset: DatasetBlock, draws: int = DRAWS) -> SampledEstimate:
    """Draw ``draws`` configurations per strategy choice with a random sampler (as the search's
    space and held knobs propose them) and average their predicted work fractions. A draw the
    strategy refuses is left out: its trial fails before it trains."""
    study = _in_memory_study(recipe.search.seed)
    choices = strategy_choices(recipe) or [""]
    by_choice: dict[str, float | None] = {}
    why_not: dict[str, str] = {}
    predicted = unknown = 0
    for choice in choices:
        name = choice or "plain"
        fixed = {"strategy": choice} if len(choices) > 1 else {}
        fractions: list[float] = []
        for _ in range(draws):
            try:
                job = _job_asked(study, recipe, dataset, fixed)
                found = predict(job.strategies, job.train.epochs)
            except Exception:  # a refused draw (RecipeError) or a plugin's space() raising: no work
                continue
            if found.fraction is None:
                why_not[name] = found.note
                break
            fractions.append(found.fraction)
            unknown += found.note.startswith("unknown")
        predicted += len(fractions)
        by_choice[name] = sum(fractions) / len(fractions) if fractions else None
        if not fractions and name not in why_not:
            why_not[name] = f"not predicted: none of {draws} draws of its space built"
    known = [f for f in by_choice.values() if f is not None]
    return SampledEstimate(sum(known) / len(known) if known else None, by_choice, why_not, predicted, unknown)


# --- the search's course ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    """A trial the study enqueues, before the limits are applied."""

    kind: str
    label: str
    params: dict[str, Any]
    epochs: int
    prediction: Prediction
    strategy: str | None  # the strategies' label ("dynst"), what the budget estimates it from
    cost: float | None  # baselines it is charged (None: not predicted)
    wall: float | None
    note: str = ""
    estimate: float | None = None  # a baseline rung: what the budget expects before it runs


@dataclass(frozen=True)
class Limits:
    """What stops a study (None: not set); ``reserve`` in full baselines."""

    trials: int | None
    budget: float | None
    timeout_seconds: float | None
    reserve: float


@dataclass
class _Course:
    """The budget's bookkeeping replayed (sttune.tuning.accounting): baselines committed, the
    dearest trial so far and per strategy, trials claimed and wall seconds elapsed."""

    limits: Limits
    committed: float = 0.0
    dearest: float = 1.0  # the full baseline is always among the finished trials
    claims: int = 0
    elapsed: float = 0.0
    stop: str = ""

    def __post_init__(self) -> None:
        self.by_strategy: dict[str, float] = {}

    def estimate(self, step: _Step) -> float:
        """The accounting's estimate of a trial before it starts (``_estimator``)."""
        if step.estimate is not None:
            return step.estimate
        if step.cost is not None and step.kind not in ("baseline", "ladder"):
            return step.cost * MARGIN  # a trial whose plan predicts its cost: as the search checks it
        return self.by_strategy.get(step.strategy or "", self.dearest) if step.strategy else self.dearest

    def starts(self, step: _Step) -> bool:
        """Whether the study starts ``step`` next; records what stops it otherwise."""
        lim = self.limits
        if lim.trials is not None and self.claims >= lim.trials:
            self.stop = "trial count"
        elif lim.timeout_seconds is not None and self.elapsed >= lim.timeout_seconds:
            self.stop = "timeout"
        elif (lim.budget is not None and self.claims > 0
              and self.committed + lim.reserve + self.estimate(step) > lim.budget):
            if step.kind == "recommended":
                return False  # skipped untrained: the next queued trial may still fit
            self.stop = "budget"
        return not self.stop

    def run(self, step: _Step) -> None:
        self.claims += 1
        self.committed += step.cost or 0.0
        self.elapsed += step.wall or 0.0
        if step.cost is not None and step.kind not in ("baseline", "ladder"):
            self.dearest = max(self.dearest, step.cost)
            if step.strategy:
                self.by_strategy[step.strategy] = max(self.by_strategy.get(step.strategy, 0.0), step.cost)


def run_course(steps: list[_Step], sampled: _Step | None, limits: Limits) -> tuple[list[bool], int | None, str]:
    """Replay the study's limits over the enqueued ``steps`` and then ``sampled`` trials (None:
    none are asked); returns which steps run, the sampled trials that run (None: their cost is
    not predicted, so the budget or timeout cannot count them) and what stops the search."""
    course = _Course(limits)
    runs = []
    for step in steps:
        ok = not course.stop and course.starts(step)
        if ok:
            course.run(step)
        runs.append(ok)
    if course.stop or sampled is None:
        return runs, 0, course.stop
    if sampled.cost is None and (limits.budget is not None or limits.timeout_seconds is not None):
        left = None if limits.trials is None else max(limits.trials - course.claims, 0)
        return runs, left, "trial count" if left is not None else "not predicted"
    count = 0
    while count < SAMPLED_CAP and course.starts(sampled):
        course.run(sampled)
        count += 1
    return runs, count, course.stop or "no limit"


# --- the plan ---------------------------------------------------------------------------------


def plan_dataset(recipe: Recipe, dataset: DatasetBlock, cache_dir: Path, trials: int | None,
                 timeout_minutes: float | None, quick: bool, workers: int = 1) -> DatasetPlan:
    """One dataset's plan: calibrate, predict each enqueued trial and the sampled ones, replay the limits."""
    base_job = baseline_job(recipe, dataset, 1.0)
    cal = calibrate(base_job, cache_dir)
    epochs, train = recipe.train.epochs, recipe.train
    base_s = cal.batch_seconds * cal.batches_per_epoch * epochs

    def wall(fraction: float | None, n_epochs: int) -> float | None:
        evals = eval_passes(train, n_epochs) * cal.eval_seconds + cal.test_eval_seconds
        return None if fraction is None else fraction * base_s + evals

    steps = _enqueued(recipe, dataset, wall)
    searching = has_search_space(recipe) and not quick
    sampled, estimate = None, None
    if searching:
        estimate = sampled_estimate(recipe, dataset)
        f = estimate.fraction
        sampled = _Step("sampled", "sampled", {}, epochs, Prediction(f), None, f, wall(f, epochs))
    reserve = reserve_share(cal.batches_per_epoch * epochs, recipe.export.verify_pairs)
    limits = Limits(trials or recipe.search.trials, recipe.search.budget,
                    None if timeout_minutes is None else 60 * timeout_minutes, reserve)
    runs, n_sampled, stop = run_course(steps, sampled, limits)
    rows = [_row(s, ok, base_s) for s, ok in zip(steps, runs)]
    if sampled is not None and estimate is not None:
        rows.append(_sampled_row(sampled, n_sampled, estimate, base_s))
    rows.append(PlannedTrial("verification", "verification reserve", {}, 1, epochs, None, reserve, reserve * base_s,
                             reserve * base_s, True, "the export's re-timing of the chosen trial, at its expected size"))
    return DatasetPlan(
        dataset.label, base_job.model_name, epochs, cal, base_s, tuple(rows), limits.budget, limits.trials,
        timeout_minutes, ladder_mode(recipe), None if estimate is None else estimate.fraction, n_sampled,
        stop or ("quick" if quick else "no search space"), tuple(_notes(recipe, estimate, steps, workers)),
        () if estimate is None else tuple(estimate.why_not),
    )


def _enqueued(recipe: Recipe, dataset: DatasetBlock,
              wall: Callable[[float | None, int], float | None]) -> list[_Step]:
    """The trials a study enqueues, in order: the full baseline, the ladder, the recommendations."""
    epochs, derived = recipe.train.epochs, ladder_mode(recipe) == "derived"
    steps = [_Step("baseline", "baseline", {}, epochs, Prediction(1.0), None, 1.0, wall(1.0, epochs), "", 1.0)]
    for f in sorted(recipe.search.baseline_ladder, reverse=True):
        n = epochs_for_fraction(epochs, f)
        if derived:
            steps.append(_Step("ladder", f"ladder {100 * f:g}%", {}, n, Prediction(0.0), None, 0.0, 0.0,
                               "derived from the full baseline's curve: free", 0.0))
        else:
            share = n / epochs  # a rung trains whole epochs; the budget expects f of the baseline
            steps.append(_Step("ladder", f"ladder {100 * f:g}%", {}, n, Prediction(share), None, share, wall(share, n),
                               "trained", f))
    recommended = []
    for tag, job in recommended_rows(recipe, dataset):
        try:
            found = predict(job.strategies, job.train.epochs)
        except RecipeError as exc:  # its trial fails before it trains
            found = Prediction(None, f"not predicted: it does not build ({exc.message})")
        label = "+".join(name for name, _ in job.strategies) or None
        params = {name: p for name, p in job.strategies}
        recommended.append(_Step("recommended", tag, params, epochs, found, label, found.fraction,
                                 wall(found.fraction, epochs), found.note))
    # queued cheapest predicted first, as sttune.tuning.setup enqueues them (no plan: last)
    return steps + sorted(recommended, key=lambda step: 2.0 if step.prediction.fraction is None else step.prediction.fraction)


def _row(step: _Step, runs: bool, base_s: float) -> PlannedTrial:
    cost = step.cost
    return PlannedTrial(step.kind, step.label, step.params, 1, step.epochs, step.prediction.fraction, cost,
                        None if cost is None else cost * base_s, step.wall, runs, step.note)


def _sampled_row(step: _Step, count: int | None, estimate: SampledEstimate, base_s: float) -> PlannedTrial:
    per = step.cost
    n = count or 0
    shown = ", ".join(f"{k} {'not predicted' if v is None else f'{v:.2f}'}" for k, v in estimate.by_choice.items())
    note = f"estimate: mean of {estimate.draws} random draws ({shown})"
    return PlannedTrial("sampled", f"sampled ×{'?' if count is None else count}", {}, n, step.epochs, per,
                        None if per is None else n * per, None if per is None else n * per * base_s,
                        None if step.wall is None else n * step.wall, n > 0 or count is None, note)


def _notes(recipe: Recipe, estimate: SampledEstimate | None, steps: Iterable[_Step], workers: int) -> list[str]:
    """What the prediction leaves out or assumes, one line each."""
    notes = []
    if estimate is not None:
        for choice, why in estimate.why_not.items():
            notes.append(f"sampled {choice} trials (about 1 in {len(estimate.by_choice)}) are {why}; the sampled "
                         "estimate leaves them out, so the total prices them at the others' mean, and one may cost "
                         "more than a baseline")
        if estimate.unknown:
            notes.append(f"{estimate.unknown} sampled draws had a plan unknown before prepare: counted as 1.0")
    if any(s.cost is None for s in steps):
        notes.append("rows marked 'not predicted' are left out of the totals")
    if deferred(recipe):
        notes.append("the recommendations run once the baseline has trained, on its shortest ladder rung within the "
                     "export's tolerance (known only then): they are priced here at full length, an upper bound, and "
                     "sampled trials may train as short as that rung")
    if recipe.search.early_stopping.enabled or recipe.train.patience is not None:
        notes.append("early stopping may end trials sooner: every trial is priced at its whole schedule")
    model = recipe.model
    if (model.choices and len(model.choices) > 1) or model.search_params:
        notes.append("the model is searched: every trial is priced at the baseline model's seconds per unit of work")
    if workers > 1:
        notes.append(f"{workers} workers run up to {workers} trials at once: wall time shrinks, device seconds "
                     "and the budget's count do not")
    notes.append("wall s counts the training and evaluation passes only (not start-up, data loading or preparation)")
    if recipe.search.reuse_results:
        notes.append("a sampled trial that repeats a finished job reuses its result for free and takes no slot")
    return notes


def preview(loaded: LoadedRecipe, trials: int | None, timeout_minutes: float | None, quick: bool,
            run_dir: Path | None, workers: int = 1) -> SearchPreview:
    """The plan of every dataset's study (the recipe checked and its data loaded already)."""
    from sttune.files import kind

    recipe = loaded.recipe
    quick = quick or bool(getattr(recipe.search, "quick", False))
    recipe = replace(recipe, search=quick_search(recipe.search, quick))
    timeout = timeout_minutes or recipe.search.timeout_minutes
    plans = tuple(plan_dataset(recipe, block, loaded.cache_dir(), trials, timeout, quick, workers)
                  for block in recipe.datasets)
    folder = loaded.run_dir(run_dir)
    notes = []
    if kind(folder) is not None:
        notes.append(f"the run folder {folder} exists: a search would resume what it holds; "
                     "this plans a fresh study (trials already done are not counted)")
    if quick:
        notes.append("quick: the baselines, the recommended configurations and the re-timing only")
    return SearchPreview(str(loaded.path), folder, quick, plans, tuple(notes))
