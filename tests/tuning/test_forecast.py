"""``sttune.preview_search`` (``sttune search --dry-run``): the plan a search would run and its
predicted cost, from a short calibration, with nothing written."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

import sttune
from sttune.api import Strategy
from sttune.recipe.spec import SearchConfig, load_recipe
from sttune.registry import discovery as plugins
from sttune.registry.build import make_strategies
from sttune.training.plan import planned_fraction
from sttune.tuning.forecast import Limits, Prediction, _Step, predict, preview, run_course
from sttune.tuning.options import UsageError
from sttune.tuning.space import recommended_trials

# the quick start as it stood when these tests were written (10 days, 14 trials, a trained ladder):
# its plan has every kind of row; the shipped recipe's plan is checked in test_search_dry_run.py
_SHIPPED = Path(__file__).resolve().parents[2] / "recipes" / "quickstart.yaml"
QUICKSTART = Path(tempfile.mkdtemp()) / "quickstart.yaml"
_old = yaml.safe_load(_SHIPPED.read_text())
_old["datasets"][0]["params"]["n_days"] = 10
_old["search"].update(trials=14, ladder="trained")
QUICKSTART.write_text(yaml.safe_dump(_old, sort_keys=False))


def tiny_recipe(folder: Path, **search: Any) -> Path:
    """Two searched strategies on a small synthetic network, 4 epochs: a plan in about a second."""
    recipe = {
        "name": "tiny",
        "datasets": [{"name": "synthetic", "params": {"n_nodes": 8, "n_days": 4, "steps_per_day": 48, "seed": 1}}],
        "model": {"name": "stid", "params": {"embed_dim": 8, "n_layers": 1}},
        "train": {"epochs": 4, "batch_size": 32, "device": "cpu", "seed": 0},
        "strategies": [{"name": "dynst"}, {"name": "st_prune"}],
        "search": {"seed": 0, "baseline_ladder": [0.5], **search},
        "run_dir": str(folder / "run"),
    }
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    """The quick start's plan, made in an empty working directory (and what that held after)."""
    cwd = tmp_path_factory.mktemp("cwd")
    before = os.getcwd()
    os.chdir(cwd)
    try:
        plan = sttune.preview_search(QUICKSTART)
    finally:
        os.chdir(before)
    return plan, files_under(cwd)


def test_the_dry_run_writes_nothing(quickstart):
    plan, written = quickstart
    assert written == []  # no run folder, no journal, no snapshot, not even a data cache
    assert plan.run_dir == Path("runs/quickstart")


def test_the_dry_run_writes_nothing_next_to_the_recipe_either(tmp_path):
    recipe = tiny_recipe(tmp_path, trials=6)
    sttune.preview_search(recipe)
    assert files_under(tmp_path) == ["tiny.yaml"] and not (tmp_path / "run").exists()


def test_the_plan_lists_the_baseline_the_ladder_and_each_recommendation_in_order(quickstart):
    plan, _ = quickstart
    (study,) = plan.datasets
    recipe = load_recipe(QUICKSTART).recipe
    tags = [tag for tag, _ in recommended_trials(recipe)[0]]
    assert tags == ["st_prune#1", "dynst#1"]  # stemdist recommends nothing
    labels = [row.label for row in study.rows]
    # queued cheapest predicted first, as the study enqueues them: DynST (78% of the work) before ST-Prune
    assert labels == ["baseline", "ladder 50%", "ladder 25%", "dynst#1", "st_prune#1", "sampled ×9", "verification reserve"]
    assert study.rows[3].work_fraction < study.rows[4].work_fraction
    assert [row.count for row in study.rows[:-1]] == [1, 1, 1, 1, 1, 9]  # 14 trials in all
    assert study.stops_at == "trial count" and all(row.runs for row in study.rows)
    assert "trained" in study.rows[1].note and study.rows[1].baselines == 0.5


def test_the_full_baseline_is_one_baseline_priced_by_the_calibration(quickstart):
    plan, _ = quickstart
    (study,) = plan.datasets
    base, cal = study.rows[0], study.calibration
    assert base.kind == "baseline" and base.baselines == 1.0 and base.work_fraction == 1.0
    assert base.device_seconds == pytest.approx(cal.batch_seconds * cal.batches_per_epoch * 8)
    assert cal.timed_batches == 10 and cal.warmup_batches == 2 and cal.batches_per_epoch == 9
    assert 0 < cal.seconds < 30 and base.wall_seconds > base.device_seconds
    assert study.total_device_seconds == pytest.approx(study.total_baselines * study.baseline_seconds)


def test_a_dynst_recommendation_is_predicted_by_its_planned_work(quickstart):
    plan, _ = quickstart
    row = next(r for r in plan.datasets[0].rows if r.label == "dynst#1")
    expected = planned_fraction(make_strategies([("dynst", row.params["dynst"])]), 8)
    assert row.work_fraction == pytest.approx(expected) and row.work_fraction < 1
    assert row.baselines == pytest.approx(expected)


def test_stemdist_is_not_predicted_and_stays_out_of_the_sampled_estimate(quickstart):
    plan, _ = quickstart
    (study,) = plan.datasets
    assert predict([("stemdist", {})], 8).fraction is None
    sampled = next(r for r in study.rows if r.kind == "sampled")
    assert "stemdist not predicted" in sampled.note
    assert any("stemdist" in note and "leaves them out" in note for note in study.notes)
    assert 0 < study.sampled_fraction < 1
    assert study.sampled_left_out == ("stemdist",) and not study.complete  # the total says it leaves them out


def test_the_json_form_carries_every_row(quickstart):
    import json

    plan, _ = quickstart
    data = json.loads(json.dumps(plan.to_dict()))
    rows = data["datasets"]["synthetic"]["rows"]
    assert [r["kind"] for r in rows] == ["baseline", "ladder", "ladder", "recommended", "recommended", "sampled",
                                         "verification"]
    assert data["datasets"]["synthetic"]["total_baselines"] == pytest.approx(plan.datasets[0].total_baselines)


def test_a_smaller_budget_affords_fewer_sampled_trials(tmp_path):
    recipe = tiny_recipe(tmp_path)
    counts = [sttune.preview_search(recipe, budget=b).datasets[0].sampled_trials for b in (12, 8, 4)]
    assert counts[0] > counts[1] > counts[2], counts


def step(kind: str, cost: float | None, strategy: str | None = None) -> _Step:
    return _Step(kind, kind, {}, 4, Prediction(cost), strategy, cost, cost, "", cost if kind == "baseline" else None)


def test_the_budget_starts_a_trial_only_while_its_predicted_cost_fits():
    """The accounting's rule replayed: a trial of 0.5 predicted baselines needs 0.55 of room (the
    1.1 margin), beside the re-timing's reserve."""
    steps = [step("baseline", 1.0), step("recommended", 0.5, "dynst")]
    for budget, expected in ((3.0, 0), (3.04, 0), (3.1, 1), (10.0, 14)):
        runs, count, stop = run_course(steps, step("sampled", 0.5), Limits(None, budget, None, 1.0))
        assert runs == [True, True] and count == expected and stop == "budget", budget
    runs, count, stop = run_course(steps, step("sampled", 0.5), Limits(None, 2.5, None, 1.0))
    assert runs == [True, False] and count == 0 and stop == "budget"  # the recommendation is skipped; nothing else fits
    dear = [step("baseline", 1.0), step("recommended", 2.0, "dynst"), step("recommended", 0.2, "st_prune")]
    runs, count, stop = run_course(dear, step("sampled", 5.0), Limits(None, 3.0, None, 1.0))
    assert runs == [True, False, True]  # a dear queued trial is skipped, not left blocking a cheap one behind it
    runs, count, stop = run_course(steps, step("sampled", 0.5), Limits(5, 100.0, None, 1.0))
    assert count == 3 and stop == "trial count"


def test_quick_lists_no_sampled_trials(tmp_path):
    plan = sttune.preview_search(tiny_recipe(tmp_path, trials=20), quick=True)
    (study,) = plan.datasets
    assert plan.quick
    assert [row.kind for row in study.rows if row.kind == "sampled"] == []
    assert any(note.startswith("quick:") for note in plan.notes)


def test_a_derived_ladder_is_free(tmp_path):
    derived = dataclasses.make_dataclass("Derived", [("ladder", str, "derived")], bases=(SearchConfig,), frozen=True)
    loaded = load_recipe(tiny_recipe(tmp_path, trials=6))
    search = derived(**{f.name: getattr(loaded.recipe.search, f.name) for f in dataclasses.fields(SearchConfig)})
    loaded = dataclasses.replace(loaded, recipe=dataclasses.replace(loaded.recipe, search=search))
    (study,) = preview(loaded, None, None, False, None).datasets
    rung = study.rows[1]
    assert rung.kind == "ladder" and rung.baselines == 0 and rung.wall_seconds == 0 and "free" in rung.note
    assert study.ladder == "derived"


class Opaque(Strategy):
    """A third-party strategy whose plan needs its data: planned_work raises before prepare."""

    name: ClassVar[str] = "opaque"

    def __init__(self, share: float = 0.5) -> None:
        self.share = share
        self._n: int | None = None  # known in prepare

    @classmethod
    def space(cls, trial: Any) -> dict[str, Any]:
        return {"share": trial.suggest_float("opaque.share", 0.1, 0.9)}

    def planned_work(self, epoch: int, n_epochs: int) -> float:
        return self.share * 10 / self._n  # type: ignore[operator]


def test_a_plan_unknown_before_prepare_counts_as_the_full_work(monkeypatch):
    real = plugins.load
    monkeypatch.setattr(plugins, "load", lambda group, name: Opaque if name == "opaque" else real(group, name))
    found = predict([("opaque", {"share": 0.5})], 4)
    assert found.fraction == 1.0 and found.note.startswith("unknown")


def test_bad_options_are_the_search_s_own_errors(tmp_path):
    recipe = tiny_recipe(tmp_path, trials=6)
    for kwargs in ({"budget": 0}, {"trials": 0}, {"timeout_minutes": -1}, {"workers": 0}):
        with pytest.raises(UsageError) as dry:
            sttune.preview_search(recipe, **kwargs)
        with pytest.raises(UsageError) as real:
            sttune.search(recipe, **kwargs)
        assert dry.value.one_line() == real.value.one_line()
    assert not (tmp_path / "run").exists()


def test_the_run_folder_that_exists_is_named(tmp_path):
    recipe = tiny_recipe(tmp_path, trials=6)
    (tmp_path / "run").mkdir()
    plan = sttune.preview_search(recipe)
    assert any("exists" in note for note in plan.notes)
    assert files_under(tmp_path) == ["run", "tiny.yaml"]
