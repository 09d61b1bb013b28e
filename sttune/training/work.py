"""Load-free work accounting: what went through the model, counted, not timed.

A trial's device seconds move with the machine's load; the work it did does not. Every
training batch is counted by the trainer (windows, and windows × nodes after the strategies'
transforms); a strategy's own extra passes (a distillation's matching steps) arrive through
``TrainContext.add_work``. A speed-up can never exceed the work it saved (the *ceiling*):
:func:`work_ceiling` gives that bound, and :mod:`sttune.outcome.verify` checks every exported
speed-up against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class WorkCounter:
    """Work of one phase (an epoch, or the preparation): one forward and backward pass over a
    window on ``n`` nodes counts ``n`` window-nodes."""

    windows: int = 0  # windows through the model in the trainer's batches
    window_nodes: int = 0  # every pass: the batches and the strategies' extra passes
    batches: int = 0
    extra_window_nodes: int = 0  # the strategies' own passes (ctx.add_work), inside window_nodes

    def batch(self, windows: int, nodes: int) -> None:
        self.windows += windows
        self.window_nodes += windows * nodes
        self.batches += 1

    def extra(self, windows: int, nodes: int) -> None:
        if windows < 0 or nodes < 0:
            raise ValueError(f"add_work takes non-negative counts, got windows={windows}, nodes={nodes}")
        self.window_nodes += int(windows) * int(nodes)
        self.extra_window_nodes += int(windows) * int(nodes)


@dataclass(frozen=True)
class WorkSummary:
    """A run's load-free work (``TrainResult.work``); stored as a dict of these fields."""

    window_nodes: int = 0  # the training epochs' passes (batches and the strategies' extra passes)
    prepare_window_nodes: int = 0  # the passes the preparation reported (ctx.add_work in prepare)
    charged_prepare_window_nodes: float = 0.0  # their share the run is charged (as its preparation seconds)
    units: float = 0.0  # charged work in full-graph windows, the model's node cost exponent applied
    n_nodes: int = 0
    node_cost_exponent: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """The stored form: a dict of every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> WorkSummary | None:
        """A summary from its stored dict; None for ``{}`` (a result stored before work was counted).
        Keys it does not know are left out, fields missing from the dict take their defaults."""
        if not data:
            return None
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def scaled_work(window_nodes: int, windows: int, n_nodes: int, exponent: float) -> float:
    """An epoch's work in full-graph window units, for a model whose cost grows as nodes^exponent.

    With ``exponent`` 1 (cost linear in nodes, e.g. STID) it is window_nodes / n_nodes. For a
    model with an N×N term (Graph WaveNet's adaptive adjacency, a dense graph convolution) the
    exponent is 2: an epoch whose batches held n of N nodes costs (n/N)^2 of a full one, so its
    work is windows × (n/N)^2. The epoch's nodes per window is taken as its mean.
    """
    if n_nodes <= 0 or windows <= 0:
        return window_nodes / n_nodes if n_nodes > 0 else 0.0
    share = window_nodes / (windows * n_nodes)  # mean share of the nodes per window
    return windows * share**exponent


def work_ceiling(trial_work: float, baseline_work: float) -> float | None:
    """The largest speed-up the saved work allows: baseline work / trial work (None: no work)."""
    if trial_work <= 0 or baseline_work <= 0:
        return None
    return baseline_work / trial_work

