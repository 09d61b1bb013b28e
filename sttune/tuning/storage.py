"""Open Optuna studies on the storage a recipe names (default: a journal file in the run)."""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path

import optuna

from sttune.errors import SttuneError
from sttune.recipe.spec import SearchConfig

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
        if not create and not path.is_file():
            raise StorageError(f"no study found: {path} does not exist", "run `sttune search` first")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if create:  # a write follows: it must not land after a damaged line
                note = repair_journal(path)
                if note:
                    sys.stderr.write(f"note: {note}\n")
            return JournalStorage(JournalFileBackend(str(path)))
        except OSError as exc:
            raise StorageError(f"cannot open the journal file {path}: {exc.strerror or exc}",
                               "choose a writable run folder (--run-dir) or search.storage") from None
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
    """Cut a journal back to its last complete record, under the journal's own lock.

    A crash mid-write leaves a partial last line, and any garbage may be appended by hand;
    Optuna skips a damaged *last* line when reading, but a record appended after it makes
    the whole journal unreadable. The cut-off bytes are kept beside the journal; the note
    returned says what was dropped (None: the journal was intact)."""
    from optuna.storages.journal import JournalFileSymlinkLock

    if not path.is_file():
        return None
    lock = JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        data = path.read_bytes()
        good = _complete_prefix(data)
        if good == len(data):
            return None
        dropped = data[good:]
        kept = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        kept.write_bytes(dropped)
        with path.open("r+b") as f:
            f.truncate(good)
            os.fsync(f.fileno())
    finally:
        lock.release()
    lines, records = dropped.count(b"\n") + (not dropped.endswith(b"\n")), data[:good].count(b"\n")
    return (f"the journal {path} ended in {lines} damaged line(s) ({len(dropped)} bytes, e.g. from a crash "
            f"mid-write): cut off and kept in {kept.name}; the {records} complete records before them are intact")


def _complete_prefix(data: bytes) -> int:
    """Bytes of ``data`` that are whole journal records (JSON objects, one per line)."""
    good = 0
    for line in data.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break
        try:
            if not isinstance(json.loads(line), dict):
                break
        except ValueError:  # JSON or UTF-8 decoding
            break
        good += len(line)
    return good


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
