"""sttune's trainer against a bare PyTorch loop: same model, data, batches, optimiser.

Both loops gather the same windows in the same order, run the same forward/backward/clip/
step, and are timed the same way (training only, validation excluded). One-epoch runs
alternate in ABBA order (bare, sttune, sttune, bare, ...) so drift in machine load and
warm-up effects hit both alike; we report the median of the paired ratios.
Both are timed by the same clock. By default that is the CPU time of the main thread
(`--clock thread`; the benchmarks run one torch thread, so all compute is on it): on a
shared machine, time spent waiting for a core then counts for neither loop. `--clock wall`
uses the trainer's own monotonic wall clock instead.
Usage: .venv/bin/python bench/trainer_overhead.py [--clock thread|wall]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from common import real_dataset, save
from sttune.recipe.settings import Protocol, TrainConfig
from sttune.registry import discovery as plugins
from sttune.training.jobs import load_data_cached
from sttune.training.metrics import per_sample_masked_mae
from sttune.training.trainer import Trainer, seed_everything

CLOCK = time.perf_counter


def bare_loop(model_cls, params, data, cfg: TrainConfig) -> float:
    """Seconds of `cfg.epochs` plain training epochs (the reference loop)."""
    seed_everything(cfg.seed)
    model = model_cls(data.spec, **params)
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    shuffle = torch.Generator().manual_seed(cfg.seed)
    seconds = 0.0
    for _ in range(cfg.epochs):
        model.train()
        start = CLOCK()
        for index in torch.split(torch.randperm(len(data.train), generator=shuffle), cfg.batch_size):
            batch = data.train.gather(index)
            pred = model(batch.x, None, batch.node_inputs, None) * data.target_std + data.target_mean
            loss = per_sample_masked_mae(pred, batch.y, None).mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimiser.step()
        seconds += CLOCK() - start
    return seconds


def use_clock(kind: str) -> None:
    """Point both loops at one clock (the trainer's through its injectable ``now``)."""
    global CLOCK
    if kind == "thread":
        CLOCK = time.thread_time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--models", nargs="+", default=["stid", "gwnet"])
    parser.add_argument("--clock", choices=["thread", "wall"], default="thread")
    args = parser.parse_args()
    use_clock(args.clock)
    data = load_data_cached(real_dataset("sz_taxi"), Protocol())
    cfg = TrainConfig(epochs=args.epochs, device="cpu", lr_decay_at=())
    widths = {"gwnet": {"residual_channels": 16, "dilation_channels": 16}}
    rows = []
    for name in args.models:
        cls, params = plugins.load("model", name), widths.get(name, {})
        ratios = []
        for repeat in range(args.repeats):
            # ABBA order: whichever runs second in a pair gets no systematic advantage
            if repeat % 2 == 0:
                bare = bare_loop(cls, params, data, cfg)
                ours = Trainer(cfg, now=CLOCK).fit(lambda: cls(data.spec, **params), data).device_seconds  # noqa: B023 (called in this iteration)
            else:
                ours = Trainer(cfg, now=CLOCK).fit(lambda: cls(data.spec, **params), data).device_seconds  # noqa: B023 (called in this iteration)
                bare = bare_loop(cls, params, data, cfg)
            ratios.append(ours / bare)
            print(f"{name}: bare {bare:.2f} s, sttune {ours:.2f} s, ratio {ours / bare:.3f}", flush=True)
        rows.append({"model": name, "ratios": ratios, "median_ratio": statistics.median(ratios),
                     "overhead": statistics.median(ratios) - 1, "epochs": args.epochs})
        print(f"{name}: median overhead {100 * rows[-1]['overhead']:+.1f}%", flush=True)
    payload = {"dataset": "sz_taxi", "rows": rows, "device": "cpu", "clock": args.clock, "threads": torch.get_num_threads()}
    print(f"wrote {save('trainer_overhead', payload)}")


if __name__ == "__main__":
    main()
