"""Naive forecasts on a dataset's validation and test windows: what a model must beat.

* ``zero``: 0 everywhere (on a differenced series, "no change": a model must beat it);
* ``train_mean``: the mean of the observed training targets;
* ``last_value``: the last input step repeated over the horizon (a missing one forecasts 0);
* ``no_change``: the last *observed* reading at or before the last input step, repeated
  (kept only where it differs from ``last_value``, i.e. some last input step is missing);
* ``same_time_yesterday`` / ``same_time_last_week`` / ``same_time_last_year``: each target
  step's reading a day / a week / 52 weeks earlier (the last observed reading at or before that
  step when it is missing), offered where that span is a whole number of steps of the series'
  interval (:func:`sttune.data.seasonal.seasonal_lags`: weekly data gets last week, 1 step, and
  the same week last year, 52 steps); a lag shorter than the horizon repeats its last season,
  so nothing after the last input step is read; skipped when the first validation window lacks
  that much history.

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
from sttune.data.seasonal import forward_filled, seasonal_lags, seasonal_offsets
from sttune.training.metrics import MetricAccumulator, mape_meaningful

__all__ = ["MAPE_NOTE", "NaiveForecasts", "beats_naive", "forward_filled", "mape_cached", "naive_cached", "naive_forecasts",
           "naive_shortfall", "shortfall_text"]

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
    n_nodes = target.shape[1]

    def constant(value: float):
        return lambda s: torch.full((len(s), out_len, n_nodes), float(value))

    def repeat(series: Tensor):  # the series' reading at the last input step, over the horizon
        return lambda s: series[s + in_len - 1][:, None, :].expand(len(s), out_len, series.shape[1])

    def lagged(lag: int):
        offsets = seasonal_offsets(out_len, lag)
        return lambda s: filled[(s + in_len - 1)[:, None] + offsets]

    candidates: dict[str, Any] = {"zero": constant(0.0), "train_mean": constant(data.target_mean),
                                  "last_value": repeat(target), "no_change": repeat(filled)}
    notes = []
    origins = torch.cat([val.starts, test.starts]).cpu() + in_len - 1
    if bool((target[origins] != 0).all()):
        del candidates["no_change"]
        notes.append("no_change equals last_value here (no last input reading is missing): kept last_value")
    first = int(min(int(val.starts.min()), int(test.starts.min()))) + in_len  # earliest target step
    if data.steps_per_day < 1 and not data.interval_minutes:
        notes.append("seasonal forecasts skipped: the series' interval is unknown")
    for season in seasonal_lags(data.step_minutes):
        if first - season.lag < 0:
            if season.name == "same_time_last_year" and data.step_minutes < 1440:
                continue  # a year of sub-daily steps is rarely there: no note on every such dataset
            notes.append(f"{season.name} skipped: the first validation window has less than {season.span} "
                         f"({season.lag} steps) of history")
        else:
            candidates[season.name] = lagged(season.lag)
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


NAIVE_MARGIN = 0.01  # a model must beat the best naive forecast on validation by this share, or it is warned


def naive_shortfall(val_mae: float, scores: dict[str, dict[str, float]]) -> tuple[str, float] | None:
    """(name, val MAE) of the best naive forecast on validation when ``val_mae`` is not at least
    :data:`NAIVE_MARGIN` below it (a model within 1% of "forecast 0" has learnt nothing the
    rule does not know); None when it is, or when there is no naive forecast."""
    if not scores:
        return None
    name = min(scores, key=lambda n: scores[n]["val_mae"])
    best = float(scores[name]["val_mae"])
    return None if val_mae < best * (1 - NAIVE_MARGIN) else (name, best)


def shortfall_text(subject: str, val_mae: float, name: str, best: float) -> str:
    """``<subject> val MAE 4.0921 beats the naive forecast zero (4.0944) by only 0.1%: ...``."""
    if val_mae >= best:
        return (f"{subject} val MAE {val_mae:.4f} does not beat the naive forecast {name} ({best:.4f}): "
                f"it has learnt nothing that rule does not know")
    return (f"{subject} val MAE {val_mae:.4f} beats the naive forecast {name} ({best:.4f}) by only "
            f"{1 - val_mae / best:.1%}, less than {NAIVE_MARGIN:.0%}: it has learnt little beyond that rule")


def beats_naive(val_mae: float, naive: NaiveForecasts) -> str | None:
    """A warning when ``val_mae`` does not beat the best naive forecast on validation by
    :data:`NAIVE_MARGIN`; else None."""
    found = naive_shortfall(val_mae, naive.scores)
    return None if found is None else shortfall_text("the model's", val_mae, *found)
