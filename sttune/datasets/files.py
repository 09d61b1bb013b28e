"""Dataset plugins that read files: ``pems``, ``h5`` (METR-LA / PEMS-BAY) and ``arrays``.

Every loader returns an :class:`~sttune.api.STSeries` (values [T, N, C] float32 with missing
readings as 0, adjacency [N, N] float32) and turns every bad input into a
:class:`~sttune.errors.DataError` naming the file and the fix. Paths may be ``str`` or
``Path``; relative ones are resolved against the working directory.

NaN / infinite readings: ``nan="refuse"`` (default) refuses the file and says how many and
where; ``nan="mask"`` stores them as 0 (= missing) and records a note.
"""

from __future__ import annotations

import pickle
import warnings
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from sttune.api import STSeries
from sttune.errors import DataError

_PEMS_CHANNELS = ("flow", "occupancy", "speed")
_NA_CELLS = {"", "nan", "NaN", "NA", "N/A", "null", "NULL"}
_NS_PER_DAY = 86_400 * 10**9

PathLike = str | Path


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
    file = _existing(path, "PEMS data")
    values = _as_tnc(_read_array_file(file)[0], file)
    names = _PEMS_CHANNELS if values.shape[2] in (1, 3) else _numbered(values.shape[2])
    if channels is not None:
        picked = _channel_indices(channels, values.shape[2], file)
        values, names = values[:, :, picked], tuple(names[i] for i in picked)
    values, notes = _handle_nan(values, nan, file)
    if graph is None:
        adj, more = _identity(values.shape[1])
    else:
        adj, more = distance_adjacency(_existing(graph, "PEMS distance"), values.shape[1])
    return _series(file, values, adj, _check_spd(steps_per_day), 0, _check_dow(start_day_of_week),
                   names, notes + more)


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
    file, spd = _existing(path, "h5 data"), _check_spd(steps_per_day)
    values, ids, stamps = _read_pandas_h5(file, key)
    start_step, start_dow = _timing_from_stamps(stamps, spd, file)
    adj_file = _existing(adjacency, "adjacency")
    if adj_file.suffix == ".pkl":
        order, adj = _read_adj_pickle(adj_file)
        values = values[:, _reorder(ids, order, file, adj_file)]
        moved = (f"reordered columns to the sensor order of {adj_file.name}",) if ids != order else ()
    else:
        adj, moved = dense_adjacency(adj_file, values.shape[1]), ()
    tnc, notes = _handle_nan(_as_tnc(values, file), nan, file)
    return _series(file, tnc, adj, spd, start_step, start_dow, ("speed",), moved + notes)


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
    file = _existing(path, "data")
    raw, node_names, stamps = _read_array_file(file, csv_header)
    values, notes = _handle_nan(_as_tnc(raw, file), nan, file)
    spd = _resolve_spd(interval_minutes, steps_per_day, stamps, file)
    start_step, dow = _timing_from_stamps(stamps, spd, file) if stamps is not None else (0, 0)
    if start_day_of_week is not None:
        dow = _check_dow(start_day_of_week)
    n = values.shape[1]
    if adjacency is not None and edges is not None:
        raise DataError(f"{file}: both `adjacency` and `edges` were given", "Give only one of them.")
    if adjacency is not None:
        adj, more = dense_adjacency(_existing(adjacency, "adjacency"), n), ()
    elif edges is not None:
        names = node_names if edges_by_name else None
        if edges_by_name and names is None:
            raise DataError(f"{file}: edges_by_name needs node names, but the data has no header row",
                            "Use a CSV with a header row of node names, or 0-based indices in the edge list.")
        adj, more = edge_list_adjacency(_existing(edges, "edge list"), n, names)
    else:
        adj, more = _identity(n)
    return _series(file, values, adj, spd, start_step, dow, _numbered(values.shape[2]), notes + more)


# --------------------------------------------------------------------------- graphs


def distance_adjacency(path: Path, n: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """[n, n] Gaussian-kernel weights from a ``from,to,cost`` distance CSV, self loops 1."""
    table = _numeric_csv(path, header="auto")[0]
    if table.shape[1] < 3:
        raise DataError(f"{path}: expected columns from,to,cost, found {table.shape[1]}",
                        "Use a CSV with a `from,to,cost` row per road segment.")
    src, dst = _edge_ends(table[:, 0], table[:, 1], n, path)
    cost, notes = table[:, 2], []
    if np.any(cost < 0):
        row = int(np.argmax(cost < 0))
        raise DataError(f"{path}: negative distance {cost[row]:g} on data row {row + 1}",
                        "Distances must be >= 0; fix or drop that row.")
    pairs = src * n + dst
    _, first = np.unique(pairs, return_index=True)
    if len(first) < len(pairs):  # e.g. PEMS08.csv lists 18 rows twice; keep the first
        notes.append(f"dropped {len(pairs) - len(first)} duplicate edges from {path.name}")
    src, dst, cost = src[first], dst[first], cost[first]
    sigma = float(cost.std()) or float(cost.mean()) or 1.0  # one distinct distance: no spread
    adj = np.zeros((n, n), dtype=np.float64)
    adj[src, dst] = np.exp(-((cost / sigma) ** 2))
    vanished = int(np.sum(adj[src, dst].astype(np.float32) == 0))
    if vanished:  # e.g. one 3274-long edge of PEMS08: > 9 sigma, weight underflows to 0
        notes.append(f"{vanished} edges of {path.name} are so long their kernel weight is 0")
    np.fill_diagonal(adj, 1.0)
    return adj.astype(np.float32), tuple(notes)


def dense_adjacency(path: Path, n: int) -> np.ndarray:
    """[n, n] float32 weights from a ``.npy``/``.npz``/``.csv`` (no header) matrix file."""
    if path.suffix == ".pkl":
        adj = _read_adj_pickle(path)[1]
    else:
        adj = _read_array_file(path, csv_header=False)[0]
    if adj.ndim != 2 or adj.shape[0] != adj.shape[1] or adj.shape[0] != n:
        raise DataError(f"{path}: adjacency has shape {adj.shape}, the data has {n} nodes",
                        f"Give a {n}x{n} adjacency matching the data's node order.")
    if not np.all(np.isfinite(adj)) or np.any(adj < 0):
        raise DataError(f"{path}: adjacency has NaN, infinite or negative weights",
                        "Weights must be finite and >= 0 (0 = no edge).")
    return adj.astype(np.float32)


def edge_list_adjacency(
    path: Path, n: int, names: list[str] | None = None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """[n, n] weights from a ``from,to[,weight]`` CSV; ``names`` ([n]) maps named ends to nodes.

    With a header, the ``from``/``to`` columns (else the first two) and a ``weight`` column
    (else weight 1) are used; without one, the third column, if any, is the weight.
    """
    cells = _csv_cells(path)
    if cells.shape[1] < 2:
        raise DataError(f"{path}: an edge list needs at least 2 columns (from,to), found 1",
                        "Write one `from,to[,weight]` row per edge.")
    first = [str(c) for c in cells.iloc[0]]
    has_header = (first[0] not in names and first[1] not in names) if names else not _is_number(first[0])
    header = [c.lower() for c in first] if has_header else []
    body, skip = (cells.iloc[1:], 1) if has_header else (cells, 0)
    ends = [header.index(c) for c in ("from", "to")] if {"from", "to"} <= set(header) else [0, 1]
    if names is not None:
        where = {name: i for i, name in enumerate(names)}
        unknown = sorted({str(v) for v in body.iloc[:, ends].to_numpy().ravel()} - set(where))
        if unknown:
            raise DataError(f"{path}: edge ends {unknown[:5]} are not node names of the data",
                            "Edge names must match the data CSV's header row exactly.")
        src = np.array([where[str(v)] for v in body.iloc[:, ends[0]]], dtype=int)
        dst = np.array([where[str(v)] for v in body.iloc[:, ends[1]]], dtype=int)
    else:
        idx = _to_float(body.iloc[:, ends].to_numpy(), path, skip)
        src, dst = _edge_ends(idx[:, 0], idx[:, 1], n, path)
    wcol = header.index("weight") if "weight" in header else (2 if not header and cells.shape[1] > 2 else None)
    weight = np.ones(len(src)) if wcol is None else _to_float(body.iloc[:, [wcol]].to_numpy(), path, skip)[:, 0]
    if not np.all(np.isfinite(weight)) or np.any(weight < 0):
        raise DataError(f"{path}: edge weights must be finite and >= 0", "Fix the weight column.")
    adj = np.zeros((n, n), dtype=np.float32)
    adj[src, dst] = weight
    return adj, (f"graph from {len(src)} listed edges of {path.name}",)


def _edge_ends(src: np.ndarray, dst: np.ndarray, n: int, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Validated int [E] node indices from float [E] columns."""
    both = np.stack([src, dst])
    if np.any(both != np.round(both)):
        raise DataError(f"{path}: edge ends must be whole node indices", "Use 0-based integer indices.")
    bad = (both < 0) | (both >= n)
    if bad.any():
        row = int(np.argmax(bad.any(axis=0)))
        raise DataError(f"{path}: edge {int(src[row])}->{int(dst[row])} on data row {row + 1} is out of "
                        f"range for {n} nodes", f"Indices are 0-based and must be < {n}.")
    return both[0].astype(int), both[1].astype(int)


def _read_adj_pickle(path: Path) -> tuple[list[str], np.ndarray]:
    """(sensor ids [N], adjacency [N, N]) from a DCRNN ``adj_mx.pkl`` (Python-2 pickle)."""
    try:
        with path.open("rb") as f:
            ids, _, adj = pickle.load(f, encoding="latin1")  # written by Python 2
    except Exception as exc:  # unpickling raises many types; all mean "not that layout"
        raise DataError(f"{path}: not a DCRNN adj_mx.pkl ({type(exc).__name__}: {exc})",
                        "Expected a pickle of [sensor_ids, sensor_id_to_ind, adj_mx].") from exc
    return [str(i) for i in ids], np.asarray(adj, dtype=np.float32)


def _reorder(ids: list[str], order: list[str], data: Path, adj: Path) -> np.ndarray:
    """[N] column positions that put the data's sensor ``ids`` in the pickle's ``order``."""
    missing, extra = sorted(set(order) - set(ids)), sorted(set(ids) - set(order))
    if missing or extra or len(ids) != len(order):
        raise DataError(f"{data}: sensor ids differ from {adj} ({len(ids)} vs {len(order)} ids; only in "
                        f"the pickle: {missing[:5]}, only in the data: {extra[:5]})",
                        "Use the adjacency pickle made for these sensors.")
    where = {sid: i for i, sid in enumerate(ids)}
    return np.array([where[sid] for sid in order])


# --------------------------------------------------------------------------- readers


def _existing(path: PathLike, what: str) -> Path:
    """The path as a Path, or DataError when it is not an existing file."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"{what} file not found: {file.resolve()}",
                        "Check the path (relative paths in a recipe are read from the recipe's folder).")
    return file


def _read_array_file(
    path: Path, csv_header: str | bool = "auto"
) -> tuple[np.ndarray, list[str] | None, np.ndarray | None]:
    """(float64 array, node names or None, [T] int64 ns timestamps or None) of a data file."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return _numeric_csv(path, csv_header)
    if suffix not in (".npy", ".npz"):
        raise DataError(f"{path}: unsupported file type {suffix or '(none)'}",
                        "Use a .npy, .npz or .csv file.")
    try:
        loaded = np.load(path, allow_pickle=False)
        arr = _npz_array(loaded, path) if suffix == ".npz" else loaded
        return np.asarray(arr, dtype=np.float64), None, None
    except DataError:
        raise
    except (OSError, ValueError, TypeError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: could not read a numeric array ({exc})",
                        "Re-save it with numpy.save / numpy.savez.") from exc


def _npz_array(npz: np.lib.npyio.NpzFile, path: Path) -> np.ndarray:
    """The ``data`` array of an npz, or its only array."""
    with npz:
        if "data" in npz.files:
            return npz["data"]
        if len(npz.files) == 1:
            return npz[npz.files[0]]
        raise DataError(f"{path}: has arrays {npz.files} but none named 'data'",
                        "Save the series under the key 'data' (numpy.savez(path, data=x)).")


def _csv_cells(path: Path, nrows: int | None = None) -> pd.DataFrame:
    """The cells of a CSV (the first ``nrows`` rows) as stripped strings; CRLF is fine."""
    return _read_csv(path, dtype=str, keep_default_na=False, nrows=nrows).apply(lambda c: c.str.strip())


def _read_csv(path: Path, **kwargs: object) -> pd.DataFrame:
    """pandas.read_csv without a header row, with its errors turned into DataError."""
    try:
        return pd.read_csv(path, header=None, skipinitialspace=True, **kwargs)  # type: ignore[arg-type]
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: the CSV file is empty", "Give a file with data rows.") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a well-formed CSV ({str(exc).strip()})",
                        "Every row needs the same number of comma-separated cells.") from exc


def _numeric_csv(
    path: Path, header: str | bool = "auto"
) -> tuple[np.ndarray, list[str] | None, np.ndarray | None]:
    """(float64 [rows, cols], header names or None, [rows] int64 ns dates or None)."""
    if header not in ("auto", True, False):
        raise DataError(f"{path}: csv_header must be 'auto', true or false, got {header!r}",
                        "Set csv_header to auto, true or false.")
    head = _csv_cells(path, nrows=50)  # enough to decide on the header and a date column
    first = [str(c) for c in head.iloc[0]]
    if header == "auto":
        header = not all(_is_number(c) or c in _NA_CELLS for c in first) or _looks_like_ids(first, head)
    if head.shape[0] <= int(header):
        raise DataError(f"{path}: has a header row but no data rows", "Add data rows.")
    frame = _read_csv(path, skiprows=int(header), low_memory=False)
    stamps = None
    if not _is_number(str(head.iloc[int(header), 0])):  # a leading date/time column
        stamps = _parse_dates([str(c).strip() for c in frame.iloc[:, 0]])
        if stamps is not None:
            frame, first = frame.iloc[:, 1:], first[1:]
    if all(pd.api.types.is_numeric_dtype(t) for t in frame.dtypes):  # the fast, common case
        values = frame.to_numpy(dtype=np.float64)
    else:  # some text: find and report it
        text = frame.astype(str).apply(lambda c: c.str.strip()).to_numpy()
        values = _to_float(text, path, int(header), int(stamps is not None))
    return values, (first if header else None), stamps


def _looks_like_ids(first: list[str], head: pd.DataFrame) -> bool:
    """All-integer first row whose values dwarf the rest: sensor ids (e.g. los_speed.csv)."""
    if head.shape[0] < 2 or not all(c.lstrip("-").isdigit() for c in first):
        return False
    rest = pd.to_numeric(pd.Series(head.iloc[1:].to_numpy().ravel()), errors="coerce").abs().max()
    return bool(np.isfinite(rest)) and min(abs(int(c)) for c in first) > 10 * max(float(rest), 1.0)


def _to_float(cells: np.ndarray, path: Path, row_offset: int, col_offset: int = 0) -> np.ndarray:
    """float64 copy of a [rows, cols] str array; empty/NA cells become NaN, text is an error."""
    flat = pd.Series(cells.ravel())
    out = pd.to_numeric(flat, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(out) & ~flat.isin(_NA_CELLS).to_numpy() & ~flat.str.lower().isin(["nan"]).to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        line, col = i // cells.shape[1] + row_offset + 1, i % cells.shape[1] + col_offset + 1
        raise DataError(f"{path}: non-numeric cell {flat[i]!r} at line {line}, column {col} "
                        f"({int(bad.sum())} such cells)",
                        "Every data cell must be a number (or empty for a missing reading).")
    return out.reshape(cells.shape)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_dates(texts: list[str]) -> np.ndarray | None:
    """[T] int64 ns of a date column, preferring the reading (month- or day-first) that is regular."""
    parsed = []
    for dayfirst in (False, True):
        try:
            with warnings.catch_warnings():  # "could not infer format": we check the result
                warnings.simplefilter("ignore")
                stamps = pd.to_datetime(pd.Series(texts), dayfirst=dayfirst).to_numpy(dtype="datetime64[ns]")
        except (ValueError, TypeError, OverflowError):
            continue
        ns = stamps.astype(np.int64)
        if len(ns) < 2 or len(set(np.diff(ns).tolist())) == 1:
            return ns
        parsed.append(ns)
    return parsed[0] if parsed else None  # irregular: the caller reports where


def _read_pandas_h5(path: Path, key: str | None) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(values [T, N] float64, column labels [N], index [T] int64 ns) of a pandas fixed-format frame."""
    hint = "Expected a DataFrame saved with df.to_hdf(path, key='df') (fixed format, DatetimeIndex)."
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"{path}: not an HDF5 file ({exc})", hint) from exc
    with f:
        keys = list(f.keys())
        key = key or ("df" if "df" in keys else keys[0] if len(keys) == 1 else None)
        if key is None or key not in f or not {"axis0", "axis1", "block0_values"} <= set(f[key].keys()):
            raise DataError(f"{path}: no pandas fixed-format frame under key {key!r} (keys: {keys})", hint)
        g = f[key]
        kind = _label(g["axis1"].attrs.get("kind", b"datetime64"))
        if not kind.startswith("datetime64"):
            raise DataError(f"{path}: the index is {kind}, not a DatetimeIndex", hint)
        unit = kind if "[" in kind else "datetime64[ns]"  # plain "datetime64": written before pandas 2
        stamps = np.asarray(g["axis1"][:], dtype=np.int64).view(unit).astype("datetime64[ns]").view(np.int64)
        labels = [_label(v) for v in g["axis0"][:]]
        columns: dict[str, np.ndarray] = {}
        for b in range(int(g.attrs.get("nblocks", 1))):  # one block per dtype
            vals = np.asarray(g[f"block{b}_values"][:], dtype=np.float64)
            items = [_label(v) for v in g[f"block{b}_items"][:]]
            vals = vals if vals.shape[0] == len(stamps) else vals.T
            columns.update({item: vals[:, j] for j, item in enumerate(items)})
    if set(labels) - set(columns):
        raise DataError(f"{path}: columns {sorted(set(labels) - set(columns))[:5]} have no values", hint)
    return np.stack([columns[c] for c in labels], axis=1), labels, stamps


def _label(value: object) -> str:
    """A column label or attribute as str (h5 stores bytes; numeric ids become '773869')."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, (np.integer, int)):
        return str(int(value))
    return str(value)


# --------------------------------------------------------------------------- checks


def _as_tnc(arr: np.ndarray, path: Path) -> np.ndarray:
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


def _handle_nan(values: np.ndarray, nan: str, path: Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """float32 [T, N, C] with NaN/inf refused or masked to 0 (policy ``nan``), and notes."""
    if nan not in ("refuse", "mask"):
        raise DataError(f"{path}: nan must be 'refuse' or 'mask', got {nan!r}", "Set nan: refuse or nan: mask.")
    bad = ~np.isfinite(values)
    count = int(bad.sum())
    if count and nan == "refuse":
        where = ", ".join(f"(step {t}, node {n}, channel {c})" for t, n, c in np.argwhere(bad)[:3])
        raise DataError(f"{path}: {count} NaN or infinite values, first at {where}",
                        "Fix the data, or set `nan: mask` to treat them as missing readings (stored as 0).")
    values = np.where(bad, 0.0, values).astype(np.float32)
    return values, ((f"masked {count} NaN/infinite readings as missing (0)",) if count else ())


def _identity(n: int) -> tuple[np.ndarray, tuple[str, ...]]:
    return np.eye(n, dtype=np.float32), ("no graph given: identity adjacency (nodes unconnected)",)


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


def _timing_from_stamps(stamps: np.ndarray, spd: int, path: Path) -> tuple[int, int]:
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


def _series(path: Path, values: np.ndarray, adj: np.ndarray, spd: int, start_step: int, dow: int,
            channel_names: tuple[str, ...], notes: tuple[str, ...]) -> STSeries:
    return STSeries(name=path.stem, values=values.astype(np.float32, copy=False), adjacency=adj,
                    steps_per_day=spd, start_step_of_day=int(start_step), start_day_of_week=int(dow),
                    channel_names=channel_names, notes=notes)
