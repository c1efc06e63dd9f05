"""The worker: handlers, retries, deferral, scheduling, and surviving a killed worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import modelcycle as mc
from modelcycle.core import ValidationError
from modelcycle.lifecycle import Defer, JobContext, Policy, Worker
from modelcycle.records import DONE, FAILED, QUEUED
from tests.lifecycle.helpers import register_small_model, source_file
from tests.models import run_cli

_SLEEPER = textwrap.dedent(
    """
    import sys, time
    import modelcycle as mc

    url, artifacts, owner = sys.argv[1], sys.argv[2], sys.argv[3]

    def sleep(context):
        print("started", context.job.attempts, flush=True)
        time.sleep(context.job.payload["first_attempt_s"] if context.job.attempts == 1 else 0)
        return {"slept_on_attempt": context.job.attempts}

    with mc.Workspace(db_url=url, artifact_root=artifacts) as ws:
        ws.worker(owner=owner, lease_s=2.0, poll_s=0.1, handlers={"sleep": sleep}).run(max_jobs=1)
    """
)


def _sleep(context: JobContext) -> dict[str, Any]:
    seconds = context.job.payload["first_attempt_s"] if context.job.attempts == 1 else 0
    time.sleep(seconds)
    return {"slept_on_attempt": context.job.attempts}


def _run_until(worker: Worker, jobs: int, timeout_s: float = 120.0) -> int:
    """Run ``jobs`` jobs, giving up (failing the test) after ``timeout_s``."""
    stop = threading.Event()
    timer = threading.Timer(timeout_s, stop.set)
    timer.start()
    try:
        ran = worker.run(stop=stop, max_jobs=jobs)
    finally:
        timer.cancel()
    assert ran == jobs, f"the worker ran {ran} of {jobs} job(s) before the time-out"
    return ran


def test_a_killed_worker_s_job_is_finished_by_another(
    workspace: mc.Workspace, tmp_path: Path
) -> None:
    url = workspace.db.url.render_as_string(hide_password=False)
    job = workspace.jobs.enqueue("sleep", payload={"first_attempt_s": 600})
    assert job is not None
    process = subprocess.Popen(
        [sys.executable, "-c", _SLEEPER, url, str(tmp_path / "artifacts"), "doomed"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the handler has started: the job is claimed
        assert line.strip() == "started 1", process.stderr.read() if process.stderr else ""
        running = workspace.jobs.get(job.job_id)
        assert (running.state, running.lease_owner, running.attempts) == ("running", "doomed", 1)
    finally:
        process.kill()  # SIGKILL: no cleanup, no release
        process.wait(timeout=30)
    survivor = workspace.worker(
        owner="survivor", lease_s=2.0, poll_s=0.1, handlers={"sleep": _sleep}
    )
    _run_until(survivor, 1)
    finished = workspace.jobs.get(job.job_id)
    assert (finished.state, finished.attempts, finished.lease_owner) == (DONE, 2, "survivor")
    assert finished.result == {"slept_on_attempt": 2}


def test_the_heartbeat_keeps_a_long_job_s_lease(workspace: mc.Workspace) -> None:
    seen: list[Any] = []

    def long(context: JobContext) -> str:
        for _ in range(3):  # three times the lease, renewed meanwhile
            time.sleep(1.2)
            seen.append(workspace.jobs.claim("intruder", lease_s=1.0))
        return "finished"

    job = workspace.jobs.enqueue("long")
    assert job is not None
    worker = workspace.worker(owner="w", lease_s=1.2, handlers={"long": long})
    assert worker.run_once() is not None
    assert seen == [None, None, None]
    assert workspace.jobs.get(job.job_id).result == "finished"


def test_errors_retry_then_fail_and_defer_does_not_count(workspace: mc.Workspace) -> None:
    calls: list[int] = []

    def flaky(context: JobContext) -> None:
        calls.append(context.job.attempts)
        raise ValidationError("the source table is empty")

    def waiting(context: JobContext) -> dict[str, int]:
        seen = context.job.payload.get("seen", 0)
        if seen < 2:
            raise Defer(0.0, f"looked {seen + 1} time(s)", {"seen": seen + 1})
        return {"seen": seen}

    events: list[tuple[str, str]] = []
    queue = workspace.jobs
    queue.backoff_s = 0.0
    worker = Worker(
        workspace.services,
        handlers={"flaky": flaky, "waiting": waiting},
        on_event=lambda event, job, detail: events.append((event, job.kind)),
    )
    flaky_job = queue.enqueue("flaky", max_attempts=2)
    waiting_job = queue.enqueue("waiting", max_attempts=1)
    unknown = queue.enqueue("mystery", max_attempts=1)
    assert flaky_job and waiting_job and unknown
    assert worker.run(until_idle=True) == 6
    failed = queue.get(flaky_job.job_id)
    assert calls == [1, 2]
    assert (failed.state, failed.error) == (FAILED, "ValidationError: the source table is empty")
    done = queue.get(waiting_job.job_id)
    assert (done.state, done.attempts, done.result) == (DONE, 1, {"seen": 2})
    refused = queue.get(unknown.job_id)
    assert refused.state == FAILED and "no handler for job kind 'mystery'" in str(refused.error)
    assert ("retry", "flaky") in events and ("failed", "flaky") in events
    assert events.count(("deferred", "waiting")) == 2


def test_policies_schedule_spaced_monitor_jobs(workspace: mc.Workspace) -> None:
    register_small_model(workspace, "churn")
    workspace.policies.set(Policy.from_mapping({"model": "churn", "monitoring": {"every": "1h"}}))
    ran: list[str] = []
    worker = workspace.worker(handlers={"monitor": lambda c: ran.append(c.model) or {}})
    first = worker.schedule(force=True)
    assert [(j.kind, j.model, j.payload) for j in first] == [
        ("monitor", "churn", {"trigger": "schedule"})
    ]
    assert worker.schedule(force=True) == []  # one is already queued
    assert worker.run(until_idle=True) == 1 and ran == ["churn"]
    queued = worker.schedule(force=True)
    assert len(queued) == 1 and queued[0].state == QUEUED
    gap = queued[0].run_after - first[0].run_after
    assert gap.total_seconds() == pytest.approx(3600, abs=1)
    assert worker.run(until_idle=True) == 0  # not due for an hour


def test_worker_and_jobs_cli(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    home = str(tmp_path / "ws")
    with mc.Workspace(home) as ws:
        register_small_model(ws, "churn")
    source = source_file(tmp_path, "churn.csv")
    code, out, err = run_cli(capsys, "-w", home, "worker", "--until-idle")
    assert code == 0, err
    assert "stopped after 0 job(s)" in out
    code, _, err = run_cli(capsys, "-w", home, "retrain", "churn")
    assert code == 2 and "model 'churn' has no retraining policy" in err
    policy = tmp_path / "churn.toml"
    policy.write_text('model = "churn"\n[retraining]\nsource = "churn.csv"\ntarget = "y"\n')
    assert run_cli(capsys, "-w", home, "policy", "set", str(policy))[0] == 0
    source.unlink()  # gone by the time the job runs
    code, out, _ = run_cli(capsys, "-w", home, "retrain", "churn")
    assert code == 0 and "retrain of churn queued as job" in out
    code, _, err = run_cli(capsys, "-w", home, "retrain", "churn")
    assert code == 2 and "is already queued or running" in err
    code, out, _ = run_cli(capsys, "-w", home, "jobs", "--state", "queued")
    assert code == 0 and "retrain" in out and "churn" in out
    code, out, _ = run_cli(capsys, "-w", home, "worker", "--once")
    assert code == 0 and "stopped after 1 job(s)" in out
    assert "retry" in out and "churn.csv" in out  # the file does not exist: retried later
    code, out, _ = run_cli(capsys, "-w", home, "jobs", "--json")
    assert code == 0 and '"attempts": 1' in out and '"state": "queued"' in out


def test_sigterm_stops_the_worker_command_cleanly(tmp_path: Path) -> None:
    mc.Workspace(tmp_path / "ws").close()
    command = [sys.executable, "-m", "modelcycle", "-w", str(tmp_path / "ws"), "worker"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    process = subprocess.Popen(
        [*command, "--poll", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        assert "running check, monitor, retrain" in process.stdout.readline()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "stopped after 0 job(s)" in out
    assert "stopping after the current job" in err


def test_retrain_wait_runs_the_job_here(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    home = str(tmp_path / "ws")
    with mc.Workspace(home) as ws:
        register_small_model(ws, "churn")
    policy = tmp_path / "churn.toml"
    policy.write_text('model = "churn"\n[retraining]\nsource = "missing.csv"\ntarget = "y"\n')
    source = source_file(tmp_path, "missing.csv")
    assert run_cli(capsys, "-w", home, "policy", "set", str(policy))[0] == 0
    source.unlink()  # gone by the time the job runs
    code, out, err = run_cli(capsys, "-w", home, "retrain", "churn", "--wait")
    assert code == 2
    assert "started" in out and "retry" in out
    assert "failed this attempt (ValidationError:" in err and "missing.csv" in err
    assert "a worker will retry it" in err
    with mc.Workspace(home) as ws:
        (job,) = ws.jobs.list(model="churn")
        assert (job.state, job.attempts, job.payload) == (QUEUED, 1, {"trigger": "manual"})
