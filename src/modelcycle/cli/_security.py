"""``modelcycle users``, ``keys`` and ``audit``: who may do what, and what happened."""

from __future__ import annotations

import getpass
import re
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from modelcycle.cli import _output as out
from modelcycle.cli._context import state
from modelcycle.core import IntegrityError, NotFound, ValidationError
from modelcycle.security import ROLES, KeyInfo, parse_duration

if TYPE_CHECKING:  # the audit chain and the users load SQLAlchemy: only when a command runs
    from modelcycle.security import AuditEvent, Security, User

users_app = typer.Typer(help="Users and their roles.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
RoleArgument = Annotated[str, typer.Argument(help=f"One of: {', '.join(ROLES)}.")]
ModelOption = Annotated[
    str | None,
    typer.Option("--model", help="Limit to one registered model (default: workspace-wide)."),
]


def _security(ctx: typer.Context, *, create: bool = False) -> Security:
    return state(ctx).open(create=create).security


# -- users ---------------------------------------------------------------------------


@users_app.command("create")
def create_user(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="User name.")]
) -> None:
    """Create a user (grant roles with 'modelcycle users grant')."""
    user = _security(ctx, create=True).create_user(name)
    out.console.print(f"created user [bold]{user.name}[/]")


@users_app.command("list")
def list_users(ctx: typer.Context, json: JsonOption = False) -> None:
    """List users and their roles."""
    users = _security(ctx).users()
    if json:
        out.print_json([u.to_dict() for u in users])
        return
    out.console.print(
        out.table(
            f"{len(users)} user(s)",
            ["name", "roles", "state", "created"],
            [_user_row(u) for u in users],
        )
    )


def _user_row(user: User) -> list[str]:
    roles = ", ".join(str(g) for g in user.grants) or "-"
    return [user.name, roles, "disabled" if user.disabled else "active", out.when(user.created_at)]


@users_app.command("disable")
def disable_user(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="User name.")]
) -> None:
    """Disable a user: their API keys are refused (by servers within their auth cache TTL)."""
    user = _security(ctx).set_disabled(name, True)
    out.console.print(
        f"disabled user [bold]{user.name}[/]; their keys are refused from now on (a running "
        "server may accept them until its --auth-cache-ttl passes)"
    )


@users_app.command("enable")
def enable_user(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="User name.")]
) -> None:
    """Enable a disabled user again: their keys that are not revoked or expired work again."""
    user = _security(ctx).set_disabled(name, False)
    out.console.print(f"enabled user [bold]{user.name}[/]")


@users_app.command("passwd")
def passwd(ctx: typer.Context, name: Annotated[str, typer.Argument(help="User name.")]) -> None:
    """Set a user's dashboard password (asked twice at a terminal; else one line of stdin).

    Never taken from the command line, where other users of the machine and the shell
    history would see it. The user's open dashboard sessions end.
    """
    security = _security(ctx)
    security.user(name)  # an unknown user is refused before the password is asked
    security.sessions.set_password(name, _read_password(name))
    out.console.print(f"set the password of [bold]{name}[/]; their open sessions ended")


def _read_password(name: str) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"new password for {name}: ")
    if getpass.getpass("again: ") != first:
        raise ValidationError("the two passwords differ; nothing was changed")
    return first


@users_app.command("logout")
def logout(ctx: typer.Context, name: Annotated[str, typer.Argument(help="User name.")]) -> None:
    """End every open dashboard session of a user (e.g. after a lost laptop)."""
    ended = _security(ctx).sessions.end_sessions(name)
    out.console.print(f"ended {ended} open session(s) of [bold]{name}[/]")


@users_app.command("grant")
def grant(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="User name.")],
    role: RoleArgument,
    model: ModelOption = None,
) -> None:
    """Give a user a role, workspace-wide or for one model."""
    user = _security(ctx).grant(name, role, model=model)
    out.console.print(f"{user.name} now holds: {', '.join(str(g) for g in user.grants)}")


@users_app.command("revoke")
def revoke(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="User name.")],
    role: RoleArgument,
    model: ModelOption = None,
) -> None:
    """Take a role away from a user (keys that relied on it stop working)."""
    user = _security(ctx).revoke_grant(name, role, model=model)
    held = ", ".join(str(g) for g in user.grants) or "no role"
    out.console.print(f"{user.name} now holds: {held}")


# -- keys ----------------------------------------------------------------------------


@keys_app.command("create")
def create_key(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", help="The user the key acts as.")],
    role: Annotated[str, typer.Option("--role", help=f"One of: {', '.join(ROLES)}.")],
    model: ModelOption = None,
    expires: Annotated[
        str | None, typer.Option("--expires", help="Lifetime, e.g. 90d, 12h (default: never).")
    ] = None,
) -> None:
    """Create an API key and print it once; only its hash is stored."""
    lifetime = parse_duration(expires) if expires is not None else None
    security = _security(ctx, create=True)
    try:
        key_text, info = security.create_key(user, role, model, expires=lifetime)
    except NotFound as missing:
        scope = f" --model {model}" if model else ""
        grant = f"modelcycle users grant {user} {role}{scope}"
        raise NotFound(
            f"{missing.message}; then grant it a role and make the key: '{grant}', "
            f"'modelcycle keys create --user {user} --role {role}{scope}'",
            details=missing.details,
        ) from None
    # The key goes to stdout alone on its line so scripts can capture it.
    typer.echo(key_text)
    scope = f" for model {info.model!r}" if info.model else " workspace-wide"
    until = f", expires {out.when(info.expires_at)}" if info.expires_at else ""
    out.err_console.print(
        f"key {info.prefix} for {info.user} ({info.role}{scope}{until}); "
        "it is shown only now: store it safely"
    )


@keys_app.command("list")
def list_keys(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", help="Only this user's keys.")] = None,
    json: JsonOption = False,
) -> None:
    """List keys by prefix (the key itself is never shown again)."""
    keys = _security(ctx).list_keys(user)
    if json:
        out.print_json([k.to_dict() for k in keys])
        return
    columns = ["prefix", "user", "role", "model", "state", "created", "expires", "last used"]
    rows = [_key_row(k, datetime.now(UTC)) for k in keys]
    out.console.print(out.table(f"{len(keys)} key(s)", columns, rows))


def _key_row(key: KeyInfo, now: datetime) -> list[str]:
    return [
        key.prefix,
        key.user,
        key.role,
        key.model or "*",
        key.state(now),
        out.when(key.created_at),
        out.when(key.expires_at),
        out.when(key.last_used_at),
    ]


@keys_app.command("revoke")
def revoke_key(
    ctx: typer.Context, prefix: Annotated[str, typer.Argument(help="The key's prefix.")]
) -> None:
    """Revoke a key; it is refused from now on."""
    info = _security(ctx).revoke_key(prefix)
    out.console.print(f"revoked key {info.prefix} of {info.user}")


# -- audit ---------------------------------------------------------------------------

_RELATIVE = re.compile(r"^\d+[smhdw]$")


def parse_since(text: str) -> datetime:
    """``7d`` / ``12h`` (ago) or an ISO 8601 date or time (UTC unless it says otherwise)."""
    if _RELATIVE.match(text.strip().lower()):
        return datetime.now(UTC) - parse_duration(text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            f"--since {text!r} is not valid; expected a duration ago like '7d' or '12h', or a "
            "date like '2026-12-01' or '2026-12-01T09:30'"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@audit_app.command("list")
def audit_list(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option("--since", help="7d, 12h or an ISO date/time.")
    ] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="Who made the change.")] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="e.g. churn, churn/3, user:alice.")
    ] = None,
    action: Annotated[
        str | None, typer.Option("--action", help="e.g. alias, alias.promote, key.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Show the newest N events.")] = 100,
    json: JsonOption = False,
) -> None:
    """List audit events, oldest first."""
    when = parse_since(since) if since is not None else None  # a bad option before the database
    from modelcycle.security import list_events

    db = state(ctx).open().db
    events = list_events(db, since=when, actor=actor, target=target, action=action, limit=limit)
    if json:
        out.print_json([e.to_dict() for e in events])
        return
    columns = ["seq", "when", "actor", "action", "target", "change"]
    rows = [_event_row(e) for e in events]
    out.console.print(out.table(f"{len(events)} event(s)", columns, rows, wrap_last=True))


def _event_row(event: AuditEvent) -> list[str]:
    change = f"{_short(event.before)} -> {_short(event.after)}"
    return [str(event.seq), out.when(event.time), event.actor, event.action, event.target, change]


def _short(value: object) -> str:
    from modelcycle.security._audit import canonical_json

    text = "-" if value is None else canonical_json(value)
    return text if len(text) <= 80 else text[:77] + "..."


@audit_app.command("verify")
def audit_verify(
    ctx: typer.Context,
    expect_head: Annotated[
        str | None,
        typer.Option(
            "--expect-head",
            help="A head printed earlier by 'modelcycle audit head' (SEQ:MAC, or the MAC "
            "alone): fail unless the chain still holds that event unchanged.",
        ),
    ] = None,
) -> None:
    """Recompute the keyed chain; fail naming the first edited, deleted or moved event.

    Exit codes: 0 the chain verifies (and holds the expected head); 6 it does not, or
    the expected head is gone (newest events removed); 7 the audit key is missing or is
    not this chain's key; 2 the --expect-head value is not a head.
    """
    from modelcycle.security import ChainHead, verify_audit

    expected = ChainHead.parse(expect_head) if expect_head is not None else None
    result = verify_audit(state(ctx).open().db, expect_head=expected)
    if not result.ok:
        where = f"at event {result.broken_seq}" if result.broken_seq is not None else "at its head"
        raise IntegrityError(
            f"audit log is broken {where}: {result.reason}; "
            f"{result.events} event(s) before it verify; inspect with "
            f"'modelcycle audit list --json' and restore the database from a backup",
            details={"seq": result.broken_seq},
        )
    out.console.print(
        f"audit log verifies: {result.events} event(s), head {result.chain_head}", soft_wrap=True
    )


@audit_app.command("head")
def audit_head_command(ctx: typer.Context) -> None:
    """Print the chain's head as SEQ:MAC; keep it elsewhere for 'audit verify --expect-head'."""
    from modelcycle.security import audit_head

    typer.echo(str(audit_head(state(ctx).open().db)))


@audit_app.command("seal")
def audit_seal(ctx: typer.Context) -> None:
    """Re-seal an unkeyed chain from before migration 0006 with the workspace's key.

    Verifies the unkeyed chain first and changes nothing if it is broken. Needed only
    when a key already existed as the workspace was upgraded (e.g. MODELCYCLE_AUDIT_KEY
    set for PostgreSQL); a workspace opened without a key re-seals itself.
    """
    from modelcycle.security._reseal import seal_chain

    ws = state(ctx).open()
    status = seal_chain(ws.db, ws.settings)
    out.console.print(
        f"audit chain sealed with key {status.key_id}: {status.resealed} event(s) re-sealed"
    )
