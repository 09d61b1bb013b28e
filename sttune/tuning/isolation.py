"""Run one trial's job in a child process, so a crash fails the trial and not the search.

The child (``spawn`` context: a fresh interpreter, no inherited CUDA or thread state; it
receives the parent's ``sys.path``, so plugins found through extra path entries are found
again) loads the data, trains with :func:`sttune.training.jobs.train_job`, and talks to the parent
over a pipe:

- ``("ready",)`` once the data is loaded: the trial timeout counts from here;
- ``("epoch", record)`` after every epoch and ``("prepare", checkpoint)`` at every preparation
  checkpoint (only when the parent's listener wants them); the parent answers ``None`` (go on)
  or a reason (early stopping at a rung), so successive halving works exactly as inline;
- ``("prepare_start", strategy)`` and ``("stop", reason)``: told, not answered;
- ``("result", TrainResult dict)``, ``("error", kind, message, traceback)`` or
  ``("interrupted",)``.

The parent watches the exit code (negative = killed by a signal: SIGSEGV is a segmentation
fault, SIGKILL most often the kernel's out-of-memory killer), the timeout (``hang``), and
classifies exceptions (MemoryError, torch.OutOfMemoryError, "can't allocate memory": out of
memory). Everything ends as :class:`TrialCrash` with a one-line reason.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sttune.training.listener import TrainListener, listens_to_prepare
from sttune.training.result import EpochRecord, PrepareCheckpoint, TrainResult
from sttune.training.trainer import StopTraining

STARTUP_SECONDS = 300.0  # start-up (imports, data loading) allowed on top of the trial timeout
OOM_EXIT = 86  # the child could not even report its MemoryError


class TrialCrash(Exception):
    """A trial's process failed: ``reason`` is the line stored as ``sttune.fail_reason``.

    ``partial`` is the last epoch reached, with the best val MAE so far.
    """

    def __init__(self, reason: str, oom: bool = False, partial: EpochRecord | None = None, tb: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.oom, self.partial, self.tb = reason, oom, partial, tb


def is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    if type(exc).__name__ == "OutOfMemoryError":  # torch.OutOfMemoryError (CUDA, MPS)
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def signal_reason(code: int) -> tuple[str, bool]:
    """(reason, out of memory?) for a child's negative exit code."""
    sig = -code
    if sig == signal.SIGSEGV:
        return "segmentation fault (the trial process got SIGSEGV)", False
    if sig == signal.SIGKILL:
        return "killed by SIGKILL (out of memory? the kernel's OOM killer sends it)", True
    if sig == signal.SIGBUS:
        return "bus error (the trial process got SIGBUS)", False
    if sig == signal.SIGABRT:
        return "aborted (the trial process got SIGABRT)", False
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = f"signal {sig}"
    return f"the trial process was killed by {name}", False


def _restore_memory_limit() -> None:
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass


def _watch_parent(ppid: int) -> None:
    """An orphaned child (its worker was killed) exits instead of training on for nobody."""
    while True:
        time.sleep(2.0)
        if os.getppid() != ppid:
            os._exit(3)


def _child(conn: Any, job_attr: dict[str, Any], cache_dir: str, ppid: int, listen: bool) -> None:
    threading.Thread(target=_watch_parent, args=(ppid,), daemon=True).start()
    try:
        from sttune.errors import SttuneError
        from sttune.registry.discovery import discover, load
        from sttune.training.jobs import load_data_cached, train_job
        from sttune.tuning import records as rec

        discover.cache_clear()
        load.cache_clear()
        job = rec.job_from_attr(job_attr)
        try:
            import torch

            import sttune.registry.build  # noqa: F401  (imports, plugins and data are start-up, not trial time)
            import sttune.training.trainer  # noqa: F401

            torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])  # its first use imports torch._dynamo (seconds)
            load("model", job.model_name)
            for name, _ in job.strategies:
                load("strategy", name)
            # the data's arrays come memory-mapped from the cache when an earlier trial wrote them
            load_data_cached(job.dataset, job.protocol, Path(cache_dir))
            conn.send(("ready",))

            result = train_job(job, Path(cache_dir), _Relay(conn, listen))
            conn.send(("result", result.to_plain()))
        except KeyboardInterrupt:
            conn.send(("interrupted",))
        except SttuneError as exc:
            conn.send(("error", "sttune", exc.one_line(), None))
        except BaseException as exc:  # noqa: BLE001  (reported to the parent, which fails the trial)
            oom = is_oom(exc)
            if oom:
                _restore_memory_limit()
            try:
                conn.send(("error", "oom" if oom else "exception", f"{type(exc).__name__}: {exc}",
                           traceback.format_exc()[-4000:]))
            except BaseException:  # noqa: BLE001
                os._exit(OOM_EXIT if oom else 1)
    except (BrokenPipeError, EOFError, ConnectionResetError):
        os._exit(3)  # the parent is gone
    finally:
        try:
            conn.close()
        except OSError:
            pass


class _Relay(TrainListener):
    """The child's listener: every event goes to the parent; a checkpoint or an epoch waits
    for the parent's answer (a reason raises StopTraining here, as inline)."""

    def __init__(self, conn: Any, listen: bool) -> None:
        self.conn, self.listen = conn, listen

    @property
    def wants_prepare_checkpoints(self) -> bool:
        return self.listen

    def on_prepare_start(self, strategy: str) -> None:
        self.conn.send(("prepare_start", strategy))

    def on_checkpoint(self, record: PrepareCheckpoint) -> None:
        self._ask("prepare", record)

    def on_epoch(self, record: EpochRecord) -> None:
        self._ask("epoch", record)

    def on_stop(self, reason: str) -> None:
        self.conn.send(("stop", reason))

    def _ask(self, kind: str, record: EpochRecord | PrepareCheckpoint) -> None:
        self.conn.send((kind, dataclasses.asdict(record)))
        reply = self.conn.recv()
        if reply is not None:
            raise StopTraining(reply)


def train_isolated(
    job: Any, cache_dir: Path, listener: TrainListener | None, timeout_minutes: float | None,
) -> TrainResult:
    """Train ``job`` in a child process; ``listener`` hears its events as if it ran here.
    Raises TrialCrash, KeyboardInterrupt or the listener's errors."""
    from sttune.tuning import records as rec

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    args = (child, rec.job_to_attr(job), str(cache_dir), os.getpid(), listens_to_prepare(listener))
    proc = ctx.Process(target=_child, args=args,
                       name="sttune-trial", daemon=True)
    proc.start()
    child.close()
    started = time.monotonic()
    limit = 60.0 * timeout_minutes if timeout_minutes else None
    deadline = time.monotonic() + limit + STARTUP_SECONDS if limit else None
    partial: EpochRecord | None = None
    try:
        while True:
            wait = 1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic()))
            message = None
            if parent.poll(wait):
                try:
                    message = parent.recv()
                except (EOFError, OSError):
                    message = ("gone",)
            if message is not None:
                kind = message[0]
                if kind == "ready":
                    if os.environ.get("STTUNE_DEBUG_ISOLATION"):
                        print(f"trial process ready after {time.monotonic() - started:.1f} s", flush=True)
                    if limit:
                        deadline = time.monotonic() + limit
                elif kind == "epoch":
                    record = EpochRecord(**message[1])
                    best = record.val_mae if partial is None else min(partial.val_mae, record.val_mae)
                    partial = dataclasses.replace(record, val_mae=best)  # best val MAE so far
                    parent.send(_forward(listener and listener.on_epoch, record))
                elif kind == "prepare":
                    parent.send(_forward(listener and listener.on_checkpoint, PrepareCheckpoint(**message[1])))
                elif kind == "prepare_start":
                    if listener is not None:
                        listener.on_prepare_start(message[1])
                elif kind == "stop":
                    if listener is not None:
                        listener.on_stop(message[1])
                elif kind == "result":
                    return TrainResult.from_plain(message[1])
                elif kind == "interrupted":
                    raise KeyboardInterrupt
                elif kind == "error":
                    _, what, text, tb = message
                    if what == "oom":
                        raise TrialCrash(f"out of memory: {text}", oom=True, partial=partial, tb=tb)
                    raise TrialCrash(text, partial=partial, tb=tb)
                else:  # the pipe closed: the child died
                    _exit_reason(proc, partial)
            elif not proc.is_alive():
                _exit_reason(proc, partial)
            if deadline is not None and time.monotonic() >= deadline:
                proc.kill()
                proc.join()
                raise TrialCrash(f"hang: exceeded {timeout_minutes:g} minutes (search.trial_timeout_minutes); killed",
                                 partial=partial)
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        parent.close()


def _forward(hear: Callable[[Any], None] | None, record: EpochRecord | PrepareCheckpoint) -> str | None:
    """The parent's listener on the child's record: None to go on, or why to stop."""
    if hear is None:
        return None
    try:
        hear(record)
    except StopTraining as exc:
        return str(exc) or "stopped"
    return None


def _exit_reason(proc: Any, partial: EpochRecord | None) -> None:
    proc.join(timeout=10)
    code = proc.exitcode
    if code is None:
        proc.kill()
        proc.join()
        code = proc.exitcode
    if code is not None and code < 0:
        reason, oom = signal_reason(code)
        raise TrialCrash(reason, oom=oom, partial=partial)
    if code == OOM_EXIT:
        raise TrialCrash("out of memory: the trial process could not even report it", oom=True, partial=partial)
    raise TrialCrash(f"the trial process exited with code {code} without a result", partial=partial)
