"""The live view of a search, piped to a file: exactly one line per trial, whatever happened to
it, and a closing summary; and what the status area says (ETA, best so far, Pareto front)."""

from __future__ import annotations

import io
import re
from dataclasses import replace

import optuna
from rich.console import Console

from helpers import train_result, trial_record
from sttune.cli.progress import SearchProgress, final_summary, trial_line
from sttune.training.result import EpochRecord
from sttune.tuning import study as st
from study_kit import plan, recipe

optuna.logging.set_verbosity(optuna.logging.WARNING)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def piped_console() -> tuple[Console, io.StringIO]:
    """What ``sttune search 2> log`` writes to: no terminal, and narrow, so wrapping would show."""
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=False, width=40), buffer


def test_a_piped_search_prints_one_line_per_trial_and_a_summary(tmp_path, monkeypatch, fake_training):
    def answer(job, listener):
        n = len(calls)
        if n in (1, 2):  # the baselines: finish at once
            return train_result(2.0, 10.0 * job.train.epochs)
        listener.on_prepare_start("st_prune")  # what a real trial says first...
        listener.on_epoch(EpochRecord(0, 1.0, 2.5, 1.0, 10))  # ...and after its first epoch
        if n == 4:
            raise RuntimeError("boom\nin the middle of a hook")
        if n == 5:
            return train_result(2.4, 3.0, stop_reason="stopped: dominated at the 1-epoch rung")
        return train_result(1.9 - 0.01 * n, 5.0)

    # trial 5 proposes a job trial 2 already ran: its result is reused, nothing trains
    real_twin = st.finished_twin
    monkeypatch.setattr(st, "finished_twin", lambda study, job, number: study.trials[2] if number == 5
                        else real_twin(study, job, number))
    calls = fake_training(answer)
    console, buffer = piped_console()
    r = replace(recipe(trials=6, ladder=[0.5], reuse_results=True), train=replace(recipe().train, epochs=4))
    with SearchProgress(console, 6) as progress:
        assert progress.live is None  # not a terminal: no status area, nothing redrawn
        study = st.search_study(plan(r, tmp_path), progress)
    final_summary(console, progress, [], tmp_path / "run")

    text = buffer.getvalue()
    lines = text.splitlines()
    assert "\x1b" not in text and "━" not in text and "\r" not in text  # no colour codes, bars or redraws
    trial_lines = [line for line in lines if line.startswith("trial ")]
    numbers = [int(line.split()[1]) for line in trial_lines]
    assert numbers == [t.number for t in study.trials] == list(range(8))  # each trial once, none lost
    by_number = dict(zip(numbers, trial_lines))
    assert by_number[0].endswith(" done") and by_number[1].endswith(" done")
    assert by_number[3].endswith("failed: RuntimeError: boom in the middle of a hook")  # one line, whatever the width
    assert by_number[4].endswith("stopped early after epoch 1")
    assert by_number[5].endswith("reused trial 2's result (same job)")
    assert lines[len(trial_lines):] == [
        "8 trials this run: 5 done, 1 stopped early, 1 reused, 1 failed",
        f"best val MAE {min(t.values[0] for t in study.trials if t.state.name == 'COMPLETE'):.4f} "
        f"(trial {progress.best().number}, st_prune (stid)); Pareto front {progress.front_size()} trials",
        f"next: sttune export {tmp_path / 'run'} · sttune report {tmp_path / 'run'}",
    ]
    assert progress.lines == 8


def test_the_status_area_says_where_the_trial_is_the_best_so_far_the_front_and_the_eta():
    clock = Clock()
    console, buffer = piped_console()
    progress = SearchProgress(console, 4, live=False, now=clock)
    progress.study_started("synthetic", 0, 4)
    progress.trial_started(0, 8)
    progress.trial_preparing(0, "stemdist")
    assert progress.study.running == {0: "preparing stemdist"}
    progress.epoch(EpochRecord(2, 1.0, 3.25, 1.0, 10))
    assert progress.study.running == {0: "epoch 3 of 8 · val MAE 3.2500"}
    assert progress.eta() is None  # nothing finished: no pace yet
    clock.now += 30.0
    progress.trial_finished(trial_record(0, 10.0, 4.0, role="baseline"))
    progress.trial_finished(trial_record(1, 5.0, 3.9))
    assert progress.study.running == {}
    # 2 of 4 trials in 30 s: 30 s to go
    assert progress.status_line() == "synthetic: 2 of 4 trials · best val MAE 3.9000 (trial 1) · Pareto front 1 · ETA 30s"
    progress.trial_finished(replace(trial_record(2, 1.0, 9.0), state="FAIL", result=None, reason="x"))
    assert progress.status_line().startswith("synthetic: 2 of 4 trials")  # a failure is no progress


def test_the_eta_follows_the_budget_when_it_binds_first():
    clock = Clock()
    progress = SearchProgress(piped_console()[0], None, budget=4.0, live=False, now=clock)
    progress.study_started("synthetic", 0, None)
    clock.now += 60.0
    progress.trial_finished(trial_record(0, 10.0, 4.0, role="baseline"))  # 1 of 4 baselines spent in 60 s
    assert progress.fraction_done() == 0.25 and round(progress.eta()) == 180


def test_resumed_trials_count_towards_the_total_but_not_the_pace():
    clock = Clock()
    progress = SearchProgress(piped_console()[0], 10, live=False, now=clock)
    progress.study_started("synthetic", 5, 10)  # an earlier run left 5
    clock.now += 10.0
    progress.trial_finished(trial_record(5, 1.0, 3.0))
    assert progress.fraction_done() == 0.6 and round(progress.eta()) == 40  # 1 trial per 10 s, 4 to go


def test_a_trial_line_is_one_line_for_every_state():
    assert re.fullmatch(r"trial +7 \S.* val MAE 3\.0000 +2\.00 device s  done", trial_line(trial_record(7, 2.0, 3.0)))
    failed = replace(trial_record(8, 2.0, 3.0), state="FAIL", result=None, reason="a\nb")
    assert "\n" not in trial_line(failed) and trial_line(failed).endswith("failed: a b")


def test_a_trial_that_reused_a_cached_build_says_so_with_its_charge():
    fresh = trial_record(3, 5.0, 1.9, strategy="stemdist")
    assert trial_line(fresh).endswith("done")
    hit = replace(fresh, result=replace(fresh.result, artifacts={"stemdist": {"cache_hit": True, "distill_seconds": 29.6}}))
    assert trial_line(hit).endswith("done · stemdist reused a cached build (charged its recorded 29.6 s)")


def test_the_final_line_keeps_the_not_reliably_faster_caveat(tmp_path):
    from types import SimpleNamespace

    from sttune.outcome.verify import Verified

    chosen, base = trial_record(6, 5.0, 1.9), trial_record(0, 6.0, 1.9, role="baseline")
    shaky = Verified(1.10, 0.98, 1.14, 0.8, 1.25, 1.2, 0.05, False)
    sure = Verified(1.30, 1.25, 1.32, 0.7, 1.43, 1.3, 0.02, False)
    close = Verified(1.09, 1.005, 1.18, 0.8, 1.25, 1.2, 0.02, False, close=True)  # reliably faster, just
    for verified, caveat, margin in ((shaky, True, False), (sure, False, False), (close, False, True)):
        console, buffer = piped_console()
        export = SimpleNamespace(dataset="d", recipe_path=tmp_path / "d.yaml", chosen=chosen, baseline=base,
                                 verified=verified, speedup_text=verified.text())
        final_summary(console, None, [export], tmp_path)
        text = " ".join(buffer.getvalue().split())
        assert verified.text() in text
        assert ("not reliably faster" in text) is caveat
        assert ("by a close margin" in text) is margin
    console, buffer = piped_console()  # the full baseline exported: no speed-up to caveat
    itself = Verified(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, False)
    final_summary(console, None, [SimpleNamespace(dataset="d", recipe_path=tmp_path / "d.yaml", chosen=base, baseline=base,
                                                  verified=itself, speedup_text=itself.text())], tmp_path)
    text = " ".join(buffer.getvalue().split())
    assert "the full baseline itself" in text and "not reliably faster" not in text


def test_the_next_line_names_the_command_the_user_ran_and_the_summary_warns_against_naive(tmp_path, monkeypatch):
    import os
    import sys

    from sttune.cli.common import pip_program, program

    venv = tmp_path / ".venv" / "bin"
    venv.mkdir(parents=True)
    for name in ("sttune", "pip"):
        (venv / name).write_text("#!/bin/sh\n")
        (venv / name).chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "elsewhere"))
    assert program(".venv/bin/sttune") == ".venv/bin/sttune" and pip_program(".venv/bin/sttune") == ".venv/bin/pip"
    assert program("/x/site-packages/sttune/__main__.py") == "python -m sttune"
    assert pip_program("/x/site-packages/sttune/__main__.py").endswith(" -m pip")
    assert program("/usr/bin/pytest") == "sttune"  # cannot tell: the name of the tool
    monkeypatch.setenv("PATH", str(venv) + os.pathsep + os.environ["PATH"])
    assert program(str(venv / "sttune")) == "sttune" and pip_program(str(venv / "sttune")) == "pip"  # found on PATH
    assert program(".venv/bin/sttune") == "sttune"  # the same file PATH finds
    monkeypatch.setattr(sys, "argv", [".venv/bin/sttune", "search"])
    assert program() == "sttune"

    console, buffer = piped_console()
    final_summary(console, None, [], tmp_path / "run", ["synthetic: the best trial (0, baseline) val MAE 2.0000 "
                                                         "does not beat the naive forecast zero (1.0000)"],
                  ".venv/bin/sttune")
    text = buffer.getvalue()
    assert "warning: synthetic: the best trial (0, baseline) val MAE 2.0000 does not beat the naive forecast zero" in text
    assert text.strip().splitlines()[-1] == (f"next: .venv/bin/sttune export {tmp_path / 'run'} · "
                                             f".venv/bin/sttune report {tmp_path / 'run'}")
