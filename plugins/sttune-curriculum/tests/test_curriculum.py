"""sttune's plugin contract for `curriculum`, plus its schedule."""

import pytest

from sttune.testing import StrategyContract
from sttune_curriculum import Curriculum, visit_fraction


class TestCurriculum(StrategyContract):
    strategy_class = Curriculum
    fixed_params = {"start_fraction": 0.3, "full_at": 1.0}  # 2 epochs: the second one prunes


def test_schedule_rises_linearly_to_one():
    fractions = [visit_fraction(e, 10, 0.4, 0.5) for e in range(10)]
    assert fractions[0] == pytest.approx(0.4)
    assert fractions[1] == pytest.approx(0.52)
    assert fractions[5:] == [1.0] * 5
    assert fractions == sorted(fractions)


@pytest.mark.parametrize("bad", [0.0, 1.5, -1, "half", True])
def test_bad_params_are_value_errors(bad):
    with pytest.raises(ValueError, match="curriculum"):
        Curriculum(start_fraction=bad)
