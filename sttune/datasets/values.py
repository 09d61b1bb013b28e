"""Checks and conversions of loaded values: [T, N, C] shape, NaN policy, timing from timestamps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sttune.errors import DataError

_NS_PER_DAY = 86_400 * 10**9


def as_tnc(arr: np.ndarray, path: Path) -> np.ndarray:
    """[T, N] or [T, N, C] → [T, N, C]; DataError for other ranks or fewer than 2 nodes."""
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise DataError(f"{path}: array has shape {arr.shape} (rank {arr.ndim}), expected [T, N] or [T, N, C]",
                        "Store time on axis 0, nodes on axis 1 and optional channels on axis 2.")
    if arr.shape[1] < 2 or arr.shape[0] < 1 or arr.shape[2] < 1:
        raise DataError(f"{path}: shape {arr.shape} has fewer than 2 nodes (or no steps/channels)",
                        "A graph series needs at least 2 nodes on axis 1; check the array's orientation.")
    return arr


def handle_nan(values: np.ndarray, nan: str, path: Path) -> tuple[np.ndarray, tuple[str, ...], np.ndarray | None]:
    """float32 [T, N, C] with NaN/inf refused or masked to 0 (policy ``nan``), notes, and the
    [T, N, C] bool mask of the masked readings (None when there are none)."""
    if nan not in ("refuse", "mask"):
        raise DataError(f"{path}: nan must be 'refuse' or 'mask', got {nan!r}", "Set nan: refuse or nan: mask.")
    bad = np.isfinite(values)
    np.logical_not(bad, out=bad)  # one mask array, not two
    count = int(bad.sum())
    if count and nan == "refuse":
        where = ", ".join(f"(step {t}, node {n}, channel {c})" for t, n, c in np.argwhere(bad)[:3])
        raise DataError(f"{path}: {count} NaN or infinite values, first at {where}",
                        "Fix the data, or set `nan: mask` to treat them as missing readings (stored as 0).")
    with np.errstate(over="ignore"):  # an overflow is reported below, with its place
        values = values.astype(np.float32, copy=False)  # float32 first: no float64 copy of the series
    if count:
        values = np.where(bad, np.float32(0), values)
    huge = ~np.isfinite(values)  # finite in the file, infinite in float32: |x| > 3.4e38
    if huge.any():
        t, n, c = (int(k) for k in np.argwhere(huge)[0])
        raise DataError(f"{path}: {int(huge.sum())} values are too large for float32 (|x| > 3.4e38), first at "
                        f"(step {t}, node {n}, channel {c})", "Rescale the data; sttune trains in float32.")
    notes = (f"masked {count} NaN/infinite readings as missing (0)",) if count else ()
    return values, notes, (bad if count else None)


def timing_from_stamps(stamps: np.ndarray, spd: int, path: Path) -> tuple[int, int]:
    """(start step of day, start day of week 0=Monday) from [T] int64 ns regular timestamps."""
    step = _NS_PER_DAY // spd
    gaps = np.diff(stamps)
    if len(gaps) and (gaps[0] <= 0 or np.any(gaps != gaps[0])):
        row = int(np.argmax(gaps != gaps[0])) + 1 if np.any(gaps != gaps[0]) else 1
        raise DataError(f"{path}: timestamps are not evenly spaced (first change after row {row})",
                        "Resample the series to a regular interval first.")
    if len(gaps) and (gaps[0] % _NS_PER_DAY if spd == 1 else gaps[0] != step):
        raise DataError(f"{path}: timestamps are {gaps[0] / 60e9:g} minutes apart, but steps_per_day={spd} "
                        f"means {1440 / spd:g}", f"Set steps_per_day to {_NS_PER_DAY / gaps[0]:g}.")
    day, time_of_day = divmod(int(stamps[0]), _NS_PER_DAY)
    return (time_of_day // step if spd > 1 else 0), (day + 3) % 7  # 1970-01-01 was a Thursday


def timing_from_start(start: object, spd: int, path: Path) -> tuple[int, int]:
    """(start step of day, start day of week) of a first step given as a date and time
    (wall-clock time; a time zone offset, if given, is kept as local time)."""
    hint = "Give the first step's date and time, e.g. start: '2024-03-04 06:00'."
    if not isinstance(start, str):  # an unquoted 2024-03-04 06:00:00 reaches us as a YAML datetime
        raise DataError(f"{path}: start must be a date and time in quotes, got {start!r}",
                        "Quote it, e.g. start: '2024-03-04 06:00' (YAML turns an unquoted date into another type).")
    try:
        stamp = pd.Timestamp(start)
    except (ValueError, TypeError, OverflowError) as exc:
        raise DataError(f"{path}: start {start!r} is not a date and time ({exc})", hint) from exc
    if pd.isna(stamp):
        raise DataError(f"{path}: start {start!r} is not a date and time", hint)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_localize(None)  # the calendar features follow local time
    return timing_from_stamps(np.array([stamp.as_unit("ns").value], dtype=np.int64), spd, path)


def check_has_readings(values: np.ndarray, path: Path) -> None:
    """DataError when every reading is 0 (or was missing): nothing to learn, and every error would be 0."""
    if not values.any():
        raise DataError(f"{path}: every reading is 0 or missing, so there is nothing to learn and every error "
                        "would be 0", "Check the file (and its key or channels): a series needs non-zero readings.")
