"""Naive forecasts on the test windows: last value and same time yesterday (raw units)."""

from __future__ import annotations

import torch

from sttune.data.protocol import DataModule
from sttune.training.metrics import MetricAccumulator


def last_value_mae(data: DataModule) -> float:
    """Repeat the last observed input step over the whole horizon."""
    w = data.test
    y = w.gather(torch.arange(len(w))).y
    last = w.target[w.starts + w.in_len - 1]  # [windows, nodes]
    acc = MetricAccumulator(w.out_len)
    acc.add(last[:, None, :].expand_as(y), y)
    return acc.result()["mae"]


def same_time_yesterday_mae(data: DataModule, steps_per_day: int) -> float:
    """Each target step's value one day earlier (windows without a full day of history skipped)."""
    w = data.test
    y = w.gather(torch.arange(len(w))).y
    steps = w.starts[:, None] + w.in_len + torch.arange(w.out_len) - steps_per_day
    ok = (steps >= 0).all(dim=1)
    acc = MetricAccumulator(w.out_len)
    acc.add(w.target[steps[ok]], y[ok])
    return acc.result()["mae"]
