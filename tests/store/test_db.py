"""Opening workspaces: URLs, unreachable servers, unwritable folders, and migrations."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import modelcycle as mc
from modelcycle.core import ValidationError, WorkspaceError
from modelcycle.store import Database, current_revision, head_revision, tables, upgrade
from modelcycle.store._migrate import VERSION_TABLE, migration_revisions

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


def test_revisions_read_without_alembic_are_alembics(backend_url: str) -> None:
    """Issue 12: a current workspace opens without importing Alembic; the revisions read
    from the scripts and from the version table are the ones Alembic itself reads."""
    from alembic.script import ScriptDirectory

    from modelcycle.store._migrate import _config

    scripts = ScriptDirectory.from_config(_config())
    assert head_revision() == scripts.get_current_head()
    assert migration_revisions() == {
        s.revision: tuple(s.down_revision or ()) if not isinstance(s.down_revision, str)
        else (s.down_revision,)
        for s in scripts.walk_revisions()
    }  # fmt: skip
    db = Database(backend_url)
    try:
        with db.engine.connect() as connection:
            assert (
                current_revision(db)
                == MigrationContext.configure(connection).get_current_revision()
            )
        upgrade(db)
        with db.engine.connect() as connection:
            alembic_says = MigrationContext.configure(connection).get_current_revision()
        assert current_revision(db) == alembic_says == head_revision()
        with db.engine.begin() as connection:
            connection.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '0003'"))
        assert current_revision(db) == "0003"
    finally:
        db.dispose()


def test_a_current_workspace_opens_without_alembic(tmp_path: Path) -> None:
    mc.Workspace(tmp_path / "ws").close()  # created and migrated here
    code = (
        "import sys, modelcycle as mc\n"
        f"mc.Workspace({str(tmp_path / 'ws')!r}).close()\n"
        "print('sqlalchemy' in sys.modules, 'alembic' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False"], done.stderr
    old = tmp_path / "old"
    shutil.copytree(ASSETS / "workspace-0.1.0", old)
    done = subprocess.run(
        [sys.executable, "-c", code.replace(str(tmp_path / "ws"), str(old))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]  # an old one is migrated by Alembic


def test_upgrade_false_refuses_an_old_database(tmp_path: Path) -> None:
    Database(f"sqlite:///{tmp_path / 'ws' / 'modelcycle.db'}").dispose()  # empty, revision None
    with pytest.raises(ValidationError, match="run 'modelcycle db upgrade'"):
        mc.Workspace(tmp_path / "ws", upgrade=False)


# -- secrets in database URLs (issue 11) ------------------------------------------------

SECRET = "Sup3r"


def _variants(url: str) -> dict[str, str]:
    """Every way to give a password for the test database (trust auth ignores them)."""
    parsed = sa.make_url(url)
    base = f"postgresql://{parsed.username}%s@{parsed.host}:{parsed.port}/{parsed.database}"
    return {
        "user:password@": base % f":{SECRET}x",
        "?password=": (base % "") + f"?password={SECRET}",
        "?sslpassword=": (base % "") + f"?sslpassword={SECRET}&sslmode=prefer",
        "encoded @ and :": base % f":{SECRET}%40x%3Ay%2Fz",
        "?pass%77ord=": (base % "") + f"?pass%77ord={SECRET}",
        "libpq string": (
            f"host={parsed.host} port={parsed.port} dbname={parsed.database} "
            f"user={parsed.username} password='{SECRET} @:x'"
        ),
    }


def _shown(ws: mc.Workspace) -> str:
    return " ".join(
        [
            repr(ws),
            repr(ws.settings),
            str(ws.settings),
            repr(ws.db),
            ws.db.display_url,
            repr(ws.db.engine),
            str(ws.db.url),
            repr(ws.db.url),
        ]
    )


@pytest.mark.postgres
def test_no_credential_form_is_ever_shown(
    postgres_url: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    from tests.models import run_cli

    caplog.set_level("DEBUG")
    for variant, url in _variants(postgres_url).items():
        with mc.Workspace(url) as ws:
            assert ws.db.dialect == "postgresql", variant
            with ws.start_run(experiment="secrets") as run:
                run.log_metric("auc", 0.5)
            assert ws.get_run(run.run_id).status == "FINISHED"
            assert SECRET not in _shown(ws), variant
        for command in (["db", "status"], ["db", "upgrade"], ["runs", "list", "--json"]):
            code, out, err = run_cli(capsys, "-w", url, *command)
            assert code == 0, (variant, err)
            assert SECRET not in out + err, (variant, command)
        assert "postgresql+psycopg://" in run_cli(capsys, "-w", url, "db", "status")[1]
    assert SECRET not in caplog.text
    assert [p.name for p in tmp_path.iterdir() if "host=" in p.name] == []  # never a folder


@pytest.mark.postgres
def test_unreachable_databases_are_named_without_any_secret(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.models import run_cli

    port = str(sa.make_url(postgres_url).port)
    for variant, url in _variants(postgres_url).items():
        unreachable = url.replace(f":{port}/", ":1/").replace(f"port={port}", "port=1")
        with pytest.raises(WorkspaceError, match="cannot connect") as caught:
            mc.Workspace(unreachable)
        assert SECRET not in str(caught.value), variant
        assert "127.0.0.1" in str(caught.value)
        code, out, err = run_cli(capsys, "-w", unreachable, "db", "status")
        assert code == WorkspaceError.exit_code and SECRET not in out + err, variant


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (f"postgresql://me:{SECRET}@x:y@127.0.0.1:1/db", "more than one '@'"),
        (f"postgresql://me:{SECRET}@127.0.0.1:port/db", "cannot be parsed"),
        (f"postgresql://me:{SECRET}@127.0.0.1/db?password=other", "two different passwords"),
        (f"host=127.0.0.1 password={SECRET} junk", "cannot be parsed"),
        (f"host=127.0.0.1 password='{SECRET}", "cannot be parsed"),
        (f"host=127.0.0.1 port=x password={SECRET}", "port 'x' is not a number"),
        (f"mysql://me:{SECRET}@127.0.0.1/db?password={SECRET}", "scheme 'mysql'"),
        (f"postgresql+asyncpg://me:{SECRET}@127.0.0.1/db", "driver 'asyncpg'"),
    ],
)
def test_malformed_urls_are_refused_without_their_secret(url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        mc.Workspace(url)
    text = str(caught.value)
    chained = caught.value.__cause__ or caught.value.__context__
    assert SECRET not in text and (chained is None or SECRET not in str(chained)), text


def test_a_libpq_string_in_the_environment_is_refused_as_a_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MODELCYCLE_HOME", f"host=127.0.0.1 password={SECRET}")
    with pytest.raises(ValidationError, match="give it as db_url") as caught:
        mc.Workspace()
    assert SECRET not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_value_prefix_indexes_exist_and_answer_a_param_filter(backend_url: str) -> None:
    """The (key, value prefix, run_id) indexes are expressions, which the schema
    comparison above skips: check them by name, and that the planner uses one."""
    db = Database(backend_url)
    try:
        upgrade(db)
        sqlite = db.engine.dialect.name == "sqlite"
        names = (
            "SELECT name FROM sqlite_master WHERE type = 'index'"
            if sqlite
            else "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
        )
        plan = (
            "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
        ) + "SELECT run_id FROM params WHERE key = 'lr' AND substr(value, 1, 200) = '0.1'"
        with db.engine.connect() as connection:
            found = {row[0] for row in connection.execute(sa.text(names))}
            if not sqlite:
                connection.execute(sa.text("SET enable_seqscan = off"))
            shown = " ".join(str(row) for row in connection.execute(sa.text(plan)))
        assert {"ix_params_key_value_run", "ix_tags_key_value_run"} <= found
        assert "ix_latest_metrics_key_value_run" in found
        assert "ix_params_key_value_run" in shown
    finally:
        db.dispose()
