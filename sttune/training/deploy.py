"""Deployment accuracy: the trained model scored when only a subset of the sensors report.

A sensor-selection strategy (DynST) answers "which sensors can you stop deploying"; its
result is only worth acting on if the model still forecasts well once the dropped sensors'
readings are gone. The trainer's metrics feed every sensor's input, so they cannot say.

Any strategy whose ``artifacts()`` hold ``kept_sensors`` (0-based node indices, the data
convention DynST follows) gets two extra evaluations of the best-validation model, on the
validation and the test windows:

* ``all_sensors``: every sensor is still forecast; the dropped sensors' series channels are
  set to 0 in normalised units, which is exactly how the protocol encodes a missing reading
  (the training mean), so "absent" means what it means in training. Calendar features stay:
  they need no sensor. How much a dropped sensor's forecast keeps depends on the model (STID
  has only its node embedding and the calendar; GWNet and STGCN also hear their neighbours).
* ``kept_only``: the model runs on the kept sensors alone (their inputs, their node
  embeddings, the induced subgraph: how DynST trained it) and is scored on them only.

``full_inputs_kept`` scores the kept sensors with every input present, the reference that
separates "fewer sensors scored" from "fewer sensors heard".

:func:`inference_timing` adds what the deployed model costs to run (DynST's headline: a sparse
deployment forecasts faster): the forward passes over the test windows of the full model (every
sensor, every input), of ``kept_only`` (the kept sensors alone) and of ``all_sensors`` (every
sensor forecast from the kept sensors' readings), interleaved per batch in an order that rotates
from repeat to repeat, on the trainer's device clock; per repeat the full model's seconds over
each deployed view's, the median and range over repeats.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from sttune.data.protocol import DataModule, SeriesWindows
from sttune.training.metrics import MetricAccumulator, drop_mape
from sttune.training.timing import DeviceClock

KEPT = "kept_sensors"  # the artifact key a sensor-selection strategy fills
VIEWS = ("all_sensors", "kept_only", "full_inputs_kept")


def kept_sensors(artifacts: dict[str, Any]) -> tuple[str, list[int]] | None:
    """The first strategy artifact naming kept sensors: (strategy name, indices), or None."""
    for name, art in artifacts.items():
        if isinstance(art, dict) and isinstance(art.get(KEPT), list):
            return name, [int(i) for i in art[KEPT]]
    return None


Forecast = Callable[[Tensor], Tensor]  # x [B, T, N, F] → normalised forecast [B, out, N']


@torch.no_grad()
def _score(model: nn.Module, windows: SeriesWindows, data: DataModule, forecast: Forecast,
           nodes: Tensor | None, batch_size: int) -> dict:
    """Metrics of ``forecast`` on ``windows``, on ``nodes`` only when given (raw units)."""
    acc = MetricAccumulator(windows.out_len)
    for index in torch.split(torch.arange(len(windows)), batch_size):
        batch = windows.gather(index)
        y = batch.y if nodes is None else batch.y.index_select(2, nodes)
        acc.add(forecast(batch.x) * data.target_std + data.target_mean, y)
    return acc.result()


def masked_inputs(x: Tensor, dropped: Tensor, n_channels: int) -> Tensor:
    """``x`` with the dropped sensors' series channels set to 0 (a missing reading)."""
    x = x.clone()
    x[:, :, dropped, :n_channels] = 0.0
    return x


def deployment_metrics(model: nn.Module, data: DataModule, kept: list[int], strategy: str,
                       batch_size: int) -> dict[str, Any]:
    """The model's accuracy when only ``kept`` sensors report (see the module docstring)."""
    was_training = model.training
    model.eval()
    device = data.node_inputs.device
    n = data.spec.n_nodes
    keep = torch.as_tensor(sorted(set(kept)), dtype=torch.long, device=device)
    dropped = torch.ones(n, dtype=torch.bool, device=device)
    dropped[keep] = False
    c = data.spec.n_channels
    forecasts: dict[str, tuple[Forecast, Tensor | None]] = {  # in VIEWS order
        "all_sensors": (lambda x: model(masked_inputs(x, dropped, c), None, data.node_inputs, None), None),
        "kept_only": (lambda x: model(x.index_select(2, keep), keep, data.node_inputs[keep], None), keep),
        "full_inputs_kept": (lambda x: model(x, None, data.node_inputs, None).index_select(2, keep), keep),
    }
    out: dict[str, Any] = {"strategy": strategy, "n_sensors": n, "n_kept": len(keep),
                           "kept_sensors": keep.tolist()}
    for name, (forecast, nodes) in forecasts.items():
        out[name] = {split: _score(model, getattr(data, split), data, forecast, nodes, batch_size)
                     for split in ("val", "test")}
    model.train(was_training)
    return out


def without_mape(deployment: dict[str, Any]) -> dict[str, Any]:
    """``deployment`` with MAPE left out of every view (where the run's MAPE means nothing)."""
    return {k: {split: drop_mape(m) for split, m in v.items()} if k in VIEWS else v
            for k, v in deployment.items()}


TIMED = ("full", "kept_only", "all_sensors")  # the forwards inference_timing compares, first order
TIMING_REPEATS = 5


def _rotated(repeat: int) -> list[str]:
    k = repeat % len(TIMED)
    return [*TIMED[k:], *TIMED[:k]]


@torch.no_grad()
def inference_timing(model: nn.Module, data: DataModule, kept: list[int], batch_size: int,
                     clock: Callable[[], DeviceClock], repeats: int = TIMING_REPEATS) -> dict[str, Any]:
    """Device seconds of the full model's and the deployed model's forward passes over the test
    windows (see the module docstring), and the deployed views' speed-ups.

    Per repeat and test batch, the batch is gathered and its kept / masked inputs made untimed,
    then the three forwards run back to back, each timed alone on its own ``clock()`` (a
    DeviceClock: synchronised on a GPU, process CPU time on a CPU by default), in the order
    ``order[repeat]``, which rotates from repeat to repeat. One untimed forward per view on the
    first batch goes first (one-off allocations). ``speedup[view]`` is the median, low and high
    over repeats of full seconds / view seconds of the same repeat."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    was_training = model.training
    model.eval()
    device = data.node_inputs.device
    n, c, inputs = data.spec.n_nodes, data.spec.n_channels, data.node_inputs
    keep = torch.as_tensor(sorted(set(kept)), dtype=torch.long, device=device)
    dropped = torch.ones(n, dtype=torch.bool, device=device)
    dropped[keep] = False
    kept_inputs = inputs[keep]
    forwards: dict[str, Callable[[dict[str, Tensor]], Tensor]] = {
        "full": lambda v: model(v["x"], None, inputs, None),
        "kept_only": lambda v: model(v["kept"], keep, kept_inputs, None),
        "all_sensors": lambda v: model(v["masked"], None, inputs, None),
    }
    index = list(torch.split(torch.arange(len(data.test)), batch_size))

    def views(i: Tensor) -> dict[str, Tensor]:
        x = data.test.gather(i).x
        return {"x": x, "kept": x.index_select(2, keep), "masked": masked_inputs(x, dropped, c)}

    first = views(index[0])
    for name in TIMED:  # warm-up, untimed
        forwards[name](first)
    clocks = {name: [clock() for _ in range(repeats)] for name in TIMED}
    orders = []
    for repeat in range(repeats):
        order = _rotated(repeat)
        orders.append(order)
        for i in index:
            v = views(i)
            for name in order:
                with clocks[name][repeat].timed():
                    forwards[name](v)
    model.train(was_training)
    seconds = {name: [c.seconds for c in clocks[name]] for name in TIMED}
    speedup = {}
    for name in TIMED[1:]:
        ratios = [f / d for f, d in zip(seconds["full"], seconds[name]) if d > 0]
        speedup[name] = ({"median": statistics.median(ratios), "low": min(ratios), "high": max(ratios)}
                         if ratios else None)
    return {"repeats": repeats, "windows": len(data.test), "batch_size": batch_size,
            "nodes": {"full": n, "kept_only": len(keep), "all_sensors": n},
            "order": orders, "seconds": seconds, "speedup": speedup}
