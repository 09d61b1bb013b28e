"""sttune.datasets.graphs: edge lists (by index or name, weight columns, the distance kernel) and the
DCRNN pickle (read without running code)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import raises_data_error, write_adj_pickle
from sttune.datasets.files import load_arrays, load_pems
from sttune.datasets.graphs import read_adj_pickle


class _Payload:
    """Unpickling this would create a file (a stand-in for os.system): it must never run."""

    target = ""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (Path(_Payload.target),))


def test_an_adjacency_pickle_that_would_run_code_is_refused_unread(tmp_path: Path) -> None:
    _Payload.target = str(tmp_path / "ran")
    with (tmp_path / "evil.pkl").open("wb") as f:
        pickle.dump([["a"], {"a": 0}, _Payload()], f, protocol=2)
    err = raises_data_error("refused to unpickle", read_adj_pickle, tmp_path / "evil.pkl")
    assert "Convert it" in (err.hint or "") and not (tmp_path / "ran").exists()
    write_adj_pickle(tmp_path / "ok.pkl", ["a", "b"], np.eye(2))  # the real layout still reads
    ids, adj = read_adj_pickle(tmp_path / "ok.pkl")
    assert ids == ["a", "b"] and adj.dtype == np.float32 and adj.tolist() == np.eye(2).tolist()


def test_arrays_csv_headerless_and_edge_lists(tmp_path: Path) -> None:
    csv = tmp_path / "plain.csv"
    csv.write_text("1,2,3\n4,5,6\n")
    edges = tmp_path / "edges.csv"
    edges.write_text("0,1,0.5\n1,2,2\n")
    s = load_arrays(csv, edges=edges, interval_minutes=60)
    assert s.values.shape == (2, 3, 1) and s.values[0, 0, 0] == 1
    assert s.adjacency[0, 1] == 0.5 and s.adjacency[1, 2] == 2 and s.adjacency[1, 0] == 0
    edges.write_text("source,from,to\n7,2,0\n")  # named ends; an extra column but none named weight: asks
    raises_data_error("which column holds the edge weight", load_arrays, csv, edges=edges, interval_minutes=60)
    assert load_arrays(csv, edges=edges, interval_minutes=60, weight_kind="unweighted").adjacency[2, 0] == 1
    named = tmp_path / "named.csv"
    named.write_text("a,b,c\n1,2,3\n4,5,6\n")
    edges.write_text("x,y\nc,a\nb,b\n")
    s = load_arrays(named, edges=edges, edges_by_name=True, interval_minutes=60)
    assert s.adjacency[2, 0] == 1 and s.adjacency[1, 1] == 1 and s.adjacency.sum() == 2
    edges.write_text("x,y\nc,zz\n")
    raises_data_error(r"edge ends \['zz'\] are not node names", load_arrays, named, edges=edges, edges_by_name=True,
            interval_minutes=60)
    raises_data_error("needs node names", load_arrays, csv, edges=edges, edges_by_name=True, interval_minutes=60)


def test_edge_list_needs_two_columns(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.ones((4, 3)))
    (tmp_path / "e.csv").write_text("0\n1\n")
    raises_data_error("at least 2 columns", load_arrays, tmp_path / "x.npy", edges=tmp_path / "e.csv", interval_minutes=5)


def test_arrays_named_distance_column_becomes_the_pems_gaussian_kernel(tmp_path: Path, pems_files, series_file: Path) -> None:  # type: ignore[no-untyped-def]
    x = series_file
    lengths = [100.0, 200.5, 50.0]
    (tmp_path / "e.csv").write_text("src,dst,length_m\n0,1,100\n1,2,200.5\n2,3,50\n")
    s = load_arrays(x, edges=tmp_path / "e.csv", weight_column="length_m", weight_kind="distance",
                    interval_minutes=15)
    sigma = np.std(lengths)
    for (i, j), d in zip([(0, 1), (1, 2), (2, 3)], lengths):
        assert s.adjacency[i, j] == pytest.approx(np.exp(-((d / sigma) ** 2)), rel=1e-5)
    assert s.adjacency[1, 0] == 0 and np.all(np.diag(s.adjacency) == 0)  # directed as listed, no self loops
    # the same distances through the PEMS loader give the same off-diagonal weights (one shared kernel)
    pems = load_pems(pems_files[0], graph=pems_files[1])
    off = ~np.eye(4, dtype=bool)
    assert np.allclose(pems.adjacency[off], s.adjacency[off])
    # as a weight the column is taken as it is; with self loops the diagonal is 1
    w = load_arrays(x, edges=tmp_path / "e.csv", weight_column="length_m", interval_minutes=15, self_loops=True)
    assert w.adjacency[1, 2] == 200.5 and np.all(np.diag(w.adjacency) == 1)
    # a threshold drops the weak kernel weights and says so
    t = load_arrays(x, edges=tmp_path / "e.csv", weight_column="length_m", weight_kind="distance",
                    kernel_threshold=0.1, interval_minutes=15)
    assert t.adjacency[1, 2] == t.adjacency[0, 1] == 0 and t.adjacency[2, 3] > 0.5  # 0.078 and 3.5e-5 dropped
    assert any("dropped 2 edges" in n and "below 0.1" in n for n in t.notes)


def test_arrays_unknown_weight_column_is_refused_in_one_line_listing_the_columns(tmp_path: Path, series_file: Path) -> None:
    x = series_file
    (tmp_path / "e.csv").write_text("from,to,distance\n0,1,3\n")
    err = raises_data_error("no column 'length'; its columns are from, to, distance", load_arrays, x,
                  edges=tmp_path / "e.csv", weight_column="length", interval_minutes=15)
    assert "\n" not in err.one_line()
    # unnamed: none is called weight, so it asks instead of setting every weight to 1
    raises_data_error("which column holds the edge weight.*distance", load_arrays, x, edges=tmp_path / "e.csv",
            interval_minutes=15)
    (tmp_path / "plain.csv").write_text("0,1,3\n")
    raises_data_error("needs a header row", load_arrays, x, edges=tmp_path / "plain.csv", weight_column="d", interval_minutes=15)
    raises_data_error("weight_kind must be one of", load_arrays, x, edges=tmp_path / "e.csv", weight_kind="length",
            interval_minutes=15)
    raises_data_error("apply to an edge list", load_arrays, x, weight_kind="distance", interval_minutes=15)
    raises_data_error("kernel_threshold must be", load_arrays, x, edges=tmp_path / "e.csv", weight_column="distance",
            kernel_threshold=1.5, interval_minutes=15)
    raises_data_error("self_loops must be true or false", load_arrays, x, interval_minutes=15, self_loops="yes")


@pytest.mark.realdata
def test_real_chickenpox_edges_by_name(shared_data: Path) -> None:
    d = shared_data / "CHICKENPOX-HUNGARY"
    edges = d / "hungary_county_edges.csv"  # name_1,name_2,id_1,id_2: no weight column, so say so
    raises_data_error("which column holds the edge weight", load_arrays, d / "hungary_chickenpox.csv", edges=edges,
            edges_by_name=True)
    s = load_arrays(d / "hungary_chickenpox.csv", edges=edges, edges_by_name=True, weight_kind="unweighted")
    assert s.values.shape == (522, 20, 1) and s.steps_per_day == 1 and s.start_day_of_week == 0
    # The edge file's ids follow alphabetical order, not the CSV's column order: by name must agree.
    columns = list(pd.read_csv(d / "hungary_chickenpox.csv", nrows=0).columns[1:])
    e = pd.read_csv(d / "hungary_county_edges.csv")
    by_id = np.zeros((20, 20))
    by_id[e.id_1, e.id_2] = 1
    alpha = sorted(set(e.name_1) | set(e.name_2))
    perm = [alpha.index(c) for c in columns]
    assert np.array_equal(s.adjacency, by_id[np.ix_(perm, perm)])
    assert s.values[0, columns.index("BUDAPEST"), 0] == 168
