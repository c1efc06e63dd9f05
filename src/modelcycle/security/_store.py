"""SQL of users, role grants and API keys. Every write runs inside a caller's transaction.

Contract: functions take an open connection and return plain values or dicts the
caller owns; lookups return ``None`` for what does not exist (the service turns
that into :class:`~modelcycle.core.NotFound` with a message). Thread-safety is
the connection's: never share one connection between threads.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelcycle.core import now_ms
from modelcycle.security._roles import Grant
from modelcycle.store import tables

_users, _grants, _keys = tables.users, tables.role_grants, tables.api_keys
WORKSPACE = ""  # the ``scope`` of a workspace-wide grant


def user_row(connection: Connection, name: str) -> dict[str, Any] | None:
    """The ``users`` row of ``name``, or ``None``."""
    row = connection.execute(sa.select(_users).where(_users.c.name == name)).mappings().first()
    return dict(row) if row is not None else None


def insert_user(connection: Connection, name: str) -> None:
    """Add a user (enabled)."""
    connection.execute(sa.insert(_users).values(name=name, created_at=now_ms(), disabled=0))


def set_disabled(connection: Connection, user_id: int, disabled: bool) -> None:
    """Disable or enable a user (a disabled user's keys stop working)."""
    connection.execute(
        sa.update(_users).where(_users.c.user_id == user_id).values(disabled=int(disabled))
    )


def user_rows(connection: Connection) -> list[dict[str, Any]]:
    """Every user, by name."""
    query = sa.select(_users).order_by(_users.c.name)
    return [dict(row) for row in connection.execute(query).mappings()]


def grants_of(connection: Connection, user_id: int) -> tuple[Grant, ...]:
    """The user's grants, workspace-wide first, then by model and role."""
    query = (
        sa.select(_grants.c.role, _grants.c.scope)
        .where(_grants.c.user_id == user_id)
        .order_by(_grants.c.scope, _grants.c.role)
    )
    return tuple(Grant(role, scope or None) for role, scope in connection.execute(query))


def insert_grant(connection: Connection, user_id: int, grant: Grant) -> bool:
    """Add a grant; ``False`` when the user already held it."""
    if grant in grants_of(connection, user_id):
        return False
    connection.execute(
        sa.insert(_grants).values(
            user_id=user_id, role=grant.role, scope=grant.model or WORKSPACE, created_at=now_ms()
        )
    )
    return True


def delete_grant(connection: Connection, user_id: int, grant: Grant) -> bool:
    """Remove a grant; ``False`` when the user did not hold it."""
    deleted = connection.execute(
        sa.delete(_grants).where(
            _grants.c.user_id == user_id,
            _grants.c.role == grant.role,
            _grants.c.scope == (grant.model or WORKSPACE),
        )
    )
    return bool(deleted.rowcount)


def prefix_taken(connection: Connection, prefix: str) -> bool:
    """Whether a key with this prefix exists (prefixes name keys, so they are unique)."""
    query = sa.select(sa.func.count()).where(_keys.c.prefix == prefix)
    return bool(connection.execute(query).scalar())


def insert_key(connection: Connection, row: dict[str, Any]) -> None:
    """Store a key row (its hash, never its text)."""
    connection.execute(sa.insert(_keys).values(**row))


def _keys_with_user() -> sa.Select[Any]:
    return sa.select(_keys, _users.c.name.label("user_name"), _users.c.disabled).select_from(
        _keys.join(_users, _users.c.user_id == _keys.c.user_id)
    )


def key_row(connection: Connection, prefix: str) -> dict[str, Any] | None:
    """The key with this prefix, with its user's name and ``disabled`` flag."""
    query = _keys_with_user().where(_keys.c.prefix == prefix)
    row = connection.execute(query).mappings().first()
    return dict(row) if row is not None else None


def key_rows(connection: Connection, user: str | None = None) -> list[dict[str, Any]]:
    """Every key (of one user), oldest first."""
    query = _keys_with_user().order_by(_keys.c.created_at, _keys.c.prefix)
    if user is not None:
        query = query.where(_users.c.name == user)
    return [dict(row) for row in connection.execute(query).mappings()]


def revoke_key(connection: Connection, key_id: str, when: int) -> None:
    """Mark a key revoked at ``when`` (epoch ms)."""
    connection.execute(sa.update(_keys).where(_keys.c.key_id == key_id).values(revoked_at=when))


def touch_key(connection: Connection, key_id: str, when: int) -> None:
    """Record that a key was used at ``when`` (epoch ms)."""
    connection.execute(sa.update(_keys).where(_keys.c.key_id == key_id).values(last_used_at=when))
