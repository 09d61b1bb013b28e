"""Contract checks for model plugins (entry-point group ``sttune.models``).

Models are built on the tiny synthetic dataset's :class:`~sttune.api.ModelSpec` and fed a
real training batch: on every node, on a node subset, through the location encoder (when
supported) and on pseudo-nodes with their own graph; then trained for two epochs.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sttune.api import Batch, Graph, STModel
from sttune.testing.core import TINY_TRAIN, Check, CheckSkipped, optuna_params, require, tiny_data
from sttune.testing.strategy import json_params

SUBSET = [4, 0, 2]  # unsorted on purpose: per-node lookups must follow `nodes`


@dataclass
class ModelSubject:
    """A model class, the params to build it with, and its registered name."""

    cls: type[STModel]
    params: dict[str, Any] = field(default_factory=dict)
    name: str = ""  # the entry-point name; defaults to ``cls.name`` when it has one

    def __post_init__(self) -> None:
        self.name = self.name or getattr(self.cls, "name", "")

    @property
    def data(self) -> Any:
        return tiny_data()

    def build(self, **extra: Any) -> STModel:
        torch.manual_seed(0)
        return self.cls(self.data.spec, **{**self.params, **extra})

    def batch(self) -> Batch:
        return self.data.train.gather(torch.arange(4))


def _expect(out: Any, batch: Batch, nodes_b: int, what: str) -> None:
    require(isinstance(out, Tensor), f"{what}: forward returned {type(out).__name__}, not a Tensor")
    want = (batch.x.shape[0], batch.y.shape[1], nodes_b)
    require(tuple(out.shape) == want, f"{what}: output {tuple(out.shape)}, expected [B, out_len, nodes_b] = {want}")
    require(out.dtype == batch.x.dtype, f"{what}: output dtype {out.dtype}, expected {batch.x.dtype}")
    require(bool(torch.isfinite(out).all()), f"{what}: output has non-finite values")


def check_hooks(s: ModelSubject) -> str:
    """``forward`` takes ``(x, nodes, node_inputs, graph)`` by position; ``space`` is a classmethod."""
    from sttune.registry.hooks import model_problems

    problems = model_problems(s.cls)
    require(not problems, "; ".join(p.message for p in problems))
    return "forward takes (x, nodes, node_inputs, graph)"


def check_space_prefix(s: ModelSubject) -> str:
    suggested = [k for found, _ in optuna_params(s.cls.space) for k in found]
    if not suggested:
        return "searches nothing"
    require(bool(s.name), f"{s.cls.__name__} suggests params but has no name to prefix them with")
    bad = sorted({k for k in suggested if not k.startswith(f"{s.name}.")})
    require(not bad, f"space() suggests {', '.join(bad)}: every name must start with '{s.name}.'")
    return f"names start with '{s.name}.'"


def check_space_params(s: ModelSubject) -> str:
    for _, returned in optuna_params(s.cls.space):
        require(isinstance(returned, dict), f"space() returned {type(returned).__name__}, not a dict")
        s.cls(s.data.spec, **returned)
    return "space() returns constructor arguments"


def check_json_params(s: ModelSubject) -> str:
    return json_params(s.cls, s.params, skip=1)


def check_forward_full(s: ModelSubject) -> str:
    batch = s.batch()
    _expect(s.build()(batch.x, None, batch.node_inputs, None), batch, batch.n_nodes, "all nodes")
    return f"[B, out_len, {batch.n_nodes}]"


def check_forward_subset(s: ModelSubject) -> str:
    batch, nodes = s.batch(), torch.tensor(SUBSET)
    out = s.build()(batch.x[:, :, nodes], nodes, batch.node_inputs[nodes], None)
    _expect(out, batch, len(nodes), f"nodes={SUBSET}")
    return f"[B, out_len, {len(nodes)}] on nodes {SUBSET}"


def check_encoder(s: ModelSubject) -> str:
    if not getattr(s.cls, "supports_location_encoder", False):
        raise CheckSkipped("supports_location_encoder is False")
    model, batch, nodes = s.build(node_embedding="encoder"), s.batch(), torch.tensor(SUBSET)
    _expect(model(batch.x, None, batch.node_inputs, None), batch, batch.n_nodes, "encoder, all nodes")
    _expect(model(batch.x[:, :, nodes], nodes, batch.node_inputs[nodes], None), batch, len(nodes), "encoder, subset")
    k = 2  # pseudo-nodes: their own descriptors and graph, no real node indices
    pseudo = Graph.from_dense(torch.ones(k, k))
    _expect(model(batch.x[:, :, :k], None, batch.node_inputs[:k], pseudo), batch, k, "encoder, pseudo-nodes")
    return "node_embedding='encoder' runs on all, subset and pseudo-nodes"


def check_gradients(s: ModelSubject) -> str:
    model, batch = s.build(), s.batch()
    out = model(batch.x, None, batch.node_inputs, None)
    out.square().mean().backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    require(any(g is not None for g in grads.values()), "no parameter received a gradient")
    bad = [n for n, g in grads.items() if g is not None and not bool(torch.isfinite(g).all())]
    require(not bad, f"non-finite gradients in {', '.join(bad[:3])}")
    return f"{sum(g is not None for g in grads.values())}/{len(grads)} tensors get finite gradients"


def check_trains(s: ModelSubject) -> str:
    from sttune.training.trainer import Trainer

    with tempfile.TemporaryDirectory(prefix="sttune-contract-") as cache:
        result = Trainer(TINY_TRAIN, cache_dir=Path(cache)).fit(s.build, s.data)
    val = result.val["mae"]
    require(math.isfinite(val), f"val MAE is {val} after 2 epochs")
    return f"2 epochs, val MAE {val:.3f}"


MODEL_CHECKS: dict[str, Check] = {
    "hooks": check_hooks,
    "space_prefix": check_space_prefix,
    "space_params": check_space_params,
    "json_params": check_json_params,
    "forward_full": check_forward_full,
    "forward_subset": check_forward_subset,
    "encoder": check_encoder,
    "gradients": check_gradients,
    "trains": check_trains,
}
