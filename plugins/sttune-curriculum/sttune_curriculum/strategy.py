"""``curriculum``: visit the easy windows first, then more and more of the hard ones.

Each window's score is its per-sample training loss the last time it was visited, recorded
in ``on_batch_end`` (the trainer hands over the raw loss it already computed: no extra
forward pass). At the start of epoch ``e`` the strategy keeps the windows whose score is at
or below the ``q(e)`` quantile of the scores, where ``q`` rises linearly from
``start_fraction`` at epoch 0 to 1.0 at ``full_at`` × the epochs. Windows never scored
(epoch 0, or a source that grew) are always visited.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor

from sttune.api import Batch, PrepareContext, Strategy, TrainContext, WindowSource

if TYPE_CHECKING:
    import optuna


def visit_fraction(epoch: int, n_epochs: int, start_fraction: float, full_at: float) -> float:
    """The loss quantile kept at ``epoch``: ``start_fraction`` at 0, 1.0 from ``full_at`` × epochs."""
    ramp = max(full_at * n_epochs, 1e-9)
    return min(1.0, start_fraction + (1.0 - start_fraction) * epoch / ramp)


class Curriculum(Strategy):
    """Easy-to-hard curriculum over training windows, scored by their last training loss.

    Params: start_fraction (quantile of the scores kept at epoch 0, in (0, 1]), full_at
    (fraction of the epochs after which every window is visited again, in (0, 1]).
    """

    name: ClassVar[str] = "curriculum"
    api_version: ClassVar[str] = "1.0"

    def __init__(self, start_fraction: float = 0.5, full_at: float = 0.7) -> None:
        for key, value in (("start_fraction", start_fraction), ("full_at", full_at)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value <= 1.0:
                raise ValueError(f"curriculum: {key} must be in (0, 1], got {value!r}")
        self.start_fraction, self.full_at = float(start_fraction), float(full_at)
        self._scores = torch.zeros(0)  # [windows] last training loss; NaN = never visited
        self._visited: list[int] = []

    @classmethod
    def space(cls, trial: optuna.Trial) -> dict[str, Any]:
        return {
            "start_fraction": trial.suggest_float("curriculum.start_fraction", 0.2, 0.9),
            "full_at": trial.suggest_float("curriculum.full_at", 0.3, 1.0),
        }

    def prepare(self, train: WindowSource, ctx: PrepareContext) -> WindowSource:
        self._scores = torch.full((len(train),), float("nan"), device=ctx.device)
        self._visited = []
        return train

    def select(self, ctx: TrainContext) -> Tensor | None:
        """Unscored windows plus those at or below the epoch's loss quantile; None = all."""
        q = visit_fraction(ctx.epoch, ctx.n_epochs, self.start_fraction, self.full_at)
        scored = ~torch.isnan(self._scores)
        if q >= 1.0 or not bool(scored.any()):
            self._visited.append(len(self._scores))
            return None
        cut = torch.quantile(self._scores[scored], q, interpolation="higher")
        keep = torch.nonzero(~scored | (self._scores <= cut)).squeeze(1)
        self._visited.append(len(keep))
        return keep

    def on_batch_end(self, per_sample_loss: Tensor, batch: Batch, ctx: TrainContext) -> None:
        self._scores[batch.index.to(self._scores.device)] = per_sample_loss.to(self._scores.device)

    def artifacts(self) -> dict[str, Any]:
        return {"visited_per_epoch": list(self._visited)}
