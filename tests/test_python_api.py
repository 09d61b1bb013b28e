"""The Python API (sttune.load_recipe/train/search/export/load_best/load_model): lazy imports,
the same results as the CLI, saved models that reload and predict identically."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

import sttune
from helpers import TINY_RECIPE
from sttune.api import Strategy
from sttune.cli import app
from sttune.errors import RecipeError, SttuneError
from sttune.training.metrics import MetricAccumulator

TINY = {**TINY_RECIPE, "train": {**TINY_RECIPE["train"], "epochs": 2}}


def write(folder: Path, **overrides) -> Path:
    recipe = {**TINY, "run_dir": str(folder / "run"), "cache_dir": str(folder / "cache"), **overrides}
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def cli(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_import_sttune_loads_nothing_heavy_and_every_name_resolves():
    code = ("import sys, sttune; heavy = [m for m in ('torch', 'optuna', 'numpy', 'typer') if m in sys.modules]; "
            "print(heavy); print(sorted(n for n in sttune.__all__ if not hasattr(sttune, n)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]" and out[1] == "[]"
    assert {"load_recipe", "train", "search", "export", "load_best", "load_model", "StrategyLoop"} <= set(sttune.__all__)


def test_the_api_names_are_functions_with_their_docs():
    import inspect
    import pydoc

    for name in ("train", "search", "export", "report", "load_best", "load_model", "load_recipe"):
        value = getattr(sttune, name)
        assert inspect.isfunction(value), name  # not a package made callable
        assert value.__module__ == "sttune.python_api"
    text = pydoc.render_doc(sttune.search, renderer=pydoc.plaintext)
    assert "Run ``sttune search``" in text and "PACKAGE CONTENTS" not in text
    assert "save" in inspect.signature(sttune.train).parameters
    assert "progress" in inspect.signature(sttune.search).parameters
    assert inspect.signature(sttune.search).return_annotation == "Path"
    with pytest.raises(AttributeError):
        sttune.no_such_name  # noqa: B018


def _cli_error(*argv: str) -> str:
    result = CliRunner().invoke(app, list(argv))
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0].removeprefix("error: ")


@pytest.mark.parametrize(("call", "argv"), [
    (lambda r: sttune.train(r, epochs=0), ["train", "RECIPE", "--epochs", "0"]),
    (lambda r: sttune.search(r, trials=0), ["search", "RECIPE", "--trials", "0"]),
    (lambda r: sttune.search(r, timeout_minutes=-1), ["search", "RECIPE", "--timeout-minutes", "-1"]),
    (lambda r: sttune.search(r, budget=0), ["search", "RECIPE", "--budget", "0"]),
    (lambda r: sttune.search(r, workers=0), ["search", "RECIPE", "--workers", "0"]),
    (lambda r: sttune.search(r.parent), ["search", "FOLDER"]),
], ids=["epochs-0", "trials-0", "timeout-negative", "budget-0", "workers-0", "folder-as-recipe"])
def test_both_doors_refuse_the_same_input_with_the_same_line(tmp_path, call, argv):
    recipe = write(tmp_path)
    argv = [str(recipe) if a == "RECIPE" else str(tmp_path) if a == "FOLDER" else a for a in argv]
    with pytest.raises(SttuneError) as caught:
        call(recipe)
    assert caught.value.one_line() == _cli_error(*argv)
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_a_missing_gpu_is_the_same_single_line_through_both_doors(tmp_path):
    recipe = write(tmp_path, train={**TINY["train"], "device": "cuda:3"})
    line = _cli_error("train", str(recipe))
    assert "train.device" in line and "cuda" in line
    for call in (lambda: sttune.train(recipe), lambda: sttune.search(recipe, trials=3)):
        with pytest.raises(RecipeError) as caught:
            call()
        assert caught.value.one_line() == line


def test_search_export_load_best_train_gives_the_cli_val_mae(tmp_path):
    recipe = write(tmp_path, strategies=[{"name": "dynst"}, {"name": "st_prune"}],
                   search={"trials": 3, "seed": 0, "baseline_ladder": []},
                   export={"verify_pairs": 0})
    heard = []
    run = sttune.search(recipe, progress=heard.append)  # a notebook's progress: each finished trial
    assert run == tmp_path / "run" and (run / "best" / "synthetic.yaml").is_file()
    assert [r.number for r in heard] == [0, 1, 2] and all(r.state == "COMPLETE" for r in heard)
    report = sttune.report(run, plots=False)["synthetic"]
    assert len(report["trials"]) == 3 and report["search_cost_baselines"] > 0
    exports = sttune.export(run, verify_pairs=0)
    best = sttune.load_best(run, "synthetic")
    assert best.summary["trial"] == exports[0].chosen.number
    assert best.model.name == "stid" and all(isinstance(s, Strategy) for s in best.strategies)
    assert [s.name for s in best.strategies] == list(best.summary["strategies"])
    api = sttune.train(best)
    replay = json.loads(cli("train", str(run / "best" / "synthetic.yaml"), "--json").stdout.strip().splitlines()[-1])
    assert api.val_mae == pytest.approx(replay["val_mae"], abs=1e-9)
    assert api.val_mae == pytest.approx(best.summary["val_mae"], abs=1e-6)
    chose_dynst = "dynst" in best.summary["strategies"]
    assert "deployment" in best.export and bool(best.deployment) == chose_dynst
    assert (run / "best" / "synthetic_sensors.csv").is_file() == chose_dynst
    with pytest.raises(RecipeError, match="no exported configuration for 'nope'"):
        sttune.load_best(run, "nope")


def test_a_recipe_may_name_the_cost_objective_cost_seconds(tmp_path):
    from sttune.tuning.identity import recipe_identity

    plain = sttune.load_recipe(write(tmp_path, search={"trials": 3, "objectives": ["val_mae", "device_seconds"]}))
    aliased = sttune.load_recipe(write(tmp_path, search={"trials": 3, "objectives": ["val_mae", "cost_seconds"]}))
    assert aliased.recipe.search.objectives == ["val_mae", "device_seconds"]  # the study and its identity stay the same
    assert recipe_identity(aliased.recipe, "synthetic") == recipe_identity(plain.recipe, "synthetic")


def test_a_saved_model_reloads_and_predicts_identically(tmp_path):
    from sttune.interop.saved import save_fitted
    from sttune.training.jobs import fit_job, fixed_job

    loaded = sttune.load_recipe(write(tmp_path))
    job = fixed_job(loaded)
    fitted = fit_job(job, loaded.cache_dir())
    save_fitted(fitted, job, tmp_path / "saved", loaded.recipe)
    saved = sttune.load_model(tmp_path / "saved")
    data = fitted.data
    batch = data.val.gather(torch.arange(len(data.val)))
    with torch.no_grad():
        fitted.model.eval()
        expected = fitted.model(batch.x, None, data.node_inputs, None) * data.target_std + data.target_mean
    assert torch.equal(saved.predict(batch.x), expected)
    acc = MetricAccumulator(data.spec.out_len)
    acc.add(saved.predict(batch.x), batch.y)
    assert acc.result()["mae"] == pytest.approx(fitted.result.val_mae, abs=1e-9)
    # the artifacts beside it: the replayable recipe, the result, DynST's mask and its sensors
    assert sttune.load_recipe(tmp_path / "saved" / "recipe.yaml").recipe.strategies == loaded.recipe.strategies
    assert json.loads((tmp_path / "saved" / "result.json").read_text())["val_mae"] == fitted.result.val_mae
    kept = fitted.result.artifacts["dynst"]["kept_sensors"]
    assert saved.artifacts["dynst"]["kept_sensors"] == kept
    rows = list(csv.DictReader((tmp_path / "saved" / "synthetic_sensors.csv").open()))
    assert [int(r["index"]) for r in rows if r["kept"] == "1"] == kept and len(rows) == 8


def test_saved_inputs_rebuild_the_normalised_windows_from_raw_readings(tmp_path):
    from sttune.data.protocol import encode_missing, time_features
    from sttune.interop.saved import save_fitted
    from sttune.registry.build import load_series
    from sttune.training.jobs import fit_job, fixed_job

    loaded = sttune.load_recipe(write(tmp_path, strategies=[]))
    job = fixed_job(loaded)
    fitted = fit_job(job, loaded.cache_dir())
    saved = sttune.load_model(save_fitted(fitted, job, tmp_path / "saved"))
    series = load_series(job.dataset)
    values, _ = encode_missing(series, job.protocol)
    tod, dow = time_features(series)
    window = fitted.data.test.gather(torch.tensor([5]))
    start = int(fitted.data.test.starts[5])
    steps = slice(start, start + job.protocol.in_len)
    x = saved.inputs(values[None, steps], tod[None, steps], dow[None, steps])
    assert torch.allclose(x, window.x, atol=1e-5)


def test_cli_train_save_writes_a_loadable_model(tmp_path):
    out = cli("train", str(write(tmp_path)), "--save", str(tmp_path / "m"), "--json")
    printed = json.loads(out.stdout.strip().splitlines()[-1])
    saved = sttune.load_model(tmp_path / "m")
    assert printed["deployment"]["n_kept"] == 4  # DynST at s_final 0.5 on 8 sensors
    assert json.loads((tmp_path / "m" / "result.json").read_text())["val_mae"] == printed["val_mae"]
    assert saved.node_ids == [str(i) for i in range(8)] and saved.spec.n_nodes == 8


def test_load_model_refuses_a_folder_that_is_not_a_saved_model(tmp_path):
    with pytest.raises(SttuneError, match="is not a saved model"):
        sttune.load_model(tmp_path)
