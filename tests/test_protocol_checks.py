"""One definition of a valid protocol (sttune.recipe.settings.Protocol.validate): a recipe's protocol
block and a Protocol built in code for build_data fail on the same rule, each as its kind."""

from __future__ import annotations

import pytest

from helpers import ring_series
from sttune.data.protocol import build_data
from sttune.errors import DataError
from sttune.recipe.schema import SchemaError
from sttune.recipe.settings import Protocol

BAD = [
    ({"in_len": 0}, "protocol.in_len: must be at least 1, got 0"),
    ({"out_len": 0}, "protocol.out_len: must be at least 1, got 0"),
    ({"split": (0.5, 0.2, 0.2)}, "protocol.split: must be three positive fractions summing to 1"),
    ({"split": (1.2, -0.1, -0.1)}, "protocol.split: must be three positive fractions summing to 1"),
    ({"target_channel": -1}, "protocol.target_channel: must be 0 or more"),
    ({"missing": "sometimes"}, "protocol.missing: unknown policy 'sometimes'"),
]


@pytest.mark.parametrize(("change", "expected"), BAD)
def test_a_bad_protocol_built_in_code_is_a_data_error_with_the_recipe_message(change, expected):
    with pytest.raises(DataError) as caught:
        build_data(ring_series(200), Protocol(**change))
    assert caught.value.message.startswith(expected), caught.value.message
    with pytest.raises(SchemaError) as schema:
        Protocol(**change).validate()
    assert schema.value.message.startswith(expected) and schema.value.hint == caught.value.hint


def test_the_series_dependent_checks_stay_with_the_data():
    with pytest.raises(DataError, match="target_channel 1 is out of range for 1 channel"):
        build_data(ring_series(200), Protocol(target_channel=1))
    with pytest.raises(DataError, match="too few"):
        build_data(ring_series(36), Protocol(24, 12))
    assert build_data(ring_series(200), Protocol()).spec.n_nodes == 6
