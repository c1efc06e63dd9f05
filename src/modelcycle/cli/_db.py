"""``modelcycle db``: schema migrations of the workspace database."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from modelcycle.cli import _output as out
from modelcycle.cli._context import state
from modelcycle.core import IntegrityError

if TYPE_CHECKING:  # SQLAlchemy and Alembic: only when a command runs
    from modelcycle.core import Settings
    from modelcycle.security._reseal import SealStatus
    from modelcycle.store import Database

db_app = typer.Typer(help="Manage the workspace database schema.", no_args_is_help=True)


def _settings(ctx: typer.Context) -> Settings:
    from modelcycle.workspace import resolve_settings

    return resolve_settings(None, state(ctx).workspace, None, None)


def _database(settings: Settings) -> Database:
    # Opened without the automatic upgrade a Workspace does, so these commands can report it.
    from modelcycle.store import Database

    return Database(settings.resolved_db_url(), busy_timeout_s=settings.sqlite_busy_timeout_s)


@db_app.command("upgrade")
def upgrade_db(ctx: typer.Context) -> None:
    """Apply pending schema migrations, then seal the audit chain (data is kept).

    Safe to run any time. An unkeyed audit chain from before revision 0006 is verified
    and re-sealed with the workspace's audit key; exits 6 if it was left unsealed.
    """
    from modelcycle.security._reseal import open_audit_chain
    from modelcycle.store import upgrade

    settings = _settings(ctx)
    db = _database(settings)
    try:
        before, after = upgrade(db)
        sealed = open_audit_chain(db, settings)
    finally:
        db.dispose()
    if before == after:
        out.console.print(f"workspace database {db.display_url} is up to date (revision {after})")
    else:
        out.console.print(
            f"upgraded workspace database {db.display_url} "
            f"from revision {before or 'empty'} to {after}"
        )
    _report_seal(sealed)


def _report_seal(status: SealStatus) -> None:
    if status.problem is not None:
        raise IntegrityError(f"the audit chain was left unsealed: {status.problem}")
    if status.resealed:
        out.console.print(
            f"audit chain re-sealed with key {status.key_id}: {status.resealed} event(s)"
        )


@db_app.command("status")
def db_status(ctx: typer.Context) -> None:
    """Show the database's schema revision and the newest this modelcycle knows."""
    from modelcycle.store import current_revision, head_revision

    db = _database(_settings(ctx))
    try:
        current = current_revision(db)
    finally:
        db.dispose()
    head = head_revision()
    verdict = "up to date" if current == head else "run 'modelcycle db upgrade'"
    out.console.print(f"{db.display_url}: revision {current or 'empty'}, newest {head} ({verdict})")
