"""Workspace files are private whatever the umask (issue 11): folders 0700, files 0600."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

import modelcycle as mc
from modelcycle.store import (
    PREDICTION_SCHEMA,
    LogLayout,
    private_folder,
    private_writer,
    write_private,
    write_segment,
)


@pytest.fixture(params=[0o000, 0o002, 0o022], ids=lambda mask: f"umask-{mask:03o}")
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def _modes(root: Path) -> dict[str, tuple[bool, int]]:
    """``{path: (is a folder, mode)}`` of everything under ``root`` (and ``root`` as ".")."""
    paths = [root, *root.rglob("*")]
    return {
        path.relative_to(root).as_posix(): (path.is_dir(), stat.S_IMODE(path.lstat().st_mode))
        for path in paths
    }


def _use_everything(home: Path, tmp_path: Path) -> None:
    """Do what writes into a workspace: database, artifacts, logs, reports, the admin key."""
    from modelcycle.cli._serve import ensure_admin_key

    with mc.Workspace(home) as ws:
        with ws.start_run(experiment="private") as run:
            run.log_text("secret weights", "model/weights.txt")
            source = tmp_path / "source"
            (source / "deep" / "er").mkdir(parents=True)
            (source / "deep" / "er" / "card.md").write_text("# card")
            run.log_artifact(source)
        table = pa.Table.from_pylist([], schema=PREDICTION_SCHEMA)
        write_segment(LogLayout.under(home).predictions_of("churn"), table)
        write_segment(LogLayout.under(home).feedback_of("churn"), table)
        write_private(LogLayout.under(home).reports_of("churn") / "monitor.html", "<html>")
        assert ensure_admin_key(ws.security, home) == home / "admin.key"
        modes = _modes(home)  # while open: the -wal and -shm files exist
    assert {"modelcycle.db-wal", "modelcycle.db-shm"} <= set(modes)
    _assert_private(modes)
    _assert_private(_modes(home))


def _assert_private(modes: dict[str, tuple[bool, int]]) -> None:
    folders = {name: mode for name, (folder, mode) in modes.items() if folder}
    files = {name: mode for name, (folder, mode) in modes.items() if not folder}
    assert {name for name, mode in folders.items() if mode != 0o700} == set(), folders
    leaky = {name: oct(mode) for name, mode in files.items() if mode & 0o077}
    assert leaky == {}
    assert {"modelcycle.db", "admin.key", "predictions/churn", "reports/churn/monitor.html"} <= set(
        modes
    )
    blobs = [name for name in files if name.startswith("artifacts/")]
    assert len(blobs) == 2 and all(files[name] == 0o400 for name in blobs)


def test_a_used_workspace_is_private(umask: int, tmp_path: Path) -> None:
    _use_everything(tmp_path / "deep" / "ws", tmp_path)
    # Folders made for the workspace (missing parents too) are private; the user's own
    # folders (tmp_path) are left as they were.
    assert stat.S_IMODE((tmp_path / "deep").stat().st_mode) == 0o700


def test_existing_folders_are_not_changed(umask: int, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o755)
    os.chmod(mine, 0o755)
    private_folder(mine / "ws" / "predictions")
    assert stat.S_IMODE(mine.stat().st_mode) == 0o755
    assert stat.S_IMODE((mine / "ws").stat().st_mode) == 0o700
    assert stat.S_IMODE((mine / "ws" / "predictions").stat().st_mode) == 0o700


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = write_private(tmp_path / "reports" / "monitor.json", "old")

    def write_half() -> None:
        with private_writer(target) as handle:
            handle.write(b"half of the new")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_half()
    assert target.read_text() == "old"
    assert [p.name for p in target.parent.iterdir()] == ["monitor.json"]


def test_a_file_in_the_way_of_a_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("")
    with pytest.raises(OSError, match="blocker"):
        private_folder(tmp_path / "blocker" / "ws")
