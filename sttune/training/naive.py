"""Naive forecasts on a dataset's validation and test windows: what a model must beat.

* ``last_value``: the last input step repeated over the horizon (a missing one forecasts 0);
* ``no_change``: the last *observed* reading at or before the last input step, repeated
  (kept only where it differs from ``last_value``, i.e. some last input step is missing);
* ``same_time_yesterday`` / ``same_time_last_week``: each target step's reading one day / one
  week earlier (the last observed reading at or before that step when it is missing); skipped
  when a window lacks that much history, or when the lag is shorter than the horizon (the
  forecast would read the future).

A forecast with no observed reading to read gives the training mean. Scores are masked MAE
in raw units from the same :class:`~sttune.training.metrics.MetricAccumulator` the trainer uses,
computed once per dataset and process (:func:`naive_cached`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from sttune.data.protocol import DataModule, SeriesWindows
from sttune.training.metrics import MetricAccumulator, mape_meaningful

CHUNK = 1024  # windows scored at once: bounds memory on large graphs


@dataclass(frozen=True)
class NaiveForecasts:
    """name → {"val_mae", "test_mae"}; notes say what was skipped or merged, and why."""

    scores: dict[str, dict[str, float]]
    notes: tuple[str, ...] = ()
    mape: bool = True  # whether MAPE means something on this dataset's targets (metrics.mape_meaningful)

    def best(self) -> tuple[str, float] | None:
        """(name, val MAE) of the naive forecast best on validation; None when there is none."""
        if not self.scores:
            return None
        name = min(self.scores, key=lambda n: self.scores[n]["val_mae"])
        return name, self.scores[name]["val_mae"]

    def to_dict(self) -> dict[str, Any]:
        return {"scores": self.scores, "notes": list(self.notes), "mape": self.mape}


def forward_filled(target: Tensor, fallback: float) -> Tensor:
    """[time, nodes]: at each step the last observed (non-zero) reading at or before it;
    ``fallback`` before a node's first observed reading."""
    steps = torch.arange(target.shape[0], device=target.device)[:, None].expand_as(target)
    last = torch.where(target != 0, steps, torch.full_like(steps, -1)).cummax(dim=0).values
    filled = target.gather(0, last.clamp_min(0))
    return torch.where(last >= 0, filled, torch.full_like(filled, fallback))


def _score(windows: SeriesWindows, forecast: Any) -> float:
    """Masked MAE of ``forecast(starts [b]) -> [b, out_len, nodes]`` over every window."""
    acc = MetricAccumulator(windows.out_len)
    offsets = torch.arange(windows.in_len, windows.in_len + windows.out_len)
    for starts in torch.split(windows.starts.cpu(), CHUNK):
        y = windows.target[starts[:, None] + offsets]
        acc.add(forecast(starts), y)
    return float(acc.result()["mae"])  # type: ignore[arg-type]


def naive_forecasts(data: DataModule) -> NaiveForecasts:
    """Score every naive forecast that applies on ``data``'s validation and test windows."""
    val, test = data.val.to("cpu"), data.test.to("cpu")
    target = val.target
    in_len, out_len = val.in_len, val.out_len
    filled = forward_filled(target, data.target_mean)
    horizon = torch.arange(in_len, in_len + out_len)

    def repeat(series: Tensor):  # the series' reading at the last input step, over the horizon
        return lambda s: series[s + in_len - 1][:, None, :].expand(len(s), out_len, series.shape[1])

    def lagged(lag: int):
        return lambda s: filled[s[:, None] + horizon - lag]

    candidates: dict[str, Any] = {"last_value": repeat(target), "no_change": repeat(filled)}
    notes = []
    origins = torch.cat([val.starts, test.starts]).cpu() + in_len - 1
    if bool((target[origins] != 0).all()):
        del candidates["no_change"]
        notes.append("no_change equals last_value here (no last input reading is missing): kept last_value")
    spd = data.steps_per_day
    first = int(min(int(val.starts.min()), int(test.starts.min()))) + in_len  # earliest target step
    for name, lag, span in (("same_time_yesterday", spd, "a day"), ("same_time_last_week", 7 * spd, "a week")):
        if spd < 1:
            notes.append(f"{name} skipped: the series' steps per day are unknown")
        elif lag < out_len:
            notes.append(f"{name} skipped: {span} is {lag} steps, shorter than the {out_len}-step horizon")
        elif first - lag < 0:
            notes.append(f"{name} skipped: the first validation window has less than {span} of history")
        else:
            candidates[name] = lagged(lag)
    scores = {name: {"val_mae": _score(val, f), "test_mae": _score(test, f)} for name, f in candidates.items()}
    return NaiveForecasts(scores, tuple(notes), mape_cached(data))


_CACHE: dict[str, NaiveForecasts] = {}
_MAPE: dict[str, bool] = {}


def mape_cached(data: DataModule) -> bool:
    """:func:`~sttune.training.metrics.mape_meaningful` of the dataset's targets, once per process."""
    if data.key not in _MAPE:
        _MAPE[data.key] = mape_meaningful(data.val.target)
    return _MAPE[data.key]


def naive_cached(data: DataModule) -> NaiveForecasts:
    """:func:`naive_forecasts` once per dataset (and protocol) per process."""
    if data.key not in _CACHE:
        _CACHE[data.key] = naive_forecasts(data)
    return _CACHE[data.key]


MAPE_NOTE = "MAPE omitted: more than 1% of the observed targets lie below 1% of their mean (zeros or near-zeros)"


def beats_naive(val_mae: float, naive: NaiveForecasts) -> str | None:
    """A warning when ``val_mae`` does not beat the best naive forecast on validation; else None."""
    best = naive.best()
    if best is None or val_mae < best[1]:
        return None
    return (f"the model's val MAE {val_mae:.4f} does not beat the naive forecast {best[0]} "
            f"({best[1]:.4f}): it has learnt nothing a persistence rule does not know")
