"""Write the workspace asset of the current release (run once per release).

    python tests/assets/make_workspace_asset.py 0.1.0

The folder it writes is committed and never changed again: later releases must
open and upgrade it without losing data (tests/store/test_db.py).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import modelcycle as mc


def main(version: str) -> None:
    target = Path(__file__).parent / f"workspace-{version}"
    if target.exists():
        raise SystemExit(f"{target} exists; assets of past releases are never rewritten")
    with mc.Workspace(target) as ws:
        with ws.start_run(experiment="asset", name="run-a") as run:
            run.log_params({"lr": 0.1})
            run.log_metric("auc", 0.9)
            with tempfile.TemporaryDirectory() as folder:
                note = Path(folder) / "notes.txt"
                note.write_text(f"made by modelcycle {version}\n")
                run.log_artifact(note)
        with ws.start_run(experiment="asset", name="run-b") as run:
            for step in range(10):
                run.log_metric("loss", 1 / (step + 1), step=step)
    for leftover in target.glob("*.lock"):
        leftover.unlink()
    # Checkpoint the WAL into the main file so the asset is one database file.
    with mc.Workspace(target) as ws, ws.db.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    for extra in ("modelcycle.db-wal", "modelcycle.db-shm", "modelcycle.migrate.lock"):
        (target / extra).unlink(missing_ok=True)
    shutil.rmtree(target / "__pycache__", ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1])
