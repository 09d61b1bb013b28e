"""The built-in dataset plugins: synthetic generator and the pems / h5 / arrays file loaders."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from sttune.datasets.files import load_arrays, load_h5, load_pems
from sttune.datasets.graphs import read_adj_pickle
from sttune.datasets.synthetic import load_synthetic
from sttune.errors import DataError

# --------------------------------------------------------------------------- helpers


def _lag_autocorr(v: np.ndarray, lag: int) -> float:
    """Pooled autocorrelation of [T, N] series (each node centred) at ``lag``."""
    x = v - v.mean(axis=0)
    return float((x[lag:] * x[:-lag]).sum() / (x * x).sum())


def _connected(adj: np.ndarray) -> bool:
    reach = np.zeros(len(adj), dtype=bool)
    reach[0] = True
    for _ in range(len(adj)):
        reach = reach | (adj[reach] > 0).any(axis=0)
    return bool(reach.all())


def _write_pandas_h5(path: Path, values: np.ndarray, columns: list[str], start: str, minutes: int,
                     unit: str = "ns") -> None:
    """Write [T, N] values the way ``df.to_hdf(path, key="df")`` (fixed format) lays them out.

    unit "ns" gives the index kind "datetime64" (files written before pandas 2, e.g. metr-la.h5);
    other units give "datetime64[<unit>]" as pandas >= 2 writes them.
    """
    labels = np.array([c.encode() for c in columns])
    stamps = pd.date_range(start, periods=len(values), freq=f"{minutes}min").as_unit(unit).asi8
    index_kind = b"datetime64" if unit == "ns" else f"datetime64[{unit}]".encode()
    with h5py.File(path, "w") as f:
        g = f.create_group("df")
        for k, v in {"pandas_type": b"frame", "pandas_version": b"0.15.2", "encoding": b"UTF-8",
                     "ndim": 2, "nblocks": 1, "axis0_variety": b"regular", "axis1_variety": b"regular"}.items():
            g.attrs[k] = v
        for name, data, kind in [("axis0", labels, b"string"), ("axis1", stamps, index_kind),
                                 ("block0_items", labels, b"string")]:
            ds = g.create_dataset(name, data=data)
            ds.attrs["kind"], ds.attrs["name"] = kind, b"N."
        g.create_dataset("block0_values", data=values).attrs["transposed"] = 1


def _write_pickle(path: Path, ids: list[str], adj: np.ndarray) -> None:
    with path.open("wb") as f:
        pickle.dump([ids, {s: i for i, s in enumerate(ids)}, adj.astype(np.float32)], f, protocol=2)


def _raises(match: str, fn, *args, **kwargs) -> DataError:  # type: ignore[no-untyped-def]
    with pytest.raises(DataError, match=match) as info:
        fn(*args, **kwargs)
    assert info.value.hint, "every DataError carries a how-to-fix hint"
    return info.value


@pytest.fixture
def pems_files(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    """A (20, 4, 3) PEMS npz and a CRLF distance CSV with one duplicate row."""
    data = np.random.default_rng(0).uniform(1, 100, (20, 4, 3))
    npz = tmp_path / "PEMSXX.npz"
    np.savez(npz, data=data)
    csv = tmp_path / "dist.csv"
    csv.write_bytes(b"from,to,cost\r\n0,1,100.0\r\n1,2,200.5\r\n2,3,50\r\n0,1,100.0\r\n")
    return npz, csv, data


# --------------------------------------------------------------------------- synthetic


def test_synthetic_default_is_small_and_well_formed() -> None:
    s = load_synthetic()
    assert s.values.shape == (960, 40, 1) and s.values.dtype == np.float32
    assert s.adjacency.shape == (40, 40) and s.adjacency.dtype == np.float32
    assert np.allclose(s.adjacency, s.adjacency.T) and np.all(np.diag(s.adjacency) == 1)
    assert _connected(s.adjacency)
    seen = s.values[s.values > 0]
    assert 10 < seen.min() and seen.max() < 75  # speed-like raw units
    assert s.channel_names == ("speed",) and s.steps_per_day == 96 and s.notes


def test_synthetic_requested_shape_and_channels() -> None:
    s = load_synthetic(n_nodes=12, n_days=3, steps_per_day=24, n_channels=4)
    assert s.values.shape == (72, 12, 4)
    assert s.channel_names == ("speed", "flow", "occupancy", "channel3")


def test_synthetic_is_deterministic_by_seed() -> None:
    a, b, c = load_synthetic(seed=3), load_synthetic(seed=3), load_synthetic(seed=4)
    assert np.array_equal(a.values, b.values) and np.array_equal(a.adjacency, b.adjacency)
    assert not np.array_equal(a.values, c.values)


def test_synthetic_has_a_daily_cycle() -> None:
    s = load_synthetic(missing_rate=0.0)
    assert _lag_autocorr(s.values[..., 0], s.steps_per_day) > 0.4
    assert _lag_autocorr(s.values[..., 0], s.steps_per_day // 2) < 0.2  # half a day: no match


def test_synthetic_neighbours_correlate_more_than_random_pairs() -> None:
    s = load_synthetic(missing_rate=0.0)
    corr = np.corrcoef(s.values[..., 0].T)
    off = ~np.eye(s.n_nodes, dtype=bool)
    neighbours = (s.adjacency > 0) & off
    assert corr[neighbours].mean() > corr[off & ~neighbours].mean() + 0.05


@pytest.mark.parametrize("rate", [0.0, 0.02, 0.2])
def test_synthetic_missing_fraction(rate: float) -> None:
    s = load_synthetic(missing_rate=rate)
    missing = (s.values == 0).all(axis=-1).mean()
    assert abs(missing - rate) < 0.01
    assert np.all(s.values >= 0)


@pytest.mark.parametrize(
    ("params", "name"),
    [({"n_nodes": 1}, "n_nodes"), ({"n_days": 0}, "n_days"), ({"steps_per_day": 2.5}, "steps_per_day"),
     ({"n_channels": True}, "n_channels"), ({"missing_rate": 1.0}, "missing_rate"),
     ({"missing_rate": -0.1}, "missing_rate"), ({"noise": -1}, "noise"), ({"n_nodes": "40"}, "n_nodes")],
)
def test_synthetic_rejects_bad_params(params: dict, name: str) -> None:
    _raises(name, load_synthetic, **params)


# --------------------------------------------------------------------------- pems


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
    _raises("not found", load_pems, tmp_path / "nope.npz")
    _raises("not found", load_pems, npz, graph=tmp_path / "nope.csv")
    (tmp_path / "x.json").write_text("{}")
    _raises("unsupported file type .json", load_pems, tmp_path / "x.json")
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04garbage")
    _raises("could not read", load_pems, tmp_path / "broken.npz")
    np.savez(tmp_path / "keys.npz", a=data, b=data)
    _raises("none named 'data'", load_pems, tmp_path / "keys.npz")
    np.savez(tmp_path / "rank.npz", data=data[None])
    _raises("rank 4", load_pems, tmp_path / "rank.npz")
    np.savez(tmp_path / "one.npz", data=data[:, :1])
    _raises("fewer than 2 nodes", load_pems, tmp_path / "one.npz")
    _raises("channels", load_pems, npz, channels=[3])
    bad = tmp_path / "bad.csv"
    bad.write_text("from,to,cost\n0,4,10\n")
    _raises("0->4 .* out of range for 4 nodes", load_pems, npz, graph=bad)
    bad.write_text("from,to,cost\n0,1,10\n1,2,-5\n")
    _raises("distance -5 on line 3", load_pems, npz, graph=bad)
    bad.write_text("from,to,cost\n0,1,ten\n")
    _raises("non-numeric cell 'ten' at line 2, column 3", load_pems, npz, graph=bad)
    bad.write_text("from,to\n0,1\n")
    _raises("expected columns from,to,cost", load_pems, npz, graph=bad)


def test_nan_refuse_and_mask(tmp_path: Path, pems_files) -> None:  # type: ignore[no-untyped-def]
    _, _, data = pems_files
    data = data.copy()
    data[3, 1, 0], data[5, 2, 2], data[7, 0, 1] = np.nan, np.inf, np.nan
    path = tmp_path / "nan.npz"
    np.savez(path, data=data)
    err = _raises("3 NaN or infinite values", load_pems, path)
    assert "step 3, node 1, channel 0" in err.message and "nan: mask" in err.hint
    s = load_pems(path, nan="mask")
    assert s.values[3, 1, 0] == 0 and s.values[5, 2, 2] == 0 and np.isfinite(s.values).all()
    assert any("masked 3" in n for n in s.notes)
    _raises("nan must be", load_pems, path, nan="drop")


# --------------------------------------------------------------------------- h5


def test_h5_reorders_columns_to_pickle_order(tmp_path: Path) -> None:
    ids = ["400001", "400017", "400030", "400040"]
    shuffled = [ids[i] for i in (2, 0, 3, 1)]
    t = np.arange(30)[:, None]
    values = np.array([ids.index(c) for c in shuffled])[None, :] + 0.01 * t  # column = its id's rank
    _write_pandas_h5(tmp_path / "speed.h5", values, shuffled, "2012-03-01 00:10", 5, unit="us")
    adj = np.eye(4) + np.diag([0.5, 0.5, 0.5], 1)
    _write_pickle(tmp_path / "adj.pkl", ids, adj)
    s = load_h5(tmp_path / "speed.h5", adjacency=str(tmp_path / "adj.pkl"))
    assert s.values.shape == (30, 4, 1)
    assert np.allclose(s.values[0, :, 0], [0, 1, 2, 3]) and np.allclose(s.adjacency, adj)
    assert s.start_step_of_day == 2 and s.start_day_of_week == 3  # 00:10, a Thursday
    assert any("reordered" in n for n in s.notes)


def test_h5_bad_inputs(tmp_path: Path) -> None:
    ids = ["a1", "a2", "a3"]
    h5 = tmp_path / "x.h5"
    _write_pandas_h5(h5, np.ones((10, 3)), ids, "2020-01-01", 5)
    _write_pickle(tmp_path / "other.pkl", ["a1", "a2", "b9"], np.eye(3))
    err = _raises("sensor ids differ", load_h5, h5, tmp_path / "other.pkl")
    assert "b9" in err.message and "a3" in err.message
    _write_pickle(tmp_path / "adj.pkl", ids, np.eye(3))
    _raises("5 minutes apart, but steps_per_day=96", load_h5, h5, tmp_path / "adj.pkl", steps_per_day=96)
    (tmp_path / "text.h5").write_text("not hdf5")
    _raises("not an HDF5 file", load_h5, tmp_path / "text.h5", tmp_path / "adj.pkl")
    (tmp_path / "bad.pkl").write_bytes(b"garbage")
    _raises("not a DCRNN adj_mx.pkl", load_h5, h5, tmp_path / "bad.pkl")
    np.save(tmp_path / "adj.npy", np.eye(5))
    _raises(r"shape \(5, 5\), the data has 3 nodes", load_h5, h5, tmp_path / "adj.npy")
    with h5py.File(tmp_path / "empty.h5", "w") as f:
        f.create_group("other")
    _raises("no pandas fixed-format frame", load_h5, tmp_path / "empty.h5", tmp_path / "adj.pkl")


class _Payload:
    """Unpickling this would create a file (a stand-in for os.system): it must never run."""

    target = ""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (Path(_Payload.target),))


def test_an_adjacency_pickle_that_would_run_code_is_refused_unread(tmp_path: Path) -> None:
    _Payload.target = str(tmp_path / "ran")
    with (tmp_path / "evil.pkl").open("wb") as f:
        pickle.dump([["a"], {"a": 0}, _Payload()], f, protocol=2)
    err = _raises("refused to unpickle", read_adj_pickle, tmp_path / "evil.pkl")
    assert "Convert it" in (err.hint or "") and not (tmp_path / "ran").exists()
    _write_pickle(tmp_path / "ok.pkl", ["a", "b"], np.eye(2))  # the real layout still reads
    ids, adj = read_adj_pickle(tmp_path / "ok.pkl")
    assert ids == ["a", "b"] and adj.dtype == np.float32 and adj.tolist() == np.eye(2).tolist()


# --------------------------------------------------------------------------- arrays


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


def test_arrays_csv_with_header_and_date_column(tmp_path: Path) -> None:
    csv = tmp_path / "series.csv"
    csv.write_text("time,n1,n2,n3\n2024-01-06 06:00,1,2,3\n2024-01-06 07:00,4,,6\n2024-01-06 08:00,7,8,9\n")
    err = _raises("1 NaN", load_arrays, csv)
    assert "step 1, node 1" in err.message
    s = load_arrays(csv, nan="mask")  # hourly from Saturday 06:00, all read from the dates
    assert s.values.shape == (3, 3, 1) and s.values[1, 1, 0] == 0
    assert (s.steps_per_day, s.start_step_of_day, s.start_day_of_week) == (24, 6, 5)
    _raises("timestamps are 60 minutes apart", load_arrays, csv, nan="mask", interval_minutes=5)


def test_arrays_csv_headerless_and_edge_lists(tmp_path: Path) -> None:
    csv = tmp_path / "plain.csv"
    csv.write_text("1,2,3\n4,5,6\n")
    edges = tmp_path / "edges.csv"
    edges.write_text("0,1,0.5\n1,2,2\n")
    s = load_arrays(csv, edges=edges, interval_minutes=60)
    assert s.values.shape == (2, 3, 1) and s.values[0, 0, 0] == 1
    assert s.adjacency[0, 1] == 0.5 and s.adjacency[1, 2] == 2 and s.adjacency[1, 0] == 0
    edges.write_text("source,from,to\n7,2,0\n")  # named ends; an extra column but none named weight: asks
    _raises("which column holds the edge weight", load_arrays, csv, edges=edges, interval_minutes=60)
    assert load_arrays(csv, edges=edges, interval_minutes=60, weight_kind="unweighted").adjacency[2, 0] == 1
    named = tmp_path / "named.csv"
    named.write_text("a,b,c\n1,2,3\n4,5,6\n")
    edges.write_text("x,y\nc,a\nb,b\n")
    s = load_arrays(named, edges=edges, edges_by_name=True, interval_minutes=60)
    assert s.adjacency[2, 0] == 1 and s.adjacency[1, 1] == 1 and s.adjacency.sum() == 2
    edges.write_text("x,y\nc,zz\n")
    _raises(r"edge ends \['zz'\] are not node names", load_arrays, named, edges=edges, edges_by_name=True,
            interval_minutes=60)
    _raises("needs node names", load_arrays, csv, edges=edges, edges_by_name=True, interval_minutes=60)


def test_arrays_weekly_interval_gives_one_step_per_day(tmp_path: Path) -> None:
    np.save(tmp_path / "w.npy", np.ones((8, 2)))
    assert load_arrays(tmp_path / "w.npy", interval_minutes=10080).steps_per_day == 1


def test_arrays_bad_inputs(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.ones((6, 4)))
    x = tmp_path / "x.npy"
    _raises("not found", load_arrays, tmp_path / "y.npy", interval_minutes=5)
    _raises("sampling interval is unknown", load_arrays, x)
    _raises("does not divide a day", load_arrays, x, interval_minutes=7)
    np.save(tmp_path / "adj.npy", np.eye(3))
    err = _raises(r"adjacency has shape \(3, 3\), the data has 4 nodes", load_arrays, x,
                  adjacency=tmp_path / "adj.npy", interval_minutes=5)
    assert "4x4" in err.hint
    (tmp_path / "e.csv").write_text("from,to\n0,9\n")
    _raises("out of range for 4 nodes", load_arrays, x, edges=tmp_path / "e.csv", interval_minutes=5)
    _raises("both `adjacency` and `edges`", load_arrays, x, adjacency=tmp_path / "adj.npy",
            edges=tmp_path / "e.csv", interval_minutes=5)
    (tmp_path / "t.csv").write_text("1,2\n3,oops\n")
    _raises("non-numeric cell 'oops' at line 2, column 2", load_arrays, tmp_path / "t.csv", interval_minutes=5)
    (tmp_path / "ragged.csv").write_text("1,2\n3,4,5\n")
    _raises("not a well-formed CSV", load_arrays, tmp_path / "ragged.csv", interval_minutes=5)
    (tmp_path / "empty.csv").write_text("")
    _raises("empty", load_arrays, tmp_path / "empty.csv", interval_minutes=5)
    np.save(tmp_path / "one.npy", np.ones((6, 1)))
    _raises("fewer than 2 nodes", load_arrays, tmp_path / "one.npy", interval_minutes=5)
    np.save(tmp_path / "inf.npy", np.array([[1.0, np.inf], [1.0, 2.0]]))
    _raises("1 NaN or infinite", load_arrays, tmp_path / "inf.npy", interval_minutes=5)
    (tmp_path / "irregular.csv").write_text("d,a,b\n2024-01-01,1,2\n2024-01-02,1,2\n2024-01-04,1,2\n")
    _raises("not evenly spaced", load_arrays, tmp_path / "irregular.csv")


# --------------------------------------------------------------------------- real data


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
def test_real_chickenpox_edges_by_name(shared_data: Path) -> None:
    d = shared_data / "CHICKENPOX-HUNGARY"
    edges = d / "hungary_county_edges.csv"  # name_1,name_2,id_1,id_2: no weight column, so say so
    _raises("which column holds the edge weight", load_arrays, d / "hungary_chickenpox.csv", edges=edges,
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


@pytest.mark.realdata
def test_real_metr_la_pickle_reorders_h5(shared_data: Path, tmp_path: Path) -> None:
    pkl = shared_data / "METR-LA" / "adj_mx.pkl"
    with pkl.open("rb") as f:
        ids, _, adj = pickle.load(f, encoding="latin1")
    shuffled = list(np.random.default_rng(0).permutation(ids))
    rank = np.array([ids.index(c) for c in shuffled], dtype=np.float64)
    _write_pandas_h5(tmp_path / "metr-la.h5", rank[None, :] + np.zeros((300, 1)), shuffled, "2012-03-01", 5)
    s = load_h5(tmp_path / "metr-la.h5", adjacency=pkl)
    assert s.values.shape == (300, 207, 1)
    assert np.array_equal(s.values[0, :, 0], np.arange(207)) and np.array_equal(s.adjacency, adj)
    assert s.start_step_of_day == 0 and s.start_day_of_week == 3  # 2012-03-01 was a Thursday


def test_edge_list_needs_two_columns(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.ones((4, 3)))
    (tmp_path / "e.csv").write_text("0\n1\n")
    _raises("at least 2 columns", load_arrays, tmp_path / "x.npy", edges=tmp_path / "e.csv", interval_minutes=5)


# --------------------------------------------------------------------------- a loader that asks (issue 25)


def _series_file(tmp_path: Path, steps: int = 200, nodes: int = 4) -> Path:
    np.save(tmp_path / "x.npy", np.random.default_rng(3).uniform(1, 5, (steps, nodes)))
    return tmp_path / "x.npy"


def test_arrays_named_distance_column_becomes_the_pems_gaussian_kernel(tmp_path: Path, pems_files) -> None:  # type: ignore[no-untyped-def]
    x = _series_file(tmp_path)
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


def test_arrays_unknown_weight_column_is_refused_in_one_line_listing_the_columns(tmp_path: Path) -> None:
    x = _series_file(tmp_path)
    (tmp_path / "e.csv").write_text("from,to,distance\n0,1,3\n")
    err = _raises("no column 'length'; its columns are from, to, distance", load_arrays, x,
                  edges=tmp_path / "e.csv", weight_column="length", interval_minutes=15)
    assert "\n" not in err.one_line()
    # unnamed: none is called weight, so it asks instead of setting every weight to 1
    _raises("which column holds the edge weight.*distance", load_arrays, x, edges=tmp_path / "e.csv",
            interval_minutes=15)
    (tmp_path / "plain.csv").write_text("0,1,3\n")
    _raises("needs a header row", load_arrays, x, edges=tmp_path / "plain.csv", weight_column="d", interval_minutes=15)
    _raises("weight_kind must be one of", load_arrays, x, edges=tmp_path / "e.csv", weight_kind="length",
            interval_minutes=15)
    _raises("apply to an edge list", load_arrays, x, weight_kind="distance", interval_minutes=15)
    _raises("kernel_threshold must be", load_arrays, x, edges=tmp_path / "e.csv", weight_column="distance",
            kernel_threshold=1.5, interval_minutes=15)
    _raises("self_loops must be true or false", load_arrays, x, interval_minutes=15, self_loops="yes")


def test_the_calendar_features_follow_the_start_given_in_the_recipe(tmp_path: Path) -> None:
    from sttune.data.protocol import build_data, time_features
    from sttune.recipe.settings import Protocol

    x = _series_file(tmp_path)
    s = load_arrays(x, interval_minutes=15, start="2024-03-09 23:30")  # a Saturday, 2 steps before midnight
    assert (s.steps_per_day, s.start_step_of_day, s.start_day_of_week) == (96, 94, 5)
    tod, dow = time_features(s)
    assert tod[:3].tolist() == pytest.approx([94 / 96, 95 / 96, 0.0]) and dow[:3].tolist() == [5, 5, 6]
    data = build_data(s, Protocol(in_len=4, out_len=2))
    first = data.train.gather(torch.tensor([0, 1])).x  # [B, in_len, N, F]: ..., time of day, day of week
    assert first[0, :, 0, -2].tolist() == pytest.approx([94 / 96, 95 / 96, 0.0, 1 / 96])
    assert first[0, :, 0, -1].tolist() == [5, 5, 6, 6] and first[1, 0, 0, -1] == 5
    assert not any("start time is unknown" in n for n in s.notes)
    unknown = load_arrays(x, interval_minutes=15)  # no start: Monday 00:00, and a note says so
    assert (unknown.start_step_of_day, unknown.start_day_of_week) == (0, 0)
    assert any("start time is unknown" in n for n in unknown.notes)
    assert load_pems(_pems_copy(tmp_path), start="2016-07-01 06:00").start_day_of_week == 4  # a Friday
    _raises("both `start` and `start_day_of_week`", load_arrays, x, interval_minutes=15, start="2024-03-09",
            start_day_of_week=1)
    _raises("not a date and time", load_arrays, x, interval_minutes=15, start="next tuesday")
    _raises("in quotes", load_arrays, x, interval_minutes=15, start=20240309)
    (tmp_path / "dated.csv").write_text("t,a,b\n2024-01-01 00:00,1,2\n2024-01-01 01:00,3,4\n")
    _raises("date column already sets the start", load_arrays, tmp_path / "dated.csv", start="2024-01-02")


def _pems_copy(tmp_path: Path) -> Path:
    np.savez(tmp_path / "p.npz", data=np.random.default_rng(0).uniform(1, 9, (30, 3, 3)))
    return tmp_path / "p.npz"


def test_node_ids_from_every_loader(tmp_path: Path) -> None:
    assert load_synthetic(n_nodes=5).node_ids == ("0", "1", "2", "3", "4")
    assert load_pems(_pems_copy(tmp_path)).node_ids == ("0", "1", "2")
    # h5: the pickle's sensor order with a pickle, the h5 columns with a dense matrix
    ids, shuffled = ["s1", "s2", "s3"], ["s3", "s1", "s2"]
    _write_pandas_h5(tmp_path / "x.h5", np.arange(30.0).reshape(10, 3) + 1, shuffled, "2020-01-01", 5)
    _write_pickle(tmp_path / "adj.pkl", ids, np.eye(3))
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
    _raises("2 ids for 3 nodes", load_arrays, tmp_path / "v.npy", interval_minutes=5, ids=tmp_path / "ids.txt")
    (tmp_path / "ids.txt").write_text("a,b,a\n")
    _raises("'a' is listed more than once", load_arrays, tmp_path / "v.npy", interval_minutes=5, ids=tmp_path / "ids.txt")
    (tmp_path / "ids.txt").write_text("c,b,a\n")
    _raises("differ from the data's own node names", load_arrays, tmp_path / "h.csv", interval_minutes=5,
            ids=tmp_path / "ids.txt")
    # ids name the ends of an edge list too
    (tmp_path / "e.csv").write_text("from,to\nc,a\n")
    s = load_arrays(tmp_path / "v.npy", interval_minutes=5, ids=tmp_path / "ids.txt", edges=tmp_path / "e.csv",
                    edges_by_name=True)
    assert s.adjacency[0, 2] == 1 and s.adjacency.sum() == 1


def test_check_series_refuses_node_ids_of_the_wrong_length() -> None:
    from sttune.data.protocol import build_data

    s = load_synthetic(n_nodes=4, n_days=2, steps_per_day=48)
    s.node_ids = ("a", "b")
    _raises("dataset 'synthetic': 2 node ids for 4 nodes", build_data, s)
    s.node_ids = ()
    build_data(s)


def test_check_series_refuses_a_series_without_one_real_reading() -> None:
    from sttune.data.protocol import build_data
    from sttune.recipe.settings import Protocol

    s = load_synthetic(n_nodes=4, n_days=2, steps_per_day=48)
    s.values = np.zeros_like(s.values)  # a plugin's all-zero series: every metric would be 0.0
    _raises("dataset 'synthetic': every reading is 0 or missing .missing: zero.", build_data, s)
    s.values = np.full_like(s.values, np.nan)
    _raises("every reading is 0 or missing .missing: nan.", build_data, s, Protocol(missing="nan"))
    s.values = np.ones_like(s.values)
    s.missing = np.ones(s.values.shape, dtype=bool)  # all masked by the loader
    _raises("every reading is 0 or missing", build_data, s, Protocol(missing="nan"))
    s.missing[-1, -1, 0] = False  # one real reading, in the last block of steps, is enough to go on
    build_data(s, Protocol(missing="nan"))


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
    _raises("out of range for 3 nodes", load_arrays, tmp_path / "bad.json", interval_minutes=60)
    (tmp_path / "bad.json").write_text(json.dumps({"edges": [[0, 1]], "weights": [1, 2], "FX": fx.tolist()}))
    _raises("2 weights for 1 edges", load_arrays, tmp_path / "bad.json", interval_minutes=60)
    (tmp_path / "bad.json").write_text(json.dumps({"edges": [[0, 1]], "features": []}))
    _raises("no series found", load_arrays, tmp_path / "bad.json", interval_minutes=60)
    (tmp_path / "bad.json").write_text("{not json")
    _raises("not valid JSON", load_arrays, tmp_path / "bad.json", interval_minutes=60)


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


def test_a_recipe_reads_the_ids_file_relative_to_its_folder(tmp_path: Path) -> None:
    from sttune.recipe.spec import load_recipe

    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "recipe.yaml").write_text(yaml.safe_dump({"name": "ids", "datasets": [
        {"name": "arrays", "params": {"path": "x.npy", "ids": "ids.txt", "interval_minutes": 5}}],
        "model": {"name": "stid"}}))
    params = load_recipe(folder / "recipe.yaml").recipe.datasets[0].params
    assert params["ids"] == str(folder / "ids.txt") and params["path"] == str(folder / "x.npy")
