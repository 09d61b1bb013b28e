"""STemDist's options that follow the authors' code (issue 33): their loop, averaged selection
scores, and the mean-input-window location-encoder input."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers import fit, ring_data
from sttune.recipe.settings import Protocol, TrainConfig
from sttune.recipe.spec import DatasetBlock
from sttune.registry.build import model_factory
from sttune.strategies.stemdist import STemDist
from sttune.strategies.stemdist.cluster import aggregate, cluster_graph, mean_windows, source_mean_windows
from sttune.strategies.stemdist.distill import ClusterData, Distiller, MatchConfig, SynSet
from sttune.training.jobs import Job, fit_job, load_data_cached, with_strategy_descriptors
from test_stemdist import EncTiny

N_NODES = 12
TINY_STID = {"embed_dim": 8, "n_layers": 1, "encoder_hidden": 8}


@pytest.fixture(scope="module")
def data():
    return ring_data(300, N_NODES)


def clusters(data, n_windows: int, k: int = 3) -> ClusterData:  # noqa: ANN001
    c = torch.nn.functional.one_hot(torch.arange(N_NODES) % k, k).float()
    b = data.train.gather(torch.arange(n_windows))
    x, y = aggregate(b.x, b.y, c)
    ni = (c / c.sum(0)).t() @ data.node_inputs
    return ClusterData(x, y, c.sum(0), ni, cluster_graph(data.spec.graph, c), data.target_mean, data.target_std)


def counting(distiller: Distiller) -> list[tuple[int, int]]:
    """Record (windows, nodes) of every loss the distiller computes."""
    seen: list[tuple[int, int]] = []
    original = distiller._loss

    def loss(model, x, y, s, nodes, *rest):  # noqa: ANN001, ANN202
        seen.append((int(x.shape[0]), len(nodes)))
        return original(model, x, y, s, nodes, *rest)

    distiller._loss = loss  # type: ignore[method-assign]
    return seen


def authors(data, k: int = 3, net_steps: int = 2, **cfg) -> Distiller:  # noqa: ANN001
    real = clusters(data, 64, k=6)
    syn = SynSet(real.x[:20], real.y[:20], 1, data.target_mean, data.target_std)
    config = MatchConfig(k_subsets=k, batch_size=16, net_steps=net_steps, loop="authors", **cfg)
    return Distiller(real, syn, lambda: EncTiny(data.spec), config, torch.Generator().manual_seed(0))


# ---------------------------------------------------------------------- the authors' loop


def test_an_authors_round_steps_the_set_once_per_subset_against_the_whole_set(data) -> None:
    d = authors(data, k=3, net_steps=2)
    seen, steps = counting(d), []
    step = d.opt.step
    d.opt.step = lambda *a, **kw: (steps.append(1), step(*a, **kw))[1]  # type: ignore[method-assign]
    model = EncTiny(data.spec)
    before = d.syn.x_series.detach().clone()
    d.authors_round(model, torch.optim.Adam(model.parameters(), lr=1e-3), last=False)
    # per subset (6 clusters in 3 subsets of 2): the real batch, then every synthetic window
    assert seen[:6] == [(16, 2), (20, 2)] * 3 and len(steps) == 3
    # then net_steps passes, each one step per subset on the whole synthetic set
    assert seen[6:] == [(20, 2)] * 6
    assert not torch.equal(before, d.syn.x_series.detach())


def test_no_surrogate_passes_after_the_last_round(data) -> None:
    d = authors(data, k=2, net_steps=5)
    seen = counting(d)
    model = EncTiny(data.spec)
    d.authors_round(model, torch.optim.Adam(model.parameters(), lr=1e-3), last=True)
    assert seen == [(16, 3), (20, 3)] * 2


class ModeSpy(EncTiny):
    modes: list[bool] = []

    def forward(self, x, nodes=None, node_inputs=None, graph=None):  # noqa: ANN001, ANN201
        ModeSpy.modes.append(self.training)
        return super().forward(x, nodes, node_inputs, graph)


@pytest.mark.parametrize(("loop", "training"), [("sttune", False), ("authors", True)])
def test_the_surrogate_runs_in_train_mode_only_in_the_authors_loop(data, loop: str, training: bool) -> None:
    real = clusters(data, 64)
    syn = SynSet(real.x[:8], real.y[:8], 1, data.target_mean, data.target_std)
    cfg = MatchConfig(k_subsets=1, outer=1, inner=2, net_steps=0, batch_size=16, loop=loop)
    ModeSpy.modes = []
    Distiller(real, syn, lambda: ModeSpy(data.spec), cfg, torch.Generator().manual_seed(0)).run(None)
    assert ModeSpy.modes and set(ModeSpy.modes) == {training}


def test_selection_scores_average_score_runs_fresh_models(data) -> None:
    d = authors(data, k=2, eval_epochs=3, score_runs=3)
    seen = counting(d)
    built: list[int] = []
    new_model = d.new_model
    d.new_model = lambda: (built.append(1), new_model())[1]  # type: ignore[method-assign]
    answers = iter([1.0, 2.0, 6.0])
    val, _ = d.score(lambda model: next(answers))
    assert val == pytest.approx(3.0) and len(built) == 3
    # the authors' epochs: one step per cluster subset on the whole set, at the surrogate's lr
    assert seen == [(20, 3)] * (3 * 3 * 2)


def test_the_authors_loop_and_its_options_change_the_cache_key_and_defaults_keep_it() -> None:
    base = STemDist().distill_params()
    assert not {"loop", "score_runs", "encoder_input"} & set(base)
    assert STemDist(loop="authors").distill_params()["loop"] == "authors"
    assert STemDist(score_runs=3).distill_params()["score_runs"] == 3
    assert STemDist(mode="random", encoder_input="mean_window").distill_params()["encoder_input"] == "mean_window"


@pytest.mark.parametrize("bad", [{"loop": "theirs"}, {"score_runs": 0}, {"encoder_input": "mean"}])
def test_bad_option_values_raise(bad: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        STemDist(**bad)


# ---------------------------------------------------------------------- the mean input window


def test_node_descriptors_are_each_nodes_mean_input_window_padded(data) -> None:
    got = STemDist(encoder_input="mean_window").node_descriptors(data.node_inputs, data.train)
    assert got.shape == data.node_inputs.shape
    starts = data.train.starts
    feats = data.train.features[..., 0]  # [time, nodes]
    for step in (0, 5, 11):
        torch.testing.assert_close(got[:, step], feats[starts + step].mean(0))
    assert (got[:, 12:] == 0).all()
    assert STemDist().node_descriptors(data.node_inputs, data.train) is data.node_inputs


def test_mean_windows_need_room_in_the_descriptor_width() -> None:
    with pytest.raises(ValueError, match="encoder_input='mean_window'"):
        mean_windows(torch.zeros(4, 12, 3, 3), 26)


def test_the_synthetic_sets_descriptors_follow_its_learnable_inputs(data) -> None:
    real = clusters(data, 64)
    syn = SynSet(real.x[:8], real.y[:8], 1, data.target_mean, data.target_std)
    width = data.spec.node_input_dim
    cfg = MatchConfig(k_subsets=1, batch_size=16, descriptor_width=width)
    d = Distiller(real, syn, lambda: EncTiny(data.spec), cfg, torch.Generator().manual_seed(0))
    inputs = d.syn_inputs()
    assert inputs is not None and inputs.requires_grad
    torch.testing.assert_close(inputs.detach(), mean_windows(syn.x_series.detach(), width))
    # the matching loss reaches the inputs through the descriptors too: the encoder-only model
    # (its forecast ignores x) still moves the synthetic inputs
    class EncoderOnly(EncTiny):
        def forward(self, x, nodes=None, node_inputs=None, graph=None):  # noqa: ANN001, ANN201
            return self.enc(node_inputs).t().unsqueeze(0).expand(x.shape[0], -1, -1)

    d = Distiller(real, syn, lambda: EncoderOnly(data.spec), cfg, torch.Generator().manual_seed(0))
    before = syn.x_series.detach().clone()
    d.match_step(EncoderOnly(data.spec))
    assert not torch.equal(before, syn.x_series.detach())
    fixed = Distiller(real, syn, lambda: EncoderOnly(data.spec), MatchConfig(k_subsets=1, batch_size=16),
                      torch.Generator().manual_seed(0))
    assert fixed.syn_inputs() is None


@pytest.mark.parametrize("mode", ["distill", "cluster_only", "random"])
def test_every_sets_descriptors_are_its_own_mean_windows(data, mode: str, tmp_path: Path) -> None:
    s = STemDist(nrr=0.25, srr=0.1, mode=mode, t_outer=1, inner=1, net_steps=1, encoder_input="mean_window")
    moved = with_strategy_descriptors(data, [s])
    fit(moved, [s], model=model_factory("stid", TINY_STID, moved, [s]), cache_dir=tmp_path, epochs=1)
    (path,) = (tmp_path / "stemdist").glob("*.pt")
    payload = torch.load(path)
    torch.testing.assert_close(payload["node_inputs"], mean_windows(payload["x"][..., :1], data.spec.node_input_dim))


def test_the_data_without_the_strategys_descriptors_is_refused(data, tmp_path: Path) -> None:
    s = STemDist(nrr=0.25, srr=0.1, mode="cluster_only", encoder_input="mean_window")
    with pytest.raises(ValueError, match="node descriptors"):
        fit(data, [s], model=model_factory("stid", TINY_STID, data, [s]), cache_dir=tmp_path, epochs=1)


def test_a_job_evaluates_on_the_mean_windows_it_trained_with(tmp_path: Path) -> None:
    """``sttune train`` (fit_job) applies the strategy's descriptors: validation, test and the
    fitted data (saved models, deployment) see each real node's mean input window."""
    from sttune.training.evaluation import evaluate

    block = DatasetBlock("synthetic", {"n_nodes": 8, "n_days": 3, "steps_per_day": 48}, id="tiny")
    job = Job(block, Protocol(), "stid", TINY_STID,
              [("stemdist", {"nrr": 0.5, "srr": 0.2, "mode": "cluster_only", "encoder_input": "mean_window"})],
              TrainConfig(epochs=1, device="cpu", batch_size=32))  # fmt: skip
    fitted = fit_job(job, tmp_path)
    want = source_mean_windows(fitted.data.train, 1, fitted.data.spec.node_input_dim)
    torch.testing.assert_close(fitted.data.node_inputs, want)
    torch.testing.assert_close(fitted.data.val.gather(torch.arange(2)).node_inputs, want)
    # the run's own test MAE is the one on these descriptors (the profile gives another)
    assert evaluate(fitted.model, fitted.data.test, fitted.data, 256)["mae"] == pytest.approx(fitted.result.test["mae"])
    profile = fitted.data.with_node_inputs(load_data_cached(job.dataset, job.protocol).node_inputs)
    assert evaluate(fitted.model, profile.test, profile, 256)["mae"] != pytest.approx(fitted.result.test["mae"])


def test_data_with_other_descriptors_keeps_their_shape(data) -> None:
    other = data.with_node_inputs(torch.ones_like(data.node_inputs))
    assert (other.test.gather(torch.arange(1)).node_inputs == 1).all() and (other.node_inputs == 1).all()
    assert not (data.node_inputs == 1).all()  # the original is untouched
    with pytest.raises(ValueError, match="shape"):
        data.with_node_inputs(torch.ones(N_NODES, 3))


@pytest.mark.parametrize("initial", [True, False])
def test_the_set_before_matching_is_a_candidate_only_when_asked(data, initial: bool) -> None:
    """The authors keep only sets scored from the first check on; ours may keep iteration 0."""
    real = clusters(data, 64)
    syn = SynSet(real.x[:8], real.y[:8], 1, data.target_mean, data.target_std)
    cfg = MatchConfig(k_subsets=1, outer=2, inner=1, net_steps=0, batch_size=16, eval_every=1, eval_epochs=1,
                      initial_candidate=initial)
    scores = iter([1.0, 5.0, 4.0])  # the initial set scores best
    info = Distiller(real, syn, lambda: EncTiny(data.spec), cfg, torch.Generator().manual_seed(0)).run(
        lambda model: next(scores))
    assert info["initial_val_mae"] == 1.0
    assert (info["best_iteration"], info["best_val_mae"]) == ((0, 1.0) if initial else (2, 4.0))
    assert "initial_candidate" in STemDist(initial_candidate=False).distill_params()
