"""prepare() gets its own PrepareContext, the epoch hooks the run's TrainContext; api 1.0
plugins that read the old fields in prepare keep running (with a DeprecationWarning)."""

from __future__ import annotations

import dataclasses
import warnings

import pytest
import torch

from helpers import Heard, fit, ring_data
from sttune.api import PrepareContext, Strategy, TensorWindows, TrainContext
from sttune.errors import TrainingError


@pytest.fixture(scope="module")
def data():
    return ring_data(300)


class Seen(Strategy):
    """Keeps the contexts its hooks were handed; `shrink` halves the source in prepare."""

    def __init__(self, name: str, shrink: bool = False) -> None:
        self.name, self.shrink = name, shrink
        self.prepare_ctx: PrepareContext | None = None
        self.epoch_ctx: TrainContext | None = None

    def prepare(self, train, ctx):
        self.prepare_ctx = ctx
        ctx.checkpoint(1.0, 1.0)
        if not self.shrink:
            return train
        batch = train.gather(torch.arange(len(train) // 2))
        return TensorWindows(batch.x, batch.y)

    def select(self, ctx):
        self.epoch_ctx = ctx


def test_each_prepare_gets_its_own_unchangeable_context_and_the_epoch_hooks_a_clean_one(data):
    first, second = Seen("first", shrink=True), Seen("second")
    heard = Heard(checkpoints=True)
    fit(data, [first, second], heard, epochs=1, batch_size=64)
    seen = [payload for _, payload in heard.events]
    a, b = first.prepare_ctx, second.prepare_ctx
    assert isinstance(a, PrepareContext) and isinstance(b, PrepareContext) and a is not b
    assert a.checkpoint is not b.checkpoint and a.listening and b.listening
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.listening = False  # type: ignore[misc]
    # each strategy's checkpoints are its own (index from 0), seen by the listener
    assert [(e.strategy, e.index) for e in seen if hasattr(e, "strategy")] == [("first", 0), ("second", 0)]
    epoch = first.epoch_ctx
    assert isinstance(epoch, TrainContext) and epoch is second.epoch_ctx
    assert epoch.train_size == len(data.train) // 2  # the prepared source
    assert epoch.generator is a.generator is b.generator  # one random stream per run
    assert (epoch.model, epoch.n_epochs, epoch.spec) == (a.model, a.n_epochs, a.spec)
    # nothing of a prepare call is left on the epoch hooks' context
    assert not epoch.listening and epoch.checkpoint not in (a.checkpoint, b.checkpoint)
    assert epoch.prepare_seconds() == 0.0 and epoch.add_work is not a.add_work


class OldStyle(Strategy):
    """An api 1.0 strategy whose prepare read the epoch fields of the TrainContext it got."""

    name = "old_style"

    def prepare(self, train, ctx):
        self.read = (ctx.epoch, ctx.train_size, ctx.n_epochs)
        return train


def test_an_api_1_0_prepare_reading_epoch_fields_still_runs_and_is_warned(data):
    old = OldStyle()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit(data, [old], epochs=1, batch_size=64)
    assert old.read == (0, 0, 1) and result.epochs_run == 1  # what api 1.0 handed prepare
    messages = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    assert any("PrepareContext.epoch is deprecated" in m for m in messages)
    assert any("PrepareContext.train_size is deprecated" in m and "len(train)" in m for m in messages)


def test_a_strategy_replacing_the_windows_after_another_prepared_on_them_is_one_line(data):
    # the second strategy's distilled-like set would leave the first's per-window state indexing
    # windows that are gone (an IndexError mid-training before): refused before any epoch
    with pytest.raises(TrainingError, match="strategy 'second' replaced the training windows after first"):
        fit(data, [Seen("first"), Seen("second", shrink=True)], epochs=1, batch_size=64)
    fit(data, [Seen("first", shrink=True), Seen("second")], epochs=1, batch_size=64)  # replacing first is fine
