"""STemDist diagnostic: does gradient matching yield a set that trains a better model?

Trains STID (or ``--model stgcn``) on one distilled set of a real dataset and, with
``--baselines``, on the random subset and the cluster-only set of the same size (same seed, same
epochs), and prints their test MAE, the outer iteration that validation selection kept (0 = the
cluster-only set, before any matching), the distillation's device seconds and the matching loss
every 10 iterations.
``--real-batch`` / ``--syn-batch`` set the windows per matching step on each side (0 = the
training batch, 64); ``--syn-batch`` larger than the set matches the whole synthetic set.
Usage: .venv/bin/python bench/stemdist_matching.py --lr-feat 0.01 --t-outer 100 --inner 10
       .venv/bin/python bench/stemdist_matching.py --nrr 0.25 --t-outer 30 --inner 10 --baselines \
           --real-batch 256 --syn-batch 100000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import Arm, bench_train, run_arm, save
from stemdist import MODELS


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="sz_taxi")
    p.add_argument("--model", default="stid", choices=sorted(MODELS), help="widths as in bench/stemdist.py")
    p.add_argument("--nrr", type=float, default=0.1)
    p.add_argument("--srr", type=float, default=0.1)
    p.add_argument("--lr-feat", type=float, default=0.01)
    p.add_argument("--t-outer", type=int, default=10)
    p.add_argument("--inner", type=int, default=5)
    p.add_argument("--real-batch", type=int, default=0)
    p.add_argument("--syn-batch", type=int, default=0)
    p.add_argument("--eval-every", type=int, default=10, help="outer iterations between validation checks")
    p.add_argument("--epochs", type=int, default=15, help="training epochs on every compressed set")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--baselines", action="store_true", help="also train the random and cluster-only sets")
    p.add_argument("--match-loss", default="mse", choices=["mse", "mae"], help="loss matched and scored")
    p.add_argument("--no-distill", action="store_true", help="skip the distilled set (baselines only)")
    p.add_argument("--represent", default="mean", choices=["mean", "medoid"],
                   help="a cluster's series: its member mean (the paper) or its medoid's")
    p.add_argument("--out", default="", help="save rows to $STTUNE_BENCH_OUT/<out>.json")
    args = p.parse_args()
    size = dict(nrr=args.nrr, srr=args.srr)
    stem = dict(size, k_subsets=4, lr_feat=args.lr_feat, t_outer=args.t_outer, inner=args.inner, net_steps=5,
                eval_every=args.eval_every, eval_epochs=args.epochs, real_batch=args.real_batch,
                syn_batch=args.syn_batch, represent=args.represent, match_loss=args.match_loss)  # fmt: skip
    arms = [] if args.no_distill else [("distilled", stem)]
    if args.baselines:
        arms += [("random subset", dict(size, mode="random")),
                 ("cluster-only", dict(size, mode="cluster_only", represent=args.represent))]
    cache = Path(tempfile.mkdtemp(prefix="sttune-matching-"))  # a fresh distillation, never a cache hit
    rows = []
    for label, params in arms:
        t = time.time()
        res = run_arm(Arm(label, args.model, MODELS[args.model], [("stemdist", params)], args.epochs), args.dataset,
                      bench_train(epochs=args.epochs), args.seed, cache)
        art = res.artifacts["stemdist"]
        rows.append({"arm": label, "params": params, "test_mae": res.test_mae, "val_mae": res.val_mae,
                     "train_device_s": res.device_seconds, "distill_s": art.get("distill_seconds"),
                     "best_iteration": art.get("best_iteration"), "best_val_mae": art.get("best_val_mae"),
                     "matching_loss": art.get("matching_loss")})
        extra = ""
        if label == "distilled":
            extra = (f"; selection kept iteration {art.get('best_iteration')} (its val {art.get('best_val_mae')}); "
                     f"distillation {art.get('distill_seconds'):.1f} s; matching loss every 10 iterations "
                     f"{[round(x, 1) for x in art.get('matching_loss', [])][::10]}")
        print(f"{label}: test MAE {res.test_mae:.4f} val {res.val_mae:.4f} train {res.device_seconds:.1f} s "
              f"(wall {time.time() - t:.0f} s){extra}", flush=True)
    if args.out:
        print("wrote", save(args.out, {"argv": vars(args), "rows": rows}))


if __name__ == "__main__":
    main()
