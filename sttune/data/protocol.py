"""The standard ST forecasting protocol: windows, chronological split, train-only z-score.

A raw :class:`~sttune.api.STSeries` becomes a :class:`DataModule`: normalised features with
time-of-day and day-of-week, stride-1 windows split 6:2:2 in time order, statistics taken
from the training steps only, and per-node descriptors for location encoders.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from sttune.api import REAL_ZERO, Batch, Graph, ModelSpec, STSeries, WindowSource
from sttune.config import Protocol
from sttune.errors import DataError

PROFILE_BINS = 24  # width of the per-node mean daily profile (location-encoder input)


class SeriesWindows(WindowSource):
    """Stride-1 windows over one series, gathered by vectorised indexing (no per-sample loop).

    features: [time, nodes, features] normalised; target: [time, nodes] raw units;
    starts: [windows] first input step of each window.
    """

    def __init__(
        self,
        features: Tensor,
        target: Tensor,
        starts: Tensor,
        in_len: int,
        out_len: int,
        node_inputs: Tensor | None = None,
    ) -> None:
        self.features, self.target, self.starts = features, target, starts
        self.in_len, self.out_len = in_len, out_len
        self.node_inputs = node_inputs
        self._in_offsets = torch.arange(in_len, device=features.device)
        self._out_offsets = torch.arange(in_len, in_len + out_len, device=features.device)

    def __len__(self) -> int:
        return int(self.starts.shape[0])

    @property
    def n_nodes(self) -> int:
        return int(self.features.shape[1])

    def gather(self, index: Tensor) -> Batch:
        index = index.to(self.starts.device)
        start = self.starts[index].unsqueeze(1)
        x = self.features[start + self._in_offsets]  # [B, in_len, N, F]
        y = self.target[start + self._out_offsets]  # [B, out_len, N]
        return Batch(x=x, y=y, index=index, node_inputs=self.node_inputs)

    def to(self, device: torch.device | str) -> SeriesWindows:
        move = (lambda t: None if t is None else t.to(device))  # noqa: E731
        return SeriesWindows(
            self.features.to(device), self.target.to(device), self.starts.to(device),
            self.in_len, self.out_len, move(self.node_inputs),
        )


@dataclass
class DataModule:
    """Everything training needs from one dataset under one protocol."""

    name: str
    key: str  # stable hash of the data and protocol, for caches
    train: SeriesWindows
    val: SeriesWindows
    test: SeriesWindows
    target_mean: float
    target_std: float
    spec: ModelSpec
    node_inputs: Tensor  # [nodes, node_input_dim]
    notes: tuple[str, ...] = field(default_factory=tuple)
    missing: str = "zero"  # the missing-value policy (protocol.missing) the targets were encoded with
    steps_per_day: int = 0  # of the series (naive seasonal forecasts); 0 = unknown

    def to(self, device: torch.device | str) -> DataModule:
        return DataModule(
            self.name, self.key, self.train.to(device), self.val.to(device), self.test.to(device),
            self.target_mean, self.target_std, self.spec, self.node_inputs.to(device), self.notes,
            self.missing, self.steps_per_day,
        )


def split_counts(n_windows: int, split: tuple[float, float, float]) -> tuple[int, int, int]:
    """Windows in train, val, test for a chronological split (BasicTS rounding)."""
    n_train = int(round(n_windows * split[0]))
    n_val = int(round(n_windows * split[1]))
    return n_train, n_val, n_windows - n_train - n_val


def time_features(series: STSeries) -> tuple[np.ndarray, np.ndarray]:
    """Time of day in [0, 1) and day of week 0..6 for every step: two [time] arrays."""
    step = series.start_step_of_day + np.arange(series.n_steps)
    tod = (step % series.steps_per_day) / series.steps_per_day
    dow = (series.start_day_of_week + step // series.steps_per_day) % 7
    return tod.astype(np.float32), dow.astype(np.float32)


def _check_series(series: STSeries, missing: str = "zero") -> None:
    """What every dataset plugin must hand over, checked once for plugins we did not write."""
    where = f"dataset '{series.name}'"
    if series.values.ndim != 3:
        raise DataError(f"{where}: values have shape {series.values.shape}, not [time, nodes, channels]",
                        "the dataset plugin must return a 3-D array")
    n = series.values.shape[1]
    if series.adjacency.shape != (n, n):
        raise DataError(f"{where}: adjacency is {series.adjacency.shape} for {n} nodes",
                        f"give an {n}x{n} adjacency")
    if int(series.steps_per_day) < 1:
        raise DataError(f"{where}: steps_per_day is {series.steps_per_day}", "set a positive steps_per_day")
    if np.iscomplexobj(series.values):
        raise DataError(f"{where}: values are complex ({series.values.dtype})", "the dataset plugin must return real numbers")
    if missing != "nan" and not np.isfinite(series.values).all():
        raise DataError(f"{where}: values hold NaN or infinite readings",
                        "the dataset plugin must store missing readings as 0, or set protocol.missing: nan")
    if series.missing is not None and series.missing.shape != series.values.shape:
        raise DataError(f"{where}: missing mask has shape {series.missing.shape}, values {series.values.shape}",
                        "the dataset plugin must give a mask shaped like its values")
    if len(series.node_ids) not in (0, n):
        raise DataError(f"{where}: {len(series.node_ids)} node ids for {n} nodes",
                        "the dataset plugin must give one id per node, or none")
    if not _has_a_reading(series):  # else every error is 0 and a search reports MAE 0.0
        raise DataError(f"{where}: every reading is 0 or missing (missing: {missing}), so there is nothing to "
                        "learn and every error would be 0", "check the data files and the dataset's params")


def _has_a_reading(series: STSeries, chunk: int = 4096) -> bool:
    """Whether some reading is observed and non-zero; by blocks of steps (no full-size masks)."""
    for t in range(0, series.n_steps, chunk):
        block = series.values[t : t + chunk]
        seen = np.isfinite(block) & (block != 0)
        if series.missing is not None:
            seen &= ~series.missing[t : t + chunk].astype(bool)
        if seen.any():
            return True
    return False


def encode_missing(series: STSeries, protocol: Protocol) -> tuple[np.ndarray, tuple[str, ...]]:
    """float32 [time, nodes, channels] values in the one encoding training reads, and a note.

    Missing readings become 0 under both policies: ``zero`` takes every 0 reading (and any NaN)
    as missing; ``nan`` only NaN/infinite readings and the loader's ``STSeries.missing``, and
    stores real 0 readings as :data:`~sttune.api.REAL_ZERO`, so ``!= 0`` is the observed mask.
    """
    values = series.values.astype(np.float32)
    lost = ~np.isfinite(values)
    if series.missing is not None:
        lost |= series.missing.astype(bool)
    tc = protocol.target_channel
    if protocol.missing == "nan":
        real_zero = (values == 0) & ~lost
        values = np.where(lost, np.float32(0), np.where(real_zero, np.float32(REAL_ZERO), values))
        n_zero = int(real_zero[..., tc].sum())
        why = f"NaN readings (missing: nan); {n_zero} readings of 0 count as real values"
    else:
        values = np.where(lost, np.float32(0), values)
        why = "readings of 0 (missing: zero)"
    target_missing = int((values[..., tc] == 0).sum())
    total = int(values[..., tc].size)
    note = f"{series.name}: {target_missing} of {total} target readings ({100 * target_missing / max(total, 1):.1f}%) are missing: {why}"
    return values.astype(np.float32, copy=False), (note,)


def _check(series: STSeries, protocol: Protocol) -> tuple[int, int, int]:
    if protocol.in_len < 1 or protocol.out_len < 1:
        raise DataError("in_len and out_len must be at least 1", "set protocol.in_len/out_len")
    if abs(sum(protocol.split) - 1.0) > 1e-6 or min(protocol.split) <= 0:
        raise DataError(
            f"split {list(protocol.split)} must be three positive fractions summing to 1",
            "use e.g. split: [0.6, 0.2, 0.2]",
        )
    n_channels = series.values.shape[2]
    if not 0 <= protocol.target_channel < n_channels:
        raise DataError(
            f"target_channel {protocol.target_channel} is out of range for {n_channels} channel(s)",
            f"pick a channel in 0..{n_channels - 1}",
        )
    n_windows = series.n_steps - protocol.in_len - protocol.out_len + 1
    counts = split_counts(max(n_windows, 0), protocol.split)
    if min(counts) < 1:
        raise DataError(
            f"dataset '{series.name}' has {series.n_steps} steps: too few for "
            f"{protocol.in_len}-in/{protocol.out_len}-out windows in a {list(protocol.split)} split",
            "shorten in_len/out_len or give a longer series",
        )
    return counts


def _zscore(values: np.ndarray, train_steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-channel mean/std over observed (non-zero) training readings; missing → 0 (the mean).

    values: [time, nodes, channels] → (normalised values, mean [channels], std [channels]).
    """
    observed = values != 0
    train, seen = values[:train_steps], observed[:train_steps]
    count = np.maximum(seen.sum(axis=(0, 1)), 1)
    mean = (train * seen).sum(axis=(0, 1)) / count
    var = (((train - mean) ** 2) * seen).sum(axis=(0, 1)) / count
    std = np.where(var > 0, np.sqrt(var), 1.0)
    normalised = np.where(observed, (values - mean) / std, 0.0)
    return normalised.astype(np.float32), mean, std


def node_descriptors(
    target_norm: np.ndarray, observed: np.ndarray, tod: np.ndarray, bins: int
) -> np.ndarray:
    """Per-node mean daily profile plus mean and std: [nodes, bins + 2].

    The paper's encoder input is the node's mean input window; under stride-1 windows that
    is nearly flat, so we keep the daily shape (binned) that the mean window averages away.
    target_norm, observed: [time, nodes] over training steps; tod: [time].
    """
    which = np.minimum((tod * bins).astype(int), bins - 1)
    profile = np.zeros((target_norm.shape[1], bins + 2), dtype=np.float32)
    for b in range(bins):  # bins ≤ 24: a loop over bins, not samples
        rows = which == b
        weight = observed[rows].sum(axis=0)
        profile[:, b] = (target_norm[rows] * observed[rows]).sum(axis=0) / np.maximum(weight, 1)
    count = np.maximum(observed.sum(axis=0), 1)
    mean = (target_norm * observed).sum(axis=0) / count
    profile[:, bins] = mean
    profile[:, bins + 1] = np.sqrt((((target_norm - mean) ** 2) * observed).sum(axis=0) / count)
    return profile


def data_key(series: STSeries, protocol: Protocol) -> str:
    """A short stable hash of the values, graph and protocol (cache identity)."""
    digest = hashlib.sha256()
    for array in (series.values, series.adjacency):
        digest.update(np.ascontiguousarray(array).tobytes())
    if series.missing is not None and protocol.missing == "nan":  # under zero its readings are 0 already
        digest.update(np.packbits(series.missing).tobytes())
    # the default policy leaves the key as it was before the policy existed (caches stay valid)
    ident = repr(protocol).replace(", missing='zero'", "")
    digest.update(f"({series.steps_per_day!r}, {series.start_step_of_day!r}, {ident})".encode())
    return f"{series.name}-{digest.hexdigest()[:12]}"


def build_data(series: STSeries, protocol: Protocol = Protocol()) -> DataModule:
    """Apply the protocol to a raw series (windows, split, scaling, time features)."""
    _check_series(series, protocol.missing)
    n_train, n_val, n_test = _check(series, protocol)
    in_len, out_len = protocol.in_len, protocol.out_len
    train_steps = n_train + in_len - 1  # steps seen as inputs by training windows
    values, missing_note = encode_missing(series, protocol)
    normalised, mean, std = _zscore(values, train_steps)
    tod, dow = time_features(series)
    n_steps, n_nodes = values.shape[:2]
    time_feats = np.broadcast_to(np.stack([tod, dow], -1)[:, None, :], (n_steps, n_nodes, 2))
    features = torch.from_numpy(np.concatenate([normalised, time_feats], axis=-1))
    target_raw = torch.from_numpy(values[..., protocol.target_channel].copy())
    tc = protocol.target_channel
    observed = values[:train_steps, :, tc] != 0
    bins = min(PROFILE_BINS, series.steps_per_day)
    descriptors = torch.from_numpy(
        node_descriptors(normalised[:train_steps, :, tc], observed, tod[:train_steps], bins)
    )
    starts = torch.arange(n_train + n_val + n_test)
    parts = torch.split(starts, [n_train, n_val, n_test])
    train, val, test = (SeriesWindows(features, target_raw, p, in_len, out_len, descriptors) for p in parts)
    spec = ModelSpec(
        n_nodes=n_nodes, in_len=in_len, out_len=out_len, n_channels=values.shape[2],
        steps_per_day=series.steps_per_day, graph=Graph.from_dense(series.adjacency),
        node_input_dim=int(descriptors.shape[1]),
    )
    return DataModule(
        series.name, data_key(series, protocol), train, val, test, float(mean[tc]), float(std[tc]),
        spec, descriptors, series.notes + missing_note, protocol.missing, int(series.steps_per_day),
    )
