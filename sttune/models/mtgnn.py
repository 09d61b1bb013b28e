"""MTGNN (Wu et al., KDD 2020, "Connecting the Dots"): a learned graph, mix-hop propagation
and dilated inception temporal convolutions. STemDist's authors distil with it.

The architecture as published, layout channels-last [batch, time, nodes_b, channels] (as in
:mod:`sttune.models.gwnet`: the reference code's (1, k) convs become Linear layers over k
time taps, faster on a CPU at these shapes):

- **graph learning layer**: M1 = tanh(α E1 Θ1), M2 = tanh(α E2 Θ2),
  A = ReLU(tanh(α (M1 M2ᵀ − M2 M1ᵀ))), each row keeping its ``subgraph_size`` largest entries.
  E1, E2 are per-node vectors: table rows at ``nodes``, or two location encoders of
  ``node_inputs`` (STemDist's version: two encoders, one per vector). No dataset graph is used
  (the published default ``buildA_true``): a node subset learns its graph over its own nodes.
- **dilated inception**: four causal convs with kernels 2, 3, 6, 7 (each ``conv_channels / 4``
  wide), cut to the shortest output and concatenated; a tanh filter times a sigmoid gate.
- **mix-hop propagation**: H⁽ᵏ⁾ = β H_in + (1 − β) Ã H⁽ᵏ⁻¹⁾, Ã = D⁻¹(A + I), k = 1..depth;
  [H⁽⁰⁾ … H⁽ᵈᵉᵖᵗʰ⁾] concatenated and mixed by a 1x1 conv; run on A and on Aᵀ, summed.
- residual connections, skip convs that collapse the remaining time axis, a LayerNorm per
  layer, and an output module (ReLU, 1x1, ReLU, 1x1 → ``out_len``). Inputs shorter than the
  receptive field (1 + layers·6 with dilation exponent 1) are left-padded, as published.

Differences from the reference code, none of which changes the architecture: the LayerNorm
normalises each node over (channels, time) as in STemDist's version (the published one spans
all nodes with per-node affine weights, which ties it to the node count and so rules out the
location encoder); the top-k has no random tie-break noise (deterministic under a seed); the
day of week is an input beside the time of day (scaled to [0, 1], as in GWNet).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sttune.api import Graph, ModelSpec, STModel
from sttune.models.encoder import (
    NodeEmbedding,
    check_dropout,
    check_node_embedding,
    check_positive,
    require_node_inputs,
)
from sttune.models.gwnet import DilatedConv

if TYPE_CHECKING:
    import optuna

KERNELS = (2, 3, 6, 7)  # the dilated inception layer's kernel set
LARGEST = max(KERNELS)


class DilatedInception(nn.Module):
    """[B, T, n, c_in] → [B, T - (7-1)·dilation, n, c_out]: the four kernels' outputs, cut to
    the shortest (their latest steps), concatenated on channels.

    Cut to the latest steps, kernel k reads the last k of the 7 taps the largest kernel reads, so
    the four convs are one Linear over those 7 taps whose weight is each kernel's, zero-padded
    on the older taps (:meth:`fused`): one gather of taps and one matmul instead of four."""

    def __init__(self, c_in: int, c_out: int, dilation: int) -> None:
        super().__init__()
        if c_out % len(KERNELS):
            raise ValueError(f"conv_channels must be a multiple of {len(KERNELS)}, got {c_out}")
        self.c_in, self.dilation = c_in, dilation
        self.convs = nn.ModuleList(DilatedConv(c_in, c_out // len(KERNELS), k, dilation) for k in KERNELS)

    def fused(self) -> tuple[Tensor, Tensor]:
        """(weight [c_out, 7·c_in], bias [c_out]) of the four kernels over the 7 taps."""
        convs = cast(list[DilatedConv], list(self.convs))
        weights = [F.pad(conv.lin.weight, ((LARGEST - conv.k) * self.c_in, 0)) for conv in convs]
        return torch.cat(weights), torch.cat([conv.lin.bias for conv in convs])

    def taps(self, x: Tensor) -> Tensor:
        """The largest kernel's 7 taps of every output step, oldest first: [B, T_out, n, 7·c_in]."""
        t_out = x.shape[1] - (LARGEST - 1) * self.dilation
        return torch.cat([x[:, j * self.dilation : j * self.dilation + t_out] for j in range(LARGEST)], dim=-1)

    def forward(self, x: Tensor) -> Tensor:
        weight, bias = self.fused()
        return F.linear(self.taps(x), weight, bias)


class MixProp(nn.Module):
    """Mix-hop propagation over a dense adjacency ``adj`` [n, n] (rows: targets)."""

    def __init__(self, c_in: int, c_out: int, depth: int, beta: float) -> None:
        super().__init__()
        self.depth, self.beta = depth, beta
        self.mlp = nn.Linear((depth + 1) * c_in, c_out)

    def hops(self, x: Tensor, adj: Tensor) -> list[Tensor]:
        """H⁽¹⁾ … H⁽ᵈᵉᵖᵗʰ⁾ of x [B, T, n, C] over Ã = D⁻¹(A + I)."""
        a = adj + torch.eye(adj.shape[0], device=adj.device, dtype=adj.dtype)
        a = a / a.sum(1, keepdim=True)
        h, out = x, []
        for _ in range(self.depth):
            h = self.beta * x + (1 - self.beta) * (a @ h)  # [B, T, n, C]: out[v] = Σ_w a[v, w] h[w]
            out.append(h)
        return out

    def forward(self, x: Tensor, adj: Tensor) -> Tensor:
        return self.mlp(torch.cat([x, *self.hops(x, adj)], dim=-1))


def mix_hop_pair(one: MixProp, other: MixProp, x: Tensor, adj: Tensor) -> Tensor:
    """``one(x, adj) + other(x, adjᵀ)`` as one matmul: H⁽⁰⁾ = x is shared, so its two weight
    blocks add up."""
    c = x.shape[-1]
    w1, w2 = one.mlp.weight, other.mlp.weight
    weight = torch.cat([w1[:, :c] + w2[:, :c], w1[:, c:], w2[:, c:]], dim=1)
    feats = torch.cat([x, *one.hops(x, adj), *other.hops(x, adj.t())], dim=-1)
    return F.linear(feats, weight, one.mlp.bias + other.mlp.bias)


class GraphLearner(nn.Module):
    """The uni-directional learned adjacency from node vectors E1, E2 [n, node_dim]."""

    def __init__(self, node_dim: int, k: int, alpha: float) -> None:
        super().__init__()
        self.lin1, self.lin2 = nn.Linear(node_dim, node_dim), nn.Linear(node_dim, node_dim)
        self.k, self.alpha = k, alpha

    def forward(self, e1: Tensor, e2: Tensor) -> Tensor:
        m1 = torch.tanh(self.alpha * self.lin1(e1))
        m2 = torch.tanh(self.alpha * self.lin2(e2))
        adj = F.relu(torch.tanh(self.alpha * (m1 @ m2.t() - m2 @ m1.t())))
        k = min(self.k, adj.shape[0])
        top = adj.topk(k, dim=1).indices
        mask = torch.zeros_like(adj).scatter_(1, top, 1.0)
        return adj * mask


class MTGNN(STModel):
    """MTGNN.

    Params: conv_channels, residual_channels, skip_channels, end_channels, layers,
    dilation_exponential, gcn_depth, subgraph_size (top-k per row of the learned graph),
    node_dim, prop_alpha (β, the retained share of the input), tanh_alpha (α), dropout,
    node_embedding ("table" | "encoder"), encoder_hidden. Defaults are the published ones.
    """

    name: ClassVar[str] = "mtgnn"
    supports_location_encoder: ClassVar[bool] = True
    node_cost_exponent: ClassVar[float] = 2.0  # a dense learned [n, n] adjacency per step

    def __init__(
        self,
        spec: ModelSpec,
        *,
        conv_channels: int = 32,
        residual_channels: int = 32,
        skip_channels: int = 64,
        end_channels: int = 128,
        layers: int = 3,
        dilation_exponential: int = 1,
        gcn_depth: int = 2,
        subgraph_size: int = 20,
        node_dim: int = 40,
        prop_alpha: float = 0.05,
        tanh_alpha: float = 3.0,
        dropout: float = 0.3,
        node_embedding: str = "table",
        encoder_hidden: int = 64,
    ) -> None:
        super().__init__(spec)
        check_positive(
            conv_channels=conv_channels, residual_channels=residual_channels, skip_channels=skip_channels,
            end_channels=end_channels, layers=layers, dilation_exponential=dilation_exponential,
            gcn_depth=gcn_depth, subgraph_size=subgraph_size, node_dim=node_dim, tanh_alpha=tanh_alpha,
            encoder_hidden=encoder_hidden,
        )  # fmt: skip
        if not 0.0 <= prop_alpha <= 1.0:
            raise ValueError(f"prop_alpha must be in [0, 1], got {prop_alpha!r}")
        self.node_embedding = check_node_embedding(node_embedding)
        self.dropout = check_dropout(dropout)
        self.emb1 = NodeEmbedding(node_embedding, spec.n_nodes, node_dim, spec.node_input_dim, encoder_hidden)
        self.emb2 = NodeEmbedding(node_embedding, spec.n_nodes, node_dim, spec.node_input_dim, encoder_hidden)
        self.graph_learner = GraphLearner(node_dim, subgraph_size, tanh_alpha)
        e = dilation_exponential
        self.dilations = [e**i for i in range(layers)]
        self.receptive_field = 1 + (LARGEST - 1) * sum(self.dilations)
        self.t_in = max(spec.in_len, self.receptive_field)
        self.start = nn.Linear(spec.n_features, residual_channels)
        self.filters = nn.ModuleList(DilatedInception(residual_channels, conv_channels, d) for d in self.dilations)
        self.gates = nn.ModuleList(DilatedInception(residual_channels, conv_channels, d) for d in self.dilations)
        lengths, t = [], self.t_in
        for d in self.dilations:
            t -= (LARGEST - 1) * d
            lengths.append(t)
        # a skip conv collapses what is left of the time axis (kernel = the remaining length)
        self.skips = nn.ModuleList(nn.Linear(t * conv_channels, skip_channels) for t in lengths)
        self.gconv1 = nn.ModuleList(MixProp(conv_channels, residual_channels, gcn_depth, prop_alpha) for _ in lengths)
        self.gconv2 = nn.ModuleList(MixProp(conv_channels, residual_channels, gcn_depth, prop_alpha) for _ in lengths)
        self.norms = nn.ModuleList(nn.LayerNorm([t, residual_channels]) for t in lengths)
        self.skip0 = nn.Linear(self.t_in * spec.n_features, skip_channels)
        self.skip_end = nn.Linear(lengths[-1] * residual_channels, skip_channels)
        self.end1 = nn.Linear(skip_channels, end_channels)
        self.end2 = nn.Linear(end_channels, spec.out_len)

    @classmethod
    def space(cls, trial: optuna.Trial) -> dict[str, Any]:
        width = trial.suggest_categorical("mtgnn.conv_channels", [16, 32, 48])
        return {"conv_channels": width, "residual_channels": width,
                "subgraph_size": trial.suggest_categorical("mtgnn.subgraph_size", [10, 20, 30])}  # fmt: skip

    def adjacency(self, nodes_b: int, nodes: Tensor | None, node_inputs: Tensor | None) -> Tensor:
        """The learned adjacency [nodes_b, nodes_b] of this batch's nodes."""
        e1 = self.emb1(nodes_b, nodes, node_inputs)
        e2 = self.emb2(nodes_b, nodes, node_inputs)
        return self.graph_learner(e1, e2)

    @staticmethod
    def _collapse(x: Tensor) -> Tensor:
        """[B, T, n, C] → [B, n, T·C]: a conv whose kernel spans the whole time axis."""
        return x.permute(0, 2, 1, 3).reshape(x.shape[0], x.shape[2], -1)

    def forward(
        self,
        x: Tensor,
        nodes: Tensor | None = None,
        node_inputs: Tensor | None = None,
        graph: Graph | None = None,
    ) -> Tensor:
        """x [batch, in_len, nodes_b, features] → forecast [batch, out_len, nodes_b].

        ``graph`` is not used: MTGNN learns its graph over the batch's nodes."""
        require_node_inputs(self.node_embedding, node_inputs)
        c = self.spec.n_channels
        h = torch.cat([x[..., : c + 1], x[..., c + 1 :] / 6.0], dim=-1)[:, -self.spec.in_len :]
        if h.shape[1] < self.t_in:  # left-pad time to the receptive field
            h = F.pad(h, (0, 0, 0, 0, self.t_in - h.shape[1], 0))
        adj = self.adjacency(x.shape[2], nodes, node_inputs)
        skip = self.skip0(self._collapse(F.dropout(h, self.dropout, self.training)))
        h = self.start(h)
        for i in range(len(self.dilations)):
            res = h
            filters, gates = cast(DilatedInception, self.filters[i]), cast(DilatedInception, self.gates[i])
            (wf, bf), (wg, bg) = filters.fused(), gates.fused()
            filt, gate = F.linear(filters.taps(h), torch.cat([wf, wg]), torch.cat([bf, bg])).chunk(2, dim=-1)
            h = torch.tanh(filt) * torch.sigmoid(gate)
            h = F.dropout(h, self.dropout, self.training)
            skip = skip + self.skips[i](self._collapse(h))
            h = mix_hop_pair(cast(MixProp, self.gconv1[i]), cast(MixProp, self.gconv2[i]), h, adj)
            h = h + res[:, -h.shape[1] :]
            # per node over (time, channels): [B, T, n, C] → [B, n, T, C] and back
            h = self.norms[i](h.transpose(1, 2)).transpose(1, 2)
        skip = skip + self.skip_end(self._collapse(h))
        out = self.end2(F.relu(self.end1(F.relu(skip))))  # [B, n, out_len]
        return out.transpose(1, 2)
