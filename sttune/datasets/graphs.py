"""Graph (adjacency) readers for the file dataset loaders.

Turns a distance CSV (Gaussian kernel), a dense matrix file, an edge list or a DCRNN
``adj_mx.pkl`` into an [N, N] float32 adjacency, and maps data columns to the pickle's
sensor order. Bad input raises :class:`~sttune.errors.DataError` naming the file and the fix.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from sttune.datasets.readers import csv_cells, is_number, numeric_csv, read_array_file, real_array, to_float
from sttune.errors import DataError

# Edge weights a distance is turned into: exp(-(d / sigma)^2), sigma the standard deviation of the
# listed distances (DCRNN / the PEMS benchmarks). A weight below the threshold drops the edge; the
# PEMS loader keeps every edge (threshold 0: only weights that underflow float32, past ~9.5 sigma, vanish).
WEIGHT_KINDS = ("weight", "distance", "unweighted")


def gaussian_kernel(cost: np.ndarray) -> np.ndarray:
    """[E] similarities exp(-(d / sigma)^2) of [E] distances >= 0."""
    sigma = float(cost.std()) or float(cost.mean()) or 1.0  # one distinct distance: no spread
    return np.exp(-((cost / sigma) ** 2))


def distance_adjacency(path: Path, n: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """[n, n] Gaussian-kernel weights from a ``from,to,cost`` distance CSV, self loops 1."""
    table, names, _ = numeric_csv(path, header="auto")
    if table.shape[1] < 3:
        raise DataError(f"{path}: expected columns from,to,cost, found {table.shape[1]}",
                        "Use a CSV with a `from,to,cost` row per road segment.")
    first_line = 2 if names is not None else 1
    src, dst = edge_ends(table[:, 0], table[:, 1], n, path, first_line)
    adj, notes = edges_to_adjacency(src, dst, table[:, 2], n, path, "distance", first_line=first_line)
    np.fill_diagonal(adj, 1.0)
    return adj, notes


def edges_to_adjacency(
    src: np.ndarray, dst: np.ndarray, values: np.ndarray | None, n: int, path: Path, kind: str,
    threshold: float = 0.0, first_line: int = 1,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """[n, n] float32 weights of [E] directed edges; ``values`` [E] are weights or distances (``kind``).

    Duplicate edges keep their first row (with a note); a bad value names its line
    (``first_line`` = the file line of edge 0).
    """
    notes: list[str] = []
    if values is None or kind == "unweighted":
        values = np.ones(len(src))
    _check_edge_values(values, path, "distance" if kind == "distance" else "edge weight", first_line)
    pairs = src * n + dst
    _, first = np.unique(pairs, return_index=True)
    if len(first) < len(pairs):  # e.g. PEMS08.csv lists 18 rows twice; keep the first
        notes.append(f"dropped {len(pairs) - len(first)} duplicate edges from {path.name}")
    first.sort()
    src, dst, values = src[first], dst[first], values[first]
    weight = gaussian_kernel(values) if kind == "distance" else values
    if threshold > 0:
        weak = int(np.sum((weight < threshold) & (weight > 0)))
        weight = np.where(weight < threshold, 0.0, weight)
        if weak:
            notes.append(f"dropped {weak} edges of {path.name} whose kernel weight is below {threshold:g}")
    adj = np.zeros((n, n), dtype=np.float32)
    adj[src, dst] = weight
    vanished = int(np.sum((adj[src, dst] == 0) & (weight > 0)))
    if kind == "distance" and vanished:  # e.g. one 3274-long edge of PEMS08: > 9 sigma, weight underflows to 0
        notes.append(f"{vanished} edges of {path.name} are so long their kernel weight is 0")
    return adj, tuple(notes)


def _check_edge_values(values: np.ndarray, path: Path, what: str, first_line: int) -> None:
    """DataError naming the first NaN (an empty cell), infinite or negative value and its line."""
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        row = int(np.argmax(bad))
        shown = "empty or NaN" if np.isnan(values[row]) else f"{values[row]:g}"
        count = int(bad.sum())
        raise DataError(f"{path}: {what} {shown} on line {row + first_line} ({count} such row{'s' * (count > 1)})",
                        f"Every {what} must be a finite number >= 0; fix or drop that row.")


def check_matrix(adj: np.ndarray, path: Path) -> None:
    """DataError naming the first NaN, infinite or negative weight of a dense [N, N] adjacency."""
    bad = ~np.isfinite(adj) | (adj < 0)
    if bad.any():
        i, j = (int(k) for k in np.argwhere(bad)[0])
        raise DataError(f"{path}: adjacency weight {adj[i, j]:g} at row {i}, column {j} "
                        f"({int(bad.sum())} NaN, infinite or negative weights)",
                        "Weights must be finite and >= 0 (0 = no edge); fix the matrix.")


def dense_adjacency(path: Path, n: int) -> np.ndarray:
    """[n, n] float32 weights from a ``.npy``/``.npz``/``.csv`` (no header) or ``.pkl`` matrix file."""
    if path.suffix == ".pkl":
        adj = read_adj_pickle(path)[1]
    else:
        adj = read_array_file(path, csv_header=False)[0]
    if adj.ndim != 2 or adj.shape[0] != adj.shape[1] or adj.shape[0] != n:
        raise DataError(f"{path}: adjacency has shape {adj.shape}, the data has {n} nodes",
                        f"Give a {n}x{n} adjacency matching the data's node order.")
    check_matrix(adj, path)
    return adj.astype(np.float32)


def edge_list_adjacency(
    path: Path, n: int, names: list[str] | None = None, weight_column: str | None = None,
    kind: str = "weight", threshold: float = 0.0,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """[n, n] weights from an edge-list CSV; ``names`` ([n]) maps named ends to nodes.

    With a header, the ``from``/``to`` columns (else the first two) are the ends and
    ``weight_column`` (else a column named ``weight``) holds the weight or distance (``kind``);
    other columns without a ``weight`` column are refused unless ``kind`` is ``unweighted``,
    since guessing would give every edge weight 1 silently. Without a header, the third
    column, if any, is the weight.
    """
    cells = csv_cells(path)
    if cells.shape[1] < 2:
        raise DataError(f"{path}: an edge list needs at least 2 columns (from,to), found 1",
                        "Write one `from,to[,weight]` row per edge.")
    first = [str(c) for c in cells.iloc[0]]
    has_header = (first[0] not in names and first[1] not in names) if names else not is_number(first[0])
    header = first if has_header else []
    lower = [c.lower() for c in header]
    body, skip = (cells.iloc[1:], 1) if has_header else (cells, 0)
    ends = [lower.index(c) for c in ("from", "to")] if {"from", "to"} <= set(lower) else [0, 1]
    if names is not None:
        where = {name: i for i, name in enumerate(names)}
        unknown = sorted({str(v) for v in body.iloc[:, ends].to_numpy().ravel()} - set(where))
        if unknown:
            raise DataError(f"{path}: edge ends {unknown[:5]} are not node names of the data",
                            "Edge names must match the data's node names (header row or ids file) exactly.")
        src = np.array([where[str(v)] for v in body.iloc[:, ends[0]]], dtype=int)
        dst = np.array([where[str(v)] for v in body.iloc[:, ends[1]]], dtype=int)
    else:
        idx = to_float(body.iloc[:, ends].to_numpy(), path, skip)
        src, dst = edge_ends(idx[:, 0], idx[:, 1], n, path, skip + 1)
    wcol = _weight_column(path, header, ends, cells.shape[1], weight_column, kind)
    weight = None if wcol is None else to_float(body.iloc[:, [wcol]].to_numpy(), path, skip)[:, 0]
    adj, notes = edges_to_adjacency(src, dst, weight, n, path, kind, threshold, skip + 1)
    used = "weight 1" if wcol is None else f"{kind} column {header[wcol] if header else wcol + 1}"
    return adj, (f"graph from {len(src)} listed edges of {path.name} ({used})",) + notes


def _weight_column(path: Path, header: list[str], ends: list[int], width: int, name: str | None,
                   kind: str) -> int | None:
    """Index of the weight (or distance) column of an edge list, or None for weight 1; asks, not guesses."""
    if kind not in WEIGHT_KINDS:
        raise DataError(f"{path}: weight_kind must be one of {', '.join(WEIGHT_KINDS)}, got {kind!r}",
                        "weight: larger = stronger; distance: a length, turned into a Gaussian-kernel weight.")
    if kind == "unweighted":
        return None
    if name is not None:
        if not header:
            raise DataError(f"{path}: weight_column {name!r} needs a header row, and this edge list has none",
                            "Add a header row naming the columns, or leave weight_column unset "
                            "(the third column is the weight).")
        matches = [i for i, c in enumerate(header) if c == name] or \
                  [i for i, c in enumerate(header) if c.lower() == str(name).lower()]
        if not matches:
            raise DataError(f"{path}: no column {name!r}; its columns are {', '.join(header)}",
                            "Set weight_column to one of them.")
        return matches[0]
    if not header:
        if width > 2:
            return 2
    elif "weight" in [c.lower() for c in header]:
        return [c.lower() for c in header].index("weight")
    elif width > 2:
        extra = ", ".join(c for i, c in enumerate(header) if i not in ends)
        raise DataError(f"{path}: which column holds the edge weight? None is named 'weight' (other columns: "
                        f"{extra})", "Set weight_column (with weight_kind: distance if it holds lengths), "
                        "or weight_kind: unweighted for weight 1 on every edge.")
    if kind == "distance":
        raise DataError(f"{path}: weight_kind is distance, but the edge list has no distance column",
                        "Add a from,to,distance column (and set weight_column), or drop weight_kind.")
    return None


def edge_ends(
    src: np.ndarray, dst: np.ndarray, n: int, path: Path, first_line: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Validated int [E] node indices from float [E] columns (``first_line``: the file line of row 0)."""
    both = np.stack([src, dst])
    blank = ~np.isfinite(both).all(axis=0)
    if blank.any():
        raise DataError(f"{path}: empty edge end on line {int(np.argmax(blank)) + first_line}",
                        "Every row needs both ends; fix or drop that row.")
    if np.any(both != np.round(both)):
        row = int(np.argmax((both != np.round(both)).any(axis=0)))
        raise DataError(f"{path}: edge ends must be whole node indices (line {row + first_line})",
                        "Use 0-based integer indices.")
    bad = (both < 0) | (both >= n)
    if bad.any():
        row = int(np.argmax(bad.any(axis=0)))
        raise DataError(f"{path}: edge {int(src[row])}->{int(dst[row])} on line {row + first_line} is out of "
                        f"range for {n} nodes", f"Indices are 0-based and must be < {n}.")
    return both[0].astype(int), both[1].astype(int)


# what a DCRNN adj_mx.pkl needs besides lists, dicts, strings and numbers (pickle opcodes,
# no class lookup): numpy arrays and their dtypes, under numpy 1's and numpy 2's module names
_PICKLE_ALLOWED = {
    (module, name)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
} | {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}  # protocol 2 stores bytes as encode(str)


class RefusedPickle(pickle.UnpicklingError):
    """The pickle names something other than arrays: it is not read (unpickling runs code)."""


class _ArraysOnly(pickle.Unpickler):
    """Reads lists, dicts, strings, numbers and numpy arrays; refuses every other class, so a
    crafted file cannot run code (a plain ``pickle.load`` would call whatever it names)."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in _PICKLE_ALLOWED:
            return super().find_class(module, name)
        raise RefusedPickle(f"{module}.{name}")


def read_adj_pickle(path: Path) -> tuple[list[str], np.ndarray]:
    """(sensor ids [N], adjacency [N, N]) from a DCRNN ``adj_mx.pkl`` (Python-2 pickle), read by
    a restricted unpickler that admits only the arrays, lists, dicts and strings of that layout."""
    hint = "Expected a pickle of [sensor_ids, sensor_id_to_ind, adj_mx] (DCRNN's adj_mx.pkl)."
    try:
        with path.open("rb") as f:
            loaded = _ArraysOnly(f, encoding="latin1").load()  # written by Python 2
    except RefusedPickle as exc:
        raise DataError(f"{path}: refused to unpickle {exc}: an adjacency pickle may hold only arrays, lists, "
                        "dicts and strings (unpickling anything else can run code)",
                        "Convert it where you trust it: save the sensor ids and the matrix as CSV or .npy "
                        "and pass those.") from None
    except Exception as exc:  # unpickling raises many types; all mean "not that layout"
        raise DataError(f"{path}: not a DCRNN adj_mx.pkl ({type(exc).__name__}: {exc})", hint) from exc
    if not isinstance(loaded, (list, tuple)) or len(loaded) != 3 or not isinstance(loaded[0], (list, tuple)):
        raise DataError(f"{path}: not a DCRNN adj_mx.pkl (it holds a {type(loaded).__name__}, "
                        "not [sensor_ids, sensor_id_to_ind, adj_mx])", hint)
    ids = [i.decode("utf-8", "replace") if isinstance(i, bytes) else str(i) for i in loaded[0]]
    adj = real_array(loaded[2], path, "adjacency")
    if adj.ndim != 2 or adj.shape != (len(ids), len(ids)):
        raise DataError(f"{path}: adjacency has shape {adj.shape} for {len(ids)} sensor ids", hint)
    if len(set(ids)) < len(ids):
        raise DataError(f"{path}: sensor ids repeat ({len(ids) - len(set(ids))} duplicates)", hint)
    check_matrix(adj, path)
    return ids, adj.astype(np.float32)


def reorder(ids: list[str], order: list[str], data: Path, adj: Path) -> np.ndarray:
    """[N] column positions that put the data's sensor ``ids`` in the pickle's ``order``."""
    missing, extra = sorted(set(order) - set(ids)), sorted(set(ids) - set(order))
    if missing or extra or len(ids) != len(order):
        raise DataError(f"{data}: sensor ids differ from {adj} ({len(ids)} vs {len(order)} ids; only in "
                        f"the pickle: {missing[:5]}, only in the data: {extra[:5]})",
                        "Use the adjacency pickle made for these sensors.")
    where = {sid: i for i, sid in enumerate(ids)}
    return np.array([where[sid] for sid in order])


def identity(n: int) -> tuple[np.ndarray, tuple[str, ...]]:
    return np.eye(n, dtype=np.float32), ("no graph given: identity adjacency (nodes unconnected)",)
