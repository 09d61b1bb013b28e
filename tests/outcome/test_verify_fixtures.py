"""The verified speed-up, through the real trainer, of two fixture strategies whose cost is known.

The device is simulated: a clock that moves only when the model computes (one unit of time per
window-node of a batch) or a strategy burns time on purpose, scaled by a load that rises with
every step. The trainer's own loop, hooks and schedule probe run for real; only time is
injected, so every expected figure follows from the strategies' definitions:

- ``LateOverhead`` is idle in epoch 0, then adds 30% to every batch: the work of the baseline,
  1 / (1/E + (E-1)/E × 1.3) of its speed. A probe of epoch 0 alone would have called it 1.0x.
- ``HalfFromEpoch2`` visits half the windows from epoch 2: its speed-up is its work saving.
"""

from __future__ import annotations

import pytest
import torch

from helpers import TinyModel, fit, trial_record
from sttune.api import Strategy
from sttune.outcome.verify import verify_speedup, work_fraction
from sttune.recipe.settings import TrainConfig
from sttune.training.trainer import Trainer

EPOCHS = 6
UNIT = 1e-6  # simulated seconds per window-node


class SimDevice:
    """A clock that advances when the simulated device works, slower as the load rises."""

    def __init__(self, drift: float = 0.0) -> None:
        self.t, self.steps, self.drift, self.last = 0.0, 0, drift, 0.0

    def __call__(self) -> float:
        return self.t

    def spend(self, seconds: float) -> None:
        self.steps += 1
        self.last = seconds * (1 + self.drift) ** self.steps
        self.t += self.last


class SimModel(TinyModel):
    device: SimDevice

    def forward(self, x, nodes=None, node_inputs=None, graph=None):
        self.device.spend(UNIT * x.shape[0] * x.shape[2])
        return super().forward(x, nodes, node_inputs, graph)


class LateOverhead(Strategy):
    name = "late_overhead"

    def __init__(self, device: SimDevice) -> None:
        super().__init__()
        self.device = device

    def on_batch_end(self, per_sample_loss, batch, ctx) -> None:
        if ctx.epoch >= 1:
            self.device.t += 0.3 * self.device.last  # 30% of the batch it follows, at the same load


class HalfFromEpoch2(Strategy):
    name = "half_from_epoch_2"

    def select(self, ctx):
        return torch.arange(0, ctx.train_size, 2) if ctx.epoch >= 2 else None


def _model(device: SimDevice, data):
    def new():
        model = SimModel(data.spec)
        model.device = device
        return model
    return new


def _record(number, result, strategies, role="search"):
    record = trial_record(number, result.cost_seconds, result.val_mae, role=role,
                          strategy=strategies[0].name if strategies else "st_prune")
    return type(record)(record.number, record.state, role, 1.0, record.job, result, None, True)


def _verify(data, make_strategies, drift: float = 0.0, pairs: int = 18):
    """Train the baseline and the fixture on the simulated device, then verify the fixture."""
    device = SimDevice(drift)
    base_result = fit(data, [], model=_model(device, data), now=device, epochs=EPOCHS)
    chosen_result = fit(data, make_strategies(device), model=_model(device, data), now=device, epochs=EPOCHS)
    baseline = _record(0, base_result, [], role="baseline")
    chosen = _record(1, chosen_result, make_strategies(device))
    config = TrainConfig(epochs=EPOCHS, batch_size=32, device="cpu")

    def prober(job, batches_at):
        strategies = make_strategies(device) if job.strategies else []
        return Trainer(config, now=device).probe_schedule(_model(device, data), data, strategies, batches_at)

    return verify_speedup(chosen, baseline, prober, pairs), work_fraction(chosen, baseline)


def test_overhead_that_starts_after_epoch_0_cannot_verify_faster_than_its_work(data):
    verified, fraction = _verify(data, lambda device: [LateOverhead(device)])
    assert fraction == pytest.approx(1.0)
    expected = 1 / (1 / EPOCHS + (EPOCHS - 1) / EPOCHS * 1.3)
    assert verified.speedup == pytest.approx(expected, rel=0.02)
    assert not verified.reliably_faster and verified.high < 1.0
    assert verified.epochs[0] == 0 and verified.epochs[-1] == EPOCHS - 1


def test_halving_the_work_from_epoch_2_verifies_between_its_saving_and_its_ceiling(data):
    verified, fraction = _verify(data, lambda device: [HalfFromEpoch2()], drift=0.002)
    assert fraction == pytest.approx((2 + (EPOCHS - 2) / 2) / EPOCHS, rel=0.05)
    assert verified.reliably_faster and not verified.bounded
    assert 0.95 / fraction <= verified.speedup <= verified.ceiling


def test_a_probed_epoch_without_batches_moves_the_schedule_without_a_warning(data):
    # verification probes a few epochs; the others run no batch but their lr must still decay on time,
    # and torch's "scheduler before optimizer" warning must not reach the user's terminal
    import warnings

    device = SimDevice()
    config = TrainConfig(epochs=EPOCHS, batch_size=32, device="cpu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        steps = list(Trainer(config, now=device).probe_schedule(_model(device, data), data, [],
                                                                lambda epoch: 2 if epoch == 3 else 0))
    assert steps and not [w for w in caught if "lr_scheduler" in str(w.message)]
