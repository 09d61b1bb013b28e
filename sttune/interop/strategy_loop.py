"""Strategies in your own training loop: :class:`StrategyLoop` (docs/python-api.md#your-own-loop).

A strategy plugin only ever talks to the trainer through its hooks (the order is in
:mod:`sttune.api`); this class calls the same hooks, in the same order, from a loop the user
writes, with the user's model. It tells the loop which windows to visit each epoch
(:meth:`StrategyLoop.windows`), which nodes a batch keeps (:meth:`StrategyLoop.batch`, a
:class:`~sttune.api.Batch` whose ``nodes`` are the kept ones) and how to weight the
per-sample loss (:meth:`StrategyLoop.weight`), and is told the per-sample losses
(:meth:`StrategyLoop.batch_end`). Seeded as the trainer seeds, it draws the same choices: a
loop that also trains and steps like the trainer reproduces a ``sttune train`` run.

The user's windows must be in sttune's layout (``Batch.x`` [windows, in_len, nodes,
channels + 2]: z-scored channels, time of day in [0, 1), day of week; ``y`` [windows,
out_len, nodes] in raw units, 0 = missing), because strategies read them: ST-Prune scores a
window's volatility from its channel, DynST scales a sensor's channels. Give them as a
:class:`~sttune.api.WindowSource` or as two tensors.

Strategies that replace the training data (STemDist's distilled set) have no place in a loop
that visits the user's own data: they are refused with a one-line error.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from sttune.api import Batch, Graph, ModelSpec, PrepareContext, Strategy, TensorWindows, TrainContext, WindowSource
from sttune.errors import SttuneError
from sttune.training.epoch import visit_order
from sttune.training.trainer import context_fields

StrategyLike = Strategy | tuple[str, dict[str, Any]]


class AdapterError(SttuneError):
    """A strategy or its input does not fit a user's own training loop."""


@dataclass
class EpochLog:
    """What the strategies chose in one epoch: the windows visited and skipped, and the nodes
    the epoch's last batch kept and skipped (the node mask in force at its end); batches that
    held every node (e.g. DynST's one dense-gradient batch after a regrow cycle) are counted
    apart, in ``batches_all_nodes``."""

    epoch: int
    windows: int
    skipped_windows: int
    nodes_kept: list[int] = field(default_factory=list)
    nodes_skipped: list[int] = field(default_factory=list)
    batches: int = 0
    batches_all_nodes: int = 0


def _build(strategies: Sequence[StrategyLike]) -> list[Strategy]:
    from sttune.registry.build import make_strategies

    pairs = [s for s in strategies if not isinstance(s, Strategy)]
    built = iter(make_strategies(pairs))  # type: ignore[arg-type]
    return [s if isinstance(s, Strategy) else next(built) for s in strategies]


class StrategyLoop:
    """Run installed strategies inside a plain PyTorch training loop.

    strategies: Strategy instances or ``(name, params)`` pairs (``load_best(...).strategies``).
    train: the training windows (WindowSource, or ``(x, y)`` tensors in sttune's layout).
    model: the user's model (strategies may read it from the context; none of the built-in
    ones that fit this loop do). epochs: the planned number (schedules depend on it).
    n_channels: z-scored channels at the front of ``x``'s feature axis; steps_per_day:
    the series' steps per day; adjacency: [nodes, nodes] weights (graph-aware strategies);
    target_mean / target_std: how the target is normalised (raw = norm × std + mean);
    seed: the trainer's ``train.seed`` (same seed, same choices).
    """

    def __init__(
        self, strategies: Sequence[StrategyLike], train: WindowSource | tuple[Tensor, Tensor], *,
        epochs: int, model: nn.Module, n_channels: int = 1, steps_per_day: int = 288,
        adjacency: Tensor | None = None, node_inputs: Tensor | None = None, seed: int = 0,
        device: str | torch.device = "cpu", target_mean: float = 0.0, target_std: float = 1.0,
        batch_size: int = 64, cache_dir: Path = Path(".sttune-cache"),
    ) -> None:
        self.strategies = _build(strategies)
        self.train: WindowSource = train if isinstance(train, WindowSource) else TensorWindows(*train)
        first = self.train.gather(torch.zeros(1, dtype=torch.long))
        n = self.train.n_nodes
        adjacency = torch.zeros(n, n) if adjacency is None else torch.as_tensor(adjacency, dtype=torch.float32)
        node_dim = 0 if node_inputs is None else int(node_inputs.shape[1])
        self.spec = ModelSpec(n, int(first.x.shape[1]), int(first.y.shape[1]), n_channels, steps_per_day,
                              Graph.from_dense(adjacency), node_dim)
        self.device = torch.device(device)
        # as the trainer builds them: a PrepareContext per prepare, one TrainContext for the epochs
        self._fields = context_fields(
            n_epochs=epochs, model=model, device=self.device, seed=seed, spec=self.spec, cache_dir=cache_dir,
            dataset_key=f"user-loop-{n}", batch_size=batch_size, target_mean=target_mean, target_std=target_std,
        )
        self.ctx = TrainContext(epoch=0, **self._fields)
        self._shuffle = torch.Generator().manual_seed(seed)  # the trainer's window shuffle
        self._prepared = False
        self.log: list[EpochLog] = []

    # ------------------------------------------------------------------ set-up

    def prepare(self) -> None:
        """Every strategy's ``prepare`` (once; :meth:`epochs` calls it when not done yet), each with
        its own :class:`~sttune.api.PrepareContext`, as the trainer calls it."""
        if self._prepared:
            return
        train = self.train
        for strategy in self.strategies:  # nothing times or stops a user's loop: the do-nothing clock
            train = strategy.prepare(train, PrepareContext(**self._fields))
            if train is not self.train:
                raise AdapterError(
                    f"strategy '{strategy.name}' replaces the training windows (e.g. a distilled set), "
                    "which a loop over your own data cannot visit",
                    "use it through `sttune train`, or drop it from this loop")
        self.ctx.train_size = len(train)
        self._prepared = True

    def parameters(self) -> list[nn.Parameter]:
        """The strategies' learnable tensors (DynST's sensor scores): add them to the optimiser
        (the trainer gives them no weight decay). Call after :meth:`prepare`."""
        self.prepare()
        return [p for s in self.strategies for p in s.parameters()]

    # ------------------------------------------------------------------ the loop

    def epochs(self) -> Iterator[int]:
        """0 .. epochs-1; each epoch's end runs the strategies' ``on_epoch_end`` (after the body)."""
        self.prepare()
        for epoch in range(self.ctx.n_epochs):
            self.ctx.epoch = epoch
            yield epoch
            for strategy in self.strategies:
                strategy.on_epoch_end(self.ctx)

    def windows(self) -> Tensor:
        """This epoch's window indices in visiting order (what every strategy keeps, shuffled
        as the trainer shuffles them). Call once per epoch, at its start."""
        n = len(self.train)
        order = visit_order(self.strategies, self.ctx, n, self._shuffle)
        self.log.append(EpochLog(self.ctx.epoch, len(order), n - len(order)))
        return order

    def batches(self, batch_size: int | None = None) -> Iterator[Batch]:
        """This epoch's batches (:meth:`windows` split by ``batch_size``, each through :meth:`batch`)."""
        for index in torch.split(self.windows(), batch_size or self.ctx.batch_size):
            yield self.batch(index)

    def batch(self, index: Tensor) -> Batch:
        """The windows at ``index`` with every strategy's transform applied: ``batch.nodes``
        holds the kept nodes (None = all), ``x``/``y`` hold only those."""
        return self.transform(self.train.gather(index))

    def transform(self, batch: Batch) -> Batch:
        for strategy in self.strategies:
            batch = strategy.transform(batch, self.ctx)
        if self.log and self.log[-1].epoch == self.ctx.epoch:
            log = self.log[-1]
            kept = list(range(batch.n_nodes)) if batch.nodes is None else sorted(int(i) for i in batch.nodes.tolist())
            log.batches += 1
            log.batches_all_nodes += len(kept) == self.spec.n_nodes
            log.nodes_kept, log.nodes_skipped = kept, sorted(set(range(self.spec.n_nodes)) - set(kept))
        return batch

    def weight(self, per_sample_loss: Tensor, batch: Batch) -> Tensor:
        """Per-sample loss [batch] (raw units, before weighting) → the weighted one to average."""
        for strategy in self.strategies:
            per_sample_loss = strategy.weight(per_sample_loss, batch, self.ctx)
        return per_sample_loss

    def batch_end(self, per_sample_loss: Tensor, batch: Batch) -> None:
        """After the optimiser step: tell the strategies the batch's raw per-sample loss."""
        detached = per_sample_loss.detach()
        for strategy in self.strategies:
            strategy.on_batch_end(detached, batch, self.ctx)

    def artifacts(self) -> dict[str, Any]:
        """Each strategy's artifacts (DynST's kept sensors, ST-Prune's per-epoch log)."""
        return {s.name: s.artifacts() for s in self.strategies if s.artifacts()}
