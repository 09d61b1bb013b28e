"""Open Optuna studies on the storage a recipe names (default: a journal file in the run)."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
import warnings
from pathlib import Path

import optuna
from optuna.storages.journal import BaseJournalBackend

from sttune.errors import SttuneError
from sttune.files import a, create_exclusive, fault, kind
from sttune.recipe.spec import SearchConfig
from sttune.tuning.keys import REASON

JOURNAL_FILE = "study.journal"


class StorageError(SttuneError):
    """The study storage cannot be opened."""


RDB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "oracle", "mssql")
DRIVERS = {"postgresql": "psycopg2-binary (pip install 'sttune[postgres]')", "postgres": "psycopg2-binary (pip install 'sttune[postgres]')",
           "mysql": "pymysql or mysqlclient", "mariadb": "pymysql or mysqlclient"}


def is_journal(url: str | None) -> bool:
    """A journal file: the default (None), a path ending .journal, or journal:PATH."""
    return url is None or url.endswith(".journal") or url.startswith("journal:")


def storage_for(
    url: str | None, run_dir: Path, create: bool = True, heartbeat: tuple[float, float] | None = None,
) -> optuna.storages.BaseStorage:
    """A journal file (default, or a path ending .journal / journal:PATH) or an RDB URL.

    With ``create=False`` a missing journal file is an error instead of a new, empty study.
    ``heartbeat`` = (interval, grace) seconds turns on Optuna's heartbeats for RDB storages
    (journal files get sttune's own, see :mod:`sttune.tuning.heartbeat`).
    """
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    if is_journal(url):
        path = run_dir / JOURNAL_FILE if url is None else Path(url.removeprefix("journal:"))
        found = kind(path)
        if found not in (None, "file"):  # a FIFO would block the first read forever
            raise StorageError(f"the journal {path} is {a(found)}, not a file", "point search.storage at a journal file")
        if not create and found is None:
            raise StorageError(f"no study found: {path} does not exist", "run `sttune search` first")
        try:
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
            # a write may follow (a trial, an export's verification): it must not land after a damaged line
            note = repair_journal(path)
            if note:
                sys.stderr.write(f"note: {note}\n")
            return JournalStorage(JournalFileBackend(str(path)))
        except OSError as exc:
            if not create and path.is_file():  # read-only storage: read around the damage, change nothing
                repaired = salvage_journal(path.read_bytes())
                if repaired.damaged:
                    sys.stderr.write(f"note: the journal {path} has {len(repaired.damaged)} damaged line(s) and cannot "
                                     f"be repaired here ({exc.strerror or exc}): read around them\n")
                return JournalStorage(SalvagedRecords(path, repaired.lines))
            raise fault(exc, "open the journal file", path, "choose a writable run folder (--run-dir) or search.storage",
                        error=StorageError) from None
    assert url is not None  # None is the default journal file
    if "://" not in url:
        raise StorageError(
            f"storage '{url}' is neither a journal file nor a database URL",
            "use e.g. runs/x/study.journal, sqlite:///study.db or postgresql://user@host/db",
        )
    if is_in_memory(url):
        raise StorageError(f"storage '{_redact(url)}' keeps the study in memory, where it is lost when the search ends",
                           "use a file: leave search.storage unset (a journal in the run folder) or sqlite:///study.db")
    return rdb_storage(url, heartbeat)


def is_in_memory(url: str) -> bool:
    """An SQLite URL without a file (``sqlite://``, ``sqlite:///:memory:``, ``mode=memory``):
    each process gets its own empty database, and the study dies with the search."""
    scheme, _, rest = url.partition("://")
    if scheme.split("+", 1)[0].lower() != "sqlite":
        return False
    database = rest.removeprefix("/").split("?", 1)[0]
    return database in ("", ":memory:") or "mode=memory" in rest


def repair_journal(path: Path) -> str | None:
    """Keep every intact record of a journal and set the damaged lines aside, under the
    journal's own lock.

    A crash mid-write leaves a partial last line (or one merged with the next worker's record),
    and disk faults or hand edits may damage any line. Optuna stops reading at a damaged line,
    and a record appended after one makes the whole journal unreadable; so the damaged lines
    are taken out (kept, byte for byte, in a ``.damaged-<time>`` file beside the journal) and
    every intact record stays, before and after them. A whole record recovered from a merged
    line is kept. Optuna numbers studies and trials by the order of their creation records:
    a damaged creation record is replaced by a placeholder (a failed trial saying why, or an
    empty study), so every later record still applies to its own trial. Returns the one-line
    note saying what was done (None: the journal was intact)."""
    from optuna.storages.journal import JournalFileSymlinkLock

    if not path.is_file():
        return None
    lock = JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        data = path.read_bytes()
        repaired = salvage_journal(data)
        if not repaired.damaged:
            return None
        side = create_exclusive(path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}"),
                                b"".join(line for _, line in repaired.damaged))
        text = b"".join(repaired.lines)
        if repaired.placeholders:
            text = text.replace(_SIDE_MARK, side.name.encode())
        real = path.resolve()  # a journal kept elsewhere through a link: repaired there, the link kept
        tmp = create_exclusive(real.with_name(f".{real.name[:32]}.repair-{os.getpid()}.tmp"), text)
        try:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            shutil.copymode(real, tmp)
            os.replace(tmp, real)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    finally:
        lock.release()
    return repaired.note(path, side.name)


_SIDE_MARK = b"<side file>"
OPS = range(0, 11)  # optuna.storages.journal JournalOperation values
CREATE_STUDY, CREATE_TRIAL = 0, 4


class Salvaged:
    """A journal's bytes sorted: the lines kept (intact records, recovered ones and placeholders)
    and the damaged ones (1-based line number, bytes)."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.damaged: list[tuple[int, bytes]] = []
        self.placeholders = 0
        self.trailing_only = True  # every damaged line is at the end (a crash mid-write)

    @property
    def records(self) -> int:
        return len(self.lines)

    def note(self, path: Path, side: str) -> str:
        lines, size = len(self.damaged), sum(len(b) for _, b in self.damaged)
        if self.trailing_only:
            return (f"the journal {path} ended in {lines} damaged line(s) ({size} bytes, e.g. from a crash "
                    f"mid-write): cut off and kept in {side}; the {self.records} complete records before them are intact")
        numbers = ", ".join(str(n) for n, _ in self.damaged[:5]) + (", ..." if lines > 5 else "")
        extra = (f"; {self.placeholders} damaged creation record(s) stand as failed placeholder trials or studies"
                 if self.placeholders else "")
        return (f"the journal {path} had {lines} damaged line(s) (line {numbers}; {size} bytes): skipped and kept in "
                f"{side}; all {self.records} intact records are kept{extra} (a trial whose last record was damaged "
                "runs again)")


def _record(line: bytes) -> dict | None:
    try:
        obj = json.loads(line)
    except ValueError:  # JSON or UTF-8 decoding
        return None
    op = obj.get("op_code") if isinstance(obj, dict) else None
    return obj if isinstance(op, int) and not isinstance(op, bool) and op in OPS else None


def _placeholder(line: bytes, study: int, serial: int) -> bytes | None:
    """A stand-in for a damaged creation record: optuna numbers studies and trials by the order
    of those records, so dropping one would shift every later record onto another trial."""
    op = re.search(rb'"op_code"\s*:\s*(\d+)', line)
    if op is None or int(op.group(1)) not in (CREATE_STUDY, CREATE_TRIAL):
        return None
    if int(op.group(1)) == CREATE_STUDY:
        record: dict = {"op_code": CREATE_STUDY, "worker_id": "sttune-repair",
                        "study_name": f"sttune-damaged-record-{serial}-{time.time_ns()}", "directions": [1]}
    else:
        found = re.search(rb'"study_id"\s*:\s*(\d+)', line)
        record = {"op_code": CREATE_TRIAL, "worker_id": "sttune-repair",
                  "study_id": int(found.group(1)) if found else study, "datetime_start": None,
                  "state": 3,  # FAIL
                  "user_attrs": {REASON: f"its journal record was damaged (kept in {_SIDE_MARK.decode()})"}}
    return (json.dumps(record, separators=(",", ":")) + "\n").encode()


def salvage_journal(data: bytes) -> Salvaged:
    """Sort a journal's lines (see :func:`repair_journal`); nothing is written."""
    out = Salvaged()
    *complete, tail = data.split(b"\n")
    study = 0
    for number, body in enumerate(complete, start=1):
        line = body + b"\n"
        record = _record(line)
        if record is None:  # a record after a partial one on the same line (a crash, then another worker)
            for start in (m.start() for m in re.finditer(rb'\{"op_code"', line) if m.start() > 0):
                record = _record(line[start:])
                if record is not None:
                    out.damaged.append((number, line[:start] + b"\n"))
                    line = line[start:]
                    break
        if record is None:
            out.damaged.append((number, line))
            stand_in = _placeholder(line, study, len(out.damaged))
            if stand_in is not None:
                out.lines.append(stand_in)
                out.placeholders += 1
            continue
        if out.damaged:
            out.trailing_only = False
        if record["op_code"] == CREATE_TRIAL and isinstance(record.get("study_id"), int):
            study = record["study_id"]
        out.lines.append(line)
    if tail:
        out.damaged.append((len(complete) + 1, tail))
    return out


class SalvagedRecords(BaseJournalBackend):
    """A damaged journal's intact records, read from memory where the journal cannot be repaired
    (read-only storage): commands that only read go on; a write is one line."""

    def __init__(self, path: Path, lines: list[bytes]) -> None:
        self.path = path
        self.logs = [json.loads(line) for line in lines]

    def read_logs(self, log_number_from: int) -> list[dict]:
        return self.logs[log_number_from:]

    def append_logs(self, logs: list[dict]) -> None:
        raise StorageError(f"cannot write the journal {self.path}: it is damaged and on storage sttune cannot write "
                           "(read around the damage)", "copy the run folder to writable storage and run the command there")


def search_storage(cfg: SearchConfig, run_dir: Path, create: bool = True) -> optuna.storages.BaseStorage:
    """The storage a recipe's ``search`` block names, with its heartbeat settings."""
    return storage_for(cfg.storage, run_dir, create, (cfg.heartbeat_seconds, cfg.stale_after_seconds))


def rdb_storage(url: str, heartbeat: tuple[float, float] | None = None) -> optuna.storages.RDBStorage:
    """An RDBStorage; unknown schemes, missing drivers and unreachable servers are one line."""
    scheme = url.split("://", 1)[0].lower()
    dialect = scheme.split("+", 1)[0]
    if dialect not in RDB_SCHEMES:
        raise StorageError(
            f"storage URL '{_redact(url)}' has an unknown scheme '{scheme}'",
            "use a journal file path, sqlite:///study.db, postgresql://user:pass@host/db or mysql://...",
        )
    kwargs: dict = {}
    if heartbeat is not None:
        from sttune.tuning.heartbeat import retry_stale

        interval, grace = heartbeat
        kwargs = {"heartbeat_interval": max(1, round(interval)), "grace_period": max(2, round(grace)),
                  "heartbeat_stale_trial_callback": retry_stale}
    engine_kwargs = None
    given = url
    if dialect in ("postgresql", "postgres"):
        url = _postgres_driver(url, scheme)
        engine_kwargs = {"connect_args": {"connect_timeout": 10}}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)
    except ImportError as exc:
        driver = DRIVERS.get(dialect, "its database driver")
        raise StorageError(f"the storage {_redact(given)} needs a database driver that is not installed ({exc})",
                           f"install {driver}") from None
    except Exception as exc:  # sqlalchemy / driver errors: unreachable server, bad credentials, bad URL
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        first = first.removeprefix("(psycopg2.OperationalError) ")
        raise StorageError(f"cannot open the study storage {_redact(given)}: {first}",
                           "check search.storage / --storage (URL, server running, credentials)") from None


def _postgres_driver(url: str, scheme: str) -> str:
    """``postgresql://`` means psycopg2 (the ``postgres`` extra), or psycopg 3 when that is what is installed."""
    import importlib.util

    rest = url.split("://", 1)[1]
    if "+" in scheme:
        return url
    if importlib.util.find_spec("psycopg2") is not None:
        return f"postgresql+psycopg2://{rest}"
    if importlib.util.find_spec("psycopg") is not None:
        return f"postgresql+psycopg://{rest}"
    raise StorageError(f"the storage {_redact(url)} needs the PostgreSQL driver psycopg2, which is not installed",
                       "pip install 'sttune[postgres]' (or psycopg2-binary)")


def _redact(url: str) -> str:
    """The URL without its password."""
    import re

    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def storage_label(url: str | None, run_dir: Path) -> str:
    return str(run_dir / JOURNAL_FILE) if url is None else _redact(url)


def study_name(recipe_name: str, dataset_label: str) -> str:
    return f"{recipe_name}:{dataset_label}"


def open_study(
    storage: optuna.storages.BaseStorage | str, name: str, n_objectives: int,
    sampler: optuna.samplers.BaseSampler | None = None, create: bool = True,
) -> optuna.Study:
    """Create or resume a minimise-all study; errors become one-line StorageErrors."""
    try:
        if create:
            return optuna.create_study(
                storage=storage, study_name=name, sampler=sampler,
                directions=["minimize"] * n_objectives, load_if_exists=True,
            )
        return optuna.load_study(study_name=name, storage=storage, sampler=sampler)
    except KeyError:
        raise StorageError(f"no study named '{name}' in that storage", "run `sttune search` first") from None
    except ValueError as exc:
        raise StorageError(f"cannot open study '{name}': {exc}", "check search.storage") from None
    except ImportError as exc:
        raise StorageError(f"the storage needs a missing driver: {exc}",
                           "install it, e.g. pip install psycopg2-binary for PostgreSQL") from None
    except Exception as exc:  # database drivers raise their own error types
        if type(exc).__module__.split(".")[0] in ("sqlalchemy", "psycopg2", "psycopg", "pymysql"):
            first = str(exc).strip().splitlines()[0]
            raise StorageError(f"cannot reach the study storage: {first}",
                               "check search.storage (URL, server, credentials)") from None
        raise


def make_sampler(kind: str, seed: int, n_objectives: int) -> optuna.samplers.BaseSampler:
    """TPE (default), NSGA-II, GP or random search, seeded."""
    if kind == "random":  # proposals ignore results: a reference, and the classic setting of ASHA
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=20)
    if kind == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=5)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=5, multivariate=True, group=True)
