import numpy as np
import pytest
import torch

from helpers import raises_data_error, ring_series
from sttune.data.protocol import build_data, split_counts, time_features
from sttune.datasets.synthetic import load_synthetic
from sttune.errors import DataError
from sttune.recipe.settings import Protocol


def test_windows_split_chronologically_with_standard_counts():
    data = build_data(ring_series(400), Protocol(12, 12))
    n_windows = 400 - 24 + 1
    assert (len(data.train), len(data.val), len(data.test)) == split_counts(n_windows, (0.6, 0.2, 0.2))
    assert data.train.starts.max() < data.val.starts.min() <= data.val.starts.max() < data.test.starts.min()


def test_gather_matches_a_naive_window_loop():
    series = ring_series(200, n_channels=2)
    data = build_data(series, Protocol(5, 3, target_channel=1))
    idx = torch.tensor([0, 7, 42])
    batch = data.train.gather(idx)
    assert batch.x.shape == (3, 5, 6, 4) and batch.y.shape == (3, 3, 6)
    for row, i in enumerate(idx.tolist()):
        start = int(data.train.starts[i])
        np.testing.assert_array_equal(batch.y[row].numpy(), series.values[start + 5 : start + 8, :, 1])
        assert torch.equal(batch.x[row, ..., :2], data.train.features[start : start + 5])
        calendar = data.train.calendar[start : start + 5]  # one row per step, the same for every node
        assert torch.equal(batch.x[row, ..., 2:], calendar[:, None, :].expand(5, 6, 2))


def test_zscore_uses_training_steps_only():
    series = ring_series(400)
    base = build_data(series, Protocol())
    series.values[300:] *= 10  # change only the val/test part of the series
    changed = build_data(series, Protocol())
    assert base.target_mean == pytest.approx(changed.target_mean)
    assert base.target_std == pytest.approx(changed.target_std)


def test_missing_readings_are_neutral_inputs_and_masked_targets():
    series = ring_series(300)
    data = build_data(series, Protocol())
    missing = torch.from_numpy(series.values[..., 0] == 0)
    assert torch.all(data.train.features[..., 0][missing] == 0)
    assert torch.all(data.train.target[missing] == 0)


def test_time_features_follow_the_calendar():
    series = ring_series(200)
    series.start_step_of_day, series.start_day_of_week = 46, 6  # Sunday, two steps before midnight
    tod, dow = time_features(series)
    assert tod[0] == pytest.approx(46 / 48) and dow[0] == 6
    assert tod[2] == 0 and dow[2] == 0  # Monday midnight


def test_too_short_series_is_a_data_error():
    with pytest.raises(DataError, match="too few"):
        build_data(ring_series(26), Protocol(12, 12))


def test_node_descriptors_have_one_row_per_node():
    data = build_data(ring_series(400), Protocol())
    assert data.node_inputs.shape == (6, data.spec.node_input_dim)
    assert torch.isfinite(data.node_inputs).all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: setattr(s, "steps_per_day", 0), "steps_per_day"),
        (lambda s: setattr(s, "adjacency", s.adjacency[:3, :3]), "adjacency"),
        (lambda s: s.values.__setitem__((5, 1, 0), float("nan")), "NaN"),
        (lambda s: setattr(s, "values", s.values[..., 0]), "shape"),
    ],
)
def test_a_malformed_series_from_a_plugin_is_a_data_error(change, message):
    series = ring_series(200)
    change(series)
    with pytest.raises(DataError, match=message):
        build_data(series, Protocol())


def test_check_series_refuses_node_ids_of_the_wrong_length() -> None:
    s = load_synthetic(n_nodes=4, n_days=2, steps_per_day=48)
    s.node_ids = ("a", "b")
    raises_data_error("dataset 'synthetic': 2 node ids for 4 nodes", build_data, s)
    s.node_ids = ()
    build_data(s)


def test_check_series_refuses_a_series_without_one_real_reading() -> None:
    s = load_synthetic(n_nodes=4, n_days=2, steps_per_day=48)
    s.values = np.zeros_like(s.values)  # a plugin's all-zero series: every metric would be 0.0
    raises_data_error("dataset 'synthetic': every reading is 0 or missing .missing: zero.", build_data, s)
    s.values = np.full_like(s.values, np.nan)
    raises_data_error("every reading is 0 or missing .missing: nan.", build_data, s, Protocol(missing="nan"))
    s.values = np.ones_like(s.values)
    s.missing = np.ones(s.values.shape, dtype=bool)  # all masked by the loader
    raises_data_error("every reading is 0 or missing", build_data, s, Protocol(missing="nan"))
    s.missing[-1, -1, 0] = False  # one real reading, in the last block of steps, is enough to go on
    build_data(s, Protocol(missing="nan"))
