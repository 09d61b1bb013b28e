"""sttune.StrategyLoop: strategies driven by a hand-written PyTorch loop.

The loop below is written as a user would write it (their optimiser, their loss call), seeded
and stepped as sttune's trainer steps; it must visit exactly the windows and nodes the
strategies chose and train the same model as ``Trainer.fit`` on the same seed.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any

import pytest
import torch

from helpers import ring_series
from sttune import StrategyLoop
from sttune.api import Batch, PrepareContext, Strategy, TrainContext
from sttune.data.protocol import build_data
from sttune.interop.strategy_loop import AdapterError
from sttune.recipe.settings import Protocol, TrainConfig
from sttune.registry.build import make_strategies, model_factory
from sttune.training.evaluation import evaluate
from sttune.training.metrics import per_sample_masked_mae
from sttune.training.trainer import Trainer, seed_everything

CFG = TrainConfig(epochs=5, batch_size=32, lr=0.005, seed=3, device="cpu")
STID = {"embed_dim": 8, "n_layers": 1}
CASES = {
    "st_prune": [("st_prune", {"ratio": 0.5, "delta": 0.8, "warmup": 1})],
    "dynst": [("dynst", {"s_final": 0.5, "delta_t": 1, "end_frac": 0.6})],
    "both": [("st_prune", {"ratio": 0.4, "warmup": 1}), ("dynst", {"s_final": 0.4, "regrow": "random"})],
}


class Spy(Strategy):
    """Listed first: records each batch the loop trains on, and what the strategies chose then."""

    name = "spy"

    def __init__(self) -> None:
        self.batches: list[tuple[int, list[int], list[int] | None]] = []
        self.others: list[Strategy] = []

    def on_batch_end(self, per_sample_loss: torch.Tensor, batch: Batch, ctx: TrainContext) -> None:
        nodes = None if batch.nodes is None else batch.nodes.tolist()
        self.batches.append((ctx.epoch, batch.index.tolist(), nodes))


class Chosen(Strategy):
    """Records every strategy's own choice at each epoch start (wraps their select)."""


def data_module():
    return build_data(ring_series(n_steps=480, n_nodes=10), Protocol(in_len=6, out_len=3))


def with_spy(pairs: list[tuple[str, dict[str, Any]]]) -> tuple[list[Strategy], Spy, dict[int, torch.Tensor]]:
    """Fresh strategies with a spy first; ``chosen[epoch]`` = the windows their selection kept."""
    strategies = make_strategies(pairs)
    spy, chosen = Spy(), {}
    for s in strategies:
        select = s.select

        def recording(ctx, select=select):
            picked = select(ctx)
            if picked is not None:
                old = chosen.get(ctx.epoch)
                chosen[ctx.epoch] = picked.cpu() if old is None else old[torch.isin(old, picked.cpu())]
            return picked

        s.select = recording  # type: ignore[method-assign]
    return [spy, *strategies], spy, chosen


def hand_written_loop(pairs, data) -> tuple[list[float], list[float], Spy, dict, StrategyLoop]:
    """A plain PyTorch loop around StrategyLoop, stepping as sttune's trainer steps."""
    strategies, spy, chosen = with_spy(pairs)
    new_model = model_factory("stid", STID, data, strategies)  # (builds one model to check params)
    seed_everything(CFG.seed)
    model = new_model()
    loop = StrategyLoop(strategies, data.train, epochs=CFG.epochs, model=model, n_channels=data.spec.n_channels,
                        steps_per_day=data.spec.steps_per_day, adjacency=data.spec.graph.to_dense(),
                        seed=CFG.seed, target_mean=data.target_mean, target_std=data.target_std)
    groups = [{"params": list(model.parameters()), "weight_decay": CFG.weight_decay}]
    if loop.parameters():
        groups.append({"params": loop.parameters(), "weight_decay": 0.0})
    optimizer = torch.optim.Adam(groups, lr=CFG.lr)
    milestones = sorted({max(1, round(f * CFG.epochs)) for f in CFG.lr_decay_at})
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, CFG.lr_gamma)
    trainable = [p for g in optimizer.param_groups for p in g["params"]]
    losses, vals = [], []
    for _ in loop.epochs():
        model.train()
        total, seen = 0.0, 0
        for batch in loop.batches(CFG.batch_size):
            pred = model(batch.x, batch.nodes, batch.node_inputs, batch.graph)
            per_sample = per_sample_masked_mae(pred * data.target_std + data.target_mean, batch.y, batch.node_weight)
            optimizer.zero_grad()
            loop.weight(per_sample, batch).mean().backward()
            torch.nn.utils.clip_grad_norm_(trainable, CFG.grad_clip)
            optimizer.step()
            loop.batch_end(per_sample, batch)
            total, seen = total + float(per_sample.detach().sum()), seen + len(per_sample)
        scheduler.step()
        losses.append(total / seen)
        vals.append(evaluate(model, data.val, data, CFG.eval_batch_size)["mae"])
    return losses, vals, spy, chosen, loop


def trainer_run(pairs, data):
    strategies, spy, chosen = with_spy(pairs)
    result = Trainer(CFG).fit(model_factory("stid", STID, data, strategies), data, strategies)
    return result, spy, chosen


@pytest.mark.parametrize("case", list(CASES))
def test_the_adapter_trains_what_the_trainer_trains(case):
    data = data_module()
    threads = torch.get_num_threads()
    try:
        result, t_spy, _ = trainer_run(CASES[case], data)
        losses, vals, a_spy, _, _ = hand_written_loop(CASES[case], data)
    finally:
        torch.set_num_threads(threads)
    assert a_spy.batches == t_spy.batches  # the same windows, in the same order, on the same nodes
    assert [r.train_loss for r in result.curve] == pytest.approx(losses, abs=1e-5, rel=0)
    assert [r.val_mae for r in result.curve] == pytest.approx(vals, abs=1e-5, rel=0)


@pytest.mark.parametrize("case", list(CASES))
def test_the_loop_visits_exactly_the_windows_and_nodes_the_strategies_chose(case):
    data = data_module()
    _, _, spy, chosen, loop = hand_written_loop(CASES[case], data)
    dynst = next((s for s in loop.strategies if s.name == "dynst"), None)
    for epoch in range(CFG.epochs):
        visited = [i for e, index, _ in spy.batches if e == epoch for i in index]
        assert len(visited) == len(set(visited))  # each window once
        expected = chosen[epoch].tolist() if epoch in chosen else list(range(len(data.train)))
        assert sorted(visited) == sorted(expected)
        assert loop.log[epoch].windows == len(expected)
        assert loop.log[epoch].skipped_windows == len(data.train) - len(expected)
    if "st_prune" in case:
        assert any(log.skipped_windows > 0 for log in loop.log)
    if dynst is not None:  # every batch ran on the active sensors of its epoch (a RigL batch: all)
        active = dynst.artifacts()["active_per_epoch"]
        for epoch, _, nodes in spy.batches:
            assert nodes is None or len(nodes) == active[epoch]
        assert sorted(loop.log[-1].nodes_kept) == dynst.artifacts()["kept_sensors"]
        assert len(loop.log[-1].nodes_skipped) == data.spec.n_nodes - active[-1]


def test_a_strategy_that_replaces_the_data_is_refused():
    class Distil(Strategy):
        name = "distil"

        def prepare(self, train, ctx):
            return train.__class__.__new__(train.__class__)

    data = data_module()
    model = model_factory("stid", STID, data)()
    loop = StrategyLoop([Distil()], data.train, epochs=1, model=model, steps_per_day=48)
    with pytest.raises(AdapterError, match="replaces the training windows"):
        loop.prepare()


def test_plain_tensors_work_and_strategies_come_by_name():
    calendar = torch.cat([torch.rand(40, 6, 5, 1), torch.randint(0, 7, (40, 6, 5, 1)).float()], -1)  # sttune's layout
    x, y = torch.cat([torch.randn(40, 6, 5, 1), calendar], -1), torch.rand(40, 3, 5) + 1
    loop = StrategyLoop([("st_prune", {"ratio": 0.5, "warmup": 0, "bins": 0, "score": "loss"})], (x, y),
                        epochs=2, model=torch.nn.Linear(1, 1), steps_per_day=48)
    sizes = []
    for _ in loop.epochs():
        order = loop.windows()
        sizes.append(len(order))
        for index in torch.split(order, 8):
            batch = loop.batch(index)
            loop.batch_end(torch.rand(len(index)), batch)
    assert sizes[0] == 40 and sizes[1] < 40 and not math.isnan(sizes[1])


class Evens(Strategy):
    """A second selection: only the even windows."""

    name = "evens"

    def select(self, ctx):
        return torch.arange(0, ctx.train_size, 2)


def test_several_selections_visit_what_all_of_them_keep():
    calendar = torch.cat([torch.rand(40, 6, 5, 1), torch.randint(0, 7, (40, 6, 5, 1)).float()], -1)  # sttune's layout
    x, y = torch.cat([torch.randn(40, 6, 5, 1), calendar], -1), torch.rand(40, 3, 5) + 1

    class FirstHalf(Strategy):
        name = "first_half"

        def select(self, ctx):
            return torch.arange(ctx.train_size // 2)

    loop = StrategyLoop([Evens(), FirstHalf()], (x, y), epochs=1, model=torch.nn.Linear(1, 1), steps_per_day=48)
    for _ in loop.epochs():
        order = loop.windows().tolist()
    assert sorted(order) == list(range(0, 20, 2))


class PrepareSeen(Strategy):
    """Keeps the context its prepare was handed."""

    name = "prepare_seen"

    def prepare(self, train, ctx):
        self.ctx = ctx
        return train


def test_prepare_gets_a_prepare_context_as_from_the_trainer():
    calendar = torch.cat([torch.rand(40, 6, 5, 1), torch.randint(0, 7, (40, 6, 5, 1)).float()], -1)  # sttune's layout
    x, y = torch.cat([torch.randn(40, 6, 5, 1), calendar], -1), torch.rand(40, 3, 5) + 1
    first, second = PrepareSeen(), PrepareSeen()
    model = torch.nn.Linear(1, 1)
    loop = StrategyLoop([first, second], (x, y), epochs=3, model=model, steps_per_day=48, seed=5, batch_size=8)
    loop.prepare()
    ctx = first.ctx
    assert isinstance(ctx, PrepareContext) and not isinstance(ctx, TrainContext)
    assert second.ctx is not ctx  # one per prepare call, as the trainer builds them
    fields = {f.name for f in dataclasses.fields(ctx)}
    assert not fields & {"epoch", "train_size"}  # no epoch-loop fields: only the deprecated api 1.0 stand-ins
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert (ctx.epoch, ctx.train_size) == (0, 0)
    assert [w.category for w in caught] == [DeprecationWarning, DeprecationWarning]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.seed = 1  # type: ignore[misc]
    # the run's fields, and the one random stream the epoch hooks go on drawing from
    assert (ctx.n_epochs, ctx.model, ctx.seed, ctx.batch_size, ctx.spec) == (3, model, 5, 8, loop.spec)
    assert ctx.generator is loop.ctx.generator and not ctx.listening
    assert loop.ctx.train_size == 40
