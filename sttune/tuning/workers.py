"""``sttune search --workers N``: N worker processes on one host sharing one study storage.

The parent sets every study up first (metric names, recipe, baselines enqueued once, the
``sttune.ready`` mark), then starts the workers (``spawn`` context). Each worker runs
:func:`sttune.tuning.study.search_study` with its own sampler seed (``search.seed + index``) and
never enqueues baselines; the claim counting in accounting.py makes the workers run exactly
``search.trials`` trials together. With several CUDA devices each worker sees one of them
(``CUDA_VISIBLE_DEVICES``, round-robin). The parent prints finished trials as they appear in
the storage and waits for the workers.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from sttune.errors import SttuneError
from sttune.tuning import records as rec
from sttune.tuning.events import NullEvents, SearchEvents
from sttune.tuning.keys import RESULT
from sttune.tuning.storage import search_storage

if TYPE_CHECKING:  # the study modules load torch: a worker sets CUDA_VISIBLE_DEVICES before it imports them
    from sttune.tuning.setup import StudyPlan


class WorkerError(SttuneError):
    """A worker process failed."""


def cuda_device_count() -> int:
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001
        return 0


def device_envs(workers: int, device_count: int, visible: str | None = None) -> list[dict[str, str]]:
    """One environment override per worker: with several CUDA devices, one device each (round-robin).

    ``visible`` is the parent's CUDA_VISIBLE_DEVICES; its entries are what gets handed out.
    """
    if device_count <= 1:
        return [{} for _ in range(workers)]
    ids = [d.strip() for d in visible.split(",") if d.strip()] if visible else [str(i) for i in range(device_count)]
    ids = ids[:device_count]
    return [{"CUDA_VISIBLE_DEVICES": ids[i % len(ids)]} for i in range(workers)]


@dataclass(frozen=True)
class WorkerSpec:
    plans: list[StudyPlan]  # the parent's, without their storage: each worker opens its own
    run_dir: Path
    index: int
    isolation: str
    env: dict[str, str]


def worker_main(spec: WorkerSpec) -> None:
    """A worker process: run every dataset's study until it is full."""
    os.environ.update(spec.env)
    from sttune.tuning.study import FailureStreak, search_study  # after CUDA_VISIBLE_DEVICES is set: it loads torch

    try:
        storage = search_storage(spec.plans[0].recipe.search, spec.run_dir) if spec.plans else None
        for plan in spec.plans:
            search_study(replace(plan, storage=storage, worker_index=spec.index, sets_up=False, isolation=spec.isolation),
                      NullEvents())  # the parent reports trials from the storage
    except KeyboardInterrupt:
        sys.exit(130)
    except FailureStreak:
        sys.exit(2)  # the parent reads the streak from the study and says it once
    except SttuneError as exc:
        sys.stderr.write(f"error: worker {spec.index}: {exc.one_line()}\n")
        sys.exit(2)


def search_with_workers(plans: list[StudyPlan], run_dir: Path, events: SearchEvents, workers: int, isolation: str) -> None:
    """Set up every plan's study (baselines once), then run ``workers`` processes on them all.

    ``plans`` are the parent's (worker 0, setting up); ``run_dir`` is the run folder (where the
    default journal storage lives), from which each worker opens the storage again."""
    from sttune.tuning.accounting import count_done, queued_again, retried_numbers
    from sttune.tuning.setup import open_plan_study

    studies = [open_plan_study(plan) for plan in plans]  # sets them up: baselines once
    earlier = [frozenset(t.number for t in s.get_trials(deepcopy=False) if t.state.is_finished()) for s in studies]
    total = plans[0].trials if plans else None
    envs = device_envs(workers, cuda_device_count(), os.environ.get("CUDA_VISIBLE_DEVICES"))
    if envs[0]:
        events.notice(f"{workers} workers on {len({e['CUDA_VISIBLE_DEVICES'] for e in envs})} CUDA devices: "
                      + ", ".join(f"worker {i} → {e['CUDA_VISIBLE_DEVICES']}" for i, e in enumerate(envs)))
    ctx = mp.get_context("spawn")
    procs = []
    for i in range(workers):
        spec = WorkerSpec([replace(p, storage=None) for p in plans], run_dir, i, isolation, envs[i])
        proc = ctx.Process(target=worker_main, args=(spec,), name=f"sttune-worker-{i}")
        proc.start()
        procs.append(proc)
    seen: set[tuple[int, int]] = set()
    current = [-1]

    def report() -> None:
        for k, study in enumerate(studies):
            trials_k = study.get_trials(deepcopy=False)
            fresh = [t for t in trials_k if t.state.is_finished() and (k, t.number) not in seen]
            if fresh and current[0] != k:
                current[0] = k
                done = count_done(trials_k) - len(fresh)
                events.study_started(rec.dataset_label(study), max(done, 0), total)
            retried = retried_numbers(trials_k)
            for t in sorted(fresh, key=lambda t: t.datetime_complete or t.datetime_start):
                seen.add((k, t.number))
                if queued_again(t, retried):
                    continue  # its retry will report the result
                record = rec.read_trial(t)
                events.trial_finished(record if RESULT in t.user_attrs else _as_failed(record))

    for study in studies:  # what earlier runs finished is not news
        seen.update((studies.index(study), t.number) for t in study.get_trials(deepcopy=False) if t.state.is_finished())
    try:
        while any(p.is_alive() for p in procs):
            for p in procs:
                p.join(timeout=1.0 / len(procs))
            report()
    except KeyboardInterrupt:
        for p in procs:  # they got the same SIGINT: each fails and re-queues its running trial
            p.join(timeout=30)
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
        raise
    report()
    _after_the_pool(plans, studies, earlier, events)
    bad = [(i, p.exitcode) for i, p in enumerate(procs) if p.exitcode != 0]
    complete = total is None or all(count_done(s.get_trials(deepcopy=False)) >= total for s in studies)
    if bad and not complete:
        what = ", ".join(f"worker {i} {_describe(code)}" for i, code in bad)
        raise WorkerError(f"{len(bad)} of {workers} workers failed ({what}); finished trials are kept",
                          "fix the cause above and re-run the same command to resume")
    if bad:
        events.notice(f"note: {', '.join(f'worker {i} {_describe(code)}' for i, code in bad)}; "
                      "the other workers finished the search")


def _after_the_pool(plans: list[StudyPlan], studies: list, earlier: list[frozenset[int]], events: SearchEvents) -> None:
    """What the workers (whose events display nothing) would have said: a failure streak, once,
    as the error; why a study stopped early (budget, an exhausted space), as notices."""
    from sttune.tuning.accounting import decide
    from sttune.tuning.space import has_search_space
    from sttune.tuning.study import FIX_HINT, FailureStreak

    for plan, study, before in zip(plans, studies, earlier):
        decision = decide(study.get_trials(deepcopy=False), plan, has_search_space(plan.recipe), before)
        if decision.move == "fail":
            raise FailureStreak(decision.note or "", FIX_HINT)
        if decision.move == "stop" and decision.note:
            events.notice(f"{rec.dataset_label(study)}: {decision.note}")


def _describe(code: int | None) -> str:
    if code is not None and code < 0:
        import signal

        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _as_failed(record: rec.TrialRecord) -> rec.TrialRecord:
    return replace(record, state="FAIL") if record.state != "FAIL" else record
