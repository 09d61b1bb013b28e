"""The built-in models (STID, Graph WaveNet, STGCN, MTGNN) against the STModel contract."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import optuna
import pytest
import torch

from sttune.api import Graph, ModelSpec, STModel
from sttune.models.gwnet import GWNet
from sttune.models.mtgnn import MTGNN
from sttune.models.stgcn import STGCN
from sttune.models.stid import STID

MODELS = [STID, GWNet, STGCN, MTGNN]
GRAPH_MODELS = [GWNet, STGCN]
SMALL: dict[type, dict[str, Any]] = {  # tiny widths keep the file fast
    STID: {"embed_dim": 16},
    GWNet: {"residual_channels": 8, "dilation_channels": 8, "skip_channels": 16, "end_channels": 16},
    STGCN: {"hidden": 16, "bottleneck": 8, "out_hidden": 16, "node_dim": 8},
    MTGNN: {"conv_channels": 8, "residual_channels": 8, "skip_channels": 16, "end_channels": 16, "node_dim": 6,
            "subgraph_size": 4, "encoder_hidden": 16},
}
IN_DIM = 26


def ring(n: int, drop: tuple[int, int] | None = None) -> Graph:
    """Undirected ring over n nodes, optionally without the edge drop (both directions)."""
    adj = np.zeros((n, n), dtype=np.float32)
    for i in range(n):
        adj[i, (i + 1) % n] = adj[(i + 1) % n, i] = 1.0 + 0.1 * i
    if drop is not None:
        adj[drop[0], drop[1]] = adj[drop[1], drop[0]] = 0.0
    return Graph.from_dense(adj)


def make_spec(n_nodes: int = 12, n_channels: int = 1, steps_per_day: int = 288, in_len: int = 12) -> ModelSpec:
    return ModelSpec(n_nodes, in_len, 12, n_channels, steps_per_day, ring(n_nodes), IN_DIM)


def make_x(spec: ModelSpec, batch: int = 3, n_nodes: int | None = None, seed: int = 0) -> torch.Tensor:
    """[batch, in_len, nodes, features]: z-scored channels, tod in [0, 1), dow 0..6."""
    g = torch.Generator().manual_seed(seed)
    n = spec.n_nodes if n_nodes is None else n_nodes
    x = torch.randn(batch, spec.in_len, n, spec.n_features, generator=g)
    x[..., spec.n_channels] = torch.rand(batch, spec.in_len, n, generator=g)
    x[..., spec.n_channels + 1] = torch.randint(0, 7, (batch, spec.in_len, n), generator=g).float()
    return x


def build(cls: type[STModel], spec: ModelSpec, seed: int = 0, **params: Any) -> STModel:
    torch.manual_seed(seed)
    return cls(spec, **{**SMALL[cls], **params})


@pytest.mark.parametrize("cls", MODELS)
@pytest.mark.parametrize(("n_channels", "steps_per_day"), [(1, 288), (3, 1)])
def test_full_and_subset_shapes(cls: type[STModel], n_channels: int, steps_per_day: int) -> None:
    spec = make_spec(n_channels=n_channels, steps_per_day=steps_per_day)
    model = build(cls, spec).eval()
    assert cls.supports_location_encoder
    x = make_x(spec)
    assert model(x).shape == (3, spec.out_len, 12)
    nodes = torch.tensor([0, 3, 4, 7, 11])
    assert model(x[:, :, nodes], nodes=nodes).shape == (3, spec.out_len, 5)


def test_stid_subset_matches_full() -> None:
    spec = make_spec()
    model = build(STID, spec).eval()
    x, nodes = make_x(spec), torch.tensor([1, 5, 6, 10, 2])
    torch.testing.assert_close(model(x[:, :, nodes], nodes=nodes), model(x)[:, :, nodes])


@pytest.mark.parametrize("cls", GRAPH_MODELS)
def test_subset_uses_induced_subgraph(cls: type[STModel]) -> None:
    spec = make_spec()
    model = build(cls, spec).eval()
    nodes = torch.tensor([0, 1, 2, 3, 4])
    xs = make_x(spec)[:, :, nodes]
    with torch.no_grad():
        base = model(xs, nodes=nodes)
        explicit = model(xs, nodes=nodes, graph=spec.graph.subgraph(nodes))
        model.spec = dataclasses.replace(spec, graph=ring(12, drop=(7, 8)))
        outside = model(xs, nodes=nodes)
        model.spec = dataclasses.replace(spec, graph=ring(12, drop=(1, 2)))
        inside = model(xs, nodes=nodes)
    torch.testing.assert_close(explicit, base)
    torch.testing.assert_close(outside, base)
    assert not torch.allclose(inside, base, atol=1e-5)


@pytest.mark.parametrize("cls", MODELS)
@pytest.mark.parametrize("with_graph", [False, True])
def test_encoder_trains_on_pseudo_nodes_runs_on_all(cls: type[STModel], with_graph: bool) -> None:
    spec = make_spec()
    model = build(cls, spec, node_embedding="encoder")
    pseudo_graph = ring(4) if with_graph else None
    x4, in4 = make_x(spec, n_nodes=4), torch.randn(4, IN_DIM)
    out4 = model(x4, node_inputs=in4, graph=pseudo_graph)
    assert out4.shape == (3, 12, 4)
    out4.square().mean().backward()
    model.eval()
    with torch.no_grad():
        out12 = model(make_x(spec), node_inputs=torch.randn(12, IN_DIM))
    assert out12.shape == (3, 12, 12) and torch.isfinite(out12).all()
    with pytest.raises(ValueError, match="node_inputs"):
        model(make_x(spec))


@pytest.mark.parametrize("cls", MODELS)
def test_encoder_has_no_node_count_parameters(cls: type[STModel]) -> None:
    def shapes(n: int) -> dict[str, tuple[int, ...]]:
        sd = build(cls, make_spec(n_nodes=n), node_embedding="encoder").state_dict()
        return {k: tuple(v.shape) for k, v in sd.items()}

    assert shapes(12) == shapes(30)
    table = {k: tuple(v.shape) for k, v in build(cls, make_spec(n_nodes=30)).state_dict().items()}
    assert any(30 in s for s in table.values())  # the table route does hold per-node rows


@pytest.mark.parametrize("cls", MODELS)
@pytest.mark.parametrize("node_embedding", ["table", "encoder"])
def test_gradients_reach_every_parameter(cls: type[STModel], node_embedding: str) -> None:
    spec = make_spec(n_channels=2)
    model = build(cls, spec, node_embedding=node_embedding)
    nodes = torch.tensor([2, 3, 4, 9, 10])
    model(make_x(spec, batch=4)[:, :, nodes], nodes=nodes, node_inputs=torch.randn(5, IN_DIM)).mean().backward()
    missing = [k for k, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


@pytest.mark.parametrize("cls", MODELS)
def test_fits_a_tiny_pattern(cls: type[STModel]) -> None:
    spec = make_spec(n_nodes=6)
    model = build(cls, spec, dropout=0.0)
    x = make_x(spec, batch=8)
    # target: each node's last reading, decaying over the horizon, plus a per-node offset
    decay = torch.linspace(1.0, 0.3, spec.out_len)[None, :, None]
    y = x[:, -1:, :, 0] * decay + torch.linspace(-1, 1, 6)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = (model(x) - y).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("cls", MODELS)
def test_deterministic_under_seed(cls: type[STModel]) -> None:
    spec = make_spec()
    x = make_x(spec)
    a, b = build(cls, spec, seed=3).eval(), build(cls, spec, seed=3).eval()
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)


@pytest.mark.parametrize("cls", MODELS)
def test_bad_params_raise(cls: type[STModel]) -> None:
    spec = make_spec()
    with pytest.raises(ValueError, match="node_embedding"):
        cls(spec, node_embedding="bogus")
    with pytest.raises(ValueError, match="dropout"):
        cls(spec, dropout=1.5)


def test_table_mode_rejects_unindexed_pseudo_nodes() -> None:
    spec = make_spec()
    with pytest.raises(ValueError, match="nodes"):
        build(STID, spec)(make_x(spec, n_nodes=4))


def test_stgcn_short_input() -> None:
    spec = make_spec(in_len=6)
    model = build(STGCN, spec)  # the default kernel shrinks to fit
    assert model(make_x(spec)).shape == (3, 12, 12)
    with pytest.raises(ValueError, match="in_len=6 is too short"):
        STGCN(spec, temporal_kernel=3)
    with pytest.raises(ValueError, match="too short"):
        STGCN(make_spec(in_len=4))


@pytest.mark.parametrize("cls", MODELS)
def test_space_suggests_prefixed_params(cls: type[STModel]) -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    params = cls.space(trial)
    assert params and all(k.startswith(f"{cls.name}.") for k in trial.params)
    model = cls(make_spec(), **params)
    assert model(make_x(make_spec())).shape == (3, 12, 12)


def test_mtgnn_learns_a_sparse_graph_over_the_batch_nodes() -> None:
    """The graph learning layer: at most subgraph_size non-zero entries per row, antisymmetric
    scores (A[v, w] > 0 rules out A[w, v] > 0), over exactly the nodes given."""
    spec = make_spec()
    model = build(MTGNN, spec, subgraph_size=3)
    adj = model.adjacency(12, None, None)
    assert adj.shape == (12, 12) and ((adj > 0).sum(1) <= 3).all() and (adj >= 0).all()
    assert not ((adj > 0) & (adj.t() > 0)).any()
    nodes = torch.tensor([1, 4, 5, 9])
    sub = model.adjacency(4, nodes, None)
    assert sub.shape == (4, 4)
    # a subset's graph is learned from the subset's own vectors: the full graph's top-k rows cut
    # to the subset are not what it keeps (top-k is taken among the subset)
    e1, e2 = model.emb1.table[nodes], model.emb2.table[nodes]
    torch.testing.assert_close(sub, model.graph_learner(e1, e2))


def test_mtgnn_ignores_the_dataset_graph() -> None:
    """Published MTGNN (buildA_true) learns its graph: the dataset graph changes nothing."""
    spec = make_spec()
    model = build(MTGNN, spec).eval()
    x = make_x(spec)
    with torch.no_grad():
        base = model(x)
        model.spec = dataclasses.replace(spec, graph=ring(12, drop=(1, 2)))
        other = model(x)
    torch.testing.assert_close(other, base)


def test_mtgnn_receptive_field_and_mix_hop() -> None:
    """The published receptive field 1 + layers·(7-1) (inputs left-padded to it), and
    mix-hop: depth 0 is the plain 1x1 conv, the graph reaches a node's neighbours at depth > 0."""
    spec = make_spec(n_nodes=5)
    assert build(MTGNN, spec).receptive_field == 19
    assert build(MTGNN, spec, layers=2, dilation_exponential=2).receptive_field == 1 + 6 * 3
    from sttune.models.mtgnn import MixProp

    torch.manual_seed(0)
    prop = MixProp(2, 3, 2, 0.05)
    x = torch.randn(1, 1, 3, 2)
    chain = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    y = prop(x, chain)
    x2 = x.clone()
    x2[0, 0, 2] += 1.0  # node 2 is two hops from node 0
    assert not torch.allclose(prop(x2, chain)[0, 0, 0], y[0, 0, 0])
    x3 = x.clone()
    x3[0, 0, 0] += 1.0  # nothing flows back to node 2
    torch.testing.assert_close(prop(x3, chain)[0, 0, 2], y[0, 0, 2])


def test_mtgnn_is_a_registered_plugin_that_passes_the_model_contract() -> None:
    """What `sttune plugins check mtgnn` runs, on the class; and the entry point it is found by."""
    import tomllib
    from pathlib import Path

    from sttune.testing.contracts import check_plugin

    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["sttune.models"]["mtgnn"] == "sttune.models.mtgnn:MTGNN"
    results = check_plugin("model", MTGNN, name="mtgnn")
    assert [r for r in results if r.status == "fail"] == []
    assert {r.check for r in results if r.status == "pass"} >= {"forward_subset", "encoder", "gradients", "trains"}


def test_mtgnn_fused_layers_equal_the_published_per_kernel_and_per_direction_form() -> None:
    """The dilated inception as one matmul over 7 taps equals four convs (kernels 2, 3, 6, 7)
    cut to the shortest output and concatenated; the two mix-hop modules as one matmul equal
    mixprop(x, A) + mixprop(x, Aᵀ)."""
    from sttune.models.mtgnn import DilatedInception, MixProp, mix_hop_pair

    torch.manual_seed(0)
    inception = DilatedInception(3, 8, dilation=2)
    x = torch.randn(2, 19, 4, 3)
    outs = [conv(x) for conv in inception.convs]  # each kernel's own valid conv
    t = outs[-1].shape[1]
    assert t == 19 - 6 * 2 and [o.shape[1] for o in outs] == [19 - (k - 1) * 2 for k in (2, 3, 6, 7)]
    torch.testing.assert_close(inception(x), torch.cat([o[:, -t:] for o in outs], dim=-1))
    one, other = MixProp(3, 5, 2, 0.05), MixProp(3, 5, 2, 0.05)
    adj = torch.rand(4, 4)
    torch.testing.assert_close(mix_hop_pair(one, other, x, adj), one(x, adj) + other(x, adj.t()))
