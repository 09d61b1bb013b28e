"""DynST's pure mask arithmetic: the sparsity schedule, top-k, and one drop-regrow swap.

Kept apart from the strategy so every formula is unit-testable without a trainer.
All counts are rounded half up (``floor(x + 0.5)``), never with Python's banker's rounding,
so the schedule is the same on every platform.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def end_epoch(end_frac: float, n_epochs: int, warmup: int) -> int:
    """t_end = round(end_frac · E), at least ``warmup + 1`` so the ramp has a length."""
    return max(round_half_up(end_frac * n_epochs), warmup + 1)


def sparsity_at(epoch: int, s_final: float, warmup: int, t_end: int) -> float:
    """The cubic schedule: the sparsity in force during ``epoch`` (0-based).

    s_t = 0 before t0 = ``warmup``; s_f·(1 - (1 - (t - t0)/(t_end - t0))³) for
    t0 ≤ t ≤ t_end; s_f afterwards (Zhu & Gupta's gradual-pruning schedule).
    """
    if epoch < warmup:
        return 0.0
    if epoch >= t_end:
        return float(s_final)
    frac = (epoch - warmup) / (t_end - warmup)
    return float(s_final) * (1.0 - (1.0 - frac) ** 3)


def keep_count(n_nodes: int, sparsity: float) -> int:
    """Sensors kept at ``sparsity``: round((1 - s)·N), at least one."""
    return min(n_nodes, max(1, round_half_up((1.0 - sparsity) * n_nodes)))


def drop_fraction(epoch: int, alpha0: float, t_end: int) -> float:
    """α_t = α0·(1 + cos(π t / t_end))/2: cosine-annealed share of active sensors swapped."""
    return alpha0 * (1.0 + math.cos(math.pi * min(epoch, t_end) / t_end)) / 2.0


def top_k(scores: Tensor, k: int) -> Tensor:
    """Indices [k] of the ``k`` largest scores; ties go to the lower index (stable sort)."""
    order = torch.sort(scores, descending=True, stable=True).indices
    return order[:k]


def bottom_k(scores: Tensor, k: int) -> Tensor:
    """Indices [k] of the ``k`` smallest scores; ties go to the lower index (stable sort)."""
    order = torch.sort(scores, descending=False, stable=True).indices
    return order[:k]


def prune_to(active: Tensor, scores: Tensor, k: int) -> Tensor:
    """Keep the ``k`` highest-scoring of the active sensors.

    active: [N] bool; scores: [N] → new active [N] bool with exactly ``k`` True.
    """
    idx = torch.nonzero(active).squeeze(1)
    if k >= len(idx):
        return active.clone()
    kept = idx[top_k(scores[idx], k)]
    out = torch.zeros_like(active)
    out[kept] = True
    return out


def drop_regrow(
    active: Tensor, scores: Tensor, n_swap: int, growth: Tensor | None, generator: torch.Generator
) -> tuple[Tensor, Tensor, Tensor]:
    """One drop-regrow cycle: swap ``n_swap`` sensors, so the active count is unchanged.

    active: [N] bool; scores: [N] (drop the smallest among the active); growth: [N] regrowth
    criterion (regrow the largest among the inactive: RigL) or None (regrow at random: SET,
    drawn from the CPU ``generator``). Only sensors inactive *before* the drop can regrow,
    so a just-dropped sensor never comes straight back.
    Returns (new active [N] bool, dropped [n] long, regrown [n] long), n = the swap size,
    which is ``n_swap`` capped by the number of inactive sensors.
    """
    on, off = torch.nonzero(active).squeeze(1), torch.nonzero(~active).squeeze(1)
    n = max(0, min(n_swap, len(on) - 1, len(off)))  # keep one active; can't regrow more than off
    if n == 0:
        empty = torch.zeros(0, dtype=torch.long, device=active.device)
        return active.clone(), empty, empty
    dropped = on[bottom_k(scores[on], n)]
    if growth is None:
        pick = torch.randperm(len(off), generator=generator)[:n].to(active.device)
    else:
        pick = top_k(growth[off], n)
    regrown = off[pick]
    out = active.clone()
    out[dropped] = False
    out[regrown] = True
    return out, torch.sort(dropped).values, torch.sort(regrown).values
