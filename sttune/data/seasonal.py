"""Seasonal lags from a series' interval, and the forward-filled series they read.

A lag is a day, a week or a year (52 weeks) in steps, offered only where it is a whole number
of steps of at least one: 15-minute data gets 96, 672 and 34 944 steps, hourly data 24, 168 and
8736, daily data 1, 7 and 364, weekly data "last week" (1 step) and "same week last year" (52
steps), and no day.
The naive forecasts (:mod:`sttune.training.naive`) score them; ``protocol.residual: seasonal``
feeds the best one to the model (:func:`seasonal_channel`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from sttune.api import STSeries
from sttune.errors import DataError

DAY_MINUTES = 1440.0


@dataclass(frozen=True)
class SeasonalLag:
    """A seasonal naive forecast: the reading ``lag`` steps (``span``) before each target step."""

    name: str  # the naive forecast's name: same_time_yesterday, same_time_last_week, same_time_last_year
    lag: int  # steps
    span: str  # "a day", "a week", "a year (52 weeks)"


SEASONS = (("same_time_yesterday", DAY_MINUTES, "a day"), ("same_time_last_week", 7 * DAY_MINUTES, "a week"),
           ("same_time_last_year", 364 * DAY_MINUTES, "a year (52 weeks)"))


def seasonal_lags(step_minutes: float) -> list[SeasonalLag]:
    """The seasons that are a whole number (≥ 1) of steps of ``step_minutes`` minutes."""
    if not step_minutes or step_minutes <= 0:
        return []
    out = []
    for name, minutes, span in SEASONS:
        steps = minutes / step_minutes
        if steps >= 1 and abs(steps - round(steps)) < 1e-9:
            out.append(SeasonalLag(name, int(round(steps)), span))
    return out


def forward_filled(target: Tensor, fallback: float) -> Tensor:
    """[time, nodes]: at each step the last observed (non-zero) reading at or before it;
    ``fallback`` before a node's first observed reading."""
    steps = torch.arange(target.shape[0], device=target.device)[:, None].expand_as(target)
    last = torch.where(target != 0, steps, torch.full_like(steps, -1)).cummax(dim=0).values
    filled = target.gather(0, last.clamp_min(0))
    return torch.where(last >= 0, filled, torch.full_like(filled, fallback))


def seasonal_offsets(out_len: int, lag: int) -> Tensor:
    """[out_len] offsets from the last input step to the step each horizon step's seasonal naive
    forecast reads: ``h - lag·ceil(h / lag)`` for h = 1..out_len (a lag shorter than the horizon
    repeats its last season; no step after the last input step is read)."""
    h = torch.arange(1, out_len + 1)
    return h - lag * torch.div(h + lag - 1, lag, rounding_mode="floor")


def lag_mae(target: Tensor, filled: Tensor, lag: int, end: int) -> float:
    """Masked MAE of the seasonal naive forecast at ``lag`` over the target steps ``lag .. end - 1``
    (the steps with a full lag of history); inf when none is observed."""
    if end <= lag:
        return float("inf")
    y, f = target[lag:end], filled[: end - lag]
    mask = y != 0
    count = int(mask.sum())
    return float(((y - f).abs() * mask).sum()) / count if count else float("inf")


def seasonal_channel(target: np.ndarray, mean: float, std: float, out_len: int, lag: int) -> np.ndarray:
    """[time, nodes] float32: the forward-filled target ``lag - out_len`` steps back, z-scored with
    the target's ``mean`` and ``std`` (0, the mean, where there is no such step). At input step s
    it holds the seasonal naive forecast of step ``s + out_len``, so a window's last ``out_len``
    input steps carry the forecast of its ``out_len`` target steps (``lag >= out_len``: nothing
    after the window's last input step is read)."""
    filled = forward_filled(torch.from_numpy(np.ascontiguousarray(target)), mean).numpy()
    shift = lag - out_len
    out = np.zeros_like(filled, dtype=np.float32)
    if shift < filled.shape[0]:
        out[shift:] = (filled[: filled.shape[0] - shift] - mean) / std
    return out


def best_seasonal_lag(series: STSeries, target: np.ndarray, mean: float, out_len: int, end: int) -> tuple[int, str]:
    """``protocol.residual: seasonal``: the seasonal lag (at least the horizon) whose naive forecast
    is best on the training targets (steps before ``end``), and a note naming it."""
    lags = [s for s in seasonal_lags(series.step_minutes) if s.lag >= out_len]
    t = torch.from_numpy(np.ascontiguousarray(target[:end]))
    filled = forward_filled(t, mean)
    scored = sorted(((lag_mae(t, filled, s.lag, end), s.lag, s) for s in lags), key=lambda x: x[:2])
    if not scored or not math.isfinite(scored[0][0]):
        raise DataError(
            f"dataset '{series.name}': protocol.residual: seasonal needs a seasonal lag (a day, a week or 52 weeks, "
            f"a whole number of {series.step_minutes:g}-minute steps, at least the {out_len}-step horizon) within "
            f"the training steps", "use residual: none, a shorter out_len, or a longer series")
    mae, _, best = scored[0]
    return best.lag, (f"{series.name}: residual over {best.name} ({best.lag} steps back; "
                      f"training MAE {mae:.4g}): the models forecast what it misses")
