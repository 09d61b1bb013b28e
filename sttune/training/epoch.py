"""One training's loop state and its timed epoch: the visiting order, the training steps and
the strategies' per-batch and per-epoch hooks (the part of a run the device clock times)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from sttune.api import Batch, STModel, Strategy, TrainContext, WindowSource
from sttune.data.protocol import DataModule
from sttune.errors import TrainingError
from sttune.recipe.settings import TrainConfig
from sttune.training.metrics import per_sample_masked_mae
from sttune.training.timing import DeviceClock
from sttune.training.work import WorkCounter


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


@dataclass(frozen=True)
class ProbeEvent:
    """One timed step of a schedule probe (the verified speed-up, sttune.outcome.verify): an
    epoch's ``select`` (``full_batches``: the batches the whole epoch would run), one training
    batch (``window_nodes``: its work), or the epoch-end hooks (``end``)."""

    kind: str  # "select" | "batch" | "end"
    epoch: int
    seconds: float
    full_batches: int = 0
    window_nodes: int = 0


@dataclass
class Training:
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

    def probe_epoch(self, shuffle: torch.Generator, cfg: TrainConfig, max_batches: int) -> Iterator[ProbeEvent]:
        """The epoch as :meth:`epoch` runs it, with its first ``max_batches`` batches only, each
        step timed apart and yielded as it ends, so that a caller can interleave two runs step
        by step: the selection, each batch (with the strategies' per-batch hooks), the epoch-end
        hooks. The strategies act as they would in training (their schedules follow the epoch)."""
        self.model.train()
        self.work = WorkCounter()
        self.ctx.add_work = self.work.extra
        epoch, before = self.ctx.epoch, self.clock.seconds
        with self.clock.timed():
            order = self._order(shuffle)
        batches = torch.split(order, cfg.batch_size)
        yield ProbeEvent("select", epoch, self.clock.seconds - before, full_batches=len(batches))
        for index in batches[:max_batches]:
            before, work_before = self.clock.seconds, self.work.window_nodes
            with self.clock.timed():
                self._step(self.train.gather(index), cfg.grad_clip)
            yield ProbeEvent("batch", epoch, self.clock.seconds - before, window_nodes=self.work.window_nodes - work_before)
        before = self.clock.seconds
        with self.clock.timed():
            for strategy in self.strategies:
                strategy.on_epoch_end(self.ctx)
        yield ProbeEvent("end", epoch, self.clock.seconds - before)

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
