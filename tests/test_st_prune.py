"""ST-Prune: the defining behaviour (unbiased dynamic pruning, schedules, free scoring)."""

import json
import math

import optuna
import pytest
import torch
from torch import nn

from helpers import TinyModel, fit
from sttune.api import Batch, TensorWindows, TrainContext
from sttune.strategies.st_prune import STPrune, anneal_epoch, prune_ratio

M = 20_000  # windows of the synthetic source: binomial tolerances are tight at this size


def big_source(n: int = M) -> TensorWindows:
    return TensorWindows(torch.zeros(n, 1, 1, 3), torch.zeros(n, 1, 1))


def make_ctx(spec, seed: int = 0, n_epochs: int = 10) -> TrainContext:
    return TrainContext(
        epoch=0, n_epochs=n_epochs, model=nn.Linear(1, 1), device=torch.device("cpu"), seed=seed,
        generator=torch.Generator().manual_seed(seed), spec=spec,
    )


def prepared(spec, source=None, seed=0, n_epochs=10, **params):
    strategy = STPrune(**{"score": "loss", "bins": 0, **params})
    ctx = make_ctx(spec, seed, n_epochs)
    strategy.prepare(source if source is not None else big_source(), ctx)
    return strategy, ctx


def feed(strategy, ctx, scores: torch.Tensor) -> None:
    """Report one loss per window through on_batch_end, as the trainer does."""
    for index in torch.split(torch.arange(len(scores)), 4096):
        strategy.on_batch_end(scores[index], Batch(torch.zeros(0), torch.zeros(0), index), ctx)


def test_epoch0_and_annealed_epochs_see_every_window_with_weight_one(data):
    strategy, ctx = prepared(data.spec, ratio=0.5, delta=0.5, warmup=1)  # anneal at epoch 5
    loss = torch.rand(M)
    batch = Batch(torch.zeros(0), torch.zeros(0), torch.arange(M))
    assert strategy.select(ctx) is None and torch.equal(strategy.weight(loss, batch, ctx), loss)
    feed(strategy, ctx, torch.rand(M))
    ctx.epoch = 1
    assert len(strategy.select(ctx)) < M
    assert strategy.weight(torch.ones(M), batch, ctx).max() == pytest.approx(2.0)
    ctx.epoch = 5
    assert strategy.select(ctx) is None
    assert torch.equal(strategy.weight(loss, batch, ctx), loss)
    assert torch.equal(strategy._weight, torch.ones(M))  # reset explicitly, not just bypassed
    result = fit(data, [STPrune(score="loss", bins=0, ratio=0.5, delta=0.5)], epochs=6)
    full = len(data.train)
    assert [r.windows == full for r in result.curve] == [True, False, False, True, True, True]


def test_equal_or_unseen_scores_prune_nothing(data):
    strategy, ctx = prepared(data.spec, ratio=0.8)
    ctx.epoch = 1
    assert len(strategy.select(ctx)) == M  # nothing scored yet
    feed(strategy, ctx, torch.full((M,), 0.1))  # equal scores: float rounding must not prune
    ctx.epoch = 2
    assert len(strategy.select(ctx)) == M


def test_pruned_epoch_drops_about_r_of_the_below_mean_windows_and_only_those(data):
    strategy, ctx = prepared(data.spec, ratio=0.4)
    scores = torch.empty(M).exponential_(generator=torch.Generator().manual_seed(3))
    feed(strategy, ctx, scores)
    ctx.epoch = 1
    kept = torch.zeros(M, dtype=torch.bool)
    kept[strategy.select(ctx)] = True
    below = scores < scores.double().mean()
    dropped = ~kept
    assert not (dropped & ~below).any()  # only below-mean windows are ever skipped
    n_w = int(below.sum())
    sigma = math.sqrt(n_w * 0.4 * 0.6)  # binomial sd of the number dropped
    assert abs(int(dropped.sum()) - 0.4 * n_w) < 4.5 * sigma
    assert torch.allclose(strategy._weight[kept & below], torch.tensor(1 / 0.6))
    assert torch.all(strategy._weight[~below] == 1)


def test_unscored_windows_are_never_pruned(data):
    strategy, ctx = prepared(data.spec, ratio=0.7)
    index = torch.arange(M // 2)  # only the first half is ever scored
    strategy.on_batch_end(torch.rand(M // 2), Batch(torch.zeros(0), torch.zeros(0), index), ctx)
    ctx.epoch = 1
    kept = torch.zeros(M, dtype=torch.bool)
    kept[strategy.select(ctx)] = True
    assert kept[M // 2:].all() and not kept[: M // 2].all()


def test_bins_apply_the_mean_threshold_within_each_bin(data):
    strategy, ctx = prepared(data.spec, source=data.train, ratio=0.5, bins=4, bin_by="tod")
    bins = strategy._bin
    assert set(bins.tolist()) == {0, 1, 2, 3}
    scores = torch.rand(len(data.train), generator=torch.Generator().manual_seed(1)) + 100.0 * bins
    feed(strategy, ctx, scores)
    expected = torch.zeros_like(bins, dtype=torch.bool)
    for b in range(4):  # reference: a loop over the 4 bins
        members = bins == b
        expected |= members & (scores < scores[members].mean())
    assert torch.equal(strategy.well_learned(), expected)
    assert all(expected[bins == b].any() for b in range(4))  # a global mean would hit bin 0 only


def _gradient_check(data, params: dict, rescale: bool = True, draws: int = 1500) -> tuple[float, float]:
    """Monte-Carlo mean of the pruned-epoch gradient vs the full-data gradient on a linear toy.

    Returns (largest |mean - full| / standard error, over the 3 weights).
    """
    n = 300
    gen = torch.Generator().manual_seed(7)
    a, b = torch.randn(n, 3, generator=gen), torch.randn(n, generator=gen)
    theta = torch.randn(3, generator=gen, requires_grad=True)
    per_sample = lambda idx: (a[idx] @ theta - b[idx]) ** 2  # noqa: E731
    full = torch.autograd.grad(per_sample(torch.arange(n)).sum() / n, theta)[0]
    strategy, ctx = prepared(data.spec, source=big_source(n), seed=11, **params)
    feed(strategy, ctx, per_sample(torch.arange(n)).detach())
    ctx.epoch = 1
    grads = []
    for _ in range(draws):
        keep = strategy.select(ctx)
        loss = per_sample(keep)
        if rescale:
            loss = strategy.weight(loss, Batch(torch.zeros(0), torch.zeros(0), keep), ctx)
        grads.append(torch.autograd.grad(loss.sum() / n, theta)[0])
    g = torch.stack(grads)
    stderr = g.std(0) / math.sqrt(draws)
    return float(((g.mean(0) - full).abs() / stderr).max())


@pytest.mark.parametrize("params", [{"ratio": 0.6}, {"ratio": 0.5, "score": "random"}])
def test_expected_gradient_equals_the_full_data_gradient(data, params):
    assert _gradient_check(data, params) < 4.0  # within Monte-Carlo error
    assert _gradient_check(data, params, rescale=False, draws=300) > 10.0  # the rescaling matters


def test_schedules_give_the_documented_ratios():
    assert anneal_epoch(0.6, 10) == 6 and anneal_epoch(0.875, 12) == 11
    r, start, anneal = 0.6, 2, 8  # pruning epochs 2..7: n = 6
    for schedule in ("constant", "linear", "cosine", "step"):
        assert [prune_ratio(schedule, r, e, start, anneal) for e in (0, 1, 8, 9)] == [None] * 4
    assert prune_ratio("constant", r, 5, start, anneal) == r
    assert prune_ratio("linear", r, 2, start, anneal) == pytest.approx(r / 6)
    assert prune_ratio("linear", r, 7, start, anneal) == pytest.approx(r)
    assert prune_ratio("cosine", r, 2, start, anneal) == pytest.approx(r)
    assert prune_ratio("cosine", r, 5, start, anneal) == pytest.approx(r / 2)
    assert [prune_ratio("step", r, e, start, anneal) for e in range(2, 8)] == [r / 2] * 3 + [r] * 3
    assert prune_ratio("constant", r, 0, 0, anneal) is None  # epoch 0 never prunes


def test_a_warmup_longer_than_the_pruning_window_still_leaves_one_pruning_epoch():
    # 6 epochs, delta 0.8 → anneal at epoch 5; warm-up 5 is capped at 4: epoch 4 prunes
    anneal = anneal_epoch(0.8, 6)
    assert anneal == 5
    assert [prune_ratio("constant", 0.5, e, 5, anneal) for e in range(6)] == [None] * 4 + [0.5, None]
    assert [prune_ratio("linear", 0.5, e, 5, anneal) for e in range(6)] == [None] * 4 + [0.5, None]
    # a run too short to prune at all (anneal at epoch 1) stays plain: epoch 0 never prunes
    assert [prune_ratio("constant", 0.5, e, 5, 1) for e in range(2)] == [None, None]


class CountingModel(TinyModel):
    """Counts the windows the model sees in training mode (validation runs in eval mode)."""

    def __init__(self, spec):
        super().__init__(spec)
        self.train_windows = 0

    def forward(self, x, nodes=None, node_inputs=None, graph=None):
        if self.training:
            self.train_windows += x.shape[0]
        return super().forward(x, nodes, node_inputs, graph)


def test_scoring_adds_no_forward_pass(data):
    for strategies in ([], [STPrune()], [STPrune(score="ema", bins=8, bin_by="shift")]):
        models = []
        new = lambda: models.append(CountingModel(data.spec)) or models[-1]  # noqa: E731, B023 (used in this iteration)
        result = fit(data, strategies, model=new, epochs=4)
        assert models[0].train_windows == sum(r.windows for r in result.curve)


def test_random_ablation_visits_about_as_many_windows_as_the_scored_arm(data):
    scores = torch.empty(M).exponential_(generator=torch.Generator().manual_seed(5))
    scored, ctx = prepared(data.spec, ratio=0.5)
    feed(scored, ctx, scores)
    ctx.epoch = 1
    n_scored = len(scored.select(ctx))
    share = float(scored.well_learned().float().mean())  # |W| / M
    random, rctx = prepared(data.spec, ratio=0.5 * share, score="random", seed=1)
    rctx.epoch = 1
    n_random = len(random.select(rctx))
    sigma = math.sqrt(M * 0.25)
    assert abs(n_random - n_scored) < 6 * sigma
    assert abs(n_random - (M - 0.5 * share * M)) < 4.5 * sigma


def test_same_seed_same_selection(data):
    scores = torch.rand(M)
    picks = []
    for seed in (0, 0, 1):
        strategy, ctx = prepared(data.spec, seed=seed)
        feed(strategy, ctx, scores)
        ctx.epoch = 1
        picks.append(strategy.select(ctx))
    assert torch.equal(picks[0], picks[1]) and not torch.equal(picks[0], picks[2])
    a, b = (fit(data, [STPrune()], epochs=6, seed=3) for _ in range(2))
    assert a.artifacts == b.artifacts and a.test_mae == b.test_mae


def test_default_run_prunes_and_exports_json_artifacts(data):
    result = fit(data, [STPrune()], epochs=8)
    art = json.loads(json.dumps(result.artifacts["st_prune"]))
    fractions = [e["visited_fraction"] for e in art["per_epoch"]]
    assert fractions[0] == 1 and fractions[-1] == 1 and min(fractions) < 0.9
    assert [r.windows / len(data.train) for r in result.curve] == pytest.approx(fractions)
    assert art["anneal_epoch"] == 7 and math.isfinite(result.test_mae)


@pytest.mark.parametrize("score", ["loss", "random"])
def test_planned_work_is_full_outside_pruning_and_the_expected_visited_share_inside(data, score):
    strategy = STPrune(ratio=0.5, delta=0.75, warmup=2, score=score, bins=0)
    result = fit(data, [strategy], epochs=8)  # warm-up epochs 0-1, pruning 2-5, annealed 6-7
    per_epoch = result.artifacts["st_prune"]["per_epoch"]
    plan = [strategy.planned_work(e, 8) for e in range(8)]
    assert plan[:2] == [1.0, 1.0] and plan[6:] == [1.0, 1.0]
    share = per_epoch[5]["candidate_fraction"]  # |W|/M of the last pruning epoch
    assert plan[2:6] == pytest.approx([1 - 0.5 * share] * 4) and plan[2] < 0.9
    # the plan is the expectation of what the last pruning epoch visited (binomial spread)
    sd = math.sqrt(0.25 * share * len(data.train)) / len(data.train)
    assert abs(per_epoch[5]["visited_fraction"] - plan[5]) < 4 * sd
    assert STPrune(ratio=0.4, delta=0.75).planned_work(2, 8) == pytest.approx(0.8)  # 0.5 before any


def test_relative_scores_divide_the_loss_by_a_fixed_volatility(data):
    strategy, ctx = prepared(data.spec, source=data.train, score="relative")
    vol = strategy._volatility
    assert vol.shape == (len(data.train),) and bool((vol > 0).all() and vol.isfinite().all())
    loss = torch.rand(len(data.train))
    feed(strategy, ctx, loss)
    assert torch.allclose(strategy._scores, loss / vol)


@pytest.mark.parametrize("bad", [
    {"ratio": 1.0}, {"ratio": -0.1}, {"ratio": "0.5"}, {"delta": 0.0}, {"delta": 1.2},
    {"score": "grad"}, {"momentum": 1.0}, {"bins": -1}, {"bins": 2.5}, {"bin_by": "day"},
    {"schedule": "exp"}, {"warmup": -1}, {"warmup": True}, {"channel": -1},
])
def test_bad_params_raise_value_error(bad):
    with pytest.raises(ValueError):
        STPrune(**bad)


def test_channel_out_of_range_raises_in_prepare(data):
    with pytest.raises(ValueError, match="channel"):
        STPrune(channel=3).prepare(data.train, make_ctx(data.spec))


def test_space_suggests_valid_prefixed_params():
    study = optuna.create_study()
    for _ in range(5):
        trial = study.ask()
        params = STPrune.space(trial)
        STPrune(**params)
        assert all(name.startswith("st_prune.") for name in trial.params)
        assert 0.2 <= params["ratio"] <= 0.8 and 0.6 <= params["delta"] <= 0.95
