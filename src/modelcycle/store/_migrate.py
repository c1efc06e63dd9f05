"""Schema migrations with Alembic, applied on first use and by ``modelcycle db upgrade``.

Several processes may open a new or old workspace at the same moment; the upgrade
runs under a lock (a file lock beside a SQLite database, an advisory lock on
PostgreSQL) so exactly one of them migrates and the others see the result.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from modelcycle.core import WorkspaceError
from modelcycle.store._db import Database
from modelcycle.store._files import ensure_private_file

_MIGRATIONS = Path(__file__).with_name("migrations")
_PG_LOCK_KEY = 0x6D6F64656C  # "model", any constant shared by every modelcycle process


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest schema revision this version of modelcycle knows."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(db: Database) -> str | None:
    """The revision the database is at, or ``None`` for an empty database."""
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _known_revisions() -> set[str]:
    return {script.revision for script in ScriptDirectory.from_config(_config()).walk_revisions()}


def upgrade(db: Database) -> tuple[str | None, str]:
    """Bring the database to the newest revision; return ``(before, after)``.

    Raises
    ------
    WorkspaceError
        The database was written by a newer modelcycle than this one.
    """
    with _migration_lock(db):
        before = current_revision(db)
        head = head_revision()
        if before is not None and before not in _known_revisions():
            raise WorkspaceError(
                f"workspace database {db.display_url!r} is at schema revision {before!r}, which "
                f"this modelcycle does not know (newest known: {head!r}); upgrade modelcycle"
            )
        if before != head:
            with db.engine.begin() as connection:
                command.upgrade(_config(connection), "head")
        return before, head


def ensure_current(db: Database) -> None:
    """Upgrade the database if (and only if) it is behind; cheap when it is current."""
    if current_revision(db) != head_revision():
        upgrade(db)


@contextmanager
def _migration_lock(db: Database) -> Iterator[None]:
    if db.dialect == "sqlite":
        assert db.url.database is not None
        lock_path = Path(db.url.database).expanduser().resolve().with_suffix(".migrate.lock")
        ensure_private_file(lock_path)
        with open(lock_path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    with db.engine.connect() as connection:
        connection.exec_driver_sql(f"SELECT pg_advisory_lock({_PG_LOCK_KEY})")
        connection.commit()
        try:
            yield
        finally:
            connection.exec_driver_sql(f"SELECT pg_advisory_unlock({_PG_LOCK_KEY})")
            connection.commit()
