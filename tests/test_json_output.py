"""One JSON schema for report, export and search (docs/json.md): a schema_version, the same
field names for a trial everywhere (``label``, never ``config``), and one ``chosen`` trial."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sttune.cli import app
from sttune.outcome.jsonout import SCHEMA_VERSION

runner = CliRunner()
DOCS = Path(__file__).resolve().parents[1] / "docs" / "json.md"


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """A tiny search with --json, then export --json and report --json of the same run."""
    folder = tmp_path_factory.mktemp("json")
    recipe = folder / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "tiny", "run_dir": str(folder / "run"), "cache_dir": str(folder / "cache"),
        "datasets": [{"name": "synthetic", "params": {"n_nodes": 6, "n_days": 3, "steps_per_day": 48, "seed": 1}}],
        "model": {"name": "stid", "params": {"embed_dim": 8, "n_layers": 1}},
        "train": {"epochs": 2, "batch_size": 32, "device": "cpu", "seed": 0},
        "strategies": [{"name": "st_prune"}],
        "search": {"trials": 3, "seed": 0, "baseline_ladder": [0.5]},
        "export": {"verify_pairs": 1},
    }))
    docs = {}
    for command in (["search", str(recipe), "--json"], ["export", str(folder / "run"), "--json", "--rule", "min-mae"],
                    ["report", str(folder / "run"), "--json", "--no-plots"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, result.output
        docs[command[0]] = json.loads(result.stdout.strip().splitlines()[-1])
    docs["file"] = json.loads((folder / "run" / "best" / "synthetic.json").read_text())
    for command in (["train", str(recipe), "--json", "--epochs", "1"], ["plugins", "list", "--json"],
                    ["plugins", "check", "synthetic", "--json"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, result.output
        docs[" ".join(command[:2]) if command[0] == "plugins" else command[0]] = json.loads(
            result.stdout.strip().splitlines()[-1])
    return docs


def test_every_output_carries_the_schema_version_and_its_command(outputs):
    for command in ("search", "export", "report"):
        doc = outputs[command]
        assert (doc["schema_version"], doc["command"]) == (SCHEMA_VERSION, command)
        assert list(doc["datasets"]) == ["synthetic"] and doc["run_dir"].endswith("run")
    assert outputs["file"]["schema_version"] == SCHEMA_VERSION
    for command in ("train", "plugins list", "plugins check"):  # objects of their own, with the same two fields
        doc = outputs[command]
        assert (doc["schema_version"], doc["command"]) == (SCHEMA_VERSION, command)
    assert "st_prune" in {p["name"] for p in outputs["plugins list"]["plugins"]}
    assert outputs["plugins check"]["checks"]["dataset"][0]["status"] == "pass"


def test_a_trial_has_the_same_field_names_in_every_output(outputs):
    search, report = outputs["search"]["datasets"]["synthetic"], outputs["report"]["datasets"]["synthetic"]
    export = outputs["export"]["datasets"]["synthetic"]
    trial_fields = set(export["baseline"])  # a trial as the export lists it
    assert {"trial", "label", "chosen", "val_mae", "cost_seconds", "speedup", "strategies"} <= trial_fields
    assert export["baseline"]["device_seconds"] == export["baseline"]["cost_seconds"]  # the schema-1 alias
    for row in search["trials"] + report["trials"] + export["pareto_front"]:
        assert trial_fields <= set(row) and "config" not in row and "params" not in row
    verified_only = {"speedup_interval", "speedup_close", "verification"}  # docs/json.md: only on a trial an export verified
    assert set(search["trials"][0]) - verified_only == set(report["trials"][0]) - verified_only
    assert trial_fields <= set(export["chosen"])


def test_exactly_one_trial_is_chosen_and_it_is_the_exported_one(outputs):
    exported = outputs["export"]["datasets"]["synthetic"]["chosen"]
    assert exported["chosen"] is True and exported == outputs["file"]["chosen"]
    for rows in (outputs["report"]["datasets"]["synthetic"]["trials"],):
        assert [r["trial"] for r in rows if r["chosen"]] == [exported["trial"]]
    # the search exported with the recipe's rule, then the export re-chose with min-mae
    searched = outputs["search"]["datasets"]["synthetic"]
    assert [r["trial"] for r in searched["trials"] if r["chosen"]] == [searched["export"]["chosen"]["trial"]]
    assert searched["export"]["rule"] == "fastest-within" and exported["trial"] == min(
        (r for r in outputs["report"]["datasets"]["synthetic"]["trials"] if r["state"] == "COMPLETE"),
        key=lambda r: r["val_mae"])["trial"]


def test_docs_json_names_every_field_the_outputs_print(outputs):
    documented = set(re.findall(r"`([a-z_]+)`", DOCS.read_text()))
    report = outputs["report"]["datasets"]["synthetic"]
    export = outputs["export"]["datasets"]["synthetic"]
    printed = (set(outputs["report"]) | set(report) | set(report["trials"][0]) | set(export) | set(export["chosen"])
               | set(outputs["search"]["datasets"]["synthetic"]) | set(report["search_cost"]))
    printed |= set(outputs["train"]) | set(outputs["train"]["val"]) | set(outputs["plugins list"])
    printed |= set(outputs["plugins list"]["plugins"][0]) | set(outputs["plugins check"])
    printed |= set(outputs["plugins check"]["checks"]["dataset"][0])
    assert printed - documented == set()


def test_the_report_table_marks_the_exported_trial(outputs):
    run_dir = outputs["report"]["run_dir"]
    text = runner.invoke(app, ["report", run_dir, "--no-plots"], env={"COLUMNS": "200"}).output
    chosen = outputs["export"]["datasets"]["synthetic"]["chosen"]["trial"]
    marked = [line for line in text.splitlines() if "[exported]" in line]
    assert len(marked) == 1 and marked[0].split("│")[1].strip() == str(chosen), text
