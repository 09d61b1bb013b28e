"""DynST's deployment accuracy (sttune.training.deploy) and the sensor-id export (sttune.interop.sensors)."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from torch import nn

from helpers import TinyModel, ring_series, train_result
from sttune.data.protocol import build_data
from sttune.interop.sensors import export_sensors, node_ids, sensor_rows, with_ids
from sttune.recipe.settings import Protocol
from sttune.recipe.spec import DatasetBlock
from sttune.training.deploy import deployment_metrics, kept_sensors, masked_inputs, without_mape
from sttune.training.evaluation import evaluate


class Recorder(nn.Module):
    """Wraps a model and records every (x, nodes) it is called with."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.calls = inner, []

    def forward(self, x, nodes=None, node_inputs=None, graph=None):
        self.calls.append((x.clone(), None if nodes is None else nodes.clone()))
        return self.inner(x, nodes, node_inputs, graph)


def data_module():
    return build_data(ring_series(n_steps=300, n_nodes=6, n_channels=2), Protocol(in_len=4, out_len=2))


def test_kept_sensors_reads_the_artifact_convention():
    assert kept_sensors({"st_prune": {"per_epoch": []}, "dynst": {"kept_sensors": [3, 1]}}) == ("dynst", [3, 1])
    assert kept_sensors({"st_prune": {"per_epoch": []}}) is None


def test_dropped_sensors_inputs_are_absent_and_kept_ones_untouched():
    x = torch.randn(2, 4, 6, 4)
    out = masked_inputs(x, torch.tensor([True, False, False, True, False, False]), n_channels=2)
    assert torch.equal(out[:, :, [0, 3], :2], torch.zeros(2, 4, 2, 2))  # the readings: as a missing one
    assert torch.equal(out[:, :, [0, 3], 2:], x[:, :, [0, 3], 2:])  # the calendar is still known
    assert torch.equal(out[:, :, [1, 2, 4, 5]], x[:, :, [1, 2, 4, 5]])


def test_deployment_views_feed_and_score_what_they_say():
    torch.manual_seed(0)
    data = data_module()
    model = Recorder(TinyModel(data.spec))
    dep = deployment_metrics(model, data, [4, 1], "dynst", batch_size=64)
    assert (dep["n_sensors"], dep["n_kept"], dep["kept_sensors"]) == (6, 2, [1, 4])
    n_calls = len(model.calls) // 6  # three views × val and test
    all_view, kept_view = model.calls[0], model.calls[2 * n_calls]
    assert all_view[1] is None and torch.all(all_view[0][:, :, [0, 2, 3, 5], :2] == 0)
    assert torch.equal(kept_view[1], torch.tensor([1, 4])) and kept_view[0].shape[2] == 2
    # a per-node model forecasts a kept sensor from its own inputs only: the three agree there
    assert dep["kept_only"]["test"]["mae"] == pytest.approx(dep["full_inputs_kept"]["test"]["mae"], abs=1e-9)
    # every sensor kept: deployment is the ordinary evaluation
    full = deployment_metrics(model, data, list(range(6)), "dynst", 64)
    assert full["all_sensors"]["val"]["mae"] == pytest.approx(evaluate(model, data.val, data, 64)["mae"], abs=1e-9)


def test_without_mape_drops_it_from_every_view():
    metrics = {"mae": 1.0, "mape": 9.0, "horizons": {"3": {"mae": 1.0, "mape": 9.0}}}
    dep = without_mape({"n_kept": 2, "all_sensors": {"val": metrics, "test": metrics}})
    assert dep["n_kept"] == 2 and "mape" not in dep["all_sensors"]["test"]
    assert "mape" not in dep["all_sensors"]["val"]["horizons"]["3"]


def test_node_ids_fall_back_to_indices_when_missing_or_ambiguous():
    assert node_ids(("a", "b", "c"), 3) == ["a", "b", "c"]
    assert node_ids((), 3) == ["0", "1", "2"]
    assert node_ids(("a", "a", "c"), 3) == ["0", "1", "2"]  # duplicates cannot name sensors
    assert node_ids(("a", "b"), 3) == ["0", "1", "2"]


def test_the_export_names_the_mask_by_sensor_ids_and_writes_the_csv(tmp_path, monkeypatch):
    import sttune.interop.sensors as sensors

    monkeypatch.setattr(sensors, "dataset_node_ids", lambda block, n: ["717445", "773869", "767541"][:n])
    art = {"kept_sensors": [0, 2], "n_sensors": 3, "scores": [0.5, -0.2, 0.1]}
    result = train_result(1.0, 1.0, artifacts={"dynst": art}, deployment={"n_kept": 2})
    out = export_sensors(tmp_path, "metr", result, DatasetBlock("metr_la"))
    assert out["artifacts"]["dynst"]["kept_sensor_ids"] == ["717445", "767541"]
    assert out["deployment"] == {"n_kept": 2}
    rows = list(csv.DictReader((tmp_path / "metr_sensors.csv").open()))
    assert [(r["id"], r["kept"], r["index"]) for r in rows] == [("717445", "1", "0"), ("773869", "0", "1"),
                                                                ("767541", "1", "2")]
    assert float(rows[1]["score"]) == -0.2
    json.dumps(out)  # the export JSON takes it as it is


def test_a_random_mask_has_no_scores_and_no_mask_writes_nothing(tmp_path):
    rows = sensor_rows({"kept_sensors": [1], "scores": None}, ["x", "y"])
    assert [r["score"] for r in rows] == [None, None] and [r["kept"] for r in rows] == [False, True]
    assert with_ids({"kept_sensors": [1]}, ["x", "y"])["kept_sensor_ids"] == ["y"]
    assert export_sensors(tmp_path, "d", train_result(1.0, 1.0, artifacts={"st_prune": {"per_epoch": []}}), None)["deployment"] == {}
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------- inference timing (issue 33)


class NodeClock:
    """A time source moved by the model: each forward adds one second per node it ran on."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Costly(Recorder):
    def __init__(self, inner: nn.Module, clock: NodeClock) -> None:
        super().__init__(inner)
        self.clock = clock

    def forward(self, x, nodes=None, node_inputs=None, graph=None):
        self.clock.now += x.shape[2]
        return super().forward(x, nodes, node_inputs, graph)


def view_of(x: torch.Tensor, nodes, dropped: list[int]) -> str:
    if nodes is not None:
        return "kept_only"
    return "all_sensors" if torch.all(x[:, :, dropped, :2] == 0) else "full"


def timed(repeats: int = 3, batch_size: int = 64):
    from sttune.training.deploy import inference_timing
    from sttune.training.timing import DeviceClock

    torch.manual_seed(0)
    data = data_module()
    now = NodeClock()
    model = Costly(TinyModel(data.spec), now)
    out = inference_timing(model, data, [4, 1], batch_size, lambda: DeviceClock(torch.device("cpu"), "process", now),
                           repeats)
    return data, model, out


def test_inference_timing_reports_each_views_seconds_and_speedup():
    data, _, out = timed(repeats=3)
    batches = -(-len(data.test) // 64)
    assert (out["repeats"], out["windows"], out["batch_size"]) == (3, len(data.test), 64)
    assert out["nodes"] == {"full": 6, "kept_only": 2, "all_sensors": 6}
    # the model's cost is its node count: full 6 per batch, kept-only 2, every sensor forecast 6
    assert out["seconds"] == {"full": [6.0 * batches] * 3, "kept_only": [2.0 * batches] * 3,
                              "all_sensors": [6.0 * batches] * 3}
    assert out["speedup"]["kept_only"] == {"median": 3.0, "low": 3.0, "high": 3.0}
    assert out["speedup"]["all_sensors"]["median"] == 1.0
    json.dumps(out)


def test_inference_timing_interleaves_the_views_per_batch_rotating_per_repeat():
    data, model, out = timed(repeats=3, batch_size=40)
    dropped = [0, 2, 3, 5]
    views = [view_of(x, nodes, dropped) for x, nodes in model.calls]
    assert views[:3] == ["full", "kept_only", "all_sensors"]  # the untimed warm-up
    batches = -(-len(data.test) // 40)
    rotations = [["full", "kept_only", "all_sensors"], ["kept_only", "all_sensors", "full"],
                 ["all_sensors", "full", "kept_only"]]
    assert out["order"] == rotations
    expected = [v for order in rotations for _ in range(batches) for v in order]
    assert views[3:] == expected


def test_the_deployed_forward_runs_on_the_kept_sensors_only():
    _, model, _ = timed(repeats=2)
    kept = [(x, nodes) for x, nodes in model.calls if nodes is not None]
    assert kept and all(x.shape[2] == 2 and nodes.tolist() == [1, 4] for x, nodes in kept)
    others = [x for x, nodes in model.calls if nodes is None]
    assert all(x.shape[2] == 6 for x in others)


def test_a_dynst_job_carries_its_inference_timing_to_the_result_and_json(tmp_path):
    from sttune.recipe.settings import TrainConfig
    from sttune.training.jobs import Job, fit_job
    from sttune.training.result import TrainResult

    block = DatasetBlock("synthetic", {"n_nodes": 8, "n_days": 3, "steps_per_day": 48}, id="tiny")
    job = Job(block, Protocol(), "stid", {"embed_dim": 8, "n_layers": 1}, [("dynst", {"s_final": 0.5})],
              TrainConfig(epochs=2, device="cpu", batch_size=32))
    result = fit_job(job, tmp_path).result
    inference = result.deployment["inference"]
    assert inference["clock"] == "process" and inference["device"].startswith("cpu")
    assert inference["nodes"]["kept_only"] == result.deployment["n_kept"] == 4
    assert len(inference["seconds"]["full"]) == inference["repeats"] == 5
    assert inference["speedup"]["kept_only"]["low"] <= inference["speedup"]["kept_only"]["median"]
    assert result.to_dict()["deployment"]["inference"] == inference  # train --json
    again = TrainResult.from_plain(json.loads(json.dumps(result.to_plain())))  # the study's journal
    assert again.deployment["inference"]["speedup"] == inference["speedup"]
    assert export_sensors(tmp_path, "tiny", again, None)["deployment"]["inference"] == again.deployment["inference"]
