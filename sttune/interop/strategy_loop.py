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

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from sttune.api import Batch, Graph, ModelSpec, PrepareContext, Strategy, TensorWindows, TrainContext, WindowSource
from sttune.errors import SttuneError
from sttune.recipe.schema import clip
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

    if isinstance(strategies, str | bytes | Strategy) or not isinstance(strategies, Sequence):
        raise AdapterError(f"StrategyLoop: strategies must be a list, got {type(strategies).__name__}",
                           "pass e.g. [('st_prune', {'ratio': 0.3})] or load_best(...).strategies")
    for item in strategies:
        if not (isinstance(item, Strategy) or (isinstance(item, tuple | list) and len(item) == 2
                                               and isinstance(item[0], str) and isinstance(item[1], dict))):
            raise AdapterError(f"StrategyLoop: each strategy must be a Strategy or a (name, params) pair, got "
                               f"{clip(repr(item), 60)}", "pass e.g. ('dynst', {'s_final': 0.5})")
    pairs = [tuple(s) for s in strategies if not isinstance(s, Strategy)]
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
        _whole("epochs", epochs, 1)
        _whole("n_channels", n_channels, 1)
        _whole("steps_per_day", steps_per_day, 1)
        _whole("batch_size", batch_size, 1)
        _whole("seed", seed, 0, 2**63 - 1)
        _finite("target_mean", target_mean)
        _finite("target_std", target_std, positive=True)
        if not isinstance(model, nn.Module):
            raise AdapterError(f"StrategyLoop: model must be a torch.nn.Module, got {type(model).__name__}",
                               "pass the model your loop trains")
        try:
            self.device = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise AdapterError(f"StrategyLoop: device {clip(repr(device), 40)} is not a device ({clip(str(exc), 60)})",
                               "pass e.g. 'cpu' or 'cuda:0'") from None
        self.strategies = _build(strategies)
        self.train = _windows(train, n_channels)
        first = self.train.gather(torch.zeros(1, dtype=torch.long))
        n = self.train.n_nodes
        adjacency = torch.zeros(n, n) if adjacency is None else _matrix("adjacency", adjacency, (n, n), nonnegative=True)
        if node_inputs is not None:
            node_inputs = _matrix("node_inputs", node_inputs, (n, None))
        node_dim = 0 if node_inputs is None else int(node_inputs.shape[1])
        self.spec = ModelSpec(n, int(first.x.shape[1]), int(first.y.shape[1]), n_channels, steps_per_day,
                              Graph.from_dense(adjacency), node_dim)
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
        n = len(self.train)
        if not isinstance(index, Tensor) or index.ndim != 1 or index.numel() == 0 or index.is_floating_point() \
                or index.dtype == torch.bool or int(index.min()) < 0 or int(index.max()) >= n:
            raise AdapterError(f"StrategyLoop.batch: index must be a non-empty 1-D tensor of window indices 0..{n - 1}",
                               "pass a part of .windows()")
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
        _per_sample("weight", per_sample_loss, batch)
        for strategy in self.strategies:
            per_sample_loss = strategy.weight(per_sample_loss, batch, self.ctx)
        return per_sample_loss

    def batch_end(self, per_sample_loss: Tensor, batch: Batch) -> None:
        """After the optimiser step: tell the strategies the batch's raw per-sample loss."""
        _per_sample("batch_end", per_sample_loss, batch)
        detached = per_sample_loss.detach()
        for strategy in self.strategies:
            strategy.on_batch_end(detached, batch, self.ctx)

    def artifacts(self) -> dict[str, Any]:
        """Each strategy's artifacts (DynST's kept sensors, ST-Prune's per-epoch log)."""
        return {s.name: s.artifacts() for s in self.strategies if s.artifacts()}


# --- the checks: what a trainer's DataModule guarantees, asked of the user's inputs ----------


def _whole(name: str, value: object, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        raise AdapterError(f"StrategyLoop: {name} must be a whole number of at least {low}, got {clip(repr(value), 30)}",
                           f"e.g. {name}={max(low, 1)}")


def _finite(name: str, value: object, positive: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (positive and value <= 0):  # type: ignore[operator]
        raise AdapterError(f"StrategyLoop: {name} must be a finite number{' above 0' if positive else ''}, "
                           f"got {clip(repr(value), 30)}", "the target's normalisation: raw = norm × std + mean")


def _shape(t: Tensor) -> str:
    return str(tuple(t.shape))


def _windows(train: object, n_channels: int) -> WindowSource:
    """The training windows, checked: [windows, in_len, nodes, n_channels + 2] inputs (finite,
    time of day in [0, 1], day of week 0..6) and [windows, out_len, nodes] targets, at least one."""
    layout = f"x [windows, in_len, nodes, {n_channels + 2}] ({n_channels} channel(s), time of day, day of week), y [windows, out_len, nodes]"
    if isinstance(train, WindowSource):
        if len(train) < 1 or train.n_nodes < 1:
            raise AdapterError(f"StrategyLoop: the training windows are empty ({len(train)} windows, {train.n_nodes} nodes)",
                               "pass at least one window")
        first = train.gather(torch.zeros(1, dtype=torch.long))
        _check_xy(first.x, first.y, n_channels, layout)
        if first.x.shape[2] != train.n_nodes:
            raise AdapterError(f"StrategyLoop: the windows say {train.n_nodes} nodes, a batch holds {first.x.shape[2]}", layout)
        return train
    if not (isinstance(train, tuple | list) and len(train) == 2 and all(isinstance(t, Tensor) for t in train)):
        raise AdapterError(f"StrategyLoop: train must be a WindowSource or two tensors (x, y), got {type(train).__name__}", layout)
    x, y = train
    _check_xy(x, y, n_channels, layout)
    return TensorWindows(x.float(), y.float())  # float32, as the trainer's windows (strategies write into them)


def _check_xy(x: Tensor, y: Tensor, n_channels: int, layout: str) -> None:
    if x.ndim != 4 or y.ndim != 3:
        raise AdapterError(f"StrategyLoop: x has shape {_shape(x)} and y {_shape(y)}", f"pass {layout}")
    if x.shape[0] < 1 or min(x.shape[1:3]) < 1 or y.shape[1] < 1:
        raise AdapterError(f"StrategyLoop: the training windows are empty (x {_shape(x)}, y {_shape(y)})", "pass at least one window")
    if x.shape[0] != y.shape[0] or x.shape[2] != y.shape[2]:
        raise AdapterError(f"StrategyLoop: x {_shape(x)} and y {_shape(y)} disagree on the windows or the nodes", f"pass {layout}")
    if x.shape[3] != n_channels + 2:
        raise AdapterError(f"StrategyLoop: x has {x.shape[3]} features per node, n_channels={n_channels} means "
                           f"{n_channels + 2} ({n_channels} channel(s), then time of day and day of week)",
                           "set n_channels to the channels before the calendar, or build x in sttune's layout")
    for name, t in (("x", x), ("y", y)):
        if not t.is_floating_point():
            raise AdapterError(f"StrategyLoop: {name} holds {t.dtype} values", "pass float tensors")
        if not bool(torch.isfinite(t).all()):
            raise AdapterError(f"StrategyLoop: {name} holds NaN or infinite values", "missing readings are 0 in sttune's layout")
    tod, dow = x[..., n_channels], x[..., n_channels + 1]
    if bool((tod < 0).any() or (tod > 1).any()):
        raise AdapterError(f"StrategyLoop: x's time of day (feature {n_channels}) must lie in [0, 1], got values from "
                           f"{float(tod.min()):g} to {float(tod.max()):g}", "check n_channels and the calendar features")
    if bool((dow < 0).any() or (dow > 6).any() or (dow != dow.round()).any()):
        raise AdapterError(f"StrategyLoop: x's day of week (feature {n_channels + 1}) must be a whole number 0..6",
                           "check n_channels and the calendar features")


def _matrix(name: str, value: object, shape: tuple[int, int | None], nonnegative: bool = False) -> Tensor:
    try:
        t = torch.as_tensor(value, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise AdapterError(f"StrategyLoop: {name} is not a numeric matrix ({clip(str(exc), 60)})", "pass a float tensor") from None
    rows, cols = shape
    if t.ndim != 2 or t.shape[0] != rows or (cols is not None and t.shape[1] != cols):
        want = f"[{rows}, {cols if cols is not None else 'width'}]"
        raise AdapterError(f"StrategyLoop: {name} has shape {_shape(t)}, the windows have {rows} nodes", f"pass {want}")
    if not bool(torch.isfinite(t).all()) or (nonnegative and bool((t < 0).any())):
        raise AdapterError(f"StrategyLoop: {name} holds {'negative, ' if nonnegative else ''}NaN or infinite values",
                           "weights must be finite" + (" and >= 0" if nonnegative else ""))
    return t


def _per_sample(method: str, loss: object, batch: Batch) -> None:
    n = int(batch.x.shape[0])
    if not isinstance(loss, Tensor) or loss.ndim != 1 or loss.shape[0] != n:
        got = _shape(loss) if isinstance(loss, Tensor) else type(loss).__name__
        raise AdapterError(f"StrategyLoop.{method}: per_sample_loss must be a [{n}] tensor (one loss per window of the "
                           f"batch), got {got}", "average over steps and nodes only: loss.mean(dim=(1, 2))")
