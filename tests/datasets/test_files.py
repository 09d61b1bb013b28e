"""sttune.datasets.files: the pems / h5 / arrays loaders end to end (values, graph, node ids, every bad
input one DataError), on the real datasets too when ../shared/data is there."""

from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from helpers import raises_data_error, write_adj_pickle, write_pandas_h5
from sttune.datasets.files import load_arrays, load_h5, load_pems
from sttune.datasets.graphs import read_adj_pickle
from sttune.datasets.synthetic import load_synthetic


def test_pems_loads_values_and_gaussian_kernel(pems_files: tuple[Path, Path, np.ndarray]) -> None:
    npz, csv, data = pems_files
    s = load_pems(str(npz), graph=str(csv), start_day_of_week=4)
    assert s.values.shape == (20, 4, 3) and np.allclose(s.values, data)
    assert s.channel_names == ("flow", "occupancy", "speed") and s.start_day_of_week == 4
    sigma = np.std([100.0, 200.5, 50.0])  # unique distances; the duplicate row is dropped
    assert s.adjacency[1, 2] == pytest.approx(np.exp(-((200.5 / sigma) ** 2)), rel=1e-5)
    assert s.adjacency[0, 1] == pytest.approx(np.exp(-((100.0 / sigma) ** 2)), rel=1e-5)
    assert s.adjacency[1, 0] == 0 and np.all(np.diag(s.adjacency) == 1)
    assert any("1 duplicate" in n for n in s.notes)


def test_pems_two_dimensional_channels_and_no_graph(tmp_path: Path, pems_files) -> None:  # type: ignore[no-untyped-def]
    npz, _, data = pems_files
    s = load_pems(npz, channels=[2, 0])
    assert s.values.shape == (20, 4, 2) and s.channel_names == ("speed", "flow")
    assert np.allclose(s.values[..., 0], data[..., 2])
    assert np.array_equal(s.adjacency, np.eye(4)) and any("identity" in n for n in s.notes)
    flat = tmp_path / "flat.npz"
    np.savez(flat, data=data[..., 0])
    assert load_pems(flat).values.shape == (20, 4, 1)


def test_pems_bad_inputs(tmp_path: Path, pems_files) -> None:  # type: ignore[no-untyped-def]
    npz, csv, data = pems_files
    raises_data_error("not found", load_pems, tmp_path / "nope.npz")
    raises_data_error("not found", load_pems, npz, graph=tmp_path / "nope.csv")
    (tmp_path / "x.json").write_text("{}")
    raises_data_error("unsupported file type .json", load_pems, tmp_path / "x.json")
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04garbage")
    raises_data_error("could not read", load_pems, tmp_path / "broken.npz")
    np.savez(tmp_path / "keys.npz", a=data, b=data)
    raises_data_error("none named 'data'", load_pems, tmp_path / "keys.npz")
    np.savez(tmp_path / "rank.npz", data=data[None])
    raises_data_error("rank 4", load_pems, tmp_path / "rank.npz")
    np.savez(tmp_path / "one.npz", data=data[:, :1])
    raises_data_error("fewer than 2 nodes", load_pems, tmp_path / "one.npz")
    raises_data_error("channels", load_pems, npz, channels=[3])
    bad = tmp_path / "bad.csv"
    bad.write_text("from,to,cost\n0,4,10\n")
    raises_data_error("0->4 .* out of range for 4 nodes", load_pems, npz, graph=bad)
    bad.write_text("from,to,cost\n0,1,10\n1,2,-5\n")
    raises_data_error("distance -5 on line 3", load_pems, npz, graph=bad)
    bad.write_text("from,to,cost\n0,1,ten\n")
    raises_data_error("non-numeric cell 'ten' at line 2, column 3", load_pems, npz, graph=bad)
    bad.write_text("from,to\n0,1\n")
    raises_data_error("expected columns from,to,cost", load_pems, npz, graph=bad)


def test_h5_reorders_columns_to_pickle_order(tmp_path: Path) -> None:
    ids = ["400001", "400017", "400030", "400040"]
    shuffled = [ids[i] for i in (2, 0, 3, 1)]
    t = np.arange(30)[:, None]
    values = np.array([ids.index(c) for c in shuffled])[None, :] + 0.01 * t  # column = its id's rank
    write_pandas_h5(tmp_path / "speed.h5", values, shuffled, "2012-03-01 00:10", 5, unit="us")
    adj = np.eye(4) + np.diag([0.5, 0.5, 0.5], 1)
    write_adj_pickle(tmp_path / "adj.pkl", ids, adj)
    s = load_h5(tmp_path / "speed.h5", adjacency=str(tmp_path / "adj.pkl"))
    assert s.values.shape == (30, 4, 1)
    assert np.allclose(s.values[0, :, 0], [0, 1, 2, 3]) and np.allclose(s.adjacency, adj)
    assert s.start_step_of_day == 2 and s.start_day_of_week == 3  # 00:10, a Thursday
    assert any("reordered" in n for n in s.notes)


def test_h5_bad_inputs(tmp_path: Path) -> None:
    ids = ["a1", "a2", "a3"]
    h5 = tmp_path / "x.h5"
    write_pandas_h5(h5, np.ones((10, 3)), ids, "2020-01-01", 5)
    write_adj_pickle(tmp_path / "other.pkl", ["a1", "a2", "b9"], np.eye(3))
    err = raises_data_error("sensor ids differ", load_h5, h5, tmp_path / "other.pkl")
    assert "b9" in err.message and "a3" in err.message
    write_adj_pickle(tmp_path / "adj.pkl", ids, np.eye(3))
    raises_data_error("5 minutes apart, but steps_per_day=96", load_h5, h5, tmp_path / "adj.pkl", steps_per_day=96)
    (tmp_path / "text.h5").write_text("not hdf5")
    raises_data_error("not an HDF5 file", load_h5, tmp_path / "text.h5", tmp_path / "adj.pkl")
    (tmp_path / "bad.pkl").write_bytes(b"garbage")
    raises_data_error("not a DCRNN adj_mx.pkl", load_h5, h5, tmp_path / "bad.pkl")
    np.save(tmp_path / "adj.npy", np.eye(5))
    raises_data_error(r"shape \(5, 5\), the data has 3 nodes", load_h5, h5, tmp_path / "adj.npy")
    with h5py.File(tmp_path / "empty.h5", "w") as f:
        f.create_group("other")
    raises_data_error("no pandas fixed-format frame", load_h5, tmp_path / "empty.h5", tmp_path / "adj.pkl")


def test_arrays_npy_and_npz_with_dense_adjacency(tmp_path: Path) -> None:
    x = np.random.default_rng(1).random((12, 3))
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "x.npz", whatever=x[:, :, None].repeat(2, axis=2))
    adj = np.ones((3, 3))
    np.save(tmp_path / "adj.npy", adj)
    s = load_arrays(tmp_path / "x.npy", adjacency=tmp_path / "adj.npy", interval_minutes=15)
    assert s.values.shape == (12, 3, 1) and s.steps_per_day == 96 and np.array_equal(s.adjacency, adj)
    s = load_arrays(tmp_path / "x.npz", steps_per_day=24, start_day_of_week=6)
    assert s.values.shape == (12, 3, 2) and s.start_day_of_week == 6 and any("identity" in n for n in s.notes)


def test_arrays_weekly_interval_gives_one_step_per_day(tmp_path: Path) -> None:
    np.save(tmp_path / "w.npy", np.ones((8, 2)))
    assert load_arrays(tmp_path / "w.npy", interval_minutes=10080).steps_per_day == 1


def test_arrays_bad_inputs(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.ones((6, 4)))
    x = tmp_path / "x.npy"
    raises_data_error("not found", load_arrays, tmp_path / "y.npy", interval_minutes=5)
    raises_data_error("sampling interval is unknown", load_arrays, x)
    raises_data_error("does not divide a day", load_arrays, x, interval_minutes=7)
    np.save(tmp_path / "adj.npy", np.eye(3))
    err = raises_data_error(r"adjacency has shape \(3, 3\), the data has 4 nodes", load_arrays, x,
                  adjacency=tmp_path / "adj.npy", interval_minutes=5)
    assert "4x4" in err.hint
    (tmp_path / "e.csv").write_text("from,to\n0,9\n")
    raises_data_error("out of range for 4 nodes", load_arrays, x, edges=tmp_path / "e.csv", interval_minutes=5)
    raises_data_error("both `adjacency` and `edges`", load_arrays, x, adjacency=tmp_path / "adj.npy",
            edges=tmp_path / "e.csv", interval_minutes=5)
    (tmp_path / "t.csv").write_text("1,2\n3,oops\n")
    raises_data_error("non-numeric cell 'oops' at line 2, column 2", load_arrays, tmp_path / "t.csv", interval_minutes=5)
    (tmp_path / "ragged.csv").write_text("1,2\n3,4,5\n")
    raises_data_error("not a well-formed CSV", load_arrays, tmp_path / "ragged.csv", interval_minutes=5)
    (tmp_path / "empty.csv").write_text("")
    raises_data_error("empty", load_arrays, tmp_path / "empty.csv", interval_minutes=5)
    np.save(tmp_path / "one.npy", np.ones((6, 1)))
    raises_data_error("fewer than 2 nodes", load_arrays, tmp_path / "one.npy", interval_minutes=5)
    np.save(tmp_path / "inf.npy", np.array([[1.0, np.inf], [1.0, 2.0]]))
    raises_data_error("1 NaN or infinite", load_arrays, tmp_path / "inf.npy", interval_minutes=5)
    (tmp_path / "irregular.csv").write_text("d,a,b\n2024-01-01,1,2\n2024-01-02,1,2\n2024-01-04,1,2\n")
    raises_data_error("not evenly spaced", load_arrays, tmp_path / "irregular.csv")


def test_node_ids_from_every_loader(tmp_path: Path, pems_copy: Path) -> None:
    assert load_synthetic(n_nodes=5).node_ids == ("0", "1", "2", "3", "4")
    assert load_pems(pems_copy).node_ids == ("0", "1", "2")
    # h5: the pickle's sensor order with a pickle, the h5 columns with a dense matrix
    ids, shuffled = ["s1", "s2", "s3"], ["s3", "s1", "s2"]
    write_pandas_h5(tmp_path / "x.h5", np.arange(30.0).reshape(10, 3) + 1, shuffled, "2020-01-01", 5)
    write_adj_pickle(tmp_path / "adj.pkl", ids, np.eye(3))
    np.save(tmp_path / "eye.npy", np.eye(3))
    assert load_h5(tmp_path / "x.h5", tmp_path / "adj.pkl").node_ids == tuple(ids)
    assert load_h5(tmp_path / "x.h5", tmp_path / "eye.npy").node_ids == tuple(shuffled)
    # CSV header, or an ids file (newline- or comma-separated), which must agree with a header
    (tmp_path / "h.csv").write_text("a,b,c\n1,2,3\n4,5,6\n")
    assert load_arrays(tmp_path / "h.csv", interval_minutes=5).node_ids == ("a", "b", "c")
    np.save(tmp_path / "v.npy", np.ones((6, 3)))
    assert load_arrays(tmp_path / "v.npy", interval_minutes=5).node_ids == ()
    (tmp_path / "ids.txt").write_text("x9\nx7\nx8\n")
    assert load_arrays(tmp_path / "v.npy", interval_minutes=5, ids=tmp_path / "ids.txt").node_ids == ("x9", "x7", "x8")
    (tmp_path / "ids.txt").write_text("a,b,c")
    assert load_arrays(tmp_path / "h.csv", interval_minutes=5, ids=tmp_path / "ids.txt").node_ids == ("a", "b", "c")
    (tmp_path / "ids.txt").write_text("a,b\n")
    raises_data_error("2 ids for 3 nodes", load_arrays, tmp_path / "v.npy", interval_minutes=5, ids=tmp_path / "ids.txt")
    (tmp_path / "ids.txt").write_text("a,b,a\n")
    raises_data_error("'a' is listed more than once", load_arrays, tmp_path / "v.npy", interval_minutes=5, ids=tmp_path / "ids.txt")
    (tmp_path / "ids.txt").write_text("c,b,a\n")
    raises_data_error("differ from the data's own node names", load_arrays, tmp_path / "h.csv", interval_minutes=5,
            ids=tmp_path / "ids.txt")
    # ids name the ends of an edge list too
    (tmp_path / "e.csv").write_text("from,to\nc,a\n")
    s = load_arrays(tmp_path / "v.npy", interval_minutes=5, ids=tmp_path / "ids.txt", edges=tmp_path / "e.csv",
                    edges_by_name=True)
    assert s.adjacency[0, 2] == 1 and s.adjacency.sum() == 1


def test_a_recipe_reads_the_ids_file_relative_to_its_folder(tmp_path: Path) -> None:
    from sttune.recipe.spec import load_recipe

    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "recipe.yaml").write_text(yaml.safe_dump({"name": "ids", "datasets": [
        {"name": "arrays", "params": {"path": "x.npy", "ids": "ids.txt", "interval_minutes": 5}}],
        "model": {"name": "stid"}}))
    params = load_recipe(folder / "recipe.yaml").recipe.datasets[0].params
    assert params["ids"] == str(folder / "ids.txt") and params["path"] == str(folder / "x.npy")


@pytest.mark.realdata
@pytest.mark.parametrize(("folder", "npz", "shape", "first"), [
    ("PEMS08", "PEMS08_prefix1282.npz", (1282, 170, 3), [133, 0.0603, 65.8]),
    ("PEMS04", "PEMS04_prefix694.npz", (694, 307, 3), [62, 0.0077, 67.9]),
])
def test_real_pems(shared_data: Path, folder: str, npz: str, shape: tuple, first: list) -> None:
    s = load_pems(shared_data / folder / npz, graph=shared_data / folder / f"{folder}.csv")
    assert s.values.shape == shape and s.adjacency.shape == (shape[1], shape[1])
    assert np.allclose(s.values[0, 0], first, rtol=1e-3)
    assert (s.adjacency > 0).sum() > shape[1]  # road edges beyond the self loops


@pytest.mark.realdata
def test_real_los_loop(shared_data: Path) -> None:
    d = shared_data / "LOS-LOOP"
    s = load_arrays(d / "los_speed.csv", adjacency=d / "los_adj.csv", interval_minutes=5)
    assert s.values.shape == (2016, 207, 1) and s.steps_per_day == 288
    assert s.values.min() >= 1 and s.values.max() <= 71  # mph, the all-integer id row is not data
    assert np.allclose(s.adjacency, s.adjacency.T)


@pytest.mark.realdata
def test_real_sz_taxi(shared_data: Path) -> None:
    d = shared_data / "SZ-TAXI"
    s = load_arrays(d / "SZ_taxi.npz", adjacency=d / "sz_adj.csv", interval_minutes=15)
    assert s.values.shape == (2976, 156, 1) and s.steps_per_day == 96
    assert 0.15 < (s.values == 0).mean() < 0.35  # ~25% unobserved road segments


@pytest.mark.realdata
def test_real_metr_la_pickle_reorders_h5(shared_data: Path, tmp_path: Path) -> None:
    pkl = shared_data / "METR-LA" / "adj_mx.pkl"
    with pkl.open("rb") as f:
        ids, _, adj = pickle.load(f, encoding="latin1")
    shuffled = list(np.random.default_rng(0).permutation(ids))
    rank = np.array([ids.index(c) for c in shuffled], dtype=np.float64)
    write_pandas_h5(tmp_path / "metr-la.h5", rank[None, :] + np.zeros((300, 1)), shuffled, "2012-03-01", 5)
    s = load_h5(tmp_path / "metr-la.h5", adjacency=pkl)
    assert s.values.shape == (300, 207, 1)
    assert np.array_equal(s.values[0, :, 0], np.arange(207)) and np.array_equal(s.adjacency, adj)
    assert s.start_step_of_day == 0 and s.start_day_of_week == 3  # 2012-03-01 was a Thursday


@pytest.mark.realdata
def test_real_node_ids_round_trip(shared_data: Path, tmp_path: Path) -> None:
    los = load_arrays(shared_data / "LOS-LOOP" / "los_speed.csv", adjacency=shared_data / "LOS-LOOP" / "los_adj.csv",
                      interval_minutes=5)
    assert len(los.node_ids) == 207 and los.node_ids[:2] == ("773869", "767541")
    ids, _ = read_adj_pickle(shared_data / "METR-LA" / "adj_mx.pkl")
    listed = (shared_data / "METR-LA" / "graph_sensor_ids.txt").read_text().strip().split(",")
    assert ids == listed and list(los.node_ids) == listed  # LOS-LOOP's header is METR-LA's sensor order
    # an npy copy of the series has no names; METR-LA's ids file gives them back
    np.save(tmp_path / "los.npy", los.values[..., 0])
    by_file = load_arrays(tmp_path / "los.npy", interval_minutes=5, ids=shared_data / "METR-LA" / "graph_sensor_ids.txt")
    assert by_file.node_ids == los.node_ids and load_arrays(tmp_path / "los.npy", interval_minutes=5).node_ids == ()
    pems = load_pems(shared_data / "PEMS08" / "PEMS08_prefix1282.npz", graph=shared_data / "PEMS08" / "PEMS08.csv")
    assert pems.node_ids == tuple(str(i) for i in range(170))
