"""The plugin contract kit: it catches broken plugins, refuses other API majors, and
`sttune plugins new|check` produce packages that install and pass it."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from plugin_kit import install_plugins, reset_plugin_caches, uninstall
from sttune.api import STModel, Strategy, STSeries
from sttune.cli import app
from sttune.errors import DataError, PluginError
from sttune.registry import discovery as plugins
from sttune.testing import check_plugin, run_contract

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


class KeepHalf(Strategy):
    """A well-behaved strategy: a seeded random half of the windows, uniform weights."""

    name = "keep_half"

    def __init__(self, keep: float = 0.5) -> None:
        self.keep = keep

    @classmethod
    def space(cls, trial):
        return {"keep": trial.suggest_float(f"{cls.name}.keep", 0.2, 1.0)}

    def select(self, ctx):
        return torch.randperm(ctx.train_size, generator=ctx.generator)[: max(1, int(self.keep * ctx.train_size))]

    def weight(self, loss, batch, ctx):
        return loss * 1.0


class WrongPrefix(KeepHalf):
    name = "wrong_prefix"

    @classmethod
    def space(cls, trial):
        return {"keep": trial.suggest_float("keep", 0.2, 1.0)}


class ShapeBreaker(KeepHalf):
    name = "shape_breaker"

    def transform(self, batch, ctx):  # drops a node from x only
        return batch.replace(x=batch.x[:, :, 1:])


class SilentSubset(KeepHalf):
    name = "silent_subset"

    def transform(self, batch, ctx):  # drops nodes consistently but never says which
        return batch.replace(x=batch.x[:, :, 1:], y=batch.y[:, :, 1:], node_inputs=batch.node_inputs[1:])


class NanWeights(KeepHalf):
    name = "nan_weights"

    def weight(self, loss, batch, ctx):
        return loss * float("nan")


class Duplicates(KeepHalf):
    name = "duplicates"

    def select(self, ctx):
        return torch.cat([torch.arange(5), torch.arange(5)])


class GlobalRng(KeepHalf):
    name = "global_rng"

    def select(self, ctx):  # ignores ctx.generator
        return torch.randperm(ctx.train_size)[: ctx.train_size // 2]


class QuietGlobalRng(KeepHalf):
    """Draws a random phase from the global RNG in on_epoch_end for some params, and the draw
    never changes what it selects: the old determinism check could not see it."""

    name = "quiet_global_rng"

    def on_epoch_end(self, ctx):
        self.phase = int(torch.randint(0, 2, (1,))) * 0  # the outcome never depends on it


class NumpyGlobalRng(KeepHalf):
    name = "numpy_global_rng"

    def weight(self, loss, batch, ctx):
        np.random.random()  # unused, but a draw
        return loss


class Raiser(KeepHalf):
    name = "raiser"

    def transform(self, batch, ctx):
        raise RuntimeError("boom")


class TensorDefault(KeepHalf):
    name = "tensor_default"

    def __init__(self, keep: float = 0.5, scale=torch.tensor(1.0)) -> None:  # noqa: B008 (the non-JSON default under test)
        super().__init__(keep)


class MisspeltHook(KeepHalf):
    name = "misspelt_hook"

    def on_epoch_ends(self, ctx):  # meant on_epoch_end: the trainer never calls it
        self.last_epoch = ctx.epoch


class LookAlikes(KeepHalf):
    """Typos and near-misses of hooks, beside a real hook and helpers that are fine."""

    name = "look_alikes"

    def selec(self, ctx):
        return None

    def transform_batchs(self, batch, ctx):
        return batch

    def ratio_at(self, epoch):  # a public helper far from every hook name: fine
        return self.keep

    def _on_epoch_ends(self, ctx):  # private: never a hook, whatever its name
        pass


class ExtraArgument(KeepHalf):
    name = "extra_argument"

    def select(self, ctx, fraction):  # the trainer passes ctx alone
        return None


class FlexibleSignatures(KeepHalf):
    """Hooks that take what the trainer passes in other shapes: other names, *args, defaults."""

    name = "flexible_signatures"

    def select(self, *args):
        return super().select(*args)

    def weight(self, loss, batch, ctx, scale=1.0, **extra):
        return loss * scale

    def on_batch_end(self, *args, **kwargs):
        pass

    def on_epoch_end(self, context):
        pass


def failed(results) -> set[str]:
    return {r.check for r in results if r.status == "fail"}


def test_a_good_strategy_passes_every_check():
    results = check_plugin("strategy", KeepHalf, {"keep": 0.5})
    assert failed(results) == set(), [r for r in results if not r.ok]
    assert {r.check for r in results} >= {"space_prefix", "select", "transform", "weight", "deterministic", "trains"}


@pytest.mark.parametrize(
    ("cls", "expected", "reason"),
    [
        (WrongPrefix, {"space_prefix"}, "must start with 'wrong_prefix.'"),
        (ShapeBreaker, {"transform", "trains"}, "node counts disagree"),
        (SilentSubset, {"transform", "trains"}, "does not say which"),
        (NanWeights, {"weight", "trains"}, "non-finite"),
        (Duplicates, {"select"}, "duplicate"),
        (GlobalRng, {"deterministic", "global_rng"}, "ctx.generator"),
        (QuietGlobalRng, {"global_rng"}, "drew from the global RNG in on_epoch_end (torch)"),
        (NumpyGlobalRng, {"global_rng"}, "drew from the global RNG in weight (numpy)"),
        (Raiser, {"transform", "trains"}, "transform raised RuntimeError: boom"),
        (TensorDefault, {"json_params"}, "not JSON-serialisable"),
        (MisspeltHook, {"hooks"}, "MisspeltHook.on_epoch_ends is not a hook of sttune.api.Strategy "
                                  "(did you mean on_epoch_end?): sttune never calls it; rename it to on_epoch_end"),
        (LookAlikes, {"hooks"}, "LookAlikes.selec is not a hook of sttune.api.Strategy (did you mean select?)"),
        (ExtraArgument, {"hooks", "select", "trains"},
         "ExtraArgument.select(self, ctx, fraction) cannot take what sttune passes to Strategy.select(self, ctx) "
         "(missing a required argument: 'fraction')"),
    ],
)
def test_each_broken_strategy_fails_the_right_check(cls, expected, reason):
    results = check_plugin("strategy", cls)
    assert failed(results) == expected, [r for r in results if not r.ok]
    first = next(r for r in results if r.check == sorted(expected - {"trains"})[0])
    assert reason in first.detail and "\n" not in first.detail


def test_look_alike_names_are_refused_and_helpers_are_not():
    (hooks,) = [r for r in check_plugin("strategy", LookAlikes) if r.check == "hooks"]
    assert "LookAlikes.transform_batchs is not a hook" in hooks.detail and "did you mean transform?" in hooks.detail
    assert "ratio_at" not in hooks.detail and "_on_epoch_ends" not in hooks.detail
    assert "\n" not in hooks.detail


def test_hooks_taking_the_arguments_in_another_shape_pass():
    results = check_plugin("strategy", FlexibleSignatures, {"keep": 0.5})
    assert failed(results) == set(), [r for r in results if not r.ok]


def test_every_installed_strategy_and_model_keeps_the_hook_contract():
    from sttune.registry.hooks import model_problems, strategy_problems

    found = {kind: sorted(plugins.discover(kind)) for kind in ("strategy", "model")}
    assert {"st_prune", "stemdist", "dynst"} <= set(found["strategy"]) and {"stid", "gwnet", "stgcn"} <= set(found["model"])
    for name in found["strategy"]:
        assert strategy_problems(plugins.load("strategy", name)) == [], name
    for name in found["model"]:
        assert model_problems(plugins.load("model", name)) == [], name
    sys.path.insert(0, str(ROOT / "plugins" / "sttune-curriculum"))
    try:
        from sttune_curriculum import Curriculum

        assert strategy_problems(Curriculum) == []
    finally:
        sys.path.remove(str(ROOT / "plugins" / "sttune-curriculum"))


class Ignorant(STModel):
    """Ignores `nodes`: always forecasts every node."""

    name = "ignorant"

    def __init__(self, spec) -> None:
        super().__init__(spec)
        self.proj = torch.nn.Linear(spec.in_len, spec.out_len)
        self.bias = torch.nn.Parameter(torch.zeros(spec.n_nodes))

    @classmethod
    def space(cls, trial):
        return {"width": trial.suggest_int("width", 1, 4)}

    def forward(self, x, nodes=None, node_inputs=None, graph=None):
        pad = self.bias.shape[0] - x.shape[2]
        x = torch.nn.functional.pad(x[..., 0], (0, pad))  # [B, T, N] whatever was asked
        return (self.proj(x.transpose(1, 2)) + self.bias[:, None]).transpose(1, 2)


def test_a_model_that_ignores_nodes_and_its_prefix_fails():
    results = check_plugin("model", Ignorant)
    assert {"forward_subset", "space_prefix", "space_params"} <= failed(results)
    assert "forward_full" not in failed(results) and "trains" not in failed(results)


class TwoArguments(Ignorant):
    name = "two_arguments"

    def forward(self, x, nodes=None):  # the trainer passes x, nodes, node_inputs, graph
        return super().forward(x, nodes)


def test_a_model_whose_forward_cannot_take_what_the_trainer_passes_fails():
    results = check_plugin("model", TwoArguments)
    (hooks,) = [r for r in results if r.check == "hooks"]
    assert hooks.status == "fail" and "TwoArguments.forward(self, x, nodes=...) cannot take what sttune passes" in hooks.detail
    assert "accept (x, nodes, node_inputs, graph)" in hooks.detail
    assert next(r for r in check_plugin("model", Ignorant) if r.check == "hooks").status == "pass"


def float64_loader(n: int = 4) -> STSeries:
    if n < 1:
        raise ValueError("n must be positive")  # should be a DataError
    return STSeries("f64", np.ones((50, n, 1)), np.eye(n, dtype=np.float32), steps_per_day=0)


def good_loader(n: int = 4) -> STSeries:
    if n < 1:
        raise DataError("n must be positive", "set n >= 1")
    values = np.random.default_rng(0).random((120, n, 1)).astype(np.float32)
    return STSeries("good", values, np.eye(n, dtype=np.float32), steps_per_day=24)


def test_dataset_contract():
    assert failed(check_plugin("dataset", good_loader)) == set()
    results = check_plugin("dataset", float64_loader)
    assert failed(results) == {"values", "timing", "bad_params"}
    assert "not sttune.errors.DataError" in next(r.detail for r in results if r.check == "bad_params")


FUTURE = '''
from sttune.api import Strategy

class Future(Strategy):
    name = "future"
    api_version = "2.0"

def load_old(**params):
    return None

load_old.api_version = "0.3"
'''


@pytest.fixture
def future_plugins(tmp_path):
    install_plugins(tmp_path, "future_mod", FUTURE, {"strategy": {"future": "future_mod:Future"},
                                                    "dataset": {"old_data": "future_mod:load_old"}}, dist="futurekit")
    yield
    uninstall(tmp_path, "future_mod")


def test_another_api_major_is_refused_in_one_line(future_plugins):
    with pytest.raises(PluginError) as caught:
        plugins.load("strategy", "future")
    line = caught.value.one_line()
    assert "\n" not in line and "'future'" in line and "futurekit 0.1" in line
    assert "targets plugin API 2.0, but this sttune provides 1.0" in line
    assert "upgrade sttune to a release providing plugin API 2.x" in line and "futurekit release built for plugin API 1.x" in line
    with pytest.raises(PluginError) as caught:
        plugins.load("dataset", "old_data")
    line = caught.value.one_line()
    assert "'old_data'" in line and "targets plugin API 0.3" in line and "upgrade futurekit to a release built for plugin API 1.x" in line
    assert [(r.check, r.status) for r in run_contract("strategy", "future")] == [("import", "fail")]
    result = runner.invoke(app, ["plugins", "check", "future"])
    assert result.exit_code == 1 and "upgrade sttune" in result.output


TWINS = '''
from sttune.api import Strategy

class Twin(Strategy):
    name = "twin"

class Solo(Strategy):
    name = "solo"
'''


@pytest.fixture
def twin_plugins(tmp_path):
    install_plugins(tmp_path / "a", "twin_a", TWINS, {"strategy": {"twin": "twin_a:Twin", "solo": "twin_a:Solo"}},
                    dist="twinkit_a")
    install_plugins(tmp_path / "b", "twin_b", TWINS, {"strategy": {"twin": "twin_b:Twin"}}, dist="twinkit_b")
    yield
    uninstall(tmp_path / "a", "twin_a")
    uninstall(tmp_path / "b", "twin_b")


def test_a_name_two_distributions_register_is_an_error_naming_both(twin_plugins):
    for lookup in (plugins.info, plugins.load):
        with pytest.raises(PluginError) as caught:
            lookup("strategy", "twin")
        line = caught.value.one_line()
        assert "\n" not in line and "strategy 'twin' is registered by 2 installed distributions" in line
        assert "twinkit_a" in line and "twinkit_b" in line
    assert plugins.load("strategy", "solo").name == "solo"  # the other names of either distribution still load
    result = runner.invoke(app, ["plugins", "show", "twin"])
    assert result.exit_code == 2 and "twinkit_a" in result.output and "twinkit_b" in result.output
    # stderr is no terminal here: the error is one line, however long (never wrapped at 120 columns)
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("error: strategy 'twin' is registered by 2") and last.endswith("in one)"), result.output
    result = runner.invoke(app, ["plugins", "list", "--json"])  # the clash in place of its space, as any error
    rows = {r["name"]: r for r in json.loads(result.output)["plugins"]}
    assert result.exit_code == 0 and rows["solo"]["error"] is None
    assert all(part in rows["twin"]["error"] for part in ("registered by 2", "twinkit_a", "twinkit_b"))


TOYS = '''
import torch
from sttune.api import Strategy

class Good(Strategy):
    name = "good_toy"

    def select(self, ctx):
        return torch.arange(ctx.train_size // 2)

class Dup(Strategy):
    name = "dup_toy"

    def select(self, ctx):
        return torch.zeros(4, dtype=torch.long)
'''


def test_plugins_check_exit_codes(tmp_path):
    install_plugins(tmp_path, "toys_mod", TOYS, {"strategy": {"good_toy": "toys_mod:Good", "dup_toy": "toys_mod:Dup"}})
    try:
        good = runner.invoke(app, ["plugins", "check", "good_toy"])
        assert good.exit_code == 0 and "0 failed" in good.output, good.output
        bad = runner.invoke(app, ["plugins", "check", "dup_toy"])
        assert bad.exit_code == 1 and "duplicate" in bad.output and "✗ fail" in bad.output
    finally:
        uninstall(tmp_path, "toys_mod")
    unknown = runner.invoke(app, ["plugins", "check", "no_such_plugin"])
    assert unknown.exit_code == 2 and "no plugin named 'no_such_plugin'" in unknown.output
    assert "Traceback" not in unknown.output and len(unknown.output.strip().splitlines()) == 1
    params = runner.invoke(app, ["plugins", "check", "st_prune", "--params", "{oops"])
    assert params.exit_code == 2 and "--params is not valid JSON" in params.output


MISSPELT = '''
from sttune.api import Strategy

class Misspelt(Strategy):
    name = "misspelt"

    def on_epoch_ends(self, ctx):
        self.last_epoch = ctx.epoch

class WrongSelect(Strategy):
    name = "wrong_select"

    def select(self, ctx, fraction):
        return None
'''


def test_plugins_check_names_a_misspelt_hook_in_one_line_and_refuses_a_wrong_signature(tmp_path):
    install_plugins(tmp_path, "misspelt_mod", MISSPELT, {"strategy": {"misspelt": "misspelt_mod:Misspelt",
                                                                     "wrong_select": "misspelt_mod:WrongSelect"}})
    try:
        result = runner.invoke(app, ["plugins", "check", "misspelt"])
        assert result.exit_code == 1, result.output
        assert "1 failed" in result.output
        (line,) = [ln for ln in result.output.splitlines() if ln.startswith("✗ ")]
        assert line == ("✗ hooks: Misspelt.on_epoch_ends is not a hook of sttune.api.Strategy (did you mean "
                        "on_epoch_end?): sttune never calls it; rename it to on_epoch_end, or to _on_epoch_ends "
                        "if it is a helper")
        assert plugins.load("strategy", "misspelt").name == "misspelt"  # a guess: loading still works
        # a hook sttune cannot call is refused when the plugin loads (it would raise mid-run)
        with pytest.raises(PluginError, match=r"WrongSelect.select\(self, ctx, fraction\) cannot take what sttune passes"):
            plugins.load("strategy", "wrong_select")
        result = runner.invoke(app, ["plugins", "check", "wrong_select"])
        (line,) = [ln for ln in result.output.splitlines() if ln.startswith("✗ ")]
        assert result.exit_code == 1 and line.startswith("✗ import: strategy plugin 'wrong_select' (testkit 0.1): ")
        assert "missing a required argument: 'fraction'" in line
    finally:
        uninstall(tmp_path, "misspelt_mod")


def test_plugins_new_refuses_bad_names_and_used_folders(tmp_path):
    for name in ("1st", "my-prune", "class"):
        result = runner.invoke(app, ["plugins", "new", name, "--kind", "strategy", "--dir", str(tmp_path / "x")])
        assert result.exit_code == 2 and "is not a usable plugin name" in result.output
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "keep.txt").write_text("mine")
    result = runner.invoke(app, ["plugins", "new", "fine", "--kind", "model", "--dir", str(tmp_path / "used")])
    assert result.exit_code == 2 and "not empty" in result.output and len(result.output.strip().splitlines()) == 1
    assert runner.invoke(app, ["plugins", "new", "fine", "--kind", "sampler"]).exit_code == 2


@pytest.fixture(scope="module")
def scaffolds(tmp_path_factory):
    """One skeleton per kind, written by the CLI and pip-installed (offline) into one folder."""
    root = tmp_path_factory.mktemp("scaffolds")
    dirs = {}
    for kind in ("strategy", "model", "dataset"):
        dirs[kind] = root / f"pkg-{kind}"
        result = runner.invoke(app, ["plugins", "new", f"new_{kind}", "--kind", kind, "--dir", str(dirs[kind])])
        assert result.exit_code == 0, result.output
    site = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(site), *map(str, dirs.values())], check=True, capture_output=True)
    sys.path.insert(0, str(site))
    reset_plugin_caches()
    yield dirs
    sys.path.remove(str(site))
    for kind in dirs:
        sys.modules.pop(f"sttune_new_{kind}", None)
        sys.modules.pop(f"sttune_new_{kind}.plugin", None)
    reset_plugin_caches()


@pytest.mark.parametrize("kind", ["strategy", "model", "dataset"])
def test_generated_package_installs_and_passes_its_contract(scaffolds, kind):
    pyproject = tomllib.loads((scaffolds[kind] / "pyproject.toml").read_text())
    assert f"new_{kind}" in pyproject["project"]["entry-points"][plugins.GROUPS[kind]]
    assert plugins.info(kind, f"new_{kind}").distribution == f"sttune-new-{kind}"
    results = run_contract(kind, f"new_{kind}")
    assert failed(results) == set() and results[0].check == "import", results
    # the generated tests/test_contract.py, run method by method (no nested pytest session)
    spec = importlib.util.spec_from_file_location(f"generated_{kind}", scaffolds[kind] / "tests" / "test_contract.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (suite,) = [v for k, v in vars(module).items() if k.startswith("Test")]
    ran = 0
    for attr in sorted(a for a in dir(suite) if a.startswith("test_")):
        try:
            getattr(suite(), attr)()
            ran += 1
        except pytest.skip.Exception:
            pass
    assert ran >= 6


def test_the_example_package_passes_its_contract(monkeypatch):
    monkeypatch.syspath_prepend(ROOT / "plugins" / "sttune-curriculum")  # importable even when not installed
    from sttune_curriculum import Curriculum

    results = check_plugin("strategy", Curriculum, {"start_fraction": 0.3, "full_at": 1.0})
    assert failed(results) == set(), results
    assert Curriculum.api_version.split(".")[0] == "1"
