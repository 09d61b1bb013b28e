"""Contract checks for strategy plugins (entry-point group ``sttune.strategies``).

Each strategy is trained twice for two epochs on the tiny synthetic dataset with the same
seed, through the real :class:`~sttune.training.trainer.Trainer`, wrapped in a
:class:`~sttune.testing.probe.Probe` that validates every hook's answer.
"""

from __future__ import annotations

import functools
import inspect
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from sttune.api import Strategy
from sttune.testing.core import (
    TINY_TRAIN,
    Check,
    CheckSkipped,
    ContractFailure,
    not_json,
    one_line,
    optuna_params,
    require,
    tiny_data,
)
from sttune.testing.probe import Probe, RunRecord

SMALL_MODEL: tuple[str, dict[str, Any]] = ("stid", {"embed_dim": 8, "n_layers": 1, "dropout": 0.0})


@dataclass
class StrategySubject:
    """A strategy class, the constructor params to test it with, and its two cached runs."""

    cls: type[Strategy]
    params: dict[str, Any] = field(default_factory=dict)
    name: str = ""  # the entry-point name; defaults to ``cls.name``
    model: tuple[str, dict[str, Any]] = SMALL_MODEL

    def __post_init__(self) -> None:
        self.name = self.name or getattr(self.cls, "name", "")

    @functools.cached_property
    def runs(self) -> tuple[RunRecord, RunRecord]:
        """Two 2-epoch runs with the same seed but different global-RNG salts."""
        return self._run(salt=1_000), self._run(salt=7_000_000)

    def _run(self, salt: int) -> RunRecord:
        from sttune.registry import discovery as plugins
        from sttune.training.trainer import Trainer

        record = RunRecord()
        data = tiny_data()
        model_cls = plugins.load("model", self.model[0])
        model_params = dict(self.model[1])
        if getattr(self.cls, "needs_location_encoder", False):
            model_params["node_embedding"] = "encoder"
        try:
            probe = Probe(self.cls(**self.params), record, salt)
            with tempfile.TemporaryDirectory(prefix="sttune-contract-") as cache:
                trainer = Trainer(TINY_TRAIN, cache_dir=Path(cache))
                record.result = trainer.fit(lambda: model_cls(data.spec, **model_params), data, [probe])
        except Exception as exc:  # recorded: the hook checks still report what they saw
            record.error = one_line(exc)
        return record


def check_hooks(s: StrategySubject) -> str:
    """Every hook the class overrides takes what the trainer passes, and no public method merely
    looks like a hook (``on_epoch_ends``, ``selec``): the trainer would never call it."""
    from sttune.registry.hooks import hook_names, strategy_problems

    problems = strategy_problems(s.cls)
    require(not problems, "; ".join(p.message for p in problems))
    overridden = [n for n in hook_names(Strategy) if inspect.getattr_static(s.cls, n) is not vars(Strategy)[n]]
    return f"{', '.join(overridden) or 'no hook'} overridden, as sttune calls them"


def check_space_prefix(s: StrategySubject) -> str:
    require(bool(s.name), f"{s.cls.__name__} has no `name` class attribute")
    for suggested, _ in optuna_params(s.cls.space):
        bad = sorted(k for k in suggested if not k.startswith(f"{s.name}."))
        require(not bad, f"space() suggests {', '.join(bad)}: every name must start with '{s.name}.'")
    return f"names start with '{s.name}.'"


def check_space_params(s: StrategySubject) -> str:
    for _, returned in optuna_params(s.cls.space):
        require(isinstance(returned, dict), f"space() returned {type(returned).__name__}, not a dict")
        try:
            s.cls(**returned)
        except Exception as exc:
            raise ContractFailure(f"{s.cls.__name__}(**space()) failed for {returned}: {exc}") from None
    return "space() returns constructor arguments"


def check_recommended(s: StrategySubject) -> str:
    """Each recommended configuration is a point of the strategy's own space that constructs."""
    from sttune.tuning.space import OutsideSpace, recommendation_params

    configs = getattr(s.cls, "recommended", ())
    require(isinstance(configs, tuple) and all(isinstance(c, dict) for c in configs),
            "`recommended` must be a tuple of dicts (knob -> value)")
    for i, config in enumerate(configs, 1):
        problem = not_json(config, f"recommended configuration {i}")
        require(problem is None, problem or "")
        try:
            _, returned = recommendation_params(s.cls, config)
        except OutsideSpace as exc:
            raise ContractFailure(f"recommended configuration {i} {config}: {exc}") from None
        try:
            s.cls(**returned)
        except Exception as exc:
            raise ContractFailure(f"recommended configuration {i}: {s.cls.__name__}(**{returned}) failed: {exc}") from None
    return f"{len(configs)} inside the space" if configs else "none"


def check_json_params(s: StrategySubject) -> str:
    return json_params(s.cls, s.params, skip=0)


def json_params(cls: Any, params: dict[str, Any], skip: int) -> str:
    """Defaults, the test params and what space() suggests must all be JSON values."""
    defaults = {p.name: p.default for p in list(inspect.signature(cls).parameters.values())[skip:]
                if p.default is not p.empty}
    for where, value in (("constructor defaults", defaults), ("the test params", params)):
        problem = not_json(value, where)
        require(problem is None, problem or "")
    if hasattr(cls, "space"):
        for _, returned in optuna_params(cls.space):
            problem = not_json(returned, "what space() returned")
            require(problem is None, problem or "")
    return "defaults, params and space() are JSON values"


def check_trains(s: StrategySubject) -> str:
    run = s.runs[0]
    require(run.error is None, f"a 2-epoch run failed: {run.error}")
    val, test = run.result.val["mae"], run.result.test["mae"]
    require(math.isfinite(val) and math.isfinite(test), f"metrics are not finite: val MAE {val}, test MAE {test}")
    return f"2 epochs, val MAE {val:.3f}"


def _hook_check(hook: str) -> Check:
    def check(s: StrategySubject) -> str:
        run = s.runs[0]
        require(not run.problems[hook], "; ".join(run.problems[hook][:2]))
        if run.calls[hook] == 0:
            if run.error is not None:
                raise CheckSkipped(f"not reached: the run failed first ({run.error})")
            return "not used"
        return f"{run.calls[hook]} calls conform"

    check.__name__ = f"check_{hook}"
    check.__doc__ = f"Every ``{hook}`` answer of the first run follows the API."
    return check


def check_deterministic(s: StrategySubject) -> str:
    a, b = s.runs
    if a.error or b.error:
        raise CheckSkipped(f"not reached: the run failed ({a.error or b.error})")
    require(len(a.selections) == len(b.selections), "the two runs made different numbers of selections")
    for epoch, (x, y) in enumerate(zip(a.selections, b.selections)):
        same = (x is None and y is None) or (x is not None and y is not None and torch.equal(x, y))
        require(same, f"selections differ at epoch {epoch} between two runs with the same seed "
                      "(draw randomness from ctx.generator, not the global RNG)")
    for i, (x, y) in enumerate(zip(a.weights, b.weights)):
        require(x.shape == y.shape and torch.allclose(x, y, rtol=1e-5, atol=1e-7),
                f"weights differ at batch {i} between two runs with the same seed")
    va, vb = a.result.val["mae"], b.result.val["mae"]
    require(math.isclose(va, vb, rel_tol=1e-6, abs_tol=1e-9), f"final val MAE differs: {va} vs {vb}")
    return "same seed, same selections, weights and metrics"


def check_global_rng(s: StrategySubject) -> str:
    """No per-epoch or per-batch hook draws from a global RNG (torch, numpy, random), whether or
    not the draw changes the outcome this time: only ``ctx.generator`` keeps a run repeatable
    when other code shares the process. (``prepare`` runs under the trainer's seeded global RNG
    and may use it, e.g. to initialise a model.)"""
    run = s.runs[0]
    if run.error is not None and not run.global_rng:
        raise CheckSkipped(f"not reached: the run failed first ({run.error})")
    used = [f"{hook} ({', '.join(rngs)})" for hook, rngs in run.global_rng.items()]
    require(not used, f"drew from the global RNG in {'; '.join(used)}: draw randomness from ctx.generator")
    return "hooks draw only from ctx.generator"


def check_artifacts(s: StrategySubject) -> str:
    run = s.runs[0]
    if run.error is not None:
        raise CheckSkipped("not reached: the run failed")
    problem = not_json(run.result.artifacts, "artifacts()")
    require(problem is None, problem or "")
    return "JSON values" if run.result.artifacts else "none"


STRATEGY_CHECKS: dict[str, Check] = {
    "hooks": check_hooks,
    "space_prefix": check_space_prefix,
    "space_params": check_space_params,
    "recommended": check_recommended,
    "json_params": check_json_params,
    "trains": check_trains,
    "select": _hook_check("select"),
    "transform": _hook_check("transform"),
    "weight": _hook_check("weight"),
    "deterministic": check_deterministic,
    "global_rng": check_global_rng,
    "artifacts": check_artifacts,
}
