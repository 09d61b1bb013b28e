"""The missing-value policy (``protocol.missing``): zero (0 = missing) and nan (only NaN is)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sttune.api import REAL_ZERO, STSeries
from sttune.data.protocol import build_data, data_key
from sttune.datasets.files import load_arrays
from sttune.errors import DataError
from sttune.recipe.schema import SchemaError
from sttune.recipe.settings import Protocol
from sttune.training.metrics import MetricAccumulator, drop_mape, mape_meaningful, per_sample_masked_mae


def small_series(nan_in_values: bool = False) -> STSeries:
    """10 steps, 2 nodes, readings 5 except: step 8 node 0 a real 0, step 8 node 1 = 4, step 9
    node 1 = 2, and step 9 node 0 missing (NaN in the file, which the loader stored as 0)."""
    values = np.full((10, 2, 1), 5.0, dtype=np.float32)
    values[8, 0, 0], values[8, 1, 0], values[9, 1, 0] = 0.0, 4.0, 2.0
    missing = np.zeros_like(values, dtype=bool)
    missing[9, 0, 0] = True
    values[9, 0, 0] = np.nan if nan_in_values else 0.0
    adj = np.ones((2, 2), dtype=np.float32)
    return STSeries("small", values, adj, steps_per_day=4, missing=None if nan_in_values else missing)


PROTO = dict(in_len=1, out_len=1, split=(0.6, 0.2, 0.2))  # 9 windows: 5 train, 2 val, 2 test (targets at 8, 9)


def test_protocol_rejects_an_unknown_policy():
    with pytest.raises(SchemaError, match="missing"):
        Protocol(missing="drop").validate()
    Protocol(missing="nan").validate()


def _score_test(policy: str, series: STSeries) -> tuple[dict, torch.Tensor]:
    data = build_data(series, Protocol(**PROTO, missing=policy))
    batch = data.test.gather(torch.arange(len(data.test)))
    pred = torch.full_like(batch.y, 3.0)
    acc = MetricAccumulator(1)
    acc.add(pred, batch.y)
    return acc.result(), per_sample_masked_mae(pred, batch.y, None)


def test_real_zeros_count_under_nan_and_not_under_zero():
    zero, zero_each = _score_test("zero", small_series())
    nan, nan_each = _score_test("nan", small_series())
    # forecast 3 everywhere; test targets (step 8: 0, 4; step 9: missing, 2)
    assert zero["mae"] == pytest.approx((1 + 1) / 2)  # the 0 is missing: |3-4|, |3-2|
    assert nan["mae"] == pytest.approx((3 + 1 + 1) / 3)  # the 0 is real: |3-0| counts too
    assert nan["mae"] > zero["mae"]
    assert zero["rmse"] == pytest.approx(1.0) and nan["rmse"] == pytest.approx(((9 + 1 + 1) / 3) ** 0.5)
    assert zero_each.tolist() == pytest.approx([1.0, 1.0])  # the trainer's per-window loss
    assert nan_each.tolist() == pytest.approx([2.0, 1.0])
    # MAPE is undefined at 0: the real zero is left out of it under both policies
    assert zero["mape"] == pytest.approx((1 / 4 + 1 / 2) / 2) and nan["mape"] == pytest.approx(zero["mape"])


def test_nan_readings_stay_missing_under_nan():
    for series in (small_series(), small_series(nan_in_values=True)):  # loader mask, or NaN as given
        data = build_data(series, Protocol(**PROTO, missing="nan"))
        target = data.test.target
        assert target[9, 0] == 0 and target[8, 0] == REAL_ZERO and target[8, 0] != 0
        assert any("1 of 20 target readings" in n and "1 readings of 0 count as real" in n for n in data.notes)
    with pytest.raises(DataError, match="NaN"):  # the zero policy still refuses raw NaN
        build_data(small_series(nan_in_values=True), Protocol(**PROTO))


def test_a_real_zero_input_is_normalised_not_the_mean():
    zero = build_data(small_series(), Protocol(**PROTO))
    nan = build_data(small_series(), Protocol(**PROTO, missing="nan"))
    assert zero.train.features[8, 0, 0] == 0  # missing: the training mean
    assert nan.train.features[8, 0, 0] < -1  # a real 0, far below the readings of 5
    assert any("2 of 20 target readings" in n and "missing: zero" in n for n in zero.notes)


def test_the_zero_policy_keeps_the_data_key_and_nan_changes_it():
    series = small_series()
    assert data_key(series, Protocol(**PROTO)) == data_key(series, Protocol(**PROTO, missing="zero"))
    assert data_key(series, Protocol(**PROTO)) != data_key(series, Protocol(**PROTO, missing="nan"))


def test_the_loader_hands_its_nan_positions_over(tmp_path: Path):
    raw = np.full((30, 2), 7.0)
    raw[20, 0], raw[21, 1] = np.nan, 0.0
    np.save(tmp_path / "s.npy", raw)
    series = load_arrays(tmp_path / "s.npy", nan="mask", steps_per_day=4)
    assert series.values[20, 0, 0] == 0 and series.missing is not None
    assert series.missing[20, 0, 0] and int(series.missing.sum()) == 1
    data = build_data(series, Protocol(2, 2, missing="nan"))
    assert data.val.target[20, 0] == 0 and data.val.target[21, 1] == REAL_ZERO
    assert data.missing == "nan"
    assert load_arrays(tmp_path / "s.npy", nan="mask", steps_per_day=4).missing is not None
    np.save(tmp_path / "clean.npy", np.full((30, 2), 7.0))
    assert load_arrays(tmp_path / "clean.npy", steps_per_day=4).missing is None


def test_mape_rule_and_drop():
    assert mape_meaningful(torch.tensor([10.0, 12.0, 0.0, 9.0]))  # 0 is missing: not counted
    many = torch.full((200,), 10.0)
    many[:3] = REAL_ZERO  # 1.5% real zeros: below 1% of the mean
    assert not mape_meaningful(many)
    many[:3] = 10.0
    many[:2] = 0.05  # exactly 1% of them near 0: still meaningful
    assert mape_meaningful(many)
    assert not mape_meaningful(torch.zeros(4))
    metrics = {"mae": 1.0, "rmse": 2.0, "mape": 3.0, "horizons": {"3": {"mae": 1.0, "rmse": 2.0, "mape": 3.0}}}
    assert drop_mape(metrics) == {"mae": 1.0, "rmse": 2.0, "horizons": {"3": {"mae": 1.0, "rmse": 2.0}}}
