"""The catalogue of bad inputs: each is answered by one clear line and a non-zero exit.

Recipes, data files, plugins, storage URLs and command-line arguments. No traceback, and
nothing lost: a bad input never touches an existing run. docs/errors.md lists every case
with the exact line printed (regenerate it with ``python tests/test_bad_inputs.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from plugin_kit import install_plugins, uninstall
from sttune.cli import app

runner = CliRunner()

GOOD = {
    "name": "bad",
    "datasets": [{"name": "synthetic", "params": {"n_nodes": 8, "n_days": 3, "steps_per_day": 48}}],
    "model": {"name": "stid", "params": {"embed_dim": 8, "n_layers": 1}},
    "train": {"epochs": 1, "device": "cpu"},
    "strategies": [{"name": "st_prune"}],
    "search": {"trials": 3, "baseline_ladder": [], "predict": False, "shorten": False},
}
BROKEN_PLUGINS = '''
raise ImportError("No module named 'missing_dependency'")
'''
NOT_A_CLASS = '''
not_a_strategy = 42
'''


def recipe(**changes):
    out = yaml.safe_load(yaml.safe_dump(GOOD))
    for dotted, value in changes.items():
        node = out
        *path, last = dotted.split(".")
        for key in path:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        node[last] = value
    return out


# (id, what the case writes: raw text, a recipe dict, or None; the command line; the expected fragment)
# In the command line, RECIPE is the written recipe, TMP the test's folder.
CASES = [
    ("yaml-syntax", "datasets: [\n", ["search", "RECIPE"], "malformed YAML"),
    ("empty-recipe", "", ["search", "RECIPE"], "is empty"),
    ("recipe-not-mapping", "- a\n- b\n", ["search", "RECIPE"], "must be a mapping"),
    ("unknown-key", recipe(bogus=1), ["search", "RECIPE"], "bogus: unknown key"),
    ("misspelt-key", recipe(**{"train.epoch": 2}), ["search", "RECIPE"], "train.epoch: unknown key. did you mean `epochs`?"),
    ("misspelt-model-param", recipe(**{"model.params.embed_dimm": 8}), ["search", "RECIPE"],
     "got an unexpected keyword argument 'embed_dimm'. did you mean `embed_dim`? accepted params:"),
    ("epochs-not-int", recipe(**{"train.epochs": "ten"}), ["search", "RECIPE"], "train.epochs: expected an integer"),
    ("epochs-negative", recipe(**{"train.epochs": -3}), ["search", "RECIPE"], "train.epochs: must be at least 1"),
    ("trials-zero", recipe(**{"search.trials": 0}), ["search", "RECIPE"], "search.trials: must be at least 1"),
    ("too-few-trials", recipe(**{"search.trials": 1}), ["search", "RECIPE"], "leaving none for the strategies"),
    ("budget-zero", recipe(**{"search.budget": 0}), ["search", "RECIPE"], "search.budget: must be a finite number above 0"),
    ("budget-option-negative", recipe(), ["search", "RECIPE", "--budget=-2"], "--budget must be a finite number above 0"),
    ("max-failures-zero", recipe(**{"search.max_consecutive_failures": 0}), ["search", "RECIPE"],
     "search.max_consecutive_failures: must be at least 1"),
    ("unknown-model", recipe(**{"model.name": "nosuchmodel"}), ["search", "RECIPE"], "unknown model 'nosuchmodel'"),
    ("unknown-strategy", recipe(strategies=[{"name": "nope"}]), ["search", "RECIPE"], "unknown strategy 'nope'"),
    ("bad-dataset-value", recipe(**{"datasets.0.params.n_nodes": -1}), ["search", "RECIPE"], "n_nodes"),
    ("unknown-dataset-param", recipe(**{"datasets.0.params.colour": "red"}), ["search", "RECIPE"], "colour"),
    ("bad-objectives", recipe(**{"search.objectives": ["device_seconds"]}), ["search", "RECIPE"],
     "start with [val_mae, device_seconds]"),
    ("params-with-choices", recipe(model={"choices": ["stid"], "params": {"embed_dim": 8}}), ["search", "RECIPE"],
     "model.params"),
    ("unknown-sampler", recipe(**{"search.sampler": "cmaes"}), ["search", "RECIPE"], "search.sampler"),
    ("bad-isolation", recipe(**{"search.isolation": "docker"}), ["search", "RECIPE"], "search.isolation"),
    ("trial-timeout-zero", recipe(**{"search.trial_timeout_minutes": 0}), ["search", "RECIPE"],
     "search.trial_timeout_minutes: must be positive"),
    ("stale-too-short", recipe(**{"search.heartbeat_seconds": 10, "search.stale_after_seconds": 5}), ["search", "RECIPE"],
     "search.stale_after_seconds: must be at least twice heartbeat_seconds"),
    ("missing-recipe", None, ["search", "TMP/nowhere.yaml"], "does not exist"),
    ("recipe-is-a-folder", None, ["search", "TMP"], "is a folder, not a recipe file"),
    ("data-file-missing", recipe(datasets=[{"name": "arrays", "params": {"path": "TMP/none.npy", "adjacency": "TMP/none.csv"}}]),
     ["search", "RECIPE"], "none.npy"),
    ("data-file-garbage", recipe(datasets=[{"name": "arrays", "params": {"path": "TMP/garbage.npy", "adjacency": "TMP/adj.csv"}}]),
     ["search", "RECIPE"], "garbage.npy"),
    ("plugin-import-fails", recipe(strategies=[{"name": "broken"}]), ["search", "RECIPE"], "broken"),
    ("plugin-not-a-strategy", recipe(strategies=[{"name": "notclass"}]), ["search", "RECIPE"],
     "is not a subclass of sttune.api.Strategy"),
    ("storage-unknown-scheme", recipe(**{"search.storage": "foo://db/x"}), ["search", "RECIPE"], "unknown scheme 'foo'"),
    ("storage-not-a-url", recipe(**{"search.storage": "mydb"}), ["search", "RECIPE"],
     "neither a journal file nor a database URL"),
    ("storage-postgres-unreachable", recipe(**{"search.storage": "postgresql://u:secret@127.0.0.1:1/db"}), ["search", "RECIPE"],
     "cannot open the study storage postgresql://u:***@127.0.0.1:1/db"),
    ("storage-journal-folder-is-a-file", recipe(**{"search.storage": "TMP/a-file/study.journal"}), ["search", "RECIPE"],
     "cannot open the journal file"),
    ("timeout-nan", recipe(**{"search.timeout_minutes": float("nan")}), ["search", "RECIPE"],
     "search.timeout_minutes: must be a finite number, got nan"),
    ("lr-infinite", recipe(**{"train.lr": float("inf")}), ["search", "RECIPE"], "train.lr: must be a finite number, got inf"),
    ("epochs-past-64-bits", recipe(**{"train.epochs": 10**30}), ["search", "RECIPE"],
     "train.epochs: must be an integer within 64 bits"),
    ("workers-zero", recipe(), ["search", "RECIPE", "--workers", "0"], "--workers must be a whole number of at least 1, got 0"),
    ("worker-index-negative", recipe(), ["worker", "RECIPE", "--worker-index", "-1"], "--worker-index must be from 0 to 65535"),
    ("worker-storage-unreachable", recipe(), ["worker", "RECIPE", "--storage", "postgresql://u@127.0.0.1:1/db"],
     "cannot open the study storage"),
    ("export-no-run", None, ["export", "TMP/nowhere"], "no run folder or recipe"),
    ("export-unknown-rule", None, ["export", "TMP", "--rule", "fastest"],
     "'fastest' is not one of 'fastest-within', 'knee', 'min-mae'"),
    ("run-folder-under-a-file", recipe(run_dir="TMP/a-file/run"), ["search", "RECIPE"], "cannot create the run folder"),
    # 1. lost or corrupted studies: storages that cannot keep a study, a run folder holding the user's recipe
    ("storage-in-memory", recipe(**{"search.storage": "sqlite://"}), ["search", "RECIPE"], "keeps the study in memory"),
    ("storage-in-memory-named", recipe(**{"search.storage": "sqlite:///:memory:"}), ["search", "RECIPE"],
     "keeps the study in memory"),
    ("run-dir-holds-the-recipe", recipe(), ["search", "RECIPE", "--run-dir", "TMP"],
     "already holds a recipe.yaml that sttune did not write"),
    # 2. hangs and giant output
    ("yaml-alias-bomb", "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{k}: &{k} [{', '.join(['*' + p] * 9)}]\n" for p, k in zip("abcdefg", "bcdefgh")), ["search", "RECIPE"], "alias bomb"),
    ("huge-value-echoed", recipe(**{"train.epochs": "x" * 100_000}), ["search", "RECIPE"], "(100002 characters)"),
    ("workers-huge", recipe(), ["search", "RECIPE", "--workers", str(10**12)], "is more than this machine can run"),
    ("timeout-option-infinite", recipe(), ["search", "RECIPE", "--timeout-minutes", "inf"],
     "--timeout-minutes must be a finite number"),
    # 3. tracebacks from values the validator let through
    ("yaml-self-reference", "name: &x [*x]\n", ["search", "RECIPE"], "an anchor refers to itself"),
    ("key-not-text", yaml.safe_dump(GOOD) + "1: one\n", ["search", "RECIPE"], "keys must be text"),
    ("param-key-not-text", recipe(**{"datasets.0.params": {1: 2}}), ["search", "RECIPE"], "keys must be text"),
    ("param-a-date", recipe(**{"datasets.0.params.start": __import__("datetime").date(2020, 1, 1)}), ["search", "RECIPE"],
     "datasets[0].params.start: expected plain data"),
    ("sampler-seed-negative", recipe(**{"search.seed": -1}), ["search", "RECIPE"], "search.seed: must be from 0"),
    ("tolerance-nan", recipe(**{"export.tolerance": float("nan")}), ["search", "RECIPE"], "export.tolerance: must be a finite number"),
    ("constraint-nan", recipe(**{"search.max_mae_increase": float("nan")}), ["search", "RECIPE"],
     "search.max_mae_increase: must be a finite number"),
    ("rung-tolerance-nan", recipe(**{"search.early_stopping": {"enabled": True, "tolerance": [float("nan"), 0.1]}}),
     ["search", "RECIPE"], "search.early_stopping.tolerance[0]: must be a finite number"),
    ("model-param-wrong-type", recipe(**{"model.params.embed_dim": "eight"}), ["search", "RECIPE"], "model 'stid': param embed_dim must be a number like its default"),
    ("model-param-unknown", recipe(**{"model.params.colour": "red"}), ["search", "RECIPE"],
     "model 'stid': got an unexpected keyword argument 'colour'"),
    ("device-malformed", recipe(**{"train.device": "cuda:x"}), ["search", "RECIPE"], "train.device: 'cuda:x' is not a device"),
    ("device-absent", recipe(**{"train.device": "cuda:99"}), ["search", "RECIPE"], "train.device: "),
    ("name-with-nul", recipe(name="a\x00b"), ["search", "RECIPE"], "name: contains the control character '\\x00'"),
    ("id-with-escape", recipe(**{"datasets.0.id": "x\x1b[31m"}), ["search", "RECIPE"], "datasets[0].id: contains the control character"),
    ("scaffold-folder-unwritable", None, ["plugins", "new", "myp", "--kind", "strategy", "--dir", "TMP/a-file/x"],
     "cannot write TMP/a-file/x/pyproject.toml"),
    ("scaffold-folder-control-char", None, ["plugins", "new", "myp", "--kind", "strategy", "--dir", "TMP/a\x01b"],
     "contains a control character"),
    ("worker-index-huge", recipe(), ["worker", "RECIPE", "--worker-index", str(2**40)], "--worker-index must be from 0 to"),
    # 4. exit 0 on nonsense: non-finite limits, names that are paths
    ("heartbeat-nan", recipe(**{"search.heartbeat_seconds": float("nan")}), ["search", "RECIPE"],
     "search.heartbeat_seconds: must be a finite number"),
    ("trial-timeout-infinite", recipe(**{"search.trial_timeout_minutes": float("inf")}), ["search", "RECIPE"],
     "search.trial_timeout_minutes: must be a finite number"),
    ("early-stopping-factor-nan", recipe(**{"search.early_stopping": {"enabled": True, "reduction_factor": float("nan")}}),
     ["search", "RECIPE"], "search.early_stopping.reduction_factor: must be a finite number"),
    ("name-climbs-out", recipe(name="../escape"), ["search", "RECIPE"], "name: '../escape' is not a usable name"),
    ("name-dot-dot", recipe(name=".."), ["search", "RECIPE"], "is not a usable name"),
    ("dataset-id-a-path", recipe(**{"datasets.0.id": "sub/x"}), ["search", "RECIPE"], "datasets[0].id: 'sub/x' is not a usable name"),
    # 6. messages that help
    ("plugins-check-unknown-param", None, ["plugins", "check", "st_prune", "--params", '{"bogus": 1}'],
     "strategy 'st_prune': got an unexpected keyword argument 'bogus'"),
    # 7. issue #31: paths that are not files, folders sttune did not write, names the system refuses
    ("recipe-is-a-fifo", None, ["search", "TMP/fifo.yaml"], "recipe file TMP/fifo.yaml is a FIFO (named pipe), not a file"),
    ("recipe-is-a-device", None, ["train", "/dev/null"], "recipe file /dev/null is a character device, not a file"),
    ("recipe-name-too-long", None, ["train", "TMP/" + "x" * 300 + ".yaml"], "a name in the path is too long for the file system"),
    ("run-dir-is-a-fifo", recipe(), ["search", "RECIPE", "--run-dir", "TMP/fifo"], "it is a FIFO (named pipe)"),
    ("journal-is-a-fifo", recipe(**{"search.storage": "TMP/fifo.journal"}), ["search", "RECIPE"],
     "the journal TMP/fifo.journal is a FIFO (named pipe), not a file"),
    ("data-file-is-a-fifo", recipe(datasets=[{"name": "arrays", "params": {"path": "TMP/fifo.npy", "adjacency": "TMP/adj.csv"}}]),
     ["search", "RECIPE"], "fifo.npy is a FIFO (named pipe), not a file"),
    ("export-a-fifo", None, ["export", "TMP/fifo"], "TMP/fifo is a FIFO (named pipe), not a run folder or a recipe"),
    ("save-into-the-recipes-folder", recipe(), ["train", "RECIPE", "--save", "TMP"], "it holds files sttune did not save there"),
    ("save-into-a-device", recipe(), ["train", "RECIPE", "--save", "/dev/null"], "it is a character device, not a folder"),
    ("save-name-too-long", recipe(), ["train", "RECIPE", "--save", "TMP/" + "m" * 300], "too long for the file system"),
    ("train-dataset-a-path", recipe(), ["train", "RECIPE", "--dataset", "../x"], "--dataset '../x' is not a dataset label"),
    ("plugin-name-not-ascii", None, ["plugins", "new", "ñandú", "--kind", "strategy", "--dir", "TMP/p"],
     "'ñandú' is not a usable plugin name"),
    ("plugin-name-trailing-underscore", None, ["plugins", "new", "prune_", "--kind", "strategy", "--dir", "TMP/p"],
     "'prune_' is not a usable plugin name"),
]
# the categories of issue #24 (docs/errors.md has a table per category): first case -> heading
SECTIONS = {
    "storage-in-memory": "1. Lost or corrupted studies",
    "yaml-alias-bomb": "2. Hangs and giant output",
    "yaml-self-reference": "3. Values that used to end in a traceback",
    "heartbeat-nan": "4. Nonsense that used to exit 0",
    "plugins-check-unknown-param": "6. Messages that help",
    "recipe-is-a-fifo": "7. Paths that are not files, folders sttune did not write, names the system refuses",
}
LINE_LIMIT = 600  # characters: whatever a hostile input echoes, the line stays readable


@pytest.fixture
def world(tmp_path):
    """The files the cases refer to, and the throwaway broken plugins."""
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "garbage.npy").write_bytes(b"\x00\x01 definitely not numpy")
    (tmp_path / "adj.csv").write_text("0,1\n1,0\n")
    for name in ("fifo", "fifo.yaml", "fifo.journal", "fifo.npy"):
        os.mkfifo(tmp_path / name)
    site = tmp_path / "site"
    install_plugins(site, "broken_plugin", BROKEN_PLUGINS, {"strategy": {"broken": "broken_plugin:Broken"}}, dist="brokenkit")
    install_plugins(site, "notclass_plugin", NOT_A_CLASS, {"strategy": {"notclass": "notclass_plugin:not_a_strategy"}},
                    dist="notclasskit")
    yield tmp_path
    uninstall(site, "broken_plugin")
    uninstall(site, "notclass_plugin")


def run_case(folder: Path, content, argv: list[str]):
    path = folder / "recipe.yaml"
    if content is not None:
        text = content if isinstance(content, str) else yaml.safe_dump(content)
        path.write_text(text.replace("TMP", str(folder)))
    args = [a.replace("RECIPE", str(path)).replace("TMP", str(folder)) for a in argv]
    if args[0] in ("search", "worker") and "--run-dir" not in args and content is not None and "run_dir" not in str(content):
        args += ["--run-dir", str(folder / "run")]
    return runner.invoke(app, args)


@pytest.mark.parametrize(("content", "argv", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gives_one_line_and_a_nonzero_exit(world, content, argv, expected):
    result = run_case(world, content, argv)
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and expected.replace("TMP", str(world)) in lines[0], lines[0]
    assert len(lines[0]) <= LINE_LIMIT + len(str(world)), len(lines[0])
    assert not (world / "run" / "study.journal").exists()  # nothing was started
    assert not list(world.glob("**/recipe.yaml"))[1:], list(world.glob("**/recipe.yaml"))  # no snapshot written


def test_a_postgres_url_without_its_driver_says_how_to_install_it(world, monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("psycopg2", "psycopg") else real_find_spec(name, *a))
    result = run_case(world, recipe(**{"search.storage": "postgresql://u:secret@127.0.0.1:1/db"}), ["search", "RECIPE"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.strip() == ("error: the storage postgresql://u:***@127.0.0.1:1/db needs the PostgreSQL driver "
                                     "psycopg2, which is not installed. pip install 'sttune[postgres]' (or psycopg2-binary)")
    assert not (world / "run" / "study.journal").exists()


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished three-trial search (no export), shared by the cases that need a run."""
    folder = tmp_path_factory.mktemp("finished")
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe(cache_dir=str(folder / "cache"))))
    result = runner.invoke(app, ["search", str(path), "--run-dir", str(folder / "run"), "--no-export"])
    assert result.exit_code == 0, result.output
    return folder


def one_error(args: list[str], progress: bool = False) -> str:
    """The command's one error line (exit 2, no traceback); ``progress``: the notes and
    progress lines a command prints before it may come first."""
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors == lines[-1:] and (progress or len(lines) == 1), result.output
    return lines[-1]


# 5. resuming after the recipe changed: what defines the study may not change, the rest may
@pytest.mark.parametrize(("change", "expected"), [
    ({"strategies": [{"name": "dynst"}]}, "the strategies changed (st_prune → dynst; finished trials use st_prune)"),
    ({"datasets.0.params.n_nodes": 9}, "the dataset params changed (n_nodes 8 → 9)"),
    ({"search.objectives": ["val_mae", "device_seconds", "peak_memory"]}, "the objectives changed"),
    ({"train.epochs": 2}, "the training settings changed (train.epochs 1 → 2)"),
    ({"train.batch_size": 32}, "the training settings changed (train.batch_size 64 → 32)"),
    ({"train.lr": 0.01}, "the training settings changed (train.lr 0.002 → 0.01)"),
    ({"model.params.embed_dim": 16}, "the model changed (model.params.embed_dim 8 → 16)"),
    ({"protocol.in_len": 6}, "the protocol changed (protocol.in_len 12 → 6)"),
], ids=["strategies", "dataset-params", "objectives", "epochs", "batch-size", "lr", "model-params", "protocol"])
def test_resuming_with_a_changed_study_is_refused_and_touches_nothing(finished, change, expected):
    run = finished / "run"
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    path = finished / "changed.yaml"
    path.write_text(yaml.safe_dump(recipe(cache_dir=str(finished / "cache"), **change)))
    line = one_error(["search", str(path), "--run-dir", str(run)])
    assert expected in line and "start a new study (another --run-dir, or another recipe `name`)" in line
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


def test_a_rejected_command_leaves_the_run_folder_as_it_was(finished):
    run = finished / "run"
    before = (run / "recipe.yaml").read_bytes()
    path = finished / "unreachable.yaml"
    path.write_text(yaml.safe_dump(recipe(**{"search.storage": "postgresql://u@127.0.0.1:1/db"})))
    assert "cannot open the study storage" in one_error(["search", str(path), "--run-dir", str(run)])
    assert (run / "recipe.yaml").read_bytes() == before


def test_export_into_an_obstacle_is_one_line_and_leaves_no_tmp(finished, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(finished / "run", run)
    (run / "best").write_text("a file where the folder goes")
    assert "best is not a folder" in one_error(["export", str(run), "--verify-pairs", "0"], progress=True)
    (run / "best").unlink()
    (run / "best" / "synthetic.yaml").mkdir(parents=True)
    assert "cannot write" in one_error(["export", str(run), "--verify-pairs", "0"], progress=True)
    assert not list(run.glob("**/*.tmp"))


def test_a_compatible_change_continues_the_study(finished, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(finished / "run", run)
    path = finished / "more.yaml"
    more = {"search.trials": 4, "search.timeout_minutes": 60, "strategies": [{"name": "st_prune"}, {"name": "dynst"}],
            "train.eval_batch_size": 128, "train.device": "auto"}  # neither changes a result nor its cost
    path.write_text(yaml.safe_dump(recipe(cache_dir=str(finished / "cache"), **more)))  # a strategy added: still the study
    result = runner.invoke(app, ["search", str(path), "--run-dir", str(run), "--no-export"])
    assert result.exit_code == 0, result.output
    assert "resuming study bad:synthetic: 3 of 4 trials done, 0 re-queued" in result.output


def test_an_unchanged_resume_says_where_it_stands(finished, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(finished / "run", run)
    path = finished / "recipe.yaml"
    result = runner.invoke(app, ["search", str(path), "--run-dir", str(run), "--no-export"])
    assert result.exit_code == 0, result.output
    assert ("\nresuming study bad:synthetic: 3 of 3 trials done, 0 re-queued (its trial count is reached: "
            "nothing left to run; raise --trials to go on)\n") in result.output, result.output
    assert "0 trials this run" in result.output
    # one epoch of a tiny model learns little: the search's own summary says so, as the report does
    assert "warning: synthetic: the best trial (" in result.output and "does not beat the naive forecast" in result.output


FAILING_HOOK = """
from sttune.api import Strategy

class Boom(Strategy):
    name = "boom"

    def select(self, ctx):
        raise ZeroDivisionError("a bug in the plugin")
"""


def test_train_with_a_failing_plugin_hook_prints_one_line_and_logs_the_traceback(tmp_path):
    site = tmp_path / "site"
    install_plugins(site, "boom_plugin", FAILING_HOOK, {"strategy": {"boom": "boom_plugin:Boom"}}, dist="boomkit")
    try:
        path = tmp_path / "recipe.yaml"
        path.write_text(yaml.safe_dump(recipe(strategies=[{"name": "boom", "params": {}}], cache_dir=str(tmp_path / "cache"))))
        line = one_error(["train", str(path)], progress=True)
    finally:
        uninstall(site, "boom_plugin")
    assert "training failed: ZeroDivisionError: a bug in the plugin" in line
    logs = list((tmp_path / "cache" / "logs").glob("train-*.log"))
    assert len(logs) == 1 and str(logs[0]) in line and "Traceback" in logs[0].read_text()


def test_plugins_list_imports_no_plugin(world):
    import sys as _sys

    result = runner.invoke(app, ["plugins", "list", "--json"])  # the broken plugins are installed
    assert result.exit_code == 0 and "broken_plugin" not in _sys.modules
    rows = {r["name"]: r for r in __import__("json").loads(result.output)["plugins"]}
    assert rows["broken"]["distribution"] == "brokenkit" and rows["broken"]["error"] is None


def test_catalogue_is_large_enough():
    assert len(CASES) >= 25 and len({c[0] for c in CASES}) == len(CASES)


if __name__ == "__main__":  # regenerate the table in docs/errors.md
    import tempfile

    head = "| input | command | line printed (exit 2) |\n|---|---|---|"
    print(head)
    for name, content, argv, _ in CASES:
        if name in SECTIONS:
            print(f"\n### {SECTIONS[name]}\n\n{head}")
        with tempfile.TemporaryDirectory() as tmp:
            gen = world.__wrapped__(Path(tmp))
            folder = next(gen)
            out = run_case(folder, content, argv).output.strip().replace(tmp, "/tmp/x").replace("|", "\\|")
            command = " ".join(argv).encode("unicode_escape").decode()  # a control character shown as \\x01
            print(f"| {name} | `sttune {command}` | `{out}` |")
            next(gen, None)
