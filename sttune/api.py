"""The public plugin API of sttune: everything a strategy, model or dataset plugin touches.

Plugins import from this module only; anything else in sttune may change between releases.
A plugin declares ``api_version = "1.x"``; sttune refuses plugins of another major version.

Hook order (the one place it is written down)::

    data.node_inputs = strategy.node_descriptors(data.node_inputs, train)
                                                 once per run, before the model is built (job layer)
    strategy.prepare(train, ctx)                 once, before training, timed as preparation
    for epoch in range(n_epochs):                the timed training loop starts here
        order = strategy.select(ctx)             each strategy; None = all; several → intersection
        for each mini-batch of `order`:
            batch = train.gather(index)
            batch = strategy.transform(batch, ctx)
            loss_i = per-sample masked MAE of model(batch) in raw units      [B]
            loss_i = strategy.weight(loss_i, batch, ctx)
            mean(weighted loss_i).backward(); clip; optimizer.step()
            strategy.on_batch_end(raw loss_i.detach(), batch, ctx)   # before weighting
        strategy.on_epoch_end(ctx)               the timed part of the epoch ends here
        validation on every real node (no transform, no weight)

Strategies run in the order the recipe lists them; each hook gets what the previous returned.
Hooks return values instead of mutating the trainer's state.

``prepare`` gets a :class:`PrepareContext` (built for that call, never changed), the other
hooks the run's :class:`TrainContext`. A long ``prepare`` (a distillation) may report progress
with ``ctx.checkpoint(val_mae, projected_seconds)`` (the trial's projected charge: preparation
and training); a search with early stopping can end the trial there: the call then raises
:class:`StopTraining`, which the strategy must let propagate.
"""

from __future__ import annotations

import dataclasses
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from sttune.errors import DataError, PluginError, SttuneError

if TYPE_CHECKING:
    import optuna

API_VERSION = "1.0"

# Under ``protocol.missing: nan`` a real reading of exactly 0 reaches training as this value (the
# smallest normal float32, 1.2e-38) so that ``y != 0`` stays the observed mask under both
# policies; its error against any forecast equals that of a true 0 to float precision.
REAL_ZERO = float(np.finfo(np.float32).tiny)

__all__ = [
    "API_VERSION",
    "Batch",
    "DataError",
    "Graph",
    "PluginError",
    "PrepareContext",
    "REAL_ZERO",
    "SttuneError",
    "ModelSpec",
    "STModel",
    "STSeries",
    "Span",
    "StopTraining",
    "Strategy",
    "TensorWindows",
    "TrainContext",
    "WindowSource",
]


# --------------------------------------------------------------------------- data


@dataclass
class STSeries:
    """A raw multivariate series on a graph, as a dataset plugin returns it.

    values: [time, nodes, channels] float32 in raw units; missing readings are stored as 0
       (or NaN, which only ``protocol.missing: nan`` accepts).
    adjacency: [nodes, nodes] float32 edge weights (0 = no edge); need not be symmetric.
    missing: [time, nodes, channels] bool, the readings the loader found missing (NaN) and
       stored as 0, so that ``protocol.missing: nan`` can tell them from real zeros; None = none.
    node_ids: the data files' sensor ids in node order (strings); () = unknown, and exports then
       name nodes by their 0-based index.
    interval_minutes: the length of one step in minutes; None = a day over ``steps_per_day``. A step
       of a day or longer needs it (weekly data has steps_per_day 1 and interval_minutes 10080):
       the naive seasonal forecasts take their lags (a day, a week, a year) from it.
    """

    name: str
    values: np.ndarray
    adjacency: np.ndarray
    steps_per_day: int
    start_step_of_day: int = 0
    start_day_of_week: int = 0
    channel_names: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # what the loader changed (e.g. "masked 12 NaN readings")
    missing: np.ndarray | None = None
    node_ids: tuple[str, ...] = ()
    interval_minutes: float | None = None

    @property
    def step_minutes(self) -> float:
        """Minutes per step: ``interval_minutes``, else a day over ``steps_per_day``."""
        return float(self.interval_minutes) if self.interval_minutes else 1440.0 / max(int(self.steps_per_day), 1)

    @property
    def n_steps(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_nodes(self) -> int:
        return int(self.values.shape[1])


@dataclass(frozen=True)
class Graph:
    """A weighted directed graph over ``n_nodes`` nodes in PyG's edge-list layout.

    edge_index: [2, edges] long (source, target); edge_weight: [edges] float.
    """

    edge_index: Tensor
    edge_weight: Tensor
    n_nodes: int

    @classmethod
    def from_dense(cls, adjacency: Tensor | np.ndarray) -> Graph:
        adj = torch.as_tensor(np.asarray(adjacency), dtype=torch.float32)
        src, dst = torch.nonzero(adj, as_tuple=True)
        return cls(torch.stack([src, dst]), adj[src, dst], int(adj.shape[0]))

    def to_dense(self) -> Tensor:
        """[nodes, nodes] weight matrix."""
        adj = torch.zeros(self.n_nodes, self.n_nodes, device=self.edge_weight.device)
        adj[self.edge_index[0], self.edge_index[1]] = self.edge_weight
        return adj

    def subgraph(self, nodes: Tensor) -> Graph:
        """The induced subgraph on ``nodes`` (relabelled 0..len(nodes)-1 in that order)."""
        relabel = torch.full((self.n_nodes,), -1, dtype=torch.long, device=self.edge_index.device)
        relabel[nodes] = torch.arange(len(nodes), device=self.edge_index.device)
        src, dst = relabel[self.edge_index[0]], relabel[self.edge_index[1]]
        keep = (src >= 0) & (dst >= 0)
        return Graph(torch.stack([src[keep], dst[keep]]), self.edge_weight[keep], len(nodes))

    def to(self, device: torch.device | str) -> Graph:
        return Graph(self.edge_index.to(device), self.edge_weight.to(device), self.n_nodes)


@dataclass
class Batch:
    """One mini-batch of training windows.

    x: [batch, in_len, nodes_b, features] normalised inputs; features are the series'
       channels (z-scored), then time of day in [0, 1), then day of week in 0..6.
    y: [batch, out_len, nodes_b] raw-unit targets of the target channel; 0 = missing under
       both missing-value policies (under ``protocol.missing: nan`` a real 0 reading is
       :data:`REAL_ZERO`), so ``y != 0`` is the observed mask.
    index: [batch] positions of these windows in the training source (for scores).
    nodes: [nodes_b] indices of the real nodes held, or None when the batch holds all of
       the source's nodes in order. Graph models use the induced subgraph.
    node_inputs: [nodes_b, node_input_dim] per-node descriptors for a location encoder.
    node_weight: [nodes_b] loss weight per node (cluster sizes), None = all 1.
    graph: a graph over exactly these nodes_b nodes that replaces the dataset graph
       (pseudo-nodes such as clusters have no induced subgraph).
    """

    x: Tensor
    y: Tensor
    index: Tensor
    nodes: Tensor | None = None
    node_inputs: Tensor | None = None
    node_weight: Tensor | None = None
    graph: Graph | None = None

    def replace(self, **changes: Any) -> Batch:
        return dataclasses.replace(self, **changes)

    def to(self, device: torch.device | str) -> Batch:
        def move(v: Any) -> Any:
            return v.to(device) if isinstance(v, (Tensor, Graph)) else v

        return Batch(**{f.name: move(getattr(self, f.name)) for f in dataclasses.fields(self)})

    @property
    def n_nodes(self) -> int:
        return int(self.x.shape[2])


class WindowSource(ABC):
    """The training set as strategies see it: ``len()`` windows, gathered by index."""

    @abstractmethod
    def __len__(self) -> int: ...

    @property
    @abstractmethod
    def n_nodes(self) -> int: ...

    @abstractmethod
    def gather(self, index: Tensor) -> Batch:
        """The windows at ``index`` ([batch] long) as one :class:`Batch` (on the source's device)."""


class TensorWindows(WindowSource):
    """Explicit windows held as tensors, e.g. a distilled synthetic set.

    x: [windows, in_len, nodes, features]; y: [windows, out_len, nodes] raw units.
    """

    def __init__(
        self,
        x: Tensor,
        y: Tensor,
        node_inputs: Tensor | None = None,
        node_weight: Tensor | None = None,
        graph: Graph | None = None,
    ) -> None:
        if x.shape[0] != y.shape[0] or x.shape[2] != y.shape[2]:
            raise ValueError(f"x {tuple(x.shape)} and y {tuple(y.shape)} disagree")
        self.x, self.y = x, y
        self.node_inputs, self.node_weight, self.graph = node_inputs, node_weight, graph

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def n_nodes(self) -> int:
        return int(self.x.shape[2])

    def gather(self, index: Tensor) -> Batch:
        index = index.to(self.x.device)
        return Batch(
            self.x[index], self.y[index], index, None, self.node_inputs, self.node_weight, self.graph
        )


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class ModelSpec:
    """What a model is built for; supplied by the data, never by the user."""

    n_nodes: int
    in_len: int
    out_len: int
    n_channels: int  # z-scored series channels at the front of the feature axis
    steps_per_day: int
    graph: Graph
    node_input_dim: int  # width of Batch.node_inputs descriptors
    # under ``protocol.residual: seasonal``: the series channel holding the seasonal naive forecast,
    # shifted so that the last ``out_len`` input steps carry the forecast of the ``out_len`` target
    # steps; the built-in models add it to their output (they forecast the residual over it).
    # None: no such channel
    seasonal_channel: int | None = None

    @property
    def n_features(self) -> int:
        """Input features per (step, node): the channels, time of day, day of week."""
        return self.n_channels + 2


class STModel(nn.Module):
    """Base class of forecasting backbones (entry-point group ``sttune.models``).

    Subclasses take ``(spec: ModelSpec, **params)`` and return, from :meth:`forward`, the
    normalised forecast of the target channel, [batch, out_len, nodes_b].

    A model must run on a subset of the nodes (``nodes`` given: look up per-node
    parameters at those indices; graph models use ``graph`` when given, else the induced
    subgraph of ``spec.graph``). A model that sets ``supports_location_encoder`` computes its
    node embeddings from ``node_inputs`` when built with ``node_embedding="encoder"``, so it
    can be trained on pseudo-nodes (clusters) and evaluated on every real node.

    ``node_cost_exponent`` says how a training step's cost grows with the nodes in a batch:
    1 when it is linear (per-node layers, sparse message passing on a fixed degree), 2 when an
    N×N term can dominate (an adaptive or dense adjacency). It bounds the speed-up a node
    subset can buy (the work ceiling, docs/selection.md); too high only loosens that bound.
    """

    api_version: ClassVar[str] = API_VERSION
    supports_location_encoder: ClassVar[bool] = False
    node_cost_exponent: ClassVar[float] = 1.0

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec

    @classmethod
    def space(cls, trial: optuna.Trial) -> dict[str, Any]:
        """Suggest constructor params (names prefixed ``"<model name>."``); default: none."""
        return {}

    def forward(
        self,
        x: Tensor,
        nodes: Tensor | None = None,
        node_inputs: Tensor | None = None,
        graph: Graph | None = None,
    ) -> Tensor:
        raise NotImplementedError

    def batch_graph(self, nodes: Tensor | None, graph: Graph | None) -> Graph:
        """The graph a batch runs on: an explicit override, the induced subgraph, or all."""
        if graph is not None:
            return graph
        full = self.spec.graph
        if full.edge_index.device != self._device():
            full = full.to(self._device())
        return full if nodes is None else full.subgraph(nodes)

    def _device(self) -> torch.device:
        return next(self.parameters()).device


# --------------------------------------------------------------------------- strategies


class StopTraining(Exception):
    """The search ends this run now (a dominated trial). Raised by the trainer's callbacks,
    including ``PrepareContext.checkpoint`` inside ``prepare``; never catch it in a plugin."""


def _no_checkpoint(val_mae: float, projected_seconds: float) -> None:
    """Outside a search with early stopping, nobody listens to preparation checkpoints."""


def _no_work(windows: int, nodes: int) -> None:
    """Outside the trainer nobody counts work."""


@dataclass
class Span:
    """Device seconds spent inside one ``ctx.search_overhead()`` block, set when it closes."""

    seconds: float = 0.0


@contextmanager
def _unmeasured() -> Iterator[Span]:
    """Outside prepare() nothing is timed: the block runs and its span stays at 0."""
    yield Span()


@dataclass(frozen=True)
class PrepareContext:
    """What ``Strategy.prepare`` may use. The trainer builds one for each strategy's ``prepare``
    and never changes it: the clock, the checkpoint and the work count belong to that call."""

    n_epochs: int
    model: nn.Module  # the model that will be trained (untrained here)
    device: torch.device
    seed: int
    generator: torch.Generator  # the run's CPU generator (the epoch hooks go on drawing from it)
    spec: ModelSpec
    cache_dir: Path = field(default_factory=lambda: Path(".sttune-cache"))
    dataset_key: str = ""  # stable identity of the dataset and its protocol, for caches
    new_model: Callable[[], STModel] | None = None  # a fresh model like ``model``
    evaluate: Callable[[nn.Module], float] | None = None  # validation MAE of any model
    batch_size: int = 64
    target_mean: float = 0.0  # raw = normalised × target_std + target_mean (the target channel)
    target_std: float = 1.0
    # device seconds this prepare() has run so far, on the trainer's clock
    prepare_seconds: Callable[[], float] = lambda: 0.0
    # checkpoint(val MAE of what is prepared so far, device seconds the whole trial is projected
    # to be charged: the preparation's charge plus, where the strategy can estimate it, the
    # training that follows); may raise StopTraining
    checkpoint: Callable[[float, float], None] = _no_checkpoint
    listening: bool = False  # True when a checkpoint can stop the run (worth computing its val MAE)
    # ``with ctx.search_overhead() as span:`` around work done only because a search listens (a
    # checkpoint's val MAE): its seconds (``span.seconds`` once closed) count toward the search's
    # cost, not the trial's objective: a retrain of the configuration would not pay them
    search_overhead: Callable[[], AbstractContextManager[Span]] = _unmeasured
    # ``ctx.add_work(windows, nodes)`` for one forward and backward pass over ``windows`` windows
    # of ``nodes`` nodes each that the trainer does not see (a distillation's matching steps);
    # counted toward the preparation's work (docs/selection.md)
    add_work: Callable[[int, int], None] = _no_work

    # api 1.0 handed prepare() the TrainContext, whose epoch fields meant nothing yet (epoch 0,
    # train_size 0). They still read as then, with a warning, until api 2.0.
    @property
    def epoch(self) -> int:
        _moved("epoch", "it is always 0 before training")
        return 0

    @property
    def train_size(self) -> int:
        _moved("train_size", "use len(train); it was always 0 in prepare")
        return 0


def _moved(name: str, advice: str) -> None:
    warnings.warn(f"PrepareContext.{name} is deprecated (removed in api 2.0): {advice}", DeprecationWarning,
                  stacklevel=3)


@dataclass
class TrainContext:
    """What the trainer tells the epoch hooks (``select`` … ``on_epoch_end``); the trainer updates
    ``epoch`` as it goes. ``prepare`` gets a :class:`PrepareContext` instead."""

    epoch: int
    n_epochs: int
    model: nn.Module
    device: torch.device
    seed: int
    generator: torch.Generator  # CPU generator seeded for this run: use it for randomness
    spec: ModelSpec
    train_size: int = 0  # windows in the prepared training source
    cache_dir: Path = field(default_factory=lambda: Path(".sttune-cache"))
    dataset_key: str = ""  # stable identity of the dataset and its protocol, for caches
    new_model: Callable[[], STModel] | None = None  # a fresh model like ``model``
    evaluate: Callable[[nn.Module], float] | None = None  # validation MAE of any model
    batch_size: int = 64
    target_mean: float = 0.0  # raw = normalised × target_std + target_mean (the target channel)
    target_std: float = 1.0
    # prepare-only, kept so that api 1.0 code building a TrainContext still runs; the trainer
    # leaves them at these do-nothing defaults (PrepareContext has the live ones)
    prepare_seconds: Callable[[], float] = lambda: 0.0
    checkpoint: Callable[[float, float], None] = _no_checkpoint
    listening: bool = False
    search_overhead: Callable[[], AbstractContextManager[Span]] = _unmeasured
    # report a strategy's own extra model passes, outside the trainer's batches (a scoring
    # pass): ``ctx.add_work(windows, nodes)`` for one forward and backward pass over ``windows``
    # windows of ``nodes`` nodes each. The trainer counts its own batches itself; this is the
    # load-free work measure a speed-up is checked against (docs/selection.md), so every pass
    # that costs device time must be reported. Counted toward the running epoch's work
    add_work: Callable[[int, int], None] = _no_work


class Strategy:
    """Base class of training-efficiency strategies (entry-point group ``sttune.strategies``).

    Every hook is optional; the defaults do nothing. See this module's docstring for the
    order in which the trainer calls them. Constructor arguments must be JSON-serialisable
    values: they are what a recipe's ``params`` and :meth:`space` provide.
    """

    name: ClassVar[str] = ""
    api_version: ClassVar[str] = API_VERSION
    needs_location_encoder: ClassVar[bool] = False  # True: models must embed from node_inputs
    # A few configurations the evidence supports (a benchmark, a paper), best first: a search
    # runs each before its sampler explores. Each maps knobs of space() (names without the
    # "<name>." prefix) to values inside their ranges; knobs left out are sampled.
    recommended: ClassVar[tuple[dict[str, Any], ...]] = ()
    # True when prepare() returns a different training source (a distilled set): strategies that
    # keep per-window or per-node state cannot share a run with it, so `search.combine` leaves it
    # out of combinations, and the trainer refuses a replacement after another strategy prepared.
    replaces_windows: ClassVar[bool] = False

    @classmethod
    def space(cls, trial: optuna.Trial) -> dict[str, Any]:
        """Suggest constructor params; each Optuna name is prefixed ``"<name>."``."""
        return {}

    def prepare(self, train: WindowSource, ctx: PrepareContext) -> WindowSource:
        """Once before training; may return a different (e.g. distilled) training source."""
        return train

    def select(self, ctx: TrainContext) -> Tensor | None:
        """At each epoch start: the window indices to visit ([k] long, unique), or None = all."""
        return None

    def transform(self, batch: Batch, ctx: TrainContext) -> Batch:
        """Per training batch: e.g. gather a subset of the nodes."""
        return batch

    def weight(self, per_sample_loss: Tensor, batch: Batch, ctx: TrainContext) -> Tensor:
        """Per training batch: per-sample loss [batch] → weighted per-sample loss [batch]."""
        return per_sample_loss

    def on_batch_end(self, per_sample_loss: Tensor, batch: Batch, ctx: TrainContext) -> None:
        """After the optimiser step; ``per_sample_loss`` is detached (raw, before weight)."""

    def on_epoch_end(self, ctx: TrainContext) -> None:
        """After the last batch of an epoch, inside the timed loop."""

    def parameters(self) -> Iterable[nn.Parameter]:
        """Extra learnable tensors (e.g. mask scores) for the trainer's optimiser."""
        return []

    def artifacts(self) -> dict[str, Any]:
        """JSON-serialisable results worth exporting (e.g. the learned sensor mask)."""
        return {}

    def prepare_charge_seconds(self, prepare_seconds: float) -> float:
        """How much of the preparation time the trial is charged (default: all of it)."""
        return prepare_seconds

    def node_descriptors(self, node_inputs: Tensor, train: WindowSource) -> Tensor:
        """The real nodes' descriptors models are given (``Batch.node_inputs`` at validation,
        test, deployment and in saved models), from the data's (``node_inputs`` [nodes, dim]) and
        the training windows; called once per run, before the model is built and before
        ``prepare``. Return the same shape (the models are built for its width); default: as given.
        A strategy whose location encoder reads another per-node summary (STemDist's
        ``encoder_input="mean_window"``) returns it here, so training and evaluation agree."""
        return node_inputs

    def planned_work(self, epoch: int, n_epochs: int) -> float:
        """The planned share of a full-data epoch's training work in ``epoch`` (0-based) of an
        ``n_epochs`` run: 1.0 = every window on every node (the default). Called after prepare.

        A search with early stopping projects a trial's final device time from its last epoch
        scaled by this plan, so a strategy whose epochs get cheaper on a schedule (a sparsity
        ramp, pruning after a warm-up) is judged where it will land. Return what the schedule
        says, not a measurement; it must be positive and finite.
        """
        return 1.0
