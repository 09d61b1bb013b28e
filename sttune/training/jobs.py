"""One training job: a dataset, a model and strategies with fixed params, trained once.

Both ``sttune train`` and every search trial go through :func:`train_job`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sttune.errors import RecipeError
from sttune.recipe.settings import Protocol, TrainConfig
from sttune.recipe.spec import DatasetBlock, LoadedRecipe

if TYPE_CHECKING:
    from sttune.training.epoch import ProbeEvent

_DATA_CACHE: dict[str, Any] = {}


@dataclass(frozen=True)
class Job:
    """A fully fixed training configuration."""

    dataset: DatasetBlock
    protocol: Protocol
    model_name: str
    model_params: dict[str, Any]
    strategies: list[tuple[str, dict[str, Any]]]
    train: TrainConfig
    notes: tuple[str, ...] = field(default_factory=tuple)


def fixed_job(
    loaded: LoadedRecipe, dataset: str | None = None, epochs: int | None = None,
    strategies: list[tuple[str, dict[str, Any]]] | None = None,
) -> Job:
    """The job a recipe describes when nothing is searched (``sttune train``); ``strategies``
    (with params) replaces the recipe's own (:func:`sttune.tuning.space.training_strategies`)."""
    recipe = loaded.recipe
    block = _pick_dataset(loaded, dataset)
    if recipe.model.name is None:
        raise RecipeError(
            f"{loaded.path}: model.choices is a search; `sttune train` needs one model",
            "set model.name, or run `sttune search` and train its exported best recipe",
        )
    notes = []
    if strategies is None:
        strategies = []
        for s in recipe.strategies:
            if s.params is None:
                notes.append(f"strategy '{s.name}' has no params: trained with its defaults")
            strategies.append((s.name, dict(s.params or {})))
    train = recipe.train if epochs is None else replace(recipe.train, epochs=epochs)
    return Job(block, recipe.protocol, recipe.model.name, dict(recipe.model.params), strategies, train, tuple(notes))


def _pick_dataset(loaded: LoadedRecipe, label: str | None) -> DatasetBlock:
    blocks = loaded.recipe.datasets
    if label is None:
        if len(blocks) > 1:
            raise RecipeError(
                f"{loaded.path} lists {len(blocks)} datasets",
                f"choose one with --dataset ({', '.join(b.label for b in blocks)})",
            )
        return blocks[0]
    for block in blocks:
        if block.label == label:
            return block
    raise RecipeError(f"no dataset labelled '{label}' in {loaded.path}", f"use one of {', '.join(b.label for b in blocks)}")


def load_data_cached(block: DatasetBlock, protocol: Protocol, cache_dir: Path | None = None):  # -> DataModule
    """Load and window a dataset once per process (trials of a study share it); with
    ``cache_dir`` the computed data arrays are also cached on disk, memory-mapped by other processes
    (isolated trials, workers) and later runs (see :func:`sttune.data.protocol.build_data`)."""
    from sttune.registry.build import load_data

    key = json.dumps([block.name, block.id, block.params, repr(protocol)], sort_keys=True, default=str)
    if key not in _DATA_CACHE:
        _DATA_CACHE[key] = load_data(block, protocol, cache_dir)
    return _DATA_CACHE[key]


def naive_for(job: Job):  # -> NaiveForecasts
    """The naive forecasts of the job's dataset under its protocol, once per process."""
    from sttune.training.naive import naive_cached

    return naive_cached(load_data_cached(job.dataset, job.protocol))


def with_strategy_descriptors(data, strategies):  # (DataModule, list[Strategy]) -> DataModule
    """``data`` with the real-node descriptors the strategies ask for
    (:meth:`sttune.api.Strategy.node_descriptors`, in order); unchanged when none asks."""
    for strategy in strategies:
        given = data.node_inputs
        wanted = strategy.node_descriptors(given, data.train)
        if wanted is not given:
            data = data.with_node_inputs(wanted)
    return data


@dataclass
class Fitted:
    """A finished run with what produced it: the best-validation model (weights restored), the
    strategies after training (their artifacts), and the data it ran on."""

    result: Any  # TrainResult
    model: Any  # STModel
    strategies: list[Any]  # list[Strategy]
    data: Any  # DataModule


def train_job(job: Job, cache_dir: Path, listener=None):  # -> TrainResult
    """Train the job once; ``listener`` (a TrainListener) hears its events and may raise StopTraining.

    The result records the missing-value policy, and holds no MAPE where MAPE means nothing
    (targets near 0: :func:`sttune.training.metrics.mape_meaningful`), with a note saying so."""
    return fit_job(job, cache_dir, listener).result


def fit_job(job: Job, cache_dir: Path, listener=None) -> Fitted:
    """:func:`train_job`, keeping the trained model and strategies (saved models, the Python API)."""
    from sttune.registry.build import make_strategies, model_factory
    from sttune.training.deploy import deployment_metrics, inference_timing, kept_sensors, without_mape
    from sttune.training.metrics import drop_mape
    from sttune.training.naive import MAPE_NOTE, mape_cached
    from sttune.training.timing import DeviceClock, clock_name, device_name
    from sttune.training.trainer import Trainer

    strategies = make_strategies(job.strategies)
    data = with_strategy_descriptors(load_data_cached(job.dataset, job.protocol, cache_dir), strategies)
    build = model_factory(job.model_name, job.model_params, data, strategies)
    built: list[Any] = []

    def new_model():  # the trainer's first build is the model it trains (and restores to its best)
        model = build()
        built.append(model)
        return model

    trainer = Trainer(job.train, cache_dir)
    result = trainer.fit(new_model, data, strategies, listener)
    result.missing = data.missing
    model, moved = built[0], data.to(trainer.device)
    chosen = kept_sensors(result.artifacts)
    if chosen is not None:
        result.deployment = deployment_metrics(model, moved, chosen[1], chosen[0], job.train.eval_batch_size)
        timing = inference_timing(model, moved, chosen[1], job.train.eval_batch_size,
                                  lambda: DeviceClock(trainer.device, job.train.cpu_clock))
        result.deployment["inference"] = {"clock": clock_name(trainer.device, job.train.cpu_clock),
                                          "device": device_name(trainer.device), **timing}
    if not mape_cached(data):
        result.val, result.test = drop_mape(result.val), drop_mape(result.test)
        result.deployment = without_mape(result.deployment)
        result.notes.append(MAPE_NOTE)
    return Fitted(result, model, strategies, moved)


def probe_job(job: Job, cache_dir: Path, batches_at: Callable[[int], int], now: Callable[[], float] | None = None,
              ) -> Iterator[ProbeEvent]:
    """Re-run the job's schedule for timing (Trainer.probe_schedule): each epoch's selection,
    its first ``batches_at(epoch)`` batches and its epoch-end hooks, one timed step at a time."""
    from sttune.registry.build import make_strategies, model_factory
    from sttune.training.trainer import Trainer

    strategies = make_strategies(job.strategies)
    data = with_strategy_descriptors(load_data_cached(job.dataset, job.protocol), strategies)
    new_model = model_factory(job.model_name, job.model_params, data, strategies)
    return Trainer(job.train, cache_dir, now).probe_schedule(new_model, data, strategies, batches_at)
