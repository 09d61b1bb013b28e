"""Every figure docs/benchmarks.md's tables print, traced to the committed JSON it comes from.

    python bench/trace_figures.py              # one line per figure; exit status 1 on any mismatch
    python bench/trace_figures.py --failures   # only the mismatches and the summary

A figure is: where the doc prints it (anchors, each a substring of a line, found in order; an anchor
starting with ``|`` is a table row's start), the cell (0 = the row's first cell; None = the paragraph
around the anchor), the JSON file and key path it comes from, and the value there. The check: the value,
formatted as the doc prints it, appears in that cell (bold markers dropped, U+2212 read as ``-``).
Per-repeat work-ceiling counts are recomputed here: from per-repeat rows where the JSON keeps them,
else from the three repeats' low, median and high against the arm's recorded ceiling and noise (each
arm's work is fixed by its schedule, the same in every repeat).

Files in ``bench/results/`` are read from the tree; superseded tables cite files removed in session 8,
read from commit 5047257 with ``git show`` (``5047257:NAME`` below). Figures with no JSON behind them are
listed in the doc's "Figures with no run of record"; ``ABSENT`` checks that none of them is printed as a
measurement where it used to be (README.md's quick start, docs/selection.md's examples, the headline table).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = "bench/results"
OLD = "5047257"  # the commit that still holds the files removed from bench/results/ in session 8
DOC = "docs/benchmarks.md"
NOISE_FLOOR = 0.02  # sttune.outcome.select.NOISE_FLOOR, which bench/harness.py uses (kept import-free here)

_loaded: dict[str, Any] = {}


def load(name: str) -> Any:
    """``NAME.json`` from bench/results/, or ``COMMIT:NAME.json`` from that commit's bench/results/."""
    if name not in _loaded:
        if ":" in name:
            commit, file = name.split(":", 1)
            text = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:{RESULTS}/{file}"],
                                  check=True, capture_output=True, text=True).stdout
        else:
            text = (ROOT / RESULTS / name).read_text()
        _loaded[name] = json.loads(text)
    return _loaded[name]


def dig(data: Any, path: Sequence[str | int]) -> Any:
    for key in path:
        data = data[key]
    return data


def show_path(path: Sequence[str | int]) -> str:
    out = ""
    for key in path:
        if isinstance(key, int):
            out += f"[{key}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            out += ("." if out else "") + key
        else:
            out += f'["{key}"]'
    return out


def show_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {show_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show_value(v) for v in value) + "]"
    return str(value)


# --- how the doc prints a value ---------------------------------------------------------------------

def x2(v: float) -> str:
    return f"{v:.2f}x"


def x1(v: float) -> str:
    return f"{v:.1f}x"


def rng(d: dict[str, float]) -> str:
    return f"{d['median']:.2f}x [{d['low']:.2f}, {d['high']:.2f}]"


def speed(d: dict[str, float]) -> str:
    return x2(d["median"]) if d["low"] == d["high"] == d["median"] else rng(d)


def pct(v: float, digits: int = 1) -> str:
    return f"{100 * v:.{digits}f}%"


def pct0(v: float) -> str:
    return pct(v, 0)


def spct(v: float, digits: int = 1) -> str:
    return f"{100 * v:+.{digits}f}%"


def f1(v: float) -> str:
    return f"{v:.1f}"


def f2(v: float) -> str:
    return f"{v:.2f}"


def f4(v: float) -> str:
    return f"{v:.4f}"


def pm(mean: float, sd: float) -> str:
    return f"{mean:.4f} ± {sd:.4f}"


def span(values: Sequence[Any], fmt: Callable[[Any], str]) -> str:
    """``a-b`` (``86-92%``: a unit both ends share is printed once; ``a`` when both ends print the same)."""
    lo, hi = fmt(min(values)), fmt(max(values))
    if lo == hi:
        return lo
    unit = re.search(r"[^\d.]*$", lo)
    if unit and unit.group() and hi.endswith(unit.group()):
        lo = lo[:len(lo) - len(unit.group())]
    if lo.startswith("+") and hi.startswith("+"):  # +1.2-1.3%
        hi = hi[1:]
    return f"{lo}-{hi}"


# --- the per-repeat work-ceiling check ----------------------------------------------------------------

def noise_of(speedups: Sequence[float]) -> float:
    """bench/harness.py's: the half-range over the median, at least the noise floor."""
    med = statistics.median(speedups)
    return max(NOISE_FLOOR, (max(speedups) - min(speedups)) / (2 * med))


def above(speedups: Sequence[float], ceilings: Sequence[float], noise: float) -> int:
    """Repeats faster than their own ceiling by more than the noise (the harness's repeats_above_ceiling)."""
    return sum(s > c * (1 + noise) for s, c in zip(speedups, ceilings, strict=True))


def above_from_range(row: dict[str, Any]) -> int:
    """Three repeats, no per-repeat rows: low, median and high are the repeats; the work (so the
    ceiling) is the same in each."""
    sp = row["speedup"]
    assert row["repeats"] == 3, "the range is the repeats only with three of them"
    return above([sp["low"], sp["median"], sp["high"]], [row["ceiling"]] * 3, row["noise"])


def above_per_seed(block: dict[str, Any], arm: str, noise: float) -> int:
    """The harness's count from per-repeat rows (cost_seconds, work_units) against the same repeat's full run."""
    runs, ref = block["per_seed"][arm], block["per_seed"]["full"]
    sp = [r["cost_seconds"] / a["cost_seconds"] for a, r in zip(runs, ref, strict=True)]
    ce = [r["work_units"] / a["work_units"] for a, r in zip(runs, ref, strict=True)]
    return above(sp, ce, noise)


def above_old_st_prune(block: dict[str, Any], arm: str, epochs: int) -> int:
    """Pre-harness ST-Prune runs: seconds per seed against the same seed's full run; the ceiling from the
    windows visited (time-matched: epochs / its epochs); the noise the harness would use."""
    runs, ref = block["per_seed"][arm], block["per_seed"]["full"]
    sp = [r["cost_seconds"] / a["cost_seconds"] for a, r in zip(runs, ref, strict=True)]
    if arm == "time-matched":
        ce = [epochs / a["epochs_run"] for a in runs]
    else:
        ce = [epochs / sum(a["visited_per_epoch"]) for a in runs]
    return above(sp, ce, noise_of(sp))


def above_old_dynst(block: dict[str, Any], arm: str, epochs: int) -> int:
    """Pre-harness DynST runs: the ceiling from the active sensors per epoch (node cost exponent 1 for
    STID, 2 for STGCN); time-matched: epochs / its epochs."""
    runs, ref = block["runs"][arm], block["runs"]["full"]
    n, p = block["learned_mask_seed0"]["n_sensors"], 1 if block["model"] == "stid" else 2
    sp = [r["device_seconds"] / a["device_seconds"] for a, r in zip(runs, ref, strict=True)]
    if arm == "time_matched":
        ce = [epochs / a["epochs"] for a in runs]
    else:
        ce = [epochs / sum((k / n) ** p for k in a["active_per_epoch"]) for a in runs]
    return above(sp, ce, noise_of(sp))


def at_ceiling(arm: dict[str, Any]) -> bool:
    """A verified figure equal to its work ceiling (the first-batches probe's cap)."""
    return arm["work_fraction"] < 1 and abs(arm["speedup"] * arm["work_fraction"] - 1) < 1e-3


# --- figures -------------------------------------------------------------------------------------------

@dataclass
class Figure:
    where: tuple[str, ...]
    col: int | None
    text: str
    source: str
    path: str
    value: Any


class Spec:
    def __init__(self) -> None:
        self.figures: list[Figure] = []

    def add(self, where: Sequence[str], col: int | None, source: str, path: Sequence[str | int],
            fmt: Callable[[Any], str]) -> None:
        """A figure the doc prints as ``fmt(value at path)``."""
        value = dig(load(source), path)
        self.figures.append(Figure(tuple(where), col, fmt(value), source, show_path(path), value))

    def value(self, where: Sequence[str], col: int | None, source: str, path: str, value: Any, text: str) -> None:
        """A figure derived from one or more keys (``path`` says which, and how)."""
        self.figures.append(Figure(tuple(where), col, text, source, path, value))


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("**", "").replace("\u2212", "-")).strip()


class Doc:
    def __init__(self, path: Path) -> None:
        self.lines = path.read_text().split("\n")
        self.normed = [norm(line) for line in self.lines]

    def locate(self, where: Sequence[str]) -> int:
        i, found = 0, -1
        for anchor in where:
            a = norm(anchor)
            while i < len(self.normed) and not (self.normed[i].startswith(a) if a.startswith("|")
                                                 else a in self.normed[i]):
                i += 1
            if i == len(self.normed):
                raise LookupError(f"not found: {anchor!r} (after {' › '.join(where[:where.index(anchor)])})")
            found, i = i, i + 1
        return found

    def cell(self, where: Sequence[str], col: int | None) -> str:
        i = self.locate(where)
        if col is None:  # the paragraph (or list item block) around the line
            lo, hi = i, i
            while lo > 0 and self.normed[lo - 1]:
                lo -= 1
            while hi + 1 < len(self.normed) and self.normed[hi + 1]:
                hi += 1
            return " ".join(self.normed[lo:hi + 1])
        cells = [c.strip() for c in self.normed[i].strip().strip("|").split("|")]
        return cells[col] if col < len(cells) else ""


# --- the doc's tables ------------------------------------------------------------------------------

HEAD = ("## Headlines (session 8, the harness)",)


def harness_rows(spec: Spec, section: tuple[str, ...], source: str, rows: Sequence[tuple[str, Sequence[str | int]]],
                 count: Callable[[Sequence[str | int], dict[str, Any]], int], extra: Callable[..., None] | None = None
                 ) -> None:
    """A harness table: test MAE, change, work, speed-up [range], time saving (or training only), check."""
    for prefix, path in rows:
        where = (*section, prefix)
        row = dig(load(source), path)
        p = show_path(path)
        spec.value(where, 1, source, f"{p}.{{test_mae_mean, test_mae_sd}}", (row["test_mae_mean"], row["test_mae_sd"]),
                   pm(row["test_mae_mean"], row["test_mae_sd"]))
        spec.add(where, 2, source, (*path, "mae_change"), spct)
        spec.add(where, 3, source, (*path, "work_fraction"), pct)
        spec.add(where, 4, source, (*path, "speedup"), speed)
        if extra:
            extra(where, path)
        else:
            spec.add(where, 5, source, (*path, "time_saving", "median"), pct0)
        n = count(path, row)
        spec.value(where, 6, source, f"{p}.above_work_ceiling; repeats above their ceiling", (row["above_work_ceiling"], n),
                   f"{'ok' if not row['above_work_ceiling'] else 'above its work ceiling'}; {n} of {row['repeats']}")


def st_prune(spec: Spec) -> None:
    src = "st_prune.json"
    data = load(src)
    for dataset, header in (("sz_taxi", "| SZ-TAXI × STID |"), ("los_loop", "| LOS-LOOP × STID |")):
        block = data["blocks"][f"{dataset}/stid"]
        base = ("blocks", f"{dataset}/stid", "summary")

        def count(path: Sequence[str | int], row: dict[str, Any], block: dict[str, Any] = block) -> int:
            return above_per_seed(block, str(path[-1]), row["noise"])

        rows = [("| full |", (*base, "full")), ("| named |", (*base, "named")), ("| random |", (*base, "random")),
                ("| time-matched (9 ep) |", (*base, "time-matched"))]
        harness_rows(spec, ("## ST-Prune (issue 4)", "### STID under the harness", header), src, rows, count)
        # the headline rows
        label = "SZ-TAXI" if dataset == "sz_taxi" else "LOS-LOOP"
        where = (*HEAD, f"| ST-Prune r 0.6 | {label} × STID |")
        named, tm = (*base, "named"), (*base, "time-matched")
        spec.add(where, 3, src, (*named, "mae_change"), spct)
        spec.add(where, 4, src, (*named, "work_fraction"), pct)
        spec.add(where, 5, src, (*named, "speedup"), rng)
        spec.add(where, 5, src, (*named, "time_saving", "median"), lambda v: f"({pct0(v)} saved)")
        tm_row = dig(data, tm)
        epochs = block["tm_epochs"]
        spec.value(where, 6, src, f"blocks[\"{dataset}/stid\"].tm_epochs; {show_path(tm)}.{{mae_change, speedup}}",
                   (epochs, tm_row["mae_change"], tm_row["speedup"]["median"]),
                   f"{span(epochs, str)} epochs: {spct(tm_row['mae_change'])} at {x2(tm_row['speedup']['median'])}")
        n = above_per_seed(block, "named", dig(data, named)["noise"])
        spec.value(where, 7, src, f"blocks[\"{dataset}/stid\"].per_seed.named vs .full", n, f"{n} of 3")
    # the per-repeat sentence
    counts = {}
    for dataset in ("sz_taxi", "los_loop"):
        block = data["blocks"][f"{dataset}/stid"]
        for arm in ("named", "random", "time-matched"):
            counts[dataset, arm] = above_per_seed(block, arm, block["summary"][arm]["noise"])
    spec.value(("## ST-Prune (issue 4)", "### STID under the harness", "**No repeat** is above its"), None, src,
               "blocks[*].per_seed: repeats above their own ceiling by more than the noise", counts,
               "No repeat is above its own ceiling by more than its arm's noise" if not any(counts.values()) else "?")


def st_prune_superseded(spec: Spec) -> None:
    arms = ("default", "named", "random", "infobatch", "time-matched")

    def table(section: tuple[str, ...], source: str, block: str, header: str, tm_prefix: str) -> None:
        rows = load(source)["blocks"][block]["rows"]
        for i, row in enumerate(rows):
            prefix = f"| {row['arm']} |" if row["arm"] != "time-matched" else tm_prefix
            where = (*section, header, prefix)
            path = ("blocks", block, "rows", i)
            spec.value(where, 1, source, f"{show_path(path)}.{{test_mae_mean, test_mae_std}}",
                       (row["test_mae_mean"], row["test_mae_std"]), pm(row["test_mae_mean"], row["test_mae_std"]))
            spec.add(where, 2, source, (*path, "device_seconds_mean"), f1)
            spec.add(where, 3, source, (*path, "time_saving"), pct0)
            spec.add(where, 4, source, (*path, "mae_change"), spct)
            spec.add(where, 5, source, (*path, "mean_visited_fraction"), pct0)

    def counts_text(source: str, blocks: Sequence[tuple[str, str]]) -> tuple[dict[str, int], str]:
        data = load(source)
        found, parts = {}, []
        for block, label in blocks:
            b = data["blocks"][block]
            mine = [(arm, above_old_st_prune(b, arm, data["config"]["epochs"])) for arm in arms if arm in b["per_seed"]]
            found.update({f"{block} {arm}": n for arm, n in mine})
            parts.append(f"{label} " + ", ".join(f"{arm} {n}" for arm, n in mine) + " of 3")
        return found, "; ".join(parts)

    sec = ("## ST-Prune (issue 4)", "### STID, the former run of record")
    src = f"{OLD}:st_prune_stid_r06_quiet.json"
    table(sec, src, "sz_taxi/stid", "| SZ-TAXI × STID |", "| time-matched (7-11 ep) |")
    table(sec, src, "los_loop/stid", "| LOS-LOOP × STID |", "| time-matched (8-9 ep) |")
    found, text = counts_text(src, [("sz_taxi/stid", "SZ-TAXI"), ("los_loop/stid", "LOS-LOOP")])
    spec.value((*sec, "Repeats above their own ceiling"), None, src, "blocks[*].per_seed (seconds, windows visited)",
               found, text)

    sec = ("## ST-Prune (issue 4)", "### GWNet, 12 epochs")
    src = f"{OLD}:st_prune_gwnet12.json"
    table(sec, src, "sz_taxi/gwnet", "| SZ-TAXI × GWNet |", "| time-matched (8 ep) |")
    table(sec, src, "los_loop/gwnet", "| LOS-LOOP × GWNet |", "| time-matched (9-10 ep) |")
    found, text = counts_text(src, [("sz_taxi/gwnet", "SZ-TAXI"), ("los_loop/gwnet", "LOS-LOOP")])
    spec.value((*sec, "Repeats above their own ceiling"), None, src, "blocks[*].per_seed (seconds, windows visited)",
               found, text)
    src = f"{OLD}:st_prune_gwnet12_los_loop_timing.json"
    seeds = load(src)["blocks"]["los_loop/gwnet"]["per_seed"]
    for arm, prefix in (("full", "| full |"), ("named", "| named |")):
        where = (*sec, "| LOS-LOOP × GWNet, quiet |", prefix)
        secs = [r["cost_seconds"] for r in seeds[arm]]
        for k in range(len(secs)):
            spec.add(where, 1 + k, src, ("blocks", "los_loop/gwnet", "per_seed", arm, k, "cost_seconds"),
                     lambda v: f"{v:.1f} s")
        spec.value(where, 4, src, f"mean of blocks[\"los_loop/gwnet\"].per_seed.{arm}[*].cost_seconds",
                   statistics.fmean(secs), f"{statistics.fmean(secs):.1f} s")
    saving = 1 - statistics.fmean(r["cost_seconds"] for r in seeds["named"]) / statistics.fmean(
        r["cost_seconds"] for r in seeds["full"])
    spec.value((*sec, "| LOS-LOOP × GWNet, quiet |", "| named |"), 5, src, "1 - mean(named) / mean(full) seconds",
               saving, pct0(saving))
    b = load(src)["blocks"]["los_loop/gwnet"]
    n = above_old_st_prune(b, "named", load(src)["config"]["epochs"])
    spec.value((*sec, "st_prune_gwnet12_los_loop_timing.json"), None, src, "per_seed (seconds, windows visited)", n,
               f"repeats above their own ceiling: {n} of 3")

    sec = ("## ST-Prune (issue 4)", "### Earlier STID runs")
    src = f"{OLD}:st_prune_stid.json"
    table(sec, src, "sz_taxi/stid", "| SZ-TAXI × STID |", "| time-matched (8-9 ep) |")
    table(sec, src, "los_loop/stid", "| LOS-LOOP × STID |", "| time-matched (7-9 ep) |")
    found, text = counts_text(src, [("sz_taxi/stid", "SZ-TAXI"), ("los_loop/stid", "LOS-LOOP")])
    spec.value((*sec, "Repeats above their own ceiling"), None, src, "blocks[*].per_seed (seconds, windows visited)",
               found, text)

    # named at r 0.6: the first run and the LOS-LOOP rerun
    first, rerun = f"{OLD}:st_prune_stid_r06.json", f"{OLD}:st_prune_stid_los_loop_r06_rerun.json"
    sec = ("## ST-Prune (issue 4)", "**`named` at r 0.6 (a later session).**")

    def r06(source: str, block: str, arm: str) -> tuple[tuple[str | int, ...], dict[str, Any]]:
        rows = load(source)["blocks"][block]["rows"]
        i = next(k for k, r in enumerate(rows) if r["arm"] == arm)
        return ("blocks", block, "rows", i), rows[i]

    for label, block, arm in (("SZ-TAXI × STID `named`", "sz_taxi/stid", "named"),
                              ("SZ-TAXI × STID `random`", "sz_taxi/stid", "random"),
                              ("LOS-LOOP × STID `named`", "los_loop/stid", "named"),
                              ("LOS-LOOP × STID `random`", "los_loop/stid", "random")):
        where = (*sec, f"| {label}")
        path, row = r06(first, block, arm)
        spec.add(where, 1, first, (*path, "mae_change"), spct)
        spec.value(where, 1, first, f"{show_path(path)}.{{test_mae_mean, test_mae_std}}",
                   (row["test_mae_mean"], row["test_mae_std"]), pm(row["test_mae_mean"], row["test_mae_std"]))
        spec.add(where, 2, first, (*path, "mean_visited_fraction"), pct)
        spec.add(where, 3, first, (*path, "time_saving"), pct0)
        if block == "los_loop/stid":
            path, _ = r06(rerun, block, arm)
            spec.add(where, 3, rerun, (*path, "time_saving"), pct0)
    where = (*sec, "| LOS-LOOP × STID time-matched |")
    for source in (first, rerun):
        path, _ = r06(source, "los_loop/stid", "time-matched")
        spec.add(where, 1, source, (*path, "mae_change"), spct)
        spec.add(where, 3, source, (*path, "time_saving"), pct0)
    sz = {arm: above_old_st_prune(load(first)["blocks"]["sz_taxi/stid"], arm, 12) for arm in ("named", "random")}
    los = {arm: above_old_st_prune(load(first)["blocks"]["los_loop/stid"], arm, 12)
           for arm in ("named", "random", "time-matched")}
    re_all = {arm: above_old_st_prune(load(rerun)["blocks"]["los_loop/stid"], arm, 12) for arm in arms}
    text = (f"first run SZ-TAXI named {sz['named']}, random {sz['random']} of 3; LOS-LOOP named {los['named']}, "
            f"random {los['random']}, time-matched {los['time-matched']} of 3; rerun "
            + ("0 of 3 for every arm" if not any(re_all.values()) else str(re_all)))
    spec.value(("## ST-Prune (issue 4)", "st_prune_stid_r06.json"), None, first,
               "blocks[*].per_seed (seconds, windows visited), and the rerun's", {**sz, **los, "rerun": re_all}, text)


def sanity(spec: Spec) -> None:
    src = "sanity.json"
    data = load(src)
    sec = ("## Sanity bar: models against naive forecasts",)
    names = {"stid": "STID", "gwnet": "GWNet (16 ch, 2 blocks)", "stgcn": "STGCN (hidden 32)"}
    label = {"sz_taxi": "SZ-TAXI", "los_loop": "LOS-LOOP"}
    rows: list[tuple[str, str, int]] = [(f"| {label[r['dataset']]} |", names[r["model"]], i)
                                        for i, r in enumerate(data["sanity"]["rows"])]
    for prefix, model, i in rows:
        row = data["sanity"]["rows"][i]
        where = (*sec, f"{prefix} {f4(min(row['naive'].values()))} | {model} |")
        path = ("sanity", "rows", i)
        spec.add(where, 1, src, (*path, "naive"), lambda v: f4(min(v.values())))
        spec.add(where, 3, src, (*path, "epochs"), str)
        spec.add(where, 4, src, (*path, "test_mae"), f4)
        spec.add(where, 5, src, (*path, "gain_vs_best_naive"), pct)
        spec.add(where, 6, src, (*path, "seconds_per_epoch"), f1)
    for key, model in (("sanity_gwnet_los_loop", names["gwnet"]), ("sanity_stgcn_los_loop", names["stgcn"]),
                       ("sanity_gwnet_los_loop_full", "GWNet (default width: 32 ch, 4 blocks)"),
                       ("sanity_stgcn_los_loop_full", "STGCN (default width, lr 0.002)")):
        where = (*sec, f"| LOS-LOOP | 4.3914 | {model} |")
        path = (key, "rows", 0)
        spec.add(where, 3, src, (*path, "epochs"), str)
        spec.add(where, 4, src, (*path, "test_mae"), f4)
        spec.add(where, 5, src, (*path, "gain_vs_best_naive"), pct)
        spec.add(where, 6, src, (*path, "seconds_per_epoch"), f1)


def trainer_overhead(spec: Spec) -> None:
    src = "trainer_overhead.json"
    ratios = load(src)["rows"][0]["ratios"]
    where = ("## Trainer overhead", "| STID (embed 32, 3 layers) | run 2")
    spec.value(where, 2, src, "len(rows[0].ratios)", len(ratios), str(len(ratios)))
    spec.add(where, 3, src, ("rows", 0, "median_ratio"), lambda v: f"{v:.3f}")
    spec.value(where, 4, src, "mean(rows[0].ratios)", statistics.fmean(ratios), f"{statistics.fmean(ratios):.3f}")
    spec.value(where, 5, src, "min, max of rows[0].ratios", (min(ratios), max(ratios)),
               f"{min(ratios):.2f}-{max(ratios):.2f}")
    spec.add(("## Trainer overhead", "Overhead: **+"), None, src, ("rows", 0, "overhead"),
             lambda v: f"Overhead: {spct(v)} in the run of record")
    spec.add(("## Trainer overhead", "Source: `bench/results/trainer_overhead.json"), None, src, ("clock",),
             lambda v: f"`clock` = `{v}`")


def stemdist(spec: Spec) -> None:
    src = "stemdist.json"
    data = load(src)
    sec = ("## STemDist (issue 5)", "### STID under the harness (session 8, run of record)")
    labels = {0: "| full data |", 1: "| distilled |", 2: "| random subset |", 3: "| cluster-only |",
              4: "| full, time-matched"}
    for dataset, header in (("sz_taxi", "| SZ-TAXI × STID |"), ("los_loop", "| LOS-LOOP × STID |")):
        table = ("session8", "tables", f"{dataset}/stid")
        rows = [(labels[i], (*table, i, "interleaved")) for i in range(5)]

        def training_only(where: tuple[str, ...], path: Sequence[str | int], table: tuple[str, ...] = table) -> None:
            row = dig(data, path[:-1])
            spec.value(where, 5, src, show_path((*path[:-1], "train_speedup")), row.get("train_speedup", 1.0),
                       x1(row.get("train_speedup", 1.0)))

        harness_rows(spec, (*sec, header), src, rows, lambda path, row: above_from_range(row), training_only)
        label = "SZ-TAXI" if dataset == "sz_taxi" else "LOS-LOOP"
        where = (*HEAD, f"| STemDist nrr 0.25, srr 0.1 | {label} × STID |")
        dist, tm = (*table, 1, "interleaved"), (*table, 4, "interleaved")
        spec.add(where, 3, src, (*dist, "mae_change"), spct)
        spec.add(where, 4, src, (*dist, "work_fraction"), pct)
        spec.add(where, 5, src, (*dist, "speedup"), rng)
        tm_row = dig(data, tm)
        epochs = dig(data, (*table, 4)).get("epochs_per_seed") or [dig(data, (*table, 4, "epochs"))] * 3
        spec.value(where, 6, src, f"{show_path((*table, 4))}.epochs_per_seed; {show_path(tm)}.{{mae_change, speedup}}",
                   (epochs, tm_row["mae_change"], tm_row["speedup"]["median"]),
                   f"{span(epochs, str)} epochs: {spct(tm_row['mae_change'])} at {x2(tm_row['speedup']['median'])}")
        n = above_from_range(dig(data, dist))
        spec.value(where, 7, src, f"{show_path(dist)}: low, median, high vs ceiling", n, f"{n} of 3")
    t8 = data["session8"]["tables"]
    spec.value((*sec, "- Peak training-step memory"), None, src,
               'session8.tables[*][0 and 1].peak_step_mib',
               [t8[k][i]["peak_step_mib"] for k in ("sz_taxi/stid", "los_loop/stid") for i in (1, 0)],
               f"{t8['sz_taxi/stid'][1]['peak_step_mib']:.1f} vs {t8['sz_taxi/stid'][0]['peak_step_mib']:.1f} MiB "
               f"(SZ-TAXI), {t8['los_loop/stid'][1]['peak_step_mib']:.1f} vs {t8['los_loop/stid'][0]['peak_step_mib']:.1f} MiB")
    distill = [t8[k][1]["distill_s"] for k in t8]
    reuses = [t8[k][1]["reuses_to_amortise"] for k in t8]
    spec.value((*sec, "- The distillation costs"), None, src, 'session8.tables[*][1].{distill_s, reuses_to_amortise}',
               (distill, reuses), f"costs {span(distill, f1)} s of process CPU time per run "
               f"(10 × 5 matching steps), i.e. {span(reuses, f2)}")
    ceil = [t8[k][1]["interleaved"]["ceiling"] for k in ("sz_taxi/stid", "los_loop/stid")]
    spec.value((*sec, "work ceiling is"), None, src, 'session8.tables[*][1].interleaved.ceiling', ceil,
               f"work ceiling is {ceil[0]:.1f}x / {ceil[1]:.1f}x")
    # session 7: the verdict table and the per-block tables
    s7 = data["session7"]["tables"]
    sec7 = ("## STemDist (issue 5)", "### The 3-seed benchmark (session 7")
    for block, rows in s7.items():
        full = rows[0]["test_mae_mean"]
        where = (*sec7, f"| {block} |")
        path = ("session7", "tables", block)
        spec.add(where, 1, src, (*path, 0, "test_mae_mean"), f4)
        for i, col in ((1, 2), (2, 3), (3, 4), (4, 5)):
            v = rows[i]["test_mae_mean"]
            spec.value(where, col, src, f"{show_path((*path, i))}.test_mae_mean / [0].test_mae_mean - 1", v,
                       f"{f4(v)} ({spct(v / full - 1)})")
        spec.add(where, 6, src, (*path, 1, "train_speedup"), x1)
        spec.add(where, 7, src, (*path, 1, "memory_ratio"), x1)
        spec.add(where, 8, src, (*path, 1, "distill_s"), f1)
        spec.add(where, 9, src, (*path, 1, "reuses_to_amortise"), f2)
        model_block = "**" + block.replace("/", " / ") + "**"
        names = ["full data", "distilled", "random subset", "cluster-only", "full, time-matched"]
        for i, row in enumerate(rows):
            where = (*sec7, model_block, f"| {names[i]} |")
            p = (*path, i)
            spec.add(where, 1, src, (*p, "epochs"), str)
            spec.add(where, 2, src, (*p, "windows"), str)
            spec.value(where, 3, src, f"{show_path(p)}.{{test_mae_mean, test_mae_std}}",
                       (row["test_mae_mean"], row["test_mae_std"]), pm(row["test_mae_mean"], row["test_mae_std"]))
            spec.value(where, 4, src, f"{show_path(p)}.test_mae_mean / [0] - 1", row["test_mae_mean"] / full - 1,
                       spct(row["test_mae_mean"] / full - 1))
            spec.add(where, 5, src, (*p, "train_s"), f2)
            spec.value(where, 6, src, show_path((*p, "train_speedup")), row.get("train_speedup", 1.0),
                       x1(row.get("train_speedup", 1.0)))
            spec.add(where, 7, src, (*p, "peak_step_mib"), f2)
            spec.value(where, 8, src, show_path((*p, "memory_ratio")), row.get("memory_ratio", 1.0),
                       x1(row.get("memory_ratio", 1.0)))
            spec.add(where, 9, src, (*p, "alloc_per_step_mib"), f2)
            spec.value(where, 10, src, show_path((*p, "distill_s")), row.get("distill_s", 0.0),
                       f1(row.get("distill_s", 0.0)))
    # the bounds (history)
    src = f"{OLD}:stemdist_bounds_sz_taxi.json"
    labels_b = ["| 16 clusters (nrr 0.1), all 1772 windows |", "| 16 random real nodes, all windows |",
                "| 78 clusters (nrr 0.5), all windows |", "| 78 random real nodes, all windows |",
                "| all 156 nodes, 177 random windows (srr 0.1) |"]
    for i, prefix in enumerate(labels_b):
        spec.add(("## STemDist (issue 5)", "Where the accuracy goes", prefix), 2, src, ("rows", i, "test_mae"), f4)


def dynst(spec: Spec) -> None:
    src = "dynst.json"
    data = load(src)
    sec = ("## DynST (issue 6)", "### STID under the harness (session 8, run of record)")
    for i, (dataset, header) in enumerate((("sz_taxi", "| SZ-TAXI × STID |"), ("los_loop", "| LOS-LOOP × STID |"))):
        assert data["blocks"][i]["dataset"] == dataset
        base = ("blocks", i, "summary")
        rows = [("| full |", (*base, "full")), ("| dynst |", (*base, "dynst")),
                ("| time_matched (6 ep) |", (*base, "time_matched")), ("| random_fixed |", (*base, "random_fixed")),
                ("| random_ramp |", (*base, "random_ramp"))]
        harness_rows(spec, (*sec, header), src, rows, lambda path, row: above_from_range(row))
        label = "SZ-TAXI" if dataset == "sz_taxi" else "LOS-LOOP"
        where = (*HEAD, f"| DynST s_final 0.5 | {label} × STID |")
        d, tm = (*base, "dynst"), (*base, "time_matched")
        spec.add(where, 3, src, (*d, "mae_change"), spct)
        spec.add(where, 4, src, (*d, "work_fraction"), pct)
        spec.add(where, 5, src, (*d, "speedup"), rng)
        tm_row = dig(data, tm)
        epochs = data["blocks"][i]["time_matched_epochs"]
        spec.value(where, 6, src, f"blocks[{i}].time_matched_epochs; {show_path(tm)}.{{mae_change, speedup}}",
                   (epochs, tm_row["mae_change"], tm_row["speedup"]["median"]),
                   f"{span(epochs, str)} epochs: {spct(tm_row['mae_change'])} at {x2(tm_row['speedup']['median'])}")
        n, n_tm = above_from_range(dig(data, d)), above_from_range(tm_row)
        spec.value(where, 7, src, f"{show_path(d)} and {show_path(tm)}: low, median, high vs ceiling", (n, n_tm),
                   f"{n} of 3" + (f" (time-matched arm: {n_tm} of 3)" if n_tm else ""))
    los_tm = data["blocks"][1]["summary"]["time_matched"]
    spec.value((*sec, "One repeat of the"), None, src, "blocks[1].summary.time_matched.{speedup.high, ceiling, noise}",
               (los_tm["speedup"]["high"], los_tm["ceiling"], los_tm["noise"]),
               f"ran at {x2(los_tm['speedup']['high'])}, above its ceiling by more than the arm's noise "
               f"({pct(los_tm['noise'])})")
    # the superseded runs (history)
    src = f"{OLD}:dynst.json"
    old = load(src)
    sec = ("## DynST (issue 6)", "### Earlier runs (superseded)")
    headers = ["| SZ-TAXI × STID |", "| LOS-LOOP × STID |", "| SZ-TAXI × STGCN |", "| LOS-LOOP × STGCN |"]
    for i, header in enumerate(headers):
        for j, row in enumerate(old["blocks"][i]["rows"]):
            where = (*sec, header, f"| {row['arm']} |")
            p = ("blocks", i, "rows", j)
            spec.value(where, 1, src, f"{show_path(p)}.{{test_mae_mean, test_mae_std}}",
                       (row["test_mae_mean"], row["test_mae_std"]), pm(row["test_mae_mean"], row["test_mae_std"]))
            spec.add(where, 2, src, (*p, "device_seconds_mean"), f1)
            spec.add(where, 3, src, (*p, "speedup"), x2)
            if "per_epoch_speedup_at_s_final" in row:
                spec.add(where, 4, src, (*p, "per_epoch_speedup_at_s_final"), x2)
            spec.add(where, 5, src, (*p, "mae_change"), spct)
    counts = {(b["dataset"], b["model"], arm): above_old_dynst(b, arm, old["epochs"])
              for b in old["blocks"] for arm in ("dynst", "random_fixed", "random_ramp", "time_matched")}

    def part(dataset: str, model: str) -> str:
        c = {arm: counts[dataset, model, arm] for arm in ("dynst", "random_fixed", "random_ramp", "time_matched")}
        if not any(c.values()):
            return "0 for every arm"
        return ", ".join(f"{arm} {n}" for arm, n in c.items()) + " of 3"

    text = (f"SZ-TAXI × STID {part('sz_taxi', 'stid')}; LOS-LOOP × STID {part('los_loop', 'stid')}; "
            f"SZ-TAXI × STGCN {part('sz_taxi', 'stgcn')}; LOS-LOOP × STGCN {part('los_loop', 'stgcn')}")
    spec.value((*sec, "Repeats above their own ceiling"), None, src, "blocks[*].runs (device_seconds, active_per_epoch)",
               counts, text)


def frontier(spec: Spec) -> None:
    src = "frontier.json"
    data = load(src)

    def ladder(sec: tuple[str, ...], base: tuple[str, ...], names: dict[str, str]) -> None:
        for dataset, label in names.items():
            pts = dig(data if not base[0].startswith(OLD) else load(base[0]), (*base[1:], dataset, "frontier"))
            source = base[0] if base[0].startswith(OLD) else src
            for k in range(len(pts)):
                path = (*base[1:], dataset, "frontier", k)
                spec.add((*sec, f"| {label} plain training |", "| device s |"), 1 + k, source, (*path, 0), f1)
                spec.add((*sec, f"| {label} plain training |", "| val MAE |"), 1 + k, source, (*path, 1), f4)

    sec = ("## The no-strategy frontier", "### STID, session 8 (run of record)")
    ladder(sec, (src, "session8", "datasets"), {"sz_taxi": "SZ-TAXI", "los_loop": "LOS-LOOP"})
    for strategy, prefix in (("dynst", "| DynST |"), ("st_prune", "| ST-Prune |"), ("stemdist", "| STemDist |")):
        for k, dataset in enumerate(("sz_taxi", "los_loop")):
            m = data["session8"]["datasets"][dataset]["margins"][strategy]
            trial = data["session8"]["datasets"][dataset]["trials"][m["trial"]]
            path = ("session8", "datasets", dataset, "margins", strategy)
            spec.value((*sec, prefix), 1 + 2 * k, src, f"{show_path(path)}.{{val_mae, device_seconds}}; "
                       f"session8.datasets.{dataset}.trials[{m['trial']}][7]", (m["val_mae"], m["device_seconds"], trial[7]),
                       f"{f4(m['val_mae'])} @ {f1(m['device_seconds'])} ({pct(trial[7])})")
            spec.add((*sec, prefix), 2 + 2 * k, src, (*path, "margin"), spct)
    noise = [data["session8"]["datasets"][d]["cost_noise"] for d in ("sz_taxi", "los_loop")]
    spec.value((*sec, "the study's cost noise"), None, src, "session8.datasets.<dataset>.cost_noise", noise,
               f"(SZ-TAXI {pct(noise[0])}, LOS-LOOP {pct(noise[1])}")
    # the headline row
    where = (*HEAD, "| frontier (search) |")
    ms = [data["session8"]["datasets"][d]["margins"]["dynst"] for d in ("sz_taxi", "los_loop")]
    works = [data["session8"]["datasets"][d]["trials"][m["trial"]][7] for d, m in zip(("sz_taxi", "los_loop"), ms,
                                                                                        strict=True)]
    spec.value(where, 3, src, "session8.datasets.<dataset>.margins.dynst.margin", [m["margin"] for m in ms],
               f"margin {spct(ms[0]['margin'])} / {spct(ms[1]['margin'])}")
    spec.value(where, 4, src, "session8.datasets.<dataset>.trials[<dynst trial>][7]", works,
               f"{pct0(works[0])} / {pct0(works[1])}")
    # session 6 (superseded, in the tree)
    sec = ("## The no-strategy frontier", "### STID, session 6")
    ladder(sec, (src, "session6_superseded", "datasets"), {"sz_taxi": "SZ-TAXI", "los_loop": "LOS-LOOP"})
    for strategy, prefix in (("dynst", "| DynST |"), ("st_prune", "| ST-Prune |"), ("stemdist", "| STemDist |")):
        for k, dataset in enumerate(("sz_taxi", "los_loop")):
            path = ("session6_superseded", "datasets", dataset, "margins", strategy)
            m = dig(data, path)
            spec.value((*sec, prefix), 1 + 2 * k, src, f"{show_path(path)}.{{val_mae, device_seconds}}",
                       (m["val_mae"], m["device_seconds"]), f"{f4(m['val_mae'])} @ {f1(m['device_seconds'])}")
            spec.add((*sec, prefix), 2 + 2 * k, src, (*path, "margin"), spct)
    # the session-6 margins replayed under the session-8 rule (interpolated frontier, 5% noise)
    from sttune.outcome.frontier import Frontier  # the rule sttune report uses

    replayed: dict[tuple[str, str], float] = {}
    for dataset in ("sz_taxi", "los_loop"):
        trials = data["session6_superseded"]["datasets"][dataset]["trials"]  # [number, label, state, val, test, s]
        points: list[tuple[float, float]] = []
        for cost, mae in sorted((t[5], t[3]) for t in trials if t[1].startswith("baseline")):
            if not points or mae < points[-1][1]:
                points.append((cost, mae))
        line = Frontier(tuple(points))
        for t in trials:
            reference = line.mae_at(t[5] * 1.05)
            if t[1].startswith("baseline") or t[2] != "COMPLETE" or reference == float("inf"):
                continue
            key = (dataset, t[1].split(" ")[0])
            replayed[key] = max(replayed.get(key, -1.0), reference / t[3] - 1)
    r = replayed
    spec.value(("## The no-strategy frontier", "- **The earlier margins, replayed under the new rule**"), None, src,
               "session6_superseded.datasets.<dataset>.trials through sttune's Frontier at 5% noise", r,
               f"SZ-TAXI DynST {spct(r['sz_taxi', 'dynst'])} (was reported "
               f"{spct(data['session6_superseded']['datasets']['sz_taxi']['margins']['dynst']['margin'])}), ST-Prune "
               f"{spct(r['sz_taxi', 'st_prune'])} ({spct(data['session6_superseded']['datasets']['sz_taxi']['margins']['st_prune']['margin'])}); "
               f"LOS-LOOP DynST {spct(r['los_loop', 'dynst'])} "
               f"({spct(data['session6_superseded']['datasets']['los_loop']['margins']['dynst']['margin'])}), ST-Prune "
               f"{spct(r['los_loop', 'st_prune'])} "
               f"({spct(data['session6_superseded']['datasets']['los_loop']['margins']['st_prune']['margin'])}), STemDist "
               f"{spct(r['sz_taxi', 'stemdist'])} / {spct(r['los_loop', 'stemdist'])}")
    # GWNet (history)
    src = f"{OLD}:frontier_gwnet.json"
    old = load(src)
    sec = ("## The no-strategy frontier", "### GWNet (superseded")
    ladder(sec, (src, "datasets"), {"sz_taxi": "SZ-TAXI × GWNet", "los_loop": "LOS-LOOP × GWNet"})
    # the table's trials: the best real one per strategy (ST-Prune on SZ-TAXI: trial 8, not the no-op trial 11)
    picks = {("dynst", "sz_taxi"): 7, ("st_prune", "sz_taxi"): 8, ("stemdist", "sz_taxi"): 6,
             ("dynst", "los_loop"): 9, ("st_prune", "los_loop"): 5, ("stemdist", "los_loop"): 6}
    for strategy, prefix in (("dynst", "| DynST |"), ("st_prune", "| ST-Prune |"), ("stemdist", "| STemDist |")):
        for k, dataset in enumerate(("sz_taxi", "los_loop")):
            n = picks[strategy, dataset]
            t = old["datasets"][dataset]["trials"][n]
            path = f"datasets.{dataset}.trials[{n}]"
            spec.value((*sec, "| best trial per strategy (GWNet) |", prefix), 1 + 2 * k, src, f"{path}[3], [5]",
                       (t[3], t[5]), f"{f4(t[3])} @ {f1(t[5])}")
            spec.value((*sec, "| best trial per strategy (GWNet) |", prefix), 2 + 2 * k, src, f"{path}[6]", t[6],
                       spct(t[6]))
    t = old["datasets"]["los_loop"]["trials"][10]
    spec.value((*sec, "| best trial per strategy (GWNet) |", "| DynST |"), 3, src, "datasets.los_loop.trials[10][3], [5]",
               (t[3], t[5]), f"(and {f4(t[3])} @ {f1(t[5])})")
    spec.value((*sec, "| best trial per strategy (GWNet) |", "| DynST |"), 4, src, "datasets.los_loop.trials[10][6]",
               t[6], f"({spct(t[6])})")


def early_stopping(spec: Spec) -> None:
    src = "early_stopping.json"
    data = load(src)
    sec = ("## Multi-objective early stopping", "Live runs (")
    for sampler, label in (("random", "random"), ("tpe", "TPE")):
        for seed in (3, 4, 5):
            key = f"early_stopping_48t_final_{sampler}_seed{seed}"
            run = data["runs"][key]
            full = f"{OLD}:{key}.json"
            on = load(full)["on"]
            where = (*sec, f"| {label} {seed} |")
            off = run["off"]["total_device_seconds"]
            ratio = run["ratio"]["device_time_off_over_on"]
            overhead = sum(t.get("overhead_seconds") or 0 for t in on["trials"])
            spec.value(where, 1, full, "on.stopped, len(on.trials)", (on["stopped"], len(on["trials"])),
                       f"{on['stopped']} of {len(on['trials'])}")
            spec.value(where, 2, src, f'runs["{key}"].off.total_device_seconds / .ratio.device_time_off_over_on; '
                       f"{full}: Σ on.trials[].overhead_seconds", (off, off / ratio, overhead),
                       f"{f1(off)} → {f1(off / ratio)} ({f1(overhead)})")
            spec.add(where, 3, src, ("runs", key, "ratio", "device_time_off_over_on"), x2)
            spec.add(where, 4, src, ("runs", key, "ratio", "hypervolume_on_over_off"), pct)

    def old_row(where: tuple[str, ...], name: str, cols: tuple[int, int, int, int], hv_digits: int = 1,
                overhead: bool = False) -> None:
        source = f"{OLD}:{name}.json"
        run = load(source)
        on, off = run["on"], run["off"]
        n_trials = on["trials"] if isinstance(on["trials"], int) else len(on["trials"])  # an early file: a count
        extra = ""
        if overhead:
            extra = f" ({f1(sum(t.get('overhead_seconds') or 0 for t in on['trials']))})"
        spec.value(where, cols[0], source, "on.stopped, len(on.trials)", (on["stopped"], n_trials),
                   f"{on['stopped']} of {n_trials}")
        spec.value(where, cols[1], source, "off.total_device_seconds, on.total_device_seconds",
                   (off["total_device_seconds"], on["total_device_seconds"]),
                   f"{f1(off['total_device_seconds'])} → {f1(on['total_device_seconds'])}{extra}")
        spec.add(where, cols[2], source, ("ratio", "device_time_off_over_on"), x2)
        spec.add(where, cols[3], source, ("ratio", "hypervolume_on_over_off"), lambda v: pct(v, hv_digits))

    sec = ("## Multi-objective early stopping", "The same seed 3 (random), one change at a time")
    old_row((*sec, "| planned work only |"), "early_stopping_48t_plan_random_seed3", (1, 2, 3, 4))
    old_row((*sec, "| + overhead apart |"), "early_stopping_48t_overhead_random_seed3", (1, 2, 3, 4), overhead=True)
    old_row((*sec, "| + whole-trial checkpoint (final) |"), "early_stopping_48t_final_random_seed3", (1, 2, 3, 4),
            overhead=True)
    sec = ("## Multi-objective early stopping", "### Earlier runs (before the three changes)",
           "| run | epochs | rungs (η) |")
    old_row((*sec, "| previous session |"), "early_stopping", (4, 5, 6, 7), hv_digits=0)
    for name, hv in (("early_stopping_projected", 1), ("early_stopping_16ep", 0), ("early_stopping_16ep_eta4", 0),
                     ("early_stopping_48t", 0), ("early_stopping_72t", 0), ("early_stopping_48t_prep", 1),
                     ("early_stopping_48t_prep_seed1", 1), ("early_stopping_48t_prep_seed2", 1),
                     ("early_stopping_48t_eta2_seed1", 1), ("early_stopping_48t_tol5_seed2", 1)):
        old_row((*sec, f"| `{name}`"), name, (4, 5, 6, 7), hv_digits=hv)
    sec = ("## Multi-objective early stopping", "**Random search: the rule alone.**")
    for seed in (0, 1, 2):
        old_row((*sec, f"| {seed} |"), f"early_stopping_48t_random_seed{seed}", (1, 2, 3, 4))
    old_row((*sec, "| 1, rerun with the ballast |"), "early_stopping_48t_random_ballast_seed1", (1, 2, 3, 4))


def dynst_deploy(spec: Spec) -> None:
    src = "dynst_deploy.json"
    data = load(src)
    sec = ("## DynST deployment accuracy",)
    for i, label in enumerate(("SZ-TAXI", "LOS-LOOP")):
        s = data["blocks"][i]["summary"]
        base = ("blocks", i, "summary")
        spec.add((*sec, f"| {label} | full |"), 3, src, (*base, "full", "test_mae", 0), f4)
        for arm, name in (("dynst", "dynst"), ("random_fixed", "random")):
            for sparsity in ("0.3", "0.5"):
                key = f"{arm}@{sparsity}"
                where = (*sec, f"| {label} | {name} s {sparsity} |")
                p = (*base, key)
                spec.add(where, 2, src, (*p, "n_kept"), str)
                spec.add(where, 3, src, (*p, "test_mae", 0), f4)
                spec.add(where, 4, src, (*p, "all_sensors", 0), f4)
                spec.add(where, 5, src, (*p, "all_sensors_vs_full"), spct)
                spec.add(where, 6, src, (*p, "kept_only", 0), f4)
                assert s[key]["kept_only"] == s[key]["full_inputs_kept"]  # "kept_only equals full_inputs_kept exactly"


def scale(spec: Spec) -> None:
    src = "scale.json"
    data = load(src)
    sec = ("## Memory at scale",)
    labels = ["| 34272 × 207 (METR-LA) |", "| 52116 × 325 (PEMS-BAY) |", "| 28224 × 883 (PEMS07) |",
              "| 105120 × 2000 |"]
    for k, prefix in enumerate(labels):
        where = (*sec, prefix)
        spec.add(where, 1, src, ("after", "rows", k, "values"), lambda v: f"{v / 1e6:.1f} M" if v < 1e8 else f"{v / 1e6:.0f} M")
        spec.add(where, 2, src, ("before", "rows", k, "cold", "peak_bytes_per_value"), f1)
        spec.add(where, 3, src, ("after", "rows", k, "cold", "peak_bytes_per_value"), f1)
        spec.add(where, 4, src, ("before", "rows", k, "cold", "kept_bytes_per_value"), f1)
        spec.add(where, 5, src, ("after", "rows", k, "cold", "kept_bytes_per_value"), f1)
        spec.add(where, 6, src, ("after", "rows", k, "warm_cache"),
                 lambda w: f"{w['peak_bytes_per_value']:.1f}, {w['kept_bytes_per_value']:.1f}")
    for side in ("before", "after"):
        where = (*sec, "Fitted over the four sizes", f"| {side} |")
        spec.add(where, 1, src, (side, "fit_peak"), lambda f: f"{f['intercept_gib']:.2f} GiB + {f['bytes_per_value']:.1f} B/value")
        spec.add(where, 2, src, (side, "fit_kept"), lambda f: f"{f['intercept_gib']:.2f} GiB + {f['bytes_per_value']:.1f} B/value")
    for name, prefix in (("LargeST-GLA", "| LargeST-GLA (3834 nodes) |"), ("LargeST-CA", "| LargeST-CA (8600 nodes) |")):
        where = (*sec, "Projected for LargeST", prefix)
        spec.add(where, 1, src, ("after", "projected", name, "values"), lambda v: f"{v / 1e6:.0f} M")
        for col, (side, key) in enumerate((("before", "peak_gib"), ("after", "peak_gib"), ("before", "kept_gib"),
                                           ("after", "kept_gib")), start=2):
            spec.add(where, col, src, (side, "projected", name, key), lambda v: f"{v:.1f} GiB")
    largest = data["largest"]
    where = (*HEAD, "| memory at scale (issue 25) |")
    spec.value(where, 5, src, "largest.{peak_bytes_per_value, kept_bytes_per_value}",
               (largest["peak_bytes_per_value"], largest["kept_bytes_per_value"]),
               f"peak {f1(largest['peak_bytes_per_value'][0])} → {f1(largest['peak_bytes_per_value'][1])} B/value, "
               f"kept {f1(largest['kept_bytes_per_value'][0])} → {f1(largest['kept_bytes_per_value'][1])} B/value")
    spec.value((*sec, "Targets at the largest size"), None, src, "largest.{peak,kept}_bytes_per_value[1]",
               (largest["peak_bytes_per_value"][1], largest["kept_bytes_per_value"][1]),
               f"met ({f1(largest['peak_bytes_per_value'][1])} and {f1(largest['kept_bytes_per_value'][1])})")
    for dataset, label in (("sz_taxi", "SZ-TAXI"), ("los_loop", "LOS-LOOP")):
        m = data["metrics"]["datasets"][dataset]
        assert m["max_abs_diff"] == 0.0
        spec.value((*sec, "**The same metrics.**", "`bench/scale.py --metrics` trains"), None, src,
                   f"metrics.datasets.{dataset}.before.{{val.mae, test.mae}}; max_abs_diff = 0.0",
                   (m["before"]["val"]["mae"], m["before"]["test"]["mae"]),
                   f"{label} (val MAE {m['before']['val']['mae']:.6f}, test {m['before']['test']['mae']:.6f})"
                   if dataset == "sz_taxi" else
                   f"{label} (val {m['before']['val']['mae']:.6f}, test {m['before']['test']['mae']:.6f})")


def search_economics(spec: Spec) -> None:
    src = "search_economics.json"
    data = load(src)
    sec = ("## A search that pays for itself", "### bench/search_economics.py (session 9, run of record)")

    def run_index(d: dict[str, Any], dataset: str, seed: int) -> int:
        return next(i for i, r in enumerate(d["runs"]) if r["dataset"] == dataset and r["seed"] == seed)

    def verified(arm: dict[str, Any]) -> str:
        lo, hi = arm["speedup_interval"]
        return x2(arm["speedup"]) if lo == hi == arm["speedup"] else f"{x2(arm['speedup'])} [{lo:.2f}, {hi:.2f}]"

    def work_cell(arm: dict[str, Any]) -> str:
        wf = arm["work_fraction"]
        return f"{pct(wf)} ({x2(1 / wf)}" + (": at it)" if at_ceiling(arm) else ")")

    for dataset, header in (("sz_taxi", "| SZ-TAXI × STID | seed |"), ("los_loop", "| LOS-LOOP × STID | seed |")):
        for seed in (0, 1, 2):
            i = run_index(data, dataset, seed)
            arms = [("default", "| search, budget 6 |")]
            if dataset == "sz_taxi":
                arms.append(("plain", "| plain frontier |"))
            for arm, prefix in arms:
                where = (*sec, header, f"{prefix} {seed} |")
                p = ("runs", i, arm)
                a = dig(data, p)
                label = {"baseline": "full baseline", "baseline 75%": "75% of the epochs"}.get(a["label"])
                spec.value(where, 2, src, f"{show_path(p)}.{{label, trial}}", (a["label"], a["trial"]),
                           label or f"{a['label'].split(' ')[0]} trial {a['trial']}")
                spec.value(where, 3, src, f"{show_path(p)}.{{speedup, speedup_interval}}", (a["speedup"],
                           a["speedup_interval"]), verified(a))
                spec.value(where, 4, src, f"{show_path(p)}.work_fraction (1 / it; speedup × it = 1: at it)",
                           a["work_fraction"], work_cell(a) if a["work_fraction"] < 1 else "100.0% (1.00x)")
                spec.add(where, 5, src, (*p, "val_mae_change"), spct)
                spec.add(where, 6, src, (*p, "test_mae_change"), spct)
                spec.add(where, 7, src, (*p, "search_cost_baselines"), f2)
                spec.add(where, 8, src, (*p, "break_even_retrainings"), lambda v: "-" if v is None else str(v))
                spec.add(where, 9, src, (*p, "meets_bar"), lambda v: "met" if v else "not met")
        for arm, prefix in (("default", "| search, median | 3 |"), ("plain", "| plain frontier, median | 3 |")):
            if dataset == "los_loop" and arm == "plain":
                continue
            where = (*sec, header, prefix)
            p = ("summary", dataset, arm)
            s = dig(data, p)
            spec.add(where, 3, src, (*p, "speedup"), rng)
            n = sum(at_ceiling(r[arm]) for r in data["runs"] if r["dataset"] == dataset)
            spec.value(where, 4, src, f"runs[*].{arm}: speedup = 1 / work_fraction", n, f"{n} of 3 at it")
            spec.add(where, 5, src, (*p, "val_mae_change", "median"), spct)
            spec.add(where, 6, src, (*p, "test_mae_change", "median"), spct)
            spec.add(where, 7, src, (*p, "search_cost_baselines", "median"), f2)
            spec.add(where, 9, src, (*p, "meets_bar"), lambda v: f"{sum(v)} of {len(v)}")
            if arm == "default":
                spec.add(where, 8, src, (*p, "break_even_retrainings"), lambda v: str(statistics.median(v)))
        if dataset == "los_loop":
            where = (*sec, header, "| plain frontier | 0-2 |")
            costs = [r["plain"]["search_cost_baselines"] for r in data["runs"] if r["dataset"] == dataset]
            spec.value(where, 7, src, "runs[*].plain.search_cost_baselines (LOS-LOOP)", costs, span(costs, f2))
            spec.value(where, 3, src, "runs[*].plain.speedup (LOS-LOOP)",
                       [r["plain"]["speedup"] for r in data["runs"] if r["dataset"] == dataset], "1.00x")
    runs = data["runs"]
    n_at = sum(at_ceiling(r["default"]) for r in runs)
    spec.value((*sec, "**Verified by the first-batches probe**"), None, src, "runs[*].default: speedup × work_fraction = 1",
               n_at, f"{n_at} of the 6 exported configurations")
    # the headline row
    where = (*HEAD, "| search economics (issue 21) |")
    s = data["summary"]
    spec.value(where, 3, src, "summary.<dataset>.default.test_mae_change.median",
               (s["sz_taxi"]["default"]["test_mae_change"]["median"], s["los_loop"]["default"]["test_mae_change"]["median"]),
               f"{spct(s['sz_taxi']['default']['test_mae_change']['median'])} / "
               f"{spct(s['los_loop']['default']['test_mae_change']['median'])}")
    works = [r["default"]["work_fraction"] for r in runs if r["default"]["work_fraction"] > 0.8]
    spec.value(where, 4, src, "runs[*].default.work_fraction (those above 80%)", works,
               f"{span(works, pct0)} ({len(works)} of {len(runs)})")
    spec.value(where, 5, src, "summary.<dataset>.default.speedup", (s["sz_taxi"]["default"]["speedup"],
               s["los_loop"]["default"]["speedup"]),
               f"{rng(s['sz_taxi']['default']['speedup'])} / {rng(s['los_loop']['default']['speedup'])} verified")
    met = sum(r["default"]["meets_bar"] for r in runs)
    spec.value(where, 5, src, "runs[*].default.meets_bar", met, f"met in {met} of {len(runs)}")
    costs = [r["default"]["search_cost_baselines"] for r in runs]
    spec.value(where, 5, src, "runs[*].default.search_cost_baselines", costs, f"{span(costs, f1)} baselines")
    be = [r["default"]["break_even_retrainings"] for r in runs]
    spec.value(where, 5, src, "runs[*].default.break_even_retrainings", be, f"break-even {span(be, str)} retrainings")
    sp = s["sz_taxi"]["plain"]
    spec.value(where, 6, src, "summary.<dataset>.plain.{speedup, val_mae_change}.median",
               (sp["speedup"]["median"], sp["val_mae_change"]["median"], s["los_loop"]["plain"]["speedup"]["median"]),
               f"plain frontier: {x2(sp['speedup']['median'])} at {spct(sp['val_mae_change']['median'])} / "
               f"{x2(s['los_loop']['plain']['speedup']['median'])}")
    spec.value(where, 7, src, "runs[*].default: speedup = 1 / work_fraction", n_at,
               f"0 of 6; {n_at} of 6 equal their ceiling")
    # the prose: baselines' seconds, cost noise, search vs verified figures
    para = (*sec, "- **That noise was the machine's")
    loaded = [r for r in runs if r["cost_noise"] > 0.1]
    quiet = [r for r in runs if r["cost_noise"] <= 0.1]
    spec.value(para, None, src, "runs[*].baseline_seconds (cost_noise > 10%)", [r["baseline_seconds"] for r in loaded],
               f"charged {span([r['baseline_seconds'] for r in loaded], lambda v: f'{v:.0f}')} s")
    spec.value(para, None, src, "runs[*].baseline_seconds (the sixth)", quiet[0]["baseline_seconds"],
               f"the sixth, {f1(quiet[0]['baseline_seconds'])} s")
    spec.value(para, None, src, "runs[*].cost_noise", [r["cost_noise"] for r in runs],
               f"came out {span([r['cost_noise'] for r in loaded], pct0)} in those five and {pct(quiet[0]['cost_noise'])}")
    ins = [r["default"]["speedup_in_search"] for r in runs]
    ver = [r["default"]["speedup"] for r in runs]
    spec.value(para, None, src, "runs[*].default.{speedup_in_search, speedup}", (ins, ver),
               f"({span(ins, x2)} measured in the search, {span(ver, x2)} verified)")
    # the recommended configurations' accuracy, from the rerun's journals
    q = load("search_economics_quiet.json")

    def rec_changes(dataset: str, rec: str) -> list[float]:
        out = []
        for r in sorted((r for r in q["runs"] if r["dataset"] == dataset), key=lambda r: r["seed"]):
            t = next(t for t in r["trials"] if t["recommended"] == rec or (rec == "75%" and t["label"] == "baseline 75%"))
            out.append(t["val_mae"] / r["baseline_val_mae"] - 1)
        return out

    sz, los = rec_changes("sz_taxi", "dynst#1"), rec_changes("los_loop", "dynst#1")
    spec.value((*sec, "- **The recommended DynST was"), None, "search_economics_quiet.json",
               "runs[*].trials[recommended = dynst#1].val_mae / runs[*].baseline_val_mae - 1", (sz, los),
               f"(SZ-TAXI {', '.join(spct(v) for v in sz)}; LOS-LOOP {', '.join(spct(v) for v in los)})")
    rung = rec_changes("los_loop", "75%")
    spec.value((*sec, "- **Against training shorter**"), None, "search_economics_quiet.json",
               "runs[los_loop].trials[baseline 75%].val_mae / baseline_val_mae - 1", rung,
               f"(the 75% rung is {span(rung, spct)},")
    stp = rec_changes("sz_taxi", "st_prune#1") + rec_changes("los_loop", "st_prune#1")
    spec.value((*sec, "- ST-Prune's recommendation (r 0.6)"), None, "search_economics_quiet.json",
               "runs[*].trials[recommended = st_prune#1].val_mae / baseline_val_mae - 1", stp,
               f"({span(stp, spct)} val at about its cost")

    # the rerun two at a time
    src = "search_economics_quiet.json"
    sec = ("## A search that pays for itself", "### Rerun with two searches at a time")
    for dataset, label in (("sz_taxi", "SZ-TAXI"), ("los_loop", "LOS-LOOP")):
        mine = sorted((r for r in q["runs"] if r["dataset"] == dataset), key=lambda r: r["seed"])
        for arm, name in (("default", "search"), ("plain", "plain frontier")):
            where = (*sec, f"| {label}, {name} |")
            p = ("summary", dataset, arm)
            s = dig(q, p)
            spec.add(where, 3, src, (*p, "speedup"), speed)
            if arm == "default":
                for col, key in ((4, "val_mae_change"), (5, "test_mae_change")):
                    spec.add(where, col, src, (*p, key),
                             lambda d: f"{spct(d['median'])} [{spct(d['low'])}, {spct(d['high'])}]".replace("%,", ",")
                             .replace("%]", "]"))
            else:
                spec.add(where, 4, src, (*p, "val_mae_change", "median"), spct)
                spec.add(where, 5, src, (*p, "test_mae_change", "median"), spct)
            costs = [r[arm]["search_cost_baselines"] for r in mine]
            spec.value(where, 6, src, f"runs[{dataset}].{arm}.search_cost_baselines", costs, span(costs, f2))
            be = [v for v in s["break_even_retrainings"] if v is not None]
            spec.value(where, 7, src, f"{show_path(p)}.break_even_retrainings", s["break_even_retrainings"],
                       span(be, str) if be else "-")
            spec.add(where, 8, src, (*p, "meets_bar"), lambda v: f"{sum(v)} of {len(v)}")
            chosen = [r[arm] for r in mine]
            if arm == "default":
                recommended = [bool(r["trials"][r[arm]["trial"]]["recommended"]) for r in mine]
                names = [f"{c['label'].split(' ')[0]} t{c['trial']}" + (" (rec.)" if rec else "")
                         for c, rec in zip(chosen, recommended, strict=True)]
                text = ", ".join(names) if len(set(names)) > 1 else f"{names[0]} ×3"
                spec.value(where, 2, src, f"runs[{dataset}].default.{{label, trial}}", [(c["label"], c["trial"])
                           for c in chosen], text)
    para = (*sec, "cached. The full baselines charged")
    base = [r["baseline_seconds"] for r in q["runs"]]
    noise = [r["cost_noise"] for r in q["runs"]]
    spec.value(para, None, src, "runs[*].baseline_seconds, runs[*].cost_noise", (base, noise),
               f"charged {span(base, f1)} s (not 30-31 s), the study cost noise {span(noise, pct0)}")
    at = [(r["dataset"], r["seed"]) for r in q["runs"] if at_ceiling(r["default"])]
    at_plain = [(r["dataset"], r["seed"]) for r in q["runs"] if at_ceiling(r["plain"])]
    spec.value((*sec, "Verified figures at their work ceiling: search"), None, src,
               "runs[*].{default, plain}: speedup × work_fraction = 1", (at, at_plain),
               f"search {len(at)} of 6 (SZ-TAXI seed {at[0][1]}" if at else "search 0 of 6")
    where = (*HEAD, "| search economics, rerun two at a time (issue 21) |")
    s = q["summary"]
    spec.value(where, 3, src, "summary.<dataset>.default.test_mae_change.median",
               (s["sz_taxi"]["default"]["test_mae_change"]["median"], s["los_loop"]["default"]["test_mae_change"]["median"]),
               f"{spct(s['sz_taxi']['default']['test_mae_change']['median'])} / "
               f"{spct(s['los_loop']['default']['test_mae_change']['median'])}")
    dyn = [r["default"]["work_fraction"] for r in q["runs"] if r["default"]["label"].startswith("dynst")]
    stp_w = [r["default"]["work_fraction"] for r in q["runs"] if r["default"]["label"].startswith("st_prune")]
    spec.value(where, 4, src, "runs[*].default.work_fraction by strategy", (dyn, stp_w),
               f"{span(dyn, pct0)} (DynST, {len(dyn)} of 6), {span(stp_w, pct0)} (ST-Prune, {len(stp_w)})")
    spec.value(where, 5, src, "summary.<dataset>.default.speedup", (s["sz_taxi"]["default"]["speedup"],
               s["los_loop"]["default"]["speedup"]),
               f"{rng(s['sz_taxi']['default']['speedup'])} / {rng(s['los_loop']['default']['speedup'])} verified")
    met = sum(r["default"]["meets_bar"] for r in q["runs"])
    spec.value(where, 5, src, "runs[*].default.meets_bar", met, f"bar met in {met} of 6")
    costs = [r["default"]["search_cost_baselines"] for r in q["runs"]]
    spec.value(where, 5, src, "runs[*].default.search_cost_baselines", costs, f"{span(costs, f1)} baselines")
    be = [r["default"]["break_even_retrainings"] for r in q["runs"]]
    spec.value(where, 5, src, "runs[*].default.break_even_retrainings", be, f"break-even {span(be, str)} retrainings")
    sp = s["sz_taxi"]["plain"]
    spec.value(where, 6, src, "summary.<dataset>.plain.{speedup, val_mae_change}.median",
               (sp["speedup"]["median"], sp["val_mae_change"]["median"]),
               f"plain frontier: {x2(sp['speedup']['median'])} at {spct(sp['val_mae_change']['median'])} / "
               f"{x2(s['los_loop']['plain']['speedup']['median'])}")
    spec.value(where, 7, src, "runs[*].default: speedup = 1 / work_fraction", len(at),
               f"0 of 6; {len(at)} of 6 equals its ceiling")

    # early stopping and combine
    sec = ("## A search that pays for itself", "### Defaults: early stopping and combine")
    src = "search_economics_es.json"
    es = load(src)
    stopped = [sum(t["state"] == "PRUNED" for t in r["trials"]) for r in es["runs"]]
    n_es = [len(r["trials"]) for r in es["runs"]]
    n_q = [len(r["trials"]) for r in q["runs"]]
    para = (*sec, "**Early stopping stays off.**")
    spec.value(para, None, src, "runs[*].trials[state = PRUNED]; len(runs[*].trials) here and in the quiet arm",
               (stopped, n_es, n_q), f"it stopped {span(stopped, str)} trials per search, which let {span(n_es, str)} "
               f"trials into the same budget instead of {span(n_q, str)}")
    for dataset, label in (("sz_taxi", "on SZ-TAXI"), ("los_loop", "on LOS-LOOP")):
        sp_ = es["summary"][dataset]["default"]["speedup"]
        mb = es["summary"][dataset]["default"]["meets_bar"]
        spec.value(para, None, src, f"summary.{dataset}.default.{{speedup, meets_bar}}", (sp_, mb),
                   f"{rng(sp_)} {label} ({sum(mb)} of 3")
    r1 = next(r for r in es["runs"] if r["dataset"] == "los_loop" and r["seed"] == 1)
    q1 = next(r for r in q["runs"] if r["dataset"] == "los_loop" and r["seed"] == 1)
    spec.value(para, None, src, "runs[los_loop, seed 1].default.speedup; quiet's", (r1["default"]["speedup"],
               q1["default"]["speedup"]), f"seed 1 re-timed at {x2(r1['default']['speedup'])} for the trial the "
               f"default arm verified at {x2(q1['default']['speedup'])}")
    n = sum(at_ceiling(r["default"]) for r in es["runs"])
    spec.value(para, None, src, "runs[*].default: speedup × work_fraction = 1", n,
               f"Verified figures at their work ceiling: {n} of 6")
    src = "search_economics_combine.json"
    c = load(src)
    n = sum(at_ceiling(r["default"]) for r in c["runs"])
    spec.value((*sec, "- The export at the default 1% chose **DynST alone in 6 of 6**"), None, src,
               "runs[*].default: speedup × work_fraction = 1", n, f"verified figures at their work ceiling: {n} of 6")
    para = (*sec, "- The export at the default 1% chose **DynST alone in 6 of 6**")
    assert all(r["default"]["label"].startswith("dynst") and r["default"]["strategies"].keys() == {"dynst"}
               for r in c["runs"])
    for dataset, label in (("sz_taxi", "on SZ-TAXI"), ("los_loop", "on LOS-LOOP")):
        d = c["summary"][dataset]["default"]
        spec.value(para, None, src, f"summary.{dataset}.default.{{speedup, val_mae_change.median, meets_bar}}",
                   (d["speedup"], d["val_mae_change"]["median"], d["meets_bar"]),
                   f"{rng(d['speedup'])} " + ("verified (first-batches probe) " if dataset == "sz_taxi" else "")
                   + f"at {spct(d['val_mae_change']['median'])} {'val ' if dataset == 'sz_taxi' else ''}{label}")


def headline_arms(spec: Spec) -> None:
    """The 'What the search does now' paragraph restates the DynST and ST-Prune tables."""
    d, s = load("dynst.json"), load("st_prune.json")
    ds = [b["summary"]["dynst"] for b in d["blocks"]]
    sec = ("## A search that pays for itself", "### What the search does now", "DynST its defaults")
    spec.value(sec, None, "dynst.json", "blocks[*].summary.dynst.{speedup.median, mae_change}", ds,
               span([d_["speedup"]["median"] for d_ in ds], x2)
               + f" at {spct(ds[1]['mae_change'])} / {spct(ds[0]['mae_change'])} test")
    ns = [s["blocks"][k]["summary"]["named"] for k in ("sz_taxi/stid", "los_loop/stid")]
    spec.value(sec, None, "st_prune.json", 'blocks[*].summary.named.{speedup.median, mae_change}', ns,
               "(" + span([n["speedup"]["median"] for n in ns], x2)
               + f" at {spct(ns[0]['mae_change'])} / {spct(ns[1]['mae_change'])}")


VERIFIED_RUNS = (  # (doc row prefix, JSON): the verified speed-up reproduced (issue 30)
    ("quick start, run 1", "verified_repro_quickstart_run1.json"),
    ("quick start, run 2", "verified_repro_quickstart_run2.json"),
    ("quick start, run 3", "verified_repro_quickstart_run3.json"),
    ("quick start, run 4", "verified_repro_quickstart.json"),
    ("SZ-TAXI, plain export", "verified_repro_sz_taxi.json"),
    ("SZ-TAXI, strategy, run 1", "verified_repro_sz_taxi_strategy_run1.json"),
    ("SZ-TAXI, strategy, run 2", "verified_repro_sz_taxi_strategy.json"),
    ("PEMS08 prefix (derivation)", "verified_repro_pems08_prefix_strategy.json"),
    ("synthetic 120 (derivation)", "verified_repro_synthetic_n120_strategy.json"),
    ("synthetic 120, 60 days (derivation)", "verified_repro_synthetic_n120_long_strategy.json"),
    ("quick start, run 5", "verified_repro_quickstart_run5.json"),
    ("SZ-TAXI, strategy, run 3", "verified_repro_sz_taxi_strategy_run3.json"),
    ("quick start, run 6", "verified_repro_quickstart_run6.json"),
    ("SZ-TAXI, strategy, run 4", "verified_repro_sz_taxi_strategy_run4.json"),
    ("quick start, run 7", "verified_repro_quickstart_run7.json"),
    ("SZ-TAXI, strategy, run 5", "verified_repro_sz_taxi_strategy_run5.json"),
    ("SZ-TAXI, strategy, run 6", "verified_repro_sz_taxi_strategy_run6.json"),
    ("SZ-TAXI, strategy, run 7", "verified_repro_sz_taxi_strategy_run7.json"),
    ("quick start, run 8", "verified_repro_quickstart_run8.json"),
    ("SZ-TAXI, plain export, run 2", "verified_repro_sz_taxi_run2.json"),
    ("SZ-TAXI, strategy, no budget, run 1", "verified_repro_sz_taxi_strategy_trials.json"),
    ("SZ-TAXI, strategy, run 8", "verified_repro_sz_taxi_strategy_run8.json"),
    ("SZ-TAXI, strategy, no budget, run 2", "verified_repro_sz_taxi_strategy_trials_run2.json"),
)


def interval(row: dict[str, Any]) -> str:
    return f"{row['speedup']:.2f}x [{row['low']:.2f}, {row['high']:.2f}]"


SESSION13_STRATEGY = ("verified_repro_sz_taxi_strategy_run6.json", "verified_repro_sz_taxi_strategy_run7.json",
                      "verified_repro_sz_taxi_strategy_run8.json", "verified_repro_sz_taxi_strategy_trials.json",
                      "verified_repro_sz_taxi_strategy_trials_run2.json")


def session13(spec: Spec, sec: tuple[str, ...]) -> None:
    """The session-13 paragraph: the exported configurations' spreads, the strategy runs' agreement, the passes."""
    where = (*sec, "What it shows. The two exported configurations the issue names")
    data = load("verified_repro_quickstart_run8.json")
    speeds = [c["speedup"] for c in data["checks"]]
    spec.value(where, None, "verified_repro_quickstart_run8.json", "checks[*].speedup; verdict.quiet_median", speeds,
               f"run 8: {min(speeds):.2f}x to {max(speeds):.2f}x, quiet median {data['verdict']['quiet_median']:.2f}x")
    speeds = [c["speedup"] for c in load("verified_repro_sz_taxi_run2.json")["checks"]]
    spec.value(where, None, "verified_repro_sz_taxi_run2.json", "checks[*].speedup", speeds,
               f"the 50% rung: {min(speeds):.2f}x to {max(speeds):.2f}x")
    runs = [load(src) for src in SESSION13_STRATEGY]
    met = sum(all(r["verdict"][k] for k in ("all_overlap", "all_contain_quiet_median", "verdicts_agree")) for r in runs)
    checks = [c for r in runs for c in r["checks"]]
    names = ("none", "one", "two", "three", "four", "five", "six", "seven")
    spec.value(where, None, "verified_repro_sz_taxi_strategy_{run6,run7,run8,trials,trials_run2}.json",
               "verdict.*; checks[*].reliably_faster", (met, len(checks)),
               f"met all three in {names[met]} of {names[len(runs)]} runs, and "
               f"{sum(c['reliably_faster'] for c in checks)} of its {len(checks)} checks")
    budgeted = {c["passes"] for r in runs[:3] for c in r["checks"]}
    spec.value(where, None, "verified_repro_sz_taxi_strategy_run{6,7,8}.json", "checks[*].passes", sorted(budgeted),
               f"every check of runs 6-8 ran {names[max(budgeted)]}" if len(budgeted) == 1 else "(passes differ)")
    free = [c["passes"] for r in runs[3:] for c in r["checks"] if c["passes"] > 2]
    spec.value(where, None, "verified_repro_sz_taxi_strategy_trials{,_run2}.json", "checks[*].passes > 2", free,
               f"close verdicts ran {min(free)} to {max(free)} passes")


def verified(spec: Spec) -> None:
    """The verified speed-up reproduced: each repro run's checks, the budgets, the cache."""
    sec = ("## The verified speed-up reproduced",)
    for run, src in VERIFIED_RUNS:
        if not (ROOT / RESULTS / src).is_file():
            continue
        data = load(src)
        for i, check in enumerate(data["checks"]):
            where = (*sec, f"| {run} | {check['kind']} |")
            spec.value(where, 2, src, f"checks[{i}].{{speedup, low, high}}", check["speedup"], interval(check))
            spec.value(where, 3, src, f"checks[{i}].reliably_faster", check["reliably_faster"],
                       "yes" if check["reliably_faster"] else "no")
            spec.value(where, 4, src, f"checks[{i}].load_before", check["load_before"], f"{check['load_before']:.2f}")
        verdict = data["verdict"]
        where = (*sec, f"| {run} | verdict |")
        spec.value(where, 2, src, "verdict.quiet_median", verdict["quiet_median"], f"quiet median {verdict['quiet_median']:.2f}x")
        for col, key in ((3, "all_overlap"), (4, "all_contain_quiet_median"), (5, "verdicts_agree")):
            spec.value(where, col, src, f"verdict.{key}", verdict[key], "yes" if verdict[key] else "no")
    para = (*sec, "**A floor between re-timings (session 12).**")
    shrink = (*sec, "**A floor that shrinks with the pairs, tried and withdrawn (session 12).**")
    for src, label, where in (("verified_repro_pems08_prefix_strategy.json", "up to ", para),
                              ("verified_repro_synthetic_n120_strategy.json", "and ", para),
                              ("verified_repro_synthetic_n120_long_strategy.json", "by only ", shrink)):
        speeds = [c["speedup"] for c in load(src)["checks"]]
        median = statistics.median(speeds)
        spread = max(max(x / median, median / x) for x in speeds) - 1
        spec.value(where, None, src, "checks[*].speedup (the largest deviation from their median)", spread,
                   f"{label}{100 * spread:.1f}%")
    run5 = load("verified_repro_sz_taxi_strategy_run5.json")
    speeds, median = [c["speedup"] for c in run5["checks"]], run5["verdict"]["quiet_median"]
    spec.value(shrink, None, "verified_repro_sz_taxi_strategy_run5.json", "checks[*].speedup; verdict.quiet_median",
               speeds, f"from {min(speeds):.2f}x to {max(speeds):.2f}x "
               f"({100 * (max(max(x / median, median / x) for x in speeds) - 1):.1f}% from the quiet median {median:.2f}x)")
    session13(spec, sec)
    for src, run in (("verified_budget.json", ""), ("verified_budget_run2.json", ", run 2"),
                     ("verified_budget_run3.json", ", run 3")):
        for i, row in enumerate(load(src)["budgets"]):
            where = (*sec, "### A budget that holds", f"| --budget {row['budget']:g}{run} |")
            spec.value(where, 1, src, f"budgets[{i}].search_cost_baselines", row["search_cost_baselines"],
                       f"{row['search_cost_baselines']:.2f}")
            spec.value(where, 2, src, f"budgets[{i}].trials", row["trials"], str(row["trials"]))
            spec.value(where, 3, src, f"budgets[{i}].label", row["label"], row["label"])
            spec.value(where, 4, src, f"budgets[{i}].export", row["export"]["speedup"], interval(row["export"]))
    src = "verified_cache_run2.json"
    run2 = load(src)
    where = (*sec, "### A budget that holds", "| stemdist trial 5, run 2 |")
    spec.value(where, 4, src, "ratios.5", run2["ratios"]["5"], f"{run2['ratios']['5']:.3f}")
    spec.value(where, 3, src, "charges.second.5.charged_prepare_seconds", run2["charges"]["second"]["5"]["charged_prepare_seconds"],
               f"{run2['charges']['second']['5']['charged_prepare_seconds']:.3f}")
    src = "verified_cache.json"
    data = load(src)
    for n, ratio in data["ratios"].items():
        first, second = data["charges"]["first"][n], data["charges"]["second"][n]
        where = (*sec, "### A budget that holds", f"| stemdist trial {n} |")
        spec.value(where, 1, src, f"charges.first.{n}.charged_prepare_seconds", first["charged_prepare_seconds"],
                   f"{first['charged_prepare_seconds']:.3f}")
        spec.value(where, 2, src, f"charges.second.{n}.prepare_seconds", second["prepare_seconds"],
                   f"{second['prepare_seconds']:.3f}")
        spec.value(where, 3, src, f"charges.second.{n}.charged_prepare_seconds", second["charged_prepare_seconds"],
                   f"{second['charged_prepare_seconds']:.3f}")
        spec.value(where, 4, src, f"ratios.{n}", ratio, f"{ratio:.3f}")


def dynst_inference(spec: Spec) -> None:
    """DynST's inference time (issue 33): each cell of bench/results/dynst_inference.json."""
    src = "dynst_inference.json"
    if not (ROOT / RESULTS / src).is_file():
        return
    for key, c in load(src)["cells"].items():
        ds, model, s = key.split("/")
        where = ("## DynST inference time", f"| {ds} | {model} | {s} |")
        spec.add(where, 3, src, ("cells", key, "n_kept"), str)
        for col, view in ((4, "kept_only"), (6, "all_sensors")):
            v = c[view]
            spec.value(where, col, src, f"cells.{key}.{view}.{{speedup, low, high}}", v["speedup"],
                       f"{v['speedup']:.2f}x [{v['low']:.2f}, {v['high']:.2f}]")
            spec.add(where, col + 1, src, ("cells", key, view, "deployed_test_mae"), f4)


DERIVE_DATASETS = (("pems08_prefix", "PEMS08 prefix"), ("chickenpox", "CHICKENPOX"), ("synthetic_n40", "synthetic 40"),
                   ("synthetic_n120", "synthetic 120"))


def derive_defaults(spec: Spec) -> None:
    """The recommended configurations derived on validation (issue 34): bench/results/derive_defaults.json."""
    src = "derive_defaults.json"
    if not (ROOT / RESULTS / src).is_file():
        return
    data = load(src)
    sec = ("## Recommended configurations, derived on validation (issue 34)",)
    n = len(DERIVE_DATASETS)
    spec.value((*sec, "wall for the whole run"), None, src, "wall_seconds", data["wall_seconds"], f"{data['wall_seconds']:.0f} s wall")
    for strategy, sel in data["selection"].items():
        for i, p in enumerate(sel["grid"]):
            path = ("selection", strategy, "grid", i)
            where = (*sec, "### The rule's inputs", f"| {p['arm']} |")
            for col, (key, _) in enumerate(DERIVE_DATASETS, 1):
                spec.add(where, col, src, (*path, "val_mae_change", key), lambda v: spct(v, 2))
            spec.add(where, n + 1, src, (*path, "datasets_within"), lambda v: f"{v} of {n}")
            spec.add(where, n + 2, src, (*path, "mean_work_fraction"), pct)
            text = ("outside the space" if not p["eligible"] else
                    f"recommended {p['chosen']}" + ("" if sel["passed"] else " (fallback)") if p["chosen"] else "-")
            spec.value(where, n + 3, src, f"{show_path(path)}.{{eligible, chosen}}; selection.{strategy}.passed",
                       (p["eligible"], p["chosen"], sel["passed"]), text)
            where = (*sec, "### Work and time beside it", f"| {p['arm']} |")
            above = []
            for col, (key, label) in enumerate(DERIVE_DATASETS, 1):
                row = data["datasets"][key]["summary"][p["arm"]]
                t = row["time_ratio"]
                spec.value(where, col, src, f"datasets.{key}.summary[\"{p['arm']}\"].{{work_fraction, time_ratio}}",
                           (row["work_fraction"], t), f"{pct(row['work_fraction'])} / {t['median']:.2f} "
                           f"[{t['low']:.2f}, {t['high']:.2f}]")
                if row["above_work_ceiling"]:
                    above.append(label)
            spec.value(where, n + 1, src, f"datasets.*.summary[\"{p['arm']}\"].above_work_ceiling", above,
                       "ok" if not above else "above its work ceiling on " + ", ".join(above))
    # the bullets under the first table
    grid = {strategy: {p["arm"]: p for p in sel["grid"]} for strategy, sel in data["selection"].items()}
    d3, d5 = grid["dynst"]["dynst s0.3 e0.75"], grid["dynst"]["dynst s0.5 e0.75"]
    para = (*sec, "- **DynST: s_final 0.3, end_frac 0.75**")
    assert data["selection"]["dynst"]["chosen"] == ["dynst s0.3 e0.75"] and d3["datasets_within"] == n
    spec.value(para, None, src, "selection.dynst.grid[dynst s0.3 e0.75].mean_work_fraction", d3["mean_work_fraction"],
               f"at {pct(d3['mean_work_fraction'])} of the work")
    syn = (d5["val_mae_change"]["synthetic_n40"], d5["val_mae_change"]["synthetic_n120"])
    spec.value(para, None, src, "selection.dynst.grid[dynst s0.5 e0.75].val_mae_change.synthetic_*", syn,
               f"costs {spct(syn[0], 2)} / {spct(syn[1], 2)} on the synthetic network")
    s7 = [p for a, p in grid["dynst"].items() if a.startswith("dynst s0.7")]
    assert all(p["datasets_within"] == 0 and not p["eligible"] for p in s7)
    close = grid["dynst"]["dynst s0.7 e0.75"]["val_mae_change"]["chickenpox"]
    spec.value(para, None, src, "selection.dynst.grid[dynst s0.7 e0.75].val_mae_change.chickenpox", close,
               f"CHICKENPOX at end_frac 0.75, {spct(close, 2)}")
    r3 = grid["st_prune"]["st_prune r0.3"]
    para = (*sec, "- **ST-Prune: no ratio passes.**")
    assert not data["selection"]["st_prune"]["passed"] and data["selection"]["st_prune"]["chosen"] == ["st_prune r0.3"]
    ch = r3["val_mae_change"]
    spec.value(para, None, src, "selection.st_prune.grid[st_prune r0.3].val_mae_change", ch,
               f"Even r 0.3 costs {spct(ch['pems08_prefix'], 2)} on the PEMS08 prefix, {spct(ch['synthetic_n40'], 2)} "
               f"and {spct(ch['synthetic_n120'], 2)} on the synthetic network")
    spec.value(para, None, src, "selection.st_prune.grid[st_prune r0.3].mean_work_fraction", r3["mean_work_fraction"],
               f"at {pct(r3['mean_work_fraction'])} of the work")
    assert all(len(sel["chosen"]) == 1 for sel in data["selection"].values())  # "No second configuration"
    rows = [r for b in data["datasets"].values() for r in b["rows"]]
    last = sum(r["best_epoch"] == r["epochs_run"] - 1 for r in rows)
    full = [r for r in rows if r["arm"] == "full"]
    full_last = sum(r["best_epoch"] == r["epochs_run"] - 1 for r in full)
    spec.value((*sec, "- Most models were still improving"), None, src, "datasets.*.rows[i].{best_epoch, epochs_run}",
               (last, len(rows), full_last, len(full)),
               f"the last one in {last} of {len(rows)} runs, {full_last} of {len(full)} baselines")
    para = (*sec, "### Work and time beside it", "Each run trained for")
    secs = [r["cost_seconds"] for r in rows]
    spec.value(para, None, src, "datasets.*.rows[i].cost_seconds", (min(secs), max(secs)),
               f"{min(secs):.1f}-{max(secs):.1f} s of CPU time")
    cp = data["datasets"]["chickenpox"]
    windows = {r["n_train_windows"] for r in cp["rows"]}
    assert len(windows) == 1
    spec.value(para, None, src, "datasets.chickenpox.rows[i].n_train_windows", windows, f"{windows.pop()} training windows")
    n_above = sum(row["above_work_ceiling"] for b in data["datasets"].values() for row in b["summary"].values())
    spec.value(para, None, src, "datasets.*.summary.*.above_work_ceiling", n_above,
               f"({['no', 'one', 'two', 'three'][n_above]} arms above their ceiling)")
    ratios = [cp["summary"][a]["time_ratio"]["median"] for a in ("dynst s0.3 e0.5", "dynst s0.3 e0.75")]
    spec.value(para, None, src, "datasets.chickenpox.summary[dynst s0.3 *].time_ratio.median", ratios,
               f"(timed ratios {ratios[0]:.2f} and {ratios[1]:.2f})")


OTHER_DOCS: list[tuple[str, str, str, Sequence[str | int], Callable[[Any], str]]] = [
    # (doc, the text around the figure, JSON, key path, format): figures of issue 32 outside benchmarks.md
    ("docs/data.md", "val MAE {} does not", "naive_residual.json", ("weekly", "val_mae"), lambda v: f"{v:.4f}"),
    ("docs/data.md", "zero ({})", "naive_residual.json", ("weekly", "naive", "zero", "val_mae"), lambda v: f"{v:.4f}"),
    ("docs/data.md", "validation MAE {} with it", "naive_residual.json", ("hourly", "residual", "val_mae"), lambda v: f"{v:.4f}"),
    ("docs/data.md", "against {} for `same_time_last_week`", "naive_residual.json",
     ("hourly", "plain", "naive", "same_time_last_week", "val_mae"), lambda v: f"{v:.4f}"),
    ("docs/data.md", "without it reached {}", "naive_residual.json", ("hourly", "plain", "val_mae"), lambda v: f"{v:.4f}"),
    ("docs/data.md", "and `zero` {}", "naive_residual.json", ("hourly", "plain", "naive", "zero", "val_mae"), lambda v: f"{v:.4f}"),
    ("docs/data.md", "{}% zeros", "naive_residual.json", ("hourly", "zero_share"), lambda v: f"{100 * v:.0f}"),
    ("docs/recipes.md", "(val MAE {} vs", "naive_residual.json", ("hourly", "residual", "val_mae"), lambda v: f"{v:.4f}"),
    # issue 34: the quick start's run of record and the search against --quick, as README.md states them
    ("README.md", "the run of record cost {} baselines", "quickstart_record.json", ("default", "search_cost_baselines"),
     lambda v: f"{v:.2f}"),
    ("README.md", "exported the {}:", "quickstart_record.json", ("default", "export", "label"), lambda v: f"plain {v}"),
    ("README.md", "lost {}% val MAE", "quickstart_record.json", ("default", "trials"), lambda rows: str(round(100 * (
        next(r["val_mae"] for r in rows if r["label"].startswith("dynst"))
        / next(r["val_mae"] for r in rows if r["label"] == "baseline") - 1)))),
    ("README.md", "recommendations ({} baselines there", "quickstart_record.json", ("quick", "search_cost_baselines"),
     lambda v: f"{v:.2f}"),
    ("README.md", "beat `--quick` in {} of 18 cells", "search_value.json", ("verdicts", "default_beats_quick_by_10pct"), str),
    ("README.md", "at a median of {}x against", "search_value.json", ("verdicts", "median_speedup", "default"), lambda v: f"{v:.2f}"),
    # issue 33: STemDist at its authors' settings, as docs/strategies/stemdist.md restates it
    ("docs/strategies/stemdist.md", "by {}% (LOS-LOOP)", "stemdist_authors.json",
     ("blocks", "los_loop/mtgnn", "claim", "random subset", "relative"), lambda v: f"{-100 * v:.1f}"),
    ("docs/strategies/stemdist.md", "and {}% (PEMS08 prefix)", "stemdist_authors.json",
     ("blocks", "pems08_prefix/mtgnn", "claim", "random subset", "relative"), lambda v: f"{-100 * v:.1f}"),
    ("docs/strategies/stemdist.md", "random baseline is {}% better", "stemdist_authors.json",
     ("blocks", "sz_taxi/mtgnn", "claim", "authors' random", "relative"), lambda v: f"{100 * v:.1f}"),
    ("docs/strategies/stemdist.md", "the loop to sttune's cost {}%", "stemdist_authors_ablate.json",
     ("blocks", "pems08_prefix/mtgnn", "claim", "distilled, sttune loop", "relative"), lambda v: f"{-100 * v:.1f}"),
    # issue 30: the close verdict that flipped, as docs/selection.md restates it (benchmarks.md traces the 29 of 30)
    ("docs/selection.md", "the other reading {}x under two burners", "verified_repro_sz_taxi_strategy_trials_run2.json",
     ("checks", 3, "speedup"), lambda v: f"{v:.2f}"),
    # issue 34: the search against --quick, as docs/selection.md restates it
    ("docs/selection.md", "by 10% or more in {} of 18", "search_value.json", ("verdicts", "default_beats_quick_by_10pct"), str),
    ("docs/selection.md", "at ≤ 1% val MAE: {}x (default)", "search_value.json", ("verdicts", "median_speedup", "default"),
     lambda v: f"{v:.2f}"),
    ("docs/selection.md", "{}x (`--quick`)", "search_value.json", ("verdicts", "median_speedup", "quick"), lambda v: f"{v:.2f}"),
    ("docs/selection.md", "baselines and `--quick` 1.00-{}", "search_value.json", ("verdicts", "quick_cost_max"), lambda v: f"{v:.2f}"),
    ("docs/selection.md", "The default search cost 1.61-{}", "search_value.json", ("verdicts", "default_cost_max"), lambda v: f"{v:.2f}"),
]


def other_docs(show: Callable[[str], None], failures_only: bool) -> int:
    """The figures OTHER_DOCS names, each looked for in its doc; the number missing."""
    bad = 0
    for doc, around, src, path, fmt in OTHER_DOCS:
        text = around.format(fmt(dig(load(src), path)))
        ok = text in norm((ROOT / doc).read_text())
        bad += not ok
        if not ok or not failures_only:
            show(f"{'ok' if ok else 'MISMATCH'} | {doc} | {text} | {src}: {show_path(path)}")
    return bad


LADDER_NAMES = {"pems08_prefix": "PEMS08 prefix", "synthetic_n120": "synthetic 120"}


def ladder_check(spec: Spec) -> None:
    """The ladder read off the baseline against trained rungs (issue 34): bench/results/ladder_check.json."""
    src = "ladder_check.json"
    if not (ROOT / RESULTS / src).is_file():
        return
    data = load(src)
    sec = ("## The ladder read off the baseline (issue 34)",)
    spec.value((*sec, "s wall. Val MAE"), None, src, "wall_seconds", data["wall_seconds"], f"{data['wall_seconds']:.0f} s wall")
    for i, block in enumerate(data["blocks"]):
        for j, rung in enumerate(block["rungs"]):
            where = (*sec, f"| {block['model']} | {LADDER_NAMES[block['dataset']]} | {rung['epochs']} |")
            path = ("blocks", i, "rungs", j)
            spec.add(where, 3, src, (*path, "derived_val_change"), lambda v: spct(v, 2))
            spec.add(where, 4, src, (*path, "shortened_val_change"), lambda v: spct(v, 2))
            spec.add(where, 5, src, (*path, "trained_val_change"), lambda v: spct(v, 2))
            spec.add(where, 6, src, (*path, "trained_minus_derived"), lambda v: f"{100 * v:+.2f} points")
        spec.add((*sec, "Kendall tau: "), None, src, ("blocks", i, "kendall_tau"),
                 lambda v, b=block: f"{b['model']} {LADDER_NAMES[b['dataset']]} {v:.2f}")


VALUE_ARMS = (("default", ("default", "choice")), ("--quick", ("quick", "choice")), ("best rung", ("default", "rung")))


def search_value(spec: Spec) -> None:
    """Does the default search find more than its default (issue 34): bench/results/search_value.json."""
    src = "search_value.json"
    if not (ROOT / RESULTS / src).is_file():
        return
    data = load(src)
    sec = ("## The search against --quick and training shorter (issue 34)",)
    for i, run in enumerate(data["runs"]):
        for arm, (key, part) in VALUE_ARMS:
            a = run[key][part]
            where = (*sec, f"| {run['dataset']} | {run['model']} | {run['seed']} | {arm} |")
            path = ("runs", i, key, part)
            spec.value(where, 4, src, show_path((*path, "label")), a["label"], f"{a['label']} ({a['epochs']})")
            low, high = a["speedup_interval"] or (a["speedup"], a["speedup"])
            spec.value(where, 5, src, show_path((*path, "speedup")), a["speedup"], f"{a['speedup']:.2f}x [{low:.2f}, {high:.2f}]")
            spec.add(where, 6, src, (*path, "val_mae_change"), spct)
            test = a["test_mae_change"]
            spec.value(where, 7, src, show_path((*path, "test_mae_change")), test,
                       "n/a (read off)" if test is None else spct(test))
            spec.add(where, 8, src, (*path, "search_cost_baselines"), f2)
    v = data["verdicts"]
    para = (*sec, "**What it shows.**")
    spec.value(para, None, src, "verdicts.default_cost_max", v["default_cost_max"], f"at most {v['default_cost_max']:.2f} baselines")
    spec.value(para, None, src, "verdicts.default_beats_quick_by_10pct", v["default_beats_quick_by_10pct"],
               f"{v['default_beats_quick_by_10pct']} of {v['cells']} cells")
    for arm in ("default", "quick", "rung"):
        spec.value(para, None, src, f"verdicts.median_speedup.{arm}", v["median_speedup"][arm],
                   f"{v['median_speedup'][arm]:.2f}x")
    src_q = "quickstart_record.json"
    if (ROOT / RESULTS / src_q).is_file():
        for arm, flag in (("default", "` |"), ("quick", " --quick` |")):
            where = ("### The quick start, run of record (issue 34)", f"| `sttune search recipes/quickstart.yaml{flag}")
            spec.add(where, 1, src_q, (arm, "search_cost_baselines"), f2)
            spec.add(where, 2, src_q, (arm, "trained_trials"), str)
            spec.add(where, 3, src_q, (arm, "export", "label"), str)
            spec.add(where, 4, src_q, (arm, "export", "speedup"), lambda v: f"{v:.2f}x")
            spec.add(where, 5, src_q, (arm, "wall_seconds"), lambda v: f"{v:.0f} s")
    if "predictions" in data:
        pred = data["predictions"]
        spec.value((*sec, "**Predicted costs.**"), None, src, "predictions.kendall_tau", pred["kendall_tau"],
                   f"Kendall tau {pred['kendall_tau']:.2f}")


def stemdist_authors(spec: Spec) -> None:
    """STemDist at its authors' settings (issue 33): the merged run's verdict table, cell by cell."""
    src = "stemdist_authors.json"
    if not (ROOT / RESULTS / src).is_file():
        return
    sec = ("## STemDist at its authors' settings",)
    arms = ("distilled", "random subset", "cluster-only", "authors' random")
    for key, block in load(src)["blocks"].items():
        where = (*sec, f"| {key} |")
        for col, arm in enumerate(arms, start=1):
            row = block["summary"][arm]
            spec.value(where, col, src, f"blocks.{key}.summary.{arm}.{{test_mae_mean, test_mae_sd}}", row["test_mae_mean"],
                       f"{row['test_mae_mean']:.4f} ± {row['test_mae_sd']:.4f}")
        for col, other in enumerate(arms[1:], start=5):
            v = block["claim"][other]
            word = "**beats**" if v["beats"] else ("loses" if v["loses"] else "tie")
            spec.value(where, col, src, f"blocks.{key}.claim.{other}.{{relative, wins, seeds, beats, loses}}", v["relative"],
                       f"{100 * v['relative']:+.1f}% ({v['wins']}/{v['seeds']}, {word})")
        seconds = statistics.fmean(r["distill_seconds"] or 0 for r in block["runs"]["distilled"])
        spec.value(where, 8, src, f"blocks.{key}.runs.distilled[*].distill_seconds (mean)", seconds, f"{seconds:.0f}")
    blocks = load(src)["blocks"].values()
    cost = (*sec, "What it costs. The distillation took")
    distill = [statistics.fmean(r["distill_seconds"] for r in b["runs"]["distilled"]) for b in blocks]
    spec.value(cost, None, src, "blocks.*.runs.distilled[*].distill_seconds (means)", distill,
               f"took {min(distill):.0f}-{max(distill):.0f} device s")
    small = [v["device_seconds_mean"] for b in blocks for arm, v in b["summary"].items() if arm != "distilled"]
    spec.value(cost, None, src, "blocks.*.summary.<small arms>.device_seconds_mean", small,
               f"against {min(small):.0f}-{max(small):.0f} s")
    ratio = [b["summary"]["distilled"]["device_seconds_mean"] / b["summary"]["random subset"]["device_seconds_mean"]
             for b in blocks]
    spec.value(cost, None, src, "blocks.*.summary.{distilled, random subset}.device_seconds_mean (ratio)", ratio,
               f"costs {min(ratio):.0f}-{max(ratio):.0f}x the random subset's")
    ablate(spec, sec)
    epochs = [r["best_epoch"] for r in load(src)["blocks"]["sz_taxi/mtgnn"]["runs"]["authors' random"]]
    spec.value(cost, None, src, "blocks.sz_taxi/mtgnn.runs.authors' random[*].best_epoch", epochs,
               f"{max(epochs)} of 0-{max(epochs)}" if len(set(epochs)) == 1 else "(not all the last)")


def ablate(spec: Spec, sec: tuple[str, ...]) -> None:
    """The --ablate table (one seed): each reverted arm's test MAE and the distilled arm against it."""
    src = "stemdist_authors_ablate.json"
    for key, block in load(src)["blocks"].items():
        for label, v in block["claim"].items():
            if not label.startswith("distilled, "):
                continue
            row = block["summary"][label]
            where = (*sec, f"| {key} | {label.removeprefix('distilled, ')} |")
            spec.value(where, 2, src, f"blocks.{key}.summary.{label}.test_mae_mean", row["test_mae_mean"],
                       f"{row['test_mae_mean']:.4f} ± {row['test_mae_sd']:.4f}")
            spec.value(where, 3, src, f"blocks.{key}.claim.{label}.{{relative, wins, seeds}}", v["relative"],
                       f"{100 * v['relative']:+.1f}% ({v['wins']}/{v['seeds']})")
        if key != "pems08_prefix/mtgnn":  # the prose reads the PEMS08 prefix's seed
            continue
        prose = (*sec, "On that seed the loop carries most of the gain")
        for label, text in (("distilled, sttune loop", "trails the authors' loop by {}%"), ("distilled, profile input", "against {}% for"),
                            ("distilled, sttune selection", "and {}% for selection")):
            rel = block["claim"][label]["relative"]
            spec.value(prose, None, src, f"blocks.{key}.claim.{label}.relative", rel, text.format(f"{-100 * rel:.1f}"))
        for arm, text in (("distilled", "(the distilled arm: {};"), ("random subset", "random subset {} on that seed")):
            mae = block["summary"][arm]["test_mae_mean"]
            spec.value(prose, None, src, f"blocks.{key}.summary.{arm}.test_mae_mean", mae, text.format(f"{mae:.4f}"))


SECTIONS: list[Callable[[Spec], None]] = [st_prune, st_prune_superseded, sanity, trainer_overhead, stemdist, dynst,
                                          frontier, early_stopping, dynst_deploy, scale, search_economics, headline_arms,
                                          verified, dynst_inference, derive_defaults, ladder_check, search_value,
                                          stemdist_authors]

# Figures with no run of record that must not be printed as measurements where they used to be.
ABSENT: list[tuple[str, str]] = [
    ("README.md", "measured 68 s"),
    ("docs/selection.md", "1.06x [1.00, 1.12]"),
    ("docs/selection.md", "90.2%"),
    ("docs/selection.md", "1.47x [1.40, 1.55]"),
]


def headline_has_no_quick_start(doc: Doc) -> bool:
    start = doc.locate(HEAD)
    end = next(i for i in range(start + 1, len(doc.lines)) if doc.lines[i].startswith("## "))
    return not any(line.startswith("| quick start") for line in doc.lines[start:end])


def check(show: Callable[[str], None] = print, failures_only: bool = False, doc_path: Path | None = None) -> int:
    """Check every figure against ``doc_path`` (default: docs/benchmarks.md); the number of failures."""
    spec = Spec()
    skipped = []
    for section in SECTIONS:
        try:
            section(spec)
        except (subprocess.CalledProcessError, FileNotFoundError):  # a clone without the history it reads
            skipped.append(section.__name__)
    doc = Doc(doc_path or ROOT / DOC)
    bad = 0
    show("status | doc figure (section › row [cell]) | printed | JSON (bench/results/) : path | value")
    for fig in spec.figures:
        try:
            cell = doc.cell(fig.where, fig.col)
            ok = norm(fig.text) in cell
            found = "" if ok else f"  <- the doc has: {cell!r}"
        except LookupError as exc:
            ok, found = False, f"  <- {exc}"
        bad += not ok
        if not ok or not failures_only:
            where = " › ".join(w.strip("#* ") for w in fig.where[1:] or fig.where)
            col = "paragraph" if fig.col is None else f"cell {fig.col}"
            show(f"{'ok' if ok else 'MISMATCH'} | {fig.where[0].strip('# ')} › {where} [{col}] | {fig.text} | "
                 f"{fig.source}: {fig.path} | {show_value(fig.value)}{found}")
    for file, text in ABSENT:
        if text in (ROOT / file).read_text():
            bad += 1
            show(f"MISMATCH | {file} still prints {text!r}, a figure with no run of record")
    if not headline_has_no_quick_start(doc):
        bad += 1
        show("MISMATCH | the headline table still has a quick-start row (no run of record)")
    bad += other_docs(show, failures_only)
    untraced = sum("not traceable" in line.lower() for line in doc.lines)
    sources = sorted({f.source for f in spec.figures})
    show(f"{len(spec.figures)} figures from {len(sources)} JSON files checked, {bad} mismatches; "
         f"{untraced} lines of {DOC} mark figures 'not traceable'"
         + (f"; sections skipped (their JSON is in git history this clone lacks): {', '.join(skipped)}" if skipped else ""))
    return bad


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--failures", action="store_true", help="print only the mismatches and the summary")
    args = parser.parse_args(argv)
    return 1 if check(failures_only=args.failures) else 0


if __name__ == "__main__":
    sys.exit(main())
