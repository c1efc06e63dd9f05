"""Opening workspaces: URLs, unreachable servers, unwritable folders, and migrations."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import modelcycle as mc
from modelcycle.core import ValidationError, WorkspaceError
from modelcycle.store import Database, current_revision, head_revision, tables, upgrade

ASSETS = Path(__file__).parent.parent / "assets"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root@127.0.0.1/test", "scheme 'mysql'"),
        ("oracle+cx://u@h/db", r"scheme 'oracle\+cx'"),
        ("postgresql+asyncpg://u@127.0.0.1/test", "driver 'asyncpg' is not supported"),
        ("not a url", "cannot be parsed"),
        ("sqlite://", "is in memory"),
        ("sqlite:///:memory:", "is in memory"),
    ],
)
def test_bad_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        mc.Workspace(db_url=url)


def test_unreachable_database_is_named_without_password() -> None:
    with pytest.raises(WorkspaceError, match="cannot connect to workspace database") as caught:
        mc.Workspace(db_url="postgresql://user:secret@127.0.0.1:1/nothing")
    assert "secret" not in str(caught.value)
    assert "127.0.0.1:1" in str(caught.value)


def test_unwritable_folder_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(WorkspaceError, match="cannot create workspace database folder") as caught:
        mc.Workspace(blocker / "ws")
    assert str(blocker / "ws") in str(caught.value)


def test_default_workspace_is_dot_modelcycle_in_wal_mode(tmp_path: Path) -> None:
    with mc.Workspace() as ws:
        assert ws.settings.resolved_db_url().endswith(".modelcycle/modelcycle.db")
        with ws.db.read() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 60_000
    assert (tmp_path / ".modelcycle" / "modelcycle.db").exists()
    assert (tmp_path / ".modelcycle" / "artifacts").is_dir()


def test_environment_selects_the_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELCYCLE_HOME", str(tmp_path / "from-env"))
    with mc.Workspace() as ws:
        assert str(tmp_path / "from-env") in ws.settings.resolved_db_url()
    monkeypatch.setenv("MODELCYCLE_DB_URL", f"sqlite:///{tmp_path / 'other.db'}")
    with mc.Workspace() as ws:
        assert ws.settings.resolved_db_url().endswith("other.db")


def test_migrated_schema_matches_the_table_definitions(backend_url: str) -> None:
    db = Database(backend_url)
    try:
        upgrade(db)
        with db.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), tables.metadata)
        assert differences == []
        assert current_revision(db) == head_revision()
    finally:
        db.dispose()


def test_workspace_from_release_0_1_0_upgrades_without_losing_data(tmp_path: Path) -> None:
    home = tmp_path / "old"
    shutil.copytree(ASSETS / "workspace-0.1.0", home)
    with mc.Workspace(home) as ws:
        runs = ws.runs("asset", order_by="name")
        assert [r.name for r in runs] == ["run-a", "run-b"]
        assert runs[0].params == {"lr": "0.1"} and runs[0].metrics == {"auc": 0.9}
        assert len(runs[1].metric_history("loss")) == 10
        assert runs[0].read_artifact("notes.txt") == b"made by modelcycle 0.1.0\n"
        assert current_revision(ws.db) == head_revision()


def test_database_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    with mc.Workspace(tmp_path / "ws") as ws, ws.db.engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(
        WorkspaceError, match="revision '9999', which this modelcycle does not know"
    ):
        mc.Workspace(tmp_path / "ws")


def test_upgrade_false_refuses_an_old_database(tmp_path: Path) -> None:
    Database(f"sqlite:///{tmp_path / 'ws' / 'modelcycle.db'}").dispose()  # empty, revision None
    with pytest.raises(ValidationError, match="run 'modelcycle db upgrade'"):
        mc.Workspace(tmp_path / "ws", upgrade=False)
