"""The report's pictures, checked as a person would look at them: legend entries, the marked
trials, axis labels and title, read from the rendered figure's objects; the HTML works offline."""

from __future__ import annotations

import re
from dataclasses import replace

import matplotlib.pyplot as plt
import pytest

from helpers import trial_record
from sttune.outcome import plots
from sttune.training.result import EpochRecord

LADDER = [trial_record(1, 1.0, 5.0, role="baseline", fraction=0.25), trial_record(2, 2.0, 4.2, role="baseline", fraction=0.5),
          trial_record(0, 4.0, 4.0, role="baseline")]
STRATEGIES = [trial_record(3, 2.5, 4.05, strategy="st_prune"), trial_record(4, 3.0, 3.98, strategy="st_prune"),
              trial_record(5, 1.5, 4.6, strategy="dynst"), trial_record(6, 3.5, 4.1, strategy="dynst+stemdist"),
              trial_record(7, 9.0, 3.0, strategy="dynst", state="PRUNED")]  # stopped early: not a finished point
RECORDS = [replace(r, result=replace(r.result, device="cpu (x86_64, 1 threads)")) for r in LADDER + STRATEGIES]
CHOSEN = {"trial": 4, "speedup": 1.31, "speedup_verified": True, "speedup_interval": [1.2, 1.4]}


@pytest.fixture
def pareto_png(tmp_path):
    chart = plots.pareto_chart(RECORDS, "synthetic", "fastest-within", 0.01, CHOSEN)
    fig = plots.write_png(chart, tmp_path / "pareto.png")
    yield fig, tmp_path / "pareto.png"
    plt.close(fig)


def test_the_pareto_png_has_one_legend_entry_per_strategy_and_the_ladder(pareto_png):
    fig, path = pareto_png
    assert path.stat().st_size > 1000
    (ax,) = fig.axes
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [
        "plain training (baseline ladder)", "dynst (stid)", "dynst+stemdist (stid)", "st_prune (stid)", "Pareto front",
        "within 1.0% of the best val MAE"]
    # outside the data: anchored right of the axes
    assert legend.get_bbox_to_anchor().x0 >= ax.get_window_extent().x1
    # one colour and one marker per trial entry
    handles = legend.legend_handles[:4]
    assert len({h.get_color() for h in handles}) == len({h.get_marker() for h in handles}) == 4


def test_the_pareto_png_labels_the_ladder_by_budget_and_marks_the_baseline_and_the_export(pareto_png):
    fig, _ = pareto_png
    (ax,) = fig.axes
    texts = [t.get_text() for t in ax.texts]
    assert {"25% epochs", "50% epochs", "100% epochs"} <= set(texts)
    assert "full baseline (trial 0)" in texts
    assert "exported: trial 4, 1.31x [1.20, 1.40] (verified)" in texts
    notes = {t.get_text(): t.xy for t in ax.texts}
    # at its verified cost (the full baseline's 4.0 s over 1.31x), not where the search's clock put it
    assert notes["exported: trial 4, 1.31x [1.20, 1.40] (verified)"] == pytest.approx((4.0 / 1.31, 3.98))
    assert notes["full baseline (trial 0)"] == (4.0, 4.0)
    ladder = ax.get_lines()[0]  # the no-strategy frontier: a dashed line through the baselines, cheapest first
    assert ladder.get_linestyle() == "--" and list(ladder.get_xdata()) == [1.0, 2.0, 4.0]
    points = {(x, y) for line in ax.get_lines() for x, y in zip(line.get_xdata(), line.get_ydata())}
    assert (9.0, 3.0) not in points  # the stopped trial is not drawn as a finished one


def test_the_pareto_png_has_axes_with_units_and_a_title_with_dataset_rule_and_tolerance(pareto_png):
    fig, _ = pareto_png
    (ax,) = fig.axes
    assert ax.get_xlabel() == "device seconds on cpu (x86_64, 1 threads)"
    assert ax.get_ylabel() == "val MAE (dataset units)"
    assert ax.get_title() == "synthetic · rule fastest-within, tolerance 1.0%"
    knee = plots.pareto_chart(RECORDS, "synthetic", "knee", 0.01, None)
    assert knee.title == "synthetic · rule knee" and [m.text for m in knee.marks] == ["full baseline (trial 0)"]


def test_an_unverified_export_says_so():
    chart = plots.pareto_chart(RECORDS, "synthetic", "min-mae", 0.0, {"trial": 4, "speedup": 1.3})
    assert chart.marks[-1].text == "exported: trial 4, 1.30x (unverified)"
    assert (chart.marks[-1].x, chart.marks[-1].xerr) == (3.0, None)  # at its own cost: nothing re-timed it


def test_the_plot_explains_the_choice(tmp_path):
    shaky = {"trial": 4, "speedup": 1.1, "speedup_verified": True, "speedup_interval": [0.98, 1.14]}
    outlier = replace(trial_record(8, 40.0, 9.0, strategy="stemdist"), result=replace(RECORDS[3].result, val={"mae": 9.0},
                                                                                      device_seconds=40.0))
    chart = plots.pareto_chart(RECORDS + [outlier], "synthetic", "fastest-within", 0.01, shaky, noise=0.02)
    exported = chart.marks[-1]
    assert exported.text.endswith(", not reliably faster")
    assert exported.xerr == pytest.approx((4.0 / 1.14, 4.0 / 0.98)) and exported.x == pytest.approx(4.0 / 1.1)
    assert chart.band == pytest.approx((3.98, 3.98 * 1.01, "within 1.0% of the best val MAE"))
    front = next(s for s in chart.series if s.name == "Pareto front")
    assert front.x[0] == 1.0 and front.y[-1] == 3.98  # from the cheapest plain rung down to the best trial
    assert chart.xlim[1] < 40.0 and chart.ylim[1] < 9.0  # the frame fits the front, not the outlier...
    assert [c.text for c in chart.clipped] == ["stemdist (stid): 40 s, val MAE 9"]  # ...drawn at its edge
    assert "equally cheap" in chart.note and "2%" in chart.note
    fig = plots.write_png(chart, tmp_path / "p.png")
    (ax,) = fig.axes
    assert ax.get_xlim() == pytest.approx(chart.xlim)
    assert "beyond the frame:\nstemdist (stid): 40 s, val MAE 9" in [t.get_text() for t in ax.texts]
    plt.close(fig)


def test_the_html_inlines_plotly_and_loads_no_script_from_anywhere(tmp_path):
    path = tmp_path / "pareto.html"
    plots.write_html(plots.pareto_chart(RECORDS, "synthetic", "fastest-within", 0.01, CHOSEN), path)
    page = path.read_text()
    assert re.search(r"plotly.js v\d", page)  # the library itself is in the page
    assert re.search(r"<script[^>]*\bsrc=", page) is None  # nothing fetched: works offline
    assert "exported: trial 4, 1.31x [1.20, 1.40] (verified)" in page


def test_hover_text_is_a_few_short_lines():
    record = replace(trial_record(4, 3.0, 3.98, test_mae=4.5), job=replace(
        RECORDS[4].job, strategies=[("st_prune", {"ratio": 0.36019, "schedule": "constant", "warmup": 5, "bins": 0})]))
    text = plots.hover(record, LADDER[2])
    lines = text.split("<br>")
    assert lines == ["trial 4 · st_prune (stid)", "st_prune: ratio=0.36, schedule=constant, warmup=5",
                     "val MAE 3.9800 · test MAE 4.5000", "3.00 device s · speed-up 1.33x"]


def test_the_learning_curves_put_each_strategy_s_best_trial_beside_the_full_baseline(tmp_path):
    def curved(record, points, prepare=0.0):
        rows = [EpochRecord.from_row([e, mae, s, 10, 1.0, 100, 2], prepare) for e, (s, mae) in enumerate(points)]
        return replace(record, result=replace(record.result, curve=rows, charged_prepare_seconds=prepare))

    records = [curved(LADDER[2], [(2.0, 4.5), (4.0, 4.0)]), curved(RECORDS[4], [(1.5, 4.3), (3.0, 3.98)]),
               curved(RECORDS[3], [(1.0, 4.4), (2.0, 4.05)], prepare=0.5), curved(RECORDS[5], [(1.5, 4.6)])]
    chart = plots.curves_chart(records, "synthetic")
    assert [s.name for s in chart.series] == ["full baseline (trial 0)", "dynst (stid) (trial 5)",
                                              "st_prune (stid) (trial 4)"]  # st_prune's best, not trial 3
    with_export = plots.curves_chart(records, "synthetic", exported=3)  # the export is not a strategy's best
    assert with_export.series[-1].name == "exported: st_prune (stid) (trial 3)"
    assert chart.series[0].dash and (chart.series[0].x, chart.series[0].y) == ([2.0, 4.0], [4.5, 4.0])
    fig = plots.write_png(chart, tmp_path / "curves.png")
    (ax,) = fig.axes
    assert ax.get_xlabel().startswith("device seconds on cpu") and ax.get_ylabel() == "val MAE (dataset units)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [s.name for s in chart.series]
    plt.close(fig)
    prepared = plots.curves_chart([records[0], records[2]], "synthetic").series[1]
    assert prepared.x == [1.5, 2.5]  # the charged preparation comes first on the time axis
