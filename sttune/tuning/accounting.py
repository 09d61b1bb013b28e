"""Trial accounting: which trials hold a ``search.trials`` slot, the streaks that end a search,
what ``search.budget`` has left, and the loop's next move (:func:`decide`).

Only new work counts towards ``search.trials`` and ``search.budget``: a failed trial and one
that reused a finished twin's result (``search.reuse_results``) are recorded but hold no slot,
so the sampler is asked again. Two streaks end the loop instead: ``search.max_consecutive_failures``
failures in a row (exit 2: the recipe is broken, not unlucky) and :data:`EXHAUSTED_AFTER` reused
results in a row (the space looks exhausted, a notice). Both count only trials finished in this
run, so the same command resumes after a fix.

``search.budget`` (device time in full baselines) stops *starting* trials once the full baseline
has finished and the spent seconds, the running trials' estimates, the next trial's estimate and
the export's re-timing (its reserve: :func:`verification_reserve`) would pass it. A trial is
estimated from its own kind: a baseline rung from the full baseline's cost, a trial of a known
strategy (an enqueued recommendation) from the dearest finished trial of that strategy, and a
trial whose strategy is not known yet (the sampler picks it after the ask) from the dearest
finished trial of any kind, so that a trial is started only when the budget left could absorb
the most expensive one seen so far.

Several workers share the trial count exactly: trials are *claims* (WAITING, RUNNING, or
finished as new work), ordered by creation; a worker asks only while the claims leave room, and
after asking checks its trial's rank among the claims (:func:`within_trial_count`,
:func:`fits_budget`). See docs/scaling.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import optuna

from sttune.tuning import records as rec
from sttune.tuning.heartbeat import STALE
from sttune.tuning.keys import DERIVED, FRACTION, JOB, REASON, RECOMMENDED, RESULT, REUSED, ROLE, SKIPPED
from sttune.tuning.predict import predictor
from sttune.tuning.setup import StudyPlan
from sttune.tuning.tell import INTERRUPTED

EXHAUSTED_AFTER = 20  # reused results in a row: the sampler has nothing new left to propose
SKIPPED_AFTER = 25  # candidates skipped before training in a row (each costs a plan, no training): nothing it proposes can win or fit
# the export's re-timing (sttune.outcome.verify): pairs by default = PAIRS_SHARE of the full
# baseline's training batches, MIN_PAIRS to MAX_PAIRS; each pair re-times two batches
MIN_PAIRS, MAX_PAIRS, PAIRS_SHARE = 9, 50, 0.05  # 9: three sampled epochs of three pairs
# a re-timing runs passes of pairs until its interval is narrow enough; the passes' batches and hooks
# stay within VERIFY_SHARE of one baseline training (sttune.outcome.verify), and each pass sets both
# runs up besides (VERIFY_OVERHEAD). A budget keeps one re-timing at its expected size (MIN_PASSES
# passes of the default pairs); the export re-times a second trial (the best trade-off, when the
# chosen one is not reliably faster) only where the budget has room left for it
VERIFY_SHARE = 0.25
# a re-timing whose verdict ("reliably faster") lies within its own noise of flipping goes on with more
# passes, up to CLOSE_SHARE of one baseline (sttune.outcome.verify: a close verdict is decided by more
# pairs, not by chance); under a budget only as far as the budget has room (sttune.outcome.export)
CLOSE_SHARE = 0.5
VERIFY_OVERHEAD = 1.25
EXPECTED_PASSES = 2  # sttune.outcome.verify.MIN_PASSES: passes a re-timing runs where it is affordable

WAITING, RUNNING = optuna.trial.TrialState.WAITING, optuna.trial.TrialState.RUNNING
COMPLETE, PRUNED, FAIL = optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL


def retried_numbers(trials: list[optuna.trial.FrozenTrial]) -> set[int]:
    """Numbers of the trials that a later trial retries (their ``retry_history``)."""
    out: set[int] = set()
    for t in trials:
        out.update(t.system_attrs.get("retry_history", ()))
    return out


def queued_again(trial: optuna.trial.FrozenTrial, retried: set[int]) -> bool:
    """A failed trial whose config was queued again (interrupted, failed as stale, or retried):
    its retry holds its ``search.trials`` slot, and it is no result of its own.

    ``retried`` is :func:`retried_numbers` of the study's trials."""
    if trial.state != optuna.trial.TrialState.FAIL:
        return False
    reason = str(trial.user_attrs.get(REASON, ""))
    return reason == INTERRUPTED or reason.startswith(STALE) or trial.number in retried


def reused(trial: optuna.trial.FrozenTrial) -> bool:
    """A trial that took a finished twin's result instead of training (no new work)."""
    return trial.state == COMPLETE and REUSED in trial.user_attrs


def skipped(trial: optuna.trial.FrozenTrial) -> bool:
    """A sampled trial not trained: predicted unable to win or to fit the budget (sttune.tuning.predict)."""
    return trial.state == PRUNED and SKIPPED in trial.user_attrs


def free(trial: optuna.trial.FrozenTrial) -> bool:
    """No new work: a reused result, a rung read off the baseline's curve, or a skipped candidate."""
    return reused(trial) or skipped(trial) or DERIVED in trial.user_attrs


def _claims(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """The trials that hold the study's ``search.trials`` slots, in creation order: queued,
    running, or finished as new work (a failed trial and a reused result hold none)."""
    return sorted((t for t in trials if t.state != FAIL and not free(t)), key=lambda t: t._trial_id)


def count_done(trials: list[optuna.trial.FrozenTrial]) -> int:
    """Finished trials that count towards ``search.trials``: new results (not failed, not free)."""
    return sum(t.state.is_finished() for t in _claims(trials))


def _by_completion(trials: list[optuna.trial.FrozenTrial], earlier: Collection[int]) -> list[optuna.trial.FrozenTrial]:
    """Trials finished in this run (not in ``earlier``) in the order they finished."""
    done = [t for t in trials if t.state.is_finished() and t.number not in earlier]
    return sorted(done, key=lambda t: (t.datetime_complete is None, t.datetime_complete or 0, t.number))


def _trailing(trials: list[optuna.trial.FrozenTrial], hit: Callable[[optuna.trial.FrozenTrial], bool]) -> int:
    n = 0
    for t in reversed(trials):
        if not hit(t):
            break
        n += 1
    return n


def failure_streak(trials: list[optuna.trial.FrozenTrial], earlier: Collection[int] = ()) -> tuple[int, str]:
    """How many trials finished in this run failed in a row at the end, and the last reason.

    Interrupted, stale and retried trials (queued again) and reused results are neither
    failures nor successes here."""
    retried = retried_numbers(trials)
    seen = [t for t in _by_completion(trials, earlier) if not queued_again(t, retried) and not free(t)]
    n = _trailing(seen, lambda t: t.state == FAIL)
    return n, " ".join(str(seen[-1].user_attrs.get(REASON, "unknown")).split()) if n else ""


def reuse_streak(trials: list[optuna.trial.FrozenTrial], earlier: Collection[int] = ()) -> int:
    """How many trials finished in this run took a twin's result in a row at the end (failures skipped)."""
    return _trailing([t for t in _by_completion(trials, earlier) if t.state != FAIL], reused)


def skip_streak(trials: list[optuna.trial.FrozenTrial], earlier: Collection[int] = ()) -> int:
    """How many trials finished in this run were skipped before training in a row at the end."""
    return _trailing([t for t in _by_completion(trials, earlier) if t.state != FAIL and DERIVED not in t.user_attrs],
                     skipped)


def default_pairs(baseline_batches: int) -> int:
    """The export's re-timing pairs by default: PAIRS_SHARE of the full baseline's training
    batches, within [MIN_PAIRS, MAX_PAIRS]."""
    return max(MIN_PAIRS, min(MAX_PAIRS, math.floor(PAIRS_SHARE * baseline_batches)))


def reserve_share(batches: int, verify_pairs: int | None) -> float:
    """What a budget keeps for the export's re-timing, in full baselines, for a full baseline of
    ``batches`` training batches (0 when it is off); a dry run predicts it before any training."""
    if verify_pairs == 0 or batches <= 0:
        return 0.0
    pairs = default_pairs(batches) if verify_pairs is None else verify_pairs
    one_pass = min(1.0, 2 * pairs / batches)  # one pass always runs, however dear
    passes = EXPECTED_PASSES if EXPECTED_PASSES * one_pass <= VERIFY_SHARE else 1  # as verify's _affordable
    return VERIFY_OVERHEAD * passes * one_pass


def verification_reserve(base: rec.TrialRecord, verify_pairs: int | None) -> float:
    """Device seconds a budget keeps for the export's re-timing (0 when it is off)."""
    batches = sum(r.batches for r in base.result.curve) if base.result else 0
    return reserve_share(batches, verify_pairs) * base.cost_seconds


def strategy_label(attrs: dict[str, Any], record: rec.TrialRecord | None = None) -> str | None:
    """The strategies a trial runs ("dynst", "dynst+st_prune"): from its job once it has one,
    from its recommendation tag when it was enqueued as one; None while not known."""
    if record is not None and record.job is not None:
        return "+".join(name for name, _ in record.job.strategies) or None
    tag = attrs.get(RECOMMENDED)
    return str(tag).split("#")[0] if tag else None


Predict = Callable[[optuna.trial.FrozenTrial], "float | None"]


def _estimator(records: list[rec.TrialRecord], base: rec.TrialRecord,
               predict: Predict | None = None) -> Callable[[optuna.trial.FrozenTrial | None], float]:
    """A trial's expected search seconds (see the module doc): a baseline rung, the full
    baseline's cost times its fraction; a trial whose job is known, its predicted charge
    (sttune.tuning.predict) where its plan gives one, else the dearest finished trial of its
    strategy (none yet: unknown); unknown, the dearest finished trial of any kind. ``None`` (a
    sampled trial not asked yet) is 0: whether it fits is checked once its job is known."""
    trained = [r for r in records if r.trained and math.isfinite(r.search_seconds)]
    dearest = max([r.search_seconds for r in trained] + [base.cost_seconds])
    by_strategy: dict[str, float] = {}
    for r in trained:
        label = strategy_label({}, r) if r.role != "baseline" else None
        if label is not None:
            by_strategy[label] = max(by_strategy.get(label, 0.0), r.search_seconds)

    def estimate(trial: optuna.trial.FrozenTrial | None) -> float:
        if trial is None:
            return 0.0
        attrs = trial.user_attrs
        if attrs.get(ROLE) == "baseline":
            return base.cost_seconds * float(attrs.get(FRACTION, 1.0))
        predicted = predict(trial) if predict is not None else None
        if predicted is not None:
            return predicted
        label = strategy_label(attrs, rec.read_trial(trial) if JOB in attrs else None)
        return by_strategy.get(label, dearest) if label is not None else dearest

    return estimate


@dataclass(frozen=True)
class BudgetUse:
    """Device seconds: spent (and committed to the running trials), kept for the re-timing, the
    next trial's estimate, and the limit."""

    committed: float
    reserve: float
    estimate: float
    limit: float

    @property
    def overruns(self) -> bool:
        return self.committed + self.reserve + self.estimate > self.limit


def _budget_use(trials: list[optuna.trial.FrozenTrial], budget: float, running: list[optuna.trial.FrozenTrial],
                upcoming: optuna.trial.FrozenTrial | None, verify_pairs: int | None = None,
                predict: Predict | None = None) -> BudgetUse | None:
    """What the budget holds (:class:`BudgetUse`), the running trials at their estimates; None
    until the full baseline has finished (no unit yet)."""
    records = [rec.read_trial(t) for t in trials if t.state in (COMPLETE, PRUNED) and RESULT in t.user_attrs]
    base = rec.full_baseline(records)
    if base is None or not base.cost_seconds > 0:
        return None
    estimate = _estimator(records, base, predict)
    committed = rec.spent_seconds(records) + sum(estimate(t) for t in running)
    return BudgetUse(committed, verification_reserve(base, verify_pairs), estimate(upcoming), budget * base.cost_seconds)


def _full_baseline_lost(trials: list[optuna.trial.FrozenTrial]) -> str | None:
    """The last failure reason when the full baseline failed and no run of it is queued,
    running or finished; else None."""
    full = [t for t in trials if t.user_attrs.get(ROLE) == "baseline" and float(t.user_attrs.get(FRACTION, 1)) >= 1]
    if not full or any(t.state != FAIL for t in full):
        return None
    return " ".join(str(full[-1].user_attrs.get(REASON, "unknown")).split())


@dataclass(frozen=True)
class Decision:
    move: str  # 'ask', 'wait' (others hold the remaining slots), 'stop', or 'fail' (a failure streak)
    note: str | None = None  # why the search stops, one line (None: it ran its course)


def decide(trials: list[optuna.trial.FrozenTrial], plan: StudyPlan, searchable: bool,
           earlier: Collection[int] = ()) -> Decision:
    """The next move of a study's loop; ``earlier`` are the numbers of the trials that had
    finished when this run started (the streaks count only this run's trials)."""
    cap = plan.recipe.search.max_consecutive_failures
    failed, reason = failure_streak(trials, earlier)
    if failed >= cap:
        return Decision("fail", f"the last {failed} trials failed (last: {reason})")
    claims = _claims(trials)
    target = plan.trials
    done = sum(t.state.is_finished() for t in claims)
    if target is not None and done >= target:
        return Decision("stop")
    if reuse_streak(trials, earlier) >= EXHAUSTED_AFTER:
        return Decision("stop", f"the search space looks exhausted: the last {EXHAUSTED_AFTER} trials repeated "
                                f"finished jobs (results reused); stopping with {done} new trials")
    in_count = claims if target is None else claims[:target]
    waiting = [t for t in in_count if t.state == WAITING]
    running = [t for t in claims if t.state == RUNNING]
    room = searchable and not plan.recipe.search.quick and (target is None or len(claims) < target)
    if room and not waiting and skip_streak(trials, earlier) >= SKIPPED_AFTER:
        return Decision("stop", f"the last {SKIPPED_AFTER} candidates the sampler proposed were skipped before "
                                f"training (none could win or fit the budget); stopping with {done} trials")
    if plan.budget is not None and (waiting or room):
        lost = _full_baseline_lost(trials)
        if lost is not None:
            return Decision("fail", f"the full baseline failed (last: {lost}); search.budget counts in its cost")
        use = _budget_use(trials, plan.budget, running, waiting[0] if waiting else None,
                          plan.recipe.export.verify_pairs, predictor(plan.recipe, plan.dataset, trials))
        if use is not None and use.overruns:
            if running:
                return Decision("wait")  # the running trials may cost less than estimated
            if waiting and (len(waiting) > 1 or room):
                return Decision("ask")  # the queued head is skipped (sttune.tuning.study): a cheaper one may fit
            unit = use.limit / plan.budget
            return Decision("stop", f"budget reached: {use.committed / unit:.2f} of {plan.budget:g} baselines spent, "
                                    f"{use.reserve / unit:.2f} kept for the export's re-timing, and the next trial "
                                    f"could take {use.estimate / unit:.2f} more; stopping with {done} trials")
    if waiting or room:
        return Decision("ask")
    if running:
        return Decision("wait")  # another worker's trial may still fail stale and need a retry
    return Decision("stop")  # nothing left to vary (no search space): the baselines are the whole search


def within_trial_count(study: optuna.Study, trial_id: int, target: int | None) -> bool:
    """Whether the trial ranks among the first ``target`` claims (``search.trials``; None: no count)."""
    if target is None:
        return True
    ids = [t._trial_id for t in _claims(study.get_trials(deepcopy=False))]
    return trial_id in ids and ids.index(trial_id) < target


def _next_move(study: optuna.Study, plan: StudyPlan, searchable: bool, earlier: Collection[int] = ()) -> str:
    """'ask', 'wait' (others hold the remaining slots), 'stop' or 'fail' (see :func:`decide`)."""
    return decide(study.get_trials(deepcopy=False), plan, searchable, earlier).move


def fits_budget(study: optuna.Study, trial: optuna.Trial, budget: float | None, verify_pairs: int | None = None,
                predict: Predict | None = None) -> bool:
    """Whether the asked trial fits ``search.budget`` after the running trials created before it
    (two workers asked for the last room at once: the later one gives its trial back); with its
    job stored (``sttune.job``), at its predicted charge where ``predict`` gives one."""
    if budget is None:
        return True
    trials = study.get_trials(deepcopy=False)
    before = [t for t in _claims(trials) if t.state == RUNNING and t._trial_id < trial._trial_id]
    this = next(t for t in trials if t._trial_id == trial._trial_id)
    use = _budget_use(trials, budget, before, this, verify_pairs, predict)
    return use is None or not use.overruns
