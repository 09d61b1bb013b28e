"""The trainer: seeds, preparation (the strategies' ``prepare`` hooks, timed apart), the epochs,
validation and the best checkpoint, and the result with its device-time accounting.

The hook order is documented once, in :mod:`sttune.api`. Only the training steps and the
strategies' hooks are timed (:class:`sttune.training.epoch.Training`); validation and testing
are not (:mod:`sttune.training.evaluation`), preparation is timed apart.
"""

from __future__ import annotations

import copy
import math
import random
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from sttune.api import ModelSpec, PrepareContext, STModel, StopTraining, Strategy, TrainContext, WindowSource
from sttune.data.protocol import DataModule
from sttune.errors import TrainingError
from sttune.recipe.settings import TrainConfig
from sttune.training.device import on_device
from sttune.training.epoch import ProbeEvent, Training
from sttune.training.evaluation import evaluate, validates
from sttune.training.listener import TrainListener, listens_to_prepare
from sttune.training.plan import epochs_ahead
from sttune.training.result import RAN_ALL_EPOCHS, EpochRecord, PrepareCheckpoint, TrainResult
from sttune.training.timing import DeviceClock, PeakMemory, clock_name, device_name, resolve_device
from sttune.training.work import WorkCounter, WorkSummary, scaled_work

__all__ = ["StopTraining", "TrainListener", "Trainer"]


def _check_not_replaced_after_others(
    given: WindowSource, returned: WindowSource, earlier: Sequence[Strategy], name: str
) -> None:
    """A TrainingError when ``name`` replaced the training windows that ``earlier`` strategies
    already prepared on (their per-window or per-node state would index the wrong set)."""
    if earlier and (len(returned) != len(given) or returned.n_nodes != given.n_nodes):
        raise TrainingError(
            f"strategy '{name}' replaced the training windows after {', '.join(s.name for s in earlier)} "
            "prepared on them", f"list '{name}' first, or run it alone (search.combine leaves it out of combinations)")


def context_fields(
    *, n_epochs: int, model: nn.Module, device: torch.device, seed: int, spec: ModelSpec, cache_dir: Path,
    dataset_key: str, batch_size: int, target_mean: float, target_std: float,
    new_model: Callable[[], STModel] | None = None, evaluate: Callable[[nn.Module], float] | None = None,
) -> dict[str, Any]:
    """What every :class:`PrepareContext` and the :class:`TrainContext` of one run carry (the
    trainer's and StrategyLoop's rule): ``PrepareContext(**fields, <that call's clock>)`` for each
    strategy's ``prepare``, ``TrainContext(epoch=0, train_size=..., **fields)`` for the epoch hooks.
    One CPU generator, seeded ``seed + 1``: the epoch hooks go on drawing where preparation left it."""
    return dict(
        n_epochs=n_epochs, model=model, device=device, seed=seed, generator=torch.Generator().manual_seed(seed + 1),
        spec=spec, cache_dir=cache_dir, dataset_key=dataset_key, new_model=new_model, evaluate=evaluate,
        batch_size=batch_size, target_mean=target_mean, target_std=target_std,
    )


def _stop_reason(stop: StopTraining) -> str:
    return f"stopped: {stop}" if str(stop) else "stopped"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Trainer:
    """Trains one model on one dataset with a list of strategies; returns a TrainResult."""

    def __init__(
        self, config: TrainConfig, cache_dir: Path = Path(".sttune-cache"), now: Callable[[], float] | None = None
    ) -> None:
        self.config = config
        self.cache_dir = cache_dir
        self.device = resolve_device(config.device)
        self._now = now  # the device clocks' time source; None = the configured clock (tests inject one)

    def _clock(self) -> DeviceClock:
        return DeviceClock(self.device, self.config.cpu_clock, self._now)

    def fit(
        self,
        new_model: Callable[[], STModel],
        data: DataModule,
        strategies: Sequence[Strategy] = (),
        listener: TrainListener | None = None,
    ) -> TrainResult:
        """Train ``new_model()`` on ``data``; ``listener`` hears the run's events (see
        :class:`TrainListener`) and may end it (StopTraining) at an epoch or a checkpoint."""
        cfg = self.config
        start = self._start(new_model, data, strategies, listener)
        model, data, training, stopped = start.model, start.data, start.training, start.stopped
        best_val: dict | None = None  # the best epoch's validation metrics: not computed twice
        if stopped is None:
            curve, best_state, best_epoch, stop_reason, best_val = self._loop(training, start.scheduler, listener)
            model.load_state_dict(best_state)
        else:  # stopped at a preparation checkpoint: nothing trained, the untrained model is evaluated
            curve, best_epoch, stop_reason = [], -1, stopped
        prepare_by_strategy, charged = start.prepare_by_strategy, training.charged_prepare_seconds
        prepared_s = sum(prepare_by_strategy)
        if listener is not None and stop_reason != RAN_ALL_EPOCHS:
            listener.on_stop(stop_reason)
        work = total_work(curve, start.prepare_work, charged / prepared_s if prepared_s > 0 else 1.0,
                        data.spec.n_nodes, float(getattr(model, "node_cost_exponent", 1.0)))
        return TrainResult(
            val=best_val if best_val is not None else evaluate(model, data.val, data, cfg.eval_batch_size),
            test=evaluate(model, data.test, data, cfg.eval_batch_size),
            device_seconds=training.clock.seconds,
            prepare_seconds=prepared_s,
            charged_prepare_seconds=charged,
            peak_memory_bytes=start.memory.peak_bytes(),
            prepare_peak_memory_bytes=start.memory.prepare_peak_bytes,
            memory_kind=start.memory.kind,
            epochs_run=len(curve),
            best_epoch=best_epoch,
            curve=curve,
            device=device_name(self.device),
            n_train_windows=len(data.train),
            n_prepared_windows=len(training.train),
            stop_reason=stop_reason,
            artifacts={s.name: s.artifacts() for s in strategies if s.artifacts()},
            overhead_seconds=start.overhead_seconds,
            work=work,
            clock=clock_name(self.device, cfg.cpu_clock, injected=self._now is not None),
            cpu_threads=torch.get_num_threads() if self.device.type == "cpu" else None,
        )

    def probe_schedule(
        self, new_model: Callable[[], STModel], data: DataModule, strategies: Sequence[Strategy],
        batches_at: Callable[[int], int],
    ) -> Iterator[ProbeEvent]:
        """Re-run the schedule for timing: every epoch of :meth:`fit`, after the same untimed
        preparation, with the strategies acting as in training (DynST's mask at that epoch's
        sparsity, ST-Prune past its warm-up), but only ``batches_at(epoch)`` batches of each
        epoch, each step yielded as it ends (:meth:`Training.probe_epoch`). No validation, no
        result: this is what the verified speed-up re-times, interleaved with the baseline's."""
        start = self._start(new_model, data, strategies, None)
        if start.stopped is not None:
            raise TrainingError("the run stopped in preparation, there is no epoch to time", "check the strategy params")
        training, cfg = start.training, self.config
        shuffle = torch.Generator().manual_seed(cfg.seed)
        for epoch in range(cfg.epochs):
            training.ctx.epoch = epoch
            yield from training.probe_epoch(shuffle, cfg, batches_at(epoch))
            with warnings.catch_warnings():  # an epoch probed with no batch steps no optimiser; its lr still moves on
                warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step", category=UserWarning)
                start.scheduler.step()

    def _start(
        self, new_model: Callable[[], STModel], data: DataModule, strategies: Sequence[Strategy],
        listener: TrainListener | None,
    ) -> _Start:
        """Everything before the first epoch: seeds, threads, the model, preparation, the optimiser."""
        cfg = self.config
        seed_everything(cfg.seed)
        if cfg.cpu_threads is not None and self.device.type == "cpu":
            torch.set_num_threads(cfg.cpu_threads)
        data = on_device(data, self.device)
        model = new_model().to(self.device)
        shared = self._shared(model, data, new_model)
        memory = PeakMemory(self.device)
        memory.reset()
        prepare_work = WorkCounter()
        train, prepare_by_strategy, overhead, stopped = self._prepare(data.train, strategies, shared, prepare_work, listener)
        if len(train) == 0 and stopped is None:
            raise TrainingError("the training set is empty after preparation", "check the strategy params")
        ctx = TrainContext(epoch=0, train_size=len(train), **shared)
        optimizer, scheduler = self._optimiser(model, strategies)
        charged = sum(s.prepare_charge_seconds(t) for s, t in zip(strategies, prepare_by_strategy))
        training = Training(model, data, train, strategies, ctx, optimizer, self._clock(), charged)
        return _Start(model, data, training, scheduler, memory, prepare_by_strategy, prepare_work.window_nodes,
                      overhead, stopped)

    def _shared(self, model: STModel, data: DataModule, new_model: Callable[[], STModel]) -> dict[str, Any]:
        """What the PrepareContexts and the TrainContext of one run both carry."""
        cfg = self.config
        return context_fields(
            n_epochs=cfg.epochs, model=model, device=self.device, seed=cfg.seed, spec=data.spec,
            cache_dir=self.cache_dir, dataset_key=data.key, new_model=lambda: new_model().to(self.device),
            evaluate=lambda m: evaluate(m, data.val, data, cfg.eval_batch_size)["mae"],
            batch_size=cfg.batch_size, target_mean=data.target_mean, target_std=data.target_std,
        )

    def _prepare(
        self, train: WindowSource, strategies: Sequence[Strategy], shared: dict[str, Any], work: WorkCounter,
        listener: TrainListener | None,
    ) -> tuple[WindowSource, list[float], float, str | None]:
        """Run every ``prepare`` hook, timed apart, each with its own PrepareContext (its clock,
        its checkpoints; the passes it reports go to ``work``).

        Returns the source, each strategy's device seconds, the seconds spent inside
        ``ctx.search_overhead()`` (left out of the former), and the stop reason when a
        checkpoint inside a hook stopped the run (then later hooks do not run).
        """
        seconds, overhead = [0.0] * len(strategies), 0.0
        listening = listens_to_prepare(listener)
        try:
            for i, strategy in enumerate(strategies):
                clock = self._clock()
                ctx = PrepareContext(
                    **shared, prepare_seconds=clock.elapsed, search_overhead=clock.excluded, listening=listening,
                    checkpoint=self._checkpoint(strategy, clock, sum(seconds[:i]), listener), add_work=work.extra,
                )
                if listener is not None:
                    listener.on_prepare_start(strategy.name)
                given = train
                try:
                    with clock.timed():
                        train = strategy.prepare(train, ctx)
                finally:  # the timed section has closed, stopped or not
                    seconds[i], overhead = clock.seconds, overhead + clock.excluded_seconds
                _check_not_replaced_after_others(given, train, strategies[:i], strategy.name)
        except StopTraining as stop:
            return train, seconds, overhead, _stop_reason(stop)
        return train, seconds, overhead, None

    @staticmethod
    def _checkpoint(
        strategy: Strategy, clock: DeviceClock, before_s: float, listener: TrainListener | None
    ) -> Callable[[float, float], None]:
        """``ctx.checkpoint`` for one strategy's prepare: a PrepareCheckpoint to the listener."""
        count = 0

        def checkpoint(val_mae: float, projected_seconds: float) -> None:
            nonlocal count
            record = PrepareCheckpoint(strategy.name, count, float(val_mae), before_s + clock.elapsed(),
                                       before_s + float(projected_seconds))
            count += 1
            if listener is not None:
                listener.on_checkpoint(record)

        return checkpoint

    def _optimiser(
        self, model: nn.Module, strategies: Sequence[Strategy]
    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        cfg = self.config
        groups: list[dict] = [{"params": list(model.parameters()), "weight_decay": cfg.weight_decay}]
        extra = [p for s in strategies for p in s.parameters()]
        if extra:  # strategy tensors (mask scores) get no weight decay
            groups.append({"params": extra, "weight_decay": 0.0})
        optimizer = torch.optim.Adam(groups, lr=cfg.lr)
        milestones = sorted({max(1, round(f * cfg.epochs)) for f in cfg.lr_decay_at})
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, cfg.lr_gamma)
        return optimizer, scheduler

    def _loop(
        self, training: Training, scheduler: torch.optim.lr_scheduler.LRScheduler, listener: TrainListener | None
    ) -> tuple[list[EpochRecord], dict[str, Tensor], int, str, dict | None]:
        """The epochs; returns the curve, the best-validation state, its epoch, the stop reason
        and that epoch's validation metrics (the weights fit() restores: no second pass)."""
        cfg = self.config
        shuffle = torch.Generator().manual_seed(cfg.seed)
        curve: list[EpochRecord] = []
        best_mae, best_epoch = math.inf, 0
        best_state = copy.deepcopy(training.model.state_dict())
        best_val: dict | None = None
        stop_reason = RAN_ALL_EPOCHS
        val_mae = math.inf  # the last validated MAE (what an epoch without validation records)
        for epoch in range(cfg.epochs):
            training.ctx.epoch = epoch
            train_loss, windows = training.epoch(shuffle, cfg)
            scheduler.step()
            validated = validates(epoch, cfg.epochs, cfg.val_every)
            if validated:
                val = evaluate(training.model, training.data.val, training.data, cfg.eval_batch_size)
                val_mae = val["mae"]
            record = EpochRecord(epoch, train_loss, val_mae, training.clock.seconds, windows, training.charged_prepare_seconds,
                                 epochs_ahead(training.strategies, epoch, cfg.epochs), training.work.window_nodes,
                                 training.work.batches, training.work.extra_window_nodes)
            curve.append(record)
            if validated and val_mae < best_mae:
                best_mae, best_epoch, best_val = val_mae, epoch, val
                best_state = copy.deepcopy(training.model.state_dict())
            try:
                if listener is not None:
                    listener.on_epoch(record)
            except StopTraining as stop:
                stop_reason = _stop_reason(stop)
                break
            if cfg.patience is not None and epoch - best_epoch >= cfg.patience:
                stop_reason = f"early stopping: no better validation MAE for {cfg.patience} epochs"
                break
        return curve, best_state, best_epoch, stop_reason, best_val


@dataclass
class _Start:
    """A run set up to train (Trainer._start): what fit() and time_first_batches() go on from."""

    model: STModel
    data: DataModule
    training: Training
    scheduler: torch.optim.lr_scheduler.LRScheduler
    memory: PeakMemory
    prepare_by_strategy: list[float]
    prepare_work: int  # window-nodes the preparation passed through models (ctx.add_work)
    overhead_seconds: float
    stopped: str | None  # the stop reason when a checkpoint ended the run in preparation


def total_work(
    curve: Sequence[EpochRecord], prepare_window_nodes: int, charged_share: float, n_nodes: int, exponent: float
) -> WorkSummary:
    """A run's work summary (TrainResult.work): the training epochs scaled by the model's node
    cost exponent, plus the charged share of the preparation's passes, in full-graph windows."""
    train_units = sum(scaled_work(r.window_nodes, r.windows, n_nodes, exponent) for r in curve)
    charged = prepare_window_nodes * charged_share
    return WorkSummary(
        window_nodes=sum(r.window_nodes for r in curve), prepare_window_nodes=prepare_window_nodes,
        charged_prepare_window_nodes=charged, units=train_units + charged / max(n_nodes, 1),
        n_nodes=n_nodes, node_cost_exponent=exponent,
    )
