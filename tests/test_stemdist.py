"""STemDist: clustering, set sizes, gradient matching, cache, N-node evaluation, charging."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest
import torch
from torch import Tensor, nn

from helpers import ManualClock, fit, ring_data
from sttune.api import Graph, ModelSpec, STModel, Strategy, TensorWindows
from sttune.models.stid import STID
from sttune.registry.build import model_factory
from sttune.strategies.stemdist import STemDist
from sttune.strategies.stemdist.cluster import aggregate, cluster_graph, kmeans, medoid_matrix
from sttune.strategies.stemdist.distill import ClusterData, Distiller, MatchConfig, SynSet
from sttune.training.listener import TrainListener
from sttune.training.result import PrepareCheckpoint
from sttune.training.trainer import StopTraining

N_NODES = 12
TINY_STID = {"embed_dim": 8, "n_layers": 1, "encoder_hidden": 8}


@pytest.fixture(scope="module")
def data():
    return ring_data(300, N_NODES)


class EncTiny(STModel):
    """Linear map of the input window plus a per-node offset from node_inputs (encoder-style)."""

    supports_location_encoder = True

    def __init__(self, spec: ModelSpec, node_embedding: str = "encoder") -> None:
        super().__init__(spec)
        self.proj = nn.Linear(spec.in_len, spec.out_len)
        self.enc = nn.Linear(spec.node_input_dim, spec.out_len)

    def forward(self, x: Tensor, nodes=None, node_inputs=None, graph: Graph | None = None) -> Tensor:
        return (self.proj(x[..., 0].transpose(1, 2)) + self.enc(node_inputs)).transpose(1, 2)


def fit_stid(data, strategy: STemDist, cache_dir: Path, model=None, epochs: int = 2):
    """Train a tiny STID (or ``model``) with ``strategy`` alone, its cache in ``cache_dir``."""
    return fit(data, [strategy], model=model or model_factory("stid", TINY_STID, data, [strategy]),
               cache_dir=cache_dir, epochs=epochs)


def test_kmeans_covers_every_node_and_repairs_empty_clusters() -> None:
    # 3 distinct points repeated: at most 3 clusters are non-empty without the repair
    feats = torch.tensor([[0.0], [10.0], [20.0]]).repeat(7, 1)
    assign = kmeans(feats, 6, 20, torch.Generator().manual_seed(0))
    assert assign.shape == (21,)
    assert torch.bincount(assign, minlength=6).min() >= 1
    assert int(assign.max()) == 5
    spread = kmeans(torch.randn(40, 5), 8, 20, torch.Generator().manual_seed(1))
    assert torch.bincount(spread, minlength=8).min() >= 1


@pytest.mark.parametrize("mode", ["distill", "cluster_only", "random"])
def test_set_has_round_nrr_nodes_and_round_srr_windows(data, mode: str, tmp_path: Path) -> None:
    s = STemDist(nrr=0.25, srr=0.05, mode=mode, t_outer=1, inner=1, net_steps=1)
    res = fit_stid(data, s, tmp_path, epochs=1)
    art = res.artifacts["stemdist"]
    assert art["n_nodes"] == round(0.25 * N_NODES)
    assert res.n_prepared_windows == round(0.05 * len(data.train)) == art["n_windows"]
    if mode == "random":  # real nodes, weight 1
        assert art["node_weight"] == [1.0] * art["n_nodes"] and len(set(art["members"])) == art["n_nodes"]
    else:  # every real node belongs to a cluster; weights are the cluster sizes
        assert len(art["members"]) == N_NODES and sum(art["node_weight"]) == N_NODES


def test_medoid_represents_each_cluster_by_its_member_nearest_the_centroid() -> None:
    feats = torch.tensor([[0.0], [1.0], [5.0], [10.0], [11.0], [13.0]])
    assign = torch.tensor([0, 0, 0, 1, 1, 1])  # centroids 2.0 and 11.33
    rep = medoid_matrix(feats, assign, 2)
    assert rep.sum(0).tolist() == [1.0, 1.0] and rep[1, 0] == 1 and rep[4, 1] == 1
    x = torch.arange(6.0).view(1, 1, 6, 1) + 1  # one window, node n reads n + 1
    xc, yc = aggregate(x, x[:, :, :, 0], rep)
    assert xc.flatten().tolist() == [2.0, 5.0] and yc.flatten().tolist() == [2.0, 5.0]  # real series, not means


def test_medoid_set_carries_real_series_and_cluster_size_weights(data, tmp_path: Path) -> None:
    base = dict(nrr=0.25, srr=0.05, mode="cluster_only")
    mean = fit_stid(data, STemDist(**base), tmp_path, epochs=1).artifacts["stemdist"]
    med = fit_stid(data, STemDist(**base, represent="medoid"), tmp_path, epochs=1).artifacts["stemdist"]
    assert med["cache_key"] != mean["cache_key"]
    assert med["members"] == mean["members"] and med["node_weight"] == mean["node_weight"]
    with pytest.raises(ValueError, match="represent"):
        STemDist(represent="centre")


def three_clusters(data, n_windows: int) -> ClusterData:  # noqa: ANN001
    """The first ``n_windows`` training windows at cluster level, node n in cluster n % 3."""
    c = torch.nn.functional.one_hot(torch.arange(N_NODES) % 3, 3).float()
    b = data.train.gather(torch.arange(n_windows))
    x, y = aggregate(b.x, b.y, c)
    ni = (c / c.sum(0)).t() @ data.node_inputs
    return ClusterData(x, y, c.sum(0), ni, cluster_graph(data.spec.graph, c), data.target_mean, data.target_std)


@pytest.mark.parametrize(("real_batch", "syn_batch"), [(0, 0), (150, 1000)])
def test_matching_step_uses_the_configured_window_counts(data, real_batch: int, syn_batch: int) -> None:
    real = three_clusters(data, 160)
    syn = SynSet(real.x[:80], real.y[:80], 1, data.target_mean, data.target_std)
    cfg = MatchConfig(k_subsets=1, batch_size=16, real_batch=real_batch, syn_batch=syn_batch)
    distiller = Distiller(real, syn, lambda: EncTiny(data.spec), cfg, torch.Generator().manual_seed(0))
    seen: list[int] = []
    original = distiller._loss

    def counting(model, x, *rest):  # noqa: ANN001, ANN202
        seen.append(x.shape[0])
        return original(model, x, *rest)

    distiller._loss = counting
    distiller.match_step(EncTiny(data.spec))
    assert seen == ([16, 16] if real_batch == 0 else [150, 80])  # real pass, then synthetic (whole set)


def test_match_loss_mae_is_the_weighted_masked_absolute_error() -> None:
    from sttune.strategies.stemdist.distill import weighted_loss

    pred, target = torch.tensor([[[1.0, 4.0, 0.0]]]), torch.tensor([[[3.0, 1.0, 9.0]]])
    seen, weight = torch.tensor([[[True, True, False]]]), torch.tensor([1.0, 3.0, 5.0])
    assert weighted_loss(pred, target, seen, weight, "mae") == pytest.approx((2 * 1 + 3 * 3) / 4)
    assert weighted_loss(pred, target, seen, weight, "mse") == pytest.approx((4 * 1 + 9 * 3) / 4)
    with pytest.raises(ValueError, match="match_loss"):
        STemDist(match_loss="huber")


def test_gradient_matching_lowers_the_matching_loss(data) -> None:
    gen = torch.Generator().manual_seed(0)
    real = three_clusters(data, 64)
    syn = SynSet(real.x[:4], real.y[:4], 1, data.target_mean, data.target_std)
    model = EncTiny(data.spec)
    cfg = MatchConfig(k_subsets=1, lr_feat=0.05, batch_size=64)
    distiller = Distiller(real, syn, lambda: EncTiny(data.spec), cfg, gen)
    losses = [distiller.match_step(model) for _ in range(40)]  # fixed surrogate: a clean descent
    assert losses[-1] < 0.5 * losses[0]


def test_cache_hit_skips_distillation_and_a_param_change_misses(data, tmp_path: Path, monkeypatch) -> None:
    params = dict(nrr=0.25, srr=0.05, t_outer=1, inner=1, net_steps=1)
    first = fit_stid(data, STemDist(**params), tmp_path, epochs=1).artifacts["stemdist"]
    assert not first["cache_hit"] and list((tmp_path / "stemdist").glob("*.pt"))

    def boom(*_a, **_k):
        raise AssertionError("distillation ran on a cache hit")

    with monkeypatch.context() as m:
        m.setattr(Distiller, "run", boom)
        second = fit_stid(data, STemDist(**params), tmp_path, epochs=1).artifacts["stemdist"]
    assert second["cache_hit"] and second["cache_key"] == first["cache_key"]
    assert second["members"] == first["members"]
    changed = fit_stid(data, STemDist(**{**params, "lr_feat": 2e-3}), tmp_path, epochs=1).artifacts["stemdist"]
    assert not changed["cache_hit"] and changed["cache_key"] != first["cache_key"]


class RecordingSTID(STID):
    """STID that records how many nodes it saw in training and in evaluation."""

    seen: dict[bool, set[int]] = {True: set(), False: set()}

    def forward(self, x, nodes=None, node_inputs=None, graph=None):
        RecordingSTID.seen[self.training].add(int(x.shape[2]))
        return super().forward(x, nodes, node_inputs, graph)


def test_model_trained_on_clusters_evaluates_on_all_real_nodes(data, tmp_path: Path) -> None:
    s = STemDist(nrr=0.25, srr=0.2, mode="cluster_only")
    RecordingSTID.seen = {True: set(), False: set()}
    res = fit_stid(data, s, tmp_path, model=lambda: RecordingSTID(data.spec, **TINY_STID, node_embedding="encoder"))
    assert RecordingSTID.seen[True] == {round(0.25 * N_NODES)}
    assert RecordingSTID.seen[False] == {N_NODES}
    assert math.isfinite(res.test_mae) and res.test_mae < 30  # raw values ~ 50 ± 10


def test_charging_full_and_amortised(data, tmp_path: Path) -> None:
    params = dict(nrr=0.25, srr=0.05, mode="cluster_only")
    miss = fit_stid(data, STemDist(**params, charge="full"), tmp_path, epochs=1)
    assert miss.charged_prepare_seconds == miss.prepare_seconds
    hit = fit_stid(data, STemDist(**params, charge="full"), tmp_path, epochs=1)
    info = hit.artifacts["stemdist"]
    assert info["cache_hit"] and info["distill_seconds"] == miss.artifacts["stemdist"]["distill_seconds"]
    # a hit is charged the build it reuses (its recorded seconds) on top of the load: no saving from a cache
    assert hit.charged_prepare_seconds == pytest.approx(hit.prepare_seconds + info["distill_seconds"])
    s = STemDist(**params, charge="amortised", reuses=4)
    s._info = {"cache_hit": False, "distill_seconds": 8.0}
    assert s.prepare_charge_seconds(8.5) == pytest.approx(0.5 + 2.0)
    s._info = {"cache_hit": True, "distill_seconds": 8.0}
    assert s.prepare_charge_seconds(0.1) == pytest.approx(0.1 + 2.0)
    amort = fit_stid(data, STemDist(**params, charge="amortised", reuses=4), tmp_path, epochs=1)
    d = amort.artifacts["stemdist"]["distill_seconds"]
    assert amort.charged_prepare_seconds == pytest.approx(amort.prepare_seconds + d / 4)


def test_train_subsets_gathers_a_random_cluster_subset() -> None:
    s = STemDist(train_subsets=4)
    windows = TensorWindows(torch.randn(5, 12, 8, 3), torch.rand(5, 12, 8) + 1, torch.randn(8, 4),
                            torch.arange(1.0, 9.0), Graph.from_dense(torch.ones(8, 8)))  # fmt: skip
    batch = windows.gather(torch.arange(5))
    ctx = type("Ctx", (), {"generator": torch.Generator().manual_seed(0)})()
    out = s.transform(batch, ctx)
    assert out.x.shape[2] == 2 and out.node_inputs.shape == (2, 4) and out.graph.n_nodes == 2
    pick = [int(torch.nonzero(batch.node_weight == w)) for w in out.node_weight]
    assert torch.equal(out.x, batch.x[:, :, pick]) and torch.equal(out.y, batch.y[..., pick])


@pytest.mark.parametrize("bad", [dict(nrr=0.0), dict(srr=1.5), dict(k_subsets=0), dict(mode="x"),
                                 dict(charge="half"), dict(reuses=0), dict(lr_feat=-1.0)])  # fmt: skip
def test_bad_params_raise(bad: dict) -> None:
    with pytest.raises(ValueError):
        STemDist(**bad)


def test_space_is_prefixed_and_builds() -> None:
    trial = optuna.create_study().ask()
    kwargs = STemDist.space(trial)
    assert set(trial.params) == {f"stemdist.{k}" for k in kwargs}
    STemDist(**kwargs)


class _Checkpoints(TrainListener):
    """Wants preparation checkpoints, writes them down, and stops at the first when ``stop``."""

    def __init__(self, records: list, stop: bool) -> None:
        self.records, self.stop = records, stop

    @property
    def wants_prepare_checkpoints(self) -> bool:
        return True

    def on_checkpoint(self, record: PrepareCheckpoint) -> None:
        self.records.append(record)
        if self.stop:
            raise StopTraining("dominated")


def _listener(records: list, stop: bool) -> TrainListener:
    return _Checkpoints(records, stop)


def _distilled_x(cache_dir: Path) -> Tensor:
    (path,) = (cache_dir / "stemdist").glob("*.pt")
    return torch.load(path)["x"]


def test_a_listener_gets_one_checkpoint_and_the_same_distilled_set(data, tmp_path: Path) -> None:
    params = dict(nrr=0.25, srr=0.05, t_outer=3, inner=2, net_steps=1)
    new_model = model_factory("stid", TINY_STID, data, [STemDist(**params)])
    quiet = fit(data, [STemDist(**params)], model=new_model, cache_dir=tmp_path / "quiet", epochs=1)
    records: list = []
    heard = fit(data, [STemDist(**params)], _listener(records, False), model=new_model, cache_dir=tmp_path / "heard",
                epochs=1)
    (record,) = records  # once, after the first outer iteration
    assert record.strategy == "stemdist" and record.val_mae > 0
    assert record.projected_seconds > record.seconds > 0  # two outer iterations still to come
    assert torch.equal(_distilled_x(tmp_path / "quiet"), _distilled_x(tmp_path / "heard"))
    assert heard.val_mae == pytest.approx(quiet.val_mae)
    # the checkpoint's score is the search's overhead, not the configuration's preparation
    assert heard.overhead_seconds > 0 and quiet.overhead_seconds == 0


def test_the_checkpoint_charge_includes_training_on_the_set(data, tmp_path: Path) -> None:
    """The trial's projected charge = the distillation's share + epochs × one epoch on the set,
    the epoch measured by the overhead score (which trains eval_epochs epochs on the set)."""
    heard: list[tuple[float, float]] = []

    class Ctx:
        n_epochs = 16

        def checkpoint(self, val_mae: float, projected: float) -> None:
            heard.append((val_mae, projected))

    for charge, reuses, share in (("full", 1, 1.0), ("amortised", 4, 0.25)):
        STemDist(charge=charge, reuses=reuses)._checkpoint(Ctx())(3.0, 10.0, 0.5)
        assert heard[-1] == pytest.approx((3.0, 10.0 * share + 0.5 * 16))
    # the distiller times that epoch inside the overhead block (excluded from the prepare clock)
    from sttune.training.timing import DeviceClock

    real = three_clusters(data, 64)
    syn = SynSet(real.x[:8], real.y[:8], 1, data.target_mean, data.target_std)
    cfg = MatchConfig(k_subsets=1, outer=2, inner=1, eval_epochs=4, batch_size=64)
    said: list[tuple[float, float, float]] = []
    now = ManualClock(tick=0.001)  # every read moves it a little, so training shows as time spent
    clock = DeviceClock(torch.device("cpu"), "process", now)

    def slow_validation(model) -> float:  # 0.2 s of device time: must not count as training time
        now.advance(0.2)
        return 3.0

    with clock.timed():
        Distiller(real, syn, lambda: EncTiny(data.spec), cfg, torch.Generator().manual_seed(0)).run(
            slow_validation, lambda *point: said.append(point), clock.elapsed, clock.excluded)
    (_, distill_s, epoch_s), = said
    assert clock.excluded_seconds == pytest.approx(0.2, abs=0.01) and distill_s > 0  # the score ran as the search's overhead
    assert 0 < 4 * epoch_s < clock.excluded_seconds - 0.15  # its 4 training epochs, not its validation


def test_a_stop_at_the_checkpoint_ends_distillation_and_caches_nothing(data, tmp_path: Path) -> None:
    params = dict(nrr=0.25, srr=0.05, t_outer=3, inner=2, net_steps=1)
    new_model = model_factory("stid", TINY_STID, data, [STemDist(**params)])
    records: list = []
    res = fit(data, [STemDist(**params)], _listener(records, True), model=new_model, cache_dir=tmp_path, epochs=2)
    assert len(records) == 1 and res.epochs_run == 0 and res.stop_reason == "stopped: dominated"
    assert res.charged_prepare_seconds == res.prepare_seconds >= records[0].seconds
    assert not list((tmp_path / "stemdist").glob("*.pt"))


def test_the_returned_set_is_the_matched_one_not_its_initialisation(data, tmp_path: Path, monkeypatch) -> None:
    """What training receives is the Distiller's final synthetic set; its initialisation is
    exactly the cluster-only set (same clusters, same sampled windows)."""
    seen: dict[str, Tensor] = {}
    run = Distiller.run

    def watching(self, *args, **kwargs):  # noqa: ANN001, ANN202
        seen["init_x"] = self.syn.x().detach().clone()
        out = run(self, *args, **kwargs)
        seen["final_x"], seen["final_y"] = self.syn.x().detach().clone(), self.syn.y_raw().clone()
        return out

    class Capture(Strategy):
        name = "capture"

        def prepare(self, train, ctx):  # noqa: ANN001, ANN201
            seen.setdefault("trained_on", []).append(train.gather(torch.arange(len(train))))
            return train

    monkeypatch.setattr(Distiller, "run", watching)
    params = dict(nrr=0.25, srr=0.05, use_cache=False)
    for mode, extra in (("cluster_only", {}), ("distill", dict(t_outer=2, inner=2, net_steps=1, lr_feat=0.05))):
        s = STemDist(**params, mode=mode, **extra)
        new_model = model_factory("stid", TINY_STID, data, [s])
        fit(data, [s, Capture()], model=new_model, cache_dir=tmp_path, epochs=1)
    cluster_only, distilled = seen["trained_on"]
    assert torch.equal(seen["init_x"], cluster_only.x)  # the initialisation is the cluster-only set
    assert torch.equal(distilled.x, seen["final_x"]) and torch.equal(distilled.y, seen["final_y"])
    assert not torch.allclose(distilled.x, cluster_only.x)  # matching moved it
