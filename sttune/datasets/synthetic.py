"""A seeded, road-like synthetic traffic series: the ``synthetic`` dataset plugin.

The generator is meant for smoke tests and demos, so it is small by default and fast
(vectorised numpy), yet has the structure forecasting models exploit:

* a connected sensor graph: k nearest neighbours of random 2-D positions plus a minimum
  spanning tree (so no node is isolated), Gaussian-kernel weights, self loops of 1;
* per-node daily cycles (morning and evening rush hours whose timing drifts smoothly
  across space) and a weekly cycle (weekends have a weak late-morning peak instead);
* random incidents (congestion shocks that decay over about an hour);
* diffusion along the graph with a lag, so congestion spreads to neighbours over time
  and neighbouring sensors are more correlated than random pairs;
* noise and a fraction of missing readings stored as exactly 0.

Channel 0 is a speed in mph-like units (about 20-70); further channels are flow and
occupancy derived from the same congestion field, then numbered extra channels.
"""

from __future__ import annotations

import numpy as np

from sttune.api import STSeries
from sttune.errors import DataError

_HINT = "Fix the value under `params:` of the synthetic dataset in the recipe."


def load_synthetic(
    n_nodes: int = 40,
    n_days: int = 10,
    steps_per_day: int = 96,
    n_channels: int = 1,
    missing_rate: float = 0.02,
    noise: float = 0.1,
    seed: int = 0,
) -> STSeries:
    """A synthetic series of ``n_days * steps_per_day`` steps on ``n_nodes`` sensors.

    values [T, N, C] float32, adjacency [N, N] float32; starts Monday 00:00; node ids "0".."N-1".
    ``noise`` scales Gaussian noise (0.1: about 3 units of speed); ``missing_rate`` the
    fraction of (step, node) readings set to 0 in every channel.
    """
    _check_int("n_nodes", n_nodes, 2)
    _check_int("n_days", n_days, 1)
    _check_int("steps_per_day", steps_per_day, 1)
    _check_int("n_channels", n_channels, 1)
    _check_int("seed", seed, 0)
    _check_float("missing_rate", missing_rate, 0.0, 1.0, hi_open=True)
    _check_float("noise", noise, 0.0, float("inf"))

    rng = np.random.default_rng(seed)
    n_steps = n_days * steps_per_day
    pos = rng.random((n_nodes, 2))
    adj = road_graph(pos)
    demand = _demand(pos, n_steps, steps_per_day, rng)  # [T, N] in 0..1
    # Most noise goes in before diffusion (local disturbances neighbours share), a little
    # after it (sensor noise of each detector on its own).
    local = noise * 0.6 * rng.standard_normal(demand.shape)
    cong = _diffuse(demand + _incidents(n_steps, n_nodes, steps_per_day, rng) + local, adj, steps_per_day)
    cong = np.clip(cong + noise * 0.2 * rng.standard_normal(cong.shape), 0.0, 0.75)

    free_flow = rng.uniform(55.0, 70.0, n_nodes)
    speed = free_flow * (1.0 - cong)  # 55..70 free flow, down to ~14-20 in jams
    channels = [speed]
    if n_channels > 1:
        capacity = rng.uniform(200.0, 500.0, n_nodes)  # vehicles per step at capacity
        channels.append(capacity * (0.15 + 0.85 * demand) * (1.0 - 0.5 * cong))
    if n_channels > 2:
        channels.append(0.02 + 0.4 * cong)
    for c in range(3, n_channels):
        channels.append(speed * rng.uniform(0.5, 1.5, n_nodes) + c)
    values = np.stack(channels, axis=-1).astype(np.float32)

    missing = rng.random((n_steps, n_nodes)) < missing_rate
    values[missing] = 0.0
    names = ("speed", "flow", "occupancy") + tuple(f"channel{c}" for c in range(3, n_channels))
    return STSeries(
        name="synthetic",
        values=values,
        adjacency=adj,
        steps_per_day=steps_per_day,
        start_step_of_day=0,
        start_day_of_week=0,
        channel_names=names[:n_channels],
        notes=(f"synthetic: seed {seed}, {int(missing.sum())} readings set missing (0)",),
        node_ids=tuple(str(i) for i in range(n_nodes)),
    )


def road_graph(pos: np.ndarray, k: int = 4) -> np.ndarray:
    """[N, N] float32 Gaussian-kernel weights of a connected kNN + spanning-tree graph.

    pos: [N, 2] positions. The graph is symmetric with self loops of 1.
    """
    n = pos.shape[0]
    dist = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)
    edges = np.zeros((n, n), dtype=bool)
    near = np.argsort(dist, axis=1)[:, 1 : min(k, n - 1) + 1]
    edges[np.repeat(np.arange(n), near.shape[1]), near.ravel()] = True
    edges |= _spanning_tree(dist)  # kNN alone can leave separate clusters
    edges |= edges.T
    sigma = dist[edges].std() or 1.0
    adj = np.where(edges, np.exp(-((dist / sigma) ** 2)), 0.0)
    np.fill_diagonal(adj, 1.0)
    return adj.astype(np.float32)


def _spanning_tree(dist: np.ndarray) -> np.ndarray:
    """[N, N] bool edges of a minimum spanning tree of the dense distances (Prim, O(N^2))."""
    n = dist.shape[0]
    tree = np.zeros((n, n), dtype=bool)
    in_tree = np.zeros(n, dtype=bool)
    in_tree[0] = True
    best, parent = dist[0].copy(), np.zeros(n, dtype=int)
    for _ in range(n - 1):
        nxt = int(np.argmin(np.where(in_tree, np.inf, best)))
        tree[nxt, parent[nxt]] = True
        in_tree[nxt] = True
        closer = dist[nxt] < best
        best, parent = np.where(closer, dist[nxt], best), np.where(closer, nxt, parent)
    return tree


def _demand(pos: np.ndarray, n_steps: int, steps_per_day: int, rng: np.random.Generator) -> np.ndarray:
    """[T, N] rush-hour congestion in 0..1; peak times drift smoothly across space."""
    t = np.arange(n_steps)
    hour = (t % steps_per_day) / steps_per_day * 24.0
    weekend = ((t // steps_per_day) % 7 >= 5)[:, None]
    # The morning wave reaches sensors later further east (pos x), the evening one later north.
    morning = 7.5 + 1.5 * pos[:, 0] + 0.2 * rng.standard_normal(pos.shape[0])
    evening = 16.5 + 1.5 * pos[:, 1] + 0.2 * rng.standard_normal(pos.shape[0])
    # Rush-hour strength also varies smoothly in space (busy corridors), plus jitter.
    amp_m = 0.3 + 0.3 * pos[:, 1] + 0.05 * rng.standard_normal(pos.shape[0])
    amp_e = 0.3 + 0.3 * pos[:, 0] + 0.05 * rng.standard_normal(pos.shape[0])

    def bump(centre: np.ndarray, width: float) -> np.ndarray:
        return np.exp(-0.5 * ((hour[:, None] - centre[None, :]) / width) ** 2)

    weekday = amp_m * bump(morning, 1.0) + amp_e * bump(evening, 1.5)
    saturday = 0.35 * (amp_m + amp_e) / 2 * bump(morning + 4.0, 2.5)
    return np.where(weekend, saturday, weekday)


def _incidents(n_steps: int, n_nodes: int, steps_per_day: int, rng: np.random.Generator) -> np.ndarray:
    """[T, N] congestion shocks: about one per node every three days, decaying over ~1 h."""
    shocks = (rng.random((n_steps, n_nodes)) < 1.0 / (3 * steps_per_day)) * rng.uniform(
        0.2, 0.5, (n_steps, n_nodes)
    )
    decay_steps = max(1, steps_per_day // 24)
    out = np.zeros_like(shocks)
    for lag in range(3 * decay_steps):  # a short FIR filter: a handful of shifted adds
        out[lag:] += shocks[: n_steps - lag] * np.exp(-lag / decay_steps)
    return out


def _diffuse(x: np.ndarray, adj: np.ndarray, steps_per_day: int, hops: int = 3) -> np.ndarray:
    """[T, N] x spread over the graph: hop k arrives k lags later, with weight 0.5^k."""
    off = adj - np.diag(np.diag(adj))
    p = off / np.maximum(off.sum(axis=1, keepdims=True), 1e-12)  # row-normalised, no self loops
    lag = max(1, steps_per_day // 96)  # about 15 minutes per hop
    out, spread, total = x.copy(), x, 1.0
    for k in range(1, hops + 1):
        spread = spread @ p.T  # neighbours' average, one more hop away
        shift = min(k * lag, x.shape[0])
        out[shift:] += 0.5**k * spread[: x.shape[0] - shift]
        total += 0.5**k
    return out / total


def _check_int(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise DataError(f"synthetic dataset: {name} must be an integer >= {low}, got {value!r}", _HINT)


def _check_float(name: str, value: object, lo: float, hi: float, hi_open: bool = False) -> None:
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
    if ok:
        v = float(value)  # type: ignore[arg-type]
        ok = lo <= v and (v < hi if hi_open else v <= hi) and np.isfinite(v)
    if not ok:
        bound = f"in [{lo}, {hi})" if hi_open else f">= {lo}"
        raise DataError(f"synthetic dataset: {name} must be a number {bound}, got {value!r}", _HINT)
