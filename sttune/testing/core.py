"""What every contract check shares: results, failures, tiny data, JSON and RNG helpers.

A check is a function of one *subject* (the plugin under test plus its cached runs) that
returns nothing when the contract holds, raises :class:`ContractFailure` naming what is
wrong, or :class:`CheckSkipped` when it does not apply.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from sttune.recipe.settings import Protocol, TrainConfig

Status = Literal["pass", "fail", "skip"]

#: The small synthetic dataset every strategy and model check trains on (CPU, ~0.1 s a run).
TINY_DATASET: dict[str, Any] = {"n_nodes": 6, "n_days": 2, "steps_per_day": 48, "seed": 0}
TINY_PROTOCOL = Protocol(in_len=12, out_len=12)
TINY_TRAIN = TrainConfig(epochs=2, batch_size=16, device="cpu", seed=0, eval_batch_size=64)


class ContractFailure(AssertionError):
    """A plugin breaks its contract; the message is the one-line reason shown to the user."""


class CheckSkipped(Exception):
    """A check does not apply to this plugin (e.g. no location encoder), or was not reached."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one contract check."""

    check: str
    status: Status
    detail: str = ""

    @property
    def ok(self) -> bool:
        """Passed or skipped: nothing to fix."""
        return self.status != "fail"

    def to_dict(self) -> dict[str, str]:
        return {"check": self.check, "status": self.status, "detail": self.detail}


Check = Callable[[Any], str | None]


def require(ok: bool, reason: str) -> None:
    """Raise :class:`ContractFailure` with ``reason`` unless ``ok``."""
    if not ok:
        raise ContractFailure(reason)


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def run_check(name: str, check: Check, subject: Any) -> CheckResult:
    """Run one check and turn its outcome (or any exception it raises) into a result."""
    try:
        detail = check(subject)
    except ContractFailure as exc:
        return CheckResult(name, "fail", str(exc))
    except CheckSkipped as exc:
        return CheckResult(name, "skip", str(exc))
    except Exception as exc:  # a crash inside the plugin fails this check, not the suite
        return CheckResult(name, "fail", one_line(exc))
    return CheckResult(name, "pass", detail or "")


def run_checks(checks: dict[str, Check], subject: Any) -> list[CheckResult]:
    """Every check in order, each isolated from the others' failures."""
    return [run_check(name, check, subject) for name, check in checks.items()]


def not_json(value: Any, where: str) -> str | None:
    """Why ``value`` is not JSON-serialisable (``None`` when it is)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return f"{where} is not JSON-serialisable: {exc}"
    return None


def tiny_data(dataset: dict[str, Any] | None = None) -> Any:
    """The tiny synthetic :class:`~sttune.data.protocol.DataModule` (cached per params)."""
    key = json.dumps(dataset or TINY_DATASET, sort_keys=True)
    if key not in _DATA:
        from sttune.data.protocol import build_data
        from sttune.registry import discovery as plugins

        load_synthetic = plugins.load("dataset", "synthetic")  # through its entry point, as any plugin
        _DATA[key] = build_data(load_synthetic(**(dataset or TINY_DATASET)), TINY_PROTOCOL)
    return _DATA[key]


_DATA: dict[str, Any] = {}


@contextlib.contextmanager
@dataclass
class RngWitness:
    """Set by :func:`salted_rng` when its block leaves: did the code inside draw from a global RNG?"""

    touched: list[str] = field(default_factory=list)  # which: "torch", "numpy", "random"


def _global_states() -> tuple[Any, Any, Any]:
    return torch.get_rng_state(), np.random.get_state(), random.getstate()


def _moved(before: tuple[Any, Any, Any], after: tuple[Any, Any, Any]) -> list[str]:
    """The global RNGs whose state differs (any draw advances a generator's state)."""
    moved = []
    if not torch.equal(before[0], after[0]):
        moved.append("torch")
    (_, keys_a, pos_a, *rest_a), (_, keys_b, pos_b, *rest_b) = before[1], after[1]
    if pos_a != pos_b or rest_a != rest_b or not np.array_equal(keys_a, keys_b):
        moved.append("numpy")
    if before[2] != after[2]:
        moved.append("random")
    return moved


@contextlib.contextmanager
def salted_rng(salt: int) -> Iterator[RngWitness]:
    """Seed the global torch/numpy/random RNGs with ``salt`` inside, restore them after, and
    witness whether the code inside drew from any of them.

    Code that should draw from ``ctx.generator`` but uses a global RNG instead sees
    different numbers under different salts, while the trainer's own stream is untouched; and
    any draw at all moves a global state, so the witness catches it even when the number drawn
    happens not to change what the hook returns.
    """
    saved = _global_states()
    torch.manual_seed(salt)
    np.random.seed(salt % 2**32)
    random.seed(salt)
    seeded = _global_states()
    witness = RngWitness()
    try:
        yield witness
    finally:
        witness.touched = _moved(seeded, _global_states())
        torch.set_rng_state(saved[0])
        np.random.set_state(saved[1])
        random.setstate(saved[2])


def optuna_params(space: Callable[[Any], Any], n_trials: int = 4, seed: int = 0) -> list[tuple[dict, Any]]:
    """(Optuna's recorded params, what ``space`` returned) for a few real trials.

    Uses an in-memory study with a seeded random sampler, so conditional branches are
    likely to be visited.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    found = []
    for _ in range(n_trials):
        trial = study.ask()
        returned = space(trial)
        found.append((dict(trial.params), returned))
        study.tell(trial, 0.0)
    return found
