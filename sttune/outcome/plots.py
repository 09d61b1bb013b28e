"""The report's pictures: the Pareto plot and the learning curves, each as a PNG (matplotlib)
and an HTML page (plotly, its library inlined so the page works offline).

A picture is first described as a :class:`Chart` (series, marked points, labels), then drawn
by either backend, so the PNG and the HTML always show the same thing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sttune.outcome.export import speedup
from sttune.tuning import records as rec

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
MARKERS = ("s", "^", "D", "v", "P", "X", "h", "<", ">", "p")  # the ladder has "o"
PLOTLY_MARKERS = {"o": "circle", "s": "square", "^": "triangle-up", "D": "diamond", "v": "triangle-down",
                  "P": "cross", "X": "x", "h": "hexagon", "<": "triangle-left", ">": "triangle-right", "p": "pentagon"}
BASELINE_COLOR = "#444444"
MAE_AXIS = "val MAE (dataset units)"
LADDER = "plain training (baseline ladder)"


@dataclass
class Series:
    """One legend entry: points, or a line through them."""

    name: str
    x: list[float]
    y: list[float]
    color: str
    marker: str = "o"
    line: bool = False
    dash: bool = False
    hover: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # text beside each point (the ladder's fractions)


@dataclass
class Mark:
    """A point called out with a ring and a note (the full baseline, the exported trial)."""

    x: float
    y: float
    text: str
    color: str


@dataclass
class Chart:
    title: str
    xlabel: str
    ylabel: str
    series: list[Series]
    marks: list[Mark] = field(default_factory=list)


def group(record: rec.TrialRecord) -> str:
    """The legend entry a trial belongs to: its strategy or combination (and model)."""
    return LADDER if record.role == "baseline" else record.label


def _key_params(record: rec.TrialRecord, most: int = 3) -> str:
    if record.job is None:
        return ""
    parts = []
    for name, params in record.job.strategies:
        shown = [f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in list(params.items())[:most]]
        parts.append(f"{name}: " + ", ".join(shown))
    return "; ".join(parts)


def hover(record: rec.TrialRecord, baseline: rec.TrialRecord | None) -> str:
    """A few short lines: trial and strategy, key params, val/test MAE, seconds and speed-up."""
    s = speedup(record, baseline)
    lines = [f"trial {record.number} · {record.label}", _key_params(record),
             f"val MAE {record.val_mae:.4f} · test MAE {record.test_mae:.4f}",
             f"{record.cost_seconds:.2f} device s" + (f" · speed-up {s:.2f}x" if s else "")]
    return "<br>".join(line for line in lines if line)


def speedup_text(chosen: dict[str, Any]) -> str:
    """An exported trial's speed-up as the export prints it: verified with its interval, or marked."""
    s, interval = chosen.get("speedup"), chosen.get("speedup_interval")
    if not isinstance(s, (int, float)):
        return "no speed-up (no baseline)"
    if chosen.get("speedup_verified") and interval:
        return f"{s:.2f}x [{interval[0]:.2f}, {interval[1]:.2f}] (verified)"
    return f"{s:.2f}x (unverified)"


def device_of(records: list[rec.TrialRecord]) -> str:
    devices = sorted({str(r.result.device) for r in records if r.result and r.result.device})
    return ", ".join(devices) or "the device"


def pareto_chart(records: list[rec.TrialRecord], dataset: str, rule: str, tolerance: float,
                 chosen: dict[str, Any] | None) -> Chart:
    """Every completed trial, one colour and marker per strategy (and combination); the baseline
    ladder as the no-strategy line labelled by fraction of train.epochs; the full baseline and the exported trial
    (``chosen``: its trial summary, docs/json.md) called out."""
    done = [r for r in records if r.state == "COMPLETE" and math.isfinite(r.val_mae)]
    base = rec.full_baseline(done)
    ladder = sorted((r for r in done if r.role == "baseline"), key=lambda r: r.cost_seconds)
    series = []
    if ladder:
        series.append(Series(LADDER, [r.cost_seconds for r in ladder], [r.val_mae for r in ladder], BASELINE_COLOR,
                             "o", line=True, dash=True, hover=[hover(r, base) for r in ladder],
                             labels=[f"{r.fraction:.0%} epochs" for r in ladder]))
    names = sorted({group(r) for r in done if r.role != "baseline"})
    for i, name in enumerate(names):
        members = [r for r in done if r.role != "baseline" and group(r) == name]
        series.append(Series(name, [r.cost_seconds for r in members], [r.val_mae for r in members],
                             COLORS[i % len(COLORS)], MARKERS[i % len(MARKERS)], hover=[hover(r, base) for r in members]))
    marks = []
    if base is not None:
        marks.append(Mark(base.cost_seconds, base.val_mae, f"full baseline (trial {base.number})", BASELINE_COLOR))
    picked = next((r for r in done if chosen and r.number == chosen.get("trial")), None)
    if picked is not None and chosen is not None:
        marks.append(Mark(picked.cost_seconds, picked.val_mae,
                          f"exported: trial {picked.number}, {speedup_text(chosen)}", "#d62728"))
    title = f"{dataset} · rule {rule}" + (f", tolerance {tolerance:.1%}" if rule == "fastest-within" else "")
    return Chart(title, f"device seconds on {device_of(done)}", MAE_AXIS, series, marks)


def curves_chart(records: list[rec.TrialRecord], dataset: str) -> Chart:
    """Per strategy, its best trial's val MAE against device seconds (its charged preparation
    first), next to the full baseline's: where the saving comes from."""
    done = [r for r in records if r.state == "COMPLETE" and math.isfinite(r.val_mae) and r.result]
    base = rec.full_baseline(done)
    best: dict[str, rec.TrialRecord] = {}
    for r in done:
        if r.role != "baseline" and (group(r) not in best or r.val_mae < best[group(r)].val_mae):
            best[group(r)] = r
    series = []
    if base is not None:
        series.append(_curve(base, f"full baseline (trial {base.number})", BASELINE_COLOR, "o", dash=True))
    for i, name in enumerate(sorted(best)):
        series.append(_curve(best[name], f"{name} (trial {best[name].number})", COLORS[i % len(COLORS)],
                             MARKERS[i % len(MARKERS)]))
    return Chart(f"{dataset} · learning curves: each strategy's best trial and the full baseline",
                 f"device seconds on {device_of(done)} (preparation included)", MAE_AXIS, series)


def _curve(record: rec.TrialRecord, name: str, color: str, marker: str, dash: bool = False) -> Series:
    result = record.result
    start = float(result.charged_prepare_seconds) if result else 0.0
    rows = rec.curve_rows(result)
    xs = [start + float(row["device_seconds"]) for row in rows]
    ys = [float(row["val_mae"]) for row in rows]
    tips = [f"trial {record.number} · epoch {row['epoch'] + 1}<br>val MAE {y:.4f} · {x:.2f} device s"
            for row, x, y in zip(rows, xs, ys)]
    return Series(name, xs, ys, color, marker, line=True, dash=dash, hover=tips)


def note_offset(chart: Chart, mark: Mark, index: int) -> tuple[tuple[int, int], str]:
    """Where a mark's note goes, in points from it, and its alignment: towards the middle of the
    data (a note pointing outwards would leave the axes), each further mark's note further out
    (the full baseline and the exported trial often sit close)."""
    xs = [x for s in chart.series for x in s.x] or [mark.x]
    ys = [y for s in chart.series for y in s.y] or [mark.y]
    fx = (mark.x - min(xs)) / ((max(xs) - min(xs)) or 1.0)
    fy = (mark.y - min(ys)) / ((max(ys) - min(ys)) or 1.0)
    dx, dy = (40 if fx < 0.6 else -40), (30 + 30 * index) * (1 if fy < 0.5 else -1)
    return (dx, dy), "left" if dx > 0 else "right"


def to_matplotlib(chart: Chart) -> Any:
    """The chart as a matplotlib Figure (legend outside the axes, on the right)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 5), dpi=100)
    ax = fig.add_subplot()
    for s in chart.series:
        ax.plot(s.x, s.y, linestyle=("--" if s.dash else "-") if s.line else "none", marker=s.marker,
                color=s.color, label=s.name, markersize=6 if s.line else 7, alpha=0.9)
        for x, y, text in zip(s.x, s.y, s.labels):
            ax.annotate(text, (x, y), textcoords="offset points", xytext=(4, 6), fontsize=8, color=s.color)
    for i, m in enumerate(chart.marks):
        ax.plot([m.x], [m.y], marker="o", markersize=16, markerfacecolor="none", markeredgecolor=m.color,
                markeredgewidth=2, linestyle="none")
        (dx, dy), align = note_offset(chart, m, i)
        ax.annotate(m.text, (m.x, m.y), textcoords="offset points", xytext=(dx, dy), ha=align,
                    fontsize=8, color=m.color, arrowprops={"arrowstyle": "-", "color": m.color})
    ax.set_title(chart.title, fontsize=11)
    ax.set_xlabel(chart.xlabel)
    ax.set_ylabel(chart.ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8, frameon=False)
    return fig


def write_png(chart: Chart, path: Path) -> Any:
    """Draw the chart to ``path``; returns the matplotlib Figure (tests read its objects)."""
    from sttune.files import atomic_path

    fig = to_matplotlib(chart)
    with atomic_path(path) as tmp:  # never through a link, never half a file
        fig.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
    return fig


def to_plotly(chart: Chart) -> Any:
    """The chart as a plotly Figure: the same series, short hover text, legend right of the plot."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for s in chart.series:
        mode = ("lines+markers" if s.line else "markers") + ("+text" if s.labels else "")
        fig.add_trace(go.Scatter(
            x=s.x, y=s.y, mode=mode, name=s.name, text=s.labels or None, textposition="top right",
            hovertext=s.hover or None, hoverinfo="text" if s.hover else "x+y",
            marker={"color": s.color, "symbol": PLOTLY_MARKERS.get(s.marker, "circle"), "size": 9},
            line={"color": s.color, "dash": "dash" if s.dash else "solid"},
        ))
    for i, m in enumerate(chart.marks):
        fig.add_trace(go.Scatter(x=[m.x], y=[m.y], mode="markers", showlegend=False, hoverinfo="skip",
                                 marker={"size": 22, "color": "rgba(0,0,0,0)", "line": {"color": m.color, "width": 2}}))
        (dx, dy), _ = note_offset(chart, m, i)
        fig.add_annotation(x=m.x, y=m.y, text=m.text, showarrow=True, arrowcolor=m.color, font={"color": m.color},
                           ax=dx, ay=-dy)  # plotly's ay points down
    fig.update_layout(title=chart.title, xaxis_title=chart.xlabel, yaxis_title=chart.ylabel, template="plotly_white",
                      legend={"x": 1.02, "y": 1.0, "xanchor": "left"}, hoverlabel={"align": "left"})
    return fig


def write_html(chart: Chart, path: Path) -> None:
    """One self-contained page: plotly.js is inlined (clusters are often offline)."""
    to_plotly(chart).write_html(str(path), include_plotlyjs=True, full_html=True)
