"""Naive forecasts: hand-computed scores, the warning when a model does not beat them, and
where they surface (``sttune train``, ``--json``, the study, ``sttune report``)."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pytest
import yaml
from typer.testing import CliRunner

from helpers import trial_record
from sttune.api import STSeries
from sttune.cli import app
from sttune.data.protocol import build_data
from sttune.outcome import report as rep
from sttune.recipe.settings import Protocol
from sttune.training.naive import beats_naive, forward_filled, naive_cached, naive_forecasts

runner = CliRunner()


def hand_series(gap: bool) -> STSeries:
    """60 steps, 4 per day, 2 nodes: node 0 reads t + 1, node 1 reads 10 (missing at step 40
    when ``gap``). Windows 2 in / 2 out: 34 train, 11 val (starts 34..44), 12 test (45..56)."""
    t = np.arange(60, dtype=np.float32)
    values = np.stack([t + 1, np.full(60, 10.0, dtype=np.float32)], axis=1)[:, :, None]
    if gap:
        values[40, 1, 0] = 0.0
    return STSeries("hand", values, np.ones((2, 2), dtype=np.float32), steps_per_day=4)


def test_naive_forecasts_equal_hand_computed_values():
    naive = naive_forecasts(build_data(hand_series(gap=False), Protocol(2, 2)))
    # every window: node 0 is off by 1 and 2 (last value) or 4 (a day = 4 steps) or 28 (a week);
    # node 1 is constant: 0 error; 4 targets per window. The training mean is 14 (node 0's
    # 1..35 and node 1's 10s); zero errs by the targets themselves
    val_targets = [t + 1 for s in range(34, 45) for t in (s + 2, s + 3)]
    assert naive.scores == {
        "zero": {"val_mae": pytest.approx((sum(val_targets) + 10 * len(val_targets)) / (2 * len(val_targets))),
                 "test_mae": pytest.approx(32.0)},
        "train_mean": {"val_mae": pytest.approx((sum(abs(t - 14) for t in val_targets) + 4 * len(val_targets))
                                                / (2 * len(val_targets))), "test_mae": pytest.approx(22.0)},
        "last_value": {"val_mae": pytest.approx(0.75), "test_mae": pytest.approx(0.75)},
        "same_time_yesterday": {"val_mae": pytest.approx(2.0), "test_mae": pytest.approx(2.0)},
        "same_time_last_week": {"val_mae": pytest.approx(14.0), "test_mae": pytest.approx(14.0)},
    }
    assert any("no_change equals last_value" in n for n in naive.notes)
    assert not any("last_year" in n for n in naive.notes)  # a year of sub-daily steps: skipped without a note
    assert naive.best() == ("last_value", pytest.approx(0.75))


def test_no_change_carries_the_last_observed_reading_over_a_gap():
    naive = naive_forecasts(build_data(hand_series(gap=True), Protocol(2, 2)))
    # val: 11 windows x 4 targets, less the missing step 40 of node 1 (a target of starts 37, 38)
    # = 42; node 0 errs 1 + 2 per window = 33; last_value forecasts 0 for node 1 from start 39
    # (its last input is step 40): 10 + 10 more
    assert naive.scores["last_value"]["val_mae"] == pytest.approx((33 + 20) / 42)
    assert naive.scores["no_change"]["val_mae"] == pytest.approx(33 / 42)
    assert naive.scores["no_change"]["test_mae"] == pytest.approx(0.75)
    assert naive.scores["same_time_yesterday"]["val_mae"] == pytest.approx(22 * 4 / 42)
    assert naive.scores["same_time_last_week"]["test_mae"] == pytest.approx(14.0)


def test_a_lag_shorter_than_the_horizon_repeats_its_last_season_and_history_is_required():
    short = naive_forecasts(build_data(hand_series(gap=False), Protocol(2, 6)))  # a day (4) < horizon 6
    # horizon steps 1..6 read 3, 2, 1, 0, 3, 2 steps before the last input: node 0 errs 4, 4, 4, 4, 8, 8
    assert short.scores["same_time_yesterday"]["val_mae"] == pytest.approx(32 / 12)
    assert not any("shorter than" in n for n in short.notes)
    series = hand_series(gap=False)
    series.steps_per_day = 8  # a week = 56 steps: more than the first validation target has
    weekly = naive_forecasts(build_data(series, Protocol(2, 2)))
    assert "same_time_last_week" not in weekly.scores
    assert any("same_time_last_week skipped: the first validation window has less than a week" in n
               for n in weekly.notes)


def test_seasonal_lags_follow_the_interval():
    from sttune.data.seasonal import seasonal_lags, seasonal_offsets

    def lags(minutes):
        return {s.name: s.lag for s in seasonal_lags(minutes)}

    assert lags(60) == {"same_time_yesterday": 24, "same_time_last_week": 168, "same_time_last_year": 8736}
    assert lags(1440) == {"same_time_yesterday": 1, "same_time_last_week": 7, "same_time_last_year": 364}
    assert lags(10080) == {"same_time_last_week": 1, "same_time_last_year": 52}  # no day: less than a step
    assert lags(7 * 60) == {"same_time_last_week": 24, "same_time_last_year": 1248}  # a day is not whole: none
    assert seasonal_offsets(5, 2).tolist() == [-1, 0, -1, 0, -1]
    assert seasonal_offsets(3, 7).tolist() == [-6, -5, -4]


def weekly_changes(tmp_path, weeks=300, nodes=15, seed=0):
    """A weekly series of week-on-week changes: white noise around 0 (``arrays`` loader, 10080-minute steps)."""
    rng = np.random.default_rng(seed)
    path = tmp_path / "changes.npy"
    np.save(path, rng.normal(0.0, 5.0, (weeks, nodes)).astype(np.float32))
    return path


def test_weekly_data_gets_last_week_and_last_year_and_no_day(tmp_path):
    from sttune.datasets.files import load_arrays

    series = load_arrays(weekly_changes(tmp_path), interval_minutes=10080)
    assert series.steps_per_day == 1 and series.interval_minutes == 10080
    naive = naive_forecasts(build_data(series, Protocol(8, 4, missing="nan")))
    assert {"zero", "train_mean", "same_time_last_week", "same_time_last_year"} <= set(naive.scores)
    assert "same_time_yesterday" not in naive.scores
    assert not any("a day" in n or "1 steps" in n for n in naive.notes)
    # white noise around 0: nothing beats forecasting 0 (the mean is ~0 too); last week errs by sqrt(2)
    zero = naive.scores["zero"]["val_mae"]
    assert naive.best()[1] == pytest.approx(zero, rel=0.02)
    assert naive.scores["same_time_last_week"]["val_mae"] > 1.3 * zero


def test_forward_fill_and_its_fallback():
    import torch

    target = torch.tensor([[0.0, 2.0], [3.0, 0.0], [0.0, 0.0], [5.0, 6.0]])
    assert forward_filled(target, -1.0).tolist() == [[-1.0, 2.0], [3.0, 2.0], [3.0, 2.0], [5.0, 6.0]]


def test_naive_forecasts_are_computed_once_per_dataset():
    data = build_data(hand_series(gap=False), Protocol(2, 2))
    assert naive_cached(data) is naive_cached(data)


def test_the_warning_names_the_naive_forecast_the_model_does_not_beat():
    naive = naive_forecasts(build_data(hand_series(gap=False), Protocol(2, 2)))
    assert beats_naive(0.5, naive) is None
    warning = beats_naive(0.75, naive)  # a tie does not beat it
    assert warning is not None and "does not beat the naive forecast last_value (0.7500)" in warning
    close = beats_naive(0.745, naive)  # better, but by less than 1%: little learnt
    assert close is not None and "beats the naive forecast last_value (0.7500) by only 0.7%, less than 1%" in close
    assert beats_naive(0.74, naive) is None


def _recipe(tmp_path, **protocol) -> str:
    recipe = {
        "dataset": {"name": "synthetic", "params": {"n_nodes": 6, "n_days": 3, "steps_per_day": 48,
                                                    "noise": 0.02, "missing_rate": 0.05}},
        "model": {"name": "stid", "params": {"embed_dim": 8, "n_layers": 1}},
        "train": {"epochs": 1, "device": "cpu", "lr": 1e-7, "batch_size": 64},  # learns nothing
        "cache_dir": str(tmp_path / "cache"),
    }
    if protocol:
        recipe["protocol"] = protocol
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return str(path)


def test_train_json_carries_the_naive_forecasts_and_omits_mape_on_data_with_zeros(tmp_path):
    result = runner.invoke(app, ["train", _recipe(tmp_path, missing="nan"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(data["naive"]) >= {"last_value", "same_time_yesterday"}
    assert all(set(v) == {"val_mae", "test_mae"} for v in data["naive"].values())
    # an untrained model forecasts about the mean; a smooth series' last value is far better
    assert "does not beat the naive forecast" in data["naive_warning"]
    assert data["missing"] == "nan"
    # the synthetic series' 5% missing readings are zeros, real ones under `missing: nan`
    assert "mape" not in data["val"] and "mape" not in data["test"]["horizons"]["3"]
    assert any("MAPE omitted" in n for n in data["notes"])


def test_train_prints_the_notes_the_naive_table_and_the_warning(tmp_path):
    result = runner.invoke(app, ["train", _recipe(tmp_path)])
    assert result.exit_code == 0, result.output
    text = result.output
    assert "target readings" in text and "are missing: readings of 0 (missing: zero)" in text
    assert "naive forecasts" in text and "last_value" in text and "MAPE" in text  # no zeros: MAPE kept
    assert "warning: the model's val MAE" in text and "does not beat the naive forecast" in text


def test_report_shows_the_stored_naive_forecasts_and_warns(monkeypatch):
    study = optuna.create_study(directions=["minimize", "minimize"])
    assert rep.naive_summary(study) is None  # a study from before naive forecasts
    study.set_user_attr("sttune.naive", {"scores": {"last_value": {"val_mae": 2.0, "test_mae": 2.5}}, "notes": []})
    monkeypatch.setattr(rep.rec, "finished_records", lambda s: [trial_record(0, 1.0, 3.0), trial_record(1, 0.5, 2.5)])
    summary = rep.naive_summary(study)
    assert summary["scores"]["last_value"]["test_mae"] == 2.5
    assert "best trial (1, st_prune (stid)) val MAE 2.5000 does not beat the naive forecast last_value" in summary["warning"]
    monkeypatch.setattr(rep.rec, "finished_records", lambda s: [trial_record(0, 1.0, 1.9)])
    assert rep.naive_summary(study)["warning"] is None


def test_train_on_weekly_changes_reports_the_zero_forecast_and_warns(tmp_path):
    """Week-on-week changes (white noise around 0): forecasting 0 is as good as it gets, and a model
    that does not clearly beat it is told so."""
    recipe = tmp_path / "changes.yaml"
    recipe.write_text(yaml.safe_dump({
        "dataset": {"name": "arrays", "params": {"path": str(weekly_changes(tmp_path)), "interval_minutes": 10080}},
        "protocol": {"in_len": 8, "out_len": 4, "missing": "nan"},
        "model": {"name": "stid", "params": {"embed_dim": 16, "n_layers": 2}},
        "train": {"epochs": 3, "batch_size": 32, "device": "cpu"}, "cache_dir": str(tmp_path / "cache"),
    }))
    result = runner.invoke(app, ["train", str(recipe), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"zero", "train_mean", "same_time_last_week", "same_time_last_year"} <= set(data["naive"])
    assert "same_time_yesterday" not in data["naive"]
    assert data["naive_warning"] is not None and "the naive forecast zero" in data["naive_warning"]
