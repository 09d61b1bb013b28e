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
    edge_ends,
    edge_list_adjacency,
    edges_to_adjacency,
    identity,
    read_adj_pickle,
    reorder,
)
from sttune.datasets.pygt import PygtFile, read_pygt_json
from sttune.datasets.readers import PathLike, existing, read_array_file, read_ids, read_pandas_h5
from sttune.datasets.values import as_tnc, check_has_readings, handle_nan, timing_from_stamps, timing_from_start
from sttune.errors import DataError

__all__ = ["load_pems", "load_h5", "load_arrays", "distance_adjacency", "dense_adjacency",
           "edge_list_adjacency"]

_PEMS_CHANNELS = ("flow", "occupancy", "speed")


# --------------------------------------------------------------------------- loaders


def load_pems(
    path: PathLike,
    graph: PathLike | None = None,
    steps_per_day: int = 288,
    start_day_of_week: int | None = None,
    channels: list[int] | None = None,
    nan: str = "refuse",
    start: str | None = None,
) -> STSeries:
    """A PEMS0X ``.npz`` (key ``data``, [T, N, C] or [T, N]) with its ``from,to,cost`` CSV.

    The adjacency is a Gaussian kernel of the road distances, ``exp(-(d / sigma)^2)`` with
    ``sigma`` the standard deviation of the listed distances, directed as listed, plus self
    loops of 1 (no threshold). Without ``graph`` the adjacency is the identity. ``channels``
    keeps those channel indices (PEMS order: flow, occupancy, speed). The series starts at
    ``start`` (a date and time), else at 00:00 of ``start_day_of_week`` (default Monday).
    Node ids are the PEMS files' indices "0".."N-1".
    """
    file = existing(path, "PEMS data")
    values = as_tnc(read_array_file(file)[0], file)
    names = _PEMS_CHANNELS if values.shape[2] in (1, 3) else _numbered(values.shape[2])
    if channels is not None:
        picked = _channel_indices(channels, values.shape[2], file)
        values, names = values[:, :, picked], tuple(names[i] for i in picked)
    values, notes, missing = handle_nan(values, nan, file)
    spd = _check_spd(steps_per_day)
    start_step, dow = _timing(file, spd, None, start, start_day_of_week)
    if graph is None:
        adj, more = identity(values.shape[1])
    else:
        adj, more = distance_adjacency(existing(graph, "PEMS distance"), values.shape[1])
    ids = tuple(str(i) for i in range(values.shape[1]))  # the distance CSV's 0-based indices
    return _series(file, values, adj, spd, start_step, dow, names, notes + more, missing, ids)


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
    ``steps_per_day``. Node ids are the sensor ids, in node order.
    """
    file, spd = existing(path, "h5 data"), _check_spd(steps_per_day)
    values, ids, stamps = read_pandas_h5(file, key)
    start_step, start_dow = timing_from_stamps(stamps, spd, file)
    adj_file = existing(adjacency, "adjacency")
    if adj_file.suffix == ".pkl":
        order, adj = read_adj_pickle(adj_file)
        values = values[:, reorder(ids, order, file, adj_file)]
        moved = (f"reordered columns to the sensor order of {adj_file.name}",) if ids != order else ()
        ids = order
    else:
        adj, moved = dense_adjacency(adj_file, values.shape[1]), ()
    tnc, notes, missing = handle_nan(as_tnc(values, file), nan, file)
    node_ids, more = _unique_ids(ids, file)
    return _series(file, tnc, adj, spd, start_step, start_dow, ("speed",), moved + notes + more, missing, node_ids)


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
    start: str | None = None,
    weight_column: str | None = None,
    weight_kind: str = "weight",
    kernel_threshold: float = 0.0,
    self_loops: bool = False,
    ids: PathLike | None = None,
) -> STSeries:
    """A generic ``.npy`` / ``.npz`` / ``.csv`` / PyG Temporal ``.json`` series and its graph.

    Series: [T, N] or [T, N, C]. CSV: an optional header row of node names (``csv_header``:
    "auto", True or False; "auto" also takes an all-integer first row of sensor ids whose
    values dwarf the data as a header) and an optional first date column, which sets the
    interval, start time of day and day of week unless given. ``start`` (a date and time)
    sets the first step's time of day and day of week when the file has no dates.

    Graph: ``adjacency`` (dense [N, N] ``.npy``/``.csv``), or ``edges`` (CSV
    ``from,to[,<weight_column>]``, header optional; ends are 0-based node positions, or node
    names when ``edges_by_name``), or a JSON file's own edges, or none (identity). The edge
    value is a weight or a distance (``weight_kind``; distances become Gaussian-kernel
    weights, dropped below ``kernel_threshold``); ``self_loops`` sets the diagonal to 1.

    Node ids come from the ids file (``ids``), else the CSV header or the JSON's node_ids.
    Intervals of a day or more (e.g. weekly data) give steps_per_day=1 and keep the interval
    (``STSeries.interval_minutes``): the naive seasonal forecasts take their lags from it.
    """
    file = existing(path, "data")
    pygt = read_pygt_json(file) if file.suffix.lower() == ".json" else None
    raw, names, stamps = (pygt.values, pygt.node_ids, None) if pygt else read_array_file(file, csv_header)
    values, notes, missing = handle_nan(as_tnc(raw, file), nan, file)
    n = values.shape[1]
    node_ids, id_notes = _unique_ids(names, file) if ids is None else (_ids_file(ids, names, n), ())
    spd, interval = _resolve_spd(interval_minutes, steps_per_day, stamps, file)
    start_step, dow = _timing(file, spd, stamps, start, start_day_of_week)
    if start is None and stamps is None and start_day_of_week is None:
        id_notes += ("the start time is unknown: the calendar features assume Monday 00:00 (set `start`)",)
    adj, more = _arrays_graph(file, n, adjacency, edges, pygt, node_ids if edges_by_name else None,
                              bool(edges_by_name), weight_column, weight_kind, kernel_threshold)
    if _check_bool("self_loops", self_loops, file):
        adj = adj.copy()
        np.fill_diagonal(adj, 1.0)
        more += ("self loops of weight 1 added",)
    return _series(file, values, adj, spd, start_step, dow, _numbered(values.shape[2]), notes + more + id_notes,
                   missing, node_ids, interval)


def _arrays_graph(
    file: Path, n: int, adjacency: PathLike | None, edges: PathLike | None, pygt: PygtFile | None,
    names: tuple[str, ...] | None, by_name: bool, weight_column: str | None, kind: str, threshold: object,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The adjacency of the ``arrays`` loader from whichever graph source was given."""
    if adjacency is not None and edges is not None:
        raise DataError(f"{file}: both `adjacency` and `edges` were given", "Give only one of them.")
    if by_name and not names:
        raise DataError(f"{file}: edges_by_name needs node names, but the data has no header row or ids file",
                        "Use a CSV with a header row of node names, give `ids`, or 0-based indices in the edge list.")
    cut = _check_threshold(threshold, file)
    if edges is not None:
        return edge_list_adjacency(existing(edges, "edge list"), n, list(names) if names else None,
                                   weight_column, kind, cut)
    if weight_column is not None or kind != "weight" or cut:
        raise DataError(f"{file}: weight_column, weight_kind and kernel_threshold apply to an edge list, "
                        "and no `edges` file was given", "Give `edges`, or drop those params.")
    if adjacency is not None:
        return dense_adjacency(existing(adjacency, "adjacency"), n), ()
    if pygt is not None and pygt.edges is not None:
        src, dst = edge_ends(pygt.edges[:, 0], pygt.edges[:, 1], n, file)
        adj, notes = edges_to_adjacency(src, dst, pygt.weights, n, file, "weight")
        return adj, (f"graph from the {len(src)} edges of {file.name}",) + notes
    return identity(n)


def _ids_file(ids: PathLike, names: list[str] | None, n: int) -> tuple[str, ...]:
    """Node ids from the ids file; a header of other names is a contradiction, not a choice."""
    file = existing(ids, "ids")
    listed = read_ids(file, n)
    if names is not None and list(names) != listed:
        raise DataError(f"{file}: the ids differ from the data's own node names (first: {listed[0]!r} vs "
                        f"{names[0]!r})", "Drop `ids` to use the data's names, or make the two agree.")
    return tuple(listed)


def _unique_ids(names: list[str] | None, file: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(node ids, notes): the names when they are distinct; repeated names cannot name nodes."""
    if names is None:
        return (), ()
    if len(set(names)) < len(names):
        return (), (f"node names in {file.name} repeat, so nodes are named by their 0-based index",)
    return tuple(str(n) for n in names), ()


def _timing(file: Path, spd: int, stamps: np.ndarray | None, start: str | None,
            start_day_of_week: int | None) -> tuple[int, int]:
    """(start step of day, day of week) from ``start``, else the file's dates, else Monday 00:00
    (``start_day_of_week`` overriding the day)."""
    if start is not None:
        if start_day_of_week is not None:
            raise DataError(f"{file}: both `start` and `start_day_of_week` were given",
                            "Give only `start`: its date sets the day of week.")
        if stamps is not None:
            raise DataError(f"{file}: `start` was given, but the file's date column already sets the start",
                            "Drop `start`.")
        return timing_from_start(start, spd, file)
    step, dow = timing_from_stamps(stamps, spd, file) if stamps is not None else (0, 0)
    if start_day_of_week is not None:
        dow = _check_dow(start_day_of_week)
    return step, dow


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


def _resolve_spd(interval: float | None, spd: int | None, stamps: np.ndarray | None, path: Path) -> tuple[int, float | None]:
    """(steps per day, the interval in minutes where known) from ``steps_per_day``, else
    ``interval_minutes``, else the date column."""
    if spd is not None:
        return _check_spd(spd), None
    if interval is None and stamps is not None and len(stamps) > 1:
        interval = float(stamps[1] - stamps[0]) / 60e9
    if interval is None:
        raise DataError(f"{path}: the sampling interval is unknown", "Set interval_minutes (or steps_per_day).")
    ok = isinstance(interval, (int, float)) and not isinstance(interval, bool) and interval > 0
    if ok and interval >= 1440:
        return 1, float(interval)  # a day or longer per step (e.g. weekly counts): one step per day slot
    if not ok or 1440 % interval:
        raise DataError(f"{path}: interval_minutes={interval!r} does not divide a day",
                        "Use a positive number of minutes dividing 1440 (5, 15, 60) or >= 1440.")
    return int(1440 // interval), float(interval)


def _check_bool(name: str, value: object, path: Path) -> bool:
    if not isinstance(value, bool):
        raise DataError(f"{path}: {name} must be true or false, got {value!r}", "Fix the recipe.")
    return value


def _check_threshold(value: object, path: Path) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1
    if not ok:
        raise DataError(f"{path}: kernel_threshold must be a number in [0, 1), got {value!r}",
                        "0 keeps every edge; DCRNN used 0.1.")
    return float(value)  # type: ignore[arg-type]


def _series(path: Path, values: np.ndarray, adj: np.ndarray, spd: int, start_step: int, dow: int,
            channel_names: tuple[str, ...], notes: tuple[str, ...], missing: np.ndarray | None,
            node_ids: tuple[str, ...], interval_minutes: float | None = None) -> STSeries:
    check_has_readings(values, path)
    return STSeries(name=path.stem, values=values.astype(np.float32, copy=False), adjacency=adj,
                    steps_per_day=spd, start_step_of_day=int(start_step), start_day_of_week=int(dow),
                    channel_names=channel_names, notes=notes, missing=missing, node_ids=node_ids,
                    interval_minutes=interval_minutes)
