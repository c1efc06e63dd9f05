"""Schema migrations with Alembic, applied on first use and by ``modelcycle db upgrade``.

Several processes may open a new or old workspace at the same moment; the upgrade
runs under a lock (a file lock beside a SQLite database, an advisory lock on
PostgreSQL) so exactly one of them migrates and the others see the result.

Opening a workspace whose schema is current (every ``modelcycle serve``, every command)
imports no Alembic (0.2 s): the database's revision is read from Alembic's version table
with SQLAlchemy, and the newest revision from the migration scripts' ``revision`` and
``down_revision`` assignments, read without running them (a test compares both with
Alembic's answers). Alembic runs when there is something to migrate.
"""

from __future__ import annotations

import ast
import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import column as sql_column
from sqlalchemy import inspect, select, table

from modelcycle.core import WorkspaceError
from modelcycle.store._db import Database
from modelcycle.store._files import ensure_private_file

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection

_MIGRATIONS = Path(__file__).with_name("migrations")
#: Alembic's version table (its default name: ``migrations/env.py`` keeps it).
VERSION_TABLE = "alembic_version"
_PG_LOCK_KEY = 0x6D6F64656C  # "model", any constant shared by every modelcycle process


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest schema revision this version of modelcycle knows."""
    revisions = migration_revisions()
    parents = {parent for down in revisions.values() for parent in down}
    heads = sorted(set(revisions) - parents)
    if len(heads) != 1:  # a branch: let Alembic say what is wrong
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(_config()).get_current_head()
        assert head is not None
        return head
    return heads[0]


@cache
def migration_revisions() -> dict[str, tuple[str, ...]]:
    """``{revision: the revisions it follows}`` of every migration script.

    Read from each script's module-level ``revision`` and ``down_revision`` literals, as
    Alembic reads them, without importing Alembic or the scripts.
    """
    found: dict[str, tuple[str, ...]] = {}
    for path in sorted((_MIGRATIONS / "versions").glob("*.py")):
        values = _literals(path, ("revision", "down_revision"))
        revision, down = values.get("revision"), values.get("down_revision")
        if not isinstance(revision, str):
            continue  # not a migration script (e.g. __init__.py)
        found[revision] = (down,) if isinstance(down, str) else tuple(down or ())
    return found


def _literals(path: Path, names: tuple[str, ...]) -> dict[str, Any]:
    """The values of the module-level assignments of ``names`` in a Python file."""
    values: dict[str, Any] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in names:
            values[target.id] = ast.literal_eval(value)
    return values


def current_revision(db: Database) -> str | None:
    """The revision the database is at, or ``None`` for an empty database."""
    with db.engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        versions = table(VERSION_TABLE, sql_column("version_num"))
        found = list(connection.execute(select(versions.c.version_num)).scalars())
    if len(found) > 1:
        raise WorkspaceError(
            f"workspace database {db.display_url!r} is at several schema revisions at once "
            f"({', '.join(sorted(found))}); it was not migrated by modelcycle"
        )
    return found[0] if found else None


def _known_revisions() -> set[str]:
    return set(migration_revisions())


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
            from alembic import command

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
