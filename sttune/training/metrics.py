"""Masked forecasting metrics in raw units; zero targets are missing and excluded.

Under ``protocol.missing: nan`` a real 0 target arrives as :data:`~sttune.api.REAL_ZERO`: it
counts in MAE and RMSE like a 0, and is left out of MAPE (undefined at 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from sttune.api import REAL_ZERO

REPORT_HORIZONS = (3, 6, 12)


def per_sample_masked_mae(pred: Tensor, target: Tensor, node_weight: Tensor | None) -> Tensor:
    """Masked MAE of each window: [batch].

    pred, target: [batch, out_len, nodes] raw units; node_weight: [nodes] or None.
    A window with no observed target gets loss 0 (it carries no signal).
    """
    mask = (target != 0).to(pred.dtype)
    if node_weight is not None:
        mask = mask * node_weight.view(1, 1, -1)
    total = (torch.abs(pred - target) * mask).sum(dim=(1, 2))
    return total / mask.sum(dim=(1, 2)).clamp_min(1e-8)


@dataclass
class MetricAccumulator:
    """Sums masked absolute, squared and relative errors per horizon over many batches."""

    out_len: int
    abs_err: Tensor = field(init=False)
    sq_err: Tensor = field(init=False)
    rel_err: Tensor = field(init=False)
    count: Tensor = field(init=False)
    rel_count: Tensor = field(init=False)  # targets MAPE divides by (observed and not a real 0)

    def __post_init__(self) -> None:
        zeros = lambda: torch.zeros(self.out_len, dtype=torch.float64)  # noqa: E731
        self.abs_err, self.sq_err, self.rel_err, self.count = zeros(), zeros(), zeros(), zeros()
        self.rel_count = zeros()

    def add(self, pred: Tensor, target: Tensor) -> None:
        """pred, target: [batch, out_len, nodes] raw units."""
        mask = target != 0
        err = (pred - target).double() * mask
        rel = mask & (target.abs() > REAL_ZERO)
        safe = torch.where(rel, target, torch.ones_like(target)).double()
        self.abs_err += err.abs().sum(dim=(0, 2)).cpu()
        self.sq_err += (err**2).sum(dim=(0, 2)).cpu()
        self.rel_err += (err.abs() * rel / safe.abs()).sum(dim=(0, 2)).cpu()
        self.count += mask.sum(dim=(0, 2)).double().cpu()
        self.rel_count += rel.sum(dim=(0, 2)).double().cpu()

    def result(self) -> dict[str, float | dict[str, dict[str, float]]]:
        """MAE/RMSE/MAPE averaged over all horizons, and at horizons 3/6/12 (1-based)."""
        out: dict[str, float | dict[str, dict[str, float]]] = self._summarise(slice(None))
        out["horizons"] = {
            str(h): self._summarise(slice(h - 1, h)) for h in REPORT_HORIZONS if h <= self.out_len
        }
        return out

    def _summarise(self, part: slice) -> dict[str, float]:
        n = float(self.count[part].sum().clamp_min(1))
        n_rel = float(self.rel_count[part].sum().clamp_min(1))
        return {
            "mae": float(self.abs_err[part].sum()) / n,
            "rmse": (float(self.sq_err[part].sum()) / n) ** 0.5,
            "mape": float(self.rel_err[part].sum()) / n_rel,
        }


MAPE_QUANTILE = 0.01  # the share of observed |targets| allowed below MAPE_FLOOR × their mean
MAPE_FLOOR = 0.01


def mape_meaningful(target: Tensor) -> bool:
    """Whether MAPE means something on these raw targets (any shape; 0 = missing): the 1st
    percentile of the observed |targets| is at least 1% of their mean, i.e. at most 1% of them
    lie below that (near-zero targets make MAPE explode and say nothing)."""
    seen = target[target != 0].abs().double()
    if seen.numel() == 0:
        return False
    low = float((seen < MAPE_FLOOR * seen.mean()).double().mean())
    return low <= MAPE_QUANTILE


def drop_mape(metrics: dict) -> dict:
    """The metrics dict (as MetricAccumulator.result() gives it) without MAPE, horizons too."""
    out = {k: v for k, v in metrics.items() if k not in ("mape", "horizons")}
    if "horizons" in metrics:
        out["horizons"] = {h: drop_mape(m) for h, m in metrics["horizons"].items()}
    return out
