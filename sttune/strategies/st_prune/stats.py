"""Fixed per-window statistics computed once in ``prepare`` (all [ours]).

- volatility: mean over nodes of the std of the first differences of the 24-step
  input+target sequence of the target channel, in z-score units, missing readings skipped;
- stationarity proxies for the bins: the time of day of the first target step, or the level
  shift ``|mean(target) - mean(input)| / std(input)`` averaged over nodes.

The input part is the normalised channel ``channel`` of ``x``; the raw targets ``y`` are put on
the same scale with the mean/std of the observed training targets (pass one), so the join
between the last input step and the first target step is a meaningful difference.
All of it is vectorised over chunks of windows; nothing loops over single windows.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sttune.api import WindowSource

CHUNK = 512  # windows gathered at once: bounds memory on large graphs
MIN_STD = 0.1  # floor of std(input) in the shift proxy, in z-score units (calm night windows)
VOL_FLOOR = 0.1  # volatility floor as a fraction of the median volatility


def _chunks(train: WindowSource, device: torch.device):
    for index in torch.split(torch.arange(len(train), device=device), CHUNK):
        yield train.gather(index)


def target_scale(train: WindowSource, device: torch.device) -> tuple[float, float]:
    """Mean and std of the observed (non-zero) raw targets over all training windows."""
    total = torch.zeros(3, dtype=torch.float64, device=device)
    for batch in _chunks(train, device):
        y = batch.y.double()
        seen = y != 0
        total += torch.stack([seen.sum(), y.sum(), (y * y).sum()]).double()
    count = max(float(total[0]), 1.0)
    mean = float(total[1]) / count
    var = max(float(total[2]) / count - mean * mean, 0.0)
    return mean, (var**0.5 if var > 0 else 1.0)


def _masked_mean_std(z: Tensor, m: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Mean, std and count over dim 1 of z where m holds. z, m: [B, T, N] → three [B, N]."""
    w = m.float()
    count = w.sum(1)
    mean = (z * w).sum(1) / count.clamp(min=1)
    var = ((z - mean[:, None]) ** 2 * w).sum(1) / count.clamp(min=1)
    return mean, var.sqrt(), count


def _node_average(value: Tensor, ok: Tensor) -> Tensor:
    """Mean over nodes where ok holds: [B, N] → [B] (0 where no node is ok)."""
    w = ok.float()
    return (value * w).sum(1) / w.sum(1).clamp(min=1)


def _chunk_stats(z_in: Tensor, m_in: Tensor, z_out: Tensor, m_out: Tensor) -> tuple[Tensor, Tensor]:
    """Volatility and level shift of one chunk. z_*, m_*: [B, T_*, N] → two [B]."""
    z, m = torch.cat([z_in, z_out], 1), torch.cat([m_in, m_out], 1)
    diff, valid = z[:, 1:] - z[:, :-1], m[:, 1:] & m[:, :-1]
    _, diff_std, n_diff = _masked_mean_std(diff, valid)
    volatility = _node_average(diff_std, n_diff >= 2)
    mean_in, std_in, n_in = _masked_mean_std(z_in, m_in)
    mean_out, _, n_out = _masked_mean_std(z_out, m_out)
    shift = (mean_out - mean_in).abs() / std_in.clamp(min=MIN_STD)
    return volatility, _node_average(shift, (n_in >= 2) & (n_out >= 1))


def window_stats(
    train: WindowSource, channel: int, n_channels: int, steps_per_day: int, device: torch.device
) -> dict[str, Tensor]:
    """Per-window ``volatility``, ``shift`` and ``tod`` (first target step), each [windows]."""
    mean, std = target_scale(train, device)
    vols, shifts, tods = [], [], []
    for batch in _chunks(train, device):
        z_in = batch.x[..., channel]  # [B, in_len, N] normalised; missing readings are 0
        z_out = (batch.y - mean) / std  # [B, out_len, N]
        vol, shift = _chunk_stats(z_in, z_in != 0, z_out, batch.y != 0)
        vols.append(vol)
        shifts.append(shift)
        last_tod = batch.x[:, -1, 0, n_channels]  # time of day of the last input step
        tods.append(torch.remainder(last_tod + 1.0 / steps_per_day, 1.0))
    volatility = torch.cat(vols)
    positive = volatility[volatility > 0]
    floor = VOL_FLOOR * float(positive.median()) if len(positive) else 1.0
    return {"volatility": volatility.clamp(min=floor), "shift": torch.cat(shifts), "tod": torch.cat(tods)}


def bin_ids(stats: dict[str, Tensor], bins: int, bin_by: str) -> Tensor:
    """Stationarity bin of every window, [windows] long in 0..bins-1.

    tod: equal-width bins of the day; shift: equal-frequency (quantile) bins of the shift.
    """
    if bin_by == "tod":
        return (stats["tod"] * bins).long().clamp(0, bins - 1)
    shift = stats["shift"]
    edges = torch.quantile(shift.double(), torch.linspace(0, 1, bins + 1, dtype=torch.float64, device=shift.device)[1:-1])
    return torch.bucketize(shift.double(), edges)
