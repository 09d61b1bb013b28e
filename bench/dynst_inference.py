"""DynST's inference claim (issue 33): does the deployed model forecast faster than the full one?

    nice -n 19 .venv/bin/python bench/dynst_inference.py [--quick] [--record]

Per dataset (SZ-TAXI, LOS-LOOP) x model (STID, GWNet, STGCN) x sparsity (0.3, 0.5) x seed: DynST
trained at s_final = sparsity (its defaults otherwise); its result carries
``deployment.inference`` (sttune.training.deploy.inference_timing): the full model's, the
kept-sensors-only model's and the every-sensor-from-kept-inputs model's forward passes over the
test windows, interleaved per batch in an order rotating per repeat, on the trainer's device clock
(process CPU time with one thread on a CPU); per run the median and range over its repeats of full
seconds / deployed seconds. The trainings run through bench/harness.py (the sparsities interleaved
per seed). The table gives, per cell, the median over seeds of those medians with the lowest low and
highest high beside it, and the deployed test MAE.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Arm, bench_train, record, run_arm, save  # noqa: E402
from harness import interleave  # noqa: E402

MODELS = {  # CPU widths: STID as bench/dynst.py, GWNet and STGCN narrowed as in bench/stemdist.py
    "stid": {"embed_dim": 16},
    "gwnet": {"residual_channels": 16, "dilation_channels": 16, "skip_channels": 32, "end_channels": 64},
    "stgcn": {"hidden": 32, "out_hidden": 64},
}
VIEWS = ("kept_only", "all_sensors")


def raw(result) -> dict:
    dep = result.deployment
    inf = dep["inference"]
    return {"test_mae": result.test_mae, "n_kept": dep["n_kept"], "clock": inf["clock"], "device": inf["device"],
            "deployed_test_mae": {v: dep[v]["test"]["mae"] for v in VIEWS},
            "seconds": inf["seconds"], "speedup": inf["speedup"], "repeats": inf["repeats"]}


def cell(runs: list[dict]) -> dict:
    out: dict = {"n_kept": runs[0]["n_kept"], "seeds": len(runs), "clock": sorted({r["clock"] for r in runs}),
                 "device": runs[0]["device"], "test_mae": statistics.fmean(r["test_mae"] for r in runs)}
    for v in VIEWS:
        sp = [r["speedup"][v] for r in runs]
        out[v] = {"speedup": statistics.median(s["median"] for s in sp), "low": min(s["low"] for s in sp),
                  "high": max(s["high"] for s in sp),
                  "deployed_test_mae": statistics.fmean(r["deployed_test_mae"][v] for r in runs)}
    return out


def table(cells: dict[str, dict]) -> str:
    lines = ["| dataset | model | sparsity | kept | kept sensors only: speed-up [range] | test MAE (kept) "
             "| every sensor from kept inputs: speed-up [range] | test MAE (every sensor) | clock |",
             "|---|---|---|---|---|---|---|---|---|"]
    for key, c in cells.items():
        ds, model, s = key.split("/")
        k, a = c["kept_only"], c["all_sensors"]
        lines.append(f"| {ds} | {model} | {s} | {c['n_kept']} | {k['speedup']:.2f}x [{k['low']:.2f}, {k['high']:.2f}] "
                     f"| {k['deployed_test_mae']:.4f} | {a['speedup']:.2f}x [{a['low']:.2f}, {a['high']:.2f}] "
                     f"| {a['deployed_test_mae']:.4f} | {', '.join(c['clock'])} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="sz_taxi,los_loop")
    p.add_argument("--models", default="stid,gwnet,stgcn")
    p.add_argument("--sparsity", default="0.3,0.5")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--quick", action="store_true", help="a smoke run: SZ-TAXI, STID, s 0.5, seed 0, 1 epoch")
    p.add_argument("--out", default="dynst_inference")
    p.add_argument("--record", action="store_true", help="write the summary to bench/results/<out>.json")
    p.add_argument("--merge", nargs="+", metavar="RAW", help="no training: join these raw runs (names under "
                   "$STTUNE_BENCH_OUT, e.g. one process per model) into --out")
    a = p.parse_args()
    if a.merge:
        merge(a.merge, a.out, a.record)
        return
    if a.quick:
        a.datasets, a.models, a.sparsity, a.seeds, a.epochs = "sz_taxi", "stid", "0.5", "0", 1
    seeds = [int(s) for s in a.seeds.split(",")]
    sparsities = [float(s) for s in a.sparsity.split(",")]
    train = bench_train(epochs=a.epochs)
    payload: dict = {"config": vars(a), "models": MODELS, "runs": {}, "cells": {}}
    start = time.time()
    for ds in a.datasets.split(","):
        for model in a.models.split(","):
            arms = {f"s{s}": Arm(f"dynst@{s}", model, MODELS[model], [("dynst", {"s_final": s})]) for s in sparsities}

            def run(label: str, repeat: int, earlier: dict, arms=arms, ds=ds):  # noqa: ANN001, ANN202
                return run_arm(arms[label], ds, train, seeds[repeat])

            results = interleave([(label,) for label in arms], len(seeds), run,
                                 lambda line, ds=ds, model=model: print(f"{ds} {model}{line}", flush=True))
            for label, rs in results.items():
                key = f"{ds}/{model}/{label[1:]}"
                payload["runs"][key] = [raw(r) for r in rs]
                payload["cells"][key] = cell(payload["runs"][key])
            payload["wall_seconds"] = time.time() - start
            save("dynst_inference_quick" if a.quick else a.out, payload)
            print(table({k: v for k, v in payload["cells"].items() if k.startswith(f"{ds}/{model}/")}), flush=True)
    print(table(payload["cells"]))
    if a.record and not a.quick:
        record(a.out, {k: v for k, v in payload.items() if k != "runs"})
    print(f"wall {time.time() - start:.0f}s")


def merge(names: list[str], out: str, with_record: bool) -> None:
    import json

    from common import raw_dir

    runs = [json.loads((raw_dir() / f"{name}.json").read_text()) for name in names]
    payload = {"config": runs[0]["config"], "models": MODELS, "merged_from": {n: r.get("wall_seconds") for n, r in zip(names, runs)},
               "runs": {k: v for r in runs for k, v in r["runs"].items()},
               "cells": {k: v for r in runs for k, v in r["cells"].items()}}  # fmt: skip
    save(out, payload)
    if with_record:
        record(out, {k: v for k, v in payload.items() if k != "runs"})
    print(table(payload["cells"]))


if __name__ == "__main__":
    main()
