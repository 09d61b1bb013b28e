"""Saved models: what ``sttune train RECIPE --save DIR`` (``sttune.train(..., save=DIR)``) writes,
and :func:`load_model`, which reads it back in one call, without the dataset's files.

Layout of DIR (docs/python-api.md#saved-models)::

    model.pt        torch.save dict: the best-validation state_dict, the graph (edge_index,
                    edge_weight), the node descriptors (location encoders read them)
    model.json      what rebuilds the model: plugin name and the params it was built with,
                    the ModelSpec's sizes, the normalisation (per-channel mean/std, target
                    channel), node ids, calendar, sttune version
    recipe.yaml     the fixed recipe that trained it (``sttune train DIR/recipe.yaml`` replays it)
    result.json     the TrainResult (metrics, costs, curve, deployment accuracy)
    strategies/<name>.json   each strategy's artifacts (DynST's mask and scores, ...)
    <dataset>_sensors.csv    where a strategy kept a sensor subset: id, score, kept, index
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib.metadata import version as _package_version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sttune.api import Graph, ModelSpec, STModel, Strategy
from sttune.errors import SttuneError
from sttune.interop.sensors import dataset_node_ids, write_sensors
from sttune.recipe.spec import ModelBlock, Recipe, StrategyBlock, dump_recipe, write_atomic
from sttune.registry import discovery as plugins
from sttune.training.jobs import Fitted, Job

FORMAT = 1  # model.json "format": bumped when the layout changes incompatibly


class SavedModelError(SttuneError):
    """A saved-model folder is missing, incomplete or of another format."""


def effective_params(job: Job, strategies: Sequence[Strategy]) -> dict[str, Any]:
    """The params the model was built with (sttune.registry.build.model_factory adds the encoder)."""
    from sttune.registry.build import needs_encoder

    params = dict(job.model_params)
    if needs_encoder(strategies):
        params["node_embedding"] = "encoder"
    return params


def channel_stats(job: Job) -> tuple[list[float], list[float]]:
    """Per-channel (mean, std) the inputs were z-scored with: recomputed from the series exactly
    as the protocol computes them (the DataModule keeps the target channel's only)."""
    from sttune.data.protocol import _check, _zscore, encode_missing
    from sttune.registry.build import load_series

    series = load_series(job.dataset)
    n_train = _check(series, job.protocol)[0]
    values, _ = encode_missing(series, job.protocol)
    _, mean, std = _zscore(values, n_train + job.protocol.in_len - 1)
    return [float(v) for v in mean], [float(v) for v in std]


def save_fitted(fitted: Fitted, job: Job, out_dir: Path, template: Recipe | None = None) -> Path:
    """Write a trained run into ``out_dir`` (layout in the module docstring); returns it."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model, data, spec = fitted.model, fitted.data, fitted.data.spec
    torch.save({"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "edge_index": spec.graph.edge_index.cpu(), "edge_weight": spec.graph.edge_weight.cpu(),
                "node_inputs": data.node_inputs.cpu()}, out_dir / "model.pt")
    mean, std = channel_stats(job)
    meta = {
        "format": FORMAT, "sttune_version": _package_version("sttune"), "dataset": job.dataset.label,
        "model": job.model_name, "params": effective_params(job, fitted.strategies),
        "spec": {"n_nodes": spec.n_nodes, "in_len": spec.in_len, "out_len": spec.out_len,
                 "n_channels": spec.n_channels, "steps_per_day": spec.steps_per_day,
                 "node_input_dim": spec.node_input_dim, "seasonal_channel": spec.seasonal_channel,
                 "seasonal_lag": data.seasonal_lag},
        "target_channel": job.protocol.target_channel, "target_mean": data.target_mean,
        "target_std": data.target_std, "channel_mean": mean, "channel_std": std,
        "node_ids": dataset_node_ids(job.dataset, spec.n_nodes), "missing": data.missing,
        "strategies": [[n, p] for n, p in job.strategies],
    }
    write_atomic(out_dir / "model.json", json.dumps(meta, indent=1))
    base = template or Recipe(datasets=[job.dataset], model=ModelBlock(name=job.model_name))
    recipe = replace(base, datasets=[job.dataset], model=ModelBlock(name=job.model_name, params=job.model_params),
                     protocol=job.protocol, train=job.train,
                     strategies=[StrategyBlock(n, p) for n, p in job.strategies], run_dir=None)
    dump_recipe(recipe, out_dir / "recipe.yaml", f"saved by sttune {_package_version('sttune')}; replay: sttune train {out_dir / 'recipe.yaml'}")
    result = {"dataset": job.dataset.label, "model": job.model_name, **fitted.result.to_dict()}
    write_atomic(out_dir / "result.json", json.dumps(result, indent=1, default=str))
    for strategy in fitted.strategies:
        art = strategy.artifacts()
        if art:
            write_atomic(out_dir / "strategies" / f"{strategy.name}.json", json.dumps(art, indent=1, default=str))
    write_sensors(out_dir, job.dataset.label, fitted.result.artifacts, job.dataset)
    return out_dir


@dataclass
class SavedModel:
    """A model loaded by :func:`load_model`, ready for inference on the dataset's nodes (CPU, eval).

    ``predict(x)`` takes sttune's input layout (normalised channels, time of day, day of week:
    [batch, in_len, nodes, channels + 2]) and returns raw units; ``inputs(...)`` builds that
    layout from raw readings.
    """

    model: STModel
    meta: dict[str, Any]
    node_inputs: Tensor
    path: Path

    @property
    def spec(self) -> ModelSpec:
        return self.model.spec

    @property
    def node_ids(self) -> list[str]:
        return list(self.meta["node_ids"])

    @property
    def artifacts(self) -> dict[str, Any]:
        """Each strategy's artifacts as saved (strategies/<name>.json)."""
        folder = self.path / "strategies"
        return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}

    def inputs(self, values: np.ndarray | Tensor, time_of_day: np.ndarray | Tensor,
               day_of_week: np.ndarray | Tensor, seasonal: np.ndarray | Tensor | None = None) -> Tensor:
        """Raw readings → model inputs. values: [batch, in_len, nodes, channels] raw units,
        missing readings 0 or NaN; time_of_day: [batch, in_len] in [0, 1); day_of_week:
        [batch, in_len] 0..6 (0 = the weekday the dataset's ``start_day_of_week`` counts from).
        A model trained with ``protocol.residual: seasonal`` also needs ``seasonal``: [batch,
        in_len, nodes] raw target readings ``seasonal_lag - out_len`` steps before each input
        step (``meta["spec"]["seasonal_lag"]``; the last observed reading where one is missing)."""
        v = torch.as_tensor(np.asarray(values), dtype=torch.float32)
        mean = torch.tensor(self.meta["channel_mean"], dtype=torch.float32)
        std = torch.tensor(self.meta["channel_std"], dtype=torch.float32)
        observed = torch.isfinite(v) & (v != 0)
        norm = torch.where(observed, (torch.nan_to_num(v) - mean) / std, torch.zeros(()))
        if self.spec.seasonal_channel is not None:
            if seasonal is None:
                raise SavedModelError(
                    f"{self.path}: this model forecasts the residual over a seasonal naive forecast "
                    f"(protocol.residual: seasonal), so inputs() needs `seasonal`",
                    f"pass seasonal: the target readings {self.meta['spec'].get('seasonal_lag')} - out_len steps before each input step")
            base = torch.as_tensor(np.asarray(seasonal), dtype=torch.float32)
            base = (torch.nan_to_num(base) - self.meta["target_mean"]) / self.meta["target_std"]
            norm = torch.cat([norm, base[..., None]], -1)
        cal = torch.stack([torch.as_tensor(np.asarray(time_of_day), dtype=torch.float32),
                           torch.as_tensor(np.asarray(day_of_week), dtype=torch.float32)], -1)
        return torch.cat([norm, cal[:, :, None, :].expand(*norm.shape[:3], 2)], -1)

    @torch.no_grad()
    def predict(self, x: Tensor, nodes: Tensor | None = None) -> Tensor:
        """Raw-unit forecast [batch, out_len, nodes_b] of the target channel; ``nodes``: run on
        those node indices only (x then holds just them, as in training on a subset)."""
        node_inputs = self.node_inputs if nodes is None else self.node_inputs[nodes]
        pred = self.model(x, nodes, node_inputs, None)
        return pred * self.meta["target_std"] + self.meta["target_mean"]


def load_model(path: str | Path) -> SavedModel:
    """Load a folder written by ``sttune train --save`` / ``sttune.train(save=...)``."""
    path = Path(path)
    for name in ("model.json", "model.pt"):
        if not (path / name).is_file():
            raise SavedModelError(f"{path} is not a saved model (no {name})", "pass the folder given to --save")
    meta = json.loads((path / "model.json").read_text())
    if meta.get("format") != FORMAT:
        raise SavedModelError(f"{path}: saved-model format {meta.get('format')}, this sttune reads {FORMAT}",
                              f"load it with the sttune that saved it ({meta.get('sttune_version')})")
    blob = torch.load(path / "model.pt", map_location="cpu", weights_only=True)
    s = meta["spec"]
    graph = Graph(blob["edge_index"], blob["edge_weight"], s["n_nodes"])
    spec = ModelSpec(s["n_nodes"], s["in_len"], s["out_len"], s["n_channels"], s["steps_per_day"], graph,
                     s["node_input_dim"], s.get("seasonal_channel"))
    model = plugins.load("model", meta["model"])(spec, **meta["params"])
    model.load_state_dict(blob["state_dict"])
    model.eval()
    return SavedModel(model, meta, blob["node_inputs"], path)
