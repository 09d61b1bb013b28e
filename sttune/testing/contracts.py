"""The contract suites a plugin's own tests subclass, and :func:`run_contract` for the CLI.

In a plugin package's ``tests/test_contract.py``::

    from sttune.testing import StrategyContract
    from my_pkg.strategy import MyStrategy

    class TestMyStrategy(StrategyContract):
        strategy_class = MyStrategy
        fixed_params = {"ratio": 0.5}   # optional: constructor params for the runs

pytest then collects one test per check (``test_space_prefix``, ``test_trains``, ...).
The same checks run without pytest through :func:`run_contract` (``sttune plugins check``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from sttune.testing.core import Check, CheckResult, run_check, run_checks
from sttune.testing.dataset import DATASET_CHECKS, DatasetSubject
from sttune.testing.model import MODEL_CHECKS, ModelSubject
from sttune.testing.strategy import SMALL_MODEL, STRATEGY_CHECKS, StrategySubject

_SUBJECTS: dict[type, Any] = {}  # one subject (and its cached runs) per test class


def _test_method(name: str) -> Callable[[Any], None]:
    def test(self: _Contract) -> None:
        self._check(name)

    test.__name__ = f"test_{name}"
    test.__doc__ = f"contract check '{name}'"
    return test


class _Contract:
    """Shared machinery: build the subject once per test class, run one check per test."""

    checks: ClassVar[dict[str, Check]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """One pytest test per check of the suite, named ``test_<check>``."""
        super().__init_subclass__(**kwargs)
        for name in cls.__dict__.get("checks", {}):
            setattr(cls, f"test_{name}", _test_method(name))

    def subject(self) -> Any:
        raise NotImplementedError

    def _check(self, name: str) -> None:
        import pytest

        key = type(self)
        if key not in _SUBJECTS:
            _SUBJECTS[key] = self.subject()
        result = run_check(name, self.checks[name], _SUBJECTS[key])
        if result.status == "fail":
            pytest.fail(f"contract check '{name}' failed: {result.detail}", pytrace=False)
        if result.status == "skip":
            pytest.skip(result.detail)


class StrategyContract(_Contract):
    """Contract tests for a :class:`~sttune.api.Strategy`; set ``strategy_class``."""

    strategy_class: ClassVar[type]
    fixed_params: ClassVar[dict[str, Any]] = {}  # constructor params for the training runs
    model: ClassVar[tuple[str, dict[str, Any]]] = SMALL_MODEL  # installed model (name, params) to train
    checks = STRATEGY_CHECKS

    def subject(self) -> StrategySubject:
        return StrategySubject(self.strategy_class, dict(self.fixed_params), model=self.model)


class ModelContract(_Contract):
    """Contract tests for an :class:`~sttune.api.STModel`; set ``model_class`` (and ``name``)."""

    model_class: ClassVar[type]
    model_params: ClassVar[dict[str, Any]] = {}
    name: ClassVar[str] = ""  # the entry-point name (space() prefix); default model_class.name
    checks = MODEL_CHECKS

    def subject(self) -> ModelSubject:
        return ModelSubject(self.model_class, dict(self.model_params), self.name)


class DatasetContract(_Contract):
    """Contract tests for a dataset callable; set ``loader`` (a staticmethod) and ``params``."""

    loader: ClassVar[Callable[..., Any]]
    params: ClassVar[dict[str, Any]] = {}  # params that load a small series
    bad_params: ClassVar[list[dict[str, Any]]] = []  # params that must raise DataError
    checks = DATASET_CHECKS

    def subject(self) -> DatasetSubject:
        return DatasetSubject(type(self).loader, dict(self.params), "", list(self.bad_params))


def check_plugin(kind: str, obj: Any, params: dict[str, Any] | None = None, name: str = "") -> list[CheckResult]:
    """Every contract check of one plugin object (class or callable), without pytest."""
    params = dict(params or {})
    if kind == "strategy":
        return run_checks(STRATEGY_CHECKS, StrategySubject(obj, params, name))
    if kind == "model":
        return run_checks(MODEL_CHECKS, ModelSubject(obj, params, name))
    if kind == "dataset":
        return run_checks(DATASET_CHECKS, DatasetSubject(obj, params, name))
    raise ValueError(f"unknown plugin kind {kind!r}")


def run_contract(kind: str, name: str, params: dict[str, Any] | None = None) -> list[CheckResult]:
    """Load the installed plugin ``name`` of ``kind`` and run its contract.

    An unknown name raises :class:`~sttune.errors.PluginError` (a user error); a plugin that
    fails to import or is refused (wrong type, other API major version) fails the first
    check, ``import``, and the rest are not run.
    """
    from sttune.errors import PluginError
    from sttune.registry import discovery as plugins

    info = plugins.info(kind, name)
    try:
        obj = plugins.load(kind, name)
    except PluginError as exc:
        return [CheckResult("import", "fail", exc.one_line())]
    loaded = CheckResult("import", "pass", f"{info.origin}, plugin API {getattr(obj, 'api_version', None) or 'not declared'}")
    return [loaded, *check_plugin(kind, obj, params, name)]
