"""Trustworthy cost: load-free work accounting, the verified speed-up, noise-aware selection.

No test here reads a real clock: runs use an injected ManualClock, and the verification's
re-timing is an injected prober, so every figure is exact and no busy machine can fail a test.
"""

from __future__ import annotations

import pytest
import torch

from helpers import ManualClock, fit, trial_record
from sttune.api import Strategy
from sttune.outcome.select import cost_noise, fastest_within, select
from sttune.outcome.verify import RETIMING_FLOOR, CannotVerify, verify_speedup
from sttune.recipe.spec import DatasetBlock
from sttune.training.epoch import ProbeEvent
from sttune.training.result import EpochRecord
from sttune.training.work import WorkSummary, scaled_work
from sttune.tuning import keys
from sttune.tuning.keys import FRACTION, ROLE
from sttune.tuning.records import TrialRecord


class KeepHalf(Strategy):
    name = "keep_half"

    def select(self, ctx):
        return torch.arange(0, ctx.train_size, 2)


class FirstNodes(Strategy):
    """Keeps the first ``k`` nodes of every batch (as DynST's gather does)."""

    name = "first_nodes"

    def __init__(self, k: int) -> None:
        self.k = k

    def transform(self, batch, ctx):
        keep = torch.arange(self.k)
        return batch.replace(x=batch.x[:, :, keep], y=batch.y[:, :, keep], nodes=keep,
                             node_inputs=None if batch.node_inputs is None else batch.node_inputs[keep])


class ExtraPasses(Strategy):
    """Reports its own passes: 10 windows × 3 nodes in prepare, 4 × 6 per epoch."""

    name = "extra"

    def prepare(self, train, ctx):
        ctx.add_work(10, 3)
        return train

    def on_epoch_end(self, ctx):
        ctx.add_work(4, 6)


def test_every_batch_is_counted_in_windows_times_nodes(data):
    n, windows = data.spec.n_nodes, len(data.train)
    plain = fit(data)
    assert [r.window_nodes for r in plain.curve] == [windows * n] * 2
    assert [r.batches for r in plain.curve] == [-(-windows // 32)] * 2
    assert plain.work.units == pytest.approx(2 * windows)  # full-graph windows
    half = fit(data, [KeepHalf()])
    assert [r.window_nodes for r in half.curve] == [len(range(0, windows, 2)) * n] * 2
    nodes = fit(data, [FirstNodes(2)])
    assert [r.window_nodes for r in nodes.curve] == [windows * 2] * 2
    assert nodes.work.units == pytest.approx(2 * windows * 2 / n)


def test_a_strategy_s_own_passes_are_counted_where_they_happen(data):
    result = fit(data, [ExtraPasses()])
    windows, n = len(data.train), data.spec.n_nodes
    assert result.work.prepare_window_nodes == 30
    assert [r.extra_window_nodes for r in result.curve] == [24, 24]
    assert [r.window_nodes for r in result.curve] == [windows * n + 24] * 2
    assert result.work.units == pytest.approx(2 * (windows + 24 / n) + 30 / n)


def test_a_superlinear_model_s_work_scales_with_the_node_share_squared():
    # 100 windows on 5 of 10 nodes: a linear model does half the work, a quadratic one a quarter
    assert scaled_work(500, 100, 10, 1.0) == pytest.approx(50)
    assert scaled_work(500, 100, 10, 2.0) == pytest.approx(25)


def test_the_result_records_its_clock_and_threads(data):
    result = fit(data, epochs=1)
    assert result.clock == "process" and result.cpu_threads == torch.get_num_threads()
    assert fit(data, epochs=1, now=ManualClock()).clock == "injected"


# ---------------------------------------------------------------------- verification

def worked_record(number, cost, window_nodes_epoch, epochs=4, mae=3.0, role="search", fraction=1.0, first_s=None,
                  batches=None):
    """A finished trial whose epochs each did ``window_nodes_epoch`` work on 10 nodes, in batches
    of 1000 window-nodes (10_000: 10 batches an epoch)."""
    per_epoch = cost / epochs if first_s is None else first_s
    batches = batches or max(1, window_nodes_epoch // 1000)
    curve = [[e, mae, per_epoch * (e + 1), window_nodes_epoch // 10, 0.0, window_nodes_epoch, batches] for e in range(epochs)]
    return trial_record(number, cost, mae, test_mae=mae + 0.5, role=role, fraction=fraction,
                        curve=[EpochRecord.from_row(row, 0.0) for row in curve],
                        work=WorkSummary(units=epochs * window_nodes_epoch / 10))


def rate_prober(per_batch, epochs=4, hooks=0.0, load=lambda tick: 1.0, log=None):
    """A stand-in for re-running a job's schedule: each batch of the arm (baseline: a job without
    strategies) at ``per_batch(is_baseline, epoch)`` seconds, each step on one shared clock whose
    load at the n-th step is ``load(n)`` (a machine getting busier); ``log`` collects the steps."""
    ticks = iter(range(10**9))

    def prober(job, batches_at):
        baseline = not job.strategies
        for epoch in range(epochs):
            yield ProbeEvent("select", epoch, hooks / 2 * load(next(ticks)), full_batches=10)
            for _ in range(batches_at(epoch)):
                if log is not None:
                    log.append(("baseline" if baseline else "chosen", epoch))
                yield ProbeEvent("batch", epoch, per_batch(baseline, epoch) * load(next(ticks)))
            yield ProbeEvent("end", epoch, hooks / 2 * load(next(ticks)))

    return prober


def flat(chosen_s, baseline_s=0.001):
    return rate_prober(lambda baseline, epoch: baseline_s if baseline else chosen_s)


BASE = worked_record(0, 40.0, 10_000, role="baseline")  # 1 ms per window-node in the search


def test_an_honest_saving_is_confirmed_within_its_interval():
    half = worked_record(5, 20.0, 5_000)  # half the batches each epoch, each as dear as the baseline's
    v = verify_speedup(half, BASE, flat(0.002, 0.002), pairs=12)  # the machine 2x slower now: both arms
    # exact pairs: the interval is the re-timing floor's (±8.5%), cut at the ceiling
    assert v.speedup == pytest.approx(2.0) and v.interval == pytest.approx((2.0 / (1 + RETIMING_FLOOR), 2.0))
    assert v.work_fraction == pytest.approx(0.5) and v.ceiling == pytest.approx(2.0)
    assert v.reliably_faster and not v.bounded and v.measured_in_search == pytest.approx(2.0)
    assert v.method == "schedule" and v.epochs == (0, 1, 2, 3) and len(v.pairs) == 12


def test_the_pairs_span_the_whole_schedule_and_alternate_who_goes_first():
    log: list = []
    half = worked_record(5, 20.0, 5_000, epochs=8)
    v = verify_speedup(half, worked_record(0, 40.0, 10_000, epochs=8, role="baseline"),
                       rate_prober(lambda b, e: 0.001, epochs=8, log=log), pairs=12)
    assert v.epochs == (0, 2, 5, 7)  # first to last, not epoch 0 alone
    assert {p["epoch"] for p in v.pairs} == {0, 2, 5, 7} and len(v.pairs) == 12
    orders = [tuple(p["order"]) for p in v.pairs]
    assert orders.count(("chosen", "baseline")) == orders.count(("baseline", "chosen")) == 6
    assert all(orders[i] != orders[i + 1] for i in range(11) if v.pairs[i]["epoch"] == v.pairs[i + 1]["epoch"])
    assert log[:4] == [("baseline", 0), ("chosen", 0), ("chosen", 0), ("baseline", 0)]  # batch by batch


def test_an_epoch_s_first_batch_counts_once_not_for_the_whole_epoch():
    # the first batch of each epoch runs on every node (DynST's dense-gradient batch), the rest at
    # half the cost: 10 batches an epoch -> 1 + 9 × 0.5 = 5.5 baseline batches, a 10/5.5 speed-up
    ticks = iter(range(10**9))

    def prober(job, batches_at):
        for epoch in range(4):
            yield ProbeEvent("select", epoch, 0.0, full_batches=10)
            for i in range(batches_at(epoch)):
                next(ticks)
                yield ProbeEvent("batch", epoch, 0.001 if not job.strategies or i == 0 else 0.0005)
            yield ProbeEvent("end", epoch, 0.0)

    v = verify_speedup(worked_record(5, 22.0, 5_500, batches=10), BASE, prober, pairs=12)
    assert v.speedup == pytest.approx(10 / 5.5)


def test_a_machine_getting_busier_does_not_bias_the_figure():
    # the same work in both arms, the load rising 3% a step: with the order rotating each
    # epoch the pairs' biases cancel; a fixed order would charge the later arm 3% a pair
    same = worked_record(5, 40.0, 10_000, epochs=8)
    base = worked_record(0, 40.0, 10_000, epochs=8, role="baseline")
    v = verify_speedup(same, base, rate_prober(lambda b, e: 0.001, epochs=8, load=lambda n: 1.03**n), pairs=16)
    assert v.speedup == pytest.approx(1.0, abs=0.005)
    assert not v.reliably_faster


def test_overhead_that_starts_after_epoch_0_is_in_the_figure():
    # idle in epoch 0, then 30% more per batch: the work is the baseline's, the time is not
    slow = worked_record(5, 40.0, 10_000)
    v = verify_speedup(slow, BASE, rate_prober(lambda b, e: 0.001 if b or e == 0 else 0.0013), pairs=12)
    assert v.speedup == pytest.approx(4 / (1 + 3 * 1.3))
    assert not v.reliably_faster and v.speedup <= v.ceiling


def test_a_quiet_machine_during_the_chosen_trial_is_corrected_by_the_pairs():
    # the trial did 90% of the work; the search timed it on a quiet machine (0.6 ms per
    # window-node) and the baseline on a busy one (1 ms): the raw ratio says 1.85x
    lucky = worked_record(5, 36.0 * 0.6, 9_000)
    v = verify_speedup(lucky, BASE, flat(0.001), pairs=8)
    assert v.measured_in_search == pytest.approx(40 / 21.6)
    assert v.speedup == pytest.approx(10 / 9) and v.interval == pytest.approx((10 / 9 / (1 + RETIMING_FLOOR), 10 / 9))
    assert v.speedup <= v.ceiling


def test_a_faked_saving_cannot_be_verified_beyond_the_work_it_saved():
    # a strategy that saves no work but whose clock runs at half speed in every probe: the
    # pairs agree on 2x, the work says 1x; the ceiling wins and says so
    fake = worked_record(5, 20.0, 10_000)
    v = verify_speedup(fake, BASE, flat(0.0005), pairs=8)
    assert v.bounded and v.speedup == pytest.approx(1.0) and v.ceiling == pytest.approx(1.0)
    assert v.high <= v.ceiling and not v.reliably_faster


def test_a_figure_just_above_the_ceiling_is_not_called_a_measurement_error():
    near = worked_record(5, 20.0, 10_000)
    v = verify_speedup(near, BASE, flat(0.001 / 1.015), pairs=8)  # 1.5% above: inside the noise floor
    assert not v.bounded and v.speedup == pytest.approx(1.0)


def test_a_hook_that_slept_in_the_baseline_s_place_is_re_timed_away():
    # the baseline's search run was slowed (a sleeping hook, a busy machine): 2 ms per window-node
    slow_base = worked_record(0, 80.0, 10_000, role="baseline")
    same = worked_record(5, 40.0, 10_000)  # the same work at the normal rate
    v = verify_speedup(same, slow_base, flat(0.001), pairs=8)
    assert v.measured_in_search == pytest.approx(2.0) and v.speedup == pytest.approx(1.0)
    assert not v.reliably_faster


def test_the_interval_is_a_bootstrap_over_the_pairs():
    half = worked_record(5, 20.0, 5_000)
    times = iter([0.001, 0.0013, 0.0009, 0.0012, 0.001, 0.0011, 0.0008, 0.0012] * 4)
    v = verify_speedup(half, BASE, rate_prober(lambda b, e: 0.001 if b else next(times)), pairs=8)
    assert v.low < v.speedup < v.high <= v.ceiling
    assert v.noise > 0.02  # the relative half-width of the bootstrap interval, before the ceiling cuts it
    again = verify_speedup(half, BASE, rate_prober(lambda b, e: 0.001 if b else next(iter([0.0011]))), pairs=8)
    assert again.interval == pytest.approx((2 / 1.1 / (1 + RETIMING_FLOOR), 2 / 1.1 * (1 + RETIMING_FLOOR)))  # exact pairs: the re-timing floor


def test_reliably_faster_needs_the_whole_interval_above_one():
    from sttune.outcome.verify import Verified

    straddling = Verified(1.10, 0.98, 1.14, 0.8, 1.25, 1.2, 0.07, False)
    assert straddling.speedup > 1 and not straddling.reliably_faster
    assert Verified(1.30, 1.25, 1.32, 0.7, 1.43, 1.3, 0.03, False).reliably_faster


def test_trials_stored_before_work_accounting_cannot_be_verified():
    old = worked_record(5, 20.0, 5_000)
    old.result.curve = [EpochRecord.from_row(r.row()[:5], 0.0) for r in old.result.curve]  # as layout 1 stored it
    with pytest.raises(CannotVerify):
        verify_speedup(old, BASE, flat(0.001))


# ---------------------------------------------------------------------- noise-aware selection

def test_a_trial_cheaper_by_less_than_the_noise_does_not_win_over_a_more_accurate_one():
    accurate, cheap = worked_record(5, 20.0, 5_000, mae=3.00), worked_record(6, 19.6, 5_000, mae=3.02)
    trials = [BASE, accurate, cheap]
    assert fastest_within(trials, 0.01, noise=0.0).number == 6  # the old rule: 2% cheaper wins
    assert fastest_within(trials, 0.01, noise=0.05).number == 5  # inside the noise: accuracy decides
    assert select(trials, "fastest-within", 0.01, noise=0.01).number == 6  # reliably cheaper by 2%


def test_the_study_noise_comes_from_the_baselines_equal_work():
    ladder = [worked_record(0, 40.0, 10_000, role="baseline"), worked_record(1, 22.0, 10_000, epochs=2, role="baseline", fraction=0.5)]
    assert cost_noise(ladder) == pytest.approx(22.0 / 20.0 - 1)  # 1.1 ms vs 1.0 ms per unit of work
    assert cost_noise([ladder[0]]) == pytest.approx(0.02)  # equal epochs: only the floor


# ---------------------------------------------------------------------- export

def study_of(*records: TrialRecord):
    import optuna

    from sttune.tuning import records as rec

    study = optuna.create_study(directions=["minimize", "minimize"])
    study.set_user_attr("sttune.dataset", "synthetic")
    for r in records:
        attrs = {keys.JOB: rec.job_to_attr(r.job), keys.RESULT: rec.result_to_attr(r.result), ROLE: r.role, FRACTION: r.fraction}
        study.add_trial(optuna.trial.create_trial(values=[r.val_mae, r.cost_seconds], user_attrs=attrs))
    return study


def test_export_writes_the_verified_figure_and_keeps_it_on_the_study(tmp_path):
    from sttune.outcome.export import export_study
    from sttune.recipe.spec import ModelBlock, Recipe

    study = study_of(BASE, worked_record(1, 20.0, 5_000, mae=3.0))
    template = Recipe(datasets=[DatasetBlock("synthetic")], model=ModelBlock(name="stid"))
    calls = []

    def prober(job, batches_at):
        calls.append(job)
        return flat(0.001)(job, batches_at)

    class Heard:
        def __init__(self):
            self.notices, self.epochs = [], []

        def notice(self, message):
            self.notices.append(message)

        def epoch_done(self, done, total):
            self.epochs.append((done, total))

    heard = Heard()
    first = export_study(study, template, tmp_path, "fastest-within", 0.01, prober, pairs=4, listener=heard)
    # one pass: a second would take the re-timing past accounting.VERIFY_SHARE of the baseline
    assert first.chosen.number == 1 and first.verified.speedup == pytest.approx(2.0) and len(calls) == 2
    assert heard.notices == ["synthetic: re-timing trial 1 against the full baseline (4 interleaved batch pairs over "
                             "the whole schedule)..."]
    assert heard.epochs == [(1, 4), (2, 4), (3, 4), (4, 4)]  # one pass
    heard = Heard()
    again = export_study(study, template, tmp_path, "fastest-within", 0.01, prober, pairs=4, listener=heard)
    assert again.verified == first.verified and len(calls) == 2  # re-export: not re-timed
    assert heard.notices == ["synthetic: trial 1's speed-up was verified by an earlier export (4 pairs): reused, "
                             "not re-timed"] and heard.epochs == []
    assert "speed-up 2.00x [1.84, 2.00]" in (tmp_path / "synthetic.yaml").read_text()
    assert first.note is None


def test_a_close_verdict_goes_on_only_as_far_as_the_budget_has_room():
    from sttune.outcome.export import close_share
    from sttune.tuning.accounting import CLOSE_SHARE, VERIFY_OVERHEAD

    study = study_of(BASE, worked_record(1, 20.0, 5_000))  # 60 s spent; a baseline costs 40 s
    assert close_share(study, BASE) == CLOSE_SHARE  # no budget
    study.set_user_attr(keys.RECIPE, {"search": {"budget": 2.0}})  # 80 s: 20 s left
    assert close_share(study, BASE) == pytest.approx(20 / 40 / VERIFY_OVERHEAD)
    study.set_user_attr(keys.RECIPE, {"search": {"budget": 1.4}})  # spent beyond it: no further passes
    assert close_share(study, BASE) == 0.0


def test_an_export_that_is_not_reliably_faster_says_so_in_every_output(tmp_path):
    import json

    from sttune.outcome.export import export_study
    from sttune.recipe.spec import ModelBlock, Recipe

    study = study_of(BASE, worked_record(1, 30.0, 10_000, mae=2.99))  # the search saw 1.33x on the same work
    template = Recipe(datasets=[DatasetBlock("synthetic")], model=ModelBlock(name="stid"))
    export = export_study(study, template, tmp_path, "fastest-within", 0.01, flat(0.001), pairs=4)
    assert export.chosen.number == 1 and not export.verified.reliably_faster
    assert export.note.startswith("no configuration is reliably faster than the full baseline")
    assert json.loads((tmp_path / "synthetic.json").read_text())["note"] == export.note
    assert "no configuration is reliably faster" in (tmp_path / "synthetic.yaml").read_text()


def test_a_verdict_still_close_is_said_wherever_the_figure_is(tmp_path):
    import json

    from sttune.cli.export_cmd import menu_lines
    from sttune.outcome.export import export_study
    from sttune.outcome.plots import _exported_mark
    from sttune.recipe.spec import ModelBlock, Recipe

    # 80% of the work at 1.147x the baseline's per-batch cost: 1.09x, 0.5% above where the verdict turns;
    # exact timings keep the estimate's own interval at ±2% however many passes run
    ratio = 1 / (0.8 * 1.09)
    study = study_of(BASE, worked_record(1, 40.0 * 0.8 * ratio, 8_000, mae=3.0))
    template = Recipe(datasets=[DatasetBlock("synthetic")], model=ModelBlock(name="stid"))
    export = export_study(study, template, tmp_path, "fastest-within", 0.01, flat(0.001 * ratio), pairs=4)
    v = export.verified
    assert export.chosen.number == 1 and v.reliably_faster and v.close
    assert len({p["pass"] for p in v.pairs}) == 2  # one more pass than the share allows a decided verdict
    assert "reliably faster by a close margin" in export.note
    saved = json.loads((tmp_path / "synthetic.json").read_text())
    assert saved["chosen"]["speedup_close"] is True and saved["chosen"]["verification"]["close"] is True
    assert "close margin" in saved["note"] and "close margin" in (tmp_path / "synthetic.yaml").read_text()
    assert any("verified, by a close margin" in line for line in menu_lines(export.menu))
    assert _exported_mark(export.chosen, BASE, saved["chosen"]).text.endswith("by a close margin")
    decided = verify_speedup(worked_record(1, 20.0, 5_000), BASE, flat(0.001), pairs=4)
    assert not decided.close and decided.caveat() is None


def test_an_export_whose_re_timing_fails_is_written_unverified_with_the_reason(tmp_path):
    from sttune.errors import DataError
    from sttune.outcome.export import export_study
    from sttune.recipe.spec import ModelBlock, Recipe

    def missing_data(job, batches_at):
        raise DataError("data/x.npz: no such file", "check the dataset path")

    template = Recipe(datasets=[DatasetBlock("synthetic")], model=ModelBlock(name="stid"))
    export = export_study(study_of(BASE, worked_record(1, 20.0, 5_000)), template, tmp_path, "fastest-within", 0.01,
                          missing_data)
    assert export.verified is None and "not verified: re-timing failed: data/x.npz: no such file" in export.note
    assert export.speedup_text == "2.00x (unverified)"


def test_the_report_flags_a_search_speed_up_the_work_cannot_explain():
    from sttune.outcome.report import trial_rows

    ladder = worked_record(1, 20.0, 10_000, epochs=2, role="baseline", fraction=0.5)  # same rate as BASE: noise 2%
    lucky = worked_record(2, 20.0, 9_000)  # 2x faster on 90% of the work: the load, not a saving
    honest = worked_record(3, 20.0, 5_000)  # 2x faster on half the work
    rows = {r["trial"]: r for r in trial_rows(study_of(BASE, ladder, lucky, honest))}
    assert rows[2]["above_work_ceiling"] and rows[2]["work_fraction"] == pytest.approx(0.9)
    assert not rows[3]["above_work_ceiling"] and not rows[1]["above_work_ceiling"]


def test_passes_go_on_until_the_interval_is_narrow_or_the_share_is_spent():
    big = worked_record(0, 400.0, 100_000, role="baseline")  # 100 batches an epoch: 400 in all
    half = worked_record(5, 200.0, 50_000)
    steady = verify_speedup(half, big, flat(0.001), pairs=12)
    assert {p["pass"] for p in steady.pairs} == {0, 1}  # exact at once: the two passes a re-timing always gets
    jitter = iter([0.0008, 0.0012] * 1000)
    noisy = verify_speedup(half, big, rate_prober(lambda b, e: 0.001 if b else next(jitter)), pairs=12)
    assert {p["pass"] for p in noisy.pairs} == {0, 1, 2, 3}  # 4 passes of 24 batches: within 40% of 400
    from sttune.outcome.verify import sampled_epochs

    assert sampled_epochs(8, 9) == {0: 3, 4: 3, 7: 3} and sampled_epochs(8, 9, shift=1) == {0: 3, 1: 3, 5: 3}
    small = iter([0.0008, 0.0012] * 1000)
    capped = verify_speedup(half, BASE, rate_prober(lambda b, e: 0.001 if b else next(small)), pairs=12)
    assert {p["pass"] for p in capped.pairs} == {0}  # 24 batches already pass 40% of the 40 a baseline runs


def test_later_pairs_go_first_equally_often_whatever_the_pairs_per_epoch():
    # 4 pairs an epoch (1 first + 3 later): counting rounds put the same arm first in 2 of each
    # epoch's 3 later pairs, every epoch, and the first-timed arm runs slower (cold caches)
    half = worked_record(5, 20.0, 5_000)
    v = verify_speedup(half, BASE, flat(0.001), pairs=16, close_share=0.0)
    later = [tuple(p["order"]) for p in v.pairs if not p["first"]]
    for index in {p["pass"] for p in v.pairs}:
        mine = [tuple(p["order"]) for p in v.pairs if not p["first"] and p["pass"] == index]
        assert abs(mine.count(("chosen", "baseline")) - mine.count(("baseline", "chosen"))) <= 1
    assert later.count(("chosen", "baseline")) == later.count(("baseline", "chosen"))
    epoch_rows = [p for p in v.pairs if p["pass"] == 0 and p["epoch"] == 0]
    assert all(a["order"] != b["order"] for a, b in zip(epoch_rows, epoch_rows[1:]))


def _near_threshold(per_batch_ratio, close_share=None, notices=None):
    """A trial doing 80% of the baseline's batches, each ``per_batch_ratio`` × as dear (±4%
    jitter), re-timed against a 400-batch baseline; returns the verified figure and its passes."""
    big = worked_record(0, 400.0, 100_000, role="baseline")
    trial = worked_record(5, 320.0 * per_batch_ratio, 80_000)
    jitter = iter([0.96, 1.04, 1.02, 0.98] * 10_000)

    class Listener:
        def notice(self, message):
            notices.append(message)

        def epoch_done(self, done, total):
            pass

    kwargs = {} if close_share is None else {"close_share": close_share}
    prober = rate_prober(lambda b, e: 0.001 if b else 0.001 * per_batch_ratio * next(jitter))
    v = verify_speedup(trial, big, prober, pairs=12, listener=Listener() if notices is not None else None, **kwargs)
    return v, len({p["pass"] for p in v.pairs})


def test_a_verdict_close_to_flipping_is_decided_by_more_passes():
    from sttune.outcome.verify import CLOSE_PASSES, MAX_PASSES, MIN_PASSES
    from sttune.tuning.accounting import CLOSE_SHARE

    notices: list[str] = []
    # 1 / (0.8 × 1.152) = 1.085x: "reliably faster" needs the estimate above 1 + RETIMING_FLOOR
    close, passes = _near_threshold(1.152, notices=notices)
    assert close.speedup == pytest.approx(1 + RETIMING_FLOOR, rel=0.02)
    assert MAX_PASSES < passes <= CLOSE_PASSES and any("within the re-timing's own noise" in n for n in notices)
    assert close.seconds <= CLOSE_SHARE * 400 * 0.001  # within its share of the 400-batch baseline
    far, passes = _near_threshold(0.9)  # 1.39x: the verdict cannot flip within its interval
    assert far.reliably_faster and passes == MIN_PASSES
    slow, passes = _near_threshold(1.3)  # 0.96x: not faster whichever end
    assert not slow.reliably_faster and passes == MIN_PASSES
    held, passes = _near_threshold(1.152, close_share=0.0)  # a budget without room: the regular passes only
    assert passes == MIN_PASSES


def test_an_estimate_above_the_ceiling_keeps_its_interval_s_width():
    half = worked_record(5, 20.0, 5_000)
    jitter = iter([0.00094, 0.00100] * 1000)  # about 3% below the baseline's batch: 2.06x on half the work
    v = verify_speedup(half, BASE, rate_prober(lambda b, e: 0.001 if b else next(jitter)), pairs=12)
    assert v.speedup == v.ceiling == pytest.approx(2.0) and v.high == pytest.approx(2.0)
    assert v.low < 2.0 and not v.bounded  # moved down with the estimate, not squeezed to a point
