"""Memory at scale: peak RSS and kept bytes per value of dataset preparation, one process each.

Each size is a synthetic one-channel float32 series (a daily cycle per node plus noise, every
reading non-zero and finite) written to ``.npy`` in a temporary folder, then loaded through the
generic ``arrays`` dataset path (``sttune.registry.build.load_data``, default protocol) by a fresh
interpreter whose ``PYTHONPATH`` is the checkout under test, so the code before a change (a
second worktree) and after it are measured the same way. The child reads ``/proc/self/status``:

- ``base``: VmRSS after the imports (numpy, torch, sttune), with VmHWM reset there
  (``/proc/self/clear_refs``), so the imports' own peak is not charged to the data;
- ``peak``: VmHWM after preparation (the highest RSS the preparation reached);
- ``kept``: VmRSS after preparation and a garbage collection, the DataModule alive.

Per value = (figure - base) / (T x N). ``--cache`` also runs a second process against a warm
prepared-data cache (``load_data(..., cache_dir=...)``; memory-mapped arrays) where the checkout has one.

Usage (the memory runs one at a time, under a lock; the largest size needs several GiB)::

    flock /tmp/sttune-mem.lock python bench/scale.py --repo /path/to/checkout --label after \\
        --sizes 34272x207,52116x325,28224x883,105120x2000 --out bench/results/scale_after.json
    python bench/scale.py --metrics /path/to/before-checkout . --epochs 2 --out metrics.json
    python bench/scale.py --summarise bench/results/scale_before.json bench/results/scale_after.json \\
        --with-metrics metrics.json --out bench/results/scale.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

SIZES = ((34272, 207), (52116, 325), (28224, 883), (105120, 2000))
PROJECTED = {"LargeST-GLA": (105120, 3834), "LargeST-CA": (105120, 8600)}
STEPS_PER_DAY = 288
GIB = 2**30

_CHILD = r"""
import gc, json, sys, time
from pathlib import Path

def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(field)

import numpy as np, torch
import sttune.registry.build, sttune.data.protocol
from sttune.recipe.settings import Protocol
from sttune.recipe.spec import DatasetBlock
from sttune.registry.build import load_data
from sttune.registry import discovery as plugins
plugins.load("dataset", "arrays")  # its imports (pandas, h5py) are start-up, not data
torch.zeros(1)
gc.collect()
Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS: the imports' peak is not the data's
base = status("VmRSS")
path, spd, cache = sys.argv[1], int(sys.argv[2]), sys.argv[3]
block = DatasetBlock("arrays", {"path": path, "steps_per_day": spd})
start = time.perf_counter()
data = load_data(block, Protocol(), cache_dir=Path(cache)) if cache else load_data(block, Protocol())
seconds = time.perf_counter() - start
peak = status("VmHWM")
gc.collect()
kept = status("VmRSS")
peak = max(peak, status("VmHWM"))  # the collection itself may add a page: the peak is never below what is kept
seen, held = set(), 0
for w in (data.train, data.val, data.test):
    for name in ("features", "target", "starts", "calendar", "node_inputs"):
        t = getattr(w, name, None)
        if isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() not in seen:
            seen.add(t.untyped_storage().data_ptr())
            held += t.untyped_storage().nbytes()
dtypes = sorted({str(getattr(data.train, n).dtype) for n in ("features", "target")})
print(json.dumps({"base": base, "peak": peak, "kept": kept, "tensor_bytes": held, "seconds": seconds,
                  "dtypes": dtypes, "key": data.key}))
"""


_METRICS = r"""
import json, sys
sys.path.insert(0, sys.argv[2] + "/bench")
from common import real_dataset
from sttune.recipe.settings import Protocol, TrainConfig
from sttune.training.jobs import Job, train_job
from pathlib import Path
import tempfile
out = {}
for name in ("sz_taxi", "los_loop"):
    train = TrainConfig(epochs=int(sys.argv[1]), batch_size=64, device="cpu", cpu_threads=1, seed=0)
    job = Job(real_dataset(name), Protocol(), "stid", {}, [], train)
    with tempfile.TemporaryDirectory() as tmp:
        r = train_job(job, Path(tmp))
    out[name] = {"val": r.val, "test": r.test, "best_epoch": r.best_epoch}
print(json.dumps(out))
"""


def metrics(repo: Path, epochs: int, python: str) -> dict:
    """A short STID training on SZ-TAXI and LOS-LOOP with ``repo``'s code: val and test metrics."""
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([python, "-c", _METRICS, str(epochs), str(repo)], env=env, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"training failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare_metrics(before: dict, after: dict) -> dict:
    """The largest absolute difference of any val/test metric, per dataset."""
    def numbers(value: object) -> list[float]:
        if isinstance(value, (int, float)):
            return [float(value)]
        if isinstance(value, (list, tuple)):
            return [x for v in value for x in numbers(v)]
        if isinstance(value, dict):
            return [x for k in sorted(value) for x in numbers(value[k])]
        return []

    out = {}
    for name in before:
        old = numbers({p: before[name][p] for p in ("val", "test")})
        new = numbers({p: after[name][p] for p in ("val", "test")})
        same = len(old) == len(new)
        diff = max(abs(a - b) for a, b in zip(old, new)) if same else float("inf")
        rel = max(abs(a - b) / max(abs(a), 1.0) for a, b in zip(old, new)) if same else float("inf")
        out[name] = {"before": before[name], "after": after[name], "max_abs_diff": diff,
                     "max_rel_diff": rel}  # MAPE near-zero targets can be ~1e9: read it relative
    return out


def write_series(path: Path, n_steps: int, n_nodes: int, seed: int = 0) -> None:
    """A [T, N] float32 .npy written in chunks (this process never holds the whole array)."""
    rng = np.random.default_rng(seed)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n_steps, n_nodes))
    level = rng.uniform(20, 70, n_nodes).astype(np.float32)
    chunk = 4096
    for s in range(0, n_steps, chunk):
        t = np.arange(s, min(s + chunk, n_steps))
        day = np.sin(2 * np.pi * (t % STEPS_PER_DAY) / STEPS_PER_DAY).astype(np.float32)[:, None]
        noise = rng.standard_normal((len(t), n_nodes), dtype=np.float32)
        out[s: s + len(t)] = level + 10 * day + noise
    out.flush()
    del out


def measure(repo: Path, path: Path, cache: Path | None, python: str) -> dict:
    """One preparation in a fresh interpreter with ``repo`` first on its path."""
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1"}
    args = [python, "-c", _CHILD, str(path), str(STEPS_PER_DAY), str(cache or "")]
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"measurement failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def per_value(row: dict, n_values: int) -> dict:
    return {
        "peak_bytes_per_value": (row["peak"] - row["base"]) / n_values,
        "kept_bytes_per_value": (row["kept"] - row["base"]) / n_values,
        "tensor_bytes_per_value": row["tensor_bytes"] / n_values,
        "peak_gib": row["peak"] / GIB, "kept_gib": row["kept"] / GIB, "base_gib": row["base"] / GIB,
    }


def run_sizes(repo: Path, sizes: list[tuple[int, int]], cache: bool, python: str) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="sttune-scale-") as tmp:
        for n_steps, n_nodes in sizes:
            path = Path(tmp) / f"series_{n_steps}x{n_nodes}.npy"
            write_series(path, n_steps, n_nodes)
            n_values = n_steps * n_nodes
            cold = measure(repo, path, Path(tmp) / "cache" if cache else None, python)
            row = {"steps": n_steps, "nodes": n_nodes, "values": n_values, "cold": {**cold, **per_value(cold, n_values)}}
            if cache:
                warm = measure(repo, path, Path(tmp) / "cache", python)
                row["warm_cache"] = {**warm, **per_value(warm, n_values)}
            rows.append(row)
            print(json.dumps({k: row[k] for k in ("steps", "nodes")}), json.dumps(
                {k: round(v, 2) for k, v in row["cold"].items() if k.endswith("per_value")}), flush=True)
            path.unlink()
            if cache:
                import shutil

                shutil.rmtree(Path(tmp) / "cache", ignore_errors=True)
    return rows


def fit(rows: list[dict], field: str) -> dict:
    """Least-squares ``figure = a + b x values`` (GiB, bytes per value) over the measured sizes."""
    x = np.array([r["values"] for r in rows], dtype=np.float64)
    y = np.array([r["cold"][field] for r in rows], dtype=np.float64)
    b, a = np.polyfit(x, y, 1)
    return {"intercept_gib": a / GIB, "bytes_per_value": b}


def project(rows: list[dict]) -> dict:
    """Peak and kept GiB of the LargeST sizes from the fitted lines."""
    peak, kept = fit(rows, "peak"), fit(rows, "kept")
    out = {}
    for name, (t, n) in PROJECTED.items():
        v = t * n
        out[name] = {"steps": t, "nodes": n, "values": v,
                     "peak_gib": peak["intercept_gib"] + peak["bytes_per_value"] * v / GIB,
                     "kept_gib": kept["intercept_gib"] + kept["bytes_per_value"] * v / GIB}
    return {"fit_peak": peak, "fit_kept": kept, "projected": out}


def summarise(before: dict, after: dict) -> dict:
    largest = max(after["rows"], key=lambda r: r["values"])
    old = next(r for r in before["rows"] if r["values"] == largest["values"])
    return {
        "machine": after["machine"],
        "method": ("one fresh process per size; synthetic one-channel float32 .npy loaded through the arrays "
                   "dataset (sttune.registry.build.load_data, default protocol); per value = (VmHWM or VmRSS - RSS after "
                   "imports) / values; VmHWM reset after the imports via /proc/self/clear_refs"),
        "before": {"commit": before["commit"], "rows": before["rows"], **project(before["rows"])},
        "after": {"commit": after["commit"], "rows": after["rows"], **project(after["rows"])},
        "largest": {"steps": largest["steps"], "nodes": largest["nodes"],
                    "peak_bytes_per_value": [old["cold"]["peak_bytes_per_value"], largest["cold"]["peak_bytes_per_value"]],
                    "kept_bytes_per_value": [old["cold"]["kept_bytes_per_value"], largest["cold"]["kept_bytes_per_value"]],
                    "target_peak": 14, "target_kept": 9},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--label", default="after")
    parser.add_argument("--sizes", default=",".join(f"{t}x{n}" for t, n in SIZES))
    parser.add_argument("--cache", action="store_true", help="also measure a warm prepared-data cache")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--summarise", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    parser.add_argument("--metrics", nargs=2, type=Path, metavar=("BEFORE_REPO", "AFTER_REPO"),
                        help="train STID briefly with both checkouts and compare the metrics")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--with-metrics", type=Path, help="with --summarise: a --metrics output to include")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.metrics:
        before, after = (metrics(repo, args.epochs, args.python) for repo in args.metrics)
        result = {"epochs": args.epochs, "model": "stid", "datasets": compare_metrics(before, after)}
        text = json.dumps(result, indent=2)
        if args.out:
            args.out.write_text(text + "\n")
        print(text)
        return
    if args.summarise:
        result = summarise(*(json.loads(p.read_text()) for p in args.summarise))
        if args.with_metrics:  # a --metrics run's output, kept beside the memory figures
            result["metrics"] = json.loads(args.with_metrics.read_text())
        if args.out:
            for key in ("before", "after"):  # the merits, with the method saying how they were read
                result[key]["source"] = str(args.summarise[0 if key == "before" else 1])
    else:
        sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
        commit = subprocess.run(["git", "-C", str(args.repo), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=False).stdout.strip()
        result = {"label": args.label, "commit": commit,
                  "machine": f"{platform.machine()} {os.cpu_count()}-core VM, {platform.python_version()}, no GPU",
                  "rows": run_sizes(args.repo, sizes, args.cache, args.python)}  # type: ignore[arg-type]
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text if args.summarise else f"wrote {args.out}")


if __name__ == "__main__":
    main()
