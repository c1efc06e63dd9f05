"""``modelcycle db``: schema migrations of the workspace database."""

from __future__ import annotations

import typer

from modelcycle.cli import _output as out
from modelcycle.cli._context import state
from modelcycle.store import Database, current_revision, head_revision, upgrade
from modelcycle.workspace import resolve_settings

db_app = typer.Typer(help="Manage the workspace database schema.", no_args_is_help=True)


def _database(ctx: typer.Context) -> Database:
    # Opened without the automatic upgrade a Workspace does, so these commands can report it.
    settings = resolve_settings(None, state(ctx).workspace, None, None)
    return Database(settings.resolved_db_url(), busy_timeout_s=settings.sqlite_busy_timeout_s)


@db_app.command("upgrade")
def upgrade_db(ctx: typer.Context) -> None:
    """Apply pending schema migrations (safe to run any time; data is kept)."""
    db = _database(ctx)
    try:
        before, after = upgrade(db)
    finally:
        db.dispose()
    if before == after:
        out.console.print(f"workspace database {db.display_url} is up to date (revision {after})")
    else:
        out.console.print(
            f"upgraded workspace database {db.display_url} "
            f"from revision {before or 'empty'} to {after}"
        )


@db_app.command("status")
def db_status(ctx: typer.Context) -> None:
    """Show the database's schema revision and the newest this modelcycle knows."""
    db = _database(ctx)
    try:
        current = current_revision(db)
    finally:
        db.dispose()
    head = head_revision()
    verdict = "up to date" if current == head else "run 'modelcycle db upgrade'"
    out.console.print(f"{db.display_url}: revision {current or 'empty'}, newest {head} ({verdict})")
