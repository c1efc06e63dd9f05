"""Buffered logging reaches the database at interpreter exit, even without ``end()``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import modelcycle as mc

_SCRIPT = textwrap.dedent(
    """
    import sys
    import modelcycle as mc
    settings = mc.Settings(
        home=sys.argv[1], tracking_flush_interval_s=60, tracking_max_buffer=10**6
    )
    ws = mc.Workspace(settings=settings)
    run = ws.start_run(experiment="exit")
    for i in range(5000):
        run.log_metric("loss", 1.0 / (i + 1), step=i)
    run.log_params({"lr": 0.1})
    print(run.run_id)
    # no run.end(), no ws.close(): the exit hook must write and end the run
    """
)


def test_exit_flushes_buffer_and_ends_open_runs(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(home)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    with mc.Workspace(home) as ws:
        run = ws.get_run(run_id)
        assert run.status == "FINISHED"
        assert run.params == {"lr": "0.1"}
        assert len(run.metric_history("loss")) == 5000
        assert run.metrics["loss"] == 1.0 / 5000


def test_flush_writes_now(sqlite_workspace: mc.Workspace) -> None:
    run = sqlite_workspace.start_run()
    run.log_metric("auc", 0.5)
    run.flush()
    with sqlite_workspace.db.read() as connection:
        count = connection.exec_driver_sql("SELECT COUNT(*) FROM metrics").scalar()
    assert count == 1
    run.end()
