"""The no-strategy frontier per dataset, and where each strategy's best trial sits against it.

One search per dataset (STID or GWNet; the full baseline plus the default ladder at 1/8, 1/4, 1/2 and
3/4 of the epochs; the three built-in strategies searched), then the frontier built from the
baseline trials alone and each strategy's best margin at equal device time
(`sttune.outcome.frontier`: the frontier interpolated between ladder points and read at the
trial's cost raised by the study's cost noise). Positive margin = below the frontier = a real gain.
Usage: .venv/bin/python bench/frontier.py [--datasets sz_taxi los_loop] [--trials N] [--model gwnet]
Device seconds on a CPU are the process's CPU time (`cpu_clock: process`), robust to load.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import real_dataset, save
from sttune.outcome.frontier import build_frontier, strategy_margins
from sttune.outcome.select import cost_noise
from sttune.outcome.verify import work_fraction
from sttune.recipe.settings import TrainConfig
from sttune.recipe.spec import ModelBlock, Recipe, SearchConfig, StrategyBlock
from sttune.tuning.events import NullEvents
from sttune.tuning.records import finished_records, full_baseline
from sttune.tuning.runs import Run, load_studies, search_run

# CPU-sized widths, the same for every trial of a search
MODELS = {
    "stid": {"embed_dim": 16, "n_layers": 2},
    "gwnet": {"residual_channels": 8, "dilation_channels": 8, "skip_channels": 16, "end_channels": 32, "blocks": 2},
}


class Quiet(NullEvents):
    def trial_finished(self, record) -> None:
        print(f"  trial {record.number:>3} {record.state:8s} {record.label:30s} "
              f"val {record.val_mae:.4f} {record.cost_seconds:7.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", nargs="+", default=["sz_taxi", "los_loop"])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--model", choices=list(MODELS), default="stid")
    parser.add_argument("--out", default=None, help="results name (default: frontier, frontier_<model>)")
    args = parser.parse_args()
    out = {}
    results_name = args.out or ("frontier" if args.model == "stid" else f"frontier_{args.model}")
    tmp = Path(tempfile.mkdtemp(prefix="sttune-frontier-"))
    for name in args.datasets:
        recipe = Recipe(
            datasets=[real_dataset(name)],
            model=ModelBlock(name=args.model, params=MODELS[args.model]),
            train=TrainConfig(epochs=args.epochs, device="auto", cpu_clock="process", cpu_threads=1),
            strategies=[StrategyBlock("st_prune"), StrategyBlock("dynst"),
                        StrategyBlock("stemdist", fixed={"t_outer": 5, "inner": 5})],
            search=SearchConfig(trials=args.trials, seed=0),
        )
        print(f"dataset {name}", flush=True)
        run = Run(tmp / name, recipe, f"frontier-{name}")
        search_run(run, tmp / "cache", Quiet(), None, None)
        records = finished_records(load_studies(run)[0])
        frontier = build_frontier(records)
        noise = cost_noise([r for r in records if r.state == "COMPLETE"])
        margins = strategy_margins(records, frontier, noise)
        base = full_baseline(records)
        out[name] = {"frontier": frontier.points, "margins": margins, "cost_noise": noise,
                     "trials": [(r.number, r.label, r.state, r.val_mae, r.test_mae, r.cost_seconds,
                                 frontier.margin(r, noise) if r.role != "baseline" else None,
                                 work_fraction(r, base)) for r in records]}
        print(f"  cost noise {noise:.1%} (the baselines' seconds per unit of work)", flush=True)
        print(f"  frontier {frontier.points}", flush=True)
        for strategy, m in margins.items():
            print(f"  {strategy}: best trial {m['trial']} margin {100 * m['margin']:+.1f}% at {m['cost_seconds']:.1f} s", flush=True)
        payload = {"model": args.model, "model_params": MODELS[args.model], "epochs": args.epochs,
                   "trials": args.trials, "cpu_clock": "process", "datasets": out}
        print(f"wrote {save(results_name, payload)}", flush=True)  # after each dataset: a cut-off run keeps it


if __name__ == "__main__":
    main()
