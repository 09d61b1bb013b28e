"""sttune.datasets.values: the NaN policy and the start of the calendar (from the recipe or the dates)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import raises_data_error
from sttune.datasets.files import load_arrays, load_pems


def test_nan_refuse_and_mask(tmp_path: Path, pems_files) -> None:  # type: ignore[no-untyped-def]
    _, _, data = pems_files
    data = data.copy()
    data[3, 1, 0], data[5, 2, 2], data[7, 0, 1] = np.nan, np.inf, np.nan
    path = tmp_path / "nan.npz"
    np.savez(path, data=data)
    err = raises_data_error("3 NaN or infinite values", load_pems, path)
    assert "step 3, node 1, channel 0" in err.message and "nan: mask" in err.hint
    s = load_pems(path, nan="mask")
    assert s.values[3, 1, 0] == 0 and s.values[5, 2, 2] == 0 and np.isfinite(s.values).all()
    assert any("masked 3" in n for n in s.notes)
    raises_data_error("nan must be", load_pems, path, nan="drop")


def test_the_calendar_features_follow_the_start_given_in_the_recipe(tmp_path: Path, series_file: Path, pems_copy: Path) -> None:
    from sttune.data.protocol import build_data, time_features
    from sttune.recipe.settings import Protocol

    x = series_file
    s = load_arrays(x, interval_minutes=15, start="2024-03-09 23:30")  # a Saturday, 2 steps before midnight
    assert (s.steps_per_day, s.start_step_of_day, s.start_day_of_week) == (96, 94, 5)
    tod, dow = time_features(s)
    assert tod[:3].tolist() == pytest.approx([94 / 96, 95 / 96, 0.0]) and dow[:3].tolist() == [5, 5, 6]
    data = build_data(s, Protocol(in_len=4, out_len=2))
    first = data.train.gather(torch.tensor([0, 1])).x  # [B, in_len, N, F]: ..., time of day, day of week
    assert first[0, :, 0, -2].tolist() == pytest.approx([94 / 96, 95 / 96, 0.0, 1 / 96])
    assert first[0, :, 0, -1].tolist() == [5, 5, 6, 6] and first[1, 0, 0, -1] == 5
    assert not any("start time is unknown" in n for n in s.notes)
    unknown = load_arrays(x, interval_minutes=15)  # no start: Monday 00:00, and a note says so
    assert (unknown.start_step_of_day, unknown.start_day_of_week) == (0, 0)
    assert any("start time is unknown" in n for n in unknown.notes)
    assert load_pems(pems_copy, start="2016-07-01 06:00").start_day_of_week == 4  # a Friday
    raises_data_error("both `start` and `start_day_of_week`", load_arrays, x, interval_minutes=15, start="2024-03-09",
            start_day_of_week=1)
    raises_data_error("not a date and time", load_arrays, x, interval_minutes=15, start="next tuesday")
    raises_data_error("in quotes", load_arrays, x, interval_minutes=15, start=20240309)
    (tmp_path / "dated.csv").write_text("t,a,b\n2024-01-01 00:00,1,2\n2024-01-01 01:00,3,4\n")
    raises_data_error("date column already sets the start", load_arrays, tmp_path / "dated.csv", start="2024-01-02")
