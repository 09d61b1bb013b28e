"""The training loop: strategy hooks, device-time accounting, validation, best checkpoint.

The hook order is documented once, in :mod:`sttune.api`. Only the training steps and the
strategies' hooks are timed; validation and testing are not, preparation is timed apart.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from sttune.api import Batch, ModelSpec, PrepareContext, STModel, StopTraining, Strategy, TrainContext, WindowSource
from sttune.data.protocol import DataModule, SeriesWindows, placement
from sttune.errors import TrainingError
from sttune.recipe.settings import TrainConfig
from sttune.training.listener import TrainListener, listens_to_prepare
from sttune.training.metrics import MetricAccumulator, per_sample_masked_mae
from sttune.training.plan import epochs_ahead
from sttune.training.result import EpochRecord, PrepareCheckpoint, TrainResult
from sttune.training.timing import DeviceClock, PeakMemory, clock_name, device_name, resolve_device
from sttune.training.work import WorkCounter, scaled_work

__all__ = ["StopTraining", "TrainListener", "Trainer", "evaluate"]


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


def visit_order(strategies: Sequence[Strategy], ctx: TrainContext, n_windows: int, shuffle: torch.Generator) -> Tensor:
    """This epoch's window indices in visiting order: what every strategy's ``select`` keeps
    (None = all ``n_windows``), shuffled by ``shuffle`` (the trainer's and StrategyLoop's rule)."""
    chosen: Tensor | None = None
    for strategy in strategies:  # several selections: visit what all of them keep
        picked = strategy.select(ctx)
        if picked is not None:
            picked = picked.cpu()
            chosen = picked if chosen is None else chosen[torch.isin(chosen, picked)]
    if chosen is None:
        return torch.randperm(n_windows, generator=shuffle)
    return chosen[torch.randperm(len(chosen), generator=shuffle)]


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
        model, data, run, stopped = start.model, start.data, start.run, start.stopped
        best_val: dict | None = None  # the best epoch's validation metrics: not computed twice
        if stopped is None:
            curve, best_state, best_epoch, stop_reason, best_val = self._loop(run, start.scheduler, listener)
            model.load_state_dict(best_state)
        else:  # stopped at a preparation checkpoint: nothing trained, the untrained model is evaluated
            curve, best_epoch, stop_reason = [], -1, stopped
        prepare_by_strategy, charged = start.prepare_by_strategy, run.charged_prepare_seconds
        prepared_s = sum(prepare_by_strategy)
        if listener is not None and stop_reason != "budget":
            listener.on_stop(stop_reason)
        work = total_work(curve, start.prepare_work, charged / prepared_s if prepared_s > 0 else 1.0,
                        data.spec.n_nodes, float(getattr(model, "node_cost_exponent", 1.0)))
        return TrainResult(
            val=best_val if best_val is not None else evaluate(model, data.val, data, cfg.eval_batch_size),
            test=evaluate(model, data.test, data, cfg.eval_batch_size),
            device_seconds=run.clock.seconds,
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
            n_prepared_windows=len(run.train),
            stop_reason=stop_reason,
            artifacts={s.name: s.artifacts() for s in strategies if s.artifacts()},
            overhead_seconds=start.overhead_seconds,
            work=work,
            clock=clock_name(self.device, cfg.cpu_clock, injected=self._now is not None),
            cpu_threads=torch.get_num_threads() if self.device.type == "cpu" else None,
        )

    def time_first_batches(
        self, new_model: Callable[[], STModel], data: DataModule, strategies: Sequence[Strategy],
        max_batches: int | None = None,
    ) -> tuple[float, int]:
        """Re-time the start of a run: (device seconds, window-nodes) of the first
        ``max_batches`` training batches of epoch 0 (all: None), run exactly as :meth:`fit`
        runs them, after the same untimed preparation; the epoch-end hooks run and are timed.

        The verified speed-up (sttune.outcome.verify) compares this with what the search
        recorded for the same epoch, to learn how loaded the machine was when it ran.
        """
        start = self._start(new_model, data, strategies, None)
        if start.stopped is not None:
            raise TrainingError("the run stopped in preparation, there is no epoch to time", "check the strategy params")
        run = start.run
        run.ctx.epoch = 0
        run.epoch(torch.Generator().manual_seed(self.config.seed), self.config, max_batches)
        return run.clock.seconds, run.work.window_nodes

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
        run = _Training(model, data, train, strategies, ctx, optimizer, self._clock(), charged)
        return _Start(model, data, run, scheduler, memory, prepare_by_strategy, prepare_work.window_nodes,
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
        self, run: _Training, scheduler: torch.optim.lr_scheduler.LRScheduler, listener: TrainListener | None
    ) -> tuple[list[EpochRecord], dict[str, Tensor], int, str, dict | None]:
        """The epochs; returns the curve, the best-validation state, its epoch, the stop reason
        and that epoch's validation metrics (the weights fit() restores: no second pass)."""
        cfg = self.config
        shuffle = torch.Generator().manual_seed(cfg.seed)
        curve: list[EpochRecord] = []
        best_mae, best_epoch = math.inf, 0
        best_state = copy.deepcopy(run.model.state_dict())
        best_val: dict | None = None
        stop_reason = "budget"
        val_mae = math.inf  # the last validated MAE (what an epoch without validation records)
        for epoch in range(cfg.epochs):
            run.ctx.epoch = epoch
            train_loss, windows = run.epoch(shuffle, cfg)
            scheduler.step()
            validated = validates(epoch, cfg.epochs, cfg.val_every)
            if validated:
                val = evaluate(run.model, run.data.val, run.data, cfg.eval_batch_size)
                val_mae = val["mae"]
            record = EpochRecord(epoch, train_loss, val_mae, run.clock.seconds, windows, run.charged_prepare_seconds,
                                 epochs_ahead(run.strategies, epoch, cfg.epochs), run.work.window_nodes,
                                 run.work.batches, run.work.extra_window_nodes)
            curve.append(record)
            if validated and val_mae < best_mae:
                best_mae, best_epoch, best_val = val_mae, epoch, val
                best_state = copy.deepcopy(run.model.state_dict())
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
    run: _Training
    scheduler: torch.optim.lr_scheduler.LRScheduler
    memory: PeakMemory
    prepare_by_strategy: list[float]
    prepare_work: int  # window-nodes the preparation passed through models (ctx.add_work)
    overhead_seconds: float
    stopped: str | None  # the stop reason when a checkpoint ended the run in preparation


@dataclass
class _Training:
    """The state of one training run; ``epoch()`` is the timed part of an epoch."""

    model: STModel
    data: DataModule
    train: WindowSource
    strategies: Sequence[Strategy]
    ctx: TrainContext
    optimizer: torch.optim.Optimizer
    clock: DeviceClock
    charged_prepare_seconds: float = 0.0
    work: WorkCounter = field(default_factory=WorkCounter)  # the running epoch's

    @property
    def trainable(self) -> list[Tensor]:
        """Every tensor the optimiser updates (model and strategy parameters), for clipping."""
        return [p for group in self.optimizer.param_groups for p in group["params"]]

    def epoch(self, shuffle: torch.Generator, cfg: TrainConfig, max_batches: int | None = None) -> tuple[float, int]:
        """One timed epoch (its first ``max_batches`` batches: a re-timing probe); returns (mean
        training loss, windows visited)."""
        self.model.train()
        self.work = WorkCounter()
        self.ctx.add_work = self.work.extra
        with self.clock.timed():
            order = self._order(shuffle)
            loss_sum = torch.zeros((), device=self.ctx.device)
            batches = torch.split(order, cfg.batch_size)
            if max_batches is not None:
                batches = batches[:max_batches]
                order = order[: sum(len(b) for b in batches)]
            for index in batches:
                loss_sum += self._step(self.train.gather(index), cfg.grad_clip)
            for strategy in self.strategies:
                strategy.on_epoch_end(self.ctx)
            mean_loss = float(loss_sum) / max(len(order), 1)
        if not math.isfinite(mean_loss):
            raise TrainingError(
                f"the training loss became {mean_loss} at epoch {self.ctx.epoch}",
                "lower train.lr or check the data for extreme values",
            )
        return mean_loss, len(order)

    def _order(self, shuffle: torch.Generator) -> Tensor:
        return visit_order(self.strategies, self.ctx, len(self.train), shuffle)

    def _step(self, batch: Batch, grad_clip: float | None) -> Tensor:
        for strategy in self.strategies:
            batch = strategy.transform(batch, self.ctx)
        self.work.batch(int(batch.x.shape[0]), batch.n_nodes)
        pred = self.model(batch.x, batch.nodes, batch.node_inputs, batch.graph)
        raw = pred * self.data.target_std + self.data.target_mean
        per_sample = per_sample_masked_mae(raw, batch.y, batch.node_weight)
        weighted = per_sample
        for strategy in self.strategies:
            weighted = strategy.weight(weighted, batch, self.ctx)
        self.optimizer.zero_grad(set_to_none=True)
        weighted.mean().backward()
        if grad_clip is not None:
            nn.utils.clip_grad_norm_(self.trainable, grad_clip)
        self.optimizer.step()
        detached = per_sample.detach()
        for strategy in self.strategies:
            strategy.on_batch_end(detached, batch, self.ctx)
        return detached.sum()


def validates(epoch: int, epochs: int, every: int) -> bool:
    """Whether ``epoch`` (0-based) is validated: every ``every``-th epoch, and always the last
    (so a run ends on a validated epoch whatever ``every`` is)."""
    return (epoch + 1) % every == 0 or epoch == epochs - 1


# the data moved to an accelerator by the last run of this process: the trials of a study share
# it instead of copying the whole series to the device per trial (one entry: one dataset at a time)
_ON_DEVICE: dict[tuple[str, str], DataModule] = {}


def on_device(data: DataModule, device: torch.device) -> DataModule:
    """``data`` ready for ``device``: itself on a CPU; on a GPU the series is copied once per
    process and dataset and kept (see :data:`_ON_DEVICE`), on the device when it fits
    (:func:`~sttune.data.protocol.placement`), else left in host memory with every batch
    copied over (pinned, non-blocking)."""
    if device.type == "cpu":
        return data.to(device)
    key = (data.key, str(device))
    if key not in _ON_DEVICE:
        _ON_DEVICE.clear()
        free = torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else 2**62
        need = data.train.series_bytes() + data.node_inputs.numel() * data.node_inputs.element_size()
        where = placement(need, free)
        _ON_DEVICE[key] = data.to(device) if where == "device" else data.to("cpu", batch_device=device)
    return _ON_DEVICE[key]


def total_work(
    curve: Sequence[EpochRecord], prepare_window_nodes: int, charged_share: float, n_nodes: int, exponent: float
) -> dict:
    """A run's work summary (see TrainResult.work): the training epochs scaled by the model's node
    cost exponent, plus the charged share of the preparation's passes, in full-graph windows."""
    train_units = sum(scaled_work(r.window_nodes, r.windows, n_nodes, exponent) for r in curve)
    charged = prepare_window_nodes * charged_share
    return {
        "window_nodes": sum(r.window_nodes for r in curve), "prepare_window_nodes": prepare_window_nodes,
        "charged_prepare_window_nodes": charged, "units": train_units + charged / max(n_nodes, 1),
        "n_nodes": n_nodes, "node_cost_exponent": exponent,
    }


@torch.no_grad()
def evaluate(model: nn.Module, windows: SeriesWindows, data: DataModule, batch_size: int) -> dict:
    """Masked MAE/RMSE/MAPE over every real node of ``windows`` (raw units)."""
    was_training = model.training
    model.eval()
    acc = MetricAccumulator(windows.out_len)
    for index in torch.split(torch.arange(len(windows)), batch_size):
        batch = windows.gather(index)
        pred = model(batch.x, None, data.node_inputs, None)
        acc.add(pred * data.target_std + data.target_mean, batch.y)
    model.train(was_training)
    return acc.result()
