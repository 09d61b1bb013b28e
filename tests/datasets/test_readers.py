"""sttune.datasets.readers: a CSV's header and date column are detected."""

from __future__ import annotations

from pathlib import Path

from helpers import raises_data_error
from sttune.datasets.files import load_arrays


def test_arrays_csv_with_header_and_date_column(tmp_path: Path) -> None:
    csv = tmp_path / "series.csv"
    csv.write_text("time,n1,n2,n3\n2024-01-06 06:00,1,2,3\n2024-01-06 07:00,4,,6\n2024-01-06 08:00,7,8,9\n")
    err = raises_data_error("1 NaN", load_arrays, csv)
    assert "step 1, node 1" in err.message
    s = load_arrays(csv, nan="mask")  # hourly from Saturday 06:00, all read from the dates
    assert s.values.shape == (3, 3, 1) and s.values[1, 1, 0] == 0
    assert (s.steps_per_day, s.start_step_of_day, s.start_day_of_week) == (24, 6, 5)
    raises_data_error("timestamps are 60 minutes apart", load_arrays, csv, nan="mask", interval_minutes=5)
