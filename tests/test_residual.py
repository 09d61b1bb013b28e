"""``protocol.residual: seasonal``: the data carries the best seasonal naive forecast as one more
input channel, and the built-in models forecast the residual over it (ModelSpec.seasonal_channel)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sttune.api import STSeries
from sttune.data.protocol import build_data, data_key
from sttune.errors import DataError
from sttune.recipe.settings import Protocol
from sttune.training.metrics import MetricAccumulator
from sttune.training.naive import naive_forecasts


def hand_series() -> STSeries:
    """60 steps, 4 per day, 2 nodes: node 0 reads t + 1, node 1 reads 10 (test_naive's series)."""
    t = np.arange(60, dtype=np.float32)
    values = np.stack([t + 1, np.full(60, 10.0, dtype=np.float32)], axis=1)[:, :, None]
    return STSeries("hand", values, np.ones((2, 2), dtype=np.float32), steps_per_day=4)


SEASONAL = Protocol(4, 2, residual="seasonal")


def test_the_seasonal_channel_carries_the_seasonal_naive_forecast_of_each_target_step():
    data = build_data(hand_series(), SEASONAL)
    assert data.spec.n_channels == 2 and data.spec.seasonal_channel == 1 and data.seasonal_lag == 4
    assert any("residual over same_time_yesterday (4 steps back" in n for n in data.notes)  # a day beats a week
    batch = data.val.gather(torch.arange(len(data.val)))
    base = batch.x[:, -2:, :, 1] * data.target_std + data.target_mean  # the last out_len input steps
    origins = data.val.starts + 3  # the last input step
    expected = data.val.target[(origins[:, None] + torch.tensor([1, 2]) - 4)]  # the same time a day earlier
    assert torch.allclose(base, expected, atol=1e-4)
    plain = build_data(hand_series(), Protocol(4, 2))
    assert plain.spec.seasonal_channel is None and plain.spec.n_channels == 1
    assert torch.equal(plain.val.features[..., 0], data.val.features[..., 0])  # the series' own channel unchanged


def test_a_model_that_forecasts_no_residual_scores_the_seasonal_naive_forecast():
    from sttune.models.stid import STID

    data = build_data(hand_series(), SEASONAL)
    model = STID(data.spec, embed_dim=4, n_layers=1)
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)
    model.eval()
    batch = data.val.gather(torch.arange(len(data.val)))
    acc = MetricAccumulator(2)
    with torch.no_grad():
        acc.add(model(batch.x, None, data.node_inputs, None) * data.target_std + data.target_mean, batch.y)
    naive = naive_forecasts(build_data(hand_series(), Protocol(4, 2)))
    assert acc.result()["mae"] == pytest.approx(naive.scores["same_time_yesterday"]["val_mae"], abs=1e-4)


def test_the_option_is_checked_and_keys_its_own_cache():
    with pytest.raises(DataError, match="seasonal needs in_len >= out_len"):
        build_data(hand_series(), Protocol(2, 4, residual="seasonal"))
    with pytest.raises(DataError, match="unknown residual 'weekly'"):
        build_data(hand_series(), Protocol(4, 2, residual="weekly"))
    series = hand_series()
    assert data_key(series, Protocol(4, 2)) == data_key(series, Protocol(4, 2, residual="none"))
    assert data_key(series, Protocol(4, 2)) != data_key(series, SEASONAL)
    series.steps_per_day = 1  # daily steps: the smallest lag at least the 8-step horizon is a week (7): none fits
    with pytest.raises(DataError, match="needs a seasonal lag"):
        build_data(series, Protocol(8, 8, residual="seasonal"))


def test_a_saved_residual_model_asks_for_its_seasonal_inputs(tmp_path):
    import yaml

    import sttune
    from sttune.interop.saved import SavedModelError

    rng = np.random.default_rng(0)
    np.save(tmp_path / "counts.npy", rng.poisson(1.0, (21 * 24, 3)).astype(np.float32))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({
        "dataset": {"name": "arrays", "params": {"path": "counts.npy", "interval_minutes": 60}},
        "protocol": {"in_len": 12, "out_len": 12, "missing": "nan", "residual": "seasonal"},
        "model": {"name": "stid", "params": {"embed_dim": 8, "n_layers": 1}},
        "train": {"epochs": 1, "device": "cpu"}, "cache_dir": str(tmp_path / "cache"),
    }))
    sttune.train(recipe, save=tmp_path / "saved")
    saved = sttune.load_model(tmp_path / "saved")
    assert saved.spec.seasonal_channel == 1 and saved.meta["spec"]["seasonal_lag"] in (24, 168)
    values, tod, dow = np.ones((2, 12, 3, 1)), np.zeros((2, 12)), np.zeros((2, 12))
    with pytest.raises(SavedModelError, match="needs `seasonal`"):
        saved.inputs(values, tod, dow)
    x = saved.inputs(values, tod, dow, seasonal=np.ones((2, 12, 3)))
    assert x.shape == (2, 12, 3, 4) and saved.predict(x).shape == (2, 12, 3)
