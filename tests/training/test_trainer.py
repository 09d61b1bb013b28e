import time

import pytest
import torch
from torch import nn

from helpers import Heard, ManualClock, fit
from sttune.api import ModelSpec, STModel, Strategy, TensorWindows
from sttune.errors import TrainingError
from sttune.training.timing import DeviceClock, time_source


class Recorder(Strategy):
    name = "recorder"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def prepare(self, train, ctx):
        self.calls.append("prepare")
        return train

    def select(self, ctx):
        self.calls.append("select")

    def transform(self, batch, ctx):
        self.calls.append("transform")
        return batch

    def weight(self, loss, batch, ctx):
        self.calls.append("weight")
        return loss

    def on_batch_end(self, loss, batch, ctx):
        self.calls.append("batch_end")

    def on_epoch_end(self, ctx):
        self.calls.append("epoch_end")


def test_hooks_run_in_the_documented_order(data):
    rec = Recorder()
    fit(data, [rec], epochs=1, batch_size=len(data.train))  # one batch
    assert rec.calls == ["prepare", "select", "transform", "weight", "batch_end", "epoch_end"]


class HalfSelector(Strategy):
    name = "half"

    def __init__(self) -> None:
        self.seen: set[int] = set()

    def select(self, ctx):
        return torch.arange(0, ctx.train_size, 2)

    def on_batch_end(self, loss, batch, ctx):
        self.seen.update(batch.index.tolist())


def test_select_limits_the_windows_visited(data):
    sel = HalfSelector()
    result = fit(data, [sel], epochs=3)
    assert all(r.windows == (len(data.train) + 1) // 2 for r in result.curve)
    assert sel.seen == set(range(0, len(data.train), 2))


class DropHalfTheNodes(Strategy):
    name = "drop"

    def transform(self, batch, ctx):
        keep = torch.arange(0, batch.n_nodes, 2)
        self.shapes = batch.x[:, :, keep].shape
        return batch.replace(x=batch.x[:, :, keep], y=batch.y[:, :, keep], nodes=keep)


class PredictsTheMean(STModel):
    """Predicts 0 in normalised units (the training mean in raw units) whatever it is given;
    its one parameter never changes the output, so training cannot move its error."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x, nodes=None, node_inputs=None, graph=None):
        return torch.zeros(x.shape[0], self.spec.out_len, x.shape[2]) + 0 * self.unused


def masked_mae_of_the_mean(data, windows, nodes=slice(None)) -> float:
    y = windows.gather(torch.arange(len(windows))).y[..., nodes].double()
    seen = y != 0
    return float((y - data.target_mean).abs()[seen].mean())


def test_transform_may_run_the_model_on_a_node_subset_and_eval_sees_all(data):
    result = fit(data, [DropHalfTheNodes()], model=lambda: PredictsTheMean(data.spec), epochs=1)
    # the error over every node, by hand; the nodes differ in phase, so a subset scores differently
    every, even = masked_mae_of_the_mean(data, data.test), masked_mae_of_the_mean(data, data.test, slice(0, None, 2))
    assert abs(every - even) > 1e-3 * every
    assert result.test["mae"] == pytest.approx(every, rel=1e-6)
    assert result.val["mae"] == pytest.approx(masked_mae_of_the_mean(data, data.val), rel=1e-6)


class Distil(Strategy):
    name = "distil"

    def prepare(self, train, ctx):
        batch = train.gather(torch.arange(10))
        return TensorWindows(batch.x.clone(), batch.y.clone())


def test_prepare_may_replace_the_training_set(data):
    result = fit(data, [Distil()], epochs=1)
    assert result.n_prepared_windows == 10 and result.curve[0].windows == 10


def test_same_seed_gives_the_same_result_and_another_seed_differs(data):
    a, b, c = fit(data, epochs=3, seed=1), fit(data, epochs=3, seed=1), fit(data, epochs=3, seed=2)
    assert a.val_mae == b.val_mae and a.test_mae == b.test_mae
    assert a.val_mae != c.val_mae


def test_best_checkpoint_is_restored(data):
    result = fit(data, epochs=4, lr=0.05)
    assert result.val_mae == pytest.approx(min(r.val_mae for r in result.curve), rel=1e-6)
    assert result.curve[result.best_epoch].val_mae == pytest.approx(result.val_mae, rel=1e-6)


class SlowEpochEnd(Strategy):
    """Spends ``seconds`` of the injected clock in every epoch-end hook."""

    name = "slow"

    def __init__(self, clock: ManualClock, seconds: float) -> None:
        self.clock, self.seconds = clock, seconds

    def on_epoch_end(self, ctx):
        self.clock.advance(self.seconds)


def test_strategy_overhead_is_charged_to_device_time(data):
    clock = ManualClock()  # only the hook moves it: the run's charge is exactly the hook's time
    slow = fit(data, [SlowEpochEnd(clock, 0.5)], epochs=3, now=clock)
    assert slow.device_seconds == pytest.approx(1.5)
    assert [r.device_seconds for r in slow.curve] == pytest.approx([0.5, 1.0, 1.5])
    assert slow.prepare_seconds == 0


class SlowPrepare(Strategy):
    name = "slowprep"

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock

    def prepare(self, train, ctx):
        self.clock.advance(2.0)
        return train

    def prepare_charge_seconds(self, seconds):
        return seconds / 4


def test_preparation_is_timed_apart_and_charged_as_the_strategy_says(data):
    clock = ManualClock()
    result = fit(data, [SlowPrepare(clock)], epochs=1, now=clock)
    assert (result.prepare_seconds, result.device_seconds) == (2.0, 0.0)
    assert result.charged_prepare_seconds == pytest.approx(0.5)
    assert result.cost_seconds == pytest.approx(0.5)


class NaNWeight(Strategy):
    name = "nan"

    def weight(self, loss, batch, ctx):
        return loss * float("nan")


def test_a_non_finite_loss_is_a_training_error(data):
    with pytest.raises(TrainingError, match="nan"):
        fit(data, [NaNWeight()], epochs=1)


def test_the_listener_may_stop_training_at_an_epoch_and_hears_why(data):
    heard = Heard(stop_at="epoch")
    result = fit(data, listener=heard, epochs=5)
    assert result.epochs_run == 1 and result.stop_reason == "stopped: stopped at the epoch"
    assert heard.kinds() == ["epoch", "stop"]  # stopped inside the first epoch's event, then told why
    assert heard.events[-1] == ("stop", result.stop_reason)


def test_a_run_within_its_budget_hears_no_stop(data):
    heard = Heard(checkpoints=False)
    result = fit(data, listener=heard, epochs=2)
    assert result.stop_reason == "budget" and heard.kinds() == ["epoch", "epoch"]


class Checkpointing(Strategy):
    """Reports one preparation checkpoint, then (if not stopped) prepares nothing more."""

    name = "checkpointing"

    def __init__(self) -> None:
        self.listening: list[bool] = []
        self.finished = False

    def prepare(self, train, ctx):
        self.listening.append(ctx.listening)
        ctx.checkpoint(3.5, 7.0 + ctx.prepare_seconds())
        self.finished = True
        return train


def test_a_preparation_checkpoint_reaches_the_listener_and_may_stop_the_run(data):
    heard = Heard(stop_at="checkpoint")
    strategy = Checkpointing()
    result = fit(data, [strategy], listener=heard, epochs=5)
    assert strategy.listening == [True] and not strategy.finished
    assert result.epochs_run == 0 and result.curve == [] and result.stop_reason == "stopped: stopped at the checkpoint"
    assert result.device_seconds == 0 and result.charged_prepare_seconds == result.prepare_seconds > 0
    assert heard.kinds() == ["prepare_start", "checkpoint", "stop"]
    record = heard.events[1][1]
    assert (record.strategy, record.index, record.val_mae) == ("checkpointing", 0, 3.5)
    assert 0 < record.projected_seconds - 7.0 <= record.seconds  # prepare_seconds() read the running clock


def test_every_strategy_s_prepare_hears_the_listener_and_training_sees_none(data):
    heard = Heard()
    first, second = Checkpointing(), Checkpointing()
    after = []

    class Probe(Strategy):
        name = "probe"

        def on_epoch_end(self, ctx):
            after.append((ctx.listening, ctx.prepare_seconds()))

    result = fit(data, [first, second, Probe()], listener=heard, epochs=1)
    assert first.listening == second.listening == [True] and result.epochs_run == 1
    # each strategy is announced before its own checkpoints: a display can say "preparing <name>"
    assert heard.events[:5] == [("prepare_start", "checkpointing"), ("checkpoint", heard.events[1][1]),
                                ("prepare_start", "checkpointing"), ("checkpoint", heard.events[3][1]),
                                ("prepare_start", "probe")]
    assert [r.index for kind, r in heard.events if kind == "checkpoint"] == [0, 0]
    assert heard.kinds()[5:] == ["epoch"]
    assert after == [(False, 0.0)]  # outside prepare the checkpoint context is back to its defaults


def test_search_overhead_in_prepare_is_counted_apart_from_the_trial_s_cost(data):
    inside: list[float] = []
    clock = ManualClock()

    class Observed(Strategy):
        name = "observed"

        def prepare(self, train, ctx):
            clock.advance(0.1)  # the strategy's own preparation
            with ctx.search_overhead() as span:  # e.g. a checkpoint's val MAE, only for a listener
                clock.advance(3.0)
            inside.extend([ctx.prepare_seconds(), span.seconds])
            return train

    result = fit(data, [Observed()], epochs=1, now=clock)
    assert result.overhead_seconds == pytest.approx(3.0)
    # neither the objective nor the projection pays it
    assert result.prepare_seconds == pytest.approx(0.1) and inside[0] == pytest.approx(0.1)
    assert inside[1] == pytest.approx(3.0)  # the span tells the strategy what it spent
    assert result.cost_seconds == pytest.approx(result.device_seconds + result.charged_prepare_seconds)
    assert fit(data, [Checkpointing()], epochs=1).overhead_seconds == 0


def test_without_a_listener_checkpoints_are_ignored_and_training_runs(data):
    strategy = Checkpointing()
    heard = Heard(checkpoints=False)  # a progress display: it does not ask for checkpoints
    result = fit(data, [strategy], listener=heard, epochs=2)
    # the strategy was told nobody listens (a real one then skips its checkpoint's score)
    assert heard.kinds() == ["prepare_start", "checkpoint", "epoch", "epoch"]
    assert strategy.listening == [False] and strategy.finished and result.epochs_run == 2


def test_early_stopping_by_validation_patience(data):
    result = fit(data, epochs=30, patience=1, lr=0.5)
    assert result.epochs_run < 30 and "early stopping" in result.stop_reason


class ScoreParam(Strategy):
    name = "score"

    def __init__(self) -> None:
        self.theta = torch.nn.Parameter(torch.zeros(1))

    def parameters(self):
        return [self.theta]

    def weight(self, loss, batch, ctx):
        return loss * (1 + self.theta)


def test_strategy_parameters_are_optimised(data):
    strategy = ScoreParam()
    fit(data, [strategy], epochs=1)
    assert strategy.theta.item() != 0


def test_the_cpu_clock_setting_picks_the_time_source():
    # process CPU time ignores a wait for a core (a busy machine); the wall clock charges it
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert time_source(cpu, "process") is time.process_time
    assert time_source(cpu, "wall") is time.perf_counter
    assert time_source(cuda, "process") is time.perf_counter  # a GPU is timed by synchronised wall clock
    assert DeviceClock(cpu, "process")._now is time.process_time


def test_the_best_epoch_s_validation_is_not_computed_twice(data, monkeypatch):
    import sttune.training.trainer as trainer_module

    calls: list[int] = []
    real = trainer_module.evaluate

    def counting(model, windows, data_, batch_size):
        calls.append(len(windows))
        return real(model, windows, data_, batch_size)

    monkeypatch.setattr(trainer_module, "evaluate", counting)
    result = fit(data, epochs=3)
    assert calls == [len(data.val)] * 3 + [len(data.test)]  # one pass per epoch, then the test split
    assert result.val_mae == result.curve[result.best_epoch].val_mae
