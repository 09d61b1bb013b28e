"""File readers for the dataset loaders: npy/npz/csv/h5 parsing into float64 arrays.

Also CSV header and date-column detection, numeric-cell checks with the line and column of
the first bad cell, and the existence check of input paths. Every failure is a
:class:`~sttune.errors.DataError` naming the file and the fix.
"""

from __future__ import annotations

import math
import os
import re
import stat
import warnings
from pathlib import Path
from typing import IO

import h5py
import numpy as np
import pandas as pd

from sttune.errors import DataError

_NA_CELLS = {"", "nan", "NaN", "NA", "N/A", "null", "NULL"}

PathLike = str | Path


def existing(path: PathLike, what: str) -> Path:
    """The path as a Path, or DataError when it is not an existing file."""
    file = Path(path).expanduser()
    try:
        mode: int | None = os.stat(file).st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None
    except (OSError, ValueError) as exc:  # a name too long, permission, a NUL character
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise DataError(f"{what} file {str(file)[:200]}: {reason}", "Check the path.") from None
    if mode is None:
        raise DataError(f"{what} file not found: {file.resolve()}",
                        "Check the path (relative paths in a recipe are read from the recipe's folder).")
    if not stat.S_ISREG(mode):  # a FIFO would block the first read forever
        found = next((name for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                                              (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                                              (stat.S_ISSOCK, "a socket")) if test(mode)), "a special file")
        raise DataError(f"{what} file {file.resolve()} is {found}, not a file", "Point the recipe at a regular file.")
    return file


def read_array_file(
    path: Path, csv_header: str | bool = "auto"
) -> tuple[np.ndarray, list[str] | None, np.ndarray | None]:
    """(float64 array, or float32 for a float32 file; node names or None; [T] int64 ns timestamps
    or None) of a data file."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return numeric_csv(path, csv_header)
    if suffix not in (".npy", ".npz"):
        raise DataError(f"{path}: unsupported file type {suffix or '(none)'}",
                        "Use a .npy, .npz or .csv file.")
    hint = "Re-save it with numpy.save / numpy.savez."
    try:
        if suffix == ".npy":
            with path.open("rb") as f:
                _check_npy_header(f, path.stat().st_size, path)
            arr = np.load(path, allow_pickle=False)
        else:
            with np.load(path, allow_pickle=False) as npz:
                arr = _npz_array(npz, path)
    except DataError:
        raise
    except MemoryError as exc:
        raise DataError(f"{path}: the array does not fit in memory", "Use a smaller file or a bigger machine.") from exc
    except Exception as exc:  # a damaged file: zipfile, zlib, numpy's header parser raise many types
        raise DataError(f"{path}: could not read a numeric array ({type(exc).__name__}: {exc})", hint) from exc
    return real_array(arr, path, "data"), None, None


def real_array(arr: object, path: Path, what: str) -> np.ndarray:
    """The array as float32 when it is stored so (no float64 copy of a large series), else as
    float64; complex or text values are refused, not cast."""
    try:
        out = np.asarray(arr)
    except (ValueError, TypeError) as exc:  # e.g. ragged nested lists
        raise DataError(f"{path}: the {what} is not a rectangular numeric array ({exc})",
                        "Store a regular [rows, columns] array of numbers.") from exc
    if out.dtype.kind == "c":  # numpy would drop the imaginary part with only a warning
        raise DataError(f"{path}: the {what} is complex-valued ({out.dtype})",
                        "sttune reads real numbers: save x.real or abs(x), whichever you mean.")
    if out.dtype.kind not in "biuf":
        raise DataError(f"{path}: the {what} holds {out.dtype} values, not numbers",
                        "Store numbers (float or int) only.")
    return out.astype(np.float32 if out.dtype == np.float32 else np.float64, copy=False)


def _check_npy_header(stream: IO[bytes], size: int, path: Path) -> None:
    """DataError when an npy header promises more bytes than follow it (a truncated file or an
    absurd shape), before numpy tries to allocate the array it describes."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(stream)
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _, dtype = read(stream)
    except Exception as exc:  # a damaged header: numpy's parser raises ValueError, SyntaxError, TokenError...
        raise DataError(f"{path}: could not read a numeric array ({type(exc).__name__}: {exc})",
                        "Re-save it with numpy.save / numpy.savez.") from exc
    need = math.prod(shape) * dtype.itemsize
    have = size - stream.tell()
    if need > have:
        raise DataError(f"{path}: its header says shape {shape} of {dtype} ({need} bytes), but only {have} "
                        "bytes follow: truncated or corrupted", "Re-save it with numpy.save / numpy.savez.")


def _npz_array(npz: np.lib.npyio.NpzFile, path: Path) -> np.ndarray:
    """The ``data`` array of an npz, or its only array."""
    if "data" in npz.files:
        key = "data"
    elif len(npz.files) == 1:
        key = npz.files[0]
    else:
        raise DataError(f"{path}: has arrays {npz.files} but none named 'data'",
                        "Save the series under the key 'data' (numpy.savez(path, data=x)).")
    member = key + ".npy" if key + ".npy" in npz.zip.namelist() else key
    info = npz.zip.getinfo(member)
    with npz.zip.open(info) as stream:
        _check_npy_header(stream, info.file_size, path)
    return npz[key]


def read_ids(path: Path, n: int) -> list[str]:
    """[n] node ids of an ids file: one per node in the data's node order, separated by newlines
    or commas (METR-LA's graph_sensor_ids.txt is one comma-separated line)."""
    hint = "List one id per node, in the data's node order, separated by newlines or commas (no header)."
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (UnicodeDecodeError, OSError) as exc:
        raise DataError(f"{path}: could not read the ids as text ({exc})", hint) from exc
    ids = [t.strip().strip('"') for t in re.split(r"[,\r\n]", text) if t.strip()]
    if len(ids) != n:
        raise DataError(f"{path}: {len(ids)} ids for {n} nodes", hint)
    repeated = next((i for i in ids if ids.count(i) > 1), None) if len(set(ids)) < n else None
    if repeated is not None:
        raise DataError(f"{path}: id {repeated!r} is listed more than once", hint)
    return ids


def csv_cells(path: Path, nrows: int | None = None) -> pd.DataFrame:
    """The cells of a CSV (the first ``nrows`` rows) as stripped strings; CRLF is fine."""
    return _read_csv(path, dtype=str, keep_default_na=False, nrows=nrows).apply(lambda c: c.str.strip())


def _read_csv(path: Path, **kwargs: object) -> pd.DataFrame:
    """pandas.read_csv without a header row, with its errors turned into DataError."""
    try:
        return pd.read_csv(path, header=None, skipinitialspace=True, **kwargs)  # type: ignore[arg-type]
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: the CSV file is empty", "Give a file with data rows.") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a well-formed CSV ({str(exc).strip()})",
                        "Every row needs the same number of comma-separated cells.") from exc


def numeric_csv(
    path: Path, header: str | bool = "auto"
) -> tuple[np.ndarray, list[str] | None, np.ndarray | None]:
    """(float64 [rows, cols], header names or None, [rows] int64 ns dates or None)."""
    if header not in ("auto", True, False):
        raise DataError(f"{path}: csv_header must be 'auto', true or false, got {header!r}",
                        "Set csv_header to auto, true or false.")
    head = csv_cells(path, nrows=50)  # enough to decide on the header and a date column
    first = [str(c) for c in head.iloc[0]]
    if header == "auto":
        header = not all(is_number(c) or c in _NA_CELLS for c in first) or _looks_like_ids(first, head)
    if head.shape[0] <= int(header):
        raise DataError(f"{path}: has a header row but no data rows", "Add data rows.")
    frame = _read_csv(path, skiprows=int(header), low_memory=False)
    stamps = None
    if not is_number(str(head.iloc[int(header), 0])):  # a leading date/time column
        stamps = _parse_dates([str(c).strip() for c in frame.iloc[:, 0]])
        if stamps is not None:
            frame, first = frame.iloc[:, 1:], first[1:]
    if all(pd.api.types.is_numeric_dtype(t) for t in frame.dtypes):  # the fast, common case
        values = frame.to_numpy(dtype=np.float64)
    else:  # some text: find and report it
        text = frame.astype(str).apply(lambda c: c.str.strip()).to_numpy()
        values = to_float(text, path, int(header), int(stamps is not None))
    return values, (first if header else None), stamps


def _looks_like_ids(first: list[str], head: pd.DataFrame) -> bool:
    """All-integer first row whose values dwarf the rest: sensor ids (e.g. los_speed.csv)."""
    if head.shape[0] < 2 or not all(c.lstrip("-").isdigit() for c in first):
        return False
    rest = pd.to_numeric(pd.Series(head.iloc[1:].to_numpy().ravel()), errors="coerce").abs().max()
    return bool(np.isfinite(rest)) and min(abs(int(c)) for c in first) > 10 * max(float(rest), 1.0)


def to_float(cells: np.ndarray, path: Path, row_offset: int, col_offset: int = 0) -> np.ndarray:
    """float64 copy of a [rows, cols] str array; empty/NA cells become NaN, text is an error."""
    flat = pd.Series(cells.ravel())
    out = pd.to_numeric(flat, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(out) & ~flat.isin(_NA_CELLS).to_numpy() & ~flat.str.lower().isin(["nan"]).to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        line, col = i // cells.shape[1] + row_offset + 1, i % cells.shape[1] + col_offset + 1
        raise DataError(f"{path}: non-numeric cell {flat[i]!r} at line {line}, column {col} "
                        f"({int(bad.sum())} such cells)",
                        "Every data cell must be a number (or empty for a missing reading).")
    return out.reshape(cells.shape)


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_dates(texts: list[str]) -> np.ndarray | None:
    """[T] int64 ns of a date column, preferring the reading (month- or day-first) that is regular."""
    parsed = []
    for dayfirst in (False, True):
        try:
            with warnings.catch_warnings():  # "could not infer format": we check the result
                warnings.simplefilter("ignore")
                stamps = pd.to_datetime(pd.Series(texts), dayfirst=dayfirst).to_numpy(dtype="datetime64[ns]")
        except (ValueError, TypeError, OverflowError):
            continue
        ns = stamps.astype(np.int64)
        if len(ns) < 2 or len(set(np.diff(ns).tolist())) == 1:
            return ns
        parsed.append(ns)
    return parsed[0] if parsed else None  # irregular: the caller reports where


_H5_HINT = "Expected a DataFrame saved with df.to_hdf(path, key='df') (fixed format, DatetimeIndex)."


def read_pandas_h5(path: Path, key: str | None) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(values [T, N] float64, column labels [N], index [T] int64 ns) of a pandas fixed-format frame."""
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"{path}: not an HDF5 file ({exc})", _H5_HINT) from exc
    try:
        with f:
            return _read_frame(f, path, key)
    except DataError:
        raise
    except (KeyError, AttributeError, TypeError, ValueError, IndexError, OSError) as exc:
        # an HDF5 file laid out otherwise (missing datasets, groups where arrays belong, odd shapes)
        raise DataError(f"{path}: not a pandas fixed-format frame ({type(exc).__name__}: {exc})", _H5_HINT) from exc


def _read_frame(f: h5py.File, path: Path, key: str | None) -> tuple[np.ndarray, list[str], np.ndarray]:
    keys = list(f.keys())
    key = key or ("df" if "df" in keys else keys[0] if len(keys) == 1 else None)
    group = f.get(key) if key is not None else None
    if not isinstance(group, h5py.Group) or not {"axis0", "axis1", "block0_values"} <= set(group.keys()):
        raise DataError(f"{path}: no pandas fixed-format frame under key {key!r} (keys: {keys})", _H5_HINT)
    kind = _label(group["axis1"].attrs.get("kind", b"datetime64"))
    if not kind.startswith("datetime64"):
        raise DataError(f"{path}: the index is {kind}, not a DatetimeIndex", _H5_HINT)
    unit = kind if "[" in kind else "datetime64[ns]"  # plain "datetime64": written before pandas 2
    stamps = np.asarray(group["axis1"][:], dtype=np.int64).view(unit).astype("datetime64[ns]").view(np.int64)
    labels = [_label(v) for v in group["axis0"][:]]
    columns: dict[str, np.ndarray] = {}
    for b in range(int(group.attrs.get("nblocks", 1))):  # one block per dtype
        vals = real_array(group[f"block{b}_values"][:], path, f"block{b}_values")
        items = [_label(v) for v in group[f"block{b}_items"][:]]
        vals = vals if vals.ndim == 2 and vals.shape[0] == len(stamps) else vals.T
        if vals.ndim != 2 or vals.shape != (len(stamps), len(items)):
            raise DataError(f"{path}: block{b}_values has shape {vals.shape} for {len(stamps)} timestamps and "
                            f"{len(items)} columns", _H5_HINT)
        columns.update({item: vals[:, j] for j, item in enumerate(items)})
    if set(labels) - set(columns):
        raise DataError(f"{path}: columns {sorted(set(labels) - set(columns))[:5]} have no values", _H5_HINT)
    if not labels:
        raise DataError(f"{path}: the frame has no columns", _H5_HINT)
    return np.stack([columns[c] for c in labels], axis=1), labels, stamps


def _label(value: object) -> str:
    """A column label or attribute as str (h5 stores bytes; numeric ids become '773869')."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, (np.integer, int)):
        return str(int(value))
    return str(value)
