"""A recording stand-in that wraps a strategy during a contract run and checks every hook.

The trainer calls the :class:`Probe` exactly as it would call the strategy; the probe calls
the strategy, validates what each hook returned against :mod:`sttune.api`, records it, and
passes it on unchanged, so a broken hook is named even when the run then crashes.
Every per-epoch and per-batch hook runs under :func:`~sttune.testing.core.salted_rng`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from sttune.api import Batch, PrepareContext, Strategy, TrainContext, WindowSource
from sttune.testing.core import one_line, salted_rng


@dataclass
class RunRecord:
    """What one contract run of a strategy saw: outputs, problems, the final result."""

    selections: list[Tensor | None] = field(default_factory=list)
    weights: list[Tensor] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=lambda: {"select": 0, "transform": 0, "weight": 0})
    problems: dict[str, list[str]] = field(default_factory=lambda: {"select": [], "transform": [], "weight": []})
    global_rng: dict[str, list[str]] = field(default_factory=dict)  # hook -> global RNGs it drew from
    result: Any = None  # TrainResult when the run completed
    error: str | None = None  # one line when it did not
    epoch: int = 0  # the epoch being recorded

    def flag(self, hook: str, problem: str | None) -> None:
        if problem is not None:
            self.problems[hook].append(f"epoch {self.epoch}: {problem}")


def select_problem(picked: Any, train_size: int) -> str | None:
    """Why a ``select`` answer breaks the API (``None`` when it is fine)."""
    if picked is None:
        return None
    if not isinstance(picked, Tensor):
        return f"select returned {type(picked).__name__}, not a Tensor or None"
    if picked.dim() != 1:
        return f"select returned shape {tuple(picked.shape)}, not [k]"
    if picked.dtype != torch.long:
        return f"select returned dtype {picked.dtype}, not torch.long"
    if len(picked) == 0:
        return "select returned no windows"
    low, high = int(picked.min()), int(picked.max())
    if low < 0 or high >= train_size:
        return f"select returned indices in [{low}, {high}], outside [0, {train_size - 1}]"
    if len(torch.unique(picked)) != len(picked):
        return f"select returned {len(picked) - len(torch.unique(picked))} duplicate indices"
    return None


def transform_problem(before: Batch, after: Any, n_real_nodes: int) -> str | None:
    """Why a ``transform`` answer breaks the API (``None`` when it is fine)."""
    if not isinstance(after, Batch):
        return f"transform returned {type(after).__name__}, not a Batch"
    x, y = after.x, after.y
    if x.dim() != 4 or y.dim() != 3:
        return f"x {tuple(x.shape)} must be [B, in_len, nodes_b, F] and y {tuple(y.shape)} [B, out_len, nodes_b]"
    if not x.shape[0] == y.shape[0] == after.index.shape[0]:
        return f"batch sizes disagree: x {x.shape[0]}, y {y.shape[0]}, index {after.index.shape[0]}"
    if x.shape[2] != y.shape[2]:
        return f"node counts disagree: x has {x.shape[2]}, y has {y.shape[2]}"
    kept = (x.shape[1], x.shape[3], y.shape[1]) == (before.x.shape[1], before.x.shape[3], before.y.shape[1])
    if not kept:
        return f"in_len/features/out_len changed: x {tuple(before.x.shape)} → {tuple(x.shape)}, y {tuple(before.y.shape)} → {tuple(y.shape)}"
    if (x.dtype, y.dtype) != (before.x.dtype, before.y.dtype):
        return f"dtypes changed: x {before.x.dtype} → {x.dtype}, y {before.y.dtype} → {y.dtype}"
    return _node_problem(before, after, n_real_nodes)


def _node_problem(before: Batch, after: Batch, n_real_nodes: int) -> str | None:
    nodes_b = after.n_nodes
    if after.nodes is None:
        if nodes_b != before.n_nodes and after.graph is None:
            return f"nodes went from {before.n_nodes} to {nodes_b} but batch.nodes does not say which"
    elif after.nodes.shape != (nodes_b,) or after.nodes.dtype != torch.long:
        return f"batch.nodes must be [{nodes_b}] long, got {tuple(after.nodes.shape)} {after.nodes.dtype}"
    elif nodes_b and (int(after.nodes.min()) < 0 or int(after.nodes.max()) >= n_real_nodes):
        return f"batch.nodes holds indices outside [0, {n_real_nodes - 1}]"
    elif len(torch.unique(after.nodes)) != nodes_b:
        return "batch.nodes holds duplicate indices"
    if after.node_inputs is not None and after.node_inputs.shape[0] != nodes_b:
        return f"node_inputs has {after.node_inputs.shape[0]} rows for {nodes_b} nodes"
    if after.node_weight is not None and tuple(after.node_weight.shape) != (nodes_b,):
        return f"node_weight has shape {tuple(after.node_weight.shape)}, not [{nodes_b}]"
    if after.graph is not None and after.graph.n_nodes != nodes_b:
        return f"graph has {after.graph.n_nodes} nodes for {nodes_b} batch nodes"
    return None


def weight_problem(loss: Tensor, weighted: Any) -> str | None:
    """Why a ``weight`` answer breaks the API (``None`` when it is fine)."""
    if not isinstance(weighted, Tensor):
        return f"weight returned {type(weighted).__name__}, not a Tensor"
    if weighted.shape != loss.shape:
        return f"weight returned shape {tuple(weighted.shape)}, not [batch] = {tuple(loss.shape)}"
    if not bool(torch.isfinite(weighted).all()):
        return f"weight returned {int((~torch.isfinite(weighted)).sum())} non-finite values"
    return None


class Probe(Strategy):
    """Wraps ``inner`` for the trainer; validates and records each hook's answer."""

    def __init__(self, inner: Strategy, record: RunRecord, salt: int) -> None:
        self.inner, self.record, self.salt = inner, record, salt
        self.name = inner.name  # type: ignore[misc]  # an instance attribute on purpose
        self._calls = 0

    @contextlib.contextmanager
    def _salt(self, hook: str) -> Iterator[None]:
        """Run a hook under a fresh salt; note any global RNG it drew from."""
        self._calls += 1
        with salted_rng(self.salt + self._calls) as witness:
            yield
        for rng in witness.touched:
            used = self.record.global_rng.setdefault(hook, [])
            if rng not in used:
                used.append(rng)

    def _call(self, hook: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Call a checked hook under a fresh salt; an exception it raises is its own failure."""
        self.record.calls[hook] += 1
        try:
            with self._salt(hook):
                return fn(*args)
        except Exception as exc:
            self.record.flag(hook, f"{hook} raised {one_line(exc)}")
            raise

    def _validate(self, hook: str, problem: Callable[..., str | None], *args: Any) -> None:
        try:
            self.record.flag(hook, problem(*args))
        except Exception as exc:  # the answer is too malformed even to inspect
            self.record.flag(hook, f"{hook} returned something unusable ({one_line(exc)})")

    def prepare(self, train: WindowSource, ctx: PrepareContext) -> WindowSource:
        return self.inner.prepare(train, ctx)  # runs under the trainer's seeded global RNG

    def select(self, ctx: TrainContext) -> Tensor | None:
        self.record.epoch = ctx.epoch
        picked = self._call("select", self.inner.select, ctx)
        self._validate("select", select_problem, picked, ctx.train_size)
        self.record.selections.append(picked.detach().cpu().clone() if isinstance(picked, Tensor) else None)
        return picked

    def transform(self, batch: Batch, ctx: TrainContext) -> Batch:
        out = self._call("transform", self.inner.transform, batch, ctx)
        self._validate("transform", transform_problem, batch, out, ctx.spec.n_nodes)
        return out

    def weight(self, per_sample_loss: Tensor, batch: Batch, ctx: TrainContext) -> Tensor:
        out = self._call("weight", self.inner.weight, per_sample_loss, batch, ctx)
        self._validate("weight", weight_problem, per_sample_loss, out)
        if isinstance(out, Tensor):
            self.record.weights.append(out.detach().cpu().clone())
        return out

    def on_batch_end(self, per_sample_loss: Tensor, batch: Batch, ctx: TrainContext) -> None:
        with self._salt("on_batch_end"):
            self.inner.on_batch_end(per_sample_loss, batch, ctx)

    def on_epoch_end(self, ctx: TrainContext) -> None:
        with self._salt("on_epoch_end"):
            self.inner.on_epoch_end(ctx)

    def parameters(self) -> Any:
        return self.inner.parameters()

    def artifacts(self) -> dict[str, Any]:
        return self.inner.artifacts()

    def prepare_charge_seconds(self, prepare_seconds: float) -> float:
        return self.inner.prepare_charge_seconds(prepare_seconds)

    def node_descriptors(self, node_inputs: Tensor, train: Any) -> Tensor:
        return self.inner.node_descriptors(node_inputs, train)
