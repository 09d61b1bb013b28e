"""sttune.datasets.synthetic: the seeded road-like series (shape, seed, daily cycle, graph, missing readings)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import raises_data_error
from sttune.datasets.synthetic import load_synthetic


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
    raises_data_error(name, load_synthetic, **params)
