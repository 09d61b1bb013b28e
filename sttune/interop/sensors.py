"""Sensor ids on the export side: a kept-sensor mask named by the data files' ids, and its CSV.

A sensor-selection strategy (DynST) reports ``kept_sensors`` as 0-based node indices and, when
it learns them, one ``scores`` value per node (its artifacts). Users deploy stops, loops and
detectors by their ids, so the export adds the ids (``STSeries.node_ids``; 0-based indices as
strings where a loader does not fill them) and writes ``<dataset>_sensors.csv``:
one row per sensor in node order, columns ``id, score, kept, index``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from sttune.errors import SttuneError
from sttune.recipe.spec import DatasetBlock, write_atomic
from sttune.training.deploy import KEPT
from sttune.training.result import TrainResult


def index_ids(n_nodes: int) -> list[str]:
    """The fallback ids: 0-based node indices as strings."""
    return [str(i) for i in range(n_nodes)]


def node_ids(ids: tuple[str, ...] | list[str], n_nodes: int) -> list[str]:
    """``ids`` when they name every node once, else the 0-based indices."""
    ids = [str(i) for i in ids]
    return ids if len(ids) == n_nodes and len(set(ids)) == n_nodes else index_ids(n_nodes)


def dataset_node_ids(block: DatasetBlock, n_nodes: int) -> list[str]:
    """The dataset's sensor ids in node order (its loader's ``node_ids``); indices when the
    loader gives none or the data cannot be read here (an export moved to another machine)."""
    from sttune.registry.build import load_series

    try:
        return node_ids(load_series(block).node_ids, n_nodes)
    except SttuneError:
        return index_ids(n_nodes)


def sensor_rows(artifact: dict[str, Any], ids: list[str]) -> list[dict[str, Any]]:
    """One row per sensor: id, score (None when the mask was not learned), kept, index."""
    kept = {int(i) for i in artifact[KEPT]}
    scores = artifact.get("scores")
    return [{"id": ids[i], "score": None if scores is None else float(scores[i]), "kept": i in kept, "index": i}
            for i in range(len(ids))]


def sensors_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", "score", "kept", "index"])
    for r in rows:
        writer.writerow([r["id"], "" if r["score"] is None else repr(r["score"]), int(r["kept"]), r["index"]])
    return buf.getvalue()


def with_ids(artifact: dict[str, Any], ids: list[str]) -> dict[str, Any]:
    """The artifact with the mask named by ids too: ``kept_sensor_ids`` and ``sensor_ids``."""
    return {**artifact, "kept_sensor_ids": [ids[int(i)] for i in artifact[KEPT]], "sensor_ids": ids}


def write_sensors(out_dir: Path, label: str, artifacts: dict[str, Any], block: DatasetBlock | None) -> dict[str, Any]:
    """For every artifact holding a sensor mask: write ``<label>_sensors.csv`` into ``out_dir``
    and add the ids to it. Returns the artifacts as the export JSON lists them."""
    out = dict(artifacts)
    for name, art in artifacts.items():
        if not (isinstance(art, dict) and isinstance(art.get(KEPT), list)):
            continue
        n = int(art.get("n_sensors") or len(art.get("scores") or []) or max(art[KEPT], default=-1) + 1)
        ids = dataset_node_ids(block, n) if block is not None else index_ids(n)
        write_atomic(out_dir / f"{label}_sensors.csv", sensors_csv(sensor_rows(art, ids)))
        out[name] = with_ids(art, ids)
    return out


def export_sensors(out_dir: Path, label: str, result: TrainResult | None, block: DatasetBlock | None) -> dict[str, Any]:
    """What the export JSON adds for a chosen trial's ``result``: its artifacts with sensor ids
    (and ``<label>_sensors.csv`` written beside it) and its deployment accuracy."""
    if result is None:
        return {"artifacts": {}, "deployment": {}}
    return {"artifacts": write_sensors(out_dir, label, result.artifacts, block), "deployment": result.deployment}
