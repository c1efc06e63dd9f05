"""Eight processes log to one workspace at once: nothing is lost, nothing leaks a lock error."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

import modelcycle as mc

PROCESSES = 8
SINGLE = 300
BATCHES = 20
PER_BATCH = 50

_LOGGER = textwrap.dedent(
    """
    import sys, time
    import modelcycle as mc
    url, artifacts = sys.argv[1], sys.argv[2]
    worker, start_at = int(sys.argv[3]), float(sys.argv[4])
    settings = mc.Settings(db_url=url, artifact_root=artifacts, tracking_flush_interval_s=0.005,
                           tracking_max_buffer=40, sqlite_busy_timeout_s=30)
    time.sleep(max(0.0, start_at - time.time()))
    ws = mc.Workspace(settings=settings)
    with ws.start_run(experiment="crowd", name=f"worker-{{worker}}") as run:
        run.log_params({{"worker": worker}})
        for i in range({single}):
            run.log_metric("single", i, step=i)
            if i % 50 == 0:
                run.flush()
        for b in range({batches}):
            run.log_metrics({{f"k{{j}}": b * j for j in range({per_batch})}}, step=b)
        run.set_tag("done", "yes")
    ws.close()
    print(run.run_id)
    """
).format(single=SINGLE, batches=BATCHES, per_batch=PER_BATCH)


def _run_crowd(url: str, artifacts: Path) -> list[str]:
    start_at = time.time() + 3.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _LOGGER, url, str(artifacts), str(worker), str(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(PROCESSES)
    ]
    run_ids = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=240)
        assert "locked" not in stderr.lower(), stderr
        assert proc.returncode == 0, stderr
        run_ids.append(stdout.strip())
    return run_ids


def _check(url: str, artifacts: Path, run_ids: list[str]) -> None:
    ws = mc.Workspace(db_url=url, artifact_root=str(artifacts))
    try:
        runs = ws.runs("crowd")
        assert sorted(r.run_id for r in runs) == sorted(run_ids)
        assert all(r.status == "FINISHED" and r.tags == {"done": "yes"} for r in runs)
        expected_rows = SINGLE + BATCHES * PER_BATCH
        with ws.db.read() as connection:
            counts = dict(
                connection.execute(
                    sa.text("SELECT run_id, COUNT(*) FROM metrics GROUP BY run_id")
                ).all()
            )
        assert counts == dict.fromkeys(run_ids, expected_rows)
        for run in runs:
            assert run.metrics["single"] == SINGLE - 1
            assert run.metrics[f"k{PER_BATCH - 1}"] == (BATCHES - 1) * (PER_BATCH - 1)
    finally:
        ws.close()


@pytest.mark.slow
def test_eight_processes_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ws' / 'modelcycle.db'}"
    artifacts = tmp_path / "artifacts"
    _check(url, artifacts, _run_crowd(url, artifacts))


@pytest.mark.slow
@pytest.mark.postgres
def test_eight_processes_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    _check(postgres_url, artifacts, _run_crowd(postgres_url, artifacts))
