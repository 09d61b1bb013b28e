import pytest
import torch

from sttune.training.metrics import MetricAccumulator, per_sample_masked_mae


def test_zero_targets_are_excluded_from_loss_and_metrics():
    y = torch.tensor([[[0.0, 10.0], [20.0, 0.0]]])  # [1, 2 horizons, 2 nodes]
    pred = torch.tensor([[[99.0, 12.0], [17.0, 99.0]]])
    assert per_sample_masked_mae(pred, y, None).item() == pytest.approx((2 + 3) / 2)
    acc = MetricAccumulator(2)
    acc.add(pred, y)
    out = acc.result()
    assert out["mae"] == pytest.approx(2.5)
    assert out["rmse"] == pytest.approx(((4 + 9) / 2) ** 0.5)
    assert out["mape"] == pytest.approx((0.2 + 0.15) / 2)


def test_node_weights_scale_the_per_sample_loss():
    y = torch.ones(1, 1, 2)
    pred = torch.tensor([[[2.0, 5.0]]])
    assert per_sample_masked_mae(pred, y, torch.tensor([3.0, 1.0])).item() == pytest.approx((3 + 4) / 4)


def test_horizons_report_3_6_12_when_available():
    acc = MetricAccumulator(12)
    acc.add(torch.arange(12.0).view(1, 12, 1), torch.full((1, 12, 1), 1.0))
    horizons = acc.result()["horizons"]
    assert set(horizons) == {"3", "6", "12"}
    assert horizons["3"]["mae"] == pytest.approx(1.0) and horizons["12"]["mae"] == pytest.approx(10.0)
