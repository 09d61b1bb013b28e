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
from sttune.outcome.select import pareto_front
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
    """A point called out with a ring and a note (the full baseline, the exported trial);
    ``xerr``: an interval on the cost axis (the exported trial's verified speed-up's)."""

    x: float
    y: float
    text: str
    color: str
    xerr: tuple[float, float] | None = None


@dataclass
class Chart:
    title: str
    xlabel: str
    ylabel: str
    series: list[Series]
    marks: list[Mark] = field(default_factory=list)
    band: tuple[float, float, str] | None = None  # a val MAE range shaded across the plot, and its name
    xlim: tuple[float, float] | None = None  # the frame: points beyond it are drawn at its edge...
    ylim: tuple[float, float] | None = None
    clipped: list[Mark] = field(default_factory=list)  # ...as these, with their values
    note: str = ""  # a line in the plot's corner (what decides "equally cheap")


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
                 chosen: dict[str, Any] | None, noise: float | None = None) -> Chart:
    """Every completed trial on the cost selection compares (the priced work where the study is
    priced, sttune.outcome.pricing), one colour and marker per strategy (and combination); the
    baseline ladder as the no-strategy line labelled by fraction of train.epochs; the Pareto
    front as a step line; the tolerance band of fastest-within; the full baseline and the
    exported trial (``chosen``: its trial summary, docs/json.md) called out, the latter at its
    verified cost with its interval. The frame fits the front, the ladder and the two marked
    trials; a trial beyond it is drawn at its edge with its values."""
    done = [r for r in records if r.state == "COMPLETE" and math.isfinite(r.val_mae)]
    base = rec.full_baseline(done)
    ladder = sorted((r for r in done if r.role == "baseline"), key=lambda r: r.compared_seconds)
    series = []
    if ladder:
        series.append(Series(LADDER, [r.compared_seconds for r in ladder], [r.val_mae for r in ladder], BASELINE_COLOR,
                             "o", line=True, dash=True, hover=[hover(r, base) for r in ladder],
                             labels=[f"{r.fraction:.0%} epochs" for r in ladder]))
    names = sorted({group(r) for r in done if r.role != "baseline"})
    for i, name in enumerate(names):
        members = [r for r in done if r.role != "baseline" and group(r) == name]
        series.append(Series(name, [r.compared_seconds for r in members], [r.val_mae for r in members],
                             COLORS[i % len(COLORS)], MARKERS[i % len(MARKERS)], hover=[hover(r, base) for r in members]))
    front = pareto_front([r for r in done if r.feasible])
    if len(front) > 1:
        xs, ys = _steps(front)
        series.append(Series(FRONT, xs, ys, FRONT_COLOR, "", line=True))
    marks = []
    if base is not None:
        marks.append(Mark(base.compared_seconds, base.val_mae, f"full baseline (trial {base.number})", BASELINE_COLOR))
    picked = next((r for r in done if chosen and r.number == chosen.get("trial")), None)
    if picked is not None and chosen is not None:
        marks.append(_exported_mark(picked, base, chosen))
    title = f"{dataset} · rule {rule}" + (f", tolerance {tolerance:.1%}" if rule == "fastest-within" else "")
    priced = bool(done) and all(r.priced_seconds is not None for r in done)
    xlabel = (f"cost on {device_of(done)}: work priced at the study's unit cost (s)" if priced
              else f"device seconds on {device_of(done)}")
    band = None
    if rule == "fastest-within" and done:
        best = min(r.val_mae for r in done if r.feasible) if any(r.feasible for r in done) else min(r.val_mae for r in done)
        band = (best, best * (1 + tolerance), f"within {tolerance:.1%} of the best val MAE")
    chart = Chart(title, xlabel, MAE_AXIS, series, marks, band)
    if noise is not None:
        chart.note = f"costs within {noise:.0%} of each other count as equally cheap (the cost noise)"
    _frame(chart, [*front, *ladder], marks)
    return chart


FRONT = "Pareto front"
FRONT_COLOR = "#999999"
FRAME_MARGIN = 0.12  # of the framed range, around it


def _steps(front: list[rec.TrialRecord]) -> tuple[list[float], list[float]]:
    """The front as a staircase: each trial's MAE holds until the next, cheaper-first."""
    xs, ys = [front[0].compared_seconds], [front[0].val_mae]
    for r in front[1:]:
        xs += [r.compared_seconds, r.compared_seconds]
        ys += [ys[-1], r.val_mae]
    return xs, ys


def _exported_mark(picked: rec.TrialRecord, base: rec.TrialRecord | None, chosen: dict[str, Any]) -> Mark:
    """The exported trial at its verified cost (the full baseline's over the verified speed-up),
    its interval as a bar; unverified, at its own cost; "not reliably faster" said."""
    s, interval = chosen.get("speedup"), chosen.get("speedup_interval")
    text = f"exported: trial {picked.number}, {speedup_text(chosen)}"
    if chosen.get("speedup_verified") and interval and isinstance(s, (int, float)) and s > 0 and base is not None:
        cost = base.compared_seconds
        if not interval[0] > 1.0:
            text += ", not reliably faster"
        elif (chosen.get("verification") or {}).get("close"):
            text += ", by a close margin"
        return Mark(cost / s, picked.val_mae, text, "#d62728", (cost / interval[1], cost / max(interval[0], 1e-9)))
    return Mark(picked.compared_seconds, picked.val_mae, text, "#d62728")


def _frame(chart: Chart, framing: list[rec.TrialRecord], marks: list[Mark]) -> None:
    """Axes that fit the front, the ladder and the marks; points outside are moved to the edge
    and listed in ``chart.clipped`` with their values."""
    xs = [r.compared_seconds for r in framing] + [m.x for m in marks] + [x for m in marks if m.xerr for x in m.xerr]
    ys = [r.val_mae for r in framing] + [m.y for m in marks]
    if chart.band:
        ys += list(chart.band[:2])
    if not xs or not ys:
        return
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    dx, dy = (x1 - x0) or abs(x1) or 1.0, (y1 - y0) or abs(y1) or 1.0
    chart.xlim = (max(0.0, x0 - FRAME_MARGIN * dx), x1 + FRAME_MARGIN * dx)
    chart.ylim = (y0 - FRAME_MARGIN * dy, y1 + FRAME_MARGIN * dy)
    for s in chart.series:
        keep = [i for i, (x, y) in enumerate(zip(s.x, s.y)) if x <= chart.xlim[1] and y <= chart.ylim[1]]
        for i in sorted(set(range(len(s.x))) - set(keep)):
            text = f"{s.name}: {s.x[i]:.3g} s, val MAE {s.y[i]:.4g}"
            chart.clipped.append(Mark(min(s.x[i], chart.xlim[1]), min(s.y[i], chart.ylim[1]), text, s.color))
        s.x, s.y = [s.x[i] for i in keep], [s.y[i] for i in keep]
        s.hover = [s.hover[i] for i in keep] if s.hover else []
        s.labels = [s.labels[i] for i in keep] if s.labels else []


def curves_chart(records: list[rec.TrialRecord], dataset: str, exported: int | None = None) -> Chart:
    """Per strategy, its best trial's val MAE against device seconds (its charged preparation
    first), next to the full baseline's, and the exported trial's (``exported``: its number)
    when it is not one of them: where the saving comes from."""
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
    shown = {r.number for r in best.values()} | ({base.number} if base else set())
    chosen = next((r for r in done if r.number == exported), None)
    if chosen is not None and chosen.number not in shown:
        series.append(_curve(chosen, f"exported: {chosen.label} (trial {chosen.number})", "#d62728", "*"))
    return Chart(f"{dataset} · learning curves: each strategy's best trial, the exported one and the full baseline",
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
    if chart.band:
        ax.axhspan(chart.band[0], chart.band[1], color="#2ca02c", alpha=0.12, label=chart.band[2])
    for i, m in enumerate(chart.marks):
        if m.xerr:
            ax.errorbar([m.x], [m.y], xerr=[[m.x - m.xerr[0]], [m.xerr[1] - m.x]], color=m.color, capsize=4,
                        linestyle="none")
        ax.plot([m.x], [m.y], marker="o", markersize=16, markerfacecolor="none", markeredgecolor=m.color,
                markeredgewidth=2, linestyle="none")
        (dx, dy), align = note_offset(chart, m, i)
        ax.annotate(m.text, (m.x, m.y), textcoords="offset points", xytext=(dx, dy), ha=align,
                    fontsize=8, color=m.color, arrowprops={"arrowstyle": "-", "color": m.color})
    for c in chart.clipped:  # beyond the frame: an arrow head at its edge; the values listed in a corner
        ax.plot([c.x], [c.y], marker=">" if c.x >= (chart.xlim or (0, c.x))[1] else "^", color=c.color,
                linestyle="none", markersize=7, clip_on=False)
    if chart.clipped:
        ax.text(0.99, 0.98, "beyond the frame:\n" + "\n".join(c.text for c in chart.clipped), transform=ax.transAxes,
                ha="right", va="top", fontsize=7, color="#555555")
    if chart.xlim:
        ax.set_xlim(*chart.xlim)
    if chart.ylim:
        ax.set_ylim(*chart.ylim)
    if chart.note:
        ax.text(0.99, 0.01, chart.note, transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="#555555")
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
    if chart.band:
        fig.add_hrect(y0=chart.band[0], y1=chart.band[1], fillcolor="#2ca02c", opacity=0.12, line_width=0,
                      annotation_text=chart.band[2], annotation_position="top left")
    if chart.clipped:
        fig.add_annotation(xref="paper", yref="paper", x=0.99, y=0.98, showarrow=False, align="right",
                           text="beyond the frame:<br>" + "<br>".join(c.text for c in chart.clipped),
                           font={"size": 9, "color": "#555555"}, xanchor="right", yanchor="top")
    for i, m in enumerate(chart.marks):
        error = None if not m.xerr else {"type": "data", "symmetric": False, "array": [m.xerr[1] - m.x],
                                         "arrayminus": [m.x - m.xerr[0]], "color": m.color}
        fig.add_trace(go.Scatter(x=[m.x], y=[m.y], mode="markers", showlegend=False, hoverinfo="skip", error_x=error,
                                 marker={"size": 22, "color": "rgba(0,0,0,0)", "line": {"color": m.color, "width": 2}}))
        (dx, dy), _ = note_offset(chart, m, i)
        fig.add_annotation(x=m.x, y=m.y, text=m.text, showarrow=True, arrowcolor=m.color, font={"color": m.color},
                           ax=dx, ay=-dy)  # plotly's ay points down
    fig.update_layout(title=chart.title + (f"<br><sup>{chart.note}</sup>" if chart.note else ""),
                      xaxis_title=chart.xlabel, yaxis_title=chart.ylabel, template="plotly_white",
                      legend={"x": 1.02, "y": 1.0, "xanchor": "left"}, hoverlabel={"align": "left"})
    if chart.xlim:
        fig.update_xaxes(range=list(chart.xlim))
    if chart.ylim:
        fig.update_yaxes(range=list(chart.ylim))
    return fig


def write_html(chart: Chart, path: Path) -> None:
    """One self-contained page: plotly.js is inlined (clusters are often offline)."""
    to_plotly(chart).write_html(str(path), include_plotlyjs=True, full_html=True)
