"""Files and the machine: what a path is, writes that cannot hurt, and the operating system's
faults as one line.

Every file sttune writes goes through :func:`write_atomic` or :func:`atomic_path`: a temporary
file with a name of its own (``O_EXCL``: two threads or processes never share one, and a link
planted under that name is never followed) beside the target, renamed over it, so a reader sees
the old file or the new one. A target that is a symbolic link, a folder, a FIFO or a device is
refused, never written through. What the system refuses (permission, a full disk, a name too
long for the file system, read-only storage) becomes a :class:`FileSystemError` whose line
names the path, the reason in words and what to do (:func:`fault`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from sttune.errors import SttuneError

PATH_ECHO = 200  # characters of a path a line shows (a name too long for the system is longer)


class FileSystemError(SttuneError):
    """The machine refused a read or a write: permission, space, a name too long, read-only storage."""


class WriteError(FileSystemError):
    """sttune cannot write one of its files (a folder in the way, a link, a read-only disk)."""


E = TypeVar("E", bound=SttuneError)


# errno -> (the reason in words, what to do)
REASONS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space left on the device (the disk is full)", "free some space"),
    errno.EDQUOT: ("the disk quota is used up", "free some space"),
    errno.EROFS: ("the storage is read-only", "choose a folder on writable storage"),
    errno.EACCES: ("permission denied", "check the permissions, or choose a folder you may write to"),
    errno.EPERM: ("operation not permitted", "check the permissions, or choose a folder you may write to"),
    errno.ENAMETOOLONG: ("a name in the path is too long for the file system", "use a shorter name or folder"),
    errno.ELOOP: ("too many levels of symbolic links", "check the links in the path"),
    errno.ENOTDIR: ("a file is in the way of a folder in the path", "move the file in the way, or choose another folder"),
    errno.EISDIR: ("a folder is in the way", "move the folder in the way, or choose another name"),
    errno.EEXIST: ("a file is in the way of a folder", "move the file in the way, or choose another folder"),
    errno.ENOTEMPTY: ("the folder is not empty", "choose an empty or new folder"),
    errno.EIO: ("an input/output error (a failing disk or a lost network mount)", "check the disk or the mount"),
    errno.EMFILE: ("too many open files", "raise the limit (ulimit -n) or run fewer workers"),
    errno.ENFILE: ("too many open files on the system", "close other programs or run fewer workers"),
    errno.ENOENT: ("it does not exist (or vanished while in use)", "check the path"),
    errno.ETXTBSY: ("the file is busy", "close the program that holds it"),
}


def shown(path: object) -> str:
    """A path for a line: the whole of it, or its start and length when longer than PATH_ECHO."""
    text = str(path)
    return text if len(text) <= PATH_ECHO else f"{text[:PATH_ECHO]}... ({len(text)} characters)"


def fault(exc: OSError, action: str, path: object | None = None, hint: str | None = None,
          error: type[E] = FileSystemError) -> E:  # type: ignore[assignment]
    """The one-line error for an OSError met while doing ``action`` ("write", "read", ...) to ``path``."""
    where = path if path is not None else (exc.filename if exc.filename is not None else "a file")
    reason, fix = REASONS.get(exc.errno or 0, (exc.strerror or type(exc).__name__, "check the path and the disk"))
    return error(f"cannot {action} {shown(where)}: {reason}", hint or fix)


KIND_NAMES = {
    stat.S_IFREG: "file", stat.S_IFDIR: "folder", stat.S_IFIFO: "FIFO (named pipe)",
    stat.S_IFCHR: "character device", stat.S_IFBLK: "block device", stat.S_IFSOCK: "socket",
    stat.S_IFLNK: "symbolic link",
}


def kind(path: str | Path, follow: bool = True) -> str | None:
    """What is at ``path``: "file", "folder", "FIFO (named pipe)", "character device", ...
    (``follow=False``: "symbolic link" for a link); None when nothing is there. A path the
    system will not look at (a name too long, permission, a NUL character) is a FileSystemError."""
    try:
        mode = (os.stat(path) if follow else os.lstat(path)).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except ValueError:  # embedded NUL
        raise FileSystemError(f"the path {shown(repr(str(path)))} contains a NUL character", "pass a plain path") from None
    except OSError as exc:
        raise fault(exc, "look at", path) from None
    return KIND_NAMES.get(stat.S_IFMT(mode), "special file")


def a(kind_name: str) -> str:
    """The kind with its article: "a FIFO (named pipe)", "an ..."."""
    return f"{'an' if kind_name[0] in 'aeiou' else 'a'} {kind_name}"


def check_file(path: Path, what: str, error: type[SttuneError] = SttuneError,
               missing: tuple[str, str] | None = None) -> Path:
    """``path`` when it is a regular file; else ``error`` naming what is there (a FIFO, a
    device, a folder: never "not found" for something that exists). ``missing``: the
    (message, hint) for nothing there, default "<what> <path> does not exist"."""
    found = kind(path)
    if found is None:
        message, hint = missing or (f"{what} {shown(path)} does not exist", "check the path")
        raise error(message, hint)
    if found != "file":
        raise error(f"{what} {shown(path)} is {a(found)}, not a file", "pass a regular file")
    return path


def unwritable(folder: Path) -> str | None:
    """Why nothing can be written in ``folder`` or, where it does not exist yet, in the nearest
    folder above it that does ("the storage is read-only", "permission denied"); None: writable."""
    here = Path(os.path.abspath(folder))
    while kind(here) is None and here != here.parent:
        here = here.parent
    if kind(here) != "folder" or os.access(here, os.W_OK):
        return None
    try:
        if os.statvfs(here).f_flag & os.ST_RDONLY:
            return REASONS[errno.EROFS][0]
    except OSError:
        pass
    return REASONS[errno.EACCES][0]


def _tmp_name(path: Path) -> Path:
    # short enough for any file system (the target's name may be near its limit), unique per call
    return path.with_name(f".{path.name[:32]}.{secrets.token_hex(6)}.tmp")


def check_target(path: Path) -> None:
    """A path sttune may (re)place a file at: nothing, or a regular file; never a link, a
    folder, a FIFO or a device (a WriteError names what is there)."""
    found = kind(path, follow=False)
    if found is None or found == "file":
        return
    if found == "symbolic link":
        raise WriteError(f"cannot write {shown(path)}: it is a symbolic link (sttune never writes through one or replaces it)",
                         "remove the link, or choose another folder")
    if found == "folder":
        raise WriteError(f"cannot write {shown(path)}: a folder is in the way",
                         "move the file or folder in the way, or choose another folder")
    raise WriteError(f"cannot write {shown(path)}: it is {a(found)}", "move it, or choose another folder")


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A new, empty temporary file beside ``path`` for a writer that takes a path (torch.save,
    numpy.save, savefig); renamed over ``path`` when the block ends, removed when it raises.
    OSErrors become WriteErrors naming ``path``."""
    path = Path(path)
    check_target(path)
    tmp = _tmp_name(path)
    try:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
            os.close(fd)
        except OSError as exc:
            raise _write_fault(exc, path) from None
        try:
            yield tmp
            check_target(path)  # a link may have been planted meanwhile
            os.replace(tmp, path)
        except OSError as exc:
            raise _write_fault(exc, path) from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def _write_fault(exc: OSError, path: Path) -> WriteError:
    parent_ok = False
    with contextlib.suppress(OSError, ValueError):
        parent_ok = path.parent.is_dir()
    if isinstance(exc, (FileExistsError, NotADirectoryError)) or (exc.errno == errno.ENOENT and not parent_ok):
        return WriteError(f"cannot write {shown(path)}: {shown(path.parent)} is not a folder",
                          "move the file or folder in the way, or choose another folder")
    if isinstance(exc, IsADirectoryError):
        return WriteError(f"cannot write {shown(path)}: a folder is in the way",
                          "move the file or folder in the way, or choose another folder")
    return fault(exc, "write", path, error=WriteError)


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``path`` through a temporary file of its own and a rename: readers see the old
    file or the new one, never half of one; on any failure the temporary file is removed and
    the error is one line naming the path (:class:`WriteError`)."""
    with atomic_path(Path(path)) as tmp:
        if isinstance(data, str):
            tmp.write_text(data)
        else:
            tmp.write_bytes(data)


def create_exclusive(path: Path, data: bytes) -> Path:
    """Write a new file at ``path`` (or ``path`` with a counter added): never over an existing
    file or through a link. Returns the path written."""
    for n in range(100):
        target = path if n == 0 else path.with_name(f"{path.name}-{n}")
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return target
    raise FileExistsError(errno.EEXIST, "no free name", str(path))


def sha256_file(path: Path) -> str:
    import hashlib

    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
