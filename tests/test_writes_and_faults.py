"""Writes that cannot hurt and the machine's faults as one line (sttune.files), journal salvage,
checked cache entries and save folders: unit tests with the faults monkeypatched (a full disk, a
read-only mount, permission), where tests/test_hostile.py drives the public surfaces."""

from __future__ import annotations

import errno
import json
import os
import signal
import threading
from pathlib import Path

import pytest

from sttune.errors import SttuneError
from sttune.files import (
    FileSystemError,
    WriteError,
    atomic_path,
    check_file,
    create_exclusive,
    fault,
    kind,
    unwritable,
    write_atomic,
)


def refused(call, *fragments: str, error: type[Exception] = SttuneError) -> str:
    with pytest.raises(error) as caught:
        call()
    line = caught.value.one_line()
    assert "\n" not in line and len(line) <= 600, line
    for fragment in fragments:
        assert fragment in line, line
    return line


# --- what a path is -------------------------------------------------------------------------


def test_kind_names_what_is_there(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "file").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "file")
    assert kind(tmp_path / "pipe") == "FIFO (named pipe)" and kind("/dev/null") == "character device"
    assert kind(tmp_path) == "folder" and kind(tmp_path / "file") == "file" and kind(tmp_path / "none") is None
    assert kind(tmp_path / "link") == "file" and kind(tmp_path / "link", follow=False) == "symbolic link"
    assert kind(tmp_path / "file" / "below") is None  # a file in the way: nothing there
    refused(lambda: kind(tmp_path / ("x" * 300)), "a name in the path is too long for the file system",
            error=FileSystemError)
    refused(lambda: kind("a\x00b"), "contains a NUL character", error=FileSystemError)


def test_check_file_says_what_is_there_instead_of_not_found(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    refused(lambda: check_file(tmp_path / "pipe", "recipe file"), "is a FIFO (named pipe), not a file")
    refused(lambda: check_file(tmp_path, "recipe file"), "is a folder, not a file")
    refused(lambda: check_file(tmp_path / "none", "recipe file"), "does not exist")


@pytest.mark.parametrize(("code", "reason"), [
    (errno.ENOSPC, "no space left on the device"), (errno.EROFS, "the storage is read-only"),
    (errno.EACCES, "permission denied"), (errno.ENAMETOOLONG, "too long for the file system"),
    (errno.EDQUOT, "quota"), (errno.EIO, "input/output error"), (12345, "strange"),
])
def test_a_fault_is_one_line_with_the_reason_in_words(code, reason):
    line = fault(OSError(code, "strange", "/x/y"), "write").one_line()
    assert line.startswith("cannot write /x/y: ") and reason in line and "\n" not in line


# --- atomic writes --------------------------------------------------------------------------


def test_a_link_is_never_written_through_nor_replaced(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("mine")
    (tmp_path / "best.json").symlink_to(victim)
    refused(lambda: write_atomic(tmp_path / "best.json", "new"), "is a symbolic link", error=WriteError)
    assert victim.read_text() == "mine" and (tmp_path / "best.json").is_symlink()


def test_a_fifo_or_a_folder_in_the_way_is_refused(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "dir").mkdir()
    refused(lambda: write_atomic(tmp_path / "pipe", "x"), "it is a FIFO (named pipe)", error=WriteError)
    refused(lambda: write_atomic(tmp_path / "dir", "x"), "a folder is in the way", error=WriteError)


@pytest.mark.parametrize(("code", "where", "reason"), [
    (errno.ENOSPC, "replace", "no space left on the device"), (errno.EROFS, "open", "the storage is read-only"),
    (errno.EACCES, "open", "permission denied"), (errno.ENOSPC, "open", "no space left"),
])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch, code, where, reason):
    target = tmp_path / "best.json"
    target.write_text("old")
    real = getattr(os, where)

    def failing(*args, **kwargs):
        if where == "open" and not args[1] & os.O_CREAT:
            return real(*args, **kwargs)
        raise OSError(code, os.strerror(code), str(args[0]))

    monkeypatch.setattr(os, where, failing)
    refused(lambda: write_atomic(target, "new"), f"cannot write {target}: {reason}", error=WriteError)
    monkeypatch.undo()
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["best.json"]


def test_threads_writing_one_file_never_share_a_temporary_name(tmp_path):
    errors = []

    def writer(text):
        try:
            for _ in range(100):
                write_atomic(tmp_path / "x.json", text)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(c * 500,)) for c in "abc"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and (tmp_path / "x.json").read_text() in ("a" * 500, "b" * 500, "c" * 500)
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_a_name_near_the_limit_still_gets_a_temporary_file(tmp_path):
    target = tmp_path / ("n" * 250)
    write_atomic(target, b"bytes")
    assert target.read_bytes() == b"bytes"
    with atomic_path(tmp_path / "plot.png") as tmp:
        tmp.write_bytes(b"png")
    assert (tmp_path / "plot.png").read_bytes() == b"png"


def test_create_exclusive_never_overwrites(tmp_path):
    first, second = create_exclusive(tmp_path / "log", b"1"), create_exclusive(tmp_path / "log", b"2")
    assert first != second and first.read_bytes() == b"1" and second.read_bytes() == b"2"


def test_unwritable_says_why(tmp_path, monkeypatch):
    assert unwritable(tmp_path / "new" / "deeper") is None
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert unwritable(tmp_path) == "permission denied"

    class ReadOnly:
        f_flag = os.ST_RDONLY

    monkeypatch.setattr(os, "statvfs", lambda path: ReadOnly())
    assert unwritable(tmp_path / "new") == "the storage is read-only"


# --- the journal ----------------------------------------------------------------------------


def _journal(path: Path, trials: int = 4) -> list[bytes]:
    import optuna

    from sttune.tuning.storage import storage_for

    study = optuna.create_study(storage=storage_for(str(path), path.parent), study_name="s", directions=["minimize"])
    for x in range(trials):
        trial = study.ask()
        trial.set_user_attr("note", x)
        study.tell(trial, float(x))
    return path.read_bytes().splitlines(keepends=True)


def _values(path: Path) -> list:
    import optuna

    from sttune.tuning.storage import storage_for

    return [t.value for t in optuna.load_study(study_name="s", storage=storage_for(str(path), path.parent, False)).trials]


def test_a_damaged_line_in_the_middle_keeps_every_other_record(tmp_path, capsys):
    path = tmp_path / "study.journal"
    lines = _journal(path)
    i = next(k for k, line in enumerate(lines) if b'"note"' in line)
    lines[i] = b"\x00garbage\n"
    path.write_bytes(b"".join(lines))
    assert _values(path) == [0.0, 1.0, 2.0, 3.0]
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and f"(line {i + 1};" in notes[0] and f"all {len(lines) - 1} intact records are kept" in notes[0], notes
    kept = path.read_bytes()
    assert all(line in kept for k, line in enumerate(lines) if k != i)
    assert [p.read_bytes() for p in tmp_path.glob("study.journal.damaged-*")] == [b"\x00garbage\n"]


def test_a_damaged_creation_record_stands_as_a_failed_trial(tmp_path, capsys):
    path = tmp_path / "study.journal"
    lines = _journal(path)
    i = [k for k, line in enumerate(lines) if b'"op_code":4' in line][1]
    lines[i] = lines[i][:-20] + b"\xff\xff\n"
    path.write_bytes(b"".join(lines))
    assert _values(path) == [0.0, None, 2.0, 3.0]  # trial 1 failed; trials 2 and 3 keep their own values
    assert "placeholder" in capsys.readouterr().err


def test_a_partial_record_merged_with_the_next_keeps_the_whole_one(tmp_path):
    from sttune.tuning.storage import salvage_journal

    record = b'{"op_code":8,"worker_id":"w","trial_id":0,"user_attr":{"a":1}}\n'
    out = salvage_journal(b'{"op_code":5,"worker_id":"dead","tr' + record + record)
    assert out.lines == [record, record] and out.damaged == [(1, b'{"op_code":5,"worker_id":"dead","tr\n')]


def test_a_journal_that_cannot_be_repaired_is_read_around(tmp_path, monkeypatch, capsys):
    import sttune.tuning.storage as storage

    path = tmp_path / "study.journal"
    lines = _journal(path)
    lines[next(k for k, line in enumerate(lines) if b'"note"' in line)] = b"garbage\n"
    path.write_bytes(b"".join(lines))

    def read_only(path):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(storage, "repair_journal", read_only)
    assert _values(path) == [0.0, 1.0, 2.0, 3.0]
    assert "cannot be repaired here" in capsys.readouterr().err and b"garbage" in path.read_bytes()
    refused(lambda: storage.storage_for(str(path), tmp_path), "read-only", error=storage.StorageError)


def test_a_fifo_journal_is_named_not_opened(tmp_path):
    from sttune.tuning.storage import StorageError, storage_for

    os.mkfifo(tmp_path / "s.journal")

    def hung(signum, frame):
        raise AssertionError("opened the FIFO: blocked")

    signal.signal(signal.SIGALRM, hung)
    signal.alarm(10)
    try:
        for create in (True, False):
            refused(lambda c=create: storage_for(str(tmp_path / "s.journal"), tmp_path, c), "is a FIFO (named pipe)",
                    error=StorageError)
    finally:
        signal.alarm(0)


# --- caches ---------------------------------------------------------------------------------


def test_a_changed_cache_entry_raises_damaged_and_is_replaced(tmp_path, capsys):
    import numpy as np

    from helpers import ring_series
    from sttune.data import protocol
    from sttune.recipe.settings import Protocol

    series = ring_series(300)
    first = protocol.build_data(series, Protocol(), cache_dir=tmp_path)
    entry = next(tmp_path.glob("prepared/v2/*"))
    np.save(entry / "target.npy", np.load(entry / "target.npy") * 2)
    with pytest.raises(protocol.DamagedEntry, match="target.npy does not match its checksum"):
        protocol.load_arrays(tmp_path, first.key)
    damaged = protocol.ARRAYS_COUNTS["damaged"]
    again = protocol.build_data(series, Protocol(), cache_dir=tmp_path)
    assert protocol.ARRAYS_COUNTS["damaged"] == damaged + 1 and "is damaged or was changed" in capsys.readouterr().err
    assert protocol.load_arrays(tmp_path, first.key) is not None and again.target_mean == first.target_mean
    meta = json.loads((entry / "meta.json").read_text())
    meta["std"] *= 2
    (entry / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(protocol.DamagedEntry, match="meta.json does not match its checksum"):
        protocol.load_arrays(tmp_path, first.key)


def test_a_distilled_set_that_changed_is_rebuilt(tmp_path, capsys):
    import torch

    from sttune.strategies.stemdist import cache

    path = tmp_path / "stemdist" / "k.pt"
    cache.save(path, {"x": torch.ones(3)})
    assert torch.equal(cache.load(path, torch.device("cpu"))["x"], torch.ones(3))
    torch.save({"x": torch.zeros(3)}, path)
    assert cache.load(path, torch.device("cpu")) is None and "does not match its checksum" in capsys.readouterr().err
    path.with_name("k.pt.sha256").unlink()
    assert cache.load(path, torch.device("cpu")) is None and capsys.readouterr().err == ""  # an old entry: rebuilt


# --- save folders ---------------------------------------------------------------------------


def test_a_save_goes_only_where_nothing_of_the_users_is(tmp_path):
    from sttune.interop.saved import SavedModelError, check_save_target

    check_save_target(tmp_path / "new")
    (tmp_path / "empty").mkdir()
    check_save_target(tmp_path / "empty")
    legacy = tmp_path / "legacy"  # a format-1 save: its own files only
    (legacy / "strategies").mkdir(parents=True)
    (legacy / "model.json").write_text(json.dumps({"format": 1, "sttune_version": "0.1"}))
    (legacy / "model.pt").write_bytes(b"x")
    (legacy / "recipe.yaml").write_text("# saved by sttune 0.1; replay: ...\nname: x\n")
    (legacy / "strategies" / "dynst.json").write_text("{}")
    check_save_target(legacy)
    (legacy / "recipe.yaml").write_text("# my recipe\nname: x\n")
    refused(lambda: check_save_target(legacy), "holds files sttune did not save there (recipe.yaml)", error=SavedModelError)
    (tmp_path / "link").symlink_to(tmp_path / "empty")
    refused(lambda: check_save_target(tmp_path / "link"), "is a symbolic link", error=SavedModelError)


# --- the use cases --------------------------------------------------------------------------


def test_a_full_disk_mid_search_says_the_finished_trials_are_kept(tmp_path, monkeypatch):
    import sttune.tuning.runs as runs
    from sttune.python_api import SearchPlan, SearchStopped, run_search

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "runs/x/study.journal")

    monkeypatch.setattr(runs, "search_run", full)
    plan = SearchPlan.__new__(SearchPlan)
    object.__setattr__(plan, "storage_label", "runs/x/study.journal")
    for name, value in (("run", None), ("loaded", None), ("trials", 3), ("timeout_minutes", None), ("workers", 1),
                        ("data_notes", ()), ("worker_index", 0), ("joining", False)):
        object.__setattr__(plan, name, value)
    monkeypatch.setattr(SearchPlan, "loaded", property(lambda self: type("L", (), {"cache_dir": lambda s: tmp_path})()),
                        raising=False)
    refused(lambda: run_search(plan), "the search stopped: cannot write runs/x/study.journal: no space left",
            "the trials that finished are kept in runs/x/study.journal", "then run the same command again to resume",
            error=SearchStopped)


def test_a_machine_fault_in_training_is_not_a_plugins_fault(tmp_path):
    from sttune.python_api import TrainFailed, guarded

    def full():
        raise OSError(errno.ENOSPC, "No space left on device", "/cache/x")

    def plugin():
        raise FileNotFoundError(errno.ENOENT, "No such file", "plugin-data.bin")

    assert "plugin" not in refused(lambda: guarded(full, tmp_path), "no space left", error=FileSystemError)
    refused(lambda: guarded(plugin, tmp_path), "a plugin hook raised", error=TrainFailed)


def test_a_linked_journal_is_repaired_where_it_lives_and_stays_linked(tmp_path):
    real = tmp_path / "elsewhere" / "study.journal"
    real.parent.mkdir()
    lines = _journal(real)
    lines[2] = b"garbage\n"
    real.write_bytes(b"".join(lines))
    link = tmp_path / "run" / "study.journal"
    link.parent.mkdir()
    link.symlink_to(real)
    assert len(_values(link)) == 4
    assert link.is_symlink() and b"garbage" not in real.read_bytes() and len(real.read_bytes().splitlines()) == len(lines) - 1
