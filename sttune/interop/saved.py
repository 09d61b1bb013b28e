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
    manifest.json   the format, the sizes (nodes, channels, window lengths), each weight's shape
                    and a SHA-256 of every file above: checked on load, so a file changed or
                    damaged since the save is one line naming it, never a model that half loads

A save is written into a new hidden folder beside DIR and renamed into place: DIR holds the
whole new save or, if anything failed, what it held before. DIR may be new, empty or an earlier
save (replaced whole: no artifact of the old model stays beside the new one); a folder holding
anything sttune did not save there (the user's recipe.yaml, a link, other files) is refused
before training starts (:func:`check_save_target`).
"""

from __future__ import annotations

import json
import shutil
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
from sttune.files import a, fault, kind, shown
from sttune.interop.save_folder import (
    DAMAGED,
    FORMAT,
    MANIFEST,
    SAVED_HEADER,
    SavedModelError as SavedModelError,
    build_manifest,
    check_file,
    check_manifest,
    check_meta,
    check_save_target as check_save_target,
    check_sizes,
    new_folder,
    put_in_place,
    read_json,
)
from sttune.interop.sensors import dataset_node_ids, write_sensors
from sttune.recipe.schema import clip
from sttune.recipe.spec import ModelBlock, Recipe, StrategyBlock, dump_recipe
from sttune.registry import discovery as plugins
from sttune.training.jobs import Fitted, Job

READABLE = (1, 2)  # format 1 (no manifest) is still read, unchecked


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

def _write_save(folder: Path, fitted: Fitted, job: Job, out_dir: Path, template: Recipe | None) -> None:
    model, data, spec = fitted.model, fitted.data, fitted.data.spec
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "edge_index": spec.graph.edge_index.cpu(), "edge_weight": spec.graph.edge_weight.cpu(),
                "node_inputs": data.node_inputs.cpu()}, folder / "model.pt")
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
    (folder / "model.json").write_text(json.dumps(meta, indent=1))
    base = template or Recipe(datasets=[job.dataset], model=ModelBlock(name=job.model_name))
    recipe = replace(base, datasets=[job.dataset], model=ModelBlock(name=job.model_name, params=job.model_params),
                     protocol=job.protocol, train=job.train,
                     strategies=[StrategyBlock(n, p) for n, p in job.strategies], run_dir=None)
    dump_recipe(recipe, folder / "recipe.yaml",
                f"{SAVED_HEADER} {_package_version('sttune')}; replay: sttune train {out_dir / 'recipe.yaml'}")
    result = {"dataset": job.dataset.label, "model": job.model_name, **fitted.result.to_dict()}
    (folder / "result.json").write_text(json.dumps(result, indent=1, default=str))
    for strategy in fitted.strategies:
        art = strategy.artifacts()
        if art:
            (folder / "strategies").mkdir(exist_ok=True)
            (folder / "strategies" / f"{strategy.name}.json").write_text(json.dumps(art, indent=1, default=str))
    write_sensors(folder, job.dataset.label, fitted.result.artifacts, job.dataset)
    (folder / MANIFEST).write_text(json.dumps(build_manifest(folder, spec, state), indent=1))  # last: a save is whole

def save_fitted(fitted: Fitted, job: Job, out_dir: Path, template: Recipe | None = None) -> Path:
    """Write a trained run into ``out_dir`` (layout in the module docstring); returns it."""
    out_dir = Path(out_dir)
    check_save_target(out_dir)
    new: Path | None = None
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        new = new_folder(out_dir.parent, ".sttune-save-")
        _write_save(new, fitted, job, out_dir, template)
        put_in_place(new, out_dir)
    except OSError as exc:
        raise fault(exc, "save the model into", out_dir, error=SavedModelError) from None
    finally:
        if new is not None and new.exists():
            shutil.rmtree(new, ignore_errors=True)
    return out_dir


# --- loading --------------------------------------------------------------------------------

def _read_blob(path: Path, spec: dict[str, Any]) -> dict[str, Any]:
    file = path / "model.pt"
    check_file(file, "a weights file")
    try:
        blob = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (unpickling, zip, torch errors: the file is the fault)
        first = (str(exc).strip().splitlines() or [""])[0]
        raise SavedModelError(f"{shown(file)} cannot be read as a saved model's weights ({type(exc).__name__}: {clip(first, 80)})",
                              DAMAGED) from None
    keys = ("state_dict", "edge_index", "edge_weight", "node_inputs")
    if not isinstance(blob, dict) or any(k not in blob for k in keys):
        raise SavedModelError(f"{shown(file)} lacks the weights, graph or node inputs a save holds", DAMAGED)
    state, edges, weights, inputs = (blob[k] for k in keys)
    n = spec["n_nodes"]
    ok = (isinstance(state, dict) and all(isinstance(v, Tensor) for v in state.values())
          and isinstance(edges, Tensor) and edges.ndim == 2 and edges.shape[0] == 2 and not edges.is_floating_point()
          and (edges.numel() == 0 or (int(edges.min()) >= 0 and int(edges.max()) < n))
          and isinstance(weights, Tensor) and weights.shape == (edges.shape[1],)
          and isinstance(inputs, Tensor) and tuple(inputs.shape) == (n, spec["node_input_dim"]))
    if not ok:
        raise SavedModelError(f"{shown(file)} does not fit {shown(path / 'model.json')} "
                              f"({n} nodes, node inputs of width {spec['node_input_dim']})", DAMAGED)
    return blob


def load_model(path: str | Path) -> SavedModel:
    """Load a folder written by ``sttune train --save`` / ``sttune.train(save=...)``: the manifest
    first (every file as saved), then model.json's keys, then the weights against the model."""
    path = Path(path)
    found = kind(path)
    if found is None:
        raise SavedModelError(f"no saved model at {shown(path)}", "pass the folder given to --save")
    if found != "folder":
        raise SavedModelError(f"{shown(path)} is {a(found)}, not a saved-model folder", "pass the folder given to --save")
    check_file(path / "model.json", "a JSON file")
    check_file(path / "model.pt", "a weights file")
    meta = read_json(path / "model.json")
    if meta.get("format") not in READABLE:
        raise SavedModelError(f"{path}: saved-model format {clip(repr(meta.get('format')), 30)}, this sttune reads "
                              f"{', '.join(map(str, READABLE))}",
                              f"load it with the sttune that saved it ({clip(str(meta.get('sttune_version')), 30)})")
    manifest: dict[str, Any] = {}
    if meta["format"] >= 2:
        if kind(path / MANIFEST) is None:
            raise SavedModelError(f"{shown(path)} lacks its {MANIFEST}", DAMAGED)
        manifest = read_json(path / MANIFEST)
        check_manifest(path, manifest)
    check_meta(path, meta)
    s = meta["spec"]
    blob = _read_blob(path, s)
    if meta["format"] >= 2:
        check_sizes(path, manifest, s, blob["state_dict"])
    graph = Graph(blob["edge_index"], blob["edge_weight"], s["n_nodes"])
    spec = ModelSpec(s["n_nodes"], s["in_len"], s["out_len"], s["n_channels"], s["steps_per_day"], graph,
                     s["node_input_dim"], s.get("seasonal_channel"))
    factory = plugins.load("model", meta["model"])
    try:
        model = factory(spec, **meta.get("params", {}))
    except SttuneError:
        raise
    except Exception as exc:  # noqa: BLE001  (a param the plugin refuses: the file was edited)
        raise SavedModelError(f"model '{meta['model']}' cannot be built from {shown(path / 'model.json')} "
                              f"({type(exc).__name__}: {clip(str(exc).splitlines()[0] if str(exc) else '', 80)})", DAMAGED) from None
    try:
        model.load_state_dict(blob["state_dict"])
    except RuntimeError as exc:
        detail = next((line.strip() for line in str(exc).splitlines()[1:] if line.strip()), str(exc))
        raise SavedModelError(f"{shown(path / 'model.pt')} does not fit the model {shown(path / 'model.json')} describes "
                              f"({clip(detail, 100)})", DAMAGED) from None
    model.eval()
    return SavedModel(model, meta, blob["node_inputs"], path)


# --- inputs ---------------------------------------------------------------------------------


def _array(value: Any, name: str) -> np.ndarray:
    try:
        out = np.asarray(value.detach().cpu().numpy() if isinstance(value, Tensor) else value)
    except (TypeError, ValueError) as exc:
        raise SavedModelError(f"{name} is not an array ({clip(str(exc), 60)})", "pass a numpy array or a tensor") from None
    if out.dtype == object or not (np.issubdtype(out.dtype, np.number) or out.dtype == np.bool_) \
            or np.iscomplexobj(out) or out.dtype == np.bool_:
        raise SavedModelError(f"{name} holds {out.dtype} values, not real numbers", "pass a float array")
    return out


def _check_calendar(tod: np.ndarray, dow: np.ndarray, where: str) -> None:
    if not np.isfinite(tod).all() or (tod < 0).any() or (tod > 1).any():
        raise SavedModelError(f"{where}: time of day must lie in [0, 1) (a fraction of the day), got values "
                              f"from {np.nanmin(tod):g} to {np.nanmax(tod):g}", "pass e.g. hour / 24")
    if not np.isfinite(dow).all() or (dow < 0).any() or (dow > 6).any() or (dow != np.round(dow)).any():
        raise SavedModelError(f"{where}: day of week must be a whole number 0..6", "pass 0..6, counted as the dataset counts")


@dataclass
class SavedModel:
    """A model loaded by :func:`load_model`, ready for inference on the dataset's nodes (CPU, eval).

    ``predict(x)`` takes sttune's input layout (normalised channels, time of day, day of week:
    [batch, in_len, nodes, channels + 2]) and returns raw units; ``inputs(...)`` builds that
    layout from raw readings. Both check their inputs against the saved sizes: a wrong shape,
    channel count or node count, a NaN or a calendar out of range is one line (SavedModelError).
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
        return {p.stem: read_json(p) for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}

    def _layout(self, n_nodes: int) -> str:
        c = self.spec.n_channels
        return (f"[batch, {self.spec.in_len}, {n_nodes}, {c + 2}] ({c} channel{'s' if c != 1 else ''}, "
                "then time of day and day of week)")

    def inputs(self, values: np.ndarray | Tensor, time_of_day: np.ndarray | Tensor,
               day_of_week: np.ndarray | Tensor, seasonal: np.ndarray | Tensor | None = None) -> Tensor:
        """Raw readings → model inputs. values: [batch, in_len, nodes, channels] raw units,
        missing readings 0 or NaN; time_of_day: [batch, in_len] in [0, 1); day_of_week:
        [batch, in_len] 0..6 (0 = the weekday the dataset's ``start_day_of_week`` counts from).
        A model trained with ``protocol.residual: seasonal`` also needs ``seasonal``: [batch,
        in_len, nodes] raw target readings ``seasonal_lag - out_len`` steps before each input
        step (``meta["spec"]["seasonal_lag"]``; the last observed reading where one is missing)."""
        c = self.spec.n_channels - (self.spec.seasonal_channel is not None)  # the readings' own channels
        raw = _array(values, "inputs: values")
        if raw.ndim != 4 or raw.shape[0] < 1 or raw.shape[1] != self.spec.in_len or raw.shape[3] != c \
                or not 1 <= raw.shape[2] <= self.spec.n_nodes:
            raise SavedModelError(f"inputs: values have shape {tuple(raw.shape)}; this model reads "
                                  f"[batch, {self.spec.in_len}, nodes (up to {self.spec.n_nodes}), {c}] raw readings "
                                  f"({c} channel{'s' if c != 1 else ''})", "pass the readings the model was trained on")
        tod, dow = _array(time_of_day, "inputs: time_of_day"), _array(day_of_week, "inputs: day_of_week")
        for name, given in (("time_of_day", tod), ("day_of_week", dow)):
            if given.shape != raw.shape[:2]:
                raise SavedModelError(f"inputs: {name} has shape {tuple(given.shape)}, the values {tuple(raw.shape[:2])} "
                                      "(batch, in_len)", "pass one value per window and step")
        _check_calendar(tod, dow, "inputs")
        v = torch.as_tensor(raw, dtype=torch.float32)
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
            base = torch.as_tensor(_array(seasonal, "inputs: seasonal"), dtype=torch.float32)
            if tuple(base.shape) != tuple(raw.shape[:3]):
                raise SavedModelError(f"inputs: seasonal has shape {tuple(base.shape)}, the values {tuple(raw.shape[:3])} "
                                      "(batch, in_len, nodes)", "pass one seasonal reading per window, step and node")
            base = (torch.nan_to_num(base) - self.meta["target_mean"]) / self.meta["target_std"]
            norm = torch.cat([norm, base[..., None]], -1)
        cal = torch.stack([torch.as_tensor(tod, dtype=torch.float32), torch.as_tensor(dow, dtype=torch.float32)], -1)
        return torch.cat([norm, cal[:, :, None, :].expand(*norm.shape[:3], 2)], -1)

    def _nodes(self, nodes: Any) -> Tensor | None:
        if nodes is None:
            return None
        index = _array(nodes, "predict: nodes")
        n = self.spec.n_nodes
        if index.ndim != 1 or index.size == 0 or not np.issubdtype(index.dtype, np.integer):
            raise SavedModelError(f"predict: nodes must be a 1-D list of node indices, got {index.dtype} of shape {index.shape}",
                                  f"pass e.g. nodes=[0, 2, 5] (0..{n - 1})")
        if (index < 0).any() or (index >= n).any() or len(np.unique(index)) != index.size:
            raise SavedModelError(f"predict: nodes must be distinct indices from 0 to {n - 1}", "pass each node once")
        return torch.as_tensor(index, dtype=torch.long)

    @torch.no_grad()
    def predict(self, x: Tensor, nodes: Tensor | None = None) -> Tensor:
        """Raw-unit forecast [batch, out_len, nodes_b] of the target channel; ``nodes``: run on
        those node indices only (x then holds just them, as in training on a subset)."""
        index = self._nodes(nodes)
        n_b = self.spec.n_nodes if index is None else int(index.numel())
        arr = _array(x, "predict: x")
        c = self.spec.n_channels
        if arr.ndim != 4 or arr.shape[0] < 1 or tuple(arr.shape[1:]) != (self.spec.in_len, n_b, c + 2):
            why = ""
            if arr.ndim == 4 and arr.shape[3] != c + 2:
                why = f": {arr.shape[3] - 2} channel(s) where the model was trained on {c}"
            elif arr.ndim == 4 and arr.shape[2] != n_b:
                why = f": {arr.shape[2]} nodes where the model {'was given' if index is not None else 'has'} {n_b}"
            raise SavedModelError(f"predict: x has shape {tuple(arr.shape)}{why}; this model takes {self._layout(n_b)}",
                                  "build x with .inputs(values, time_of_day, day_of_week)")
        if not np.isfinite(arr).all():
            raise SavedModelError("predict: x holds NaN or infinite values", "missing readings are 0 in x (.inputs() does that)")
        _check_calendar(arr[..., c], arr[..., c + 1], "predict: x")
        tensor = torch.as_tensor(arr, dtype=torch.float32)
        node_inputs = self.node_inputs if index is None else self.node_inputs[index]
        pred = self.model(tensor, index, node_inputs, None)
        return pred * self.meta["target_std"] + self.meta["target_mean"]
