"""STemDist's claim at its authors' settings (issue 33): a distilled set trains a better model
than a random subset or the cluster-only set of the same size.

    nice -n 19 .venv/bin/python bench/stemdist_authors.py [--settings cpu|authors] [--quick] [--record]
    bench/gpu.sh OUT_DIR --stemdist-authors [--datasets ...]     # their full settings on a GPU

The authors' pipeline (kbrother/STemDist: stemdist.py, model/load_mtgnn_stemdist.py, util.py),
closed option by option (docs/strategies/stemdist.md has the comparison):

- model: MTGNN (``mtgnn``) with the location encoder (node vectors 10 wide, encoder hidden 32),
  in distillation and in every compressed arm;
- distillation: ``loop: authors`` (per outer iteration a fresh surrogate in train mode; ``inner``
  rounds of one real batch of ``real_batch`` windows and, per random cluster subset (K 4), one
  Adam step of the set against the whole synthetic set; ``net_steps`` surrogate passes of K
  subset steps between rounds), MSE matched, lr_feat = net_lr = 1e-3, nrr = srr = 0.1,
  ``encoder_input: mean_window`` (each node's mean input window; the set's own for its
  pseudo-nodes), the set scored every 5 outer iterations by 3 fresh models trained 10 epochs
  (``score_runs``), the best validation score kept;
- evaluation: a fresh model trained on the set for E epochs of K subset steps on the whole set
  (trainer: batch = the whole set, ``train_subsets`` 4, 4·E epochs), lr 1e-3, no decay, no clipping,
  no weight decay, the best validation epoch (checked every ``check`` of their epochs) tested.

Arms per dataset × model × seed, interleaved per seed through bench/harness.py (the distillation
is charged: ``charge: full``, a fresh cache per process; selection on validation only):
``distilled``, ``random subset`` (round(nrr·N) random real nodes × round(srr·M) random windows),
``cluster-only`` (the clustered set before matching), ``authors' random`` (the baseline their
coreset script makes: round(nrr·srr·M) random windows of every node, table embeddings, no
subsets: their appendix says baselines are trained without K subsets), and with
``--full-epochs`` > 0 ``full data`` (plain MTGNN, table embeddings). Reference for the time
ratios: full data when run, else the random subset. Raw JSON goes to $STTUNE_BENCH_OUT
(or ``--out-dir``), ``--record`` writes the summary to bench/results/<out>.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch  # noqa: E402

import sttune  # noqa: E402
from common import REPO, Arm, real_dataset, record, save  # noqa: E402
from harness import interleave, summarise, table  # noqa: E402
from sttune.api import PrepareContext, Strategy, TensorWindows, WindowSource  # noqa: E402
from sttune.recipe.settings import Protocol, TrainConfig  # noqa: E402
from sttune.recipe.spec import DatasetBlock, LoadedRecipe, ModelBlock, Recipe, StrategyBlock  # noqa: E402
from sttune.registry.build import model_factory  # noqa: E402
from sttune.training.jobs import load_data_cached  # noqa: E402
from sttune.training.trainer import Trainer  # noqa: E402

# their gtnet as stemdist.py builds it: node_dim 10, ne_dim 32, published MTGNN otherwise
MODELS = {"mtgnn": {"node_dim": 10, "encoder_hidden": 32},
          "stid": {"embed_dim": 32}}  # fmt: skip
DRY_MODELS = {"stid": {"embed_dim": 8, "n_layers": 1, "encoder_hidden": 8}}

# (distillation params, final-training epochs E, validation every `check` of their epochs)
SETTINGS: dict[str, tuple[dict[str, Any], int, int]] = {
    # their GBA example: python -m stemdist ... -e 100 -lrf 1e-3 -lrs 1e-3 -srr 0.1 -nrr 0.1 -b 256 -c 5;
    # evaluation 400 epochs on GBA/GLA (100 elsewhere), lr 1e-3, checked every 5
    "authors": ({"t_outer": 100, "inner": 20, "net_steps": 10, "eval_every": 5, "eval_epochs": 10,
                 "score_runs": 3, "real_batch": 256}, 400, 5),
    # CPU: a tenth of the outer iterations, half the rounds, a quarter of the evaluation epochs
    "cpu": ({"t_outer": 10, "inner": 10, "net_steps": 10, "eval_every": 5, "eval_epochs": 10,
             "score_runs": 3, "real_batch": 256}, 100, 10),
    "dry": ({"t_outer": 2, "inner": 2, "net_steps": 1, "eval_every": 1, "eval_epochs": 1,
             "score_runs": 2, "real_batch": 16}, 2, 1),
}
COMMON = {"nrr": 0.1, "srr": 0.1, "k_subsets": 4, "lr_feat": 1e-3, "net_lr": 1e-3, "match_loss": "mse",
          "loop": "authors", "encoder_input": "mean_window", "train_subsets": 4, "initial_candidate": False,
          "feature_windows": 1_000_000}  # fmt: skip  (k-means on every training window, as theirs)
# --ablate: the distilled arm with one closed difference reverted to sttune's default (its effect)
ABLATIONS = {"distilled, sttune loop": {"loop": "sttune"},
             "distilled, profile input": {"encoder_input": "profile"},
             "distilled, sttune selection": {"score_runs": 1, "initial_candidate": True}}  # fmt: skip


AUTHORS_RANDOM = "authors' random"


class RandomWindows(Strategy):
    """The authors' random coreset: round(fraction·M) training windows drawn once (the run's
    generator), every node. Bench-only, run through the trainer directly."""

    name = "random_windows"

    def __init__(self, fraction: float) -> None:
        self.fraction = fraction

    def prepare(self, train: WindowSource, ctx: PrepareContext) -> WindowSource:
        k = min(len(train), max(1, round(self.fraction * len(train))))
        index = torch.randperm(len(train), generator=ctx.generator)[:k].sort().values
        b = train.gather(index)
        return TensorWindows(b.x, b.y, b.node_inputs)


def datasets(dry: bool, names: list[str]) -> dict[str, DatasetBlock]:
    if dry:
        tiny = {"n_nodes": 10, "n_days": 4, "steps_per_day": 48}
        return {name: DatasetBlock("synthetic", {**tiny, "seed": i}, id=name) for i, name in enumerate(names)}
    return {name: real_dataset(name) for name in names}


def small_config(base: TrainConfig, epochs: int, check: int, subsets: bool) -> TrainConfig:
    """Their evaluation: an epoch is K subset steps on the whole set (or one full-batch step)."""
    k = COMMON["train_subsets"] if subsets else 1
    return replace(base, epochs=k * epochs, val_every=k * check, batch_size=1_000_000, lr=1e-3, weight_decay=0.0,
                   lr_decay_at=(), grad_clip=None)  # fmt: skip


def run_block(name: str, block: DatasetBlock, model: str, params: dict, seeds: list[int], settings: str,
              full_epochs: int, cache: Path, device: str, ablate: bool = False) -> dict:
    distill, epochs, check = SETTINGS[settings]
    stem = {**COMMON, **distill}
    if settings == "dry":
        stem = {**stem, "real_batch": 16}
    base = TrainConfig(device=device, cpu_clock="process")
    small, baseline = small_config(base, epochs, check, True), small_config(base, epochs, check, False)
    arms = {
        "distilled": (Arm("distilled", model, params, [("stemdist", stem)]), small),
        "random subset": (Arm("random subset", model, params, [("stemdist", {**stem, "mode": "random"})]), small),
        "cluster-only": (Arm("cluster-only", model, params, [("stemdist", {**stem, "mode": "cluster_only"})]), small),
    }
    if ablate:
        arms.update({label: (Arm(label, model, params, [("stemdist", {**stem, **change})]), small)
                     for label, change in ABLATIONS.items()})
    table_params = {k: v for k, v in params.items() if k != "encoder_hidden"}
    data = load_data_cached(block, Protocol())

    def run(label: str, repeat: int, earlier: dict):  # noqa: ANN202
        seed = seeds[repeat]
        if label == AUTHORS_RANDOM:
            cfg = replace(baseline, seed=seed)
            new_model = model_factory(model, table_params, data, [])
            return Trainer(cfg, cache).fit(new_model, data, [RandomWindows(COMMON["nrr"] * COMMON["srr"])])
        if label == "full data":
            cfg = replace(base, seed=seed, epochs=full_epochs, batch_size=64)
            return sttune.train(_recipe(block, Arm(label, model, table_params), cfg, cache))
        arm, cfg = arms[label]
        return sttune.train(_recipe(block, arm, replace(cfg, seed=seed), cache))

    groups = [(label,) for label in arms] + [(AUTHORS_RANDOM,)] + ([("full data",)] if full_epochs else [])
    results = interleave(groups, len(seeds), run, lambda line: print(f"{name} {model}{line}", flush=True))
    reference = "full data" if full_epochs else "random subset"
    return {"stemdist": stem, "epochs": epochs, "check": check, "reference": reference,
            "summary": summarise(results, reference), "runs": {a: [_raw(r) for r in rs] for a, rs in results.items()},
            "claim": claim(results)}


def _recipe(block: DatasetBlock, arm: Arm, cfg: TrainConfig, cache: Path):  # noqa: ANN202
    """common.arm_recipe for any dataset block (it takes a real dataset's name)."""
    recipe = Recipe(datasets=[block], model=ModelBlock(name=arm.model, params=dict(arm.model_params)),
                    protocol=Protocol(), train=cfg, strategies=[StrategyBlock(n, dict(p)) for n, p in arm.strategies],
                    name=f"bench.{arm.label}", cache_dir=str(cache))
    return LoadedRecipe(recipe, REPO / "bench" / f"{arm.label}.yaml")


def _raw(r) -> dict:  # noqa: ANN001
    art = r.artifacts.get("stemdist", {})
    return {"test_mae": r.test_mae, "val_mae": r.val_mae, "cost_seconds": r.cost_seconds,
            "device_seconds": r.device_seconds, "charged_prepare_seconds": r.charged_prepare_seconds,
            "epochs_run": r.epochs_run, "best_epoch": r.best_epoch, "windows": r.n_prepared_windows,
            "nodes": art.get("n_nodes"), "best_iteration": art.get("best_iteration"),
            "best_val_mae": art.get("best_val_mae"), "distill_seconds": art.get("distill_seconds"),
            "clock": r.clock, "device": r.device}  # fmt: skip


def claim(results: dict[str, list]) -> dict:
    """Distilled against each other small arm, seed by seed: the paired test-MAE differences
    (negative: distilled better), how many seeds it wins, and whether the mean gap exceeds the
    larger seed sd of the two arms (bench/stemdist.py's rule: a gap inside the spread is a tie)."""
    dist = [r.test_mae for r in results["distilled"]]
    out = {}
    for other in ("random subset", "cluster-only", AUTHORS_RANDOM):
        theirs = [r.test_mae for r in results[other]]
        diffs = [a - b for a, b in zip(dist, theirs)]
        gap = statistics.fmean(diffs)
        spread = max(statistics.pstdev(dist), statistics.pstdev(theirs))
        out[other] = {"mean_diff": gap, "relative": gap / statistics.fmean(theirs), "wins": sum(d < 0 for d in diffs),
                      "seeds": len(diffs), "beats": gap < -spread, "loses": gap > spread}  # fmt: skip
    for label in ABLATIONS:
        if label in results:
            theirs = [r.test_mae for r in results[label]]
            diffs = [a - b for a, b in zip(dist, theirs)]
            out[label] = {"mean_diff": statistics.fmean(diffs), "relative": statistics.fmean(diffs) / statistics.fmean(theirs),
                          "wins": sum(d < 0 for d in diffs), "seeds": len(diffs)}  # fmt: skip
    return out


def verdict(blocks: dict[str, dict]) -> str:
    lines = ["| block | distilled | random subset | cluster-only | authors' random | distilled vs random (wins) "
             "| vs cluster-only (wins) | vs authors' random (wins) | distill s |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for key, b in blocks.items():
        s, c = b["summary"], b["claim"]
        def mae(arm: str, s: dict = s) -> str:
            return f"{s[arm]['test_mae_mean']:.4f} ± {s[arm]['test_mae_sd']:.4f}"

        def vs(arm: str, c: dict = c) -> str:
            v = c[arm]
            word = "**beats**" if v["beats"] else ("loses" if v["loses"] else "tie")
            return f"{100 * v['relative']:+.1f}% ({v['wins']}/{v['seeds']}, {word})"

        distill_s = statistics.fmean(r["distill_seconds"] or 0 for r in b["runs"]["distilled"])
        lines.append(f"| {key} | {mae('distilled')} | {mae('random subset')} | {mae('cluster-only')} "
                     f"| {mae(AUTHORS_RANDOM)} | {vs('random subset')} | {vs('cluster-only')} "
                     f"| {vs(AUTHORS_RANDOM)} | {distill_s:.0f} |")
    ablated = [(key, label, b["claim"][label]) for key, b in blocks.items() for label in ABLATIONS if label in b["claim"]]
    if ablated:  # distilled (every difference closed) against the arm with one reverted: that difference's effect
        lines += ["", "| block | reverted to sttune's | its test MAE | distilled vs it (wins) |", "|---|---|---|---|"]
        for key, label, v in ablated:
            s = blocks[key]["summary"][label]
            lines.append(f"| {key} | {label.removeprefix('distilled, ')} | {s['test_mae_mean']:.4f} ± {s['test_mae_sd']:.4f} "
                         f"| {100 * v['relative']:+.1f}% ({v['wins']}/{v['seeds']}) |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--settings", choices=["cpu", "authors"], default="cpu")
    ap.add_argument("--datasets", default="los_loop,sz_taxi,pems08_prefix")
    ap.add_argument("--models", default="mtgnn")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--full-epochs", type=int, default=0, help="also train plain full data this many epochs (0: no)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--ablate", action="store_true", help="also the distilled arm with each closed difference "
                    "reverted to sttune's default, one at a time (its measured effect)")
    ap.add_argument("--quick", action="store_true", help="smoke: LOS-LOOP, one seed, 1 outer iteration, 4 epochs")
    ap.add_argument("--dry", action="store_true", help="seconds on a CPU: tiny synthetic data, STID (tests)")
    ap.add_argument("--out", default="stemdist_authors")
    ap.add_argument("--out-dir", default="", help="write the raw JSON here instead of $STTUNE_BENCH_OUT")
    ap.add_argument("--record", action="store_true", help="write the summary to bench/results/<out>.json")
    ap.add_argument("--merge", nargs="+", metavar="RAW", help="no training: join the blocks of these raw runs "
                    "(names under $STTUNE_BENCH_OUT, e.g. one process per dataset) into --out")
    a = ap.parse_args()
    if a.merge:
        merge(a.merge, a.out, a.record)
        return
    settings = "dry" if a.dry else a.settings
    models = DRY_MODELS if a.dry else {m: MODELS[m] for m in a.models.split(",")}
    seeds = [int(s) for s in a.seeds.split(",")]
    if a.dry:
        seeds, a.datasets = seeds[:2], "los_loop"
    if a.quick:  # one outer iteration with one score, a few epochs: proves the pipeline on real data
        SETTINGS["quick"] = ({**SETTINGS["cpu"][0], "t_outer": 1, "inner": 2, "net_steps": 2, "eval_every": 1,
                              "eval_epochs": 2, "score_runs": 1}, 4, 2)  # fmt: skip
        settings, seeds, a.datasets = "quick", seeds[:1], a.datasets.split(",")[0]
    cache = Path(tempfile.mkdtemp(prefix="stemdist-authors-"))  # every run distils afresh: charged in full
    payload: dict = {"config": vars(a), "settings": settings, "models": models, "blocks": {}}
    start = time.time()
    for name, block in datasets(a.dry, a.datasets.split(",")).items():
        for model, params in models.items():
            key = f"{name}/{model}"
            payload["blocks"][key] = run_block(name, block, model, params, seeds, settings, a.full_epochs, cache,
                                               "cpu" if a.dry else a.device, a.ablate)  # fmt: skip
            payload["wall_seconds"] = time.time() - start
            _save(a, payload)
            b = payload["blocks"][key]
            print(table(b["summary"], f"{key} (reference: {b['reference']}; device s incl. the distillation)"))
            print(verdict({key: b}), flush=True)
    print(verdict(payload["blocks"]))
    if a.record and not (a.dry or a.quick):
        record(a.out, payload)  # the per-seed rows are small: the summary keeps them
    print(f"wall {time.time() - start:.0f}s")


def merge(names: list[str], out: str, with_record: bool) -> None:
    """Join raw runs made with the same settings (one process per dataset, run side by side)."""
    import json

    from common import raw_dir

    runs = [json.loads((raw_dir() / f"{name}.json").read_text()) for name in names]
    payload = {k: v for k, v in runs[0].items() if k not in ("blocks", "wall_seconds")}
    payload["merged_from"] = {name: run.get("wall_seconds") for name, run in zip(names, runs)}
    payload["blocks"] = {k: b for run in runs for k, b in run["blocks"].items()}
    save(out, payload)
    if with_record:
        record(out, payload)
    print(verdict(payload["blocks"]))


def _save(a: argparse.Namespace, payload: dict) -> None:
    import json

    name = f"{a.out}_dry" if a.dry else (f"{a.out}_quick" if a.quick else a.out)
    if a.out_dir:
        out = Path(a.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{name}.json").write_text(json.dumps(payload, indent=1, default=str))
    else:
        save(name, payload)


if __name__ == "__main__":
    main()
