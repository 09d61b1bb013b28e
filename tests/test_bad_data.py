"""Bad data files: each is refused by the CLI in one line that names the file, with exit 2.

The data-file rows of issue #24 (all-zero or all-missing series, NaN / negative / infinite
adjacency weights, empty distance cells, complex arrays, malformed h5 and pickles, corrupted
npz streams, absurd npy headers, values too large for float32) and the generic loader's
questions (an unknown weight column). A bad file never blames the dataset plugin, and a
line never advises `nan: mask` when it is already set. docs/errors.md lists the lines
(regenerate them with ``python tests/test_bad_data.py``).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from helpers import write_pandas_h5
from sttune.cli import app

runner = CliRunner()
SERIES = np.random.default_rng(0).uniform(1, 9, (120, 4))


def _npy(array: np.ndarray) -> Callable[[Path], None]:
    return lambda path: np.save(path, array)


def _pickle(obj: object) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with path.open("wb") as f:
            pickle.dump(obj, f, protocol=2)
    return write


def _adj_with(value: float) -> np.ndarray:
    adj = np.eye(4)
    adj[1, 2] = value
    return adj


def _corrupt_npz(path: Path) -> None:
    np.savez_compressed(path, data=SERIES)
    raw = bytearray(path.read_bytes())
    raw[200:208] = b"\xff" * 8  # inside the deflated stream of data.npy
    path.write_bytes(bytes(raw))


def _flipped_npz(path: Path) -> None:
    # stored, not deflated, and long enough that the header reads fine: the CRC check fails at the end
    np.savez(path, data=np.random.default_rng(1).uniform(1, 9, (20_000, 4)))
    raw = bytearray(path.read_bytes())
    raw[300_000] ^= 0xFF
    path.write_bytes(bytes(raw))


def _absurd_npy(path: Path) -> None:
    with path.open("wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": (10**9, 10**9)})
        f.write(b"\0" * 64)


def _h5_group_as_index(path: Path) -> None:
    with h5py.File(path, "w") as f:
        g = f.create_group("df")
        g.create_dataset("axis0", data=[b"a", b"b"])
        g.create_group("axis1")  # an index must be an array of timestamps
        g.create_dataset("block0_values", data=np.ones((3, 2)))


def _h5_array_as_frame(path: Path) -> None:
    with h5py.File(path, "w") as f:
        f.create_dataset("df", data=np.ones(3))


def _write(text: str) -> Callable[[Path], None]:
    return lambda path: path.write_text(text)


ARRAYS = {"name": "arrays", "params": {"path": "TMP/FILE", "interval_minutes": 60}}
GRAPH = {"name": "arrays", "params": {"path": "TMP/series.npy", "interval_minutes": 60, "adjacency": "TMP/FILE"}}
EDGES = {"name": "arrays", "params": {"path": "TMP/series.npy", "interval_minutes": 60, "edges": "TMP/FILE"}}
PEMS = {"name": "pems", "params": {"path": "TMP/pems.npz", "graph": "TMP/FILE"}}
H5 = {"name": "h5", "params": {"path": "TMP/FILE", "adjacency": "TMP/adj.pkl"}}


def _with(block: dict, **params: object) -> dict:
    return {"name": block["name"], "params": {**block["params"], **params}}


# (id, file name, how to write it, dataset block, expected fragment of the line)
CASES = [
    ("all-zero-series", "zeros.npy", _npy(np.zeros((120, 4))), ARRAYS, "every reading is 0 or missing"),
    ("all-missing-series", "nans.npy", _npy(np.full((120, 4), np.nan)), _with(ARRAYS, nan="mask"),
     "every reading is 0 or missing"),
    ("complex-series", "complex.npy", _npy(SERIES * (1 + 1j)), ARRAYS, "is complex-valued (complex128)"),
    ("too-large-for-float32", "huge.npy", _npy(np.where(SERIES > 8.9, 1e300, SERIES)), _with(ARRAYS, nan="mask"),
     "too large for float32"),
    ("corrupted-npz-stream", "broken.npz", _corrupt_npz, ARRAYS, "Re-save it with numpy.save"),
    ("npz-crc-mismatch", "flipped.npz", _flipped_npz, ARRAYS, "Bad CRC-32"),
    ("absurd-npy-header", "absurd.npy", _absurd_npy, ARRAYS, "header says shape (1000000000, 1000000000)"),
    ("nan-weight-in-pickle", "nan.pkl", _pickle([["a", "b", "c", "d"], {}, _adj_with(np.nan)]), GRAPH,
     "adjacency weight nan at row 1, column 2"),
    ("negative-weight-in-pickle", "neg.pkl", _pickle([["a", "b", "c", "d"], {}, _adj_with(-1.0)]), GRAPH,
     "adjacency weight -1 at row 1, column 2"),
    ("inf-weight-in-pickle", "inf.pkl", _pickle([["a", "b", "c", "d"], {}, _adj_with(np.inf)]), GRAPH,
     "adjacency weight inf at row 1, column 2"),
    ("nan-weight-in-metr-la-pickle", "nan.pkl", _pickle([["s1", "s2", "s3", "s4"], {}, _adj_with(np.nan)]),
     _with(H5, path="TMP/speed.h5", adjacency="TMP/FILE"), "adjacency weight nan at row 1, column 2"),
    ("nan-weight-in-matrix", "adj.csv", _write("1,0,0,0\n0,1,nan,0\n0,0,1,0\n0,0,0,1\n"), GRAPH,
     "adjacency weight nan at row 1, column 2"),
    ("pickle-not-dcrnn-layout", "dict.pkl", _pickle({"adj": [[1.0]]}), GRAPH, "not a DCRNN adj_mx.pkl"),
    ("pickle-wrong-shape", "shape.pkl", _pickle([["a", "b"], {}, np.eye(3)]), GRAPH,
     "adjacency has shape (3, 3) for 2 sensor ids"),
    ("h5-index-is-a-group", "group.h5", _h5_group_as_index, H5, "not a pandas fixed-format frame"),
    ("h5-frame-is-an-array", "array.h5", _h5_array_as_frame, H5, "no pandas fixed-format frame under key 'df'"),
    ("empty-distance-cell", "dist.csv", _write("from,to,cost\n0,1,10\n1,2,\n"), PEMS,
     "distance empty or NaN on line 3"),
    ("empty-edge-end", "dist.csv", _write("from,to,cost\n0,1,10\n,2,5\n"), PEMS, "empty edge end on line 3"),
    ("unknown-weight-column", "edges.csv", _write("from,to,distance\n0,1,3\n"), _with(EDGES, weight_column="length"),
     "no column 'length'; its columns are from, to, distance"),
    ("unnamed-weight-column", "edges.csv", _write("from,to,distance\n0,1,3\n"), EDGES,
     "which column holds the edge weight"),
    ("ids-file-wrong-count", "ids.txt", _write("a\nb\n"), _with(ARRAYS, path="TMP/series.npy", ids="TMP/FILE"),
     "2 ids for 4 nodes"),
]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    np.save(tmp_path / "series.npy", SERIES)
    np.savez(tmp_path / "pems.npz", data=SERIES[:, :, None].repeat(3, axis=2))
    write_pandas_h5(tmp_path / "speed.h5", SERIES, ["s1", "s2", "s3", "s4"], "2012-03-01", 5)
    with (tmp_path / "adj.pkl").open("wb") as f:
        pickle.dump([["a", "b"], {}, np.eye(2)], f, protocol=2)
    return tmp_path


def run_case(folder: Path, name: str, write: Callable[[Path], None], block: dict):  # type: ignore[no-untyped-def]
    write(folder / name)
    text = yaml.safe_dump({
        "name": "bad-data",
        "datasets": [block],
        "model": {"name": "stid", "params": {"embed_dim": 8, "n_layers": 1}},
        "train": {"epochs": 1, "device": "cpu"},
        "strategies": [{"name": "st_prune"}],
        "search": {"trials": 3, "baseline_ladder": []},
    }).replace("TMP", str(folder)).replace("FILE", name)
    (folder / "recipe.yaml").write_text(text)
    return runner.invoke(app, ["search", str(folder / "recipe.yaml"), "--run-dir", str(folder / "run")])


@pytest.mark.parametrize(("name", "write", "block", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_data_file_gives_one_line_naming_the_file(folder: Path, name, write, block, expected) -> None:  # type: ignore[no-untyped-def]
    result = run_case(folder, name, write, block)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    line = lines[0]
    assert line.startswith("error: ") and expected in line, line
    assert str(folder / name) in line, line  # the file, by its path
    assert "plugin" not in line, line  # a bad file is not the plugin's failure
    if block["params"].get("nan") == "mask":
        assert "nan: mask" not in line, line  # never advise what is already set
    assert not (folder / "run" / "study.journal").exists()  # nothing was started


def test_catalogue_ids_are_unique() -> None:
    assert len({c[0] for c in CASES}) == len(CASES) >= 21


if __name__ == "__main__":  # the rows of docs/errors.md's data-file section
    import tempfile

    print("| data file | line printed (exit 2) |\n|---|---|")
    for case_id, name, write, block, _ in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp)
            folder.__wrapped__(base)  # type: ignore[attr-defined]
            out = run_case(base, name, write, block).output.strip().replace(tmp, "/tmp/x").replace("|", "\\|")
            print(f"| {case_id} | `{out}` |")
