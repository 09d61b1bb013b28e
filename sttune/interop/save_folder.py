"""A saved model's folder: where a save may go (:func:`check_save_target`), how a finished save
is put in place whole (:func:`put_in_place`), its manifest (:func:`manifest`) and the checks of what
:func:`sttune.interop.saved.load_model` reads back (the manifest, model.json's keys and values)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import secrets
import shutil
from importlib.metadata import version as _package_version
from pathlib import Path
from typing import Any

from torch import Tensor

from sttune.api import ModelSpec
from sttune.errors import SttuneError
from sttune.files import a, kind, sha256_file, shown, unwritable
from sttune.recipe.schema import clip

FORMAT = 2  # model.json "format": bumped when the layout changes incompatibly (2: manifest.json)
MANIFEST = "manifest.json"
SAVED_HEADER = "saved by sttune"  # recipe.yaml's first comment in a save
DAMAGED = "it was changed or damaged since the save: save the model again (sttune train --save)"


class SavedModelError(SttuneError):
    """A saved-model folder is missing, incomplete, changed or of another format, or an input
    does not fit the saved model."""


# --- where a save may go --------------------------------------------------------------------


def _files_in(folder: Path) -> list[str]:
    """Every entry under ``folder`` as a relative path ('strategies/dynst.json'); folders that
    hold entries are not listed themselves, links and special files are."""
    out = []
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            out.append(str(rel / name) if str(rel) != "." else name)
        if not dirs and not files and Path(root) != folder:
            out.append(str(rel) + "/")
    return sorted(out)


def _read_json_quietly(path: Path) -> Any:
    try:
        if kind(path, follow=False) != "file":
            return None
        return json.loads(path.read_text())
    except (OSError, ValueError, SttuneError):
        return None


def _ours(folder: Path, entries: list[str]) -> list[str]:
    """The entries of ``folder`` that an earlier save wrote: those its manifest lists (format 2),
    or the layout of a format-1 save (model.json of that format, recipe.yaml with the save's
    header). The rest sttune did not write."""
    manifest = _read_json_quietly(folder / MANIFEST)
    if isinstance(manifest, dict) and isinstance(manifest.get("files"), dict) and "sttune_saved_model" in manifest:
        listed = {str(name) for name in manifest["files"]} | {MANIFEST}
        return [e for e in entries if e in listed]
    meta = _read_json_quietly(folder / "model.json")
    if not (isinstance(meta, dict) and meta.get("format") == 1 and "sttune_version" in meta):
        return []
    ours = []
    for entry in entries:
        if kind(folder / entry, follow=False) != "file":
            continue
        if entry in ("model.pt", "model.json", "result.json") or (entry.startswith("strategies/") and entry.endswith(".json")) \
                or ("/" not in entry and entry.endswith("_sensors.csv")):
            ours.append(entry)
        elif entry == "recipe.yaml":
            with contextlib.suppress(OSError, UnicodeDecodeError), (folder / entry).open() as f:
                if f.readline().startswith(f"# {SAVED_HEADER}"):
                    ours.append(entry)
    return ours


def check_save_target(out_dir: Path) -> None:
    """A folder a save may go to: nothing there yet, an empty folder, or an earlier save (which
    the new one replaces whole); anything else is refused with one line, before training."""
    out_dir = Path(out_dir)
    found = kind(out_dir, follow=False)
    problem = unwritable(out_dir.parent if found is None else out_dir)
    if problem is not None:
        raise SavedModelError(f"cannot save into {shown(out_dir)}: {problem}", "choose a folder you can write to")
    if found is None:
        return
    if found == "symbolic link":
        raise SavedModelError(f"cannot save into {shown(out_dir)}: it is a symbolic link",
                              "pass the folder it points to, or a new folder")
    if found != "folder":
        raise SavedModelError(f"cannot save into {shown(out_dir)}: it is {a(found)}, not a folder",
                              "pass a new or empty folder, or an earlier save to replace")
    entries = _files_in(out_dir)
    foreign = sorted({e.split("/")[0] + ("/" if "/" in e else "") for e in set(entries) - set(_ours(out_dir, entries))})
    if foreign:
        listed = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise SavedModelError(f"cannot save into {shown(out_dir)}: it holds files sttune did not save there ({clip(listed, 120)})",
                              "pass a new or empty folder; an earlier save there would be replaced whole")


# --- putting a save in place ----------------------------------------------------------------


def new_folder(parent: Path, prefix: str) -> Path:
    for _ in range(100):
        folder = parent / f"{prefix}{secrets.token_hex(4)}"
        try:
            folder.mkdir(mode=0o777)
            return folder
        except FileExistsError:
            continue
    raise FileExistsError(f"no free name for {prefix}* in {parent}")


def build_manifest(folder: Path, spec: ModelSpec, state_dict: dict[str, Tensor]) -> dict[str, Any]:
    files = {entry: sha256_file(folder / entry) for entry in _files_in(folder)}
    manifest = {"sttune_saved_model": FORMAT, "sttune_version": _package_version("sttune"),
                "n_nodes": spec.n_nodes, "n_channels": spec.n_channels, "in_len": spec.in_len, "out_len": spec.out_len,
                "node_input_dim": spec.node_input_dim,
                "state_dict": {k: list(v.shape) for k, v in state_dict.items()}, "files": files}
    return {**manifest, "checksum": _digest(manifest)}


def _digest(manifest: dict[str, Any]) -> str:
    """The manifest's own checksum: every byte of a save is covered, the manifest's too."""
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def put_in_place(new: Path, out_dir: Path) -> None:
    """``new`` (a complete save) becomes ``out_dir``: renamed into place when nothing or an empty
    folder is there; an earlier save is renamed aside first and removed once the new one is in."""
    found = kind(out_dir, follow=False)
    if found is None:
        os.rename(new, out_dir)
        return
    check_save_target(out_dir)  # still nothing but an earlier save
    if not any(out_dir.iterdir()):
        try:
            os.rename(new, out_dir)  # over an empty folder
        except OSError:  # the working directory or a mount point: move the files in
            for entry in new.iterdir():
                os.rename(entry, out_dir / entry.name)
            new.rmdir()
        return
    old = new_folder(out_dir.parent, ".sttune-old-")
    old.rmdir()
    os.rename(out_dir, old)
    try:
        os.rename(new, out_dir)
    except OSError:
        os.rename(old, out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


# --- checking what is read back -------------------------------------------------------------


def check_file(path: Path, what: str) -> None:
    found = kind(path)
    if found is None:
        raise SavedModelError(f"{path.parent} is not a saved model (no {path.name})", "pass the folder given to --save")
    if found != "file":
        raise SavedModelError(f"{shown(path)} is {a(found)}, not {what}", DAMAGED)


def read_json(path: Path) -> dict[str, Any]:
    check_file(path, "a JSON file")
    try:
        data = json.loads(path.read_text())
    except UnicodeDecodeError:
        raise SavedModelError(f"{shown(path)} is not text (not UTF-8)", DAMAGED) from None
    except ValueError as exc:
        raise SavedModelError(f"{shown(path)} is not valid JSON ({clip(str(exc), 80)})", DAMAGED) from None
    if not isinstance(data, dict):
        raise SavedModelError(f"{shown(path)} holds a {type(data).__name__}, not a JSON object", DAMAGED)
    return data


SIZES = ("n_nodes", "n_channels", "in_len", "out_len", "node_input_dim")


def check_manifest(path: Path, manifest: dict[str, Any]) -> None:
    if manifest.get("checksum") != _digest(manifest):
        raise SavedModelError(f"{shown(path / MANIFEST)} does not match its own checksum", DAMAGED)
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise SavedModelError(f"{shown(path / MANIFEST)} lacks its list of files and checksums", DAMAGED)
    for name in ("model.pt", "model.json"):
        if name not in files:
            raise SavedModelError(f"{shown(path / MANIFEST)} does not list {name}", DAMAGED)
    for name, digest in sorted(files.items()):
        file = path / name
        if ".." in Path(name).parts or Path(name).is_absolute():
            raise SavedModelError(f"{shown(path / MANIFEST)} lists {clip(repr(name), 60)}, outside the folder", DAMAGED)
        found = kind(file, follow=False)
        if found is None:
            raise SavedModelError(f"{shown(file)} is missing (the manifest lists it)", DAMAGED)
        if found != "file":
            raise SavedModelError(f"{shown(file)} is {a(found)}, not the file the manifest lists", DAMAGED)
        if sha256_file(file) != digest:
            raise SavedModelError(f"{shown(file)} does not match its checksum in {MANIFEST}", DAMAGED)


def check_sizes(path: Path, manifest: dict[str, Any], spec: dict[str, Any], state: dict[str, Tensor]) -> None:
    """The sizes the manifest records (nodes, channels, windows, each weight's shape) are those
    of model.json and model.pt."""
    for key in SIZES:
        if manifest.get(key) != spec[key]:
            raise SavedModelError(f"{shown(path / 'model.json')}: spec.{key} is {spec[key]}, the manifest says "
                                  f"{clip(repr(manifest.get(key)), 30)}", DAMAGED)
    if manifest.get("state_dict") != {k: list(v.shape) for k, v in state.items()}:
        raise SavedModelError(f"{shown(path / 'model.pt')} holds weights of other shapes than the manifest lists", DAMAGED)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def check_meta(path: Path, meta: dict[str, Any]) -> None:
    """model.json holds every key load_model and predict read, with values of the right kind."""
    where = shown(path / "model.json")

    def bad(key: str, what: str) -> SavedModelError:
        return SavedModelError(f"{where}: {key} {what}", DAMAGED)

    spec = meta.get("spec")
    if not isinstance(spec, dict):
        raise bad("spec", "is missing" if spec is None else "is not a mapping")
    for key, low in (("n_nodes", 1), ("in_len", 1), ("out_len", 1), ("n_channels", 1), ("steps_per_day", 1),
                     ("node_input_dim", 0)):
        if key not in spec:
            raise bad(f"spec.{key}", "is missing")
        if not _whole(spec[key], low):
            raise bad(f"spec.{key}", f"must be a whole number of at least {low}, got {clip(repr(spec[key]), 30)}")
    if not isinstance(meta.get("model"), str):
        raise bad("model", "is missing" if "model" not in meta else "must be a model plugin's name")
    if not isinstance(meta.get("params", {}), dict):
        raise bad("params", "must be a mapping")
    for key in ("target_mean", "target_std"):
        if not _number(meta.get(key)):
            raise bad(key, "is missing" if key not in meta else f"must be a finite number, got {clip(repr(meta[key]), 30)}")
    if meta["target_std"] <= 0:
        raise bad("target_std", f"must be above 0, got {meta['target_std']}")
    n_nodes = spec["n_nodes"]
    # the readings' own channels: under protocol.residual: seasonal the last model channel is the forecast
    n_channels = spec["n_channels"] - (spec.get("seasonal_channel") is not None)
    for key in ("channel_mean", "channel_std"):
        value = meta.get(key)
        if not (isinstance(value, list) and len(value) == n_channels and all(_number(v) for v in value)):
            raise bad(key, f"must list {n_channels} finite number(s) (the series' channels)")
    if any(v <= 0 for v in meta["channel_std"]):
        raise bad("channel_std", "must be above 0")
    ids = meta.get("node_ids")
    if not (isinstance(ids, list) and len(ids) == n_nodes):
        raise bad("node_ids", f"must list {n_nodes} id(s) (spec.n_nodes)")

