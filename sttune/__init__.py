"""sttune: a plugin-based AutoML tuner for data-efficient spatio-temporal training.

The Python API (docs/python-api.md) is reached from here: ``sttune.search``,
``sttune.preview_search``, ``sttune.train``, ``sttune.export``, ``sttune.report``,
``sttune.load_best``, ``sttune.load_model`` and the types they return. Every name loads lazily, so ``import sttune`` stays cheap (no torch, no optuna)
until one is used. The plugin API lives in :mod:`sttune.api`.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("sttune")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0.0.0+unknown"

# public name → the module that defines it
_LAZY = {
    "load_recipe": "sttune.python_api",
    "train": "sttune.python_api",
    "search": "sttune.python_api",
    "preview_search": "sttune.python_api",
    "SearchPreview": "sttune.tuning.forecast",
    "export": "sttune.python_api",
    "report": "sttune.python_api",
    "load_best": "sttune.python_api",
    "load_model": "sttune.python_api",
    "BestConfig": "sttune.python_api",
    "SavedModel": "sttune.interop.saved",
    "StrategyLoop": "sttune.interop.strategy_loop",
    "StrategyCallback": "sttune.interop.lightning",
}

__all__ = [  # the same names as _LAZY (a literal, so linters read it)
    "__version__", "load_recipe", "train", "search", "preview_search", "SearchPreview", "export", "report", "load_best", "load_model", "BestConfig",
    "SavedModel", "StrategyLoop", "StrategyCallback",
]

if TYPE_CHECKING:
    from sttune.interop.lightning import StrategyCallback
    from sttune.interop.saved import SavedModel
    from sttune.interop.strategy_loop import StrategyLoop
    from sttune.python_api import (
        BestConfig,
        export,
        load_best,
        load_model,
        load_recipe,
        preview_search,
        report,
        search,
        train,
    )
    from sttune.tuning.forecast import SearchPreview


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sttune' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
