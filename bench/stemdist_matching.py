"""STemDist diagnostic: does gradient matching yield a set that trains a better model?

Trains STID on one distilled set of SZ-TAXI (nrr = srr = 0.1, the sizes of bench/stemdist.py)
and prints the test MAE, the outer iteration that validation selection kept (0 = the
cluster-only set, before any matching), the distillation's device seconds and the matching
loss every 10 iterations. Compare the test MAE with the cluster-only and random-subset arms
of bench/stemdist.py (seed 0: 4.0745 and 3.9943).
Usage: .venv/bin/python bench/stemdist_matching.py --lr-feat 0.01 --t-outer 100 --inner 10
       .venv/bin/python bench/stemdist_matching.py --lr-feat 0.1 --t-outer 10 --inner 5 --eval-every 5
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import Arm, bench_train, run_arm


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lr-feat", type=float, default=0.01)
    p.add_argument("--t-outer", type=int, default=10)
    p.add_argument("--inner", type=int, default=5)
    p.add_argument("--eval-every", type=int, default=10, help="outer iterations between validation checks")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    stem = dict(nrr=0.1, srr=0.1, k_subsets=4, lr_feat=args.lr_feat, t_outer=args.t_outer, inner=args.inner,
                net_steps=5, eval_every=args.eval_every, eval_epochs=15)  # fmt: skip
    cache = Path(tempfile.mkdtemp(prefix="sttune-matching-"))  # a fresh distillation, never a cache hit
    res = run_arm(Arm("distilled", "stid", {}, [("stemdist", stem)], 15), "sz_taxi", bench_train(epochs=5),
                  args.seed, cache)
    art = res.artifacts["stemdist"]
    print(f"lr_feat {args.lr_feat} T_outer {args.t_outer} inner {args.inner}: test MAE {res.test_mae:.4f} "
          f"val {res.val_mae:.4f}; selection kept iteration {art.get('best_iteration')} "
          f"(its val {art.get('best_val_mae')}); distillation {art.get('distill_seconds'):.1f} s; "
          f"matching loss every 10 iterations {[round(x, 1) for x in art.get('matching_loss', [])][::10]}")


if __name__ == "__main__":
    main()
