"""The standard ST forecasting protocol: windows, chronological split, train-only z-score.

A raw :class:`~sttune.api.STSeries` becomes a :class:`DataModule`: normalised features with
time-of-day and day-of-week, stride-1 windows split 6:2:2 in time order, statistics taken
from the training steps only, and per-node descriptors for location encoders.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from sttune.api import REAL_ZERO, Batch, Graph, ModelSpec, STSeries, WindowSource
from sttune.data.seasonal import best_seasonal_lag, seasonal_channel
from sttune.errors import DataError
from sttune.recipe.settings import Protocol

PROFILE_BINS = 24  # width of the per-node mean daily profile (location-encoder input)


class SeriesWindows(WindowSource):
    """Stride-1 windows over one series, gathered by vectorised indexing (no per-sample loop).

    features: [time, nodes, channels] normalised; calendar: [time, 2] time of day and day of
    week, kept once per step and joined to every node in :meth:`gather` (repeating it per node
    would take 8 of every 12 feature bytes); target: [time, nodes] raw units; starts: [windows]
    first input step of each window. ``batch_device``: where :meth:`gather` delivers batches when
    the series stays in (pinned) host memory, larger than the device (see :func:`placement`);
    None = where the series is.
    """

    def __init__(
        self,
        features: Tensor,
        target: Tensor,
        starts: Tensor,
        in_len: int,
        out_len: int,
        node_inputs: Tensor | None = None,
        calendar: Tensor | None = None,
        batch_device: torch.device | None = None,
    ) -> None:
        self.features, self.target, self.starts = features, target, starts
        self.calendar = calendar if calendar is not None else features.new_zeros((features.shape[0], 0))
        self.in_len, self.out_len = in_len, out_len
        self.node_inputs = node_inputs
        self.batch_device = batch_device
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
        steps = start + self._in_offsets
        series = self.features[steps]  # [B, in_len, N, C]
        calendar = self.calendar[steps]  # [B, in_len, 2]
        shape = (*series.shape[:3], calendar.shape[-1])
        x = torch.cat([series, calendar.unsqueeze(2).expand(shape)], dim=-1)  # [B, in_len, N, C + 2]
        y = self.target[start + self._out_offsets]  # [B, out_len, N]
        if self.batch_device is not None:  # host-resident series: pinned copies, overlapped with compute
            x, y = _to_device(x, self.batch_device), _to_device(y, self.batch_device)
            index = index.to(self.batch_device)
        return Batch(x=x, y=y, index=index, node_inputs=self.node_inputs)

    def to(
        self, device: torch.device | str, batch_device: torch.device | None = None,
        memo: dict[int, Tensor] | None = None,
    ) -> SeriesWindows:
        """The windows with the series on ``device``; with ``batch_device`` the series stays
        there (host memory) and batches and node inputs go to ``batch_device``. ``memo`` maps
        tensors already moved (by id), so windows sharing one series share one copy of it."""
        memo = {} if memo is None else memo

        def move(t: Tensor, where: torch.device | str) -> Tensor:
            if id(t) not in memo:
                memo[id(t)] = t.to(where)
            return memo[id(t)]

        inputs = None if self.node_inputs is None else move(self.node_inputs, batch_device or device)
        return SeriesWindows(
            move(self.features, device), move(self.target, device), self.starts.to(device),
            self.in_len, self.out_len, inputs, move(self.calendar, device), batch_device,
        )

    def series_bytes(self) -> int:
        """Bytes of the series arrays (features, calendar, target) the windows index."""
        return sum(t.numel() * t.element_size() for t in (self.features, self.calendar, self.target))


def _to_device(tensor: Tensor, device: torch.device) -> Tensor:
    """A gathered host batch on ``device``: pinned, then copied without blocking the host."""
    if device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


def placement(data_bytes: int, free_device_bytes: int, headroom: float = 0.5) -> str:
    """Where a series lives on an accelerator: ``"device"`` when it takes at most ``headroom`` of
    the free device memory (the rest is the model's, activations' and strategies'), else
    ``"host"`` (pinned host memory, each batch copied to the device without blocking)."""
    return "device" if data_bytes <= headroom * free_device_bytes else "host"


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
    interval_minutes: float = 0.0  # minutes per step when the series gave it (STSeries.interval_minutes); 0 = from steps_per_day
    seasonal_lag: int = 0  # protocol.residual: seasonal: the lag of the seasonal channel (spec.seasonal_channel); 0 = none

    @property
    def step_minutes(self) -> float:
        """Minutes per step (0 when unknown): the seasonal lags of the naive forecasts."""
        if self.interval_minutes:
            return float(self.interval_minutes)
        return 1440.0 / self.steps_per_day if self.steps_per_day >= 1 else 0.0

    def with_node_inputs(self, node_inputs: Tensor) -> DataModule:
        """The same data with other real-node descriptors (the same shape: models are built for
        its width), in ``node_inputs`` and in every split's batches; nothing is copied."""
        if tuple(node_inputs.shape) != tuple(self.node_inputs.shape):
            raise ValueError(f"node descriptors must keep the shape {tuple(self.node_inputs.shape)}, "
                             f"got {tuple(node_inputs.shape)}")
        node_inputs = node_inputs.to(self.node_inputs.device, self.node_inputs.dtype)
        splits = []
        for windows in (self.train, self.val, self.test):
            w = copy.copy(windows)
            w.node_inputs = node_inputs
            splits.append(w)
        return dataclasses.replace(self, train=splits[0], val=splits[1], test=splits[2], node_inputs=node_inputs)

    def to(self, device: torch.device | str, batch_device: torch.device | None = None) -> DataModule:
        """On ``device`` (one copy of the series shared by train, val and test); see
        :meth:`SeriesWindows.to` for ``batch_device``."""
        memo: dict[int, Tensor] = {}
        train, val, test = (w.to(device, batch_device, memo) for w in (self.train, self.val, self.test))
        inputs = self.node_inputs.to(batch_device or device)
        return DataModule(
            self.name, self.key, train, val, test, self.target_mean, self.target_std, self.spec,
            memo.get(id(self.node_inputs), inputs), self.notes, self.missing, self.steps_per_day,
            self.interval_minutes, self.seasonal_lag,
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


CHUNK_VALUES = 1 << 20  # values per chunk of the passes that compute the arrays: bounds their temporaries


def _chunks(n_steps: int, per_step: int, array: np.ndarray | None = None) -> list[slice]:
    """Time slices of about CHUNK_VALUES values each; one slice for an ``array`` whose time axis
    is not the outermost in memory (a CSV read by pandas, a transposed file): its reductions sum
    in the order of its memory layout, and slicing it along time would change their last bits
    (the model input stays bit-identical to the one-pass computation this replaced)."""
    if array is not None and array.ndim and array.strides[0] < max(array.strides):
        return [slice(0, n_steps)]
    step = max(1, CHUNK_VALUES // max(per_step, 1))
    return [slice(s, min(s + step, n_steps)) for s in range(0, n_steps, step)]


def encode_missing(series: STSeries, protocol: Protocol) -> tuple[np.ndarray, tuple[str, ...]]:
    """float32 [time, nodes, channels] values in the one encoding training reads, and a note.

    Missing readings become 0 under both policies: ``zero`` takes every 0 reading (and any NaN)
    as missing; ``nan`` only NaN/infinite readings and the loader's ``STSeries.missing``, and
    stores real 0 readings as :data:`~sttune.api.REAL_ZERO`, so ``!= 0`` is the observed mask.

    Chunked over time, in float32; the series' own array is returned (no copy) when nothing
    changes, else a copy made at the first chunk that changes (``series.values`` is not written).
    """
    values = series.values.astype(np.float32, copy=False)
    owned = values is not series.values
    tc, n_zero, target_missing = protocol.target_channel, 0, 0
    for rows in _chunks(values.shape[0], int(np.prod(values.shape[1:]))):
        chunk = values[rows]
        lost = ~np.isfinite(chunk)
        if series.missing is not None:
            lost |= series.missing[rows].astype(bool)
        changed = lost & (chunk != 0)  # a lost reading of 0 is 0 already
        if protocol.missing == "nan":
            real_zero = (chunk == 0) & ~lost
            n_zero += int(real_zero[..., tc].sum())
            changed |= real_zero
        if changed.any():
            if not owned:
                values, owned = values.copy(order="K"), True  # the series' layout, as np.where kept it
                chunk = values[rows]
            chunk[lost] = np.float32(0)
            if protocol.missing == "nan":
                chunk[real_zero] = np.float32(REAL_ZERO)
        target_missing += int(np.count_nonzero(chunk[..., tc] == 0))
    if protocol.missing == "nan":
        why = f"NaN readings (missing: nan); {n_zero} readings of 0 count as real values"
    else:
        why = "readings of 0 (missing: zero)"
    total = int(values[..., tc].size)
    note = f"{series.name}: {target_missing} of {total} target readings ({100 * target_missing / max(total, 1):.1f}%) are missing: {why}"
    return values, (note,)


def _check(series: STSeries, protocol: Protocol) -> tuple[int, int, int]:
    protocol.validate(error=DataError)  # the recipe's checks (a Protocol built in code skipped them)
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

    values: [time, nodes, channels] float32 → (normalised float32 values, mean [channels],
    std [channels], both float64). Missing readings are 0 already, so the sum over the training
    steps needs no mask; the squared deviations and the normalised values are computed chunk by
    chunk in float64 (as one pass did) and stored in float32, so no float64 copy of the series
    exists at any time.
    """
    train = values[:train_steps]
    per_step = int(np.prod(values.shape[1:]))
    count = np.zeros(values.shape[2], dtype=np.int64)
    for rows in _chunks(train_steps, per_step):
        count += np.count_nonzero(train[rows], axis=(0, 1))
    count = np.maximum(count, 1)
    # a float32 sum; missing readings add 0, so in C order it needs no masked copy
    total = train.sum(axis=(0, 1)) if values.flags.c_contiguous else (train * (train != 0)).sum(axis=(0, 1))
    mean = total / count
    var = np.zeros(values.shape[2], dtype=np.float64)
    for rows in _chunks(train_steps, per_step, values):
        chunk = train[rows]
        var += (((chunk - mean) ** 2) * (chunk != 0)).sum(axis=(0, 1))
    var /= count
    std = np.where(var > 0, np.sqrt(var), 1.0)
    normalised = np.empty_like(values, dtype=np.float32)  # the series' memory layout (see _chunks)
    for rows in _chunks(values.shape[0], per_step):
        chunk = values[rows]
        normalised[rows] = np.where(chunk != 0, (chunk - mean) / std, 0.0)
    return normalised, mean, std


def _running_sum(total: np.ndarray | None, part: np.ndarray) -> np.ndarray:
    """``total`` plus the rows of ``part`` added one after another, in ``part``'s dtype: the
    order of one ``sum(axis=0)`` over all rows, so a chunked sum equals the unchunked one."""
    if total is None:
        return part.sum(axis=0)
    return np.concatenate([total[None], part]).sum(axis=0)


def _seen(observed: np.ndarray) -> np.ndarray:
    return observed if observed.dtype == np.bool_ else observed != 0


def node_descriptors(
    target_norm: np.ndarray, observed: np.ndarray, tod: np.ndarray, bins: int
) -> np.ndarray:
    """Per-node mean daily profile plus mean and std: [nodes, bins + 2].

    The paper's encoder input is the node's mean input window; under stride-1 windows that
    is nearly flat, so we keep the daily shape (binned) that the mean window averages away.
    target_norm: [time, nodes] over training steps; observed: the same shape, bool, or the raw
    values (observed where != 0: no mask array is made); tod: [time]. Chunked over time.
    """
    which = np.minimum((tod * bins).astype(int), bins - 1)
    n_steps, n_nodes = target_norm.shape
    sums: list[np.ndarray | None] = [None] * bins
    weight = np.zeros((bins, n_nodes), dtype=np.int64)
    total: np.ndarray | None = None
    count = np.zeros(n_nodes, dtype=np.int64)
    slices = _chunks(n_steps, n_nodes, target_norm)
    for rows in slices:
        part, seen, where = target_norm[rows], _seen(observed[rows]), which[rows]
        masked = part * seen
        for b in range(bins):  # bins ≤ 24: a loop over bins, not samples
            pick = where == b
            if pick.any():
                sums[b] = _running_sum(sums[b], masked[pick])
                weight[b] += seen[pick].sum(axis=0)
        total = _running_sum(total, masked)
        count += seen.sum(axis=0)
    profile = np.zeros((n_nodes, bins + 2), dtype=np.float32)
    for b in range(bins):
        if sums[b] is not None:
            profile[:, b] = sums[b] / np.maximum(weight[b], 1)
    count = np.maximum(count, 1)
    mean = (total if total is not None else np.zeros(n_nodes, np.float32)) / count
    profile[:, bins] = mean
    spread: np.ndarray | None = None
    for rows in slices:
        spread = _running_sum(spread, ((target_norm[rows] - mean) ** 2) * _seen(observed[rows]))
    profile[:, bins + 1] = np.sqrt((spread if spread is not None else 0.0) / count)
    return profile


def data_key(series: STSeries, protocol: Protocol) -> str:
    """A short stable hash of the values, graph and protocol (cache identity).

    hashlib reads C-contiguous arrays through the buffer protocol: the bytes hashed are those
    ``tobytes()`` gave (the key is unchanged), without a copy of the series."""
    digest = hashlib.sha256()
    for array in (series.values, series.adjacency):
        digest.update(np.ascontiguousarray(array))  # a copy only for a non-contiguous array
    if series.missing is not None and protocol.missing == "nan":  # under zero its readings are 0 already
        digest.update(np.packbits(series.missing))
    # the default policy leaves the key as it was before the policy existed (caches stay valid)
    ident = repr(protocol).replace(", missing='zero'", "").replace(", residual='none'", "")
    # an interval the steps per day already say (every series before the interval existed) adds nothing
    interval = "" if series.interval_minutes in (None, 1440 / max(series.steps_per_day, 1)) else f", {series.interval_minutes!r}"
    digest.update(f"({series.steps_per_day!r}, {series.start_step_of_day!r}, {ident}{interval})".encode())
    return f"{series.name}-{digest.hexdigest()[:12]}"


@dataclass
class DataArrays:
    """The arrays a protocol makes of a series (what the disk cache holds)."""

    features: np.ndarray  # [time, nodes, channels] float32, normalised
    calendar: np.ndarray  # [time, 2] float32: time of day, day of week
    target: np.ndarray  # [time, nodes] float32, raw units, missing = 0
    descriptors: np.ndarray  # [nodes, bins + 2] float32
    mean: float
    std: float
    notes: tuple[str, ...]
    seasonal_lag: int = 0  # protocol.residual: seasonal: the lag of the last feature channel; 0 = none


# bump when what compute_arrays() computes or how an entry is stored changes: old entries are
# ignored. 2: meta.json carries the source's key, the arrays' shapes, a SHA-256 of every array
# file and one of itself, checked on every load
ARRAYS_VERSION = 2
ARRAYS_COUNTS = {"computed": 0, "loaded": 0, "damaged": 0}  # arrays computed / read from / refused in the disk cache
_ARRAYS = ("features", "calendar", "target", "descriptors")


def compute_arrays(series: STSeries, protocol: Protocol, train_steps: int) -> DataArrays:
    """Missing values, z-score, calendar, target and node descriptors, in float32 and chunks.

    The peak is the series, the normalised features and the target (about 12 bytes per value
    of one channel) plus chunk-sized temporaries; nothing of float64 the size of the series."""
    values, missing_note = encode_missing(series, protocol)
    normalised, mean, std = _zscore(values, train_steps)
    tod, dow = time_features(series)
    tc = protocol.target_channel
    owned_single = values is not series.values and values.shape[2] == 1
    target = values[..., tc] if owned_single else np.ascontiguousarray(values[..., tc]).copy()
    bins = min(PROFILE_BINS, series.steps_per_day)
    descriptors = node_descriptors(normalised[:train_steps, :, tc], values[:train_steps, :, tc], tod[:train_steps], bins)
    lag, notes = 0, missing_note
    if protocol.residual == "seasonal":
        lag, note = best_seasonal_lag(series, target, float(mean[tc]), protocol.out_len, train_steps + protocol.out_len)
        channel = seasonal_channel(target, float(mean[tc]), float(std[tc]), protocol.out_len, lag)
        normalised, notes = np.concatenate([normalised, channel[:, :, None]], axis=2), notes + (note,)
    ARRAYS_COUNTS["computed"] += 1
    return DataArrays(normalised, np.stack([tod, dow], -1), target, descriptors, float(mean[tc]), float(std[tc]),
                      notes, lag)


class DamagedEntry(Exception):
    """A cache entry that does not match its checksums or its source (its reason in words)."""


def _cache_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / "prepared" / f"v{ARRAYS_VERSION}" / key  # "prepared": the folder's name since v1


def _meta_digest(meta: dict) -> str:
    body = {k: v for k, v in meta.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _file_digest(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def load_arrays(cache_dir: Path, key: str) -> DataArrays | None:
    """The cached arrays of ``key``, its arrays memory-mapped (copy-on-write: the pages
    are the file's, shared by every process that maps it); None when not cached.

    The entry is checked before it is used: meta.json's own checksum (the normalisation lives
    there), the source's key, each array file's SHA-256 and shape. A mismatch raises
    :class:`DamagedEntry`: :func:`build_data` prepares the arrays again and replaces it."""
    folder = _cache_path(cache_dir, key)
    try:
        text = (folder / "meta.json").read_text()
    except (OSError, ValueError):
        return None  # not cached (or unreadable: prepared again, as if absent)
    try:
        meta = json.loads(text)
        if not isinstance(meta, dict) or meta.get("checksum") != _meta_digest(meta):
            raise DamagedEntry("meta.json does not match its checksum")
        if meta.get("source") != key:
            raise DamagedEntry(f"it was prepared from another source ({str(meta.get('source'))[:40]})")
        arrays = {}
        for name in _ARRAYS:
            file = folder / f"{name}.npy"
            if _file_digest(file) != meta["checksums"][f"{name}.npy"]:
                raise DamagedEntry(f"{name}.npy does not match its checksum")
            arrays[name] = np.load(file, mmap_mode="c")
            if list(arrays[name].shape) != meta["shapes"][name]:
                raise DamagedEntry(f"{name}.npy has shape {arrays[name].shape}")
        loaded = DataArrays(**arrays, mean=float(meta["mean"]), std=float(meta["std"]), notes=tuple(meta["notes"]),
                            seasonal_lag=int(meta.get("seasonal_lag", 0)))
    except DamagedEntry:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DamagedEntry(f"it cannot be read ({type(exc).__name__})") from None
    ARRAYS_COUNTS["loaded"] += 1
    return loaded


def save_arrays(cache_dir: Path, key: str, arrays: DataArrays, replace: bool = False) -> None:
    """Write the arrays under the cache; written to a temporary folder and renamed into
    place, so a concurrent reader sees all of it or nothing; ``replace``: a damaged entry there
    is moved aside and removed. A failure to write is not an error (the cache is a shortcut)."""
    folder = _cache_path(cache_dir, key)
    if folder.exists() and not replace:
        return
    tmp = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key[:40]}-", dir=folder.parent))
        meta: dict = {"version": ARRAYS_VERSION, "source": key, "mean": arrays.mean, "std": arrays.std,
                      "notes": list(arrays.notes), "seasonal_lag": arrays.seasonal_lag, "shapes": {}, "checksums": {}}
        for name in _ARRAYS:
            np.save(tmp / f"{name}.npy", getattr(arrays, name))
            meta["shapes"][name] = list(getattr(arrays, name).shape)
            meta["checksums"][f"{name}.npy"] = _file_digest(tmp / f"{name}.npy")
        meta["checksum"] = _meta_digest(meta)
        (tmp / "meta.json").write_text(json.dumps(meta))
        if replace and folder.exists():
            aside = Path(tempfile.mkdtemp(prefix=f".{key[:40]}-damaged-", dir=folder.parent))
            os.replace(folder, aside / "entry")
            shutil.rmtree(aside, ignore_errors=True)
        try:
            os.replace(tmp, folder)
            tmp = None
        except OSError:  # another process wrote it first
            pass
    except OSError:
        pass
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def build_data(series: STSeries, protocol: Protocol = Protocol(), cache_dir: Path | None = None) -> DataModule:
    """Apply the protocol to a raw series (windows, split, scaling, time features).

    With ``cache_dir`` the computed arrays are read from (memory-mapped) or written to
    ``<cache_dir>/prepared/v<N>/<data_key>/``, so other processes and later runs skip
    computing them."""
    _check_series(series, protocol.missing)
    n_train, n_val, n_test = _check(series, protocol)
    in_len, out_len = protocol.in_len, protocol.out_len
    train_steps = n_train + in_len - 1  # steps seen as inputs by training windows
    key = data_key(series, protocol)
    arrays, damaged = None, False
    if cache_dir is not None:
        try:
            arrays = load_arrays(cache_dir, key)
        except DamagedEntry as exc:  # never used: prepared again, and the entry replaced
            ARRAYS_COUNTS["damaged"] += 1
            damaged = True
            sys.stderr.write(f"note: the prepared-data cache entry {_cache_path(cache_dir, key)} is damaged or was "
                             f"changed ({exc}): not used; the arrays are prepared again from the data\n")
    if arrays is None:
        arrays = compute_arrays(series, protocol, train_steps)
        if cache_dir is not None:
            save_arrays(cache_dir, key, arrays, replace=damaged)
    features, calendar = torch.from_numpy(arrays.features), torch.from_numpy(arrays.calendar)
    target, descriptors = torch.from_numpy(arrays.target), torch.from_numpy(arrays.descriptors)
    starts = torch.arange(n_train + n_val + n_test)
    parts = torch.split(starts, [n_train, n_val, n_test])
    train, val, test = (SeriesWindows(features, target, p, in_len, out_len, descriptors, calendar) for p in parts)
    n_channels = int(features.shape[2])  # the series' channels, and the seasonal one under residual: seasonal
    spec = ModelSpec(
        n_nodes=series.values.shape[1], in_len=in_len, out_len=out_len, n_channels=n_channels,
        steps_per_day=series.steps_per_day, graph=Graph.from_dense(series.adjacency),
        node_input_dim=int(descriptors.shape[1]),
        seasonal_channel=n_channels - 1 if arrays.seasonal_lag else None,
    )
    return DataModule(
        series.name, key, train, val, test, arrays.mean, arrays.std, spec, descriptors,
        series.notes + arrays.notes, protocol.missing, int(series.steps_per_day),
        float(series.interval_minutes or 0.0), int(arrays.seasonal_lag),
    )
