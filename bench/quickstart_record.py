"""The quick start as README runs it: its search cost and export, a run of record (issue 34).

Runs ``sttune search recipes/quickstart.yaml --json`` (the README's main command after the install)
and ``sttune search recipes/quickstart.yaml --quick --json`` in fresh temporary folders through the
CLI, then ``sttune report RUN --json --no-plots`` for each; keeps the export, the search's cost in
full baselines (``report --json``'s ``search_cost_baselines``), the trials trained, the wall time and
the 1-minute load average before and after.

Usage: flock /tmp/sttune-bench.lock python bench/quickstart_record.py [--record]
Full JSON to $STTUNE_BENCH_OUT/quickstart_record.json; ``--record`` also writes bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import REPO, record, save

SEARCH = [sys.executable, "-m", "sttune", "search", str(REPO / "recipes" / "quickstart.yaml"), "--json"]


def one(extra: list[str], folder: Path) -> dict[str, Any]:
    run = folder / "run"
    before, start = os.getloadavg()[0], time.monotonic()
    searched = subprocess.run([*SEARCH, "--run-dir", str(run), *extra], cwd=folder, capture_output=True, text=True)
    wall = time.monotonic() - start
    if searched.returncode != 0:
        raise SystemExit(f"search failed ({searched.returncode}): {searched.stderr[-2000:]}")
    report = subprocess.run([sys.executable, "-m", "sttune", "report", str(run), "--json", "--no-plots"], cwd=folder,
                            capture_output=True, text=True, check=True)
    search = json.loads(searched.stdout)["datasets"]["synthetic"]
    rep = json.loads(report.stdout)["datasets"]["synthetic"]
    chosen = search["export"]["chosen"]
    return {"command": " ".join(["sttune search recipes/quickstart.yaml", *extra]), "wall_seconds": wall,
            "load_before": before, "load_after": os.getloadavg()[0],
            "export": {k: chosen.get(k) for k in ("trial", "label", "epochs", "strategies", "speedup", "speedup_interval",
                                                  "speedup_verified", "val_mae_change", "work_fraction")},
            "search_cost_baselines": rep["search_cost_baselines"], "break_even_retrainings": rep["break_even_retrainings"],
            "break_even_note": rep.get("break_even_note"),
            "trained_trials": sum(1 for t in rep["trials"] if t.get("state") == "COMPLETE")
            - rep["search_cost"]["derived_trials"] - rep["search_cost"]["reused_trials"],
            "trials": [{k: t.get(k) for k in ("trial", "label", "state", "epochs", "val_mae", "cost_seconds")} for t in rep["trials"]]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    payload: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "cpus": os.cpu_count()}
    for name, extra in (("default", []), ("quick", ["--quick"])):
        with tempfile.TemporaryDirectory() as tmp:
            payload[name] = one(extra, Path(tmp))
        e = payload[name]["export"]
        print(f"{name}: export {e['label']} {e['speedup']:.2f}x {e['speedup_interval']}, "
              f"{payload[name]['search_cost_baselines']:.2f} baselines, {payload[name]['wall_seconds']:.0f} s wall", flush=True)
    print(f"wrote {save('quickstart_record', payload)}")
    if args.record:
        record("quickstart_record", payload)


if __name__ == "__main__":
    main()
