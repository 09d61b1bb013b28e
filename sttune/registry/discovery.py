"""Plugin discovery through entry points, built-ins included (one code path).

Discovery reads entry-point metadata only; a plugin module is imported when a recipe or a
command names it, so one broken plugin never breaks recipes that do not use it. A name that
two installed distributions register in one group is an error when it is looked up (neither
wins silently); their other names are unaffected.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from importlib import metadata
from typing import Any

from sttune.errors import PluginError

GROUPS = {"strategy": "sttune.strategies", "model": "sttune.models", "dataset": "sttune.datasets"}


@dataclass(frozen=True)
class PluginInfo:
    """An installed plugin as its distribution declares it (nothing imported yet)."""

    name: str
    kind: str
    target: str  # "module:attribute"
    distribution: str
    version: str
    # other distributions registering the same name in the same group: the name is ambiguous
    also_in: tuple[str, ...] = ()
    summary: str = ""  # the distribution's one-line summary (its metadata; nothing imported)

    @property
    def origin(self) -> str:
        return f"{self.distribution} {self.version}"


def _entry_point_info(kind: str, ep: metadata.EntryPoint) -> PluginInfo:
    dist = getattr(ep, "dist", None)
    name = dist.metadata["Name"] if dist is not None else "unknown distribution"
    version = dist.version if dist is not None else "?"
    summary = (dist.metadata.get("Summary") or "") if dist is not None else ""
    return PluginInfo(ep.name, kind, ep.value, name, version, summary=summary)


@functools.cache
def discover(kind: str) -> dict[str, PluginInfo]:
    """Installed plugins of one kind, by name (cached for the process)."""
    if kind not in GROUPS:
        raise PluginError(f"unknown plugin kind '{kind}'", f"use one of {', '.join(GROUPS)}")
    found: dict[str, PluginInfo] = {}
    for ep in metadata.entry_points(group=GROUPS[kind]):
        plugin = _entry_point_info(kind, ep)
        first = found.setdefault(ep.name, plugin)
        if plugin.distribution not in (first.distribution, *first.also_in):
            found[ep.name] = replace(first, also_in=(*first.also_in, plugin.distribution))
    return found


def info(kind: str, name: str) -> PluginInfo:
    """The plugin's metadata, or a PluginError listing the installed names."""
    installed = discover(kind)
    if name not in installed:
        listed = ", ".join(sorted(installed)) or "none"
        raise PluginError(
            f"unknown {kind} '{name}'",
            f"installed {kind} plugins: {listed} (see `sttune plugins list`)",
        )
    plugin = installed[name]
    if plugin.also_in:
        dists = [plugin.distribution, *plugin.also_in]
        raise PluginError(
            f"{kind} '{name}' is registered by {len(dists)} installed distributions: {' and '.join(dists)}",
            "uninstall all but one of them (or rename the entry point in one)",
        )
    return plugin


@functools.cache
def load(kind: str, name: str) -> Any:
    """Import a plugin and check its interface; errors name the plugin and its package."""
    plugin = info(kind, name)
    module, _, attribute = plugin.target.partition(":")
    try:
        obj = metadata.EntryPoint(name, plugin.target, GROUPS[kind]).load()
    except Exception as exc:  # a broken third-party import must not become a traceback
        raise PluginError(
            f"{kind} plugin '{name}' ({plugin.origin}) failed to import {module}: "
            f"{type(exc).__name__}: {exc}",
            f"fix or reinstall {plugin.distribution}; recipes that do not name it are unaffected",
        ) from exc
    _check_interface(kind, obj, plugin)
    return obj


def _check_interface(kind: str, obj: Any, plugin: PluginInfo) -> None:
    import sttune.api as api

    where = f"{kind} plugin '{plugin.name}' ({plugin.origin})"
    if kind == "strategy" and not (isinstance(obj, type) and issubclass(obj, api.Strategy)):
        raise PluginError(f"{where} is not a subclass of sttune.api.Strategy", "ask its authors to update it")
    if kind == "model" and not (isinstance(obj, type) and issubclass(obj, api.STModel)):
        raise PluginError(f"{where} is not a subclass of sttune.api.STModel", "ask its authors to update it")
    if kind == "dataset" and not callable(obj):
        raise PluginError(f"{where} is not callable", "a dataset plugin is a function returning STSeries")
    declared = str(getattr(obj, "api_version", api.API_VERSION))
    major, ours = declared.split(".")[0], api.API_VERSION.split(".")[0]
    if major != ours:
        newer = major.isdigit() and int(major) > int(ours)  # the plugin is ahead of this sttune
        raise PluginError(
            f"{where} targets plugin API {declared}, but this sttune provides {api.API_VERSION}",
            f"upgrade sttune to a release providing plugin API {major}.x, or install a {plugin.distribution} "
            f"release built for plugin API {ours}.x" if newer else
            f"upgrade {plugin.distribution} to a release built for plugin API {ours}.x",
        )
    if kind == "strategy" and getattr(obj, "name", "") != plugin.name:
        raise PluginError(
            f"{where} declares name '{getattr(obj, 'name', '')}' but is registered as '{plugin.name}'",
            "make the class attribute `name` match the entry-point name",
        )
    if kind in ("strategy", "model"):  # a hook sttune cannot call would raise a TypeError mid-run
        from sttune.registry.hooks import model_problems, strategy_problems

        wrong = [p for p in (strategy_problems if kind == "strategy" else model_problems)(obj) if not p.misnamed]
        if wrong:
            raise PluginError(f"{where}: {'; '.join(p.message for p in wrong)}", "ask its authors to fix it")
