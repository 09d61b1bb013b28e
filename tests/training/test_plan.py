"""Planned work per epoch: how the strategies' schedules become the projection's epochs ahead."""

import pytest

from sttune.api import Strategy
from sttune.errors import PluginError
from sttune.training.plan import epoch_work, epochs_ahead


class Halving(Strategy):
    """Full work in epochs 0-1, half from epoch 2 on."""

    name = "halving"

    def planned_work(self, epoch: int, n_epochs: int) -> float:
        return 1.0 if epoch < 2 else 0.5


class Broken(Strategy):
    name = "broken"

    def __init__(self, share: object) -> None:
        self.share = share

    def planned_work(self, epoch: int, n_epochs: int) -> float:
        return self.share  # type: ignore[return-value]


def test_without_a_plan_the_epochs_ahead_are_the_plain_count():
    assert [epochs_ahead([], e, 8) for e in range(8)] == [7, 6, 5, 4, 3, 2, 1, 0]
    assert epochs_ahead([Strategy()], 1, 8) == 6


def test_a_schedule_counts_the_epochs_ahead_in_units_of_the_current_epoch():
    # after epoch 1 (full work) the 6 half-work epochs left cost 3 of it; after epoch 2, 5 of it
    assert epochs_ahead([Halving()], 1, 8) == pytest.approx(3.0)
    assert epochs_ahead([Halving()], 2, 8) == pytest.approx(5.0)
    assert epochs_ahead([Halving()], 7, 8) == 0


def test_several_strategies_multiply_their_shares():
    assert epoch_work([Halving(), Halving()], 3, 8) == pytest.approx(0.25)
    assert epochs_ahead([Halving(), Halving()], 1, 4) == pytest.approx(0.5)


@pytest.mark.parametrize("share", [0, -0.5, float("nan"), float("inf"), "half", None])
def test_a_bad_plan_is_a_one_line_plugin_error(share):
    with pytest.raises(PluginError) as err:
        epochs_ahead([Broken(share)], 0, 4)
    line = err.value.one_line()
    assert "broken" in line and "planned_work" in line and "positive share" in line and "\n" not in line
