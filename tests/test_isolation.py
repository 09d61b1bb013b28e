"""Trial isolation for real: out of memory, segfault, hang and NaN loss each fail one trial.

Every trial runs in a spawned child process (search.isolation: subprocess). The throwaway
plugins below are registered through real entry points (tests/plugin_kit.py); spawn hands
the children the parent's sys.path, so they find the plugins too.
"""

from __future__ import annotations

import optuna
import pytest
import yaml
from typer.testing import CliRunner

from plugin_kit import install_plugins, uninstall
from sttune.cli import app
from sttune.tuning.isolation import signal_reason
from sttune.tuning.storage import storage_for

runner = CliRunner()

CRASHERS = '''
import ctypes, math, resource, time
import torch
from sttune.api import Strategy

class Oom(Strategy):
    """Allocates far past an address-space limit it sets itself, in the second epoch."""
    name = "oom"
    def on_epoch_end(self, ctx):
        if ctx.epoch >= 1:
            with open("/proc/self/status") as f:
                vm = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize:"))
            resource.setrlimit(resource.RLIMIT_AS, (vm + (256 << 20), resource.RLIM_INFINITY))
            hog = bytearray(2 << 30)

class Segv(Strategy):
    name = "segv"
    def on_epoch_end(self, ctx):
        ctypes.string_at(0)

class Hang(Strategy):
    name = "hang"
    def on_epoch_end(self, ctx):
        time.sleep(600)

class Nan(Strategy):
    name = "nan"
    def weight(self, loss, batch, ctx):
        return loss * float("nan")
'''
NAMES = {"oom": "Oom", "segv": "Segv", "hang": "Hang", "nan": "Nan"}


@pytest.fixture(autouse=True)
def crashers(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    install_plugins(root, "crash_strategies", CRASHERS, {"strategy": {n: f"crash_strategies:{c}" for n, c in NAMES.items()}},
                    dist="crashkit")
    yield
    uninstall(root, "crash_strategies")


def test_signal_reasons():
    assert signal_reason(-11)[0].startswith("segmentation fault")
    assert signal_reason(-9) == ("killed by SIGKILL (out of memory? the kernel's OOM killer sends it)", True)


def test_each_crash_fails_its_trial_with_its_reason_and_a_run_of_them_stops_the_search(tmp_path):
    recipe = {
        "name": "iso",
        "datasets": [{"name": "synthetic", "params": {"n_nodes": 8, "n_days": 3, "steps_per_day": 48, "seed": 1}}],
        "model": {"name": "stid", "params": {"embed_dim": 8, "n_layers": 1}},
        "train": {"epochs": 2, "batch_size": 64, "device": "cpu", "seed": 0},
        "strategies": [{"name": n, "params": {}} for n in NAMES],
        # failures take no trial slot: the three in a row after the out-of-memory trial stop the search
        "search": {"trials": 5, "baseline_ladder": [], "predict": False, "shorten": False, "isolation": "subprocess", "trial_timeout_minutes": 0.05,
                   "max_consecutive_failures": 3},
        "run_dir": str(tmp_path / "run"), "cache_dir": str(tmp_path / "cache"),
    }
    path = tmp_path / "iso.yaml"
    path.write_text(yaml.safe_dump(recipe))
    # the full baseline first (it runs first anyway), then one trial per crash, in a known order
    storage = storage_for(None, tmp_path / "run")
    study = optuna.create_study(storage=storage, study_name="iso:synthetic", directions=["minimize"] * 2)
    study.enqueue_trial({}, user_attrs={"sttune.role": "baseline", "sttune.budget": 1.0})
    for name in ("oom", "segv", "hang", "nan"):
        study.enqueue_trial({"strategy": name})
    result = runner.invoke(app, ["search", str(path), "--no-export"])
    assert result.exit_code == 2, result.output
    assert "error: the last 3 trials failed (last: the training loss became nan at epoch 0." in result.output
    trials = optuna.load_study(study_name="iso:synthetic", storage=storage_for(None, tmp_path / "run")).trials
    assert len(trials) == 5
    reasons = {t.params.get("strategy"): (t.state.name, t.user_attrs.get("sttune.fail_reason")) for t in trials[1:]}
    assert trials[0].state.name == "COMPLETE" and "sttune.result" in trials[0].user_attrs
    state, reason = reasons["oom"]
    # out of memory: COMPLETE but infeasible (the sampler sees it), with its reason, never exported
    assert state == "COMPLETE" and reason.startswith("out of memory: MemoryError")
    oom = trials[1]
    assert oom.constraints == {"memory": 1.0} and oom.user_attrs["sttune.oom"] is True
    assert "sttune.result" not in oom.user_attrs and len(oom.values) == 2
    assert reasons["segv"] == ("FAIL", "segmentation fault (the trial process got SIGSEGV)")
    assert reasons["hang"][0] == "FAIL" and reasons["hang"][1].startswith("hang: exceeded 0.05 minutes")
    assert reasons["nan"][0] == "FAIL" and "training loss became nan" in reasons["nan"][1]
    assert "out of memory" in result.output and "segmentation fault" in result.output


def test_an_isolated_trial_relays_every_listener_event_and_stops_where_the_parent_says(tmp_path):
    """The child's events reach the parent's listener as if the trial ran inline: the
    preparation's start (one-way), its checkpoint and the epoch (answered: the parent's stop
    ends the child's run there), and why it stopped (one-way)."""
    from helpers import Heard
    from sttune.recipe.settings import Protocol, TrainConfig
    from sttune.recipe.spec import DatasetBlock
    from sttune.training.jobs import Job
    from sttune.tuning.isolation import train_isolated

    job = Job(DatasetBlock("synthetic", {"n_nodes": 6, "n_days": 3, "steps_per_day": 48, "seed": 0}),
              Protocol(in_len=6, out_len=3), "stid", {"embed_dim": 8, "n_layers": 1},
              [("stemdist", {"nrr": 0.5, "srr": 0.1, "t_outer": 2, "inner": 1, "net_steps": 1})],
              TrainConfig(epochs=3, batch_size=32, device="cpu"))
    heard = Heard(stop_at="epoch")
    result = train_isolated(job, tmp_path, heard, None)
    assert heard.kinds() == ["prepare_start", "checkpoint", "epoch", "stop"]
    assert heard.events[0] == ("prepare_start", "stemdist") and heard.events[1][1].strategy == "stemdist"
    assert result.epochs_run == 1 and heard.events[-1] == ("stop", result.stop_reason) == ("stop", "stopped: stopped at the epoch")
