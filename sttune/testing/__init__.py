"""Contract tests for sttune plugins: subclass them in your plugin's tests.

``StrategyContract``, ``ModelContract`` and ``DatasetContract`` are pytest test classes
(set the class attributes they document); :func:`run_contract` runs the same checks without
pytest and is what ``sttune plugins check NAME`` prints. See docs/writing-a-plugin.md.
"""

from sttune.testing.contracts import DatasetContract, ModelContract, StrategyContract, check_plugin, run_contract
from sttune.testing.core import CheckResult, CheckSkipped, ContractFailure

__all__ = [
    "CheckResult",
    "CheckSkipped",
    "ContractFailure",
    "DatasetContract",
    "ModelContract",
    "StrategyContract",
    "check_plugin",
    "run_contract",
]
