"""Runs recorded as given (by an MLflow client, by an import), on both backends (issue 18)."""

from __future__ import annotations

import pytest

import modelcycle as mc
from modelcycle.core import Conflict, NotFound, ValidationError
from modelcycle.tracking import MetricValue

RUN_ID = "0123456789abcdef" * 2


def test_a_run_is_recorded_as_given(workspace: mc.Workspace) -> None:
    recorder = workspace.tracker.recorder
    run_id = recorder.record_run(
        "imported",
        run_id=RUN_ID,
        name="given",
        status="FINISHED",
        start_time=1_000,
        end_time=2_000,
        user="ann",
        source="train.py",
        git_commit="a" * 40,
        actor="importer",
    )
    assert run_id == RUN_ID
    recorder.log_batch(
        run_id,
        metrics=[MetricValue("loss", 0.5, 1, 1_500), MetricValue("loss", 0.25, 2, 1_600)],
        params={"lr": "0.1"},
        tags={"team": "risk"},
    )
    run = workspace.get_run(run_id)
    assert (run.name, run.status, run.user, run.source) == ("given", "FINISHED", "ann", "train.py")
    assert run.start_time.timestamp() == 1.0 and run.end_time is not None
    assert run.metric_history("loss")[-1][:2] == (2, 0.25) and run.params == {"lr": "0.1"}
    recorder.log_batch(run_id, params={"lr": "0.1"})  # the same value again: accepted
    with pytest.raises(Conflict, match="immutable"):
        recorder.log_batch(run_id, params={"lr": "0.2"})
    with pytest.raises(Conflict, match="already exists"):
        recorder.record_run("imported", run_id=RUN_ID)
    recorder.update_run(run_id, status="KILLED", name="renamed")
    assert workspace.get_run(run_id).status == "KILLED"
    assert workspace.get_run(run_id).name == "renamed"


def test_a_recorded_run_has_no_heartbeat_and_stays_running(workspace: mc.Workspace) -> None:
    run_id = workspace.tracker.recorder.record_run("open")
    assert workspace.get_run(run_id).status == "RUNNING"  # not ended by the read


@pytest.mark.parametrize(
    "batch",
    [
        {"metrics": [MetricValue("m", 1.0)]},
        {"params": {"p": "1"}},
        {"tags": {"t": "1"}},
        {},
    ],
)
def test_an_unknown_run_is_not_found_whatever_is_logged(
    workspace: mc.Workspace, batch: dict[str, object]
) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        workspace.tracker.recorder.log_batch("f" * 32, **batch)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda r: r.record_run("x", run_id="G" * 32), "32 lowercase hexadecimal"),
        (lambda r: r.record_run("x", run_id="0" * 31), "32 lowercase hexadecimal"),
        (lambda r: r.record_run("x", status="DONE"), "not known"),
        (lambda r: r.record_run("x", start_time=-1), "milliseconds"),
        (lambda r: r.record_run("x", start_time=True), "milliseconds"),
        (lambda r: r.record_run("x", git_commit="a" * 65), "at most 64"),
        (lambda r: r.record_run("a/../b"), "experiment name"),
        (lambda r: r.log_batch(RUN_ID, metrics=[MetricValue("m", 1.0)] * 1001), "at most 1000"),
        (lambda r: r.log_batch(RUN_ID, params={str(i): i for i in range(101)}), "at most 100"),
        (lambda r: r.log_batch(RUN_ID, metrics=[MetricValue("m", float("nan"))]), "finite"),
        (lambda r: r.log_batch(RUN_ID, metrics=[MetricValue("m", 1.0, 1.5)]), "integer"),  # type: ignore[arg-type]
    ],
)
def test_values_are_checked_before_anything_is_written(
    sqlite_workspace: mc.Workspace, call: object, expected: str
) -> None:
    recorder = sqlite_workspace.tracker.recorder
    recorder.record_run("x", run_id=RUN_ID)
    with pytest.raises(ValidationError, match=expected):
        call(recorder)  # type: ignore[operator]
    assert sqlite_workspace.get_run(RUN_ID).metrics == {}
