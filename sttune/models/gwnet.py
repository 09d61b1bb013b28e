"""Graph WaveNet (Wu et al., IJCAI 2019): gated dilated TCN + diffusion graph convolution.

Internal layout is channels-last [batch, time, nodes_b, channels]: the reference code's 1x1
and (1, k) convs become Linear layers on windows, several times faster on CPU than
Conv2d (mkldnn) at these small shapes, and diffusion is a matmul over the node axis. Supports are
dense [nodes_b, nodes_b] matrices built per batch: the batch graph's forward (and, for a
directed dataset graph, backward) transition matrix, plus the adaptive adjacency
softmax(relu(E1 E2^T)) from node vectors (table rows at ``nodes`` or location-encoder output).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import is_undirected, to_dense_adj

from sttune.api import Graph, ModelSpec, STModel
from sttune.models.encoder import (
    NodeEmbedding,
    check_dropout,
    check_node_embedding,
    check_positive,
    require_node_inputs,
    resolve_graph,
    with_seasonal_base,
)

if TYPE_CHECKING:
    import optuna


def transition(adj: Tensor) -> Tensor:
    """Row-normalised D^-1 A; rows without out-edges stay zero."""
    rowsum = adj.sum(dim=1, keepdim=True)
    return torch.where(rowsum > 0, adj / rowsum.clamp_min(1e-12), torch.zeros_like(adj))


def nconv(x: Tensor, a_t: Tensor) -> Tensor:
    """Diffuse x [B, T, nodes_b, C] along a: out[w] = sum_v a[v, w] x[v], given a_t = a^T."""
    return a_t @ x


class DilatedConv(nn.Module):
    """Causal valid conv along time: [B, T, n, c_in] → [B, T - (k-1)*dilation, n, c_out]."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.k, self.d = kernel_size, dilation
        self.lin = nn.Linear(kernel_size * c_in, c_out)

    def forward(self, x: Tensor) -> Tensor:
        t_out = x.shape[1] - (self.k - 1) * self.d
        taps = [x[:, j * self.d : j * self.d + t_out] for j in range(self.k)]  # oldest first
        return self.lin(torch.cat(taps, dim=-1))


class ChannelBatchNorm(nn.BatchNorm1d):
    """BatchNorm2d's statistics (per channel over batch, time, nodes) for channels-last input."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.reshape(-1, x.shape[-1])).reshape(x.shape)


class DiffusionConv(nn.Module):
    """Concatenate x and its 1..order-hop diffusions over every support, then a 1x1 conv."""

    def __init__(self, c_in: int, c_out: int, n_supports: int, order: int, dropout: float) -> None:
        super().__init__()
        self.order = order
        self.mlp = nn.Linear((order * n_supports + 1) * c_in, c_out)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, supports: list[Tensor]) -> Tensor:
        out = [x]
        for a in supports:
            h = x
            for _ in range(self.order):
                h = nconv(h, a)
                out.append(h)
        return self.drop(self.mlp(torch.cat(out, dim=-1)))


class GWNet(STModel):
    """Graph WaveNet.

    Params: residual_channels, dilation_channels, skip_channels, end_channels, blocks,
    layers (dilations 1, 2, 4, ... within a block), kernel_size, diffusion_order, dropout,
    adaptive (learn the adaptive adjacency), apt_dim (its node-vector width),
    node_embedding ("table" | "encoder"), encoder_hidden.
    """

    name: ClassVar[str] = "gwnet"
    supports_location_encoder: ClassVar[bool] = True
    node_cost_exponent: ClassVar[float] = 2.0  # adaptive adjacency: an N×N softmax and products per step

    def __init__(
        self,
        spec: ModelSpec,
        *,
        residual_channels: int = 32,
        dilation_channels: int = 32,
        skip_channels: int = 64,
        end_channels: int = 128,
        blocks: int = 4,
        layers: int = 2,
        kernel_size: int = 2,
        diffusion_order: int = 2,
        dropout: float = 0.3,
        adaptive: bool = True,
        apt_dim: int = 10,
        node_embedding: str = "table",
        encoder_hidden: int = 64,
    ) -> None:
        super().__init__(spec)
        check_positive(
            residual_channels=residual_channels, dilation_channels=dilation_channels,
            skip_channels=skip_channels, end_channels=end_channels, blocks=blocks,
            layers=layers, diffusion_order=diffusion_order, apt_dim=apt_dim,
        )  # fmt: skip
        if kernel_size < 2:
            raise ValueError(f"kernel_size must be >= 2, got {kernel_size}")
        self.node_embedding = check_node_embedding(node_embedding)
        self.adaptive = bool(adaptive)
        # a symmetric dataset graph has identical forward and backward transitions
        g = spec.graph
        self.n_graph_supports = 1 if is_undirected(g.edge_index, g.edge_weight, g.n_nodes) else 2
        n_supports = self.n_graph_supports + int(self.adaptive)
        if node_embedding == "encoder" and not self.adaptive:
            raise ValueError("gwnet: node_embedding='encoder' needs adaptive=True (its only node vectors)")
        if self.adaptive:
            self.node_vec = NodeEmbedding(node_embedding, spec.n_nodes, 2 * apt_dim, spec.node_input_dim, encoder_hidden)
        self.dilations = [2**i for _ in range(blocks) for i in range(layers)]
        self.receptive_field = 1 + (kernel_size - 1) * sum(self.dilations)
        self.start = nn.Linear(spec.n_features, residual_channels)
        # filter and gate convs fused into one conv of twice the width: half the calls
        tconv = lambda d: DilatedConv(residual_channels, 2 * dilation_channels, kernel_size, d)  # noqa: E731
        self.tconvs = nn.ModuleList(tconv(d) for d in self.dilations)
        self.skips = nn.ModuleList(nn.Linear(dilation_channels, skip_channels) for _ in self.dilations)
        # the last layer feeds only the skip path: no graph conv / norm there, so that
        # every parameter receives a gradient
        n_mix = len(self.dilations) - 1
        d = check_dropout(dropout)
        self.gconvs = nn.ModuleList(DiffusionConv(dilation_channels, residual_channels, n_supports, diffusion_order, d) for _ in range(n_mix))
        self.norms = nn.ModuleList(ChannelBatchNorm(residual_channels) for _ in range(n_mix))
        self.end1 = nn.Linear(skip_channels, end_channels)
        self.end2 = nn.Linear(end_channels, spec.out_len)

    @classmethod
    def space(cls, trial: optuna.Trial) -> dict[str, Any]:
        width = trial.suggest_categorical("gwnet.residual_channels", [16, 32, 48])
        return {"residual_channels": width, "dilation_channels": width,
                "dropout": trial.suggest_float("gwnet.dropout", 0.0, 0.4)}  # fmt: skip

    def supports(
        self, nodes_b: int, nodes: Tensor | None, node_inputs: Tensor | None, graph: Graph | None
    ) -> list[Tensor]:
        """Dense transposed supports a^T [nodes_b, nodes_b] for this batch (see nconv)."""
        g = resolve_graph(self, nodes_b, nodes, graph)
        adj = to_dense_adj(g.edge_index, edge_attr=g.edge_weight.float(), max_num_nodes=nodes_b)[0]
        out = [transition(adj)]
        if self.n_graph_supports == 2:
            out.append(transition(adj.t()))
        if self.adaptive:
            e1, e2 = self.node_vec(nodes_b, nodes, node_inputs).chunk(2, dim=-1)
            out.append(F.softmax(F.relu(e1 @ e2.t()), dim=1))
        return [a.t() for a in out]

    def forward(
        self,
        x: Tensor,
        nodes: Tensor | None = None,
        node_inputs: Tensor | None = None,
        graph: Graph | None = None,
    ) -> Tensor:
        """x [batch, in_len, nodes_b, features] → forecast [batch, out_len, nodes_b]."""
        require_node_inputs(self.node_embedding, node_inputs)
        c = self.spec.n_channels
        # day of week scaled to [0, 1] like time of day, so no input dominates the start layer
        h = torch.cat([x[..., : c + 1], x[..., c + 1 :] / 6.0], dim=-1)  # [B, T, n, features]
        if h.shape[1] < self.receptive_field:  # left-pad time so the TCN sees one full window
            h = F.pad(h, (0, 0, 0, 0, self.receptive_field - h.shape[1], 0))
        sup = self.supports(x.shape[2], nodes, node_inputs, graph)
        h = self.start(h)
        skip: Tensor | None = None
        for i in range(len(self.dilations)):
            res = h
            filt, gate = self.tconvs[i](h).chunk(2, dim=-1)
            h = torch.tanh(filt) * torch.sigmoid(gate)
            s = self.skips[i](h)
            skip = s if skip is None else s + skip[:, -s.shape[1] :]
            if i < len(self.gconvs):
                h = self.norms[i](self.gconvs[i](h, sup) + res[:, -h.shape[1] :])
        # only the last step's skip sum is needed: it has seen the full receptive field
        out = self.end2(F.relu(self.end1(F.relu(skip[:, -1]))))  # [B, n, out_len]
        return with_seasonal_base(out.transpose(1, 2), x, self.spec)
