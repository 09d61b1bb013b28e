"""Contract checks for dataset plugins (entry-point group ``sttune.datasets``).

A dataset plugin is a callable taking keyword params and returning an
:class:`~sttune.api.STSeries`; bad input must raise :class:`~sttune.errors.DataError` so the
user gets one line instead of a traceback.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sttune.api import STSeries
from sttune.errors import DataError
from sttune.testing.core import Check, CheckSkipped, ContractFailure, one_line, require
from sttune.testing.strategy import json_params

MISSING_FILE = "/nonexistent/sttune-contract/no-such-file.csv"


@dataclass
class DatasetSubject:
    """A dataset callable, params that load a (small) series, and params that must fail."""

    loader: Callable[..., Any]
    params: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    bad_params: list[dict[str, Any]] = field(default_factory=list)

    @functools.cached_property
    def series(self) -> Any:
        try:
            return self.loader(**self.params)
        except TypeError as exc:
            required = [p.name for p in inspect.signature(self.loader).parameters.values()
                        if p.default is p.empty and p.name not in self.params]
            hint = f" (give {', '.join(required)} with --params)" if required else ""
            raise ContractFailure(f"loading with {self.params} failed: {exc}{hint}") from None


def check_loads(s: DatasetSubject) -> str:
    series = s.series
    require(isinstance(series, STSeries), f"returned {type(series).__name__}, not STSeries")
    return f"{series.n_steps} steps × {series.n_nodes} nodes"


def _loaded(s: DatasetSubject) -> STSeries:
    try:
        series = s.series
    except Exception:
        raise CheckSkipped("not reached: loading failed (see `loads`)") from None
    if not isinstance(series, STSeries):
        raise CheckSkipped("not reached: the loader returned no STSeries")
    return series


def check_values(s: DatasetSubject) -> str:
    values = _loaded(s).values
    require(isinstance(values, np.ndarray), f"values is {type(values).__name__}, not a numpy array")
    require(values.dtype == np.float32, f"values dtype is {values.dtype}, not float32")
    require(values.ndim == 3, f"values shape {values.shape} is not [T, N, C]")
    require(min(values.shape) >= 1, f"values shape {values.shape} has an empty axis")
    require(bool(np.isfinite(values).all()), "values hold NaN or inf: store missing readings as 0")
    return f"float32 {list(values.shape)}"


def check_adjacency(s: DatasetSubject) -> str:
    series = _loaded(s)
    adj, n = series.adjacency, series.values.shape[1] if series.values.ndim == 3 else -1
    require(isinstance(adj, np.ndarray), f"adjacency is {type(adj).__name__}, not a numpy array")
    require(adj.shape == (n, n), f"adjacency shape {adj.shape}, expected [N, N] = ({n}, {n})")
    require(adj.dtype == np.float32, f"adjacency dtype is {adj.dtype}, not float32")
    require(bool(np.isfinite(adj).all()), "adjacency holds NaN or inf")
    return f"[{n}, {n}], {int((adj != 0).sum())} edges"


def check_timing(s: DatasetSubject) -> str:
    series = _loaded(s)
    spd = series.steps_per_day
    require(isinstance(spd, (int, np.integer)) and spd >= 1, f"steps_per_day is {spd!r}, not an integer >= 1")
    require(0 <= series.start_step_of_day < spd, f"start_step_of_day {series.start_step_of_day} not in [0, {spd})")
    require(0 <= series.start_day_of_week <= 6, f"start_day_of_week {series.start_day_of_week} not in 0..6")
    return f"steps_per_day {spd}"


def check_windows(s: DatasetSubject) -> str:
    from sttune.data.protocol import build_data
    from sttune.recipe.settings import Protocol

    for prerequisite in (check_values, check_adjacency, check_timing):
        try:
            prerequisite(s)
        except ContractFailure:
            raise CheckSkipped(f"not reached: fix `{prerequisite.__name__[6:]}` first") from None
    data = build_data(_loaded(s), Protocol(in_len=min(12, max(1, _loaded(s).n_steps // 8)), out_len=1))
    return f"{len(data.train)} training windows under the standard protocol"


def check_json_params(s: DatasetSubject) -> str:
    return json_params(s.loader, s.params, skip=0)


def check_bad_params(s: DatasetSubject) -> str:
    tried = [*s.bad_params, *_guessed_bad_params(s)]
    if not tried:
        raise CheckSkipped("no bad params to try (declare bad_params)")
    for params in tried:
        try:
            s.loader(**params)
        except DataError:
            continue
        except Exception as exc:
            raise ContractFailure(f"{params} raised {one_line(exc)}, not sttune.errors.DataError") from None
        require(params not in s.bad_params, f"{params} loaded without raising DataError")
    return f"{len(tried)} bad inputs give DataError or load"


def _guessed_bad_params(s: DatasetSubject) -> list[dict[str, Any]]:
    """Mutations that must load or raise DataError: a missing file, a negative count."""
    out = []
    for p in inspect.signature(s.loader).parameters.values():
        if "path" in p.name or p.name in ("file", "filename"):
            out.append({**s.params, p.name: MISSING_FILE})
        elif type(p.default) is int and p.name not in s.params:
            out.append({**s.params, p.name: -1})
    return out


DATASET_CHECKS: dict[str, Check] = {
    "loads": check_loads,
    "values": check_values,
    "adjacency": check_adjacency,
    "timing": check_timing,
    "windows": check_windows,
    "json_params": check_json_params,
    "bad_params": check_bad_params,
}
