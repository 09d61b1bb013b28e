"""``sttune.train`` and ``sttune.search`` are both API functions and internal packages.

The Python API names them after the CLI commands (``sttune.train(recipe)``), but
``sttune/train/`` and ``sttune/search/`` are packages, and importing any of their modules
sets the package as the attribute ``sttune.train``. So each of those packages makes itself
callable: calling it runs the function of the same name in :mod:`sttune.python_api`, and
``sttune.train.trainer`` still names the module. Nothing heavy is imported until the call.
"""

from __future__ import annotations

import inspect
import sys
import types
from typing import Any


class CallablePackage(types.ModuleType):
    """A package whose call is :mod:`sttune.python_api`'s function of the same name."""

    def _function(self) -> Any:
        from sttune import python_api

        return getattr(python_api, self.__name__.rpartition(".")[2])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._function()(*args, **kwargs)

    @property
    def __signature__(self) -> inspect.Signature:  # inspect.signature(sttune.train) shows the function's
        return inspect.signature(self._function())


def make_callable(name: str) -> None:
    """Make the package ``name`` (being imported: its ``__init__`` calls this) callable."""
    sys.modules[name].__class__ = CallablePackage
