"""Scoring a model: masked metrics over a split's windows, and which epochs are validated.

Nothing here is timed: the trainer's clocks run only around the training steps and the hooks.
"""

from __future__ import annotations

import torch
from torch import nn

from sttune.data.protocol import DataModule, SeriesWindows
from sttune.training.metrics import MetricAccumulator


def validates(epoch: int, epochs: int, every: int) -> bool:
    """Whether ``epoch`` (0-based) is validated: every ``every``-th epoch, and always the last
    (so a run ends on a validated epoch whatever ``every`` is)."""
    return (epoch + 1) % every == 0 or epoch == epochs - 1


@torch.no_grad()
def evaluate(model: nn.Module, windows: SeriesWindows, data: DataModule, batch_size: int) -> dict:
    """Masked MAE/RMSE/MAPE over every real node of ``windows`` (raw units)."""
    was_training = model.training
    model.eval()
    acc = MetricAccumulator(windows.out_len)
    for index in torch.split(torch.arange(len(windows)), batch_size):
        batch = windows.gather(index)
        pred = model(batch.x, None, data.node_inputs, None)
        acc.add(pred * data.target_std + data.target_mean, batch.y)
    model.train(was_training)
    return acc.result()
