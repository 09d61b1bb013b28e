"""STGCN (Yu et al., IJCAI 2018): ST-Conv blocks of gated temporal conv → Chebyshev graph
conv → temporal conv, then an output block; layout [batch, time, nodes_b, channels].

Graph conv is ``torch_geometric.nn.ChebConv`` run on x [batch*time, nodes_b, C] (ChebConv
propagates along ``node_dim=-2``, so all batch*time graphs share one edge_index). Its
message passing is replaced by one sparse matmul over the node axis: same result, several
times faster on CPU than gathering a [batch*time, edges, C] message tensor.

Beyond the paper: a node embedding (table or location encoder, ``node_dim`` wide) is
concatenated to the inputs, so the model can run in location-encoder mode.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import ChebConv
from torch_geometric.utils import to_undirected

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


class MatmulChebConv(ChebConv):
    """ChebConv whose propagation is a sparse [n, n] @ [n, rest] product over the node axis."""

    def propagate(self, edge_index: Tensor, x: Tensor, norm: Tensor, **_: Any) -> Tensor:  # type: ignore[override]
        n, c = x.shape[-2], x.shape[-1]
        # out[target] = sum over edges of norm * x[source], as ChebConv's message/aggregate
        lap = torch.sparse_coo_tensor(edge_index.flip(0), norm.to(x.dtype), (n, n), check_invariants=False)
        flat = x.movedim(-2, 0).reshape(n, -1)  # [n, batch*time*C]: one matmul for all graphs
        return (lap.coalesce() @ flat).reshape(n, *x.shape[:-2], c).movedim(0, -2)


class TemporalConv(nn.Module):
    """Valid conv along time, kernel ``kt``: [B, T, n, c_in] → [B, T-kt+1, n, c_out].

    GLU variant: (P + residual) * sigmoid(Q); ReLU variant: relu(conv + residual).
    """

    def __init__(self, c_in: int, c_out: int, kt: int, glu: bool) -> None:
        super().__init__()
        self.kt, self.c_out, self.glu = kt, c_out, glu
        self.conv = nn.Linear(c_in * kt, 2 * c_out if glu else c_out)
        # the paper's residual alignment: 1x1 projection when shrinking, zero-pad when growing
        self.align = nn.Linear(c_in, c_out) if c_in > c_out else None

    def forward(self, x: Tensor) -> Tensor:
        b, _, n, c = x.shape
        windows = x.unfold(1, self.kt, 1)  # [B, T', n, c, kt]
        h = self.conv(windows.reshape(b, windows.shape[1], n, c * self.kt))
        res = x[:, self.kt - 1 :]
        res = self.align(res) if self.align is not None else F.pad(res, (0, self.c_out - c))
        if self.glu:
            p, q = h.chunk(2, dim=-1)
            return (p + res) * torch.sigmoid(q)
        return torch.relu(h + res)


class STConvBlock(nn.Module):
    """Temporal (GLU) → Chebyshev graph conv with residual → temporal (ReLU) → LayerNorm."""

    def __init__(self, c_in: int, hidden: int, bottleneck: int, kt: int, cheb_k: int, dropout: float) -> None:
        super().__init__()
        self.t1 = TemporalConv(c_in, hidden, kt, glu=True)
        self.align = nn.Linear(hidden, bottleneck)
        self.cheb = MatmulChebConv(bottleneck, bottleneck, K=cheb_k)
        self.t2 = TemporalConv(bottleneck, hidden, kt, glu=False)
        self.norm = nn.LayerNorm(hidden)  # channels only: no size tied to the node count
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor) -> Tensor:
        h = self.align(self.t1(x))
        b, t, n, c = h.shape
        # lambda_max=2 is exact for the normalised Laplacian's bound and avoids a .max() per call
        g = self.cheb(h.reshape(b * t, n, c), edge_index, edge_weight, lambda_max=2.0).reshape(b, t, n, c)
        return self.drop(self.norm(self.t2(torch.relu(g + h))))


def pick_kernel(in_len: int, n_blocks: int, kt: int | None) -> int:
    """Temporal kernel so that the blocks leave >= 1 step: each block removes 2*(kt-1)."""
    fits = lambda k: in_len - 2 * n_blocks * (k - 1) >= 1  # noqa: E731
    if kt is None:
        kt = 3 if fits(3) else 2
    if kt < 1 or not fits(kt):
        raise ValueError(
            f"stgcn: in_len={in_len} is too short for {n_blocks} blocks with temporal kernel {kt} "
            f"(needs in_len >= {2 * n_blocks * (kt - 1) + 1}); use fewer n_blocks or a smaller temporal_kernel"
        )
    return kt


class STGCN(STModel):
    """Spatio-Temporal Graph Convolutional Network.

    Params: hidden (64), bottleneck (16; graph-conv width), out_hidden (128), n_blocks (2),
    cheb_k (3; Chebyshev order), temporal_kernel (None = 3, or 2 when in_len is too short),
    dropout (0.3), node_dim (16; 0 = none, as in the paper), node_embedding, encoder_hidden.
    """

    name: ClassVar[str] = "stgcn"
    supports_location_encoder: ClassVar[bool] = True
    node_cost_exponent: ClassVar[float] = 2.0  # Chebyshev graph convolutions: a node subset's edges shrink with its square

    def __init__(
        self,
        spec: ModelSpec,
        *,
        hidden: int = 64,
        bottleneck: int = 16,
        out_hidden: int = 128,
        n_blocks: int = 2,
        cheb_k: int = 3,
        temporal_kernel: int | None = None,
        dropout: float = 0.3,
        node_dim: int = 16,
        node_embedding: str = "table",
        encoder_hidden: int = 64,
    ) -> None:
        super().__init__(spec)
        check_positive(hidden=hidden, bottleneck=bottleneck, out_hidden=out_hidden, n_blocks=n_blocks, cheb_k=cheb_k)
        self.node_embedding = check_node_embedding(node_embedding)
        if node_dim < 0 or (node_dim == 0 and node_embedding == "encoder"):
            raise ValueError(f"stgcn: node_dim must be >= 0 (> 0 in encoder mode), got {node_dim}")
        self.kt = pick_kernel(spec.in_len, n_blocks, temporal_kernel)
        self.node_emb = (
            NodeEmbedding(node_embedding, spec.n_nodes, node_dim, spec.node_input_dim, encoder_hidden) if node_dim else None
        )
        d = check_dropout(dropout)
        c_in = [spec.n_features + node_dim] + [hidden] * (n_blocks - 1)
        self.blocks = nn.ModuleList(STConvBlock(c, hidden, bottleneck, self.kt, cheb_k, d) for c in c_in)
        t_left = spec.in_len - 2 * n_blocks * (self.kt - 1)
        self.out_t = TemporalConv(hidden, out_hidden, t_left, glu=True)  # collapses the time axis
        self.out_norm = nn.LayerNorm(out_hidden)
        self.fc1, self.fc2 = nn.Linear(out_hidden, out_hidden), nn.Linear(out_hidden, spec.out_len)

    @classmethod
    def space(cls, trial: optuna.Trial) -> dict[str, Any]:
        return {
            "hidden": trial.suggest_categorical("stgcn.hidden", [32, 64]),
            "cheb_k": trial.suggest_int("stgcn.cheb_k", 2, 3),
        }

    def inputs(self, x: Tensor, nodes: Tensor | None, node_inputs: Tensor | None) -> Tensor:
        """[B, in_len, n, features (+ node_dim)]: channels, tod, dow/6, node embedding."""
        c = self.spec.n_channels
        x = x[:, -self.spec.in_len :]
        parts = [x[..., : c + 1], x[..., c + 1 :] / 6.0]  # dow to [0, 1] like tod
        if self.node_emb is not None:
            e = self.node_emb(x.shape[2], nodes, node_inputs)  # [n, node_dim]
            parts.append(e.expand(x.shape[0], x.shape[1], -1, -1))
        return torch.cat(parts, dim=-1)

    def forward(
        self,
        x: Tensor,
        nodes: Tensor | None = None,
        node_inputs: Tensor | None = None,
        graph: Graph | None = None,
    ) -> Tensor:
        """x [batch, in_len, nodes_b, features] → forecast [batch, out_len, nodes_b]."""
        require_node_inputs(self.node_embedding, node_inputs)
        g = resolve_graph(self, x.shape[2], nodes, graph)
        # Chebyshev filters assume an undirected graph: keep the stronger direction's weight
        edge_index, edge_weight = to_undirected(g.edge_index, g.edge_weight.float(), g.n_nodes, reduce="max")
        h = self.inputs(x, nodes, node_inputs)
        for block in self.blocks:
            h = block(h, edge_index, edge_weight)
        h = torch.relu(self.out_norm(self.out_t(h)))[:, -1]  # [B, n, out_hidden]
        return with_seasonal_base(self.fc2(torch.relu(self.fc1(h))).transpose(1, 2), x, self.spec)
