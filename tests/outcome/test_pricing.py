"""Load-free costs: the front and the rules compare trials on their work priced at the study's
unit cost, so a trial timed on a quiet machine cannot win on the clock (sttune.outcome.pricing)."""

from __future__ import annotations

import pytest

from helpers import trial_record
from sttune.outcome.pricing import comparison_noise, price, unit_costs
from sttune.outcome.select import NOISE_FLOOR, pareto_front, select
from sttune.training.work import WorkSummary


def worked(number, seconds, mae, units, role="search", fraction=1.0):
    return trial_record(number, seconds, mae, role=role, fraction=fraction, work=WorkSummary(units=units))


BASE = worked(0, 100.0, 3.00, 1000, role="baseline")
HALF = worked(1, 52.0, 3.10, 500, role="baseline", fraction=0.5)  # 0.104 s a unit: a busier moment


def test_the_unit_cost_is_the_median_of_the_plain_trials_rates():
    third = worked(2, 30.0, 3.3, 250, role="baseline", fraction=0.25)  # 0.12 s a unit
    assert unit_costs([BASE, HALF, third, worked(3, 10.0, 3.0, 900)]) == {"stid": pytest.approx(0.104)}
    priced = price([BASE, HALF, third])
    assert [r.priced_seconds for r in priced] == pytest.approx([104.0, 52.0, 26.0])
    assert [r.cost_seconds for r in priced] == [100.0, 52.0, 30.0]  # the timed cost stays beside it


def test_a_trial_timed_on_a_quiet_machine_does_not_win_on_the_clock():
    lucky = worked(5, 45.0, 3.01, 900)  # 90% of the work, timed when the machine was quiet
    honest = worked(6, 55.0, 3.01, 500)  # half the work, timed under load
    timed = select([BASE, HALF, lucky, honest], "fastest-within", 0.01, noise=0.0)
    assert timed.number == 5  # by the clock, the lucky trial
    records = price([BASE, HALF, lucky, honest])
    assert select(records, "fastest-within", 0.01, comparison_noise(records)).number == 6
    assert [r.number for r in pareto_front(records)] == [6, 0]


def test_a_study_with_a_trial_stored_before_work_is_compared_on_time():
    old = trial_record(7, 40.0, 3.0)  # no work recorded
    records = price([BASE, HALF, old])
    assert all(r.priced_seconds is None for r in records)
    assert [r.compared_seconds for r in records] == [100.0, 52.0, 40.0]
    assert comparison_noise(records) >= NOISE_FLOOR


def test_priced_costs_tie_only_within_the_noise_floor():
    records = price([BASE, HALF])
    assert comparison_noise(records) == NOISE_FLOOR
