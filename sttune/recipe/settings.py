"""Plain settings dataclasses shared by recipes, the trainer and the data protocol.

No torch import here: recipes are validated before anything heavy loads.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from sttune.errors import SttuneError


def _require(ok: bool, path: str, message: str, hint: str | None = None) -> None:
    if not ok:
        from sttune.recipe.schema import SchemaError

        raise SchemaError(path, message, hint)


def _as(error: type[SttuneError]) -> Callable[..., None]:
    """A ``_require`` that raises ``error("<path>: <message>", hint)``: the same checks, told as
    another kind of failure (a Protocol built in code fails as bad data, not as a bad recipe)."""

    def require(ok: bool, path: str, message: str, hint: str | None = None) -> None:
        if not ok:
            raise error(f"{path}: {message}", hint)

    return require


def _at(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


@dataclass(frozen=True)
class Protocol:
    """How a series is cut into supervised windows (the recipe's ``protocol`` block)."""

    in_len: int = 12
    out_len: int = 12
    split: tuple[float, float, float] = (0.6, 0.2, 0.2)
    target_channel: int = 0
    # what a missing reading is: "zero" (a reading of exactly 0, the PEMS convention) or "nan"
    # (only NaN/infinite readings; zeros are real values that count in the loss and metrics)
    missing: str = "zero"
    # "seasonal": the data gets one more input channel, the best seasonal naive forecast (a day, a
    # week or a year back, chosen on the training steps), and the built-in models forecast the
    # residual over it (ModelSpec.seasonal_channel); "none": no such channel
    residual: str = "none"

    def validate(self, path: str = "protocol", error: type[SttuneError] | None = None) -> None:
        """The one definition of a valid protocol; a failure raises ``error`` (None: the recipe's
        SchemaError), naming the field by ``path``. The series-dependent checks (target channel
        in range, enough steps) are the data layer's (sttune.data.protocol)."""
        require: Callable[..., None] = _require if error is None else _as(error)
        require(self.in_len >= 1, _at(path, "in_len"), f"must be at least 1, got {self.in_len}")
        require(self.out_len >= 1, _at(path, "out_len"), f"must be at least 1, got {self.out_len}")
        require(
            len(self.split) == 3 and min(self.split) > 0 and abs(sum(self.split) - 1) < 1e-6,
            _at(path, "split"),
            f"must be three positive fractions summing to 1, got {list(self.split)}",
            "use e.g. [0.6, 0.2, 0.2]",
        )
        require(self.target_channel >= 0, _at(path, "target_channel"), "must be 0 or more")
        require(self.missing in ("zero", "nan"), _at(path, "missing"), f"unknown policy '{self.missing}'",
                "use zero (a 0 reading is missing) or nan (only NaN readings are missing)")
        require(self.residual in ("none", "seasonal"), _at(path, "residual"), f"unknown residual '{self.residual}'",
                "use none, or seasonal (the models forecast the residual over the best seasonal naive forecast)")
        require(self.residual != "seasonal" or self.in_len >= self.out_len, _at(path, "residual"),
                f"seasonal needs in_len >= out_len (the last out_len input steps carry the seasonal forecast), "
                f"got in_len {self.in_len}, out_len {self.out_len}", "raise in_len, or use residual: none")


@dataclass(frozen=True)
class TrainConfig:
    """Training settings (the recipe's ``train`` block)."""

    epochs: int = 20
    batch_size: int = 64
    lr: float = 0.002
    weight_decay: float = 1e-4
    lr_decay_at: tuple[float, ...] = (0.5, 0.8)  # fractions of ``epochs`` where lr *= gamma
    lr_gamma: float = 0.5
    grad_clip: float | None = 5.0
    patience: int | None = None  # early stopping on validation MAE; None = off
    seed: int = 0
    device: str = "auto"
    eval_batch_size: int = 256
    # on a CPU device: "process" (the process's CPU time: a wait for a core is charged to no one,
    # so trials run at different loads stay comparable) or "wall" (monotonic wall clock)
    cpu_clock: str = "process"
    # torch intra-op threads on a CPU device, recorded in the result. 1 by default: with several,
    # idle threads spin while they wait for work, and on a loaded machine that spinning is CPU
    # time that inflates the process clock (measured: one trial's epochs 2-5x dearer); None =
    # torch's default (all cores: faster on an idle machine, its times not comparable under load)
    cpu_threads: int | None = 1
    # validate every k epochs (and always after the last); the best epoch is the best validated one
    val_every: int = 1

    def validate(self, path: str = "train") -> None:
        for name in ("epochs", "batch_size", "eval_batch_size", "val_every"):
            value = getattr(self, name)
            _require(value >= 1, _at(path, name), f"must be at least 1, got {value}")
        _require(self.lr > 0, _at(path, "lr"), f"must be positive, got {self.lr}")
        _require(self.weight_decay >= 0, _at(path, "weight_decay"), "must be 0 or more")
        _require(0 < self.lr_gamma <= 1, _at(path, "lr_gamma"), "must be in (0, 1]")
        _require(all(0 < f < 1 for f in self.lr_decay_at), _at(path, "lr_decay_at"), "fractions must lie in (0, 1)")
        _require(self.grad_clip is None or self.grad_clip > 0, _at(path, "grad_clip"), "must be positive or null")
        _require(self.patience is None or self.patience >= 1, _at(path, "patience"), "must be at least 1 or null")
        _require(self.cpu_threads is None or (isinstance(self.cpu_threads, int) and self.cpu_threads >= 1),
                 _at(path, "cpu_threads"), f"must be an integer of at least 1 or null, got {self.cpu_threads!r}")
        _require(self.cpu_clock in ("wall", "process"), _at(path, "cpu_clock"),
                 f"unknown clock '{self.cpu_clock}'", "use wall or process")
        _require(
            self.device == "auto" or self.device.split(":")[0] in ("cpu", "cuda", "mps"),
            _at(path, "device"), f"unknown device '{self.device}'", "use auto, cpu, cuda or cuda:N",
        )


@dataclass(frozen=True)
class RungPolicy:
    """Early stopping at rungs (the recipe's ``search.early_stopping`` block; the rule is in
    :mod:`sttune.tuning.rungs`)."""

    enabled: bool = False  # successive halving among the trials at each rung
    first_rung: int = 2  # epochs completed at the first rung (after strategies' warm-ups begin)
    reduction_factor: float = 3.0  # η: keep the best 1/η at each rung
    min_trials: int = 4  # trials that must reach a rung before it stops anyone
    # relative differences below these count as ties (val MAE, device seconds): at an early rung
    # many configurations are still identical, and timing noise alone must not rank them
    tolerance: tuple[float, float] = (0.005, 0.1)
    # stop a strategy trial whose best val MAE at a rung is worse than the full baseline's at the
    # same epoch (the same lr schedule) by more than this (0.05 = 5%); null (the default): never.
    # Off until a margin is derived on validation, on datasets that never evaluate it
    behind_baseline: float | None = None

    def validate(self, path: str) -> None:
        _require(self.first_rung >= 1, f"{path}.first_rung", "must be at least 1")
        _require(self.behind_baseline is None or self.behind_baseline >= 0, f"{path}.behind_baseline",
                 "must be 0 or more (0.05 = 5% worse than the baseline at the same epoch), or null")
        _require(self.reduction_factor > 1, f"{path}.reduction_factor", "must be above 1 (e.g. 3 keeps a third)")
        _require(self.min_trials >= 2, f"{path}.min_trials", "must be at least 2")
        _require(len(self.tolerance) == 2 and min(self.tolerance) >= 0, f"{path}.tolerance",
                 "two relative tolerances ≥ 0: [val MAE, device seconds]")

    def keep(self, n_points: int) -> int:
        """How many of ``n_points`` trials at a rung are the best 1/η."""
        return max(1, math.ceil(n_points / self.reduction_factor))

    def rungs(self, epochs: int) -> list[int]:
        """Epoch counts below ``epochs`` at which trials are compared: first·η^k."""
        out, rung = [], float(self.first_rung)
        while round(rung) < epochs:
            if not out or round(rung) > out[-1]:
                out.append(round(rung))
            rung *= self.reduction_factor
        return out


__all__ = ["Protocol", "RungPolicy", "TrainConfig"]
