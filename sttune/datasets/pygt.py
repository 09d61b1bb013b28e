"""Reader for PyTorch Geometric Temporal's JSON dataset files (chickenpox, pedalme, windmill, wikimath).

Those files hold one static graph and one series: ``edges`` ([E, 2] node indices), optional
``weights`` ([E]; absent = 1, as the chickenpox loader does), optional ``node_ids`` (name ->
index, or a list), and the series [T, N] under ``FX`` (chickenpox), ``X`` (pedalme),
``block`` (windmill) or ``y`` (a flat variant), or per step under ``"0"``, ``"1"``, ... each
with a ``y`` list and ``time_periods`` steps (wikimath). Every failure is a
:class:`~sttune.errors.DataError` naming the file and the fix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sttune.datasets.readers import real_array
from sttune.errors import DataError

SERIES_KEYS = ("FX", "X", "block", "y")
_HINT = ("Expected PyTorch Geometric Temporal's layout: edges [[from, to], ...], optional weights, and the "
         "series [time][node] under FX, X, block or y (or time_periods with per-step {\"y\": [...]}).")


@dataclass
class PygtFile:
    values: np.ndarray  # [T, N] float64
    edges: np.ndarray | None  # [E, 2] float64 node indices (checked by the graph builder); None = no graph
    weights: np.ndarray | None  # [E] float64; None = every weight 1
    node_ids: list[str] | None


def read_pygt_json(path: Path) -> PygtFile:
    """The series, edges, weights and node ids of a PyG Temporal JSON file."""
    try:
        with path.open("rb") as f:
            raw = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})", _HINT) from exc
    if not isinstance(raw, dict):
        raise DataError(f"{path}: the JSON holds a {type(raw).__name__}, not an object with edges and a series", _HINT)
    values = real_array(_series(raw, path), path, "series")
    if values.ndim != 2:
        raise DataError(f"{path}: the series has shape {values.shape}, expected [time, node]", _HINT)
    edges = weights = None
    if "edges" in raw:
        edges = real_array(raw["edges"], path, "edges")
        if edges.size == 0:
            edges = edges.reshape(0, 2)
        if edges.ndim != 2 or edges.shape[1] != 2:
            raise DataError(f"{path}: edges have shape {edges.shape}, expected [[from, to], ...]", _HINT)
        if raw.get("weights") is not None:
            weights = real_array(raw["weights"], path, "weights").reshape(-1)
            if len(weights) != len(edges):
                raise DataError(f"{path}: {len(weights)} weights for {len(edges)} edges", _HINT)
    return PygtFile(values, edges, weights, _node_ids(raw.get("node_ids"), values.shape[1], path))


def _series(raw: dict[str, object], path: Path) -> object:
    for key in SERIES_KEYS:
        if isinstance(raw.get(key), list):
            return raw[key]
    periods = raw.get("time_periods")
    if isinstance(periods, int) and not isinstance(periods, bool) and periods > 0:
        steps = [raw.get(str(t)) for t in range(periods)]
        lost = [t for t, step in enumerate(steps) if not (isinstance(step, dict) and isinstance(step.get("y"), list))]
        if lost:
            raise DataError(f"{path}: time_periods is {periods}, but step {lost[0]} has no \"y\" list", _HINT)
        return [step["y"] for step in steps]  # type: ignore[index]
    raise DataError(f"{path}: no series found (keys: {', '.join(sorted(raw)[:12])})", _HINT)


def _node_ids(raw: object, n: int, path: Path) -> list[str] | None:
    """[n] ids in node order from a name -> index mapping or a list; None when absent."""
    if raw is None:
        return None
    if isinstance(raw, list):
        ids = [str(v) for v in raw]
    elif isinstance(raw, dict) and all(isinstance(v, int) and not isinstance(v, bool) for v in raw.values()):
        ids = [""] * len(raw)
        positions = sorted(raw.values())
        if positions != list(range(len(raw))):
            raise DataError(f"{path}: node_ids map to indices {positions[:5]}..., not 0..{len(raw) - 1}", _HINT)
        for name, i in raw.items():
            ids[i] = str(name)
    else:
        raise DataError(f"{path}: node_ids must map names to 0-based indices (or list them)", _HINT)
    if len(ids) != n:
        raise DataError(f"{path}: {len(ids)} node_ids for {n} nodes in the series", _HINT)
    return ids
