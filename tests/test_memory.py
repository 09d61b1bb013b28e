"""Memory of the built data: float32 throughout, the calendar once per step, a copy-free
hash, the disk cache, the device placement, the split peak, and validation every k epochs."""

import hashlib
import tracemalloc

import numpy as np
import pytest
import torch

import sttune.data.protocol as protocol_mod
import sttune.training.trainer as trainer_mod
from helpers import fit, ring_series
from sttune.api import REAL_ZERO
from sttune.data.protocol import ARRAYS_COUNTS, build_data, data_key, placement
from sttune.recipe.schema import SchemaError
from sttune.recipe.settings import Protocol, TrainConfig
from sttune.training.device import on_device
from sttune.training.evaluation import validates
from sttune.training.timing import PeakMemory


def _old_layout(data, windows):
    """The per-node feature tensor the protocol built before: series channels, then time of
    day and day of week repeated for every node ([T, N, C + 2])."""
    calendar = windows.calendar[:, None, :].expand(-1, windows.features.shape[1], -1)
    return torch.cat([windows.features, calendar], dim=-1)


def test_data_arrays_are_float32_even_from_a_float64_series():
    series = ring_series(300, n_channels=2)
    series.values = series.values.astype(np.float64)
    data = build_data(series, Protocol(missing="nan"))
    for tensor in (data.train.features, data.train.calendar, data.train.target, data.node_inputs):
        assert tensor.dtype == torch.float32
    assert data.train.features.shape == (300, 6, 2)  # the series channels only: no per-node calendar


def test_calendar_is_kept_once_per_step_and_joined_per_batch_as_before():
    data = build_data(ring_series(200, n_channels=2), Protocol(5, 3))
    assert data.train.calendar.shape == (200, 2)
    old = _old_layout(data, data.train)
    index = torch.tensor([0, 3, 50, len(data.train) - 1])
    batch = data.train.gather(index)
    starts = data.train.starts[index]
    expected = torch.stack([old[s: s + 5] for s in starts.tolist()])
    assert torch.equal(batch.x, expected)


def _old_zscore(values, train_steps):
    """The one-pass float64 z-score the protocol used before (the reference)."""
    observed = values != 0
    train, seen = values[:train_steps], observed[:train_steps]
    count = np.maximum(seen.sum(axis=(0, 1)), 1)
    mean = (train * seen).sum(axis=(0, 1)) / count
    var = (((train - mean) ** 2) * seen).sum(axis=(0, 1)) / count
    std = np.where(var > 0, np.sqrt(var), 1.0)
    return np.where(observed, (values - mean) / std, 0.0).astype(np.float32), mean, std


def test_chunked_arrays_equal_the_one_pass_float64_computation(monkeypatch):
    series = ring_series(500, n_nodes=7)
    reference, mean, std = _old_zscore(series.values, 300)
    monkeypatch.setattr(protocol_mod, "CHUNK_VALUES", 50)  # many chunks, of odd lengths
    normalised, mean_c, std_c = protocol_mod._zscore(series.values, 300)
    assert normalised.dtype == np.float32
    np.testing.assert_array_equal(mean_c, mean)
    np.testing.assert_allclose(std_c, std, rtol=1e-12)
    np.testing.assert_allclose(normalised, reference, atol=1e-6)
    chunked = build_data(series, Protocol()).node_inputs
    monkeypatch.setattr(protocol_mod, "CHUNK_VALUES", 1 << 20)
    assert torch.equal(build_data(series, Protocol()).node_inputs, chunked)  # row order kept: exact


def test_data_key_is_the_same_value_and_hashes_without_a_copy():
    series = ring_series(200)
    digest = hashlib.sha256()  # the key as it was computed before: over tobytes() copies
    for array in (series.values, series.adjacency):
        digest.update(np.ascontiguousarray(array).tobytes())
    ident = "Protocol(in_len=12, out_len=12, split=(0.6, 0.2, 0.2), target_channel=0)"  # before missing and residual
    digest.update(f"({series.steps_per_day!r}, {series.start_step_of_day!r}, {ident})".encode())
    assert data_key(series, Protocol()) == f"ring-{digest.hexdigest()[:12]}"
    big = ring_series(20000, n_nodes=50)  # 4 MB of values
    tracemalloc.start()
    try:
        data_key(big, Protocol())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < big.values.nbytes / 4  # numpy reports its buffers to tracemalloc: no copy made


def test_encode_missing_returns_the_series_own_array_when_nothing_changes():
    series = ring_series(200)
    values, _ = protocol_mod.encode_missing(series, Protocol())
    assert values is series.values
    series.values[3, 2, 0] = np.nan
    before = series.values.copy()
    values, _ = protocol_mod.encode_missing(series, Protocol())
    assert values is not series.values and values[3, 2, 0] == 0
    np.testing.assert_array_equal(series.values, before)  # the caller's series is not written


def test_the_disk_cache_is_reused_by_a_second_build(tmp_path):
    series = ring_series(300)
    first = build_data(series, Protocol(), cache_dir=tmp_path)
    counts = dict(ARRAYS_COUNTS)
    second = build_data(series, Protocol(), cache_dir=tmp_path)
    assert ARRAYS_COUNTS["computed"] == counts["computed"]  # not computed again
    assert ARRAYS_COUNTS["loaded"] == counts["loaded"] + 1
    assert first.key == second.key and first.notes == second.notes
    assert (first.target_mean, first.target_std) == (second.target_mean, second.target_std)
    for name in ("features", "calendar", "target"):
        assert torch.equal(getattr(first.train, name), getattr(second.train, name))
    assert torch.equal(first.node_inputs, second.node_inputs)
    loaded = protocol_mod.load_arrays(tmp_path, first.key)
    assert loaded is not None and isinstance(loaded.features, np.memmap)
    other = build_data(ring_series(300, seed=1), Protocol(), cache_dir=tmp_path)  # other data: its own entry
    assert ARRAYS_COUNTS["computed"] == counts["computed"] + 1 and other.key != first.key


def test_a_device_copy_is_one_series_shared_by_train_val_and_test():
    data = build_data(ring_series(200), Protocol())
    moved = data.to("meta")
    assert moved.train.features is moved.val.features is moved.test.features
    assert moved.train.target is moved.test.target and moved.train.features.device.type == "meta"


def test_the_device_copy_is_kept_across_runs_of_one_process():
    data = build_data(ring_series(200), Protocol())
    device = torch.device("meta")
    assert on_device(data, device) is on_device(data, device)
    assert on_device(data, torch.device("cpu")).train.features is data.train.features  # CPU: no copy


def test_placement_keeps_on_the_device_only_what_fits_with_room_to_train():
    gib = 2**30
    assert placement(10 * gib, 80 * gib) == "device"
    assert placement(40 * gib, 80 * gib) == "device"  # half the free memory
    assert placement(41 * gib, 80 * gib) == "host"
    assert placement(68 * gib, 140 * gib) == "device" and placement(142 * gib, 140 * gib) == "host"


def test_host_resident_windows_give_the_same_batches():
    data = build_data(ring_series(200), Protocol())
    host = data.to("cpu", batch_device=torch.device("cpu"))
    index = torch.arange(10)
    assert torch.equal(host.train.gather(index).x, data.train.gather(index).x)
    assert host.train.batch_device == torch.device("cpu")


def test_peak_memory_keeps_the_preparation_peak_apart():
    memory = PeakMemory(torch.device("cpu"))
    block = np.ones(64 * 2**20 // 8)  # 64 MiB touched before the reset, then freed
    before = memory.peak_bytes()
    del block
    memory.reset()
    assert memory.prepare_peak_bytes >= before - 2**20 > 64 * 2**20  # the kernel's RSS counters lag a little
    data = build_data(ring_series(200), Protocol())
    result = fit(data, epochs=1, batch_size=64)
    assert result.prepare_peak_memory_bytes > 0 and result.peak_memory_bytes > 0


def test_validates_every_k_epochs_and_always_the_last():
    assert [e for e in range(7) if validates(e, 7, 3)] == [2, 5, 6]
    assert [e for e in range(4) if validates(e, 4, 1)] == [0, 1, 2, 3]


def test_val_every_skips_validation_and_picks_a_validated_best_epoch(monkeypatch):
    data = build_data(ring_series(300), Protocol())
    calls = []
    real = trainer_mod.evaluate

    def counting(model, windows, data_, batch_size):
        calls.append(windows is data_.test)
        return real(model, windows, data_, batch_size)

    monkeypatch.setattr(trainer_mod, "evaluate", counting)
    result = fit(data, epochs=5, val_every=2, lr=0.01, batch_size=64)
    assert calls.count(False) == 3  # epochs 1, 3 and 4 validated; the best's metrics reused
    assert result.best_epoch in (1, 3, 4)
    assert result.curve[2].val_mae == result.curve[1].val_mae  # unvalidated: the last validated MAE
    assert result.val["mae"] == min(result.curve[e].val_mae for e in (1, 3, 4))


def test_val_every_must_be_positive():
    with pytest.raises(SchemaError, match="val_every"):
        TrainConfig(val_every=0).validate()


def test_an_isolated_trial_writes_the_data_arrays_for_the_next_one(tmp_path):
    from sttune.recipe.spec import DatasetBlock
    from sttune.training.jobs import Job, load_data_cached
    from sttune.tuning.isolation import train_isolated

    block = DatasetBlock("synthetic", {"n_nodes": 8, "n_days": 4})
    job = Job(block, Protocol(), "stid", {}, [], TrainConfig(epochs=1, device="cpu"))
    key = load_data_cached(block, Protocol()).key  # the parent's own copy: not cached on disk
    assert protocol_mod.load_arrays(tmp_path, key) is None
    result = train_isolated(job, tmp_path, None, None)
    assert result.epochs_run == 1
    assert protocol_mod.load_arrays(tmp_path, key) is not None  # the next trial process maps these


def _old_descriptors(target_norm, observed, tod, bins):
    """The one-pass node descriptors the protocol computed before (the reference)."""
    which = np.minimum((tod * bins).astype(int), bins - 1)
    profile = np.zeros((target_norm.shape[1], bins + 2), dtype=np.float32)
    for b in range(bins):
        rows = which == b
        weight = observed[rows].sum(axis=0)
        profile[:, b] = (target_norm[rows] * observed[rows]).sum(axis=0) / np.maximum(weight, 1)
    count = np.maximum(observed.sum(axis=0), 1)
    mean = (target_norm * observed).sum(axis=0) / count
    profile[:, bins] = mean
    profile[:, bins + 1] = np.sqrt((((target_norm - mean) ** 2) * observed).sum(axis=0) / count)
    return profile


@pytest.mark.parametrize("order", ["C", "F"])  # F: as pandas hands a CSV over
@pytest.mark.parametrize("nan", [False, True])  # with a NaN the encoding copies the series
def test_the_arrays_are_bit_identical_to_the_one_pass_computation_in_either_layout(monkeypatch, order, nan):
    series = ring_series(3000, n_nodes=60)
    series.values = np.asarray(series.values, order=order)
    if nan:
        series.values[2000, 3, 0] = np.nan
        series.missing = np.zeros(series.values.shape, dtype=bool)  # nan + a mask: the nan policy's input
    train_steps = protocol_mod.split_counts(3000 - 24 + 1, (0.6, 0.2, 0.2))[0] + 12 - 1
    lost = ~np.isfinite(series.values)  # the old one-pass encoding (missing: nan when nan)
    real = np.where(series.values == 0, np.float32(REAL_ZERO), series.values) if nan else series.values
    encoded = np.where(lost, np.float32(0), real)
    observed = encoded != 0
    reference, mean, _ = _old_zscore(encoded, train_steps)
    tod = protocol_mod.time_features(series)[0]
    descriptors = _old_descriptors(reference[:train_steps, :, 0], observed[:train_steps, :, 0],
                                   tod[:train_steps], 24)
    monkeypatch.setattr(protocol_mod, "CHUNK_VALUES", 5000)
    data = build_data(series, Protocol(missing="nan") if nan else Protocol())
    assert data.target_mean == float(mean[0])
    np.testing.assert_array_equal(data.train.features.numpy(), reference)
    np.testing.assert_array_equal(data.node_inputs.numpy(), descriptors)


def test_the_scale_bench_measures_one_size_in_a_fresh_process():
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "scale.py"
    spec = importlib.util.spec_from_file_location("bench_scale", path)
    scale = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scale)
    rows = scale.run_sizes(path.parents[1], [(600, 12)], cache=True, python=sys.executable)
    cold, warm = rows[0]["cold"], rows[0]["warm_cache"]
    assert rows[0]["values"] == 7200 and cold["dtypes"] == ["torch.float32"]
    assert cold["tensor_bytes"] >= 7200 * 8 and cold["peak"] >= cold["kept"] > 0
    assert warm["key"] == cold["key"]
    fitted = scale.project([{**rows[0], "values": 7200}, {**rows[0], "values": 14400,
                                                         "cold": {**cold, "peak": cold["peak"] + 7200 * 12}}])
    assert fitted["fit_peak"]["bytes_per_value"] == pytest.approx(12)
