"""The training record: one writer, one typed reader (issue 13)."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

import modelcycle as mc
from modelcycle.core import Task
from modelcycle.records import TrainingRecord
from modelcycle.reports import PLOTLY_FILE
from tests.models import load_cancer, log_logistic


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[mc.Workspace, list[str]]]:
    ws = mc.Workspace(tmp_path_factory.mktemp("records") / "ws")
    frame = load_breast_cancer(as_frame=True).frame
    runs = [ws.train(frame, target="target", name="cancer", budget=4).run_id for _ in range(2)]
    yield ws, runs
    ws.close()


def test_a_training_run_reads_back_as_typed_values(
    trained: tuple[mc.Workspace, list[str]],
) -> None:
    ws, runs = trained
    record = TrainingRecord(ws.get_run(runs[0]))
    assert record.is_training and (record.target, record.task) == ("target", Task.BINARY)
    assert record.schema is not None and record.schema.target == "target"
    assert record.profile is not None and record.profile["mean radius"].count == 455
    assert record.evaluation is not None and "roc_auc" in record.evaluation.metrics
    assert record.holdout is not None and list(record.holdout.columns) == [
        "y",
        "proba_0",
        "proba_1",
    ]
    assert record.validation.status == "passed" and not record.validation.failed
    assert record.leaderboard and {"trial", "learner", "status"} <= set(record.leaderboard[0])


def test_every_run_links_one_stored_plotly_js(trained: tuple[mc.Workspace, list[str]]) -> None:
    """Issue 12: each report used to carry plotly.js (4.9 MB) again."""
    ws, runs = trained
    digests = set()
    for run_id in runs:
        run = ws.get_run(run_id)
        stored = {a["path"]: a for a in run.artifacts}
        page = run.read_artifact("evaluation/evaluation.html").decode()
        assert f'<script src="{PLOTLY_FILE}">' in page and len(page) < 1_000_000
        digests.add(stored[f"evaluation/{PLOTLY_FILE}"]["sha256"])
    assert len(digests) == 1  # content-addressed: one blob for every run


def test_an_exported_report_is_one_file_that_opens_offline(
    trained: tuple[mc.Workspace, list[str]], tmp_path: Path
) -> None:
    ws, runs = trained
    page = TrainingRecord(ws.get_run(runs[0])).evaluation_page(tmp_path / "r.html").read_text()
    assert "<script src=" not in page.split("<body>")[0] and len(page) > 3_000_000
    assert "holdout evaluation" in html.unescape(page)


def test_a_model_a_user_logged_has_no_training_parts(tmp_path: Path) -> None:
    with mc.Workspace(tmp_path / "ws") as ws:
        run_id = log_logistic(ws, load_cancer(), 1.0)
        record = TrainingRecord(ws.get_run(run_id))
        assert not record.is_training
        assert (record.target, record.task, record.profile, record.evaluation) == (None,) * 4
        assert record.holdout is None and record.leaderboard == []
        assert record.validation.status == "not recorded"
        with pytest.raises(mc.NotFound, match="has no evaluation report"):
            record.evaluation_page(tmp_path / "nothing.html")


def test_trials_record_their_real_start_and_end(trained: tuple[mc.Workspace, list[str]]) -> None:
    """Issue 12: every trial run started and ended at the same instant (duration 0.0 s)."""
    ws, runs = trained
    trials = ws.runs(filter=f"parent_run_id = '{runs[0]}'", as_frame=True)
    assert len(trials) > 0
    durations = (trials["end_time"] - trials["start_time"]).dt.total_seconds()
    seconds = pd.Series(
        [ws.get_run(r).metrics["trial_seconds"] for r in trials["run_id"]], index=trials.index
    )
    assert ((durations - seconds).abs() < 0.05).all()
    assert (durations > 0).any()
