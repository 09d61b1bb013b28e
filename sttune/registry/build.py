"""Turn recipe blocks into live objects: series, data modules, models and strategies.

Every plugin call goes through :func:`call_with_params`, so a misspelt param is a one-line
error naming the plugin, never a TypeError traceback from deep inside it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sttune.api import STModel, Strategy, STSeries
from sttune.data.protocol import DataModule, build_data
from sttune.errors import PluginError, RecipeError, SttuneError
from sttune.recipe.schema import clip, did_you_mean, short
from sttune.recipe.settings import Protocol
from sttune.recipe.spec import DatasetBlock
from sttune.registry import discovery as plugins


def call_with_params(fn: Callable[..., Any], params: dict[str, Any], what: str, *args: Any) -> Any:
    """Call ``fn(*args, **params)`` after checking ``params`` against its signature."""
    bind_params(fn, params, what, len(args))
    return fn(*args, **params)


def bind_params(fn: Callable[..., Any], params: dict[str, Any], what: str, n_args: int = 0) -> None:
    """Check that ``fn`` accepts ``n_args`` positional arguments and ``params``: a misspelt
    or missing param is a one-line RecipeError listing the accepted ones."""
    try:
        inspect.signature(fn).bind(*[None] * n_args, **params)
    except TypeError as exc:
        accepted = [
            p.name for p in list(inspect.signature(fn).parameters.values())[n_args:]
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        extra = next((k for k in params if k not in accepted), None)
        guess = did_you_mean(extra, accepted) if extra is not None else ""
        raise RecipeError(
            f"{what}: {exc}", f"{guess}accepted params: {', '.join(accepted) or 'none'}"
        ) from None


def load_series(block: DatasetBlock) -> STSeries:
    loader = plugins.load("dataset", block.name)
    try:
        series = call_with_params(loader, block.params, f"dataset '{block.name}'")
    except SttuneError:
        raise
    except Exception as exc:  # a plugin's own failure: name it instead of a traceback
        info = plugins.info("dataset", block.name)
        raise PluginError(
            f"dataset plugin '{block.name}' ({info.origin}) failed: {type(exc).__name__}: {exc}",
            "check its params and files, or report it to the plugin's authors",
        ) from exc
    if not isinstance(series, STSeries):
        info = plugins.info("dataset", block.name)
        raise PluginError(
            f"dataset plugin '{block.name}' ({info.origin}) returned {type(series).__name__}, not STSeries",
            "ask its authors to update it",
        )
    return series


def load_data(block: DatasetBlock, protocol: Protocol, cache_dir: Path | None = None) -> DataModule:
    """Load a dataset block and apply the windowing protocol (the computed arrays cached under
    ``cache_dir`` when given: see :func:`~sttune.data.protocol.build_data`)."""
    series = load_series(block)
    if block.id:
        series.name = block.id
    return build_data(series, protocol, cache_dir)


def needs_encoder(strategies: Sequence[Strategy]) -> bool:
    return any(s.needs_location_encoder for s in strategies)


def model_factory(
    name: str, params: dict[str, Any], data: DataModule, strategies: Sequence[Strategy] = ()
) -> Callable[[], STModel]:
    """A zero-argument builder of fresh models (strategies may need several)."""
    cls = plugins.load("model", name)
    params = dict(params)
    if needs_encoder(strategies):
        if not getattr(cls, "supports_location_encoder", False):
            users = ", ".join(s.name for s in strategies if s.needs_location_encoder)
            raise RecipeError(
                f"model '{name}' has no location encoder, which {users} needs",
                "pick a model that sets supports_location_encoder (stid, gwnet, stgcn, mtgnn)",
            )
        params["node_embedding"] = "encoder"
    what = f"model '{name}'"
    try:  # build one now so bad params fail here, as a recipe error
        call_with_params(cls, params, what, data.spec)
    except (ValueError, TypeError) as exc:  # a wrong-typed param fails inside the constructor
        raise RecipeError(f"{what}: {type(exc).__name__}: {clip(str(exc))}", "check its params (`sttune plugins show`)") from None

    def build() -> STModel:
        return cls(data.spec, **params)

    return build


def check_model_params(name: str, params: dict[str, Any], data: DataModule) -> None:
    """Build the fixed model once on ``data``: an unknown or wrong-typed param stops the
    command before any trial, instead of failing every trial (and using up the trial count)."""
    defaults = {p.name: p.default for p in inspect.signature(plugins.load("model", name)).parameters.values()}
    for key, value in params.items():
        default = defaults.get(key)
        if isinstance(default, (bool, int, float, str)) and not _same_kind(value, default):
            kind = "true or false" if isinstance(default, bool) else "text" if isinstance(default, str) else "a number"
            raise RecipeError(f"model '{name}': param {key} must be {kind} like its default {default!r}, "
                              f"got {type(value).__name__} {short(value)}", "check its params (`sttune plugins show`)")
    model_factory(name, params, data)


def _same_kind(value: Any, default: Any) -> bool:
    """``value`` is of the kind of ``default``: true/false, text, or a number (integers and
    floats mix: a constructor that needs an integer says so itself)."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float))
    return isinstance(value, str)


def check_device(name: str) -> None:
    """``train.device`` names a device this machine has (a missing GPU is one line, not a
    traceback from the first trial)."""
    import torch

    if name == "auto":
        return
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as exc:
        raise RecipeError(f"train.device: {short(name)} is not a device: {clip(str(exc))}", "use auto, cpu, cuda or cuda:N") from None
    available = {"cpu": 1, "cuda": torch.cuda.device_count() if torch.cuda.is_available() else 0,
                 "mps": int(torch.backends.mps.is_available())}.get(device.type, 0)
    if available == 0:
        raise RecipeError(f"train.device: this machine has no {device.type} device", "use auto (a GPU when there is one) or cpu")
    if device.index is not None and device.index >= available:
        raise RecipeError(f"train.device: {name} does not exist; this machine has {available} {device.type} device(s)",
                          f"use {device.type}:0 to {device.type}:{available - 1}, or auto")


def make_strategies(chosen: Sequence[tuple[str, dict[str, Any]]]) -> list[Strategy]:
    """Instantiate strategies from (name, constructor params) pairs, in recipe order."""
    out = []
    for name, params in chosen:
        cls = plugins.load("strategy", name)
        try:
            out.append(call_with_params(cls, params, f"strategy '{name}'"))
        except (ValueError, TypeError) as exc:
            raise RecipeError(f"strategy '{name}': {exc}", "check its params (`sttune plugins show`)") from None
    return out
