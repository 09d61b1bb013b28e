"""The search at two baselines (issue 34): the ladder read off the full baseline, --quick, the
candidates skipped before they train, and the tolerance the sampler sees."""

from __future__ import annotations

import json

import optuna
import pytest

from cli_kit import invoke, study_of, toy_plugins, write_recipe  # noqa: F401  (toy_plugins: autouse)
from helpers import train_result
from sttune.training.result import EpochRecord, prefix_result
from sttune.tuning import keys, predict
from sttune.tuning.records import read_trial


def test_a_prefix_is_the_best_of_its_first_epochs_and_their_cost():
    result = train_result(1.0, 40.0, epochs_run=4)
    result.curve = [EpochRecord(e, 0.0, mae, 10.0 * (e + 1), 5, window_nodes=50) for e, mae in enumerate([4.0, 2.5, 3.0, 1.0])]
    rung = prefix_result(result, 3, "trial 0's first 3 epochs")
    assert (rung.val_mae, rung.best_epoch, rung.device_seconds, rung.epochs_run) == (2.5, 1, 30.0, 3)
    assert rung.test_mae != rung.test_mae  # NaN: never measured, not guessed
    with pytest.raises(ValueError):
        prefix_result(result, 5, "too long")


def test_the_derived_ladder_costs_the_search_nothing_and_reads_the_baseline_curve(tmp_path):
    recipe = write_recipe(tmp_path, search={"trials": 3, "seed": 0, "baseline_ladder": [0.5], "ladder": "derived"},
                          train={"epochs": 4, "batch_size": 32, "device": "cpu", "seed": 0})
    result = invoke("search", str(recipe), "--no-export")
    assert result.exit_code == 0, result.output
    trials = study_of(tmp_path).trials
    base, rung = trials[0], next(t for t in trials if keys.DERIVED in t.user_attrs)
    assert rung.user_attrs[keys.FRACTION] == 0.5 and rung.user_attrs[keys.DERIVED] == base.number
    curve = base.user_attrs[keys.RESULT]["curve"]
    assert rung.values[0] == pytest.approx(min(row[1] for row in curve[:2]))
    assert read_trial(rung).search_seconds == 0.0 and read_trial(rung).cost_seconds == pytest.approx(curve[1][2])
    assert "read off trial 0's first 2 epochs (no training)" in result.output
    report = json.loads(invoke("report", str(recipe), "--json", "--no-plots").stdout)["datasets"]["synthetic"]
    trained = [t for t in trials if keys.RESULT in t.user_attrs and keys.DERIVED not in t.user_attrs]
    assert report["search_cost"]["derived_trials"] == 1
    assert report["search_cost"]["total_cost_seconds"] == pytest.approx(
        sum(t.user_attrs[keys.RESULT]["cost_seconds"] for t in trained))


def test_quick_trains_the_baseline_and_the_recommendations_only(tmp_path):
    recipe = write_recipe(tmp_path, strategies=[{"name": "st_prune"}], search={"trials": 8, "seed": 0, "baseline_ladder": []})
    result = invoke("search", str(recipe), "--quick", "--no-export")
    assert result.exit_code == 0, result.output
    trials = study_of(tmp_path).trials
    assert [t.user_attrs.get(keys.ROLE) or t.user_attrs.get(keys.RECOMMENDED) for t in trials] == ["baseline", "st_prune#1"]


def _done(number, val_mae, cost, **attrs):
    trial = optuna.trial.create_trial(values=[val_mae, cost], user_attrs=attrs)
    trial.number = number
    return trial


def test_a_candidate_that_cannot_be_cheaper_than_the_fastest_within_the_tolerance_is_skipped():
    trials = [_done(0, 2.00, 10.0), _done(1, 2.01, 7.0), _done(2, 2.50, 3.0)]  # trial 2 is outside 1%
    assert predict.incumbent(trials, 0.01) == (1, 7.0)
    assert predict.cannot_win(7.5, trials, 0.01).startswith("predicted to cost 7.50 s, no less than trial 1")
    assert predict.cannot_win(6.0, trials, 0.01) is None and predict.cannot_win(None, trials, 0.01) is None


def test_the_sampler_sees_the_tolerance_and_selection_ignores_it(tmp_path):
    recipe = write_recipe(tmp_path, search={"trials": 4, "seed": 0, "baseline_ladder": []},
                          export={"rule": "fastest-within", "tolerance": 0.0})
    assert invoke("search", str(recipe), "--no-export").exit_code == 0
    trials = study_of(tmp_path).trials
    base = trials[0].values[0]
    strategy = [t for t in trials[1:] if t.state.name == "COMPLETE"]
    assert strategy and all(t.constraints[keys.STEER_CONSTRAINT] == pytest.approx(t.values[0] / base - 1) for t in strategy)
    assert all(read_trial(t).feasible for t in strategy)  # only the sampler reads it


# --- the recommendations on the shortest training that holds accuracy (search.shorten) -------


def _shortening_recipe(strategies=("st_prune",)):
    """The defaults (derived ladder, predictions, search.shorten) on 4 epochs, no re-timing reserve."""
    from sttune.recipe.settings import TrainConfig
    from sttune.recipe.spec import DatasetBlock, ExportConfig, ModelBlock, Recipe, SearchConfig, StrategyBlock

    return Recipe(datasets=[DatasetBlock("synthetic")], model=ModelBlock(name="stid"),
                  strategies=[StrategyBlock(s) for s in strategies], train=TrainConfig(epochs=4),
                  search=SearchConfig(baseline_ladder=[0.25, 0.5], reuse_results=False),
                  export=ExportConfig(verify_pairs=0), name="unit")


def _curve_answer(plain_curve, strategy_val):
    """The baseline's curve as given (10 s an epoch); a strategy trial ``strategy_val``, 10 s an epoch."""
    def answer(job, listener):
        if not job.strategies:
            curve = [EpochRecord(e, 0.0, mae, 10.0 * (e + 1), 10, window_nodes=100) for e, mae in enumerate(plain_curve)]
            return train_result(min(plain_curve), 10.0 * len(plain_curve), epochs_run=len(plain_curve), curve=curve)
        return train_result(strategy_val, 10.0 * job.train.epochs, epochs_run=job.train.epochs)
    return answer


def test_the_recommendations_wait_for_the_baseline_and_run_at_its_shortest_rung_within_tolerance(tmp_path, fake_training):
    from sttune.tuning import setup, study as st
    from sttune.tuning.space import FRACTION_PARAM
    from study_kit import Notes, plan

    r = _shortening_recipe()
    bare = optuna.create_study(directions=["minimize", "minimize"])
    setup.set_up_study(bare, plan(r, tmp_path))
    assert not any(keys.RECOMMENDED in t.user_attrs for t in bare.trials)  # nothing to stack on before the baseline

    jobs = fake_training(_curve_answer([3.0, 1.005, 1.002, 1.0], 1.004))  # 2 of 4 epochs: +0.5%, within 1%
    notes = Notes()
    study = st.search_study(plan(r, tmp_path), notes)
    recommended = [t for t in study.trials if keys.RECOMMENDED in t.user_attrs]
    assert recommended and recommended[0].params[FRACTION_PARAM] == 0.5
    assert jobs[1].strategies and jobs[1].train.epochs == 2  # the first trained after the baseline
    assert "recommended configurations queued at 2 of 4 epochs" in " ".join(notes.lines)
    sampled = [t for t in study.trials if not ({keys.ROLE, keys.RECOMMENDED} & set(t.user_attrs))]
    assert sampled and {t.params[FRACTION_PARAM] for t in sampled} <= {0.5, 1.0}  # never below the shortest rung
    assert all(j.train.epochs >= 2 for j in jobs) and study.user_attrs[keys.SHORTEST] == 0.5
    from dataclasses import replace
    one_epoch = replace(jobs[1], train=replace(jobs[1].train, epochs=1))  # the guard, for a trial from elsewhere
    assert st.too_short(one_epoch, r, study.trials).startswith("1 epochs, fewer than the 2")
    assert st.too_short(jobs[1], r, study.trials) is None


def test_no_rung_within_tolerance_keeps_the_recommendations_at_full_length(tmp_path, fake_training):
    from sttune.tuning import study as st
    from sttune.tuning.space import FRACTION_PARAM
    from study_kit import Notes, plan

    jobs = fake_training(_curve_answer([3.0, 1.5, 1.2, 1.0], 1.004))  # every rung more than 1% worse
    study = st.search_study(plan(_shortening_recipe(), tmp_path), Notes())
    recommended = [t for t in study.trials if keys.RECOMMENDED in t.user_attrs]
    assert recommended and study.user_attrs[keys.SHORTEST] == 1.0
    assert all(FRACTION_PARAM not in t.params for t in study.trials)  # one length left: nothing to search
    assert len(jobs) >= 2 and all(j.train.epochs == 4 for j in jobs)


def test_a_queued_trial_the_budget_cannot_hold_is_skipped_not_left_blocking_the_queue(tmp_path, fake_training):
    from dataclasses import replace

    from sttune.tuning import accounting as acc, study as st
    from study_kit import Notes, plan

    fake_training(_curve_answer([3.0, 1.5, 1.2, 1.0], 1.004))
    r = _shortening_recipe(strategies=("st_prune", "dynst"))  # two recommendations, both at full length
    study = st.search_study(replace(plan(r, tmp_path), budget=1.5), Notes())  # 0.5 baselines left: neither fits
    recommended = [t for t in study.trials if keys.RECOMMENDED in t.user_attrs]
    assert len(recommended) == 2 and all(acc.skipped(t) for t in recommended)
    assert all(t.user_attrs[keys.SKIPPED].startswith("it would not fit") for t in recommended)
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.WAITING]


def test_quick_gets_its_own_default_budget():
    from sttune.recipe.spec import DEFAULT_BUDGET, QUICK_BUDGET, SearchConfig

    assert SearchConfig().budget == DEFAULT_BUDGET and SearchConfig(quick=True).budget == QUICK_BUDGET
    assert SearchConfig(quick=True, budget=3.0).budget == 3.0


def test_a_shortened_run_is_the_full_runs_first_epochs_so_an_exported_rung_retrains_to_its_figure(tmp_path):
    # the derived rung's val MAE is what retraining its exported config gives: same data order, and the
    # lr decays at the full run's milestone epochs (epoch 3 of 6), not at the rung's own (epoch 2 of 4)
    from dataclasses import replace

    from sttune.recipe.settings import Protocol, TrainConfig
    from sttune.recipe.spec import DatasetBlock
    from sttune.training.jobs import Job, train_job
    from sttune.tuning.space import shortened

    block = DatasetBlock("synthetic", {"n_nodes": 8, "n_days": 3, "steps_per_day": 48}, id="tiny")
    full = Job(block, Protocol(), "stid", {"embed_dim": 8, "n_layers": 1}, [],
               TrainConfig(epochs=6, device="cpu", batch_size=32, lr=0.01, lr_decay_at=(0.5,), lr_gamma=0.1, seed=3))
    rung = replace(full, train=shortened(full.train, 0.75))
    assert rung.train.epochs == 4 and rung.train.lr_decay_at == (0.75,)
    whole = train_job(full, tmp_path)
    again = train_job(rung, tmp_path)
    assert again.val_mae == pytest.approx(prefix_result(whole, 4, "first 4").val_mae, rel=1e-6)
    own = train_job(replace(rung, train=replace(rung.train, lr_decay_at=(0.5,))), tmp_path)  # its own milestones
    assert own.val_mae != pytest.approx(again.val_mae, rel=1e-6)
