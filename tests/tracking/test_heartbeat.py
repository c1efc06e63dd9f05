"""A run whose process is killed ends as KILLED on the next read (issue 11), on every backend."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import modelcycle as mc
from modelcycle.core import Settings, new_id, now_ms
from modelcycle.store import tables
from modelcycle.tracking._store import LEGACY_RUN_TIMEOUT_MS
from tests.models import run_cli

FAST = {"run_heartbeat_interval_s": 0.25, "run_heartbeat_timeout_s": 3.0}

_CHILD = textwrap.dedent(
    """
    import sys, time
    import modelcycle as mc

    ws = mc.Workspace(db_url=sys.argv[1], artifact_root=sys.argv[2])
    run = ws.start_run(experiment="doomed", name="killed by SIGKILL")
    run.log_metric("loss", 1.0)
    run.flush()
    print(run.run_id, flush=True)
    time.sleep(600)
    """
)


@pytest.fixture
def reader(workspace: mc.Workspace) -> Iterator[mc.Workspace]:
    """A second workspace object on the same database, with short heartbeat settings."""
    settings = Settings(
        db_url=workspace.settings.resolved_db_url(),
        artifact_root=workspace.settings.resolved_artifact_root(),
        **FAST,
    )
    with mc.Workspace(settings=settings) as ws:
        yield ws


def _row(ws: mc.Workspace, run_id: str) -> dict[str, Any]:
    query = sa.select(tables.runs).where(tables.runs.c.run_id == run_id)
    with ws.db.read() as connection:
        return dict(connection.execute(query).one()._mapping)


def _wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_a_run_killed_with_sigkill_ends_as_killed(
    workspace: mc.Workspace, reader: mc.Workspace
) -> None:
    environment = {
        **os.environ,
        **{f"MODELCYCLE_{name.upper()}": str(value) for name, value in FAST.items()},
    }
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _CHILD,
            workspace.settings.resolved_db_url(),
            workspace.settings.resolved_artifact_root(),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=environment,
    )
    try:
        assert child.stdout is not None
        run_id = child.stdout.readline().strip()
        assert len(run_id) == 32, "the child did not start its run"
        first = _row(reader, run_id)["heartbeat_at"]
        assert _wait_for(lambda: _row(reader, run_id)["heartbeat_at"] > first, 10), "no beat"
        # Alive longer than the timeout: its heartbeats keep it RUNNING.
        time.sleep(FAST["run_heartbeat_timeout_s"] + 0.5)
        assert reader.get_run(run_id).status == "RUNNING"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    last_beat = _row(reader, run_id)["heartbeat_at"]
    assert _wait_for(lambda: reader.get_run(run_id).status == "KILLED", 15)
    run = reader.get_run(run_id)
    assert run.end_time is not None
    assert round(run.end_time.timestamp() * 1000) == last_beat == _row(reader, run_id)["end_time"]
    assert run.error is not None and "stopped sending heartbeats" in run.error
    assert run.metrics == {"loss": 1.0}
    assert [r.run_id for r in reader.runs(filter="status = 'KILLED'")] == [run_id]
    assert workspace.get_run(run_id).status == "KILLED"  # stored: every reader sees it


def _silent_run(ws: mc.Workspace, *, heartbeat: int | None, start: int | None = None) -> str:
    """A RUNNING run whose process is gone (nothing beats for it), made directly in SQL."""
    run_id = new_id()
    experiment = ws.tracker.store.get_or_create_experiment("silent")
    row = {
        "run_id": run_id,
        "experiment_id": experiment,
        "name": "silent",
        "status": "RUNNING",
        "start_time": start if start is not None else (heartbeat or now_ms()) - 1000,
        "heartbeat_at": heartbeat,
    }
    ws.tracker.store.create_run(row)
    return run_id


_READS: dict[str, Callable[[mc.Workspace, str], str]] = {
    "get_run": lambda ws, run_id: ws.get_run(run_id).status,
    "get_runs": lambda ws, run_id: ws.tracker.get_runs([run_id])[0].status,
    "runs": lambda ws, run_id: next(r.status for r in ws.runs("silent") if r.run_id == run_id),
    "runs as_frame": lambda ws, run_id: str(
        ws.runs("silent", as_frame=True).set_index("run_id")["status"][run_id]
    ),
    # The filter sees the ended status too: a dead run is never listed as RUNNING.
    "runs filter": lambda ws, run_id: (
        "RUNNING"
        if run_id in [run.run_id for run in ws.runs(filter="status = 'RUNNING'")]
        else _row(ws, run_id)["status"]
    ),
}


@pytest.mark.parametrize("read", list(_READS))
def test_every_read_ends_silent_runs(workspace: mc.Workspace, read: str) -> None:
    timeout_ms = round(workspace.settings.run_heartbeat_timeout_s * 1000)
    fresh = _silent_run(workspace, heartbeat=now_ms() - timeout_ms // 2)
    dead_beat = now_ms() - timeout_ms - 5_000
    dead = _silent_run(workspace, heartbeat=dead_beat)
    assert _READS[read](workspace, dead) == "KILLED"
    assert _row(workspace, dead)["end_time"] == dead_beat
    assert _row(workspace, fresh)["status"] == "RUNNING"


def test_the_command_line_shows_killed_runs(
    workspace: mc.Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = _silent_run(workspace, heartbeat=now_ms() - 3_600_000)
    url = workspace.settings.resolved_db_url()
    code, out, err = run_cli(capsys, "-w", url, "runs", "show", dead, "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "KILLED"


def test_runs_from_before_heartbeats_are_ended_only_after_a_day(workspace: mc.Workspace) -> None:
    now = now_ms()
    day = LEGACY_RUN_TIMEOUT_MS
    young = _silent_run(workspace, heartbeat=None, start=now - 3_600_000)
    old_but_logging = _silent_run(workspace, heartbeat=None, start=now - 2 * day)
    old_silent = _silent_run(workspace, heartbeat=None, start=now - 2 * day)
    never_logged = _silent_run(workspace, heartbeat=None, start=now - 2 * day)
    metrics = [
        {"run_id": old_but_logging, "key": "loss", "value": 1.0, "step": 0, "timestamp": now},
        {"run_id": old_silent, "key": "loss", "value": 1.0, "step": 0, "timestamp": now - day - 9},
    ]
    with workspace.db.engine.begin() as connection:
        connection.execute(tables.metrics.insert(), metrics)
    statuses = {run.run_id: run.status for run in workspace.runs("silent")}
    assert statuses == {
        young: "RUNNING",
        old_but_logging: "RUNNING",
        old_silent: "KILLED",
        never_logged: "KILLED",
    }
    assert _row(workspace, old_silent)["end_time"] == now - day - 9  # its last metric
    assert _row(workspace, never_logged)["end_time"] == now - 2 * day  # its start
    assert "without heartbeats" in str(_row(workspace, never_logged)["error"])


def test_a_run_open_in_this_process_is_never_ended(workspace: mc.Workspace) -> None:
    with workspace.start_run(experiment="silent") as run:
        update = tables.runs.update().where(tables.runs.c.run_id == run.run_id)
        with workspace.db.engine.begin() as connection:  # as if the beats had stalled
            connection.execute(update.values(heartbeat_at=now_ms() - 3_600_000))
        assert workspace.get_run(run.run_id).status == "RUNNING"
    assert workspace.get_run(run.run_id).status == "FINISHED"


def test_open_runs_beat_and_the_owner_s_end_has_the_last_word(reader: mc.Workspace) -> None:
    run = reader.start_run(experiment="beating")
    first = _row(reader, run.run_id)["heartbeat_at"]
    assert first is not None
    assert _wait_for(lambda: _row(reader, run.run_id)["heartbeat_at"] > first, 10)
    # Paused longer than the timeout (a laptop asleep): another reader ends it as KILLED...
    reader.tracker.heartbeat.discard(run.run_id)
    update = tables.runs.update().where(tables.runs.c.run_id == run.run_id)
    with reader.db.engine.begin() as connection:
        connection.execute(update.values(heartbeat_at=now_ms() - 3_600_000))
    assert reader.get_run(run.run_id).status == "KILLED"
    # ...and when the process wakes and ends the run, its real outcome is recorded.
    run.end()
    assert reader.get_run(run.run_id).status == "FINISHED"


def test_heartbeats_stop_with_the_tracker(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "ws", **FAST)
    ws = mc.Workspace(settings=settings)
    run = ws.start_run()
    ws.close()
    stopped = _row(ws, run.run_id)["heartbeat_at"]
    time.sleep(3 * FAST["run_heartbeat_interval_s"])
    assert _row(ws, run.run_id)["heartbeat_at"] == stopped
    run.end()


def test_the_silent_run_check_reads_an_index_when_almost_every_run_has_ended(
    tmp_path: Path,
) -> None:
    """Issue 14: the check before every read of runs stays an index lookup on SQLite when
    its statistics say ``status`` is nearly always FINISHED (it scanned 100,000 runs)."""
    from modelcycle.tracking._store import _SILENT

    with mc.Workspace(tmp_path / "ws") as ws:
        experiment = ws.tracker.store.get_or_create_experiment("many")
        rows = [
            {"run_id": new_id(), "experiment_id": experiment, "name": f"r{i}",
             "status": "FINISHED", "start_time": i, "end_time": i + 1}
            for i in range(300)
        ]  # fmt: skip
        with ws.db.engine.begin() as connection:
            connection.execute(sa.insert(tables.runs), rows)
            connection.exec_driver_sql("ANALYZE")
            statement = _SILENT[True].compile(dialect=connection.dialect)
            plan = connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement}", ("RUNNING", 0, "RUNNING", 0)
            ).fetchall()
        steps = [str(row[-1]) for row in plan]
        assert not any(step.startswith("SCAN runs") for step in steps), steps
        assert sum("ix_runs_status_heartbeat" in step for step in steps) == 2, steps
        assert ws.runs("many", limit=2)  # the statement runs
