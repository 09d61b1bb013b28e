"""Dataset plugins that read files: ``pems``, ``h5`` (METR-LA / PEMS-BAY) and ``arrays``.

Every loader returns an :class:`~sttune.api.STSeries` (values [T, N, C] float32 with missing
readings as 0, adjacency [N, N] float32) and turns every bad input into a
:class:`~sttune.errors.DataError` naming the file and the fix. Paths may be ``str`` or
``Path``; relative ones are resolved against the working directory.

NaN / infinite readings: ``nan="refuse"`` (default) refuses the file and says how many and
where; ``nan="mask"`` stores them as 0 (= missing), records a note, and hands their positions over
as ``STSeries.missing`` so that ``protocol.missing: nan`` still tells them from real zeros.

The helpers live by role in :mod:`sttune.datasets.readers` (file parsing),
:mod:`sttune.datasets.graphs` (adjacency readers, re-exported here) and
:mod:`sttune.datasets.values` (shape, NaN and timing checks); this module keeps the three
loaders and the checks of their parameters.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sttune.api import STSeries
from sttune.datasets.graphs import (
    dense_adjacency,
    distance_adjacency,
    edge_list_adjacency,
    identity,
    read_adj_pickle,
    reorder,
)
from sttune.datasets.readers import PathLike, existing, read_array_file, read_pandas_h5
from sttune.datasets.values import as_tnc, handle_nan, timing_from_stamps
from sttune.errors import DataError

__all__ = ["load_pems", "load_h5", "load_arrays", "distance_adjacency", "dense_adjacency",
           "edge_list_adjacency"]

_PEMS_CHANNELS = ("flow", "occupancy", "speed")


# --------------------------------------------------------------------------- loaders


def load_pems(
    path: PathLike,
    graph: PathLike | None = None,
    steps_per_day: int = 288,
    start_day_of_week: int = 0,
    channels: list[int] | None = None,
    nan: str = "refuse",
) -> STSeries:
    """A PEMS0X ``.npz`` (key ``data``, [T, N, C] or [T, N]) with its ``from,to,cost`` CSV.

    The adjacency is a Gaussian kernel of the road distances, ``exp(-(d / sigma)^2)`` with
    ``sigma`` the standard deviation of the listed distances, directed as listed, plus self
    loops of 1. Without ``graph`` the adjacency is the identity. ``channels`` keeps those
    channel indices (PEMS order: flow, occupancy, speed).
    """
    file = existing(path, "PEMS data")
    values = as_tnc(read_array_file(file)[0], file)
    names = _PEMS_CHANNELS if values.shape[2] in (1, 3) else _numbered(values.shape[2])
    if channels is not None:
        picked = _channel_indices(channels, values.shape[2], file)
        values, names = values[:, :, picked], tuple(names[i] for i in picked)
    values, notes, missing = handle_nan(values, nan, file)
    if graph is None:
        adj, more = identity(values.shape[1])
    else:
        adj, more = distance_adjacency(existing(graph, "PEMS distance"), values.shape[1])
    return _series(file, values, adj, _check_spd(steps_per_day), 0, _check_dow(start_day_of_week),
                   names, notes + more, missing)


def load_h5(
    path: PathLike,
    adjacency: PathLike,
    steps_per_day: int = 288,
    nan: str = "refuse",
    key: str | None = None,
) -> STSeries:
    """A METR-LA / PEMS-BAY ``.h5`` (pandas fixed format, read with h5py) and its ``adj_mx.pkl``.

    Columns (sensor ids) are reordered to the pickle's sensor order. ``adjacency`` may also
    be a dense ``.npy``/``.csv`` matrix (then the h5 column order is kept). The start time of
    day and day of week come from the first timestamp; the index must be regular and match
    ``steps_per_day``.
    """
    file, spd = existing(path, "h5 data"), _check_spd(steps_per_day)
    values, ids, stamps = read_pandas_h5(file, key)
    start_step, start_dow = timing_from_stamps(stamps, spd, file)
    adj_file = existing(adjacency, "adjacency")
    if adj_file.suffix == ".pkl":
        order, adj = read_adj_pickle(adj_file)
        values = values[:, reorder(ids, order, file, adj_file)]
        moved = (f"reordered columns to the sensor order of {adj_file.name}",) if ids != order else ()
    else:
        adj, moved = dense_adjacency(adj_file, values.shape[1]), ()
    tnc, notes, missing = handle_nan(as_tnc(values, file), nan, file)
    return _series(file, tnc, adj, spd, start_step, start_dow, ("speed",), moved + notes, missing)


def load_arrays(
    path: PathLike,
    adjacency: PathLike | None = None,
    edges: PathLike | None = None,
    interval_minutes: float | None = None,
    steps_per_day: int | None = None,
    start_day_of_week: int | None = None,
    nan: str = "refuse",
    csv_header: str | bool = "auto",
    edges_by_name: bool = False,
) -> STSeries:
    """A generic ``.npy`` / ``.npz`` / ``.csv`` series ([T, N] or [T, N, C]) and its graph.

    CSV: an optional header row of node names (``csv_header``: "auto", True or False; "auto"
    also takes an all-integer first row of sensor ids whose values dwarf the data as a
    header) and an optional first date column, which sets the interval, start time of day and
    day of week unless given. Graph: ``adjacency`` (dense [N, N] ``.npy``/``.csv``), or
    ``edges`` (CSV ``from,to[,weight]``, header optional; indices are 0-based positions of
    the data's node columns, or node names from the CSV header when ``edges_by_name``), or
    neither (identity). Intervals of a day or more (e.g. weekly data) give steps_per_day=1.
    """
    file = existing(path, "data")
    raw, node_names, stamps = read_array_file(file, csv_header)
    values, notes, missing = handle_nan(as_tnc(raw, file), nan, file)
    spd = _resolve_spd(interval_minutes, steps_per_day, stamps, file)
    start_step, dow = timing_from_stamps(stamps, spd, file) if stamps is not None else (0, 0)
    if start_day_of_week is not None:
        dow = _check_dow(start_day_of_week)
    n = values.shape[1]
    if adjacency is not None and edges is not None:
        raise DataError(f"{file}: both `adjacency` and `edges` were given", "Give only one of them.")
    if adjacency is not None:
        adj, more = dense_adjacency(existing(adjacency, "adjacency"), n), ()
    elif edges is not None:
        names = node_names if edges_by_name else None
        if edges_by_name and names is None:
            raise DataError(f"{file}: edges_by_name needs node names, but the data has no header row",
                            "Use a CSV with a header row of node names, or 0-based indices in the edge list.")
        adj, more = edge_list_adjacency(existing(edges, "edge list"), n, names)
    else:
        adj, more = identity(n)
    return _series(file, values, adj, spd, start_step, dow, _numbered(values.shape[2]), notes + more, missing)


# --------------------------------------------------------------------------- param checks


def _numbered(n: int) -> tuple[str, ...]:
    return ("value",) if n == 1 else tuple(f"channel{i}" for i in range(n))


def _channel_indices(channels: object, n: int, path: Path) -> list[int]:
    ok = isinstance(channels, list) and channels and all(isinstance(c, int) and 0 <= c < n for c in channels)
    if not ok:
        raise DataError(f"{path}: channels {channels!r} must be a non-empty list of indices in 0..{n - 1}",
                        "E.g. channels: [0] keeps the flow of a PEMS file.")
    return list(channels)  # type: ignore[arg-type]


def _check_spd(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DataError(f"steps_per_day must be a positive integer, got {value!r}",
                        "E.g. 288 for 5-minute data.")
    return value


def _check_dow(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 6:
        raise DataError(f"start_day_of_week must be 0 (Monday) .. 6 (Sunday), got {value!r}", "Fix the recipe.")
    return value


def _resolve_spd(interval: float | None, spd: int | None, stamps: np.ndarray | None, path: Path) -> int:
    """Steps per day from ``steps_per_day``, else ``interval_minutes``, else the date column."""
    if spd is not None:
        return _check_spd(spd)
    if interval is None and stamps is not None and len(stamps) > 1:
        interval = float(stamps[1] - stamps[0]) / 60e9
    if interval is None:
        raise DataError(f"{path}: the sampling interval is unknown", "Set interval_minutes (or steps_per_day).")
    ok = isinstance(interval, (int, float)) and not isinstance(interval, bool) and interval > 0
    if ok and interval >= 1440:
        return 1  # a day or longer per step (e.g. weekly counts): one step per day slot
    if not ok or 1440 % interval:
        raise DataError(f"{path}: interval_minutes={interval!r} does not divide a day",
                        "Use a positive number of minutes dividing 1440 (5, 15, 60) or >= 1440.")
    return int(1440 // interval)


def _series(path: Path, values: np.ndarray, adj: np.ndarray, spd: int, start_step: int, dow: int,
            channel_names: tuple[str, ...], notes: tuple[str, ...], missing: np.ndarray | None) -> STSeries:
    return STSeries(name=path.stem, values=values.astype(np.float32, copy=False), adjacency=adj,
                    steps_per_day=spd, start_step_of_day=int(start_step), start_day_of_week=int(dow),
                    channel_names=channel_names, notes=notes, missing=missing)
