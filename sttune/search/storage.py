"""Open Optuna studies on the storage a recipe names (default: a journal file in the run)."""

from __future__ import annotations

from pathlib import Path

import optuna

from sttune.errors import SttuneError

JOURNAL_FILE = "study.journal"


class StorageError(SttuneError):
    """The study storage cannot be opened."""


def storage_for(url: str | None, run_dir: Path, create: bool = True) -> optuna.storages.BaseStorage | str:
    """A journal file (default, or a path ending .journal / journal:PATH) or an RDB URL.

    With ``create=False`` a missing journal file is an error instead of a new, empty study.
    """
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    if url is None or url.endswith(".journal") or url.startswith("journal:"):
        path = run_dir / JOURNAL_FILE if url is None else Path(url.removeprefix("journal:"))
        if not create and not path.is_file():
            raise StorageError(f"no study found: {path} does not exist", "run `sttune search` first")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return JournalStorage(JournalFileBackend(str(path)))
        except OSError as exc:
            raise StorageError(f"cannot open the journal file {path}: {exc.strerror or exc}",
                               "choose a writable run folder (--run-dir) or search.storage") from None
    if "://" not in url:
        raise StorageError(
            f"storage '{url}' is neither a journal file nor a database URL",
            "use e.g. runs/x/study.journal, sqlite:///study.db or postgresql://user@host/db",
        )
    return url


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
        if type(exc).__module__.split(".")[0] in ("sqlalchemy", "psycopg2", "psycopg"):
            first = str(exc).strip().splitlines()[0]
            raise StorageError(f"cannot reach the study storage: {first}",
                               "check search.storage (URL, server, credentials)") from None
        raise


def make_sampler(kind: str, seed: int, n_objectives: int) -> optuna.samplers.BaseSampler:
    """TPE (default), NSGA-II or GP, seeded."""
    if kind == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=20)
    if kind == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=5)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=5, multivariate=True, group=True)
