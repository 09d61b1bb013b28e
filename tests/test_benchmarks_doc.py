"""docs/benchmarks.md prints what the committed JSON in bench/results/ holds (bench/trace_figures.py)."""

from __future__ import annotations

from pathlib import Path

import trace_figures as tf

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def test_every_figure_of_the_benchmarks_page_traces_to_its_json():
    lines: list[str] = []
    bad = tf.check(show=lines.append, failures_only=True)
    assert bad == 0, "\n".join(lines)
    if "sections skipped" not in lines[-1]:  # a shallow clone lacks the superseded runs' history
        assert int(lines[-1].split(" figures")[0]) > 1000  # the whole page, not a sample


def test_a_figure_the_json_does_not_hold_is_caught(tmp_path):
    text = DOC.read_text()
    wrong = (text.replace("| 1.33x [1.29, 1.39] (25% saved) |", "| 1.35x [1.29, 1.39] (25% saved) |", 1)
             .replace("ok; **1 of 3** (1.78x", "ok; 0 of 3 (1.78x", 1)   # a repeat above its ceiling hidden
             .replace("| 3.5251 ± 0.0067 |", "| 3.5215 ± 0.0067 |", 1))
    assert wrong.count("1.35x [1.29, 1.39]") == 1
    doc = tmp_path / "benchmarks.md"
    doc.write_text(wrong)
    lines: list[str] = []
    assert tf.check(show=lines.append, failures_only=True, doc_path=doc) == 3
    assert any("1.33x [1.29, 1.39]" in line for line in lines)
    assert any("ok; 1 of 3" in line for line in lines)


def test_the_repeat_count_is_each_repeat_against_its_own_ceiling():
    # three repeats at a fixed ceiling of 1.67x (6 of 10 epochs), noise 4.7%: only 1.78x is beyond it
    row = {"repeats": 3, "speedup": {"low": 1.629, "median": 1.633, "high": 1.782}, "ceiling": 10 / 6, "noise": 0.047}
    assert tf.above_from_range(row) == 1
    assert tf.above([1.39, 1.29], [1.38, 1.37], 0.039) == 0  # above its ceiling, inside the noise: not counted
    assert tf.at_ceiling({"speedup": 1 / 0.91835, "work_fraction": 0.91835})
    assert not tf.at_ceiling({"speedup": 1.38, "work_fraction": 0.636})
