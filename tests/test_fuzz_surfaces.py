"""Random inputs thrown at the surfaces past the recipe, as tests/test_fuzz_recipe.py throws them
at recipes: the Python API's arguments, saved-model folders (and predict's inputs), the
prepared-data cache's entries, StrategyLoop's inputs. Each answer is one of two: it works (and
gives what an untouched input gives), or one short line (an SttuneError); never another
exception, never a changed file used.

Derandomized (a fixed seed, no example database); nothing trains here but the one model saved
for the saved-model tests: a few seconds in all.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

import sttune
from helpers import TINY_RECIPE
from sttune.errors import SttuneError

FUZZ = settings(derandomize=True, database=None, deadline=None, max_examples=40,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
LINE_LIMIT = 600
TINY = TINY_RECIPE


def short_line(exc: SttuneError) -> str:
    line = exc.one_line()
    assert "\n" not in line and len(line) <= LINE_LIMIT, line
    return line


# --- the Python API's arguments -------------------------------------------------------------


class Reached(BaseException):
    """Every check passed: the work would start here (the test stops it)."""


def _stop(*args: Any, **kwargs: Any) -> Any:
    raise Reached


ODD = [None, 0, 1, -1, 3, 2**70, True, False, 0.0, 2.5, -3.5, math.nan, math.inf, -math.inf, "", "x", "synthetic",
       "a/b", "../x", "\x00", "a\nb", "x" * 300, b"bytes", [], [1], {}, {"a": 1}, Path("p"), object(), print]


def _name_ok(value: Any) -> bool:
    return isinstance(value, str | os.PathLike) and not isinstance(value, bytes) and bool(os.fspath(value)) \
        and not any(ord(c) < 32 for c in os.fspath(value)) and max(map(len, os.fspath(value).split("/"))) <= 255


def _count_ok(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 1)


def _positive_ok(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
                             and value > 0)


VALID = {  # argument -> is this value one the function should take?
    "trials": _count_ok, "epochs": _count_ok, "budget": _positive_ok, "timeout_minutes": _positive_ok,
    "workers": lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 64,
    "run_dir": lambda v: v is None or _name_ok(v), "save": lambda v: v is None or _name_ok(v),
    "dataset": lambda v: v is None or v == "synthetic",
    "on_epoch": lambda v: v is None or callable(v), "progress": lambda v: v is None or callable(v),
    "export": lambda v: isinstance(v, bool), "plots": lambda v: isinstance(v, bool),
    "verify_pairs": lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 50),
    "rule": lambda v: v is None or v in ("fastest-within", "knee", "min-mae"),
    "tolerance": lambda v: v is None or (isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v >= 0),
}
CALLS = {
    "train": ["dataset", "epochs", "save", "on_epoch"],
    "search": ["run_dir", "trials", "budget", "timeout_minutes", "workers", "export", "verify_pairs", "progress"],
    "export": ["rule", "tolerance", "verify_pairs"],
    "report": ["plots"],
}


@pytest.fixture(scope="module")
def api_world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api")
    recipe = folder / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({**TINY, "cache_dir": str(folder / "cache")}))
    run = folder / "run"
    (run / "best").mkdir(parents=True)
    shutil.copy(recipe, run / "recipe.yaml")  # a run folder as export and report open it
    return folder, recipe, run


@FUZZ
@given(call=st.sampled_from(sorted(CALLS)), data=st.data())
def test_the_api_takes_what_it_should_and_refuses_the_rest_in_one_line(api_world, monkeypatch, call, data):
    import sttune.outcome.export as export_mod
    import sttune.outcome.report as report_mod
    import sttune.training.jobs as jobs
    import sttune.tuning.runs as runs

    folder, recipe, run = api_world
    monkeypatch.chdir(folder)
    for module, name in ((jobs, "fit_job"), (runs, "start_run"), (export_mod, "export_run"), (report_mod, "study_report")):
        monkeypatch.setattr(module, name, _stop)
    monkeypatch.setattr(runs, "load_studies", _stop)
    names = data.draw(st.lists(st.sampled_from(CALLS[call]), min_size=1, max_size=3, unique=True))
    kwargs = {name: data.draw(st.sampled_from(ODD), label=name) for name in names}
    target = run if call in ("export", "report") else recipe
    before = sorted(p.name for p in folder.iterdir())
    try:
        getattr(sttune, call)(target, **kwargs)
    except Reached:
        bad = [n for n, v in kwargs.items() if not VALID[n](v)]
        assert not bad, f"accepted {bad}: {kwargs}"
    except SttuneError as exc:
        short_line(exc)
        if all(VALID[n](v) for n, v in kwargs.items()):  # refused a valid value: only for what the machine says
            assert "too long" in exc.one_line() or call == "search", (kwargs, exc.one_line())
        assert sorted(p.name for p in folder.iterdir()) == before, "a refused call wrote"


# --- saved-model folders --------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved")
    recipe = folder / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({**TINY, "cache_dir": str(folder / "cache")}))
    sttune.train(recipe, save=folder / "model")
    model = sttune.load_model(folder / "model")
    x = model.inputs(np.full((2, 6, 8, 1), 50.0), np.full((2, 6), 0.25), np.full((2, 6), 3.0))
    return folder / "model", x, model.predict(x)


FILES = ["model.pt", "model.json", "manifest.json", "recipe.yaml", "result.json", "strategies/dynst.json",
         "synthetic_sensors.csv"]
JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(), st.text(max_size=8),
                        st.lists(st.integers(0, 9), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))
damage = st.one_of(
    st.tuples(st.just("delete"), st.sampled_from(FILES), st.just(0), st.just(None)),
    st.tuples(st.just("truncate"), st.sampled_from(FILES), st.integers(0, 4000), st.just(None)),
    st.tuples(st.just("flip"), st.sampled_from(FILES), st.integers(0, 4000), st.integers(1, 255)),
    st.tuples(st.just("garbage"), st.sampled_from(FILES), st.integers(0, 64), st.binary(max_size=64)),
    st.tuples(st.just("key"), st.sampled_from(["model.json", "manifest.json"]),
              st.sampled_from(["format", "spec", "model", "params", "target_mean", "target_std", "channel_mean",
                               "channel_std", "node_ids", "files", "n_nodes", "sttune_saved_model"]), JSON_VALUES),
    st.tuples(st.just("spec"), st.just("model.json"),
              st.sampled_from(["n_nodes", "in_len", "out_len", "n_channels", "steps_per_day", "node_input_dim"]), JSON_VALUES),
    st.tuples(st.just("swap"), st.sampled_from(FILES), st.sampled_from(["folder", "fifo", "link"]), st.just(None)),
    st.tuples(st.just("extra"), st.just("notes.txt"), st.just(0), st.binary(max_size=8)),
)


def _apply(folder: Path, change: tuple) -> bool:
    """Apply one damage; False when it changed nothing (the file absent, the same byte)."""
    kind, name, at, value = change
    path = folder / name
    if kind == "extra":
        path.write_bytes(value)
        return False  # a file the save does not list changes no file it does
    if not path.is_file() or path.is_symlink():
        return False
    data = path.read_bytes()
    if kind == "delete":
        path.unlink()
    elif kind == "truncate":
        if at >= len(data):
            return False
        path.write_bytes(data[:at])
    elif kind == "flip":
        if not data:
            return False
        buf = bytearray(data)
        buf[at % len(buf)] ^= value
        path.write_bytes(bytes(buf))
    elif kind == "garbage":
        new = data[:at] + value + data[at + len(value):]
        if new == data:
            return False
        path.write_bytes(new)
    elif kind in ("key", "spec"):
        try:
            doc = json.loads(data)
        except ValueError:
            return False
        node = doc["spec"] if kind == "spec" and isinstance(doc.get("spec"), dict) else doc
        if node.get(at, object()) == value:
            return False
        node[at] = value
        path.write_text(json.dumps(doc))
    elif kind == "swap":
        path.unlink()
        if at == "folder":
            path.mkdir()
        elif at == "fifo":
            os.mkfifo(path)
        else:
            path.symlink_to(folder / "result.json")
    return True


@settings(FUZZ, max_examples=60)
@given(changes=st.lists(damage, min_size=1, max_size=3))
def test_a_changed_saved_model_is_one_line_or_predicts_as_saved(saved, tmp_path_factory, changes):
    source, x, expected = saved
    folder = tmp_path_factory.mktemp("damaged") / "model"
    shutil.copytree(source, folder)
    touched = [_apply(folder, change) for change in changes]
    try:
        model = sttune.load_model(folder)
        artifacts = model.artifacts
        out = model.predict(x)
    except SttuneError as exc:
        line = short_line(exc)
        assert str(folder) in line, line  # names the folder or the file
        return
    assert not any(touched), f"a changed save loaded: {changes}"
    assert torch.equal(out, expected) and "dynst" in artifacts


arrays = st.builds(
    lambda shape, fill, dtype: np.full(shape, fill).astype(dtype),
    st.lists(st.integers(0, 9), min_size=0, max_size=5),
    st.sampled_from([0.0, 1.0, 0.5, -3.0, 13.0, 7.0, math.nan, math.inf, 2.0]),
    st.sampled_from(["float32", "float64", "int64", "bool", "complex64"]),
)


@settings(FUZZ, max_examples=80)
@given(x=st.one_of(arrays, st.sampled_from([None, "x", [1.0], [[[[0.0]]]]])), nodes=st.one_of(
    st.none(), st.lists(st.integers(-3, 10), max_size=9), st.sampled_from([[0.5], "0", [[1]]])))
def test_predict_takes_sttunes_layout_or_says_what_is_wrong(saved, x, nodes):
    source, _, _ = saved
    model = sttune.load_model(source)
    try:
        out = model.predict(x, nodes=nodes)
    except SttuneError as exc:
        short_line(exc)
        return
    n = 8 if nodes is None else len(nodes)
    arr = np.asarray(x, dtype=np.float64)
    assert arr.shape[1:] == (6, n, 3) and np.isfinite(arr).all() and ((arr[..., 1] >= 0) & (arr[..., 1] <= 1)).all()
    assert out.shape == (arr.shape[0], 3, n) and torch.isfinite(out).all()


# --- the prepared-data cache ----------------------------------------------------------------


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    from sttune.data.protocol import build_data
    from sttune.recipe.settings import Protocol
    from sttune.recipe.spec import DatasetBlock
    from sttune.registry.build import load_series

    series = load_series(DatasetBlock("synthetic", {"n_nodes": 8, "n_days": 3, "steps_per_day": 48, "seed": 1}))
    proto = Protocol(in_len=6, out_len=3)
    cache = tmp_path_factory.mktemp("prepared")
    fresh = build_data(series, proto, cache_dir=cache)
    entry = next(cache.glob("prepared/*/*/meta.json")).parent
    return series, proto, fresh, entry


ENTRY_FILES = ["features.npy", "calendar.npy", "target.npy", "descriptors.npy", "meta.json"]
entry_damage = st.one_of(
    st.tuples(st.just("delete"), st.sampled_from(ENTRY_FILES), st.just(0), st.just(None)),
    st.tuples(st.just("truncate"), st.sampled_from(ENTRY_FILES), st.integers(0, 3000), st.just(None)),
    st.tuples(st.just("flip"), st.sampled_from(ENTRY_FILES), st.integers(0, 20000), st.integers(1, 255)),
    st.tuples(st.just("array"), st.sampled_from(ENTRY_FILES[:4]), st.sampled_from(["same", "other"]),
              st.floats(-5, 5, allow_nan=False)),
    st.tuples(st.just("key"), st.just("meta.json"),
              st.sampled_from(["mean", "std", "notes", "source", "checksums", "shapes", "checksum", "version"]), JSON_VALUES),
)


def _apply_entry(entry: Path, change: tuple) -> bool:
    kind, name, at, value = change
    path = entry / name
    if kind == "array":
        if not path.is_file():
            return False
        try:
            old = np.load(path)
        except ValueError:
            return False
        new = old + np.float32(value) if at == "same" else np.full((3,) + old.shape[1:], value, dtype=old.dtype)
        if at == "same" and value == 0:
            return False
        np.save(path, new)
        return True
    if kind == "key":
        try:
            meta = json.loads(path.read_text())
        except (OSError, ValueError):
            return False
        if meta.get(at, object()) == value:
            return False
        meta[at] = value
        path.write_text(json.dumps(meta))
        return True
    return _apply(entry, (kind, name, at, value))


@settings(FUZZ, max_examples=60)
@given(changes=st.lists(entry_damage, min_size=1, max_size=3))
def test_a_changed_cache_entry_is_never_used(prepared, tmp_path_factory, capsys, changes):
    from sttune.data.protocol import build_data

    series, proto, fresh, entry = prepared
    cache = tmp_path_factory.mktemp("cache")
    copy = cache / entry.relative_to(entry.parents[2])
    shutil.copytree(entry, copy)
    touched = [_apply_entry(copy, change) for change in changes]
    again = build_data(series, proto, cache_dir=cache)
    assert (again.target_mean, again.target_std) == (fresh.target_mean, fresh.target_std)
    for name in ("features", "calendar", "target"):
        assert torch.equal(getattr(again.train, name), getattr(fresh.train, name)), name
    assert torch.equal(again.node_inputs, fresh.node_inputs)
    err = capsys.readouterr().err
    if any(touched) and copy.exists() and (copy / "meta.json").is_file():
        assert "prepared-data cache entry" in err or not err  # a damaged entry is said, a missing file is a miss
    reread = build_data(series, proto, cache_dir=cache)  # the entry was replaced: used now, without a note
    assert torch.equal(reread.train.features, fresh.train.features) and capsys.readouterr().err == ""


# --- StrategyLoop's inputs ------------------------------------------------------------------


def often(good: Any, *odd: Any) -> st.SearchStrategy:
    """``good`` about two times in three, else one of ``odd``: every check is reached."""
    return st.one_of(st.just(good), st.just(good), st.sampled_from(odd))


@st.composite
def loop_args(draw):
    """StrategyLoop's arguments: x, y of mostly agreeing shapes (the calendar and the values drawn
    apart), and the counts and normalisation mostly valid."""
    n_channels = draw(often(1, 2, 0, -1, True, 2.0, "2", None))
    features = draw(often(n_channels + 2 if isinstance(n_channels, int) else 3, 1, 2, 4, 5))
    n, nodes = draw(often(3, 0, 1)), draw(often(4, 0, 1))
    x = torch.full((n, 3, nodes, features), draw(often(0.5, 0.0, -1.0, math.nan, math.inf)))
    if features >= 2:
        x[..., -2] = draw(often(0.25, 0.0, 1.0, 1.5, -0.1, 13.0))
        x[..., -1] = draw(often(3.0, 0.0, 6.0, 7.0, 2.5, -1.0))
    y = torch.full((n, 2, nodes), 1.0)
    change = draw(often("none", "y-nodes", "y-windows", "x-3d", "y-4d", "int", "float64"))
    if change == "y-nodes":
        y = torch.full((n, 2, nodes + 1), 1.0)
    elif change == "y-windows":
        y = torch.full((n + 1, 2, nodes), 1.0)
    elif change == "x-3d":
        x = x[..., 0]
    elif change == "y-4d":
        y = y[..., None]
    elif change == "int":
        x = x.nan_to_num().long()
    elif change == "float64":
        x = x.double()
    return {"x": x, "y": y, "n_channels": n_channels, "epochs": draw(often(2, 0, -1, True, 2.0, None)),
            "batch_size": draw(often(2, 0, -3, False, "8")), "target_std": draw(often(1.0, 0.0, -2.0, math.nan))}


@settings(FUZZ, max_examples=100)
@given(args=loop_args())
def test_strategy_loop_takes_sttunes_layout_or_says_what_is_wrong(args):
    x, y, n_channels, epochs, batch_size, target_std = (args[k] for k in ("x", "y", "n_channels", "epochs",
                                                                           "batch_size", "target_std"))
    try:
        loop = sttune.StrategyLoop([("st_prune", {"ratio": 0.5, "warmup": 0, "bins": 0})], (x, y), epochs=epochs,
                                   model=torch.nn.Linear(1, 1), n_channels=n_channels, batch_size=batch_size,
                                   target_std=target_std, steps_per_day=48)
    except SttuneError as exc:
        short_line(exc)
        return
    assert x.ndim == 4 and y.ndim == 3 and x.shape[0] == y.shape[0] >= 1 and x.shape[2] == y.shape[2] >= 1
    assert x.shape[3] == n_channels + 2 and x.is_floating_point() and torch.isfinite(x).all() and target_std > 0
    tod, dow = x[..., n_channels], x[..., n_channels + 1]
    assert ((tod >= 0) & (tod <= 1)).all() and ((dow >= 0) & (dow <= 6) & (dow == dow.round())).all()
    visited = 0
    for _ in loop.epochs():
        for batch in loop.batches():
            loop.batch_end(batch.y.mean(dim=(1, 2)), batch)
            visited += batch.x.shape[0]
    assert visited >= 1
