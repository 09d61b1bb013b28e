"""sttune.datasets.pygt: PyTorch Geometric Temporal's JSON layouts, read by the arrays loader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import raises_data_error
from sttune.datasets.files import load_arrays


def test_pyg_temporal_json_layouts(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    fx = rng.uniform(1, 9, (40, 3))
    chickenpox = {"edges": [[0, 1], [1, 2], [2, 2]], "node_ids": {"B": 1, "A": 0, "C": 2}, "FX": fx.tolist()}
    (tmp_path / "c.json").write_text(json.dumps(chickenpox))
    s = load_arrays(tmp_path / "c.json", interval_minutes=10080)
    assert s.values.shape == (40, 3, 1) and np.allclose(s.values[..., 0], fx)
    assert s.node_ids == ("A", "B", "C") and s.adjacency[0, 1] == 1 and s.adjacency[2, 2] == 1
    assert s.adjacency.sum() == 3  # no weights: 1, as PyG Temporal's chickenpox loader does
    pedalme = {"edges": [[0, 1], [2, 0]], "weights": [0.5, 2.0], "X": fx.tolist()}
    (tmp_path / "p.json").write_text(json.dumps(pedalme))
    s = load_arrays(tmp_path / "p.json", interval_minutes=10080)
    assert s.adjacency[0, 1] == 0.5 and s.adjacency[2, 0] == 2 and s.node_ids == ()
    windmill = {"edges": [[0, 1]], "weights": [0.3], "block": fx.tolist()}
    (tmp_path / "w.json").write_text(json.dumps(windmill))
    assert np.allclose(load_arrays(tmp_path / "w.json", interval_minutes=60).values[..., 0], fx)
    wiki = {"edges": [[1, 0]], "weights": [4], "time_periods": 40, **{str(t): {"y": fx[t].tolist()} for t in range(40)}}
    (tmp_path / "k.json").write_text(json.dumps(wiki))
    s = load_arrays(tmp_path / "k.json", interval_minutes=1440, start="2019-03-16")
    assert np.allclose(s.values[..., 0], fx) and s.adjacency[1, 0] == 4 and s.start_day_of_week == 5
    (tmp_path / "bad.json").write_text(json.dumps({"edges": [[0, 5]], "FX": fx.tolist()}))
    raises_data_error("out of range for 3 nodes", load_arrays, tmp_path / "bad.json", interval_minutes=60)
    (tmp_path / "bad.json").write_text(json.dumps({"edges": [[0, 1]], "weights": [1, 2], "FX": fx.tolist()}))
    raises_data_error("2 weights for 1 edges", load_arrays, tmp_path / "bad.json", interval_minutes=60)
    (tmp_path / "bad.json").write_text(json.dumps({"edges": [[0, 1]], "features": []}))
    raises_data_error("no series found", load_arrays, tmp_path / "bad.json", interval_minutes=60)
    (tmp_path / "bad.json").write_text("{not json")
    raises_data_error("not valid JSON", load_arrays, tmp_path / "bad.json", interval_minutes=60)


@pytest.mark.realdata
def test_real_chickenpox_as_pyg_temporal_json_matches_the_csv(shared_data: Path, tmp_path: Path) -> None:
    d = shared_data / "CHICKENPOX-HUNGARY"
    frame = pd.read_csv(d / "hungary_chickenpox.csv")
    names = list(frame.columns[1:])
    e = pd.read_csv(d / "hungary_county_edges.csv")
    mapping = {name: names.index(name) for name in names}
    edges = [[mapping[a], mapping[b]] for a, b in zip(e.name_1, e.name_2)]
    (tmp_path / "chickenpox.json").write_text(json.dumps(
        {"edges": edges, "node_ids": mapping, "FX": frame[names].to_numpy().tolist()}))
    js = load_arrays(tmp_path / "chickenpox.json", interval_minutes=10080, start="2005-01-03")
    csv = load_arrays(d / "hungary_chickenpox.csv", edges=d / "hungary_county_edges.csv", edges_by_name=True,
                      weight_kind="unweighted")
    assert js.node_ids == csv.node_ids == tuple(names)
    assert np.array_equal(js.values, csv.values) and np.array_equal(js.adjacency, csv.adjacency)
    assert (js.steps_per_day, js.start_day_of_week) == (csv.steps_per_day, csv.start_day_of_week)
