"""sttune.outcome.select: the Pareto front and the three selection rules, on hand-built records."""

from __future__ import annotations

import math

import pytest

from helpers import trial_record as rec
from sttune.outcome.select import RULES, SelectionError, fastest_within, knee, pareto_front, select


def numbers(records):
    return [r.number for r in records]


def test_pareto_front_keeps_the_non_dominated_trials_cheapest_first():
    trials = [rec(0, 100, 2.0), rec(1, 10, 4.0), rec(2, 50, 3.0), rec(3, 60, 3.5), rec(4, 5, 5.0), rec(5, 120, 2.5)]
    # 3 (60 s, 3.5) is dominated by 2 (50 s, 3.0); 5 (120 s, 2.5) by 0 (100 s, 2.0)
    assert numbers(pareto_front(trials)) == [4, 1, 2, 0]


def test_pareto_front_ties_keep_one_trial():
    # same cost: only the lower MAE; same cost and MAE: only the first in cost order
    assert numbers(pareto_front([rec(0, 10, 3.0), rec(1, 10, 2.0)])) == [1]
    assert len(pareto_front([rec(0, 10, 3.0), rec(1, 10, 3.0)])) == 1
    # same MAE, higher cost: dominated
    assert numbers(pareto_front([rec(0, 20, 3.0), rec(1, 10, 3.0)])) == [1]


def test_pareto_front_of_nothing_is_empty():
    assert pareto_front([]) == []


def test_fastest_within_is_the_cheapest_trial_inside_the_tolerance():
    trials = [rec(0, 100, 2.00), rec(1, 40, 2.10), rec(2, 30, 2.21), rec(3, 10, 3.0)]
    assert fastest_within(trials, 0.0).number == 0
    assert fastest_within(trials, 0.05).number == 1  # 2.10 = 1.05 × 2.00 (inclusive)
    assert fastest_within(trials, 0.11).number == 2  # 2.21 ≤ 2.22
    assert fastest_within(trials, 1.0).number == 3


def test_fastest_within_breaks_cost_ties_by_mae():
    assert fastest_within([rec(0, 10, 2.05), rec(1, 10, 2.01), rec(2, 50, 2.0)], 0.05).number == 1


def test_knee_is_the_front_member_nearest_the_ideal_point():
    # front (cost, MAE): 0 (10, 4.0), 1 (20, 2.5), 2 (60, 2.2), 3 (100, 2.0); 4 (15, 5.0) is dominated.
    # scaled to [0, 1] (cost span 90, MAE span 2):
    #   0: (0, 1) -> 1.0;  1: (0.111, 0.25) -> 0.274;  2: (0.556, 0.10) -> 0.565;  3: (1, 0) -> 1.0
    trials = [rec(0, 10, 4.0), rec(1, 20, 2.5), rec(2, 60, 2.2), rec(3, 100, 2.0), rec(4, 15, 5.0)]
    assert knee(trials).number == 1


def test_knee_distance_is_euclidean():
    # scaled (cost span 100, MAE span 2): 0 (0, 1); 1 (0.05, 0.7); 2 (0.4, 0.4); 3 (1, 0).
    # Euclidean: 1 -> 0.702, 2 -> 0.566 (the knee); city-block would pick 1 (0.75 < 0.8).
    trials = [rec(0, 10, 5.0), rec(1, 15, 4.4), rec(2, 50, 3.8), rec(3, 110, 3.0)]
    assert knee(trials).number == 2


def test_knee_ignores_dominated_trials_when_scaling():
    # a dominated trial with a huge MAE would shrink trial 0's scaled MAE if it counted
    # front: 0 (10, 4.0), 1 (50, 3.0), 2 (100, 2.0): scaled 0 (0, 1), 1 (0.444, 0.5) -> 0.67, 2 (1, 0)
    trials = [rec(0, 10, 4.0), rec(1, 50, 3.0), rec(2, 100, 2.0), rec(3, 200, 100.0)]
    assert knee(trials).number == 1


def test_knee_of_one_trial_is_that_trial():
    assert knee([rec(7, 10, 3.0)]).number == 7
    assert knee([rec(7, 10, 3.0), rec(8, 20, 3.0)]).number == 7


def test_min_mae_takes_the_lowest_val_mae_and_the_cheaper_of_a_tie():
    assert select([rec(0, 100, 2.0), rec(1, 10, 3.0)], "min-mae").number == 0
    assert select([rec(0, 100, 2.0), rec(1, 10, 2.0)], "min-mae").number == 1


def test_every_rule_selects_on_val_mae_not_test_mae():
    # test MAE ranks the trials the other way round (trial_record's default: 100 - val)
    trials = [rec(0, 100, 2.0), rec(1, 50, 2.01), rec(2, 10, 3.0)]
    assert trials[2].test_mae < trials[1].test_mae < trials[0].test_mae
    assert select(trials, "min-mae").number == 0
    assert select(trials, "fastest-within", 0.01).number == 1
    assert numbers(pareto_front(trials)) == [2, 1, 0]


def test_select_skips_unfinished_infeasible_and_nan_trials():
    trials = [rec(0, 100, 3.0), rec(1, 10, 1.0, state="PRUNED"), rec(2, 10, 1.5, feasible=False),
              rec(3, 10, math.nan), rec(4, 10, 1.2, state="FAIL")]
    for rule in RULES:
        assert select(trials, rule).number == 0


def test_select_errors_are_one_line_selection_errors():
    with pytest.raises(SelectionError, match="no trial has finished yet"):
        select([], "min-mae")
    with pytest.raises(SelectionError, match="no trial has finished yet"):
        select([rec(0, 1, 1.0, state="PRUNED"), rec(1, 1, math.nan)], "min-mae")
    with pytest.raises(SelectionError, match="constraints") as info:
        select([rec(0, 1, 1.0, feasible=False)], "min-mae")
    assert "max_mae_increase" in str(info.value.hint)
    with pytest.raises(SelectionError, match="unknown selection rule 'fastest'"):
        select([rec(0, 1, 1.0)], "fastest")
