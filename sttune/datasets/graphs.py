"""Graph (adjacency) readers for the file dataset loaders.

Turns a distance CSV (Gaussian kernel), a dense matrix file, an edge list or a DCRNN
``adj_mx.pkl`` into an [N, N] float32 adjacency, and maps data columns to the pickle's
sensor order. Bad input raises :class:`~sttune.errors.DataError` naming the file and the fix.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from sttune.datasets.readers import csv_cells, is_number, numeric_csv, read_array_file, to_float
from sttune.errors import DataError


def distance_adjacency(path: Path, n: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """[n, n] Gaussian-kernel weights from a ``from,to,cost`` distance CSV, self loops 1."""
    table = numeric_csv(path, header="auto")[0]
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
        adj = read_adj_pickle(path)[1]
    else:
        adj = read_array_file(path, csv_header=False)[0]
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
    cells = csv_cells(path)
    if cells.shape[1] < 2:
        raise DataError(f"{path}: an edge list needs at least 2 columns (from,to), found 1",
                        "Write one `from,to[,weight]` row per edge.")
    first = [str(c) for c in cells.iloc[0]]
    has_header = (first[0] not in names and first[1] not in names) if names else not is_number(first[0])
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
        idx = to_float(body.iloc[:, ends].to_numpy(), path, skip)
        src, dst = _edge_ends(idx[:, 0], idx[:, 1], n, path)
    wcol = header.index("weight") if "weight" in header else (2 if not header and cells.shape[1] > 2 else None)
    weight = np.ones(len(src)) if wcol is None else to_float(body.iloc[:, [wcol]].to_numpy(), path, skip)[:, 0]
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
    try:
        with path.open("rb") as f:
            ids, _, adj = _ArraysOnly(f, encoding="latin1").load()  # written by Python 2
    except RefusedPickle as exc:
        raise DataError(f"{path}: refused to unpickle {exc}: an adjacency pickle may hold only arrays, lists, "
                        "dicts and strings (unpickling anything else can run code)",
                        "Convert it where you trust it: save the sensor ids and the matrix as CSV or .npy "
                        "and pass those.") from None
    except Exception as exc:  # unpickling raises many types; all mean "not that layout"
        raise DataError(f"{path}: not a DCRNN adj_mx.pkl ({type(exc).__name__}: {exc})",
                        "Expected a pickle of [sensor_ids, sensor_id_to_ind, adj_mx].") from exc
    return [str(i) for i in ids], np.asarray(adj, dtype=np.float32)


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
