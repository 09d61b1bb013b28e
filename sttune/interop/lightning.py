"""Strategies inside a PyTorch Lightning fit: :class:`StrategyCallback` over a :class:`StrategyLoop`.

Needs the optional extra ``sttune[lightning]`` (Lightning 2.x). Lightning owns the loop, so
the work splits three ways (docs/python-api.md#pytorch-lightning):

* the callback's :meth:`StrategyCallback.dataloader` yields, each epoch, only the windows the
  strategies chose, as :class:`~sttune.api.Batch` objects whose nodes are already the kept ones;
* the LightningModule's ``training_step`` weights its per-sample loss with
  ``callback.loop.weight(per_sample, batch)`` and returns the raw per-sample loss as
  ``"per_sample_loss"`` beside ``"loss"`` (a callback cannot change the loss Lightning
  back-propagates);
* the callback tells the strategies the per-sample losses after each step, runs their epoch
  ends, and adds their learnable tensors (DynST's scores) to the optimiser at the start.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import lightning.pytorch as pl  # type: ignore[import-not-found, unused-ignore]  # the optional extra
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from sttune.api import Batch
from sttune.errors import SttuneError
from sttune.interop.strategy_loop import AdapterError, StrategyLoop

PER_SAMPLE = "per_sample_loss"  # the key training_step returns the raw per-sample loss under


class _Windows(Dataset):
    """Index tensors → transformed Batches (the loop gathers, the strategies transform)."""

    def __init__(self, loop: StrategyLoop) -> None:
        self.loop = loop

    def __len__(self) -> int:
        return len(self.loop.train)

    def __getitem__(self, index: Tensor) -> Batch:
        return self.loop.batch(index)


class _EpochBatches(Sampler[Tensor]):
    """Each epoch: the windows the strategies keep, shuffled as sttune's trainer shuffles, in
    batches. ``len`` is the full epoch's batch count (an upper bound: pruned epochs end early)."""

    def __init__(self, loop: StrategyLoop, batch_size: int) -> None:
        self.loop, self.batch_size = loop, batch_size

    def __iter__(self) -> Iterator[Tensor]:
        yield from torch.split(self.loop.windows(), self.batch_size)

    def __len__(self) -> int:
        return math.ceil(len(self.loop.train) / self.batch_size)


class StrategyCallback(pl.Callback):
    """Run a :class:`StrategyLoop`'s strategies inside ``lightning.Trainer.fit``."""

    def __init__(self, loop: StrategyLoop) -> None:
        if not isinstance(loop, StrategyLoop):
            raise AdapterError(f"StrategyCallback takes a StrategyLoop, got {type(loop).__name__}",
                               "pass StrategyCallback(sttune.StrategyLoop(strategies, (x, y), epochs=..., model=...))")
        self.loop = loop

    def dataloader(self, batch_size: int | None = None) -> DataLoader:
        """The training DataLoader to return from ``train_dataloader`` (in-process: the
        strategies keep their state in this process, so no worker processes)."""
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
            raise AdapterError(f"StrategyCallback.dataloader: batch_size must be a whole number of at least 1, got "
                               f"{batch_size!r}"[:120], "e.g. batch_size=32")
        sampler = _EpochBatches(self.loop, batch_size or self.loop.ctx.batch_size)
        return DataLoader(_Windows(self.loop), batch_size=None, sampler=sampler)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        extra = self.loop.parameters()  # prepares the strategies
        if extra:
            if not trainer.optimizers:
                raise SttuneError("the strategies learn tensors but the fit has no optimiser",
                                  "return one from configure_optimizers")
            trainer.optimizers[0].add_param_group({"params": extra, "weight_decay": 0.0})

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.loop.ctx.epoch = trainer.current_epoch

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        if not isinstance(outputs, dict) or PER_SAMPLE not in outputs:
            raise SttuneError(f"training_step must return {{'loss': ..., '{PER_SAMPLE}': ...}}",
                              "the strategies score windows from their raw per-sample loss")
        self.loop.batch_end(outputs[PER_SAMPLE], batch)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for strategy in self.loop.strategies:
            strategy.on_epoch_end(self.loop.ctx)
