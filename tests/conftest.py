"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import ring_data


@pytest.fixture
def shared_data() -> Path:
    """The real datasets in ``../shared/data`` beside the repository (skip when absent)."""
    root = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not root.is_dir():
        pytest.skip("../shared/data absent")
    return root


@pytest.fixture(scope="module")
def data():
    """The ring series (400 steps, 6 nodes) windowed 12 in, 12 out; a module may define its own."""
    return ring_data()


@pytest.fixture
def fake_training(monkeypatch):
    """Nothing trains: ``fake_training(answer)`` puts a stand-in for the search's ``train_job``
    (sttune.tuning.study) that answers each job with ``answer(job, listener)``; it returns the
    list of the jobs handed to it, in order (``answer`` may read it: the current job is last)."""
    from sttune.tuning import study

    def install(answer):
        jobs = []

        def train_job(job, cache_dir, listener=None):
            jobs.append(job)
            return answer(job, listener)

        monkeypatch.setattr(study, "train_job", train_job)
        return jobs

    return install
