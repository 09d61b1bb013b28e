"""Node embeddings shared by the built-in models: a lookup table or a location encoder.

A table holds one learned vector per real node ([n_nodes, dim]); it ties the model to the
dataset's node count. The location encoder instead maps per-node descriptors
(``Batch.node_inputs``, [nodes_b, node_input_dim]) to embeddings, so a model trained on a
few pseudo-nodes (clusters) runs unchanged on every real node.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sttune.api import Graph, ModelSpec, STModel

NODE_EMBEDDINGS = ("table", "encoder")


def check_node_embedding(value: str) -> str:
    """Validate the ``node_embedding`` constructor param shared by all built-in models."""
    if value not in NODE_EMBEDDINGS:
        raise ValueError(f"node_embedding must be one of {NODE_EMBEDDINGS}, got {value!r}")
    return value


def with_seasonal_base(forecast: Tensor, x: Tensor, spec: ModelSpec) -> Tensor:
    """The forecast plus the seasonal naive forecast the data carries (``protocol.residual:
    seasonal``, ``spec.seasonal_channel``: its last ``out_len`` input steps), so the model learns
    the residual over it; the forecast unchanged when the data carries none.
    forecast: [batch, out_len, nodes_b] normalised; x: [batch, in_len, nodes_b, features]."""
    if spec.seasonal_channel is None:
        return forecast
    return forecast + x[:, -spec.out_len :, :, spec.seasonal_channel]


def require_node_inputs(node_embedding: str, node_inputs: Tensor | None) -> None:
    """Encoder-mode models cannot embed nodes without their descriptors."""
    if node_embedding == "encoder" and node_inputs is None:
        raise ValueError("node_embedding='encoder' needs node_inputs [nodes_b, dim]")


def check_positive(**values: int | float) -> None:
    """Raise ValueError naming the first non-positive hyperparameter."""
    for key, value in values.items():
        if not value > 0:
            raise ValueError(f"{key} must be positive, got {value!r}")


def check_dropout(dropout: float) -> float:
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    return float(dropout)


class LocationEncoder(nn.Module):
    """[nodes_b, in_dim] descriptors → [nodes_b, out_dim] embeddings.

    Linear → ReLU → single-head self-attention over the nodes → residual → LayerNorm →
    Linear. Attention lets each node's embedding depend on the other nodes in the batch,
    while no parameter depends on how many nodes there are.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.inp = nn.Linear(in_dim, hidden)
        self.attn = nn.MultiheadAttention(hidden, num_heads=1, batch_first=True)
        self.norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, out_dim)

    def forward(self, node_inputs: Tensor) -> Tensor:
        h = torch.relu(self.inp(node_inputs)).unsqueeze(0)  # [1, nodes_b, hidden]
        a, _ = self.attn(h, h, h, need_weights=False)
        return self.out(self.norm(h + a)).squeeze(0)


class NodeEmbedding(nn.Module):
    """Per-node vectors [nodes_b, dim] from a table (indexed at ``nodes``) or an encoder."""

    def __init__(self, mode: str, n_nodes: int, dim: int, input_dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.mode = check_node_embedding(mode)
        self.n_nodes = n_nodes
        if self.mode == "table":
            self.table = nn.Parameter(torch.empty(n_nodes, dim))
            nn.init.xavier_uniform_(self.table)
        else:
            check_positive(node_input_dim=input_dim)
            self.encoder = LocationEncoder(input_dim, dim, hidden)

    def forward(self, nodes_b: int, nodes: Tensor | None, node_inputs: Tensor | None) -> Tensor:
        if self.mode == "encoder":
            if node_inputs is None:
                raise ValueError("node_embedding='encoder' needs node_inputs [nodes_b, dim]")
            if node_inputs.shape[0] != nodes_b:
                raise ValueError(f"node_inputs has {node_inputs.shape[0]} rows, x has {nodes_b} nodes")
            return self.encoder(node_inputs)
        if nodes is not None:
            return self.table[nodes]
        if nodes_b != self.n_nodes:
            raise ValueError(
                f"x has {nodes_b} nodes but the embedding table has {self.n_nodes}; pass "
                "`nodes`, or use node_embedding='encoder' for pseudo-nodes"
            )
        return self.table


def empty_graph(n_nodes: int, device: torch.device) -> Graph:
    """A graph over ``n_nodes`` nodes with no edges."""
    return Graph(
        torch.zeros(2, 0, dtype=torch.long, device=device),
        torch.zeros(0, device=device),
        n_nodes,
    )


def resolve_graph(model: STModel, nodes_b: int, nodes: Tensor | None, graph: Graph | None) -> Graph:
    """The graph over the batch's ``nodes_b`` nodes that a graph model should use.

    Pseudo-nodes without a graph (encoder mode, no ``nodes``, a node count other than the
    dataset's) get an edgeless graph: they have no induced subgraph, and the models then
    mix nodes only through learned (adaptive / attention) terms.
    """
    if graph is None and nodes is None and nodes_b != model.spec.n_nodes:
        if getattr(model, "node_embedding", "table") == "encoder":
            return empty_graph(nodes_b, model._device())
    g = model.batch_graph(nodes, graph)
    if g.n_nodes != nodes_b:
        raise ValueError(f"graph has {g.n_nodes} nodes but x has {nodes_b}")
    return g
