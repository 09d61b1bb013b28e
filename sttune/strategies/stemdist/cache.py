"""On-disk cache of distilled sets: keyed by dataset, params, seed, model and code version."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

# bump when the algorithm changes, so stale sets are never reused
CODE_VERSION = 1


def model_identity(model: nn.Module) -> str:
    """Class path plus a hash of the module tree (layer types, widths, dropout...)."""
    cls = type(model)
    digest = hashlib.sha256(repr(model).encode()).hexdigest()[:12]
    return f"{cls.__module__}.{cls.__qualname__}:{digest}"


def cache_key(dataset_key: str, params: dict[str, Any], seed: int, model: str | None) -> str:
    """A short stable hash of everything the distilled set depends on."""
    blob = json.dumps(
        {"v": CODE_VERSION, "data": dataset_key, "params": params, "seed": seed, "model": model},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def cache_path(cache_dir: Path, key: str) -> Path:
    return Path(cache_dir) / "stemdist" / f"{key}.pt"


def _sidecar(path: Path) -> Path:
    return path.with_name(f"{path.name}.sha256")


def load(path: Path, device: torch.device) -> dict[str, Any] | None:
    """The cached payload, or None when absent or unreadable (then it is rebuilt). A payload
    that does not match the checksum written beside it (changed or damaged since) is never
    used: a note says so, and it is rebuilt."""
    if not path.is_file():
        return None
    try:
        expected = _sidecar(path).read_text().strip()
    except OSError:
        return None  # an entry written before checksums (or half written): rebuilt
    try:
        with open(path, "rb") as f:
            actual = hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        actual = "unreadable"
    if actual != expected:
        sys.stderr.write(f"note: the distilled-set cache entry {path} does not match its checksum (changed or "
                         "damaged): not used; built again\n")
        return None
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception:  # a corrupt or foreign file is a miss, never a crash
        return None


def save(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically: a temporary file in the same folder, then rename over the target; the
    checksum beside it is written last (a payload without one is never read)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        _sidecar(path).unlink()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        with open(tmp, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(digest + "\n")
    os.replace(tmp, _sidecar(path))
