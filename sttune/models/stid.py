"""STID (Shao et al., CIKM 2022): spatial and temporal identity embeddings with an MLP.

No graph: nodes are told apart only by their identity (or location-encoder) embedding, so
any subset of nodes gives the same forecast per node as the full set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn

from sttune.api import Graph, ModelSpec, STModel
from sttune.models.encoder import (
    NodeEmbedding,
    check_dropout,
    check_node_embedding,
    check_positive,
    require_node_inputs,
    with_seasonal_base,
)

if TYPE_CHECKING:
    import optuna


class ResidualMLP(nn.Module):
    """x + fc2(dropout(relu(fc1(x)))) over the last axis."""

    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.fc2(self.drop(torch.relu(self.fc1(x))))


def time_indices(x: Tensor, n_channels: int, steps_per_day: int) -> tuple[Tensor, Tensor]:
    """Time-of-day and day-of-week indices [batch, nodes_b] of the last input step."""
    last = x[:, -1, :, n_channels:]
    # clamp: tod is in [0, 1) but float rounding may reach 1.0; dow is float-valued 0..6
    tod = (last[..., 0] * steps_per_day).floor().long().clamp(0, steps_per_day - 1)
    dow = last[..., 1].round().long().clamp(0, 6)
    return tod, dow


class STID(STModel):
    """Spatial-Temporal IDentity MLP.

    Params: embed_dim (time-series embedding width), node_dim / tod_dim / dow_dim (default:
    embed_dim; 0 disables that embedding), n_layers (residual MLP layers), dropout,
    node_embedding ("table" | "encoder"), encoder_hidden (location-encoder width).
    """

    name: ClassVar[str] = "stid"
    supports_location_encoder: ClassVar[bool] = True

    def __init__(
        self,
        spec: ModelSpec,
        *,
        embed_dim: int = 32,
        node_dim: int | None = None,
        tod_dim: int | None = None,
        dow_dim: int | None = None,
        n_layers: int = 3,
        dropout: float = 0.15,
        node_embedding: str = "table",
        encoder_hidden: int = 64,
    ) -> None:
        super().__init__(spec)
        node_dim, tod_dim, dow_dim = (embed_dim if d is None else d for d in (node_dim, tod_dim, dow_dim))
        check_positive(embed_dim=embed_dim, n_layers=n_layers, encoder_hidden=encoder_hidden)
        for key, value in {"node_dim": node_dim, "tod_dim": tod_dim, "dow_dim": dow_dim}.items():
            if value < 0:
                raise ValueError(f"{key} must be >= 0, got {value}")
        self.node_embedding = check_node_embedding(node_embedding)
        self.series_emb = nn.Linear(spec.n_channels * spec.in_len, embed_dim)
        self.node_emb = (
            NodeEmbedding(node_embedding, spec.n_nodes, node_dim, spec.node_input_dim, encoder_hidden)
            if node_dim
            else None
        )
        self.tod_emb = nn.Embedding(max(spec.steps_per_day, 1), tod_dim) if tod_dim else None
        self.dow_emb = nn.Embedding(7, dow_dim) if dow_dim else None
        for emb in (self.tod_emb, self.dow_emb):
            if emb is not None:
                nn.init.xavier_uniform_(emb.weight)
        hidden = embed_dim + node_dim + tod_dim + dow_dim
        self.encoder = nn.Sequential(*(ResidualMLP(hidden, check_dropout(dropout)) for _ in range(n_layers)))
        self.head = nn.Linear(hidden, spec.out_len)

    @classmethod
    def space(cls, trial: optuna.Trial) -> dict[str, Any]:
        return {
            "embed_dim": trial.suggest_categorical("stid.embed_dim", [16, 32, 64]),
            "n_layers": trial.suggest_int("stid.n_layers", 2, 4),
        }

    def forward(
        self,
        x: Tensor,
        nodes: Tensor | None = None,
        node_inputs: Tensor | None = None,
        graph: Graph | None = None,
    ) -> Tensor:
        """x [batch, in_len, nodes_b, features] → forecast [batch, out_len, nodes_b]."""
        require_node_inputs(self.node_embedding, node_inputs)
        batch, _, nodes_b, _ = x.shape
        c = self.spec.n_channels
        # [batch, nodes_b, in_len * channels]: each node's recent history as one vector
        series = x[:, -self.spec.in_len :, :, :c].permute(0, 2, 1, 3).reshape(batch, nodes_b, -1)
        parts = [self.series_emb(series)]
        if self.node_emb is not None:
            parts.append(self.node_emb(nodes_b, nodes, node_inputs).expand(batch, -1, -1))
        tod, dow = time_indices(x, c, max(self.spec.steps_per_day, 1))
        if self.tod_emb is not None:
            parts.append(self.tod_emb(tod))
        if self.dow_emb is not None:
            parts.append(self.dow_emb(dow))
        h = self.encoder(torch.cat(parts, dim=-1))  # [batch, nodes_b, hidden]
        return with_seasonal_base(self.head(h).transpose(1, 2), x, self.spec)
