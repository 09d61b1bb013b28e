"""DynST: the cubic schedule, drop-regrow, node gathering, score gradients, ablations."""

from __future__ import annotations

import json
import math

import optuna
import pytest
import torch

from helpers import TinyModel, fit, ring_data
from sttune.api import TrainContext
from sttune.strategies.dynst import DynST, schedule as sch

N = 10


@pytest.fixture(scope="module")
def data():
    return ring_data(300, n_nodes=N)


class Recording(TinyModel):
    """TinyModel that logs (training?, nodes_b, nodes) of every forward call."""

    def __init__(self, spec) -> None:
        super().__init__(spec)
        self.calls: list[tuple[bool, int, list[int] | None]] = []

    def forward(self, x, nodes=None, node_inputs=None, graph=None):
        assert nodes is None or len(nodes) == x.shape[2]
        self.calls.append((self.training, x.shape[2], None if nodes is None else nodes.tolist()))
        return super().forward(x, nodes, node_inputs, graph)


def fit_recorded(data, strategy, epochs=6, seed=0):
    """Train a Recording model; returns (result, per-epoch list of training calls)."""
    models: list[Recording] = []

    def new():
        models.append(Recording(data.spec))
        return models[-1]

    result = fit(data, [strategy], model=new, epochs=epochs, seed=seed)
    epochs_calls, current, was_training = [], [], False
    for training, nb, nodes in models[0].calls:
        if training:
            current.append((nb, nodes))
        elif was_training:  # an evaluation pass closes the epoch's training calls
            epochs_calls.append(current)
            current = []
        was_training = training
    return result, epochs_calls


def context(data, epochs=4, seed=0):
    return TrainContext(0, epochs, TinyModel(data.spec), torch.device("cpu"), seed,
                        torch.Generator().manual_seed(seed), data.spec)


def expected_keep(t: int, s_f: float, t_end: int) -> int:
    """The cubic schedule written out independently of the module under test."""
    s = s_f if t >= t_end else s_f * (1 - (1 - t / t_end) ** 3)
    return math.floor((1 - s) * N + 0.5)


@pytest.mark.parametrize("mask", ["learned", "random_ramp"])
def test_mask_holds_the_cubic_schedule_count_each_epoch(data, mask):
    dyn = DynST(s_final=0.6, delta_t=1, alpha0=0.5, end_frac=0.75, regrow="random", mask=mask)
    result, calls = fit_recorded(data, dyn, epochs=8)
    t_end = 6  # round(0.75 * 8)
    want = [expected_keep(t, 0.6, t_end) for t in range(8)]
    assert want[0] == N and want[-1] == 4 and len(set(want)) > 3  # the ramp really ramps
    assert result.artifacts["dynst"]["active_per_epoch"] == want
    for t, epoch_calls in enumerate(calls):
        assert {nb for nb, _ in epoch_calls} == {want[t]}
    assert len(result.artifacts["dynst"]["kept_sensors"]) == 4


def test_planned_work_is_the_share_of_sensors_each_epoch_runs_on(data):
    dyn = DynST(s_final=0.6, delta_t=1, alpha0=0.5, end_frac=0.75, regrow="random")
    result, calls = fit_recorded(data, dyn, epochs=8)
    active = result.artifacts["dynst"]["active_per_epoch"]
    assert [dyn.planned_work(t, 8) for t in range(8)] == pytest.approx([a / N for a in active])
    # the record after epoch 1 counts the rest of the ramp in units of epoch 1's sensors
    assert result.curve[1].epochs_ahead == pytest.approx(sum(active[2:]) / active[1])
    assert result.curve[1].epochs_ahead < 6 and result.curve[-1].epochs_ahead == 0
    # before prepare (no sensor count yet) the plan is the schedule's continuous share
    assert DynST(s_final=0.5, mask="random_fixed").planned_work(0, 8) == 0.5


def test_drop_regrow_swaps_equal_counts_of_distinct_sensors():
    active = torch.tensor([1, 1, 1, 1, 1, 1, 0, 0, 0, 0], dtype=torch.bool)
    scores = torch.tensor([5.0, 0.1, 3.0, 0.2, 4.0, 2.0, 9.0, 9.0, 9.0, 9.0])
    growth = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.9, 0.1, 0.7])
    new, dropped, regrown = sch.drop_regrow(active, scores, 2, growth, torch.Generator())
    assert dropped.tolist() == [1, 3]  # the two smallest active scores
    assert regrown.tolist() == [7, 9]  # the two largest inactive gradients (RigL)
    assert int(new.sum()) == int(active.sum())
    rnd, d2, r2 = sch.drop_regrow(active, scores, 3, None, torch.Generator().manual_seed(1))
    assert len(d2) == len(r2) == 3 and not set(d2.tolist()) & set(r2.tolist())
    assert all(not active[i] for i in r2) and int(rnd.sum()) == 6  # SET regrows inactive ones


def test_gradient_cycles_swap_equal_counts_and_use_one_dense_batch(data):
    dyn = DynST(s_final=0.5, delta_t=1, alpha0=0.5, end_frac=0.75, regrow="gradient")
    result, calls = fit_recorded(data, dyn, epochs=8)
    art = result.artifacts["dynst"]
    assert art["cycles"] and any(c["dropped"] for c in art["cycles"])
    for c in art["cycles"]:
        assert len(c["dropped"]) == len(c["regrown"]) and not set(c["dropped"]) & set(c["regrown"])
        dense = calls[c["after_epoch"] + 1][0]  # the next epoch's first batch sees every sensor
        assert dense == (N, None)
        assert {nb for nb, _ in calls[c["after_epoch"] + 1][1:]} == {art["active_per_epoch"][c["after_epoch"] + 1]}


def test_masked_sensors_are_removed_not_zeroed(data):
    dyn = DynST(s_final=0.4, mask="random_fixed")
    ctx = context(data)
    dyn.prepare(data.train, ctx)
    kept = dyn.artifacts()["kept_sensors"]
    batch = data.train.gather(torch.arange(5))
    out = dyn.transform(batch, ctx)
    assert out.x.shape == (5, 12, 6, batch.x.shape[3]) and out.nodes.tolist() == kept
    assert torch.equal(out.x, batch.x[:, :, kept]) and torch.equal(out.y, batch.y[:, :, kept])
    assert torch.equal(out.node_inputs, batch.node_inputs[kept])
    model = Recording(data.spec)
    assert model(out.x, out.nodes).shape == (5, 12, 6) and model.calls[-1][1:] == (6, kept)


def test_gradients_reach_the_scores_of_active_sensors_only(data):
    dyn = DynST(s_final=0.5, end_frac=0.1)  # t_end = 1: full sparsity after epoch 0
    ctx = context(data)
    dyn.prepare(data.train, ctx)
    (theta,) = dyn.parameters()
    dyn.on_epoch_end(ctx)
    kept = dyn.artifacts()["kept_sensors"]
    assert len(kept) == 5
    out = dyn.transform(data.train.gather(torch.arange(16)), ctx)
    assert torch.allclose(out.x, data.train.gather(torch.arange(16)).x[:, :, kept])  # 1 forward
    pred = ctx.model(out.x, out.nodes) * data.target_std + data.target_mean
    (pred - out.y).abs().mean().backward()
    inactive = [i for i in range(N) if i not in kept]
    assert (theta.grad[kept] != 0).all() and (theta.grad[inactive] == 0).all()


def test_graph_model_gets_the_induced_subgraph(data, monkeypatch):
    import sttune.models.gwnet as gw
    from sttune.registry import discovery as plugins

    seen = []
    real = gw.resolve_graph
    monkeypatch.setattr(gw, "resolve_graph", lambda *a: seen.append(real(*a)) or seen[-1])
    model = plugins.load("model", "gwnet")(data.spec, residual_channels=4, dilation_channels=4,
                                           skip_channels=8, end_channels=8, blocks=1, layers=2)
    dyn = DynST(s_final=0.5, mask="random_fixed")
    ctx = context(data)
    dyn.prepare(data.train, ctx)
    kept = dyn.artifacts()["kept_sensors"]
    out = dyn.transform(data.train.gather(torch.arange(4)), ctx)
    assert model(out.x, out.nodes, out.node_inputs, out.graph).shape == (4, 12, 5)
    adj = data.spec.graph.to_dense()[kept][:, kept]
    want = sorted(map(tuple, torch.nonzero(adj).tolist()))
    assert seen[-1].n_nodes == 5 and sorted(map(tuple, seen[-1].edge_index.t().tolist())) == want


def test_random_fixed_keeps_the_same_sensors_every_epoch(data):
    dyn = DynST(s_final=0.3, mask="random_fixed")
    result, calls = fit_recorded(data, dyn, epochs=3)
    kept = result.artifacts["dynst"]["kept_sensors"]
    assert len(kept) == 7 and dyn.parameters() == []
    assert all(nodes == kept for epoch_calls in calls for _, nodes in epoch_calls)
    assert result.artifacts["dynst"]["active_per_epoch"] == [7, 7, 7]


def test_same_seed_same_mask_and_artifacts_are_json(data):
    runs = [fit_recorded(data, DynST(s_final=0.5, delta_t=1, end_frac=0.75), epochs=5)[0] for _ in range(2)]
    a, b = (r.artifacts["dynst"] for r in runs)
    assert a["kept_sensors"] == b["kept_sensors"] and a["cycles"] == b["cycles"]
    assert a["scores"] == b["scores"] and len(a["scores"]) == N
    json.dumps(a)


@pytest.mark.parametrize("kwargs", [
    {"s_final": 1.0}, {"s_final": -0.1}, {"delta_t": 0}, {"delta_t": 1.5}, {"alpha0": 1.5},
    {"end_frac": 0.0}, {"regrow": "magnitude"}, {"mask": "zeros"}, {"warmup": -1},
])
def test_bad_params_raise(kwargs):
    with pytest.raises(ValueError, match="dynst"):
        DynST(**kwargs)


def test_space_suggests_valid_params():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(5):
        params = DynST.space(study.ask())
        assert params["s_final"] in {0.1, 0.2, 0.3, 0.4, 0.5, 0.6}
        DynST(**params)
    assert set(params) == {"s_final", "delta_t", "alpha0", "end_frac", "regrow"}
