"""Multi-objective successive halving: who stops, who goes on, the baseline never."""

from __future__ import annotations

import pytest

from sttune.tuning.rungs import RungPolicy, dominates, nondominated_ranks, projected_cost, should_stop

POLICY = RungPolicy(enabled=True, first_rung=1, reduction_factor=2, min_trials=3, tolerance=(0.0, 0.0))


def test_rungs_lie_on_a_geometric_grid_below_the_budget():
    assert RungPolicy(first_rung=1, reduction_factor=2).rungs(20) == [1, 2, 4, 8, 16]
    assert RungPolicy(first_rung=2, reduction_factor=3).rungs(20) == [2, 6, 18]
    assert RungPolicy(first_rung=1, reduction_factor=3).rungs(1) == []


def test_nondominated_ranks():
    points = [(1, 5), (2, 2), (5, 1), (3, 3), (6, 6)]
    assert nondominated_ranks(points) == [0, 0, 0, 1, 2]
    assert dominates((1, 1), (1, 2)) and not dominates((1, 2), (2, 1))


def test_a_trial_dominated_by_most_others_stops():
    others = [(3.0, 10.0), (3.1, 9.0), (2.9, 11.0)]
    assert should_stop((3.5, 12.0), others, POLICY)


def test_a_trial_on_the_front_goes_on_even_when_slow():
    others = [(3.0, 10.0), (3.1, 9.0), (3.2, 8.0)]
    assert not should_stop((2.5, 30.0), others, POLICY)  # best MAE: rank 0, first by MAE
    assert not should_stop((4.0, 1.0), others, POLICY)  # cheapest: rank 0


def test_front_members_never_stop_even_beyond_the_kept_fraction():
    front = [(1.0, 4.0), (2.0, 3.0), (3.0, 2.0), (4.0, 1.0)]
    assert not should_stop((1.5, 3.5), front, POLICY)  # 5 on the front, 3 kept: still goes on


def test_dominated_trials_are_ranked_by_front_then_crowding():
    eta3 = RungPolicy(enabled=True, reduction_factor=1.5, min_trials=3, tolerance=(0.0, 0.0))
    others = [(1.0, 4.0), (4.0, 1.0), (2.0, 5.0), (5.0, 2.0)]  # two fronts of two
    # 5 points, keep ceil(5 / 1.5) = 4: a third-front trial is the one left out
    assert should_stop((6.0, 6.0), others, eta3)
    assert not should_stop((3.0, 3.0), others, eta3)  # dominated by nobody


def test_within_a_front_the_crowded_middle_goes_first():
    others = [(1.0, 1.0), (2.0, 5.0), (5.0, 2.0)]  # (3, 4) joins the second front, in its middle
    assert should_stop((3.0, 4.0), others, RungPolicy(enabled=True, reduction_factor=1.5, min_trials=3, tolerance=(0.0, 0.0)))
    assert not should_stop((3.0, 4.0), others, RungPolicy(enabled=True, reduction_factor=1.2, min_trials=3, tolerance=(0.0, 0.0)))


def test_nothing_stops_before_min_trials_reach_the_rung():
    assert not should_stop((9.0, 9.0), [(1.0, 1.0)], POLICY)
    assert should_stop((9.0, 9.0), [(1.0, 1.0), (1.5, 1.5)], POLICY)


@pytest.mark.parametrize("field,value", [("reduction_factor", 1.0), ("first_rung", 0), ("min_trials", 1)])
def test_bad_policies_are_rejected(field, value):
    from sttune.recipe.schema import SchemaError, parse_dataclass

    with pytest.raises(SchemaError, match=field):
        parse_dataclass(RungPolicy, {field: value}, "search.early_stopping")


def test_differences_within_the_tolerance_are_ties():
    policy = RungPolicy(enabled=True, reduction_factor=2, min_trials=3, tolerance=(0.005, 0.1))
    # same val MAE, 5% slower: timing noise, not a worse configuration
    others = [(3.000, 10.0), (3.001, 9.6), (3.000, 10.2)]
    assert not should_stop((3.002, 10.5), others, policy)
    # clearly worse in MAE (2%) and no faster: stopped
    assert should_stop((3.06, 10.0), others, policy)
    assert dominates((1.0, 1.0), (1.0, 1.2), (0.005, 0.1)) and not dominates((1.0, 1.0), (1.0, 1.05), (0.005, 0.1))


def test_projected_cost_extends_the_last_epoch_by_the_epochs_ahead():
    # a ramping strategy: 10 s + 6 s so far, last epoch 6 s, 6 epochs to go → 16 + 36
    assert projected_cost(16.0, 6.0, 6) == pytest.approx(52.0)
    # plain training at 10 s/epoch with 4 s of charged preparation → 4 + 80
    assert projected_cost(24.0, 10.0, 6) == pytest.approx(84.0)
    assert projected_cost(84.0, 10.0, 0) == pytest.approx(84.0)
    # a plan that halves the work of the 6 epochs left counts them as 3 of the last epoch
    assert projected_cost(16.0, 6.0, 3.0) == pytest.approx(34.0)


def test_a_cheaper_ramping_trial_is_not_stopped_for_its_early_cost():
    """Same elapsed time as the baseline, but its last epoch is cheap: it lands on the front."""
    others = [(3.50, 80.0), (3.55, 80.5), (3.60, 81.0), (3.70, 85.0)]  # plain-cost trials, projected
    ramping_elapsed = (3.65, 82.0)  # judged as if it kept its early per-epoch cost: dominated by three
    ramping_projected = (3.65, projected_cost(16.0, 6.0, 6))  # 52 s at the end
    assert should_stop(ramping_elapsed, others, POLICY)
    assert not should_stop(ramping_projected, others, POLICY)
