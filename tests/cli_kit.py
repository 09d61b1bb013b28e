"""Shared pieces of the CLI tests: toy strategy plugins (installed for each test), a tiny
recipe, the study a search wrote, and running a command.
"""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml
from typer.testing import CliRunner

from plugin_kit import install_plugins, uninstall
from sttune.cli import app

runner = CliRunner()


TOY = '''
import torch
from sttune.api import Strategy

class KeepFirst(Strategy):
    """Visits only the first `keep` fraction of the windows (a toy search space)."""
    name = "keep_first"

    def __init__(self, keep: float = 1.0) -> None:
        if not 0 < keep <= 1:
            raise ValueError(f"keep must be in (0, 1], got {keep}")
        self.keep = keep

    @classmethod
    def space(cls, trial):
        return {"keep": trial.suggest_float("keep_first.keep", 0.3, 1.0)}

    def select(self, ctx):
        return torch.arange(max(1, int(self.keep * ctx.train_size)))

class Coin(KeepFirst):
    """Two configurations only: a search of more trials must propose one again."""
    name = "coin"

    @classmethod
    def space(cls, trial):
        return {"keep": trial.suggest_categorical("coin.keep", [0.5, 1.0])}

class Boom(Strategy):
    name = "boom"

    def transform(self, batch, ctx):
        raise RuntimeError("boom inside transform")

class Sabotage(Strategy):
    """Learns nothing and wastes time: every rung should stop it."""
    name = "sabotage"

    def weight(self, loss, batch, ctx):
        return loss * 0.0

    def on_epoch_end(self, ctx):
        import time
        start = time.process_time()  # CPU work, so wall and process clocks both see it
        while time.process_time() - start < 0.2:
            pass

class Checkpointed(Strategy):
    """Reports a fixed-quality preparation checkpoint: the search's stops are deterministic."""
    name = "checkpointed"

    def __init__(self, quality: float = 1.0) -> None:
        self.quality = quality

    @classmethod
    def space(cls, trial):
        return {"quality": trial.suggest_categorical("checkpointed.quality", [1.0, 2.0, 3.0, 4.0])}

    def prepare(self, train, ctx):
        if ctx.listening:
            with ctx.search_overhead():  # the score a real strategy would compute for the listener
                sum(i * i for i in range(200_000))
        ctx.checkpoint(10.0 + self.quality, 1.0)
        return train

class Between(Strategy):
    """Two ordered knobs: a held `lo` may suit some draws of `hi` and not others."""
    name = "between"

    def __init__(self, lo: float = 0.0, hi: float = 1.0) -> None:
        if not lo < hi:
            raise ValueError(f"lo must be below hi, got {lo} >= {hi}")
        self.lo, self.hi = lo, hi

    @classmethod
    def space(cls, trial):
        return {"lo": trial.suggest_float("between.lo", 0.0, 0.2), "hi": trial.suggest_float("between.hi", 0.2, 1.0)}

class Flaky(KeepFirst):
    """Every other one fails (counted per process: trials run inline)."""
    name = "flaky"
    made = 0

    def prepare(self, train, ctx):
        Flaky.made += 1
        if Flaky.made % 2:
            raise RuntimeError("flaky: every other one")
        return train

class CtrlC(Strategy):
    name = "ctrl_c"
    fired = False

    def on_epoch_end(self, ctx):
        if not CtrlC.fired:
            CtrlC.fired = True
            raise KeyboardInterrupt
'''


@pytest.fixture(autouse=True)
def toy_plugins(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    targets = {n: f"toy_strategies:{c}" for n, c in (("keep_first", "KeepFirst"), ("coin", "Coin"), ("boom", "Boom"), ("ctrl_c", "CtrlC"), ("flaky", "Flaky"), ("sabotage", "Sabotage"), ("checkpointed", "Checkpointed"), ("between", "Between"))}
    install_plugins(root, "toy_strategies", TOY, {"strategy": targets})
    yield
    uninstall(root, "toy_strategies")


def write_recipe(folder: Path, **overrides) -> Path:
    recipe = {
        "name": "tiny",
        "datasets": [{"name": "synthetic", "params": {"n_nodes": 8, "n_days": 4, "steps_per_day": 48, "seed": 1}}],
        "model": {"name": "stid", "params": {"embed_dim": 8, "n_layers": 1}},
        "train": {"epochs": 2, "batch_size": 32, "device": "cpu", "seed": 0},
        "strategies": [{"name": "keep_first"}],
        "search": {"trials": 5, "seed": 0, "baseline_ladder": [0.5]},
        "run_dir": str(folder / "run"),
        "cache_dir": str(folder / "cache"),
    }
    for key, value in overrides.items():
        recipe[key] = value
    # these tests check the search's mechanics on a trained ladder, every sampled trial trained;
    # the derived ladder and the skipping of hopeless candidates have tests of their own
    recipe["search"] = {"ladder": "trained", "predict": False, "shorten": False, **recipe["search"]}
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def study_of(folder: Path, name: str = "tiny:synthetic") -> optuna.Study:
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(folder / "run" / "study.journal")))
    return optuna.load_study(study_name=name, storage=storage)


def invoke(*args: str):
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def one_error_line(result) -> str:
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return " ".join(lines)
