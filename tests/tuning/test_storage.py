"""sttune.tuning.storage: journal or RDB storage from a URL, one-line errors, redaction, samplers."""

from __future__ import annotations

import optuna
import pytest

from sttune.tuning.storage import (
    JOURNAL_FILE,
    StorageError,
    _redact,
    is_journal,
    make_sampler,
    open_study,
    rdb_storage,
    storage_for,
    storage_label,
    study_name,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.mark.parametrize(("url", "journal"), [(None, True), ("runs/x/study.journal", True), ("journal:/tmp/s.log", True),
                                              ("sqlite:///s.db", False), ("postgresql://u@h/db", False)])
def test_is_journal(url, journal):
    assert is_journal(url) is journal


def test_default_storage_is_a_journal_file_in_the_run_folder(tmp_path):
    storage = storage_for(None, tmp_path / "run")
    assert isinstance(storage, optuna.storages.JournalStorage)
    optuna.create_study(storage=storage, study_name="a")
    assert (tmp_path / "run" / JOURNAL_FILE).is_file()


@pytest.mark.parametrize("form", ["{p}", "journal:{p}"])
def test_a_journal_path_or_journal_prefix_names_the_file(tmp_path, form):
    path = tmp_path / "deep" / "my.journal"
    storage = storage_for(form.format(p=path), tmp_path / "ignored")
    optuna.create_study(storage=storage, study_name="a")
    assert path.is_file() and not (tmp_path / "ignored").exists()


def test_create_false_refuses_a_missing_journal_and_opens_an_existing_one(tmp_path):
    with pytest.raises(StorageError, match="no study found: .*study.journal does not exist"):
        storage_for(None, tmp_path / "run", create=False)
    assert not (tmp_path / "run").exists()  # nothing created
    (tmp_path / "run").mkdir()  # the folder alone is no study
    with pytest.raises(StorageError, match="no study found"):
        storage_for(None, tmp_path / "run", create=False)
    optuna.create_study(storage=storage_for(None, tmp_path / "run"), study_name="a")
    assert isinstance(storage_for(None, tmp_path / "run", create=False), optuna.storages.JournalStorage)


def test_a_journal_under_a_file_is_a_storage_error(tmp_path):
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(StorageError, match="cannot open the journal file") as info:
        storage_for(str(tmp_path / "a-file" / "study.journal"), tmp_path)
    assert "--run-dir" in info.value.hint


def test_neither_journal_nor_url_is_a_storage_error(tmp_path):
    with pytest.raises(StorageError, match="'mydb' is neither a journal file nor a database URL"):
        storage_for("mydb", tmp_path)


def test_an_unknown_scheme_is_named_with_the_password_hidden(tmp_path):
    with pytest.raises(StorageError) as info:
        storage_for("foo+bar://me:hunter2@host/db", tmp_path)
    assert "unknown scheme 'foo+bar'" in info.value.message
    assert "hunter2" not in info.value.one_line() and "me:***@host" in info.value.message


def test_sqlite_url_opens_an_rdb_storage(tmp_path):
    storage = storage_for(f"sqlite:///{tmp_path / 's.db'}", tmp_path)
    assert isinstance(storage, optuna.storages.RDBStorage)
    study = open_study(storage, "x", 2)
    assert open_study(storage, "x", 2, create=False).study_name == study.study_name


def test_an_unopenable_sqlite_database_is_one_line(tmp_path):
    with pytest.raises(StorageError, match="cannot open the study storage sqlite:///") as info:
        rdb_storage(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 's.db'}")
    assert "\n" not in info.value.one_line()


def test_a_missing_driver_names_what_to_install(tmp_path):
    with pytest.raises(StorageError) as info:
        rdb_storage("mysql://u:pw@127.0.0.1:1/db")  # neither mysqlclient nor pymysql is a test dependency
    assert "needs a database driver" in info.value.message and "pw@" not in info.value.message
    assert "pymysql or mysqlclient" in info.value.hint


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://user:secret@host:5432/db", "postgresql://user:***@host:5432/db"),
    ("postgresql://user:p%40ss@host/db", "postgresql://user:***@host/db"),
    ("postgresql://user@host/db", "postgresql://user@host/db"),
    ("sqlite:///a:b/c.db", "sqlite:///a:b/c.db"),
    ("postgresql://host:5432/db?user=me@corp", "postgresql://host:5432/db?user=me@corp"),  # no password here
])
def test_redact_hides_only_the_password(url, shown):
    assert _redact(url) == shown


def test_storage_label_and_study_name(tmp_path):
    assert storage_label(None, tmp_path) == str(tmp_path / JOURNAL_FILE)
    assert storage_label("postgresql://u:pw@h/db", tmp_path) == "postgresql://u:***@h/db"
    assert study_name("recipe", "PEMS08") == "recipe:PEMS08"


def test_open_study_creates_resumes_and_refuses_a_missing_name():
    storage = optuna.storages.InMemoryStorage()
    study = open_study(storage, "r:d", 3)
    assert study.directions == [optuna.study.StudyDirection.MINIMIZE] * 3
    study.enqueue_trial({})
    assert len(open_study(storage, "r:d", 3).trials) == 1  # load_if_exists
    with pytest.raises(StorageError, match="no study named 'other'"):
        open_study(storage, "other", 2, create=False)


@pytest.mark.parametrize(("kind", "cls"), [("random", optuna.samplers.RandomSampler), ("nsga2", optuna.samplers.NSGAIISampler),
                                           ("gp", optuna.samplers.GPSampler), ("tpe", optuna.samplers.TPESampler)])
def test_make_sampler(kind, cls):
    assert type(make_sampler(kind, 0, 2)) is cls


def test_samplers_are_seeded():
    def draws(seed):
        study = optuna.create_study(sampler=make_sampler("random", seed, 1))
        return [study.ask().suggest_float("x", 0, 1) for _ in range(3)]

    assert draws(1) == draws(1) != draws(2)


def _finished_journal(path):
    storage = storage_for(str(path), path.parent)
    study = optuna.create_study(storage=storage, study_name="s", directions=["minimize"])
    for x in (1.0, 2.0):
        study.tell(study.ask(), x)
    return path.read_bytes()


@pytest.mark.parametrize("damage", [b'{"op_code": 6, "trial_id": 1, "sta', b"garbage\n", b"\xff\xfe\n{\"ok\": 1}\n"],
                         ids=["cut-short", "garbage-line", "bad-bytes-then-a-record"])
def test_a_damaged_journal_is_cut_back_before_anything_is_appended(tmp_path, capsys, damage):
    path = tmp_path / "run" / JOURNAL_FILE
    intact = _finished_journal(path)
    path.write_bytes(intact + damage)
    study = optuna.load_study(study_name="s", storage=storage_for(str(path), path.parent))  # appends after the repair
    study.tell(study.ask(), 3.0)
    note = capsys.readouterr().err
    assert "damaged line(s)" in note and f"({len(damage)} bytes" in note and note.count("\n") == 1
    assert path.read_bytes().startswith(intact)
    kept = list(path.parent.glob(f"{JOURNAL_FILE}.damaged-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == damage  # what was dropped is kept
    reread = optuna.load_study(study_name="s", storage=storage_for(str(path), path.parent, create=False))
    assert [t.value for t in reread.trials] == [1.0, 2.0, 3.0]


def test_an_intact_journal_is_left_alone(tmp_path, capsys):
    path = tmp_path / JOURNAL_FILE
    intact = _finished_journal(path)
    storage_for(str(path), tmp_path)
    assert path.read_bytes() == intact and capsys.readouterr().err == ""
    assert not list(tmp_path.glob("*.damaged-*"))


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite+pysqlite:///:memory:",
                                 "sqlite:///file:x?mode=memory&uri=true"])
def test_a_storage_in_memory_is_refused(tmp_path, url):
    with pytest.raises(StorageError, match="keeps the study in memory"):
        storage_for(url, tmp_path)
