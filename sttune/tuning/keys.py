"""Every key sttune stores on an Optuna study or trial (user attrs), in one place.

The values are stored in studies (journals, databases) and read back by later versions: never
change one. A key added here only ever goes on; a reader of an older study finds it absent.
"""

from __future__ import annotations

# --- study user attrs ---
RECIPE = "sttune.recipe"  # the whole recipe at the study's creation (older studies have only this)
IDENTITY = "sttune.identity"  # identity() of the recipe that created the study: what a resume must not change
DATASET = "sttune.dataset"  # the dataset label the study searches
READY = "sttune.ready"  # the baselines are enqueued: joining workers may start
RECOMMENDATIONS = "sttune.recommendations"  # the recommended trials were enqueued (once per study)
SHORTEST = "sttune.shortest_within"  # study attr: the shortest ladder fraction within the tolerance (search.shorten)
NAIVE = "sttune.naive"  # the dataset's naive forecasts (NaiveForecasts.to_dict())
VERIFIED = "sttune.verified"  # speed-ups an export re-timed: {"<trial>/<baseline>/<pairs>": Verified dict}

# --- trial user attrs ---
ROLE = "sttune.role"  # "baseline", or "search" (absent on a searched trial)
FRACTION = "sttune.budget"  # a baseline trial's fraction of train.epochs (1.0: the full baseline)
RECOMMENDED = "sttune.recommended"  # which recommendation a trial runs: "dynst#1" (its first), "dynst+st_prune"
JOB = "sttune.job"  # the trial's whole fixed job (Job in plain form)
RESULT = "sttune.result"  # the trial's TrainResult (TrainResult.to_plain)
REASON = "sttune.fail_reason"  # why the trial failed (one line: "interrupted", "stale: ...", an OOM)
TRACEBACK = "sttune.traceback"  # the failure's traceback, its last 4000 characters
STOPPED_VALUES = "sttune.stopped_values"  # objective values when early stopping ended the trial (PRUNED)
REUSED = "sttune.reused_from"  # the trial whose result this one took (search.reuse_results)
SKIPPED = "sttune.skipped"  # why a sampled trial was not trained (sttune.tuning.predict): told PRUNED, cost nothing
DERIVED = "sttune.derived_from"  # a ladder rung read off this full baseline's curve (search.ladder: derived)
WORKER = "sttune.worker"  # which host, process, worker index and CUDA devices ran the trial
OOM = "sttune.oom"  # the trial ran out of memory (told COMPLETE, infeasible)
HEARTBEAT = "sttune.heartbeat"  # time.time() of the running trial's last heartbeat
RETRY_OF = "sttune.retry_of"  # the number of the failed (stale or interrupted) trial this one retries
RUNG_PREFIX = "sttune.rung."  # + epoch count → [best val MAE, projected device seconds]
# + "<strategy>.<index>" → [val MAE at a preparation checkpoint, projected charged seconds]
PREPARE_RUNG_PREFIX = "sttune.rung.prepare."
STOPPED_CHECKPOINT = "sttune.stopped_checkpoint"  # the preparation checkpoint point the trial stopped at

# --- trial constraints (Optuna's set_constraint) that only the sampler reads: records.feasible ignores them
STEER_PREFIX = "sampler."
STEER_CONSTRAINT = STEER_PREFIX + "tolerance"  # val MAE over the full baseline's - 1 - export.tolerance

# --- flat trial user attrs: plain numbers and a label that optuna-dashboard can sort and filter by
# (the JSON attrs above keep everything; these repeat a few figures of it, set when a trial is told)
FLAT_STRATEGY = "strategy"  # "baseline", "baseline 50%", "plain", or the strategies joined by "+"
FLAT_VAL_MAE_CHANGE = "val_mae_change"  # val MAE over the full baseline's, minus 1 (0.012 = +1.2%)
FLAT_SPEEDUP = "speedup"  # the full baseline's cost seconds over the trial's, as measured in the search
FLAT_WORK_FRACTION = "work_fraction"  # the trial's charged work over the full baseline's


def stored_recipe(attrs: dict) -> dict | None:
    """The plain recipe a study stored at its creation; None without one."""
    return attrs[RECIPE] if isinstance(attrs.get(RECIPE), dict) else None
