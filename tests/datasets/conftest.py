"""Data files the dataset loader tests read, written into the test's ``tmp_path``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture
def pems_files(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    """A (20, 4, 3) PEMS npz and a CRLF distance CSV with one duplicate row."""
    data = np.random.default_rng(0).uniform(1, 100, (20, 4, 3))
    npz = tmp_path / "PEMSXX.npz"
    np.savez(npz, data=data)
    csv = tmp_path / "dist.csv"
    csv.write_bytes(b"from,to,cost\r\n0,1,100.0\r\n1,2,200.5\r\n2,3,50\r\n0,1,100.0\r\n")
    return npz, csv, data


@pytest.fixture
def series_file(tmp_path: Path) -> Path:
    """``x.npy``: 200 steps of 4 nodes, uniform in [1, 5)."""
    np.save(tmp_path / "x.npy", np.random.default_rng(3).uniform(1, 5, (200, 4)))
    return tmp_path / "x.npy"


@pytest.fixture
def pems_copy(tmp_path: Path) -> Path:
    """``p.npz``: a (30, 3, 3) PEMS array, uniform in [1, 9)."""
    np.savez(tmp_path / "p.npz", data=np.random.default_rng(0).uniform(1, 9, (30, 3, 3)))
    return tmp_path / "p.npz"
