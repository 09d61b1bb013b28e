"""Several workers on one study, for real: exact trial counts, one baseline each, a killed worker.

Workers are real processes (spawn) on the journal file and, when STTUNE_TEST_POSTGRES names a
PostgreSQL database, on PostgreSQL. Children find the throwaway plugins because spawn hands
them the parent's sys.path; the CLI run as a subprocess gets the plugin folder via PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
import yaml
from typer.testing import CliRunner

from plugin_kit import install_plugins, uninstall
from sttune.cli import app
from sttune.outcome.export import export_study
from sttune.tuning import workers as workers_mod
from sttune.tuning.accounting import count_done
from sttune.tuning.events import NullEvents
from sttune.tuning.runs import open_run
from sttune.tuning.storage import make_sampler, storage_for
from sttune.tuning.workers import device_envs

runner = CliRunner()
POSTGRES = os.environ.get("STTUNE_TEST_POSTGRES")

TOY = '''
import time
import torch
from sttune.api import Strategy

class KeepSome(Strategy):
    name = "keep_some"
    def __init__(self, keep: float = 1.0) -> None:
        self.keep = keep
    @classmethod
    def space(cls, trial):
        return {"keep": trial.suggest_float("keep_some.keep", 0.3, 1.0)}
    def select(self, ctx):
        return torch.arange(max(1, int(self.keep * ctx.train_size)))

class Slow(KeepSome):
    name = "slow"
    @classmethod
    def space(cls, trial):
        return {"keep": trial.suggest_float("slow.keep", 0.3, 1.0)}
    def on_epoch_end(self, ctx):
        time.sleep(1.5)
'''


@pytest.fixture(autouse=True)
def plugin_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    install_plugins(root, "pool_strategies", TOY, {"strategy": {"keep_some": "pool_strategies:KeepSome", "slow": "pool_strategies:Slow"}},
                    dist="poolkit")
    yield root
    uninstall(root, "pool_strategies")


def write_recipe(folder: Path, name: str = "pool", storage: str | None = None, **search) -> Path:
    recipe = {
        "name": name,
        "datasets": [{"name": "synthetic", "params": {"n_nodes": 8, "n_days": 3, "steps_per_day": 48, "seed": 1}}],
        "model": {"name": "stid", "params": {"embed_dim": 8, "n_layers": 1}},
        "train": {"epochs": 1, "batch_size": 64, "device": "cpu", "seed": 0},
        "strategies": [{"name": "keep_some"}],
        "search": {"trials": 40, "seed": 0, "baseline_ladder": [0.5], "ladder": "trained", "predict": False, "shorten": False, "isolation": "inline", "storage": storage,
                   "heartbeat_seconds": 0.5, "stale_after_seconds": 4, **search},
        "run_dir": str(folder / "run"), "cache_dir": str(folder / "cache"),
    }
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def load(folder: Path, name: str, storage: str | None = None) -> optuna.Study:
    return optuna.load_study(study_name=f"{name}:synthetic", storage=storage_for(storage, folder / "run"))


def test_device_envs_pin_one_gpu_per_worker():
    assert device_envs(3, 0) == [{}, {}, {}]
    assert device_envs(3, 1) == [{}, {}, {}]
    assert device_envs(4, 2) == [{"CUDA_VISIBLE_DEVICES": d} for d in "0101"]
    assert device_envs(3, 2, "5,7") == [{"CUDA_VISIBLE_DEVICES": d} for d in "575"]


def test_the_pool_notes_go_through_the_events_not_the_cli(tmp_path, monkeypatch):
    """Which worker got which device, and workers that failed after the search was full: the
    pool says both through ``events.notice`` (the CLI's progress prints them), never to a console."""
    class Proc:
        def __init__(self, target, args, name):
            self.exitcode = 1 if name.endswith("-1") else 0
        def start(self): ...
        def join(self, timeout=None): ...
        def is_alive(self):
            return False

    notes: list[str] = []
    events = type("Events", (NullEvents,), {"notice": lambda self, message: notes.append(message)})()
    monkeypatch.setattr(workers_mod, "cuda_device_count", lambda: 2)
    monkeypatch.setattr(workers_mod.mp, "get_context", lambda kind: SimpleNamespace(Process=Proc))
    workers_mod.search_with_workers([], tmp_path, events, 2, "subprocess")
    assert notes == ["2 workers on 2 CUDA devices: worker 0 → 0, worker 1 → 1",
                     "note: worker 1 exited with code 1; the other workers finished the search"]


@pytest.mark.parametrize("backend", ["journal", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.skipif(
    not POSTGRES, reason="set STTUNE_TEST_POSTGRES=postgresql://user:pass@host/db to run (.ci/run starts a server)")])])
def test_four_workers_run_exactly_the_trial_count(tmp_path, backend, monkeypatch):
    name = f"pool{uuid.uuid4().hex[:8]}"
    storage = POSTGRES if backend == "postgres" else None
    monkeypatch.setattr(workers_mod, "cuda_device_count", lambda: 2)  # fake two GPUs: workers get 0,1,0,1
    result = runner.invoke(app, ["search", str(write_recipe(tmp_path, name, storage)), "--workers", "4"])
    assert result.exit_code == 0, result.output
    assert "database is locked" not in result.output
    study = load(tmp_path, name, storage)
    trials = study.get_trials(deepcopy=False)
    finished = [t for t in trials if t.state.is_finished()]
    assert len(finished) == 40 and count_done(trials) == 40
    assert all(t.state.name == "COMPLETE" for t in finished)
    assert {t.state.name for t in trials} <= {"COMPLETE", "WAITING"}  # WAITING: a slot race given back
    numbers = [t.number for t in trials]
    assert len(set(numbers)) == len(numbers)
    baselines = sorted(t.user_attrs["sttune.budget"] for t in trials if t.user_attrs.get("sttune.role") == "baseline")
    assert baselines == [0.5, 1.0]
    ran = {t.user_attrs["sttune.worker"]["index"]: t.user_attrs["sttune.worker"]["cuda_visible_devices"] for t in finished}
    assert len(ran) >= 2 and all(dev == str(i % 2) for i, dev in ran.items())
    # what the search exported is what one process selects from those trials
    run = open_run(tmp_path / "run")
    exported = json.loads((tmp_path / "run" / "best" / "synthetic.json").read_text())
    again = export_study(study, run.recipe, tmp_path / "again", run.recipe.export.rule, run.recipe.export.tolerance)
    assert exported["chosen"]["trial"] == again.chosen.number
    body = [yaml.safe_load(p.read_text()) for p in (tmp_path / "again" / "synthetic.yaml", tmp_path / "run" / "best" / "synthetic.yaml")]
    assert body[0] == body[1]


def test_a_killed_worker_loses_nothing_and_the_rerun_completes(tmp_path, plugin_root):
    recipe = write_recipe(tmp_path, "kill", trials=6, baseline_ladder=[])
    text = yaml.safe_load(recipe.read_text())
    text["strategies"] = [{"name": "slow"}]
    text["train"]["epochs"] = 2
    recipe.write_text(yaml.safe_dump(text))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_root), os.environ.get("PYTHONPATH", "")])}
    command = [str(Path(sys.executable).parent / "sttune"), "search", str(recipe), "--workers", "2", "--no-export"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    journal = tmp_path / "run" / "study.journal"
    victim = None
    try:
        end = time.monotonic() + 240
        while victim is None and time.monotonic() < end:
            time.sleep(0.5)
            if not journal.exists():
                continue
            try:  # the journal is opened before the study is created in it (after the data loads)
                trials = load(tmp_path, "kill").get_trials(deepcopy=False)
            except KeyError:
                continue
            done = [t for t in trials if t.state.name == "COMPLETE"]
            running = [t for t in trials if t.state.name == "RUNNING" and "sttune.job" in t.user_attrs
                       and "sttune.worker" in t.user_attrs]
            if done and running:
                victim = running[0]
                finished_before = {t.number: t.values for t in done}
                os.kill(victim.user_attrs["sttune.worker"]["pid"], signal.SIGKILL)
        assert victim is not None, "no trial was running"
        output, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    study = load(tmp_path, "kill")
    trials = {t.number: t for t in study.trials}
    for number, values in finished_before.items():  # every trial that had finished is still there
        assert trials[number].state.name == "COMPLETE" and trials[number].values == values
    killed = trials[victim.number]
    assert killed.state.name == "FAIL" and killed.user_attrs["sttune.fail_reason"].startswith("stale: no heartbeat")
    retries = [t for t in study.trials if t.user_attrs.get("sttune.retry_of") == victim.number]
    assert len(retries) == 1 and retries[0].state.name == "COMPLETE" and retries[0].params == killed.params
    assert count_done(study.trials) == 6
    assert "Traceback" not in output + rerun.stderr


def test_random_sampler_proposals_ignore_results():
    """`search.sampler: random` proposes the same sequence whatever the trials returned, so two
    searches that differ only in early stopping evaluate the same configurations."""
    def proposals(kind: str, flip: bool) -> list[float]:
        study = optuna.create_study(directions=["minimize", "minimize"], sampler=make_sampler(kind, 3, 2))
        out = []
        for _ in range(12):
            trial = study.ask()
            x = trial.suggest_float("x", 0.0, 1.0)
            out.append(x)
            study.tell(trial, (1 - x, x * x) if flip else (x, 1 - x * x))
        return out

    assert proposals("random", False) == proposals("random", True)
    assert proposals("tpe", False) != proposals("tpe", True)  # the property is the sampler's, not the test's
    assert isinstance(make_sampler("random", 0, 2), optuna.samplers.RandomSampler)
