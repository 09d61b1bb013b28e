"""Random recipe mutations thrown at the validator: every rejection is one short line, exit 2,
no traceback, and nothing written; nothing but a RecipeError ever escapes it.

Derandomized (a fixed seed, no example database): the same examples on every run, a few
seconds in all.
"""

from __future__ import annotations

import datetime
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings, strategies as st
from typer.testing import CliRunner

from sttune.cli import app
from sttune.errors import RecipeError
from sttune.recipe.spec import load_recipe
from test_bad_inputs import GOOD, LINE_LIMIT

FUZZ = settings(derandomize=True, database=None, deadline=None, max_examples=100,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# where a mutation lands: every field of the recipe (and some that do not exist)
PATHS = [
    "name", "run_dir", "cache_dir", "bogus",
    "datasets", "datasets.0", "datasets.0.name", "datasets.0.id", "datasets.0.params", "datasets.0.params.n_nodes",
    "model", "model.name", "model.params", "model.params.embed_dim", "model.choices", "model.search_params",
    "train", "train.epochs", "train.lr", "train.seed", "train.device", "train.lr_decay_at", "train.grad_clip",
    "train.patience", "train.cpu_threads", "train.cpu_clock", "train.batch_size",
    "protocol", "protocol.in_len", "protocol.split", "protocol.missing", "protocol.target_channel",
    "strategies", "strategies.0", "strategies.0.name", "strategies.0.params", "strategies.0.fixed",
    "search", "search.trials", "search.timeout_minutes", "search.budget", "search.seed", "search.sampler",
    "search.storage", "search.objectives", "search.max_mae_increase", "search.baseline_ladder",
    "search.heartbeat_seconds", "search.stale_after_seconds", "search.trial_timeout_minutes",
    "search.early_stopping", "search.early_stopping.reduction_factor", "search.early_stopping.tolerance",
    "search.isolation", "search.max_consecutive_failures",
    "export", "export.rule", "export.tolerance", "export.verify_pairs",
]

scalars = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-(2**80), max_value=2**80),
    st.text(max_size=12), st.sampled_from(["../x", "a/b", "..", "", "\x00", "cuda:x", "sqlite://", "x" * 5000]),
    st.booleans(), st.none(), st.dates(min_value=datetime.date(2000, 1, 1), max_value=datetime.date(2030, 1, 1)),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.one_of(st.text(max_size=6), st.integers(-3, 3)), inner, max_size=3)),
    max_leaves=6,
)
mutations = st.lists(st.tuples(st.sampled_from(PATHS), values), min_size=1, max_size=3)


def mutate(changes: list[tuple[str, Any]]) -> Any:
    out: Any = yaml.safe_load(yaml.safe_dump(GOOD))
    for dotted, value in changes:
        node, *path = [out, *dotted.split(".")]
        *walk, last = path
        for key in walk:  # a step into a value that is no longer a container: set the parent instead
            nxt = node[int(key)] if isinstance(node, list) and key.isdigit() and int(key) < len(node) else (
                node.get(key) if isinstance(node, dict) else None)
            if not isinstance(nxt, (dict, list)):
                nxt = {} if not isinstance(node, list) else nxt
                if isinstance(node, dict):
                    node[key] = nxt
            if not isinstance(nxt, (dict, list)):
                break
            node = nxt
        if isinstance(node, dict):
            node[last] = value
        elif isinstance(node, list) and last.isdigit() and int(last) < len(node):
            node[int(last)] = value
    return out


def validate(path: Path) -> RecipeError | None:
    """The validator's verdict; any other exception fails the test with its traceback."""
    try:
        load_recipe(path)
    except RecipeError as exc:
        return exc
    return None


@FUZZ
@given(changes=mutations)
@example(changes=[("train", {1: 0, "x": 0})])  # keys of two types: sorting them was a TypeError
def test_the_validator_rejects_in_one_short_line_or_accepts(tmp_path_factory, changes):
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(mutate(changes)))
    error = validate(path)
    if error is None:
        return
    line = error.one_line()
    assert "\n" not in line and len(line) <= LINE_LIMIT + len(str(path)), line


@settings(FUZZ, max_examples=12)
@given(changes=mutations)
def test_a_rejected_recipe_exits_2_with_one_line_and_writes_nothing(tmp_path_factory, changes):
    folder = tmp_path_factory.mktemp("fuzzcli")
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(mutate(changes)))
    if validate(path) is None:
        return  # a mutation the validator accepts would train: not this test's business
    result = CliRunner().invoke(app, ["search", str(path), "--run-dir", str(folder / "run")])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert sorted(p.name for p in folder.rglob("*")) == ["recipe.yaml"]  # no run folder, no snapshot


YAML_PIECES = ["&a ", "*a ", "[", "]", "{", "}", ": ", "- ", "\n", "!!binary ", "!!set ", "? ", "<<: *a\n", "\t", "\x00", "'", '"']


@FUZZ
@given(cuts=st.lists(st.tuples(st.integers(0, 400), st.sampled_from(YAML_PIECES)), min_size=1, max_size=4))
def test_yaml_text_mutations_give_a_recipe_error_or_a_recipe(tmp_path_factory, cuts):
    text = yaml.safe_dump(GOOD)
    for at, piece in cuts:
        at %= len(text) + 1
        text = text[:at] + piece + text[at:]
    path = tmp_path_factory.mktemp("fuzzyaml") / "recipe.yaml"
    path.write_text(text)
    error = validate(path)
    assert error is None or ("\n" not in error.one_line() and len(error.one_line()) <= LINE_LIMIT + len(str(path)))


def test_the_mutations_reach_every_path():
    assert len(PATHS) == len(set(PATHS)) and mutate([("search.early_stopping.tolerance", [math.nan])])[
        "search"]["early_stopping"]["tolerance"] == [pytest.approx(math.nan, nan_ok=True)]
