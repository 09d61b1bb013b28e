"""STemDist diagnostic: what do spatial and temporal compression each cost, before any matching?

Gradient matching (STemDist step 4) matches gradients of the *clustered* real data, so the
clustered set with every window is the best a distilled set of that many clusters can aim for.
This trains STID (encoder route, the same epochs for every arm) on SZ-TAXI sets that compress
one dimension at a time, and prints their test MAE:
  clusters k, all windows    mode cluster_only, srr 1   (the ceiling of distillation at nrr)
  random k nodes, all windows  mode random, srr 1       (spatial compression without clustering)
  all nodes, random windows    mode random, nrr 1       (temporal compression only)
Usage: .venv/bin/python bench/stemdist_bounds.py [--nrr 0.1 0.5] [--srr 0.1] [--epochs 15] [--seed 0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import Arm, bench_train, run_arm, save


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nrr", type=float, nargs="+", default=[0.1, 0.5])
    p.add_argument("--srr", type=float, default=0.1)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dataset", default="sz_taxi")
    args = p.parse_args()
    arms = []
    for nrr in args.nrr:
        arms += [(f"clusters nrr {nrr}, all windows", {"mode": "cluster_only", "nrr": nrr, "srr": 1.0}),
                 (f"random nodes nrr {nrr}, all windows", {"mode": "random", "nrr": nrr, "srr": 1.0})]
    arms.append((f"all nodes, random windows srr {args.srr}", {"mode": "random", "nrr": 1.0, "srr": args.srr}))
    cache = Path(tempfile.mkdtemp(prefix="sttune-bounds-"))
    rows = []
    for label, params in arms:
        t = time.time()
        res = run_arm(Arm(label, "stid", {}, [("stemdist", params)], args.epochs), args.dataset,
                      bench_train(epochs=args.epochs), args.seed, cache)
        rows.append({"arm": label, "params": params, "test_mae": res.test_mae, "val_mae": res.val_mae,
                     "train_device_s": res.device_seconds, "windows": res.n_prepared_windows})
        print(f"{label}: test MAE {res.test_mae:.4f} val {res.val_mae:.4f} train {res.device_seconds:.1f} s "
              f"(wall {time.time() - t:.0f} s)", flush=True)
    print("wrote", save(f"stemdist_bounds_{args.dataset}", {"argv": vars(args), "rows": rows}))


if __name__ == "__main__":
    main()
