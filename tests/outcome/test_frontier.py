"""The no-strategy frontier is built from baseline trials only and flags real gains."""

from __future__ import annotations

import pytest

from helpers import trial_record
from sttune.outcome.frontier import build_frontier, strategy_margins
from sttune.outcome.select import fastest_within, knee, pareto_front, select

LADDER = [trial_record(0, 100, 3.00, role="baseline"), trial_record(1, 50, 3.05, role="baseline", fraction=0.5),
          trial_record(2, 25, 3.30, role="baseline", fraction=0.25)]


def test_frontier_uses_baseline_trials_alone():
    strong_strategy = trial_record(3, 10, 2.0)
    frontier = build_frontier(LADDER + [strong_strategy])
    assert frontier.points == ((25, 3.30), (50, 3.05), (100, 3.00))


def test_frontier_is_the_plain_mae_interpolated_between_budgets():
    frontier = build_frontier(LADDER)
    assert frontier.mae_at(24) == float("inf")
    assert frontier.mae_at(25) == 3.30 and frontier.mae_at(50) == 3.05 and frontier.mae_at(1e9) == 3.00
    # a fifth of the way from 25 s to 50 s buys a fifth of the step's gain, not none of it
    assert frontier.mae_at(30) == pytest.approx(3.25) and frontier.mae_at(60) == pytest.approx(3.04)


def test_a_slower_worse_baseline_does_not_raise_the_frontier():
    frontier = build_frontier(LADDER + [trial_record(4, 75, 3.10, role="baseline", fraction=0.75)])
    assert frontier.mae_at(80) == pytest.approx(3.05 - 0.05 * 30 / 50)


def test_trials_below_the_frontier_are_flagged_as_gains():
    frontier = build_frontier(LADDER)
    below, above = trial_record(5, 60, 3.00), trial_record(6, 60, 3.20)
    assert frontier.margin(below) == pytest.approx(3.04 / 3.00 - 1) and frontier.verdict(below) == "below (gain)"
    assert frontier.margin(above) < 0 and frontier.verdict(above) == "above (no gain)"
    assert frontier.margin(trial_record(7, 10, 3.5)) is None


def test_strategy_margins_keep_each_strategys_best_trial():
    trials = LADDER + [trial_record(5, 60, 3.00), trial_record(6, 60, 3.20), trial_record(7, 30, 3.40, strategy="dynst")]
    margins = strategy_margins(trials, build_frontier(trials))
    assert margins["st_prune"]["trial"] == 5 and margins["st_prune"]["margin"] > 0
    assert margins["dynst"]["margin"] < 0


def test_pareto_front_and_selection_rules():
    trials = LADDER + [trial_record(5, 60, 2.98), trial_record(6, 20, 3.6)]
    assert [r.number for r in pareto_front(trials)] == [6, 2, 1, 5]
    assert fastest_within(trials, 0.03).number == 1  # 3.05 ≤ 1.03 × 2.98, and cheaper than 5
    assert fastest_within(trials, 0.01).number == 5  # 3.00 and 3.05 exceed 1.01 × 2.98
    assert fastest_within(trials, 0.0).number == 5
    assert select(trials, "min-mae").number == 5
    # front (cost, val MAE): 6 (20, 3.6), 2 (25, 3.30), 1 (50, 3.05), 5 (60, 2.98); spans 40 s and 0.62.
    # scaled distance to (0, 0): 6 -> (0, 1) = 1; 2 -> (0.125, 0.516) = 0.531;
    # 1 -> (0.75, 0.113) = 0.759; 5 -> (1, 0) = 1. The knee is trial 2.
    assert knee(trials).number == 2


def test_selection_skips_infeasible_and_unfinished_trials():
    trials = LADDER + [trial_record(5, 10, 2.5, feasible=False), trial_record(6, 5, 2.0, state="PRUNED")]
    assert select(trials, "min-mae").number == 0


def test_frontier_and_selection_read_val_mae_not_test_mae():
    # trial_record() gives test MAE = 100 - val MAE: the order by test MAE is the reverse of that by val
    trials = LADDER + [trial_record(5, 60, 2.98), trial_record(6, 20, 3.6)]
    assert min(trials, key=lambda r: r.test_mae).number == 6
    assert build_frontier(trials).points == ((25, 3.30), (50, 3.05), (100, 3.00))
    assert build_frontier(trials).margin(trials[3]) == pytest.approx(3.04 / 2.98 - 1)  # 3.04: interpolated at 60 s
    assert select(trials, "min-mae").number == 5
    assert select(trials, "fastest-within", 0.03).number == 1
    assert [r.number for r in pareto_front(trials)] == [6, 2, 1, 5]
