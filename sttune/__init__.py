"""sttune: a plugin-based AutoML tuner for data-efficient spatio-temporal training.

The Python API (docs/python-api.md) is reached from here; every name loads lazily, so
``import sttune`` stays cheap (no torch, no optuna) until one is used. The plugin API lives
in :mod:`sttune.api`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name → the module that defines it; ``train`` and ``search`` are packages too, made
# callable (sttune/_callable.py), so the name resolves to the package, which runs the function
_PACKAGES = ("train", "search")
_LAZY = {
    "load_recipe": "sttune.python_api",
    "train": "sttune.train",
    "search": "sttune.search",
    "export": "sttune.python_api",
    "load_best": "sttune.python_api",
    "load_model": "sttune.python_api",
    "BestConfig": "sttune.python_api",
    "SavedModel": "sttune.saved",
    "StrategyLoop": "sttune.adapter",
}

__all__ = [  # the same names as _LAZY (a literal, so linters read it)
    "__version__", "load_recipe", "train", "search", "export", "load_best", "load_model", "BestConfig",
    "SavedModel", "StrategyLoop",
]

if TYPE_CHECKING:
    from sttune.adapter import StrategyLoop
    from sttune.python_api import BestConfig, export, load_best, load_model, load_recipe
    from sttune.saved import SavedModel


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sttune' has no attribute '{name}'")
    imported = importlib.import_module(module)
    value = imported if name in _PACKAGES else getattr(imported, name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
